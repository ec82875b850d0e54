//! The text of the frames the platform sends on a socket (contract §6).

use bytestring::ByteString;
use chrono::{DateTime, Utc};

use crate::sim::time::iso_millis;

pub fn heartbeat() -> ByteString {
    ByteString::from_static(
        r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#,
    )
}

pub fn pong() -> ByteString {
    ByteString::from_static(r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"}}"#)
}

/// An event frame. `event_body` is raw JSON object text.
pub fn event(
    topic: &str,
    event_body: &str,
    correlation_id: &str,
    timestamp: Option<DateTime<Utc>>,
) -> ByteString {
    let mut s = String::with_capacity(topic.len() + event_body.len() + correlation_id.len() + 96);
    s.push_str(r#"{"topicName":""#);
    s.push_str(topic);
    s.push_str(r#"","version":"2","eventBody":"#);
    s.push_str(event_body);
    s.push_str(r#","metadata":{"CorrelationId":""#);
    s.push_str(correlation_id);
    s.push_str("\"}");
    if let Some(t) = timestamp {
        s.push_str(r#","timestamp":""#);
        s.push_str(&iso_millis(t));
        s.push('"');
    }
    s.push('}');
    ByteString::from(s)
}

/// `v2.system.socket_closing`: the socket will be closed after the grace period.
pub fn socket_closing(channel_id: &str, correlation_id: &str) -> ByteString {
    let body = serde_json::json!({
        "topicName": "v2.system.socket_closing",
        "version": "2",
        "eventBody": {"message": "Socket is closing; reconnect to continue receiving notifications", "channelId": channel_id},
        "metadata": {"CorrelationId": correlation_id},
    });
    ByteString::from(body.to_string())
}

/// A system topic about a channel (`no_longer_subscribed`, `token_revoked`), with its documented body fields.
pub fn system_topic(
    kind: &str,
    channel_id: &str,
    reason: &str,
    correlation_id: &str,
) -> ByteString {
    let body = serde_json::json!({
        "topicName": format!("v2.system.{kind}.{channel_id}"),
        "version": "2",
        "eventBody": {"systemTopicType": kind, "reason": reason, "channelId": channel_id},
        "metadata": {"CorrelationId": correlation_id},
    });
    ByteString::from(body.to_string())
}

/// The answer a socket client gets when its channel does not exist.
pub fn channel_not_found(channel_id: &str) -> ByteString {
    ByteString::from(
        serde_json::json!({"result": "404", "message": format!("Channel {channel_id} not found")})
            .to_string(),
    )
}

/// Answers to the socket-level subscribe used by third-party clients.
pub fn subscribe_ok(correlation_id: &str) -> ByteString {
    ByteString::from(
        serde_json::json!({"result": "200", "status": "subscribed", "correlationId": correlation_id}).to_string(),
    )
}

pub fn subscribe_failed(correlation_id: &str, message: &str) -> ByteString {
    ByteString::from(
        serde_json::json!({"result": "400", "status": "failure", "message": message, "correlationId": correlation_id})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frame_is_json_with_the_documented_fields() {
        let f = event("v2.users.u.presence", r#"{"a":1}"#, "c-1", None);
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["topicName"], "v2.users.u.presence");
        assert_eq!(v["version"], "2");
        assert_eq!(v["eventBody"]["a"], 1);
        assert_eq!(v["metadata"]["CorrelationId"], "c-1");
        assert!(v.get("timestamp").is_none());
        let f = event("t", "{}", "c", Some(Utc::now()));
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        for s in [
            heartbeat(),
            pong(),
            socket_closing("ch", "c"),
            system_topic("token_revoked", "ch", "r", "c"),
        ] {
            serde_json::from_str::<serde_json::Value>(&s).unwrap();
        }
    }
}
