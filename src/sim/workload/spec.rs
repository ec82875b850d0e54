//! What the workload should look like: the [`WorkloadSpec`] and the topic [`Family`]s it draws from.

use serde::{Deserialize, Serialize};

/// Largest `users` a spec may ask for.
pub const MAX_USERS: usize = 100_000;
/// Largest `queues` a spec may ask for.
pub const MAX_QUEUES: usize = 10_000;
/// Largest `eventSizeBytes` a spec may ask for (1 MiB).
pub const MAX_EVENT_SIZE_BYTES: usize = 1 << 20;
/// Largest `maxConversations` a spec may ask for.
pub const MAX_CONVERSATIONS: usize = 1_000_000;
/// Largest `ratePerSecond` a spec may ask for.
pub const MAX_RATE_PER_SECOND: f64 = 10_000_000.0;

/// The shape of the simulated org and of the events it emits.
///
/// Every field has a default (see [`Default`]), so a partial JSON object is a valid spec; unknown
/// fields are rejected. Call [`WorkloadSpec::validate`] before using a spec that came from outside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// Events per second across the whole org; 0 pauses the workload. The generator itself does not
    /// pace: the caller calls [`Org::next_event`](super::Org::next_event) at this rate.
    pub rate_per_second: f64,
    /// Number of users (agents), 1..=100_000, whatever their state: deleted users stay in the org
    /// (the platform lists them with `state=deleted`). Follows the changes the control API makes.
    pub users: usize,
    /// Number of routing queues, 1..=10_000. Follows the changes the control API makes.
    pub queues: usize,
    /// Active topic families; must not be empty. Duplicates are ignored.
    pub families: Vec<Family>,
    /// Pad each `eventBody` with a `"padding":"xxx..."` field so that the whole socket frame is about
    /// this many bytes (at most 1 MiB). The frame overhead counted is that of
    /// `{"topicName":"<topic>","version":"2","eventBody":<body>,"metadata":{"CorrelationId":"<36 chars>"}}`
    /// (about 150 bytes with the usual topics), so such a frame hits the size exactly; fields the
    /// caller adds (a timestamp, a longer CorrelationId) make it larger by their length. Bodies
    /// already larger than the target (a conversation object is about 1.3 KiB) are left alone.
    pub event_size_bytes: Option<usize>,
    /// Seed for entity ids and events: the same seed and the same sequence of calls give the same org
    /// and the same events. Without it the generator is seeded from the OS.
    pub seed: Option<u64>,
    /// Conversations kept for the analytics query (finished and in flight), 1..=1_000_000; the oldest
    /// finished ones are dropped first.
    pub max_conversations: usize,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            rate_per_second: 10.0,
            users: 20,
            queues: 5,
            families: Family::ALL.to_vec(),
            event_size_bytes: None,
            seed: None,
            max_conversations: 100_000,
        }
    }
}

impl WorkloadSpec {
    /// Checks every field against its range; the message names the offending field (in its JSON
    /// spelling).
    pub fn validate(&self) -> Result<(), String> {
        if !self.rate_per_second.is_finite()
            || self.rate_per_second < 0.0
            || self.rate_per_second > MAX_RATE_PER_SECOND
        {
            return Err(format!(
                "ratePerSecond must be a number from 0 to {MAX_RATE_PER_SECOND}, got {}",
                self.rate_per_second
            ));
        }
        if !(1..=MAX_USERS).contains(&self.users) {
            return Err(format!(
                "users must be from 1 to {MAX_USERS}, got {}",
                self.users
            ));
        }
        if !(1..=MAX_QUEUES).contains(&self.queues) {
            return Err(format!(
                "queues must be from 1 to {MAX_QUEUES}, got {}",
                self.queues
            ));
        }
        if self.families.is_empty() {
            return Err(
                "families must name at least one family (use ratePerSecond 0 to pause)".to_string(),
            );
        }
        if let Some(size) = self.event_size_bytes
            && size > MAX_EVENT_SIZE_BYTES
        {
            return Err(format!(
                "eventSizeBytes must be at most {MAX_EVENT_SIZE_BYTES} (1 MiB), got {size}"
            ));
        }
        if !(1..=MAX_CONVERSATIONS).contains(&self.max_conversations) {
            return Err(format!(
                "maxConversations must be from 1 to {MAX_CONVERSATIONS}, got {}",
                self.max_conversations
            ));
        }
        Ok(())
    }
}

/// A family of notification topics the workload can emit, one per kind of entity event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Family {
    /// `v2.users.{id}.presence`: a user's presence changed.
    Presence,
    /// `v2.users.{id}.routingStatus`: a user's ACD routing status changed.
    RoutingStatus,
    /// `v2.users.{id}.conversations`: a conversation the user takes part in changed.
    UserConversations,
    /// `v2.routing.queues.{id}.conversations`: a conversation routed through the queue changed.
    QueueConversations,
    /// `v2.analytics.queues.{id}.observations`: a snapshot of the queue's live counters.
    QueueObservations,
    /// `v2.detail.events.conversation.{id}.<phase>`: one step of a conversation's lifecycle.
    DetailEvents,
}

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 6] = [
        Family::Presence,
        Family::RoutingStatus,
        Family::UserConversations,
        Family::QueueConversations,
        Family::QueueObservations,
        Family::DetailEvents,
    ];

    /// The catalogue template of this family's topics (`{id}` stands for one entity id). Detail
    /// events have one template per phase; this returns the first (`customer.start`), and
    /// [`Family::templates`] returns them all.
    pub fn template(self) -> &'static str {
        self.templates()[0]
    }

    /// Every catalogue template (as in `notification-topics.json`) this family emits.
    pub fn templates(self) -> &'static [&'static str] {
        match self {
            Family::Presence => &["v2.users.{id}.presence"],
            Family::RoutingStatus => &["v2.users.{id}.routingStatus"],
            Family::UserConversations => &["v2.users.{id}.conversations"],
            Family::QueueConversations => &["v2.routing.queues.{id}.conversations"],
            Family::QueueObservations => &["v2.analytics.queues.{id}.observations"],
            Family::DetailEvents => &super::conversation::DETAIL_TEMPLATES,
        }
    }

    /// Whether events of this family come from the conversation lifecycle.
    pub fn is_conversation(self) -> bool {
        matches!(
            self,
            Family::UserConversations | Family::QueueConversations | Family::DetailEvents
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_partial_json_takes_defaults() {
        assert_eq!(WorkloadSpec::default().validate(), Ok(()));
        let spec: WorkloadSpec =
            serde_json::from_str(r#"{"users":3,"families":["presence","routingStatus"]}"#).unwrap();
        assert_eq!(spec.users, 3);
        assert_eq!(spec.queues, 5);
        assert_eq!(spec.families, vec![Family::Presence, Family::RoutingStatus]);
        assert_eq!(spec.rate_per_second, 10.0);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<WorkloadSpec>(r#"{"userz":3}"#).unwrap_err();
        assert!(err.to_string().contains("userz"), "{err}");
    }

    #[test]
    fn validate_names_the_field() {
        let cases: Vec<(WorkloadSpec, &str)> = vec![
            (
                WorkloadSpec {
                    rate_per_second: -1.0,
                    ..Default::default()
                },
                "ratePerSecond",
            ),
            (
                WorkloadSpec {
                    rate_per_second: f64::NAN,
                    ..Default::default()
                },
                "ratePerSecond",
            ),
            (
                WorkloadSpec {
                    users: 0,
                    ..Default::default()
                },
                "users",
            ),
            (
                WorkloadSpec {
                    users: MAX_USERS + 1,
                    ..Default::default()
                },
                "users",
            ),
            (
                WorkloadSpec {
                    queues: MAX_QUEUES + 1,
                    ..Default::default()
                },
                "queues",
            ),
            (
                WorkloadSpec {
                    families: vec![],
                    ..Default::default()
                },
                "families",
            ),
            (
                WorkloadSpec {
                    event_size_bytes: Some(MAX_EVENT_SIZE_BYTES + 1),
                    ..Default::default()
                },
                "eventSizeBytes",
            ),
            (
                WorkloadSpec {
                    max_conversations: 0,
                    ..Default::default()
                },
                "maxConversations",
            ),
        ];
        for (spec, field) in cases {
            let err = spec.validate().unwrap_err();
            assert!(err.starts_with(field), "{err}");
        }
        let paused = WorkloadSpec {
            rate_per_second: 0.0,
            event_size_bytes: Some(MAX_EVENT_SIZE_BYTES),
            ..Default::default()
        };
        assert_eq!(paused.validate(), Ok(()));
    }

    #[test]
    fn family_names_in_json_are_camel_case() {
        let json = serde_json::to_string(&Family::ALL).unwrap();
        assert_eq!(
            json,
            r#"["presence","routingStatus","userConversations","queueConversations","queueObservations","detailEvents"]"#
        );
    }
}
