//! What sinks receive: one JSON object per record, `kind` first (`event`, `gap` or `backfill`).
//!
//! The hot path parses a socket frame once ([`Frame::parse`], borrowing from the frame text, `eventBody` kept
//! as raw JSON) and writes the envelope line once ([`event_line`]); every sink gets the same bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::GapRecord;

/// A string borrowed from the frame text when it has no escapes, owned otherwise.
///
/// serde borrows a bare `Cow<str>` field but not one inside an `Option`: this visitor does, which saves an
/// allocation per field per event.
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct CowStr<'a>(Cow<'a, str>);
    impl<'de> Deserialize<'de> for CowStr<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = CowStr<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: serde::de::Error>(
                    self,
                    v: &'de str,
                ) -> Result<Self::Value, E> {
                    Ok(CowStr(Cow::Borrowed(v)))
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(CowStr(Cow::Owned(v.to_string())))
                }
                fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                    Ok(CowStr(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|c| c.0))
}

/// A server frame, borrowed from its text.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "topicName", borrow, default, deserialize_with = "opt_cow")]
    pub topic_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub version: Option<Cow<'a, str>>,
    #[serde(rename = "eventBody", borrow, default)]
    pub event_body: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub metadata: Option<Metadata<'a>>,
    /// Present on answers to a socket-level subscribe and on "channel not found" (`"404"`).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub result: Option<Cow<'a, str>>,
}

/// `metadata` of an event frame.
#[derive(Debug, Deserialize)]
pub struct Metadata<'a> {
    #[serde(
        rename = "CorrelationId",
        borrow,
        default,
        deserialize_with = "opt_cow"
    )]
    pub correlation_id: Option<Cow<'a, str>>,
}

/// What a frame means to a channel.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameKind {
    Heartbeat,
    Pong,
    /// Other `channel.metadata` frames.
    Metadata,
    SocketClosing,
    NoLongerSubscribed,
    TokenRevoked,
    /// Another `v2.system.*` topic.
    OtherSystem,
    /// `{"result":"404",...}`: the channel does not exist.
    ChannelGone,
    /// A reply to a socket-level subscribe (the engine does not use them).
    SubscribeReply,
    Event,
    /// JSON without a topic the engine understands.
    Unknown,
}

/// The deepest nesting of arrays and objects an event body may have. serde_json refuses deeper input when it
/// builds values (its own limit is 128) but not when it keeps a body as raw text: without this bound, a body
/// nested a million deep would reach every sink and every consumer's parser.
pub const MAX_JSON_DEPTH: usize = 128;

/// Whether the JSON text `raw` nests arrays and objects deeper than `max` (brackets inside strings do not
/// count). One pass over the bytes, no allocation.
pub fn nests_deeper_than(raw: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

impl<'a> Frame<'a> {
    /// Parses a text frame; `None` when it is not a JSON object of the expected shape, or when its event body
    /// nests deeper than [`MAX_JSON_DEPTH`].
    pub fn parse(text: &'a str) -> Option<Frame<'a>> {
        let frame: Frame<'a> = serde_json::from_str(text).ok()?;
        match frame.event_body {
            Some(body) if nests_deeper_than(body.get(), MAX_JSON_DEPTH) => None,
            _ => Some(frame),
        }
    }

    pub fn kind(&self) -> FrameKind {
        match self.topic_name.as_deref() {
            Some("channel.metadata") => {
                let msg = self.event_body.map(RawValue::get).unwrap_or("");
                if msg.contains("\"pong\"") {
                    FrameKind::Pong
                } else if msg.contains("Heartbeat") {
                    FrameKind::Heartbeat
                } else {
                    FrameKind::Metadata
                }
            }
            Some(t) if starts_with_ignore_case(t, "v2.system.") => {
                let rest = &t["v2.system.".len()..];
                if starts_with_ignore_case(rest, "socket_closing") {
                    FrameKind::SocketClosing
                } else if starts_with_ignore_case(rest, "no_longer_subscribed") {
                    FrameKind::NoLongerSubscribed
                } else if starts_with_ignore_case(rest, "token_revoked") {
                    FrameKind::TokenRevoked
                } else {
                    FrameKind::OtherSystem
                }
            }
            Some(t) if !t.is_empty() && self.event_body.is_some() => FrameKind::Event,
            Some(_) => FrameKind::Unknown,
            None => match self.result.as_deref() {
                Some("404") => FrameKind::ChannelGone,
                Some(_) => FrameKind::SubscribeReply,
                None => FrameKind::Unknown,
            },
        }
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.metadata
            .as_ref()
            .and_then(|m| m.correlation_id.as_deref())
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// FNV-1a, 64 bit: a stable hash (the same across processes and versions) for ids and de-duplication.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator so that ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The identity of an upstream event: the same event seen on two channels (a rollover overlap) has the same key.
pub fn event_key(topic: &str, correlation_id: Option<&str>, body: &str) -> u64 {
    match correlation_id {
        Some(c) if !c.is_empty() => fnv1a(&[topic.as_bytes(), c.as_bytes()]),
        _ => fnv1a(&[topic.as_bytes(), body.as_bytes()]),
    }
}

/// Where an envelope came from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub tenant: &'a str,
    pub region: &'a str,
    pub channel_id: &'a str,
}

/// The part of every event line a channel writes that does not change from event to event:
/// `,"tenant":...,"region":...,"channelId":...`, escaped once when the channel (re)binds rather than for each
/// event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPrefix(Vec<u8>);

impl OriginPrefix {
    pub fn new(origin: &Origin<'_>) -> OriginPrefix {
        let mut out = Vec::with_capacity(
            40 + json_str_len(origin.tenant)
                + json_str_len(origin.region)
                + json_str_len(origin.channel_id),
        );
        out.extend_from_slice(b",\"tenant\":");
        push_json_str(&mut out, origin.tenant);
        out.extend_from_slice(b",\"region\":");
        push_json_str(&mut out, origin.region);
        out.extend_from_slice(b",\"channelId\":");
        push_json_str(&mut out, origin.channel_id);
        OriginPrefix(out)
    }
}

/// Writes `s` as a JSON string (with quotes).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                let mut buf = String::new();
                let _ = write!(buf, "\\u{b:04x}");
                out.extend_from_slice(buf.as_bytes());
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The length of `s` once written by [`push_json_str`] (quotes included).
fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Formats an instant as the envelope does: RFC 3339, UTC, milliseconds (`2026-12-04T01:22:33.123Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(24);
    write_timestamp(t, &mut out);
    out
}

/// [`timestamp`] into `out`, replacing what it held: a channel re-uses one buffer for its `receivedAt`, so the
/// text of each new millisecond costs no allocation (chrono's formatters build a `String` each time).
pub fn write_timestamp(t: DateTime<Utc>, out: &mut String) {
    use chrono::{Datelike, Timelike};
    out.clear();
    let nanos = t.nanosecond();
    // A leap second (nanos ≥ 1e9) is written as second 60, as chrono writes it.
    let (second, millis) = (
        t.second() + nanos / 1_000_000_000,
        nanos % 1_000_000_000 / 1_000_000,
    );
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{second:02}.{millis:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
    );
}

/// An event envelope line (no trailing newline). Returns the line and the byte range of the topic value
/// inside it, so routing can read the topic without another allocation.
pub struct EventLine {
    pub json: Vec<u8>,
    pub topic: std::ops::Range<usize>,
}

/// Builds the event envelope:
/// `{"kind":"event","id","tenant","region","channelId","topic","topicFamily","receivedAt","version","correlationId","body"}`.
pub fn event_line(
    origin: &OriginPrefix,
    frame: &Frame<'_>,
    topic_family: &str,
    key: u64,
    received_at: &str,
) -> EventLine {
    let topic = frame.topic_name.as_deref().unwrap_or("");
    let body = frame.event_body.map(RawValue::get).unwrap_or("null");
    let correlation = frame.correlation_id();
    let version = frame.version.as_deref();
    // The exact length, so that handing the buffer to `Bytes` needs no second allocation.
    let len = r#"{"kind":"event","id":""#.len()
        + 16
        + 1
        + origin.0.len()
        + r#","topic":"#.len()
        + json_str_len(topic)
        + r#","topicFamily":"#.len()
        + json_str_len(topic_family)
        + r#","receivedAt":""#.len()
        + received_at.len()
        + 1
        + version.map_or(0, |v| r#","version":"#.len() + json_str_len(v))
        + correlation.map_or(0, |c| r#","correlationId":"#.len() + json_str_len(c))
        + r#","body":"#.len()
        + body.len()
        + 1;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"kind\":\"event\",\"id\":\"");
    let mut hex = [0u8; 16];
    for (i, slot) in hex.iter_mut().enumerate() {
        let nibble = ((key >> (60 - 4 * i)) & 0xf) as u8;
        *slot = if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        };
    }
    out.extend_from_slice(&hex);
    out.push(b'"');
    out.extend_from_slice(&origin.0);
    out.extend_from_slice(b",\"topic\":");
    let start = out.len() + 1;
    push_json_str(&mut out, topic);
    let topic_range = start..out.len() - 1;
    out.extend_from_slice(b",\"topicFamily\":");
    push_json_str(&mut out, topic_family);
    out.extend_from_slice(b",\"receivedAt\":\"");
    out.extend_from_slice(received_at.as_bytes());
    out.extend_from_slice(b"\"");
    if let Some(v) = version {
        out.extend_from_slice(b",\"version\":");
        push_json_str(&mut out, v);
    }
    if let Some(c) = correlation {
        out.extend_from_slice(b",\"correlationId\":");
        push_json_str(&mut out, c);
    }
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(body.as_bytes());
    out.push(b'}');
    EventLine {
        json: out,
        topic: topic_range,
    }
}

/// The bytes just after `,"<name>":` in an envelope line written by this module. Every string value is
/// JSON-escaped (a `"` inside one is `\"`), so the sequence can only be the field itself; the first match comes
/// before `body`, which is last.
fn after_field<'a>(json: &'a [u8], name: &str) -> Option<&'a [u8]> {
    // Comma by comma rather than a substring search: a line has a handful of fields before `body`, and this
    // runs for every record a sink acknowledges.
    let mut rest = json;
    loop {
        let comma = rest.iter().position(|&b| b == b',')?;
        rest = &rest[comma + 1..];
        let value = rest
            .strip_prefix(b"\"")
            .and_then(|r| r.strip_prefix(name.as_bytes()))
            .and_then(|r| r.strip_prefix(b"\":"));
        if value.is_some() {
            return value;
        }
    }
}

/// The `receivedAt` text of an event line (RFC 3339), without parsing the line; `None` for other records.
pub fn received_at(json: &[u8]) -> Option<&[u8]> {
    if !json.starts_with(b"{\"kind\":\"event\"") {
        return None;
    }
    let rest = after_field(json, "receivedAt")?.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

/// The `topicFamily` of an event line, without parsing the whole line.
pub fn topic_family(json: &[u8]) -> Option<String> {
    let rest = after_field(json, "topicFamily")?;
    serde_json::Deserializer::from_slice(rest)
        .into_iter::<String>()
        .next()?
        .ok()
}

/// A gap record line: `{"kind":"gap",...}`.
pub fn gap_line(gap: &GapRecord) -> Vec<u8> {
    let value = serde_json::json!({
        "kind": "gap",
        "id": gap.id,
        "tenant": gap.tenant,
        "region": gap.region,
        "channelId": gap.channel_id,
        "topics": gap.topics,
        "from": timestamp(gap.from),
        "to": timestamp(gap.to),
        "reason": gap.reason,
    });
    // `json!` keeps keys sorted unless preserve_order is on; write `kind` first by hand for readers that peek.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"kind\":\"gap\"");
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "kind") {
            out.push(b',');
            push_json_str(&mut out, k);
            out.push(b':');
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
    out.push(b'}');
    out
}

/// A backfill record line: `{"kind":"backfill","id","tenant","region","gapId","topicFamily","receivedAt",
/// "conversation"}`: one conversation as the platform's details query returned it. `id` is the
/// conversation's id; `gapId` is absent for a periodic reconciliation.
pub fn backfill_line(
    tenant: &str,
    region: &str,
    gap: Option<&str>,
    topic_family: &str,
    received_at: &str,
    conversation: &serde_json::Value,
) -> Vec<u8> {
    let id = conversation
        .get("conversationId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"kind\":\"backfill\",\"id\":");
    push_json_str(&mut out, id);
    out.extend_from_slice(b",\"tenant\":");
    push_json_str(&mut out, tenant);
    out.extend_from_slice(b",\"region\":");
    push_json_str(&mut out, region);
    if let Some(g) = gap {
        out.extend_from_slice(b",\"gapId\":");
        push_json_str(&mut out, g);
    }
    out.extend_from_slice(b",\"topicFamily\":");
    push_json_str(&mut out, topic_family);
    out.extend_from_slice(b",\"receivedAt\":");
    push_json_str(&mut out, received_at);
    out.extend_from_slice(b",\"conversation\":");
    out.extend_from_slice(conversation.to_string().as_bytes());
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests;
