use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::*;

const CATALOGUE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/reference/notification-topics.json"
);

fn templates() -> Vec<String> {
    let text = std::fs::read_to_string(CATALOGUE).expect("the topic catalogue");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// `{id}` matches one dot-free segment; the rest compares case-insensitively.
fn matches(template: &str, topic: &str) -> bool {
    let t: Vec<&str> = template.split('.').collect();
    let s: Vec<&str> = topic.split('.').collect();
    t.len() == s.len()
        && t.iter().zip(&s).all(|(t, s)| {
            if *t == "{id}" {
                !s.is_empty()
            } else {
                t.eq_ignore_ascii_case(s)
            }
        })
}

fn family_of(topic: &str) -> Family {
    Family::ALL
        .into_iter()
        .find(|f| f.templates().iter().any(|t| matches(t, topic)))
        .unwrap_or_else(|| panic!("{topic} belongs to no family"))
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn spec(families: &[Family]) -> WorkloadSpec {
    WorkloadSpec {
        families: families.to_vec(),
        seed: Some(7),
        ..Default::default()
    }
}

fn run(org: &mut Org, n: usize) -> Vec<(GeneratedEvent, DateTime<Utc>)> {
    (0..n)
        .map(|i| {
            let now = t0() + Duration::milliseconds(i as i64 * 250);
            (
                org.next_event(now)
                    .expect("an org with active users has events"),
                now,
            )
        })
        .collect()
}

#[test]
fn family_templates_are_in_the_catalogue() {
    let catalogue = templates();
    assert_eq!(catalogue.len(), 237);
    for f in Family::ALL {
        for t in f.templates() {
            assert!(
                catalogue.iter().any(|c| c == t),
                "{t} is not in the catalogue"
            );
        }
    }
    for p in Phase::ALL {
        assert!(catalogue.iter().any(|c| c == p.template()));
    }
}

#[test]
fn every_topic_matches_the_catalogue_and_every_body_has_its_fields() {
    let catalogue = templates();
    let mut org = Org::new(&spec(&Family::ALL));
    let mut seen: HashMap<Family, usize> = HashMap::new();
    for (event, _) in run(&mut org, 5_000) {
        assert!(
            catalogue.iter().any(|t| matches(t, &event.topic)),
            "{} matches no catalogue template",
            event.topic
        );
        let family = family_of(&event.topic);
        *seen.entry(family).or_default() += 1;
        let body: Value = serde_json::from_str(&event.event_body)
            .unwrap_or_else(|e| panic!("{e}: {}", event.event_body));
        assert!(body.is_object());
        let has = |ptr: &str| body.pointer(ptr).is_some();
        match family {
            Family::Presence => {
                assert_eq!(body["source"], "PURECLOUD");
                assert!(has("/presenceDefinition/id") && has("/modifiedDate"));
                let p = body["presenceDefinition"]["systemPresence"]
                    .as_str()
                    .unwrap();
                assert!(entities::SYSTEM_PRESENCES.contains(&p), "{p}");
            }
            Family::RoutingStatus => {
                let s = body["routingStatus"]["status"].as_str().unwrap();
                assert!(
                    [
                        "OFF_QUEUE",
                        "IDLE",
                        "INTERACTING",
                        "NOT_RESPONDING",
                        "COMMUNICATING"
                    ]
                    .contains(&s)
                );
                assert!(has("/routingStatus/startTime"));
            }
            Family::UserConversations | Family::QueueConversations => {
                assert!(has("/id") && has("/divisions/0/division/id"));
                let parts = body["participants"].as_array().unwrap();
                assert_eq!(parts[0]["purpose"], "customer");
                for p in parts {
                    assert!(p["calls"][0]["id"].is_string() && p["state"].is_string());
                    assert!(p["queue"]["id"].is_string() && p["startTime"].is_string());
                }
                if family == Family::UserConversations {
                    let agent = parts.iter().find(|p| p["purpose"] == "agent").unwrap();
                    let user_id = agent["user"]["id"].as_str().unwrap();
                    assert!(event.topic.contains(user_id));
                } else {
                    assert!(
                        event
                            .topic
                            .contains(parts[0]["queue"]["id"].as_str().unwrap())
                    );
                }
            }
            Family::QueueObservations => {
                let q = body["group"]["queueId"].as_str().unwrap();
                assert!(event.topic.contains(q));
                let metrics: Vec<&str> = body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["metric"].as_str().unwrap())
                    .collect();
                assert_eq!(metrics, ["oWaiting", "oInteracting", "oOnQueueUsers"]);
                assert!(body["data"][0]["stats"]["count"].is_u64());
            }
            Family::DetailEvents => {
                let id = body["conversationId"].as_str().unwrap();
                assert!(event.topic.contains(id));
                assert!(body["eventTime"].is_i64());
                assert_eq!(body["mediaType"], "VOICE");
                for k in ["participantId", "sessionId", "ani", "dnis", "divisionId"] {
                    assert!(body[k].is_string(), "{k} missing in {body}");
                }
                if event.topic.ends_with(".acd.end") {
                    assert!(body["acdOutcome"].is_string() && body["queueId"].is_string());
                }
                if event.topic.ends_with(".wrapup") {
                    assert!(body["wrapupCode"].is_string() && body["userId"].is_string());
                }
            }
        }
    }
    for f in Family::ALL {
        assert!(seen.get(&f).copied().unwrap_or(0) > 100, "{f:?}: {seen:?}");
    }
    // The non-conversation families get their uniform share (1/6 each).
    let presence = seen[&Family::Presence] as f64 / 5_000.0;
    assert!((presence - 1.0 / 6.0).abs() < 0.03, "{presence}");
    for f in Family::ALL {
        for topic in org.topics_for(f) {
            assert!(catalogue.iter().any(|t| matches(t, &topic)), "{topic}");
            assert_eq!(family_of(&topic), f);
        }
    }
}

#[test]
fn seeded_orgs_are_deterministic() {
    let s = spec(&Family::ALL);
    let (mut a, mut b) = (Org::new(&s), Org::new(&s));
    let ids = |o: &Org| o.users().map(|u| u.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(run(&mut a, 2_000), run(&mut b, 2_000));
    let c = Org::new(&WorkloadSpec {
        seed: Some(8),
        ..s.clone()
    });
    assert_ne!(ids(&a), ids(&c));
    let unseeded = WorkloadSpec { seed: None, ..s };
    assert_ne!(ids(&Org::new(&unseeded)), ids(&Org::new(&unseeded)));
}

#[test]
fn reshape_keeps_existing_ids() {
    let mut s = spec(&Family::ALL);
    let mut org = Org::new(&s);
    run(&mut org, 500);
    let users: Vec<String> = org.users().map(|u| u.id.clone()).collect();
    let queues: Vec<String> = org.queues().map(|q| q.id.clone()).collect();

    s.users = 30;
    s.queues = 2;
    org.reshape(&s);
    let grown: Vec<String> = org.users().map(|u| u.id.clone()).collect();
    assert_eq!(grown.len(), 30);
    assert_eq!(&grown[..20], &users[..]);
    assert_eq!(
        org.queues().map(|q| q.id.clone()).collect::<Vec<_>>(),
        &queues[..2]
    );
    run(&mut org, 500);

    s.users = 5;
    s.families = vec![Family::Presence];
    org.reshape(&s);
    assert_eq!(
        org.users().map(|u| u.id.clone()).collect::<Vec<_>>(),
        &users[..5]
    );
    for (event, _) in run(&mut org, 200) {
        assert_eq!(family_of(&event.topic), Family::Presence);
        assert!(
            users[..5]
                .iter()
                .any(|id| event.topic.contains(id.as_str()))
        );
    }
    // Calls whose queue or agent went were ended, and every kept conversation is consistent.
    for c in org.conversations() {
        assert!(*c.queue_id == queues[0] || *c.queue_id == queues[1] || c.is_finished());
    }
}

#[test]
fn unvalidated_specs_do_not_panic() {
    let mut org = Org::new(&WorkloadSpec {
        users: 0,
        queues: 0,
        families: vec![],
        max_conversations: 0,
        ..spec(&[])
    });
    assert_eq!(org.users().count(), 1);
    assert_eq!(org.queues().count(), 1);
    assert_eq!(org.families(), &Family::ALL);
    for (event, _) in run(&mut org, 300) {
        let _: Value = serde_json::from_str(&event.event_body).unwrap();
    }
    assert!(org.conversations().count() <= 2);
}

#[test]
fn padding_hits_the_frame_size() {
    for target in [2_048, 8_192, 100_000] {
        let mut org = Org::new(&WorkloadSpec {
            event_size_bytes: Some(target),
            ..spec(&Family::ALL)
        });
        for (event, _) in run(&mut org, 300) {
            let frame = format!(
                r#"{{"topicName":"{}","version":"2","eventBody":{},"metadata":{{"CorrelationId":"{}"}}}}"#,
                event.topic,
                event.event_body,
                uuid::Uuid::new_v4()
            );
            let off = frame.len().abs_diff(target) as f64 / target as f64;
            assert!(
                off < 0.1,
                "{} bytes for {target}: {}",
                frame.len(),
                event.topic
            );
            let body: Value = serde_json::from_str(&event.event_body).unwrap();
            assert!(body["padding"].is_string());
        }
    }
}

#[test]
fn lifecycle_yields_detail_phases_in_order() {
    let mut org = Org::new(&spec(&[Family::DetailEvents]));
    let mut phases: HashMap<String, Vec<Phase>> = HashMap::new();
    for (event, now) in run(&mut org, 3_000) {
        let body: Value = serde_json::from_str(&event.event_body).unwrap();
        let id = body["conversationId"].as_str().unwrap().to_owned();
        let suffix = event.topic.split_once(&format!("{id}.")).unwrap().1;
        let phase = Phase::from_suffix(suffix).unwrap();
        assert_eq!(body["eventTime"].as_i64().unwrap(), now.timestamp_millis());
        phases.entry(id).or_default().push(phase);
    }
    let mut complete = 0;
    for (id, seen) in &phases {
        let c = org
            .conversations()
            .find(|c| c.id.to_string() == *id)
            .unwrap();
        assert_eq!(&c.path()[..seen.len()], &seen[..], "{id}");
        if c.is_finished() {
            assert_eq!(seen.len(), c.path().len());
            complete += 1;
        }
    }
    assert!(complete > 50, "{complete}");
    let answered = org
        .conversations()
        .filter(|c| c.is_finished() && !c.abandoned)
        .count();
    assert!(answered > 30, "{answered}");
}

#[test]
fn queue_counters_follow_the_calls() {
    let mut org = Org::new(&spec(&Family::ALL));
    run(&mut org, 3_000);
    let busy = org.users().filter(|u| u.busy).count();
    let holding = org.active.iter().filter(|c| c.holds_agent()).count();
    assert_eq!(busy, holding);
    assert_eq!(org.idle.len() + busy, org.users().count());
    for q in org.queues() {
        let waiting = org
            .active
            .iter()
            .filter(|c| {
                *c.queue_id == q.id
                    && c.time(Phase::AcdStart).is_some()
                    && c.time(Phase::AcdEnd).is_none()
            })
            .count();
        assert_eq!(q.waiting() as usize, waiting, "{}", q.name);
    }
}

#[test]
fn event_for_topic_makes_events_for_known_topics_only() {
    let mut org = Org::new(&spec(&Family::ALL));
    let now = t0();
    for f in Family::ALL {
        for topic in org.topics_for(f).into_iter().take(3) {
            let event = org
                .event_for_topic(&topic.to_uppercase(), now)
                .unwrap_or_else(|| panic!("no event for {topic}"));
            assert_eq!(&*event.topic, topic);
            let _: serde_json::Map<String, Value> =
                serde_json::from_str(&event.event_body).unwrap();
        }
    }
    // A detail phase already past is repeated; a later one advances the call.
    let id = org.active[0].id;
    let start = format!("v2.detail.events.conversation.{id}.customer.start");
    assert!(org.event_for_topic(&start, now).is_some());
    let wrapup = format!("v2.detail.events.conversation.{id}.wrapup");
    let got = org.event_for_topic(&wrapup, now);
    let c = org.conversations().find(|c| c.id == id).unwrap();
    assert_eq!(got.is_some(), !c.abandoned);
    if got.is_some() {
        assert!(c.is_finished());
    }

    assert!(
        org.event_for_topic("v2.users.nobody.presence", now)
            .is_none()
    );
    assert!(
        org.event_for_topic("v2.system.socket_closing", now)
            .is_none()
    );
    let user = org.users().next().unwrap().id.clone();
    assert!(
        org.event_for_topic(&format!("v2.users.{user}.activity"), now)
            .is_none()
    );

    let mut presence_only = Org::new(&spec(&[Family::Presence]));
    let user = presence_only.users().next().unwrap().id.clone();
    let topic = format!("v2.users.{user}.routingStatus");
    assert!(presence_only.event_for_topic(&topic, now).is_none());
    assert!(presence_only.topics_for(Family::RoutingStatus).is_empty());
}

#[test]
fn a_seed_gives_the_ids_it_always_gave() {
    // deploy/compose/switchboard.toml names users and queues of the org seeded 42.
    let org = Org::new(&WorkloadSpec {
        users: 20,
        queues: 4,
        seed: Some(42),
        ..Default::default()
    });
    assert_eq!(
        org.users().next().unwrap().id,
        "d4f209fa-9664-41e0-b4c0-2fc516c089cd"
    );
    assert_eq!(
        org.queues().next().unwrap().id,
        "9c72f99d-c52a-41f8-9d12-c78c87db600d"
    );
}
