//! Tests of the stdout sink.

use std::sync::Arc;

use bytes::Bytes;

use super::StdoutSink;
use crate::sink::{Delivery, RecordKind, Sink, SinkKind};

#[tokio::test]
async fn writes_a_batch_and_flushes() {
    let mut sink = StdoutSink::new();
    let batch = [Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from("t"),
        json: Bytes::from_static(b"{\"n\":1}"),
    }];
    assert!(sink.write(&batch).await.is_ok());
    assert!(sink.flush().await.is_ok());
}

#[test]
fn has_no_settings() {
    assert_eq!(SinkKind::Stdout.settings(), serde_json::json!({}));
    assert_eq!(SinkKind::Stdout.secret(), None);
    assert_eq!(
        SinkKind::from_settings("stdout", "out", &serde_json::json!({}), None, &[]),
        Ok(SinkKind::Stdout)
    );
}
