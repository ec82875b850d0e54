//! The one JetStream reader of the sink tests.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use serde_json::Value;

/// A JetStream context at `url`, or `None` when the server does not answer or has no JetStream.
pub async fn jetstream_at(url: &str) -> Option<jetstream::Context> {
    let client = tokio::time::timeout(
        Duration::from_secs(5),
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(4))
            .connect(url),
    )
    .await
    .ok()?
    .ok()?;
    client
        .server_info()
        .jetstream
        .then(|| jetstream::new(client))
}

/// Every message of `stream` in stream order, as (Nats-Msg-Id, envelope).
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<(String, Value)> {
    let mut s = js.get_stream(stream).await.expect("the stream exists");
    let count = s.info().await.expect("stream info").state.messages;
    let consumer = s
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let m = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("the stream's messages arrive")
            .expect("a message")
            .expect("not an error");
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        out.push((id, serde_json::from_slice(&m.payload).expect("an envelope")));
    }
    out
}
