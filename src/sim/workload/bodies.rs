//! `eventBody` writers: plain string building, no intermediate values, so one event costs well under
//! a microsecond. Every string written here comes from the generator itself (UUIDs, ASCII names,
//! fixed enum values), so nothing needs JSON escaping.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use super::conversation::{Conversation, Phase};

/// The socket frame the caller wraps a body in, with an empty topic name, an empty body and a
/// 36-character `CorrelationId`. Its length plus the topic's length is the frame overhead that
/// padding accounts for.
const FRAME_SKELETON: &str = r#"{"topicName":"","version":"2","eventBody":,"metadata":{"CorrelationId":"00000000-0000-0000-0000-000000000000"}}"#;
const PAD_OPEN: &str = r#","padding":""#;
const XS: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// Bytes a frame adds around a body published on a topic of `topic_len` bytes (about 150 for the
/// usual topics).
pub(super) fn frame_overhead(topic_len: usize) -> usize {
    FRAME_SKELETON.len() + topic_len
}

/// Pads `body` (a JSON object) with a `"padding":"xxx..."` field so that the frame carrying it is
/// about `target` bytes: exact for the frame layout of [`FRAME_SKELETON`]; a caller adding other
/// fields (a `timestamp`, a longer CorrelationId) makes the frame larger by that much. A body
/// already too large for the target is left alone.
pub(super) fn pad(body: &mut String, topic_len: usize, target: Option<usize>) {
    let Some(target) = target else { return };
    let frame = body.len() + frame_overhead(topic_len) + PAD_OPEN.len() + 1;
    if frame >= target || !body.ends_with('}') || body.len() < 3 {
        return;
    }
    let mut n = target - frame;
    body.pop();
    body.reserve(n + PAD_OPEN.len() + 2);
    body.push_str(PAD_OPEN);
    while n > 0 {
        let k = n.min(XS.len());
        body.push_str(&XS[..k]);
        n -= k;
    }
    body.push_str("\"}");
}

fn push2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends `t` as `2026-11-23T10:00:00.123Z`, the way the platform writes instants.
pub(super) fn push_iso(out: &mut String, t: DateTime<Utc>) {
    let year = t.year().clamp(0, 9999) as u32;
    push2(out, year / 100);
    push2(out, year % 100);
    out.push('-');
    push2(out, t.month());
    out.push('-');
    push2(out, t.day());
    out.push('T');
    push2(out, t.hour());
    out.push(':');
    push2(out, t.minute());
    out.push(':');
    push2(out, t.second());
    out.push('.');
    let ms = t.timestamp_subsec_millis().min(999);
    out.push(char::from(b'0' + (ms / 100) as u8));
    push2(out, ms % 100);
    out.push('Z');
}

fn push_uuid_field(out: &mut String, key: &str, value: &Uuid) {
    let mut buf = [0u8; 36];
    push_str_field(out, key, value.hyphenated().encode_lower(&mut buf));
}

fn push_str_field(out: &mut String, key: &str, value: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":\"");
    out.push_str(value);
    out.push_str("\",");
}

fn push_time_field(out: &mut String, key: &str, t: DateTime<Utc>) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":\"");
    push_iso(out, t);
    out.push_str("\",");
}

fn push_int_field(out: &mut String, key: &str, value: i64) {
    let _ = write!(out, "\"{key}\":{value},");
}

/// Replaces the trailing `,` of the last field with `close`.
fn close(out: &mut String, close: &str) {
    if out.ends_with(',') {
        out.pop();
    }
    out.push_str(close);
}

/// `v2.users.{id}.presence`.
pub(super) fn presence(
    out: &mut String,
    definition_id: &str,
    system_presence: &str,
    now: DateTime<Utc>,
) {
    out.push_str(r#"{"source":"PURECLOUD","presenceDefinition":{"id":""#);
    out.push_str(definition_id);
    out.push_str(r#"","systemPresence":""#);
    out.push_str(system_presence);
    out.push_str(r#""},"message":"","modifiedDate":""#);
    push_iso(out, now);
    out.push_str("\"}");
}

/// `v2.users.{id}.routingStatus`.
pub(super) fn routing_status(out: &mut String, status: &str, start: DateTime<Utc>) {
    out.push_str(r#"{"routingStatus":{"status":""#);
    out.push_str(status);
    out.push_str(r#"","startTime":""#);
    push_iso(out, start);
    out.push_str("\"}}");
}

/// `v2.analytics.queues.{id}.observations`.
pub(super) fn observations(
    out: &mut String,
    queue_id: &str,
    waiting: u32,
    interacting: u32,
    idle: u32,
) {
    let _ = write!(
        out,
        r#"{{"group":{{"queueId":"{queue_id}","mediaType":"voice"}},"data":[{{"metric":"oWaiting","stats":{{"count":{waiting}}}}},{{"metric":"oInteracting","stats":{{"count":{interacting}}}}},{{"metric":"oOnQueueUsers","qualifier":"IDLE","stats":{{"count":{idle}}}}}]}}"#
    );
}

fn ms_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> i64 {
    match (from, to) {
        (Some(a), Some(b)) => (b - a).num_milliseconds().max(0),
        _ => 0,
    }
}

/// `v2.detail.events.conversation.{id}.<phase>`: the flat detail event of a phase the conversation
/// has reached (the caller checks it has).
pub(super) fn detail_event(out: &mut String, c: &Conversation, phase: Phase) {
    let t = c.time(phase).unwrap_or_else(|| c.start());
    let agent = c.agent.as_ref();
    let (participant, session) = match phase {
        Phase::CustomerStart | Phase::CustomerEnd => {
            (c.customer_participant_id, c.customer_session_id)
        }
        Phase::AcdStart | Phase::AcdEnd => (c.acd_participant_id, c.acd_session_id),
        Phase::UserStart | Phase::UserEnd | Phase::Wrapup => agent
            .map(|a| (a.participant_id, a.session_id))
            .unwrap_or_default(),
    };
    out.push('{');
    push_int_field(out, "eventTime", t.timestamp_millis());
    push_uuid_field(out, "conversationId", &c.id);
    push_uuid_field(out, "participantId", &participant);
    push_uuid_field(out, "sessionId", &session);
    match phase {
        Phase::CustomerEnd => push_str_field(out, "disconnectType", "ENDPOINT"),
        Phase::AcdEnd if c.abandoned => push_str_field(out, "disconnectType", "PEER"),
        Phase::AcdEnd => push_str_field(out, "disconnectType", "TRANSFER"),
        Phase::UserEnd => push_str_field(out, "disconnectType", "PEER"),
        _ => {}
    }
    out.push_str(r#""mediaType":"VOICE","provider":"Edge","direction":"INBOUND","#);
    push_str_field(out, "ani", &c.ani);
    push_str_field(out, "dnis", &c.dnis);
    if phase != Phase::CustomerStart && phase != Phase::CustomerEnd {
        push_str_field(out, "queueId", &c.queue_id);
    }
    if let (Phase::UserStart | Phase::UserEnd | Phase::Wrapup, Some(a)) = (phase, agent) {
        push_str_field(out, "userId", &a.user_id);
    }
    push_str_field(out, "divisionId", &c.division_id);
    match phase {
        Phase::AcdEnd => {
            push_str_field(
                out,
                "acdOutcome",
                if c.abandoned { "ABANDON" } else { "ANSWERED" },
            );
            if let Some(a) = agent {
                push_str_field(out, "answeredUserId", &a.user_id);
            }
            push_int_field(
                out,
                "connectedDurationMs",
                ms_between(c.time(Phase::AcdStart), Some(t)),
            );
        }
        Phase::CustomerEnd => {
            push_int_field(
                out,
                "interactingDurationMs",
                ms_between(c.time(Phase::CustomerStart), Some(t)),
            );
        }
        Phase::UserEnd => {
            push_int_field(
                out,
                "interactingDurationMs",
                ms_between(c.time(Phase::AcdEnd), Some(t)),
            );
            push_int_field(
                out,
                "alertingDurationMs",
                ms_between(c.time(Phase::UserStart), c.time(Phase::AcdEnd)),
            );
        }
        Phase::Wrapup => {
            if let Some((code, _)) = &c.wrapup_code {
                push_str_field(out, "wrapupCode", code);
            }
            push_int_field(
                out,
                "wrapupDurationMs",
                ms_between(c.time(Phase::UserEnd), Some(t)),
            );
        }
        _ => {}
    }
    close(out, "}");
}

/// One participant of a conversation object, as the platform shows it.
struct Leg<'a> {
    id: &'a Uuid,
    name: &'a str,
    address: &'a str,
    start: DateTime<Utc>,
    connected: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    purpose: &'a str,
    state: &'a str,
    user: Option<&'a str>,
    wrapup: Option<&'a (Arc<str>, Arc<str>)>,
    session: &'a Uuid,
}

impl Leg<'_> {
    fn write(&self, out: &mut String, queue_id: &str) {
        out.push('{');
        push_uuid_field(out, "id", self.id);
        push_str_field(out, "name", self.name);
        push_str_field(out, "address", self.address);
        push_time_field(out, "startTime", self.start);
        if let Some(t) = self.connected {
            push_time_field(out, "connectedTime", t);
        }
        if let Some(t) = self.end {
            push_time_field(out, "endTime", t);
        }
        push_str_field(out, "purpose", self.purpose);
        push_str_field(out, "state", self.state);
        out.push_str(r#""direction":"inbound","queue":{"id":""#);
        out.push_str(queue_id);
        out.push_str("\"},");
        if let Some(user) = self.user {
            out.push_str(r#""user":{"id":""#);
            out.push_str(user);
            out.push_str(r#""},"wrapupRequired":true,"#);
        }
        if let Some((code, name)) = self.wrapup {
            out.push_str(r#""wrapup":{"code":""#);
            out.push_str(code);
            out.push_str(r#"","name":""#);
            out.push_str(name);
            out.push_str("\"},");
        }
        out.push_str(r#""calls":[{"state":""#);
        out.push_str(self.state);
        out.push_str(r#"","id":""#);
        let mut buf = [0u8; 36];
        out.push_str(self.session.hyphenated().encode_lower(&mut buf));
        out.push_str(r#"","direction":"inbound","provider":"Edge"}]},"#);
    }
}

/// `v2.users.{id}.conversations` and `v2.routing.queues.{id}.conversations`: the conversation
/// object as it stands after its last phase.
pub(super) fn conversation(out: &mut String, c: &Conversation) {
    let start = c.start();
    out.push('{');
    push_uuid_field(out, "id", &c.id);
    out.push_str(r#""name":"","participants":["#);

    let customer_end = c.time(Phase::CustomerEnd);
    Leg {
        id: &c.customer_participant_id,
        name: "Customer",
        address: &c.ani,
        start,
        connected: Some(start),
        end: customer_end,
        purpose: "customer",
        state: match (customer_end, c.is_finished()) {
            (None, _) => "connected",
            (Some(_), false) => "disconnected",
            (Some(_), true) => "terminated",
        },
        user: None,
        wrapup: None,
        session: &c.customer_session_id,
    }
    .write(out, &c.queue_id);

    if let Some(acd_start) = c.time(Phase::AcdStart) {
        let acd_end = c.time(Phase::AcdEnd);
        Leg {
            id: &c.acd_participant_id,
            name: &c.queue_name,
            address: &c.dnis,
            start: acd_start,
            connected: Some(acd_start),
            end: acd_end,
            purpose: "acd",
            state: if acd_end.is_some() {
                "disconnected"
            } else {
                "connected"
            },
            user: None,
            wrapup: None,
            session: &c.acd_session_id,
        }
        .write(out, &c.queue_id);
    }

    if let (Some(agent), Some(alert)) = (&c.agent, c.time(Phase::UserStart)) {
        let connected = c.time(Phase::AcdEnd);
        let end = c.time(Phase::UserEnd);
        let mut address = String::with_capacity(52);
        address.push_str("sip:");
        address.push_str(&agent.user_id);
        address.push_str("@localhost");
        Leg {
            id: &agent.participant_id,
            name: &agent.user_name,
            address: &address,
            start: alert,
            connected,
            end,
            purpose: "agent",
            state: if c.time(Phase::Wrapup).is_some() {
                "terminated"
            } else if end.is_some() {
                "disconnected"
            } else if connected.is_some() {
                "connected"
            } else {
                "alerting"
            },
            user: Some(&agent.user_id),
            wrapup: c.wrapup_code.as_ref(),
            session: &agent.session_id,
        }
        .write(out, &c.queue_id);
    }
    close(out, "],");
    out.push_str(r#""recordingState":"none","divisions":[{"division":{"id":""#);
    out.push_str(&c.division_id);
    out.push_str(r#""},"entities":[{"id":""#);
    out.push_str(&c.queue_id);
    out.push_str("\"}]}]}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_format_matches_the_platform() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut s = String::new();
        push_iso(&mut s, t);
        assert_eq!(s, "2026-11-23T10:00:00.123Z");
    }

    #[test]
    fn padding_reaches_the_exact_frame_size() {
        let topic = "v2.users.00000000-0000-0000-0000-000000000000.presence";
        for target in [300, 1000, 4096, 65_536] {
            let mut body = String::from(r#"{"a":1}"#);
            pad(&mut body, topic.len(), Some(target));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["padding"].is_string());
            assert_eq!(body.len() + frame_overhead(topic.len()), target);
        }
        let mut body = String::from(r#"{"a":1}"#);
        pad(&mut body, topic.len(), Some(10));
        assert_eq!(body, r#"{"a":1}"#);
    }
}
