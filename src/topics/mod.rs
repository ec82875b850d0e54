//! The platform's topic names: the catalogue of templates (`reference/notification-topics.json`), validation,
//! the combined form, and permission patterns; used by the engine (configuration, placement, routes) and the
//! simulator alike.
//!
//! Topic templates (`template`: one topic with `{id}`, and the users or queues it is for) live here too, beside
//! the names they expand to; the configuration, the admin API and the store share their one definition.
//!
//! Topic names are matched case-insensitively (contract §6), so everything here works on lower-case forms.

pub mod template;

use std::borrow::Cow;
use std::sync::OnceLock;

pub use template::{Selector, TopicTemplate};

/// Longest accepted combined topic id (`v2.users.<id>?presence&routingStatus`), contract §4.
pub const MAX_COMBINED_TOPIC_LEN: usize = 200;

const CATALOGUE_JSON: &str = include_str!("../../reference/notification-topics.json");

/// The topic catalogue: every template from `reference/notification-topics.json`.
pub struct Catalogue {
    templates: Vec<Template>,
}

struct Template {
    name: String,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    Id,
}

impl Catalogue {
    /// The catalogue shipped in `reference/`, parsed once.
    pub fn shipped() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            #[derive(serde::Deserialize)]
            struct File {
                topics: Vec<String>,
            }
            // The file is part of the crate; a parse failure is a build defect caught by the unit tests.
            let file: File =
                serde_json::from_str(CATALOGUE_JSON).unwrap_or(File { topics: Vec::new() });
            Catalogue::new(file.topics)
        })
    }

    pub fn new(names: Vec<String>) -> Catalogue {
        let templates = names
            .into_iter()
            .map(|name| {
                let segments = name
                    .split('.')
                    .map(|s| {
                        if s == "{id}" {
                            Segment::Id
                        } else {
                            Segment::Literal(s.to_ascii_lowercase())
                        }
                    })
                    .collect();
                Template { name, segments }
            })
            .collect();
        Catalogue { templates }
    }

    /// Template names, as listed in the catalogue.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.iter().map(|t| t.name.as_str())
    }

    /// The template a concrete topic name belongs to, if any.
    pub fn template_of(&self, topic: &str) -> Option<&str> {
        let lower = topic.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        self.templates
            .iter()
            .find(|t| {
                t.segments.len() == parts.len()
                    && t.segments.iter().zip(&parts).all(|(seg, part)| match seg {
                        Segment::Id => is_id_segment(part),
                        Segment::Literal(l) => l == part,
                    })
            })
            .map(|t| t.name.as_str())
    }
}

fn is_id_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a requested subscription id is not a valid topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("The subscription topic is not valid: {0}")]
    Invalid(String),
    #[error("The combined topic {0} is longer than {MAX_COMBINED_TOPIC_LEN} characters")]
    TooLong(String),
}

/// Expands a subscription id into the individual topic names it covers, lower-cased.
///
/// `v2.users.X?presence&routingStatus` → `v2.users.x.presence`, `v2.users.x.routingstatus`; a plain id → itself.
/// Every resulting name must match a catalogue template.
pub fn expand(catalogue: &Catalogue, id: &str) -> Result<Vec<String>, TopicError> {
    let id = id.trim();
    let names: Vec<String> = match id.split_once('?') {
        None => vec![id.to_ascii_lowercase()],
        Some((prefix, suffixes)) => {
            if id.len() > MAX_COMBINED_TOPIC_LEN {
                return Err(TopicError::TooLong(id.to_string()));
            }
            if prefix.is_empty() || suffixes.is_empty() {
                return Err(TopicError::Invalid(id.to_string()));
            }
            let mut out = Vec::new();
            for suffix in suffixes.split('&') {
                if suffix.is_empty() {
                    return Err(TopicError::Invalid(id.to_string()));
                }
                let name = format!("{prefix}.{suffix}").to_ascii_lowercase();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            out
        }
    };
    for name in &names {
        if catalogue.template_of(name).is_none() {
            return Err(TopicError::Invalid(id.to_string()));
        }
    }
    Ok(names)
}

/// A permission pattern for topics an OAuth client may not read: `*` matches any run of characters
/// (dots included); matching ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    source: String,
    parts: Vec<String>,
}

impl TopicPattern {
    pub fn new(pattern: &str) -> TopicPattern {
        let lower = pattern.to_ascii_lowercase();
        TopicPattern {
            source: pattern.to_string(),
            parts: lower.split('*').map(str::to_string).collect(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a lower-case topic name matches.
    pub fn matches(&self, topic: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(x) => x,
            None => return false,
        };
        if rest.is_empty() {
            return topic == first;
        }
        let Some(mut remaining) = topic.strip_prefix(first.as_str()) else {
            return false;
        };
        let (last, middle) = rest.split_last().unwrap_or((first, &[]));
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(i) => remaining = &remaining[i + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

/// The ids of `topic` at the places `family` has `{id}`; literal parts match ignoring ASCII case (the
/// catalogue's families are matched that way). `None` when the family has no `{id}` or does not match.
pub fn entity_of<'t>(topic: &'t str, family: &str) -> Option<Cow<'t, str>> {
    let pieces: Vec<&str> = family.split("{id}").collect();
    if pieces.len() < 2 {
        return None;
    }
    // ASCII lower-casing keeps every byte where it was, so positions found here hold in `topic`.
    let lower = topic.to_ascii_lowercase();
    let first = pieces[0].to_ascii_lowercase();
    if !lower.starts_with(&first) {
        return None;
    }
    let mut at = first.len();
    let mut ids: Vec<&'t str> = Vec::with_capacity(pieces.len() - 1);
    for (i, piece) in pieces[1..].iter().enumerate() {
        let piece = piece.to_ascii_lowercase();
        let rest = &lower[at..];
        let end = if i + 2 == pieces.len() {
            // The last piece ends the topic.
            if !rest.ends_with(&piece) {
                return None;
            }
            rest.len() - piece.len()
        } else if piece.is_empty() {
            // `{id}{id}` cannot be split.
            return None;
        } else {
            rest.find(&piece)?
        };
        if end == 0 {
            return None;
        }
        ids.push(topic.get(at..at + end)?);
        at += end + piece.len();
    }
    match ids.as_slice() {
        [one] => Some(Cow::Borrowed(one)),
        many => Some(Cow::Owned(many.join("."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_has_every_template() {
        let c = Catalogue::shipped();
        assert_eq!(c.names().count(), 237);
        assert_eq!(
            c.template_of("v2.users.abc-123.presence"),
            Some("v2.users.{id}.presence")
        );
        assert_eq!(
            c.template_of("V2.Users.ABC.RoutingStatus"),
            Some("v2.users.{id}.routingStatus")
        );
        assert_eq!(c.template_of("v2.users.abc.nonsense"), None);
        assert_eq!(c.template_of("v2.users..presence"), None);
    }

    #[test]
    fn combined_form_expands_to_individual_names() {
        let c = Catalogue::shipped();
        assert_eq!(
            expand(c, "v2.users.u1?presence&routingStatus").unwrap(),
            vec![
                "v2.users.u1.presence".to_string(),
                "v2.users.u1.routingstatus".to_string()
            ]
        );
        assert_eq!(
            expand(c, "v2.users.u1.presence").unwrap(),
            vec!["v2.users.u1.presence".to_string()]
        );
        assert!(matches!(
            expand(c, "v2.users.u1?presence&bogus"),
            Err(TopicError::Invalid(_))
        ));
        assert!(matches!(
            expand(c, "v2.users.u1?"),
            Err(TopicError::Invalid(_))
        ));
        let long = format!("v2.users.{}?presence&routingStatus", "a".repeat(190));
        assert!(matches!(expand(c, &long), Err(TopicError::TooLong(_))));
    }

    #[test]
    fn patterns_match_with_wildcards_ignoring_case() {
        let p = TopicPattern::new("v2.users.*.Conversations");
        assert!(p.matches("v2.users.abc.conversations"));
        assert!(!p.matches("v2.users.abc.presence"));
        let exact = TopicPattern::new("v2.users.u1.presence");
        assert!(exact.matches("v2.users.u1.presence"));
        assert!(!exact.matches("v2.users.u1.presence.x"));
        assert!(TopicPattern::new("v2.analytics.*").matches("v2.analytics.queues.q.observations"));
        assert!(TopicPattern::new("*").matches("anything"));
        assert!(!TopicPattern::new("a*b*c").matches("ab"));
        assert!(TopicPattern::new("a*b*c").matches("axxbyyc"));
    }
}
