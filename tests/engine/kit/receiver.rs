//! The one HTTP receiver of the sink tests: a loopback HTTP/1.1 server that hands each request to the test's
//! handler and writes back the raw answer the handler chose.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as received: the head (request line and headers) and the body.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Starts a receiver on 127.0.0.1 and returns its port. `answer` gets every request and returns the raw
/// HTTP response to write (status line, headers and body).
pub async fn http_receiver<F>(answer: F) -> u16
where
    F: Fn(Request) -> &'static [u8] + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener, Arc::new(answer)));
    port
}

async fn serve<F>(listener: tokio::net::TcpListener, answer: Arc<F>)
where
    F: Fn(Request) -> &'static [u8] + Send + Sync + 'static,
{
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 16384];
            loop {
                // One request: headers, then content-length bytes.
                let (head_end, len) = loop {
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.trim()
                                    .eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        break (pos, len);
                    }
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                while buf.len() < head_end + 4 + len {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let body = buf[head_end + 4..head_end + 4 + len].to_vec();
                buf.drain(..head_end + 4 + len);
                if conn
                    .write_all(answer(Request { head, body }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
