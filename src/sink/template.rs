//! Where a record goes, by template: a NATS subject, a Kafka topic, a Kafka key. A template mixes literal text
//! with placeholders read from the record and its envelope: `{tenant}`, `{kind}`, `{family}`, `{entity}`,
//! `{topic}`. Templates are checked when configured ([`crate::sink::check_template`]); this module
//! renders them, reading the envelope once per record.

use std::borrow::Cow;

use super::{Delivery, RecordKind};
use crate::topics::entity_of;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Tenant,
    Kind,
    Family,
    Entity,
    Topic,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Splits a template that passed [`crate::sink::check_template`] into its pieces (an unknown
    /// placeholder, which the check refuses, renders as `{family}`).
    pub(super) fn parse(template: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                break;
            };
            parts.push(match &after[..close] {
                "tenant" => Part::Tenant,
                "kind" => Part::Kind,
                "entity" => Part::Entity,
                "topic" => Part::Topic,
                _ => Part::Family,
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Template { parts }
    }

    /// Whether rendering reads the envelope (anything but `{tenant}` and `{kind}`).
    pub(super) fn reads_envelope(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Family | Part::Entity | Part::Topic))
    }

    /// Renders the template for `d`; each placeholder's value goes through `clean` (which makes it fit the
    /// destination's naming rules), literal text does not. `envelope` is what [`Envelope::read`] found.
    pub(super) fn render(
        &self,
        d: &Delivery,
        envelope: &Envelope<'_>,
        clean: impl Fn(&str, &mut String),
    ) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Tenant => clean(&d.tenant, &mut out),
                Part::Kind => clean(kind_name(d.kind), &mut out),
                Part::Family => clean(&envelope.family(d.kind), &mut out),
                Part::Entity => clean(envelope.entity().as_deref().unwrap_or(""), &mut out),
                Part::Topic => clean(envelope.topic.as_deref().unwrap_or(""), &mut out),
            }
        }
        out
    }
}

pub(super) fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Event => "event",
        RecordKind::Gap => "gap",
        RecordKind::Backfill => "backfill",
    }
}

/// What templates and headers read from a record's envelope.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub topic: Option<Cow<'a, str>>,
    #[serde(rename = "topicFamily", borrow)]
    pub topic_family: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// Reads the fields of `json`; a record that is not such an object has none of them.
    pub(super) fn read(json: &'a [u8]) -> Envelope<'a> {
        serde_json::from_slice(json).unwrap_or_default()
    }

    /// The `{family}` of a record: the topic family with `{id}` as `id` (`v2.users.id.presence`), `gap` for
    /// gaps, `unknown` when the envelope has none.
    pub(super) fn family(&self, kind: RecordKind) -> Cow<'_, str> {
        if kind == RecordKind::Gap {
            return Cow::Borrowed("gap");
        }
        match self.topic_family.as_deref() {
            None => Cow::Borrowed("unknown"),
            Some(f) if f.contains("{id}") => Cow::Owned(f.replace("{id}", "id")),
            Some(f) => Cow::Borrowed(f),
        }
    }

    /// The `{entity}` of a record: the part of its topic that its family writes as `{id}`
    /// (`v2.users.{id}.presence` on `v2.users.u1.presence` → `u1`), the parts joined by `.` when the family
    /// has several. `None` for a topic without an id, and for gaps (they have no single topic).
    pub(super) fn entity(&self) -> Option<Cow<'a, str>> {
        match (&self.topic, &self.topic_family) {
            (Some(topic), Some(family)) => match topic {
                Cow::Borrowed(t) => entity_of(t, family),
                Cow::Owned(t) => entity_of(t, family).map(|e| Cow::Owned(e.into_owned())),
            },
            _ => None,
        }
    }
}

/// The envelope's `id`: read at its fixed place (`{"kind":"event","id":"...`) without parsing the rest, or
/// by a parse of the top-level fields when the envelope is laid out otherwise (gap records).
pub(super) fn envelope_id(kind: RecordKind, json: &[u8]) -> Option<Cow<'_, str>> {
    let prefix_len = br#"{"kind":""#.len() + kind_name(kind).len() + br#"","id":""#.len();
    if json.len() > prefix_len
        && json.starts_with(br#"{"kind":""#)
        && json[prefix_len - br#"","id":""#.len()..].starts_with(br#"","id":""#)
    {
        let rest = &json[prefix_len..];
        if let Some(end) = rest.iter().position(|&c| c == b'"' || c == b'\\')
            && rest[end] == b'"'
            && end > 0
        {
            return std::str::from_utf8(&rest[..end]).ok().map(Cow::Borrowed);
        }
    }
    Envelope::read(json).id
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    fn verbatim(value: &str, out: &mut String) {
        out.push_str(value);
    }

    fn event(topic: &str, family: &str) -> Delivery {
        Delivery {
            kind: RecordKind::Event,
            received_ms: None,
            tenant: Arc::from("acme"),
            json: Bytes::from(format!(
                r#"{{"kind":"event","id":"00000000000000ab","tenant":"acme","topic":"{topic}","topicFamily":"{family}","body":{{"topic":"not-this-one"}}}}"#
            )),
        }
    }

    #[test]
    fn the_entity_is_what_the_family_writes_as_id() {
        let cases = [
            ("v2.users.u1.presence", "v2.users.{id}.presence", Some("u1")),
            (
                "V2.Users.U-1.PRESENCE",
                "v2.users.{id}.presence",
                Some("U-1"),
            ),
            (
                "v2.routing.queues.q.conversations",
                "v2.routing.queues.{id}.conversations",
                Some("q"),
            ),
            ("v2.users.u1", "v2.users.{id}", Some("u1")),
            (
                "v2.users.u1.conversations.c2.recordings",
                "v2.users.{id}.conversations.{id}.recordings",
                Some("u1.c2"),
            ),
            ("v2.system.a.b", "v2.system.{id}.{id}", Some("a.b")),
            ("v2.analytics.x", "v2.analytics.x", None),
            ("v2.users.u1.presence", "v2.groups.{id}.presence", None),
            ("v2.users..presence", "v2.users.{id}.presence", None),
            ("v2.users.u1.other", "v2.users.{id}.presence", None),
            ("v2.users.u1", "v2.users.{id}{id}.x", None),
        ];
        for (topic, family, expected) in cases {
            assert_eq!(
                entity_of(topic, family).as_deref(),
                expected,
                "{topic} / {family}"
            );
        }
        assert!(matches!(
            entity_of("v2.users.u1.presence", "v2.users.{id}.presence"),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn templates_render_each_placeholder_through_the_cleaner() {
        let t = Template::parse("sb.{tenant}.{kind}.{family}/{entity}|{topic}");
        assert!(t.reads_envelope());
        assert!(!Template::parse("sb.{tenant}-{kind}").reads_envelope());
        let e = event("v2.users.u1.presence", "v2.users.{id}.presence");
        let env = Envelope::read(&e.json);
        assert_eq!(
            t.render(&e, &env, verbatim),
            "sb.acme.event.v2.users.id.presence/u1|v2.users.u1.presence"
        );
        let upper = |v: &str, out: &mut String| out.push_str(&v.to_ascii_uppercase());
        assert_eq!(
            Template::parse("x.{tenant}.{entity}").render(&e, &env, upper),
            "x.ACME.U1"
        );
        let gap = Delivery {
            kind: RecordKind::Gap,
            received_ms: None,
            tenant: Arc::from("acme"),
            json: Bytes::from_static(
                br#"{"kind":"gap","id":"g-1","topics":["v2.users.u1.presence"]}"#,
            ),
        };
        let env = Envelope::read(&gap.json);
        assert_eq!(env.entity(), None);
        assert_eq!(
            t.render(&gap, &env, verbatim),
            "sb.acme.gap.gap/|",
            "a gap has no entity nor topic"
        );
        assert_eq!(envelope_id(gap.kind, &gap.json).as_deref(), Some("g-1"));
        let junk = Delivery {
            kind: RecordKind::Backfill,
            received_ms: None,
            tenant: Arc::from("t"),
            json: Bytes::from_static(b"not json"),
        };
        let env = Envelope::read(&junk.json);
        assert_eq!(t.render(&junk, &env, verbatim), "sb.t.backfill.unknown/|");
        assert_eq!(envelope_id(junk.kind, &junk.json), None);
    }
}
