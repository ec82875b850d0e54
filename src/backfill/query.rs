//! What a backfill asks the platform, and which answers belong to it: the conversation families of a set of
//! topics ([`Wanted`]), the analytics conversation details queries that cover them ([`Wanted::queries`]), and
//! the check of each returned conversation against the window and the entities ([`Wanted::matches`]). Pure:
//! no I/O, so every rule is unit-tested.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Conversations asked for per page: the API's largest page.
pub const PAGE_SIZE: usize = 100;
/// Entities named in one query (one predicate each). The platform's own bound is not documented; queries
/// past this are split.
pub const PREDICATES_PER_QUERY: usize = 50;

/// Which conversations a set of topics follows, by the topic's entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `v2.routing.queues.{id}.conversations[.<media>]`.
    pub queues: BTreeSet<String>,
    /// `v2.users.{id}.conversations[.<media>]`.
    pub users: BTreeSet<String>,
    /// `v2.detail.events.conversation.{id}.<phase>`.
    pub conversations: BTreeSet<String>,
    /// The topics that named them, as given (lower-cased), to route the records they bring back.
    pub topics: Vec<(Entity, String)>,
}

/// An entity a conversation topic follows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entity {
    Queue(String),
    User(String),
    Conversation(String),
}

/// The entity of a topic of a conversation family, if it is one (topic names compare case-insensitively).
pub fn entity_of(topic: &str) -> Option<Entity> {
    let lower = topic.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    match parts.as_slice() {
        ["v2", "routing", "queues", id, "conversations", ..] if !id.is_empty() => {
            Some(Entity::Queue(id.to_string()))
        }
        ["v2", "users", id, "conversations", ..] if !id.is_empty() => {
            Some(Entity::User(id.to_string()))
        }
        ["v2", "detail", "events", "conversation", id, _, ..] if !id.is_empty() => {
            Some(Entity::Conversation(id.to_string()))
        }
        _ => None,
    }
}

/// The family of a topic written as its catalogue template (`{id}` for the entity), for the record's
/// `topicFamily`.
pub fn family_of(topic: &str, entity: &Entity) -> String {
    let id = match entity {
        Entity::Queue(id) | Entity::User(id) | Entity::Conversation(id) => id,
    };
    let lower = topic.to_ascii_lowercase();
    lower.replacen(&format!(".{id}."), ".{id}.", 1)
}

impl Wanted {
    /// The conversation families among `topics`; the others are ignored.
    pub fn of<'a>(topics: impl IntoIterator<Item = &'a str>) -> Wanted {
        let mut w = Wanted::default();
        for topic in topics {
            let Some(entity) = entity_of(topic) else {
                continue;
            };
            match &entity {
                Entity::Queue(id) => w.queues.insert(id.clone()),
                Entity::User(id) => w.users.insert(id.clone()),
                Entity::Conversation(id) => w.conversations.insert(id.clone()),
            };
            w.topics.push((entity, topic.to_ascii_lowercase()));
        }
        w
    }

    /// Whether no topic is of a conversation family (nothing to backfill).
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The filters that cover every entity, at most [`PREDICATES_PER_QUERY`] per query: each is the part of
    /// a details query body that selects conversations (`segmentFilters` or `conversationFilters`), with the
    /// topics of the entities it names.
    pub fn filters(&self) -> Vec<Filter> {
        let mut out = Vec::new();
        for (key, dimension, ids) in [
            ("segmentFilters", "queueId", &self.queues),
            ("segmentFilters", "userId", &self.users),
            ("conversationFilters", "conversationId", &self.conversations),
        ] {
            let ids: Vec<&String> = ids.iter().collect();
            for chunk in ids.chunks(PREDICATES_PER_QUERY) {
                let predicates: Vec<Value> = chunk
                    .iter()
                    .map(|id| {
                        json!({"type": "dimension", "dimension": dimension, "operator": "matches", "value": id})
                    })
                    .collect();
                let topics = self
                    .topics
                    .iter()
                    .filter(|(e, _)| match e {
                        Entity::Queue(id) if dimension == "queueId" => chunk.contains(&id),
                        Entity::User(id) if dimension == "userId" => chunk.contains(&id),
                        Entity::Conversation(id) if dimension == "conversationId" => {
                            chunk.contains(&id)
                        }
                        _ => false,
                    })
                    .cloned()
                    .collect();
                out.push(Filter {
                    body: json!({ key: [{"type": "or", "predicates": predicates}] }),
                    topics,
                });
            }
        }
        out
    }

    /// One page of a details query for `filter` over `[from, to]`, oldest first.
    pub fn query(filter: &Value, from: DateTime<Utc>, to: DateTime<Utc>, page: usize) -> Value {
        // The interval is half-open; one millisecond more keeps a conversation that started at `to`.
        let end = to + chrono::Duration::milliseconds(1);
        let mut body = json!({
            "interval": format!("{}/{}", crate::envelope::timestamp(from), crate::envelope::timestamp(end)),
            "order": "asc",
            "orderBy": "conversationStart",
            "paging": {"pageSize": PAGE_SIZE, "pageNumber": page},
        });
        if let (Some(b), Some(f)) = (body.as_object_mut(), filter.as_object()) {
            for (k, v) in f {
                b.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

/// One query's selection of conversations, and the topics of the entities it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// `{"segmentFilters": [...]}` or `{"conversationFilters": [...]}`.
    pub body: Value,
    /// (entity, lower-case topic) for each topic whose entity the filter names.
    pub topics: Vec<(Entity, String)>,
}

impl Filter {
    /// Whether a conversation this filter's query returned belongs to the backfill: it started inside
    /// `[from, to]` (the platform matches whole UTC days). Returns the topics it stands for: those of the
    /// entities it shows (its queues, agents, id), or, when it shows none of them yet (a call that has not
    /// reached a queue), every topic of the filter, which the platform matched it on.
    pub fn matches(
        &self,
        conversation: &Value,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Vec<&str>> {
        let start = conversation
            .get("conversationStart")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?
            .with_timezone(&Utc);
        if start < from || start > to {
            return None;
        }
        let entities = entities_in(conversation);
        let shown: Vec<&str> = self
            .topics
            .iter()
            .filter(|(e, _)| entities.contains(e))
            .map(|(_, t)| t.as_str())
            .collect();
        Some(if shown.is_empty() {
            self.topics.iter().map(|(_, t)| t.as_str()).collect()
        } else {
            shown
        })
    }
}

/// The entities a conversation involves: its id, the queues of its segments, its agents.
fn entities_in(conversation: &Value) -> BTreeSet<Entity> {
    let mut out = BTreeSet::new();
    if let Some(id) = conversation.get("conversationId").and_then(Value::as_str) {
        out.insert(Entity::Conversation(id.to_ascii_lowercase()));
    }
    let participants = conversation
        .get("participants")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for p in participants {
        if let Some(user) = p.get("userId").and_then(Value::as_str) {
            out.insert(Entity::User(user.to_ascii_lowercase()));
        }
        let sessions = p
            .get("sessions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for s in sessions {
            let segments = s
                .get("segments")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for seg in segments {
                if let Some(q) = seg.get("queueId").and_then(Value::as_str) {
                    out.insert(Entity::Queue(q.to_ascii_lowercase()));
                }
            }
        }
    }
    out
}

/// The key under which a delivered conversation is remembered: its id and, once it ended, its end (an
/// ongoing conversation seen again after it ended is delivered again, complete).
pub fn delivered_key(conversation: &Value) -> Option<String> {
    let id = conversation.get("conversationId")?.as_str()?;
    let end = conversation
        .get("conversationEnd")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(format!("{id}|{end}"))
}

#[cfg(test)]
mod tests;
