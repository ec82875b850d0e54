use super::*;
use std::borrow::Cow;

#[test]
fn frames_are_classified() {
    let kinds = [
        (
            r#"{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}"#,
            FrameKind::Heartbeat,
        ),
        (
            r#"{"topicName":"channel.metadata","eventBody":{"message":"pong"}}"#,
            FrameKind::Pong,
        ),
        (
            r#"{"topicName":"v2.system.socket_closing","eventBody":{}}"#,
            FrameKind::SocketClosing,
        ),
        (
            r#"{"topicName":"v2.system.no_longer_subscribed.ch","eventBody":{}}"#,
            FrameKind::NoLongerSubscribed,
        ),
        (
            r#"{"topicName":"v2.system.token_revoked.ch","eventBody":{}}"#,
            FrameKind::TokenRevoked,
        ),
        (
            r#"{"result":"404","message":"gone"}"#,
            FrameKind::ChannelGone,
        ),
        (
            r#"{"result":"200","status":"subscribed"}"#,
            FrameKind::SubscribeReply,
        ),
        (
            r#"{"topicName":"v2.users.u.presence","version":"2","eventBody":{"a":1}}"#,
            FrameKind::Event,
        ),
        (r#"{"version":"2","eventBody":{}}"#, FrameKind::Unknown),
    ];
    for (text, kind) in kinds {
        assert_eq!(Frame::parse(text).unwrap().kind(), kind, "{text}");
    }
    assert!(Frame::parse("not json").is_none());
    assert!(Frame::parse(r#"{"topicName":"v2.users.u.presence","eventBody":{"sou"#).is_none());
    assert!(Frame::parse("[1,2]").is_none());
}

#[test]
fn the_event_line_is_the_documented_envelope() {
    let text = r#"{"topicName":"v2.users.u\"1.presence","version":"2","eventBody":{"x":[1,2]},"metadata":{"CorrelationId":"c-1"}}"#;
    let frame = Frame::parse(text).unwrap();
    let origin = Origin {
        tenant: "acme",
        region: "eu-west-1",
        channel_id: "streaming-0-x",
    };
    let key = event_key(
        frame.topic_name.as_deref().unwrap(),
        frame.correlation_id(),
        "",
    );
    let line = event_line(
        &OriginPrefix::new(&origin),
        &frame,
        "v2.users.{id}.presence",
        key,
        "2026-11-23T10:00:00.123Z",
    );
    let v: serde_json::Value = serde_json::from_slice(&line.json).unwrap();
    assert!(
        std::str::from_utf8(&line.json)
            .unwrap()
            .starts_with(r#"{"kind":"event","id":""#)
    );
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["channelId"], "streaming-0-x");
    assert_eq!(v["topic"], "v2.users.u\"1.presence");
    assert_eq!(&line.json[line.topic.clone()], br#"v2.users.u\"1.presence"#);
    assert_eq!(
        line.json.len(),
        line.json.capacity(),
        "sized exactly: no reallocation, no second allocation"
    );
    assert_eq!(v["topicFamily"], "v2.users.{id}.presence");
    assert_eq!(v["correlationId"], "c-1");
    assert_eq!(v["version"], "2");
    assert_eq!(v["body"], serde_json::json!({"x": [1, 2]}));
    assert_eq!(v["id"].as_str().unwrap().len(), 16);
}

#[test]
fn received_at_and_topic_family_are_read_from_the_line_and_not_from_the_body() {
    let text = r#"{"topicName":"v2.users.u\",\"receivedAt\":\"x.presence","eventBody":{"receivedAt":"no","topicFamily":"no"}}"#;
    let frame = Frame::parse(text).unwrap();
    let origin = Origin {
        tenant: "acme",
        region: "eu-west-1",
        channel_id: "c",
    };
    let line = event_line(
        &OriginPrefix::new(&origin),
        &frame,
        "v2.users.{id}.presence",
        1,
        "2026-11-23T10:00:00.123Z",
    );
    assert_eq!(
        received_at(&line.json),
        Some(&b"2026-11-23T10:00:00.123Z"[..])
    );
    assert_eq!(
        topic_family(&line.json).as_deref(),
        Some("v2.users.{id}.presence")
    );
    assert_eq!(received_at(br#"{"kind":"gap","receivedAt":"x"}"#), None);
}

#[test]
fn the_same_event_has_the_same_key_whatever_the_case_of_its_topic() {
    assert_eq!(
        event_key("v2.users.U.presence", Some("c"), ""),
        event_key("v2.users.u.PRESENCE", Some("c"), "")
    );
    assert_ne!(
        event_key("v2.users.u.presence", Some("c"), ""),
        event_key("v2.users.u.presence", Some("d"), "")
    );
    assert_ne!(event_key("a", None, "{1}"), event_key("a", None, "{2}"));
    assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
}

#[test]
fn frame_fields_borrow_from_the_text_unless_escaped() {
    let text = r#"{"topicName":"v2.users.u.presence","version":"2","eventBody":{},"metadata":{"CorrelationId":"c\"1"}}"#;
    let f = Frame::parse(text).unwrap();
    assert!(matches!(f.topic_name, Some(Cow::Borrowed(_))));
    assert!(matches!(f.version, Some(Cow::Borrowed(_))));
    assert!(matches!(f.correlation_id, Some(Cow::Owned(_))));
    assert_eq!(f.correlation_id(), Some("c\"1"));
    assert!(
        Frame::parse(r#"{"topicName":null,"eventBody":{}}"#)
            .unwrap()
            .topic_name
            .is_none()
    );
    assert!(Frame::parse(r#"{"topicName":5}"#).is_none());
}

#[test]
fn control_characters_are_escaped() {
    let mut out = Vec::new();
    push_json_str(&mut out, "a\u{1}b\"\\\n");
    let back: String = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, "a\u{1}b\"\\\n");
    // Long and short, with and without a character to escape: what serde_json reads back, and the length
    // written is the length announced.
    for text in [
        "",
        "v2.users.0b5a1d2c-3e4f-4a5b-8c6d-7e8f9a0b1c2d.presence",
        "v2.users.0b5a1d2c-3e4f-4a5b-8c6d-7e8f9a0b1c2d\"presence",
        "naïve — ok",
        "tab\tat the end of a long string\u{7}",
    ] {
        let mut out = Vec::new();
        push_json_str(&mut out, text);
        assert_eq!(out.len(), json_str_len(text), "{text}");
        assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), text);
    }
}

#[test]
fn gap_lines_start_with_their_kind() {
    let now = Utc::now();
    let gap = GapRecord {
        id: "g".into(),
        tenant: "t".into(),
        region: "r".into(),
        channel_id: "c".into(),
        topics: vec!["v2.users.u.presence".into()],
        from: now,
        to: now,
        reason: "stall".into(),
        backfill: None,
    };
    let line = gap_line(&gap);
    assert!(line.starts_with(br#"{"kind":"gap","#));
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["topics"][0], "v2.users.u.presence");
    assert_eq!(v["reason"], "stall");
}

#[test]
fn a_backfill_line_is_json_with_kind_first_and_the_conversation_as_returned() {
    let conversation =
        serde_json::json!({"conversationId": "c\"1", "participants": [{"purpose": "acd"}]});
    let line = backfill_line(
        "acme",
        "mypurecloud.ie",
        Some("g1"),
        "v2.routing.queues.{id}.conversations",
        "2026-12-01T10:00:00.000Z",
        &conversation,
    );
    assert!(line.starts_with(br#"{"kind":"backfill","id":"c\"1""#));
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["gapId"], "g1");
    assert_eq!(v["conversation"], conversation);
    assert_eq!(
        topic_family(&line).as_deref(),
        Some("v2.routing.queues.{id}.conversations")
    );
    let reconciled = backfill_line("acme", "r", None, "f", "t", &conversation);
    let v: serde_json::Value = serde_json::from_slice(&reconciled).unwrap();
    assert!(v.get("gapId").is_none());
}

#[test]
fn a_timestamp_written_into_a_buffer_is_rfc_3339_with_milliseconds_as_chrono_writes_it() {
    use chrono::{SecondsFormat, TimeZone};
    let mut out = String::from("left over from the last millisecond");
    for (secs, nanos) in [
        (0, 0),
        (1_764_806_400, 5_000_000),
        (1_764_806_399, 999_999_999),
        (253_402_300_799, 123_456_789),
        (1_483_228_799, 1_500_000_000),
    ] {
        let t = Utc.timestamp_opt(secs, nanos).unwrap();
        let chrono = t.to_rfc3339_opts(SecondsFormat::Millis, true);
        write_timestamp(t, &mut out);
        assert_eq!(out, chrono, "{secs}.{nanos}");
        assert_eq!(timestamp(t), chrono, "{secs}.{nanos}");
    }
    // Every digit position, over a spread of dates and times.
    for i in 0..10_000i64 {
        let t = Utc
            .timestamp_opt(
                i * 31_536_007 % 253_402_300_799,
                (i * 7_777_777 % 1_000_000_000) as u32,
            )
            .unwrap();
        write_timestamp(t, &mut out);
        assert_eq!(out, t.to_rfc3339_opts(SecondsFormat::Millis, true));
    }
}

#[test]
fn event_keys_are_the_topic_hash_and_the_event_key_read_in_one_pass() {
    for (topic, corr, body) in [
        ("v2.users.U-1.presence", Some("c-1"), "{}"),
        ("v2.users.u-1.presence", None, r#"{"a":1}"#),
        ("v2.users.u-1.presence", Some(""), r#"{"a":1}"#),
    ] {
        let keys = event_keys(topic, corr, body);
        assert_eq!(keys.topic, fnv1a(&[topic.as_bytes()]));
        assert_eq!(keys.event, event_key(topic, corr, body));
    }
    // The ids consumers have stored stay the same: FNV-1a of the lower-cased parts, each followed by 0xff.
    assert_eq!(event_key("A", Some("b"), ""), 0xd2b3_7181_9297_f98a);
}
