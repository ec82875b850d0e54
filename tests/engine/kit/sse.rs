//! One Server-Sent Events reader for the tail's tests: each event's `id:` (if any) and its `data:` as JSON.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

/// An open `text/event-stream`.
pub struct Sse {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

/// One event: its id (none for a record without one) and its data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub data: Value,
}

impl Sse {
    /// `GET url` with the token and, when given, `Last-Event-ID`; panics unless the answer is a stream.
    pub async fn open(url: &str, token: &str, last_event_id: Option<u64>) -> Sse {
        let mut req = reqwest::Client::new().get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        if !status.is_success() {
            panic!("{url}: {status} {}", res.text().await.unwrap_or_default());
        }
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Sse {
            stream: res.bytes_stream().boxed(),
            buf: Vec::new(),
        }
    }

    /// The next event (comments are skipped), or `None` when none comes within `patience`.
    pub async fn next(&mut self, patience: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&block);
                let mut id = None;
                let mut data = None;
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.trim().parse().expect("a numeric id"));
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("data is JSON"));
                    }
                }
                if let Some(data) = data {
                    return Some(SseEvent { id, data });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.buf.extend_from_slice(&chunk.ok()?);
        }
    }
}
