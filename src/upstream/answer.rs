//! Reading the platform's answers: whole, and never more than a bound, so that a platform (or anything
//! posing as one) that never stops sending cannot grow the engine's memory.

use serde::de::DeserializeOwned;

use super::UpstreamError;

/// The largest answer read: one details query page (100 conversations are well under 1 MiB) or one page of
/// users or queues; channel and subscription answers are far smaller.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The largest error answer or token answer read (a token answer is a few hundred bytes); past it, an error
/// is reported without the platform's code and message, and a token answer is refused.
pub const MAX_ERROR_BYTES: usize = 64 << 10;

/// The whole body of `res`, chunk by chunk, refused past `limit` bytes. `what` names the request in errors.
pub async fn read_body(
    mut res: reqwest::Response,
    what: &str,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| UpstreamError::Transient(format!("{what}: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Protocol(format!(
                "{what}: the answer is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `body` as the JSON of `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, UpstreamError> {
    serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("{what}: not the expected JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_of_the_wrong_shape_is_a_protocol_error_naming_the_request() {
        let err = parse::<Vec<u32>>(br#"{"a":1}"#, "GET /x").unwrap_err();
        assert!(
            matches!(&err, UpstreamError::Protocol(m) if m.starts_with("GET /x: not the expected JSON")),
            "{err:?}"
        );
        assert_eq!(parse::<Vec<u32>>(b"[1,2]", "GET /x").unwrap(), vec![1, 2]);
    }

    /// A server that never stops sending: the read stops at the bound with an error naming the request.
    #[tokio::test]
    async fn an_endless_answer_is_refused_at_the_bound() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b' '; 64 << 10];
            // Until the client hangs up (at most the promised gibibyte).
            for _ in 0..(1 << 14) {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let res = reqwest::get(format!("http://{addr}/")).await.unwrap();
        let err = read_body(res, "GET /endless", 1 << 20).await.unwrap_err();
        assert!(
            matches!(&err, UpstreamError::Protocol(m)
                if m == "GET /endless: the answer is larger than 1048576 bytes"),
            "{err:?}"
        );
        server.abort();
    }
}
