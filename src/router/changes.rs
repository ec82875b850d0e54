//! "Changes only": drop a presence or routing-status event whose state equals the last one delivered for the
//! same entity, for routes that ask for it.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::fnv1a;

/// The state an event carries, when its topic is one whose state can be compared.
pub fn state_of(topic: &str, envelope: &[u8]) -> Option<u64> {
    let lower_ends = |suffix: &str| {
        topic.len() >= suffix.len()
            && topic[topic.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if !(lower_ends(".presence") || lower_ends(".routingstatus")) {
        return None;
    }
    #[derive(Deserialize)]
    struct Env<'a> {
        #[serde(borrow)]
        body: &'a RawValue,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        presence_definition: Option<Presence>,
        message: Option<String>,
        routing_status: Option<Routing>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Presence {
        id: Option<String>,
        system_presence: Option<String>,
    }
    #[derive(Deserialize)]
    struct Routing {
        status: Option<String>,
    }
    let env: Env<'_> = serde_json::from_slice(envelope).ok()?;
    let body: Body = serde_json::from_str(env.body.get()).ok()?;
    if let Some(p) = body.presence_definition {
        let parts = [
            p.id.unwrap_or_default(),
            p.system_presence.unwrap_or_default(),
            body.message.unwrap_or_default(),
        ];
        return Some(fnv1a(&[
            parts[0].as_bytes(),
            parts[1].as_bytes(),
            parts[2].as_bytes(),
        ]));
    }
    body.routing_status
        .and_then(|r| r.status)
        .map(|s| fnv1a(&[s.as_bytes()]))
}

/// The last state delivered per (route, entity topic).
#[derive(Debug, Default)]
pub struct LastStates {
    last: HashMap<(usize, u64), u64>,
}

impl LastStates {
    /// True when `state` differs from the last one recorded (and records it).
    pub fn changed(&mut self, route: usize, topic_key: u64, state: u64) -> bool {
        self.last.insert((route, topic_key), state) != Some(state)
    }

    /// Follows the routes through a reconfiguration: `moved[old]` is the new index of route `old`, or `None`
    /// when it is gone or changed (its states are forgotten, so its first event per entity is delivered).
    pub fn remap(&mut self, moved: &[Option<usize>]) {
        let last = std::mem::take(&mut self.last);
        self.last = last
            .into_iter()
            .filter_map(|((route, key), state)| {
                moved
                    .get(route)
                    .copied()
                    .flatten()
                    .map(|new| ((new, key), state))
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(body: &str) -> Vec<u8> {
        format!(r#"{{"kind":"event","topic":"x","body":{body}}}"#).into_bytes()
    }

    #[test]
    fn presence_and_routing_status_states_compare() {
        let a = state_of(
            "v2.users.u.presence",
            &env(r#"{"presenceDefinition":{"id":"p","systemPresence":"Available"},"message":""}"#),
        );
        let b = state_of(
            "v2.users.u.presence",
            &env(r#"{"presenceDefinition":{"id":"p","systemPresence":"Away"},"message":""}"#),
        );
        assert!(a.is_some() && a != b);
        let r1 = state_of(
            "v2.users.u.routingStatus",
            &env(r#"{"routingStatus":{"status":"IDLE","startTime":"1"}}"#),
        );
        let r2 = state_of(
            "v2.users.u.routingStatus",
            &env(r#"{"routingStatus":{"status":"IDLE","startTime":"2"}}"#),
        );
        assert_eq!(r1, r2, "only the status counts");
        assert_eq!(
            state_of("v2.routing.queues.q.conversations", &env("{}")),
            None
        );
        let mut last = LastStates::default();
        assert!(last.changed(0, 1, 5));
        assert!(!last.changed(0, 1, 5));
        assert!(last.changed(1, 1, 5), "routes keep their own state");
        assert!(last.changed(0, 1, 6));
    }

    #[test]
    fn states_follow_routes_that_moved_and_are_forgotten_for_the_others() {
        let mut last = LastStates::default();
        last.changed(0, 1, 5);
        last.changed(1, 1, 5);
        // Route 0 is gone, route 1 is now route 0.
        last.remap(&[None, Some(0)]);
        assert!(!last.changed(0, 1, 5), "the moved route kept its state");
        assert!(last.changed(1, 1, 5), "nothing carried over to index 1");
    }
}
