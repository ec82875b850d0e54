//! What sinks receive: one JSON object per record, `kind` first (`event`, `gap` or `backfill`).
//!
//! The hot path parses a socket frame once ([`Frame::parse`], borrowing from the frame text, `eventBody` kept
//! as raw JSON) and writes the envelope line once ([`event_line`]); every sink gets the same bytes.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::store::GapRecord;

mod frame;
pub use self::frame::{Frame, FrameKind, MAX_JSON_DEPTH};

/// FNV-1a, 64 bit: a stable hash (the same across processes and versions) for ids and de-duplication.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h = Fnv::new();
    for part in parts {
        h.part(part);
    }
    h.0
}

/// FNV-1a over ASCII-lower-cased parts, each followed by a separator so that ("ab","c") and ("a","bc") differ.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn part(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(Self::PRIME);
        }
        h ^= 0xff;
        self.0 = h.wrapping_mul(Self::PRIME);
    }
}

/// The identity of an upstream event: the same event seen on two channels (a rollover overlap) has the same key.
pub fn event_key(topic: &str, correlation_id: Option<&str>, body: &str) -> u64 {
    event_keys(topic, correlation_id, body).event
}

/// The hashes an event needs, the topic read once for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKeys {
    /// `fnv1a(&[topic])`: which topic (whatever its case).
    pub topic: u64,
    /// [`event_key`]: which event.
    pub event: u64,
}

/// [`event_key`] and the topic's own hash, reading the topic once (the first is a continuation of the second).
pub fn event_keys(topic: &str, correlation_id: Option<&str>, body: &str) -> EventKeys {
    let mut h = Fnv::new();
    h.part(topic.as_bytes());
    let topic = h.0;
    match correlation_id {
        Some(c) if !c.is_empty() => h.part(c.as_bytes()),
        _ => h.part(body.as_bytes()),
    }
    EventKeys { topic, event: h.0 }
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
    // Topics, ids and versions hardly ever hold a character to escape: copied whole when they hold none.
    if !frame::needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
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
    if !frame::needs_escape(s.as_bytes()) {
        return 2 + s.len();
    }
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
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let _ = write!(
            out,
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{second:02}.{millis:03}Z",
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
        );
        return;
    }
    // By hand: `write!` with its formatting machinery was a visible share of an event at 10,000/s.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for slot in text[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, second);
    put(20, 3, millis);
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
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
    let body = frame.event_body.unwrap_or("null");
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
