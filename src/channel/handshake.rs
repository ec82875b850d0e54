//! The WebSocket upgrade of a channel's socket (RFC 6455, section 4), done here rather than by
//! tokio-tungstenite: its handshake reads into a 4 KiB buffer that the socket's codec then keeps for the life
//! of the socket (see `burst`). Key generation and the accept check are tungstenite's; the answer's head is
//! parsed by `httparse`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The largest answer head read before the upgrade is refused.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Headers read from the answer at the most.
const MAX_HEADERS: usize = 64;

/// Asks `stream` to upgrade to a WebSocket for `url` and checks the answer. Returns whatever followed the
/// answer's head (frames the server sent at once), in a buffer of exactly its size.
pub(super) async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    url: &reqwest::Url,
) -> Result<Vec<u8>, String> {
    let key = generate_key();
    stream
        .write_all(request(url, &key).as_bytes())
        .await
        .map_err(|e| format!("sending the upgrade failed: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("sending the upgrade failed: {e}"))?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the upgrade's answer failed: {e}"))?;
        if n == 0 {
            return Err("the server closed the socket before answering the upgrade".into());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(length) = check_answer(&head, &key)? {
            return Ok(head[length..].to_vec());
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(format!(
                "the upgrade's answer has a head larger than {MAX_HEAD_BYTES} bytes"
            ));
        }
    }
}

/// The upgrade request for `url` with `key`.
fn request(url: &reqwest::Url, key: &str) -> String {
    let host = url.host_str().unwrap_or_default();
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    )
}

/// The length of the answer's head once all of it is in `head`, if it accepts the upgrade asked with `key`;
/// `None` while more is needed.
fn check_answer(head: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    let length = match answer.parse(head) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the upgrade's answer is not HTTP: {e}")),
    };
    let code = answer.code.unwrap_or_default();
    if code != 101 {
        return Err(format!(
            "the upgrade was refused: HTTP {code} {}",
            answer.reason.unwrap_or_default()
        ));
    }
    let header = |name: &str| {
        answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("the upgrade's answer does not upgrade to websocket".into());
    }
    let connection = header("connection").unwrap_or_default();
    if !connection
        .split(',')
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    {
        return Err("the upgrade's answer does not say `Connection: upgrade`".into());
    }
    if header("sec-websocket-accept").as_deref() != Some(&derive_accept_key(key.as_bytes())) {
        return Err("the upgrade's answer has a wrong Sec-WebSocket-Accept".into());
    }
    Ok(Some(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(key: &str, extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
            derive_accept_key(key.as_bytes())
        )
    }

    #[test]
    fn the_request_names_the_path_query_host_and_key() {
        let url = reqwest::Url::parse("wss://streaming.example.com:8443/channels/c-1?x=1").unwrap();
        let text = request(&url, "k==");
        assert!(
            text.starts_with("GET /channels/c-1?x=1 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nHost: streaming.example.com:8443\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Key: k==\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn an_accepting_answer_gives_its_head_length_and_anything_else_is_refused() {
        let key = generate_key();
        let ok = answer(&key, "");
        assert_eq!(check_answer(ok.as_bytes(), &key), Ok(Some(ok.len())));
        // Half an answer: read more.
        assert_eq!(check_answer(&ok.as_bytes()[..20], &key), Ok(None));
        let refused = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert!(
            check_answer(refused.as_bytes(), &key)
                .unwrap_err()
                .contains("403 Forbidden")
        );
        let other_key = answer(&generate_key(), "");
        assert!(
            check_answer(other_key.as_bytes(), &key)
                .unwrap_err()
                .contains("Sec-WebSocket-Accept")
        );
        let no_upgrade = ok.replace("Upgrade: websocket", "Upgrade: h2c");
        assert!(check_answer(no_upgrade.as_bytes(), &key).is_err());
        let no_connection = ok.replace("Connection: Upgrade", "Connection: keep-alive");
        assert!(check_answer(no_connection.as_bytes(), &key).is_err());
        assert!(check_answer(b"SSH-2.0-OpenSSH\r\n\r\n", &key).is_err());
    }

    #[tokio::test]
    async fn frames_sent_with_the_answer_are_kept_and_a_head_without_end_is_refused() {
        let url = reqwest::Url::parse("ws://127.0.0.1/channels/c").unwrap();
        let (mut server, mut client) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let n = server.read(&mut request).await.unwrap();
            let text = String::from_utf8_lossy(&request[..n]).to_string();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .to_string();
            let mut bytes = answer(&key, "").into_bytes();
            bytes.extend_from_slice(b"\x81\x02hi");
            server.write_all(&bytes).await.unwrap();
            server
        });
        let tail = upgrade(&mut client, &url).await.unwrap();
        assert_eq!(tail, b"\x81\x02hi");
        assert_eq!(tail.capacity(), tail.len());
        drop(serve.await.unwrap());

        let (mut server, mut client) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let _ = server.read(&mut request).await.unwrap();
            let endless = format!("HTTP/1.1 101 OK\r\nX-Pad: {}\r\n", "a".repeat(40_000));
            let _ = server.write_all(endless.as_bytes()).await;
            server
        });
        let refused = upgrade(&mut client, &url).await.unwrap_err();
        assert!(refused.contains("larger than"), "{refused}");
        drop(serve.await.unwrap());
    }
}
