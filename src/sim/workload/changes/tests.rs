use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::sim::workload::{Family, GeneratedEvent, Phase, RoutingStatus, WorkloadSpec};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn org(users: usize, queues: usize) -> Org {
    Org::new(&WorkloadSpec {
        users,
        queues,
        seed: Some(21),
        ..Default::default()
    })
}

fn run(org: &mut Org, n: usize) -> Vec<GeneratedEvent> {
    (0..n)
        .filter_map(|i| org.next_event(t0() + Duration::milliseconds(i as i64 * 100)))
        .collect()
}

fn user_ids(org: &Org) -> Vec<String> {
    org.users().map(|u| u.id.clone()).collect()
}

/// Every derived list and counter agrees with the entities.
fn assert_consistent(org: &Org) {
    let active: HashSet<usize> = (0..org.users.len())
        .filter(|&u| org.users[u].is_active())
        .collect();
    assert_eq!(org.live.iter().copied().collect::<HashSet<_>>(), active);
    let idle: HashSet<usize> = active
        .iter()
        .copied()
        .filter(|&u| !org.users[u].busy)
        .collect();
    assert_eq!(org.idle.iter().copied().collect::<HashSet<_>>(), idle);
    let holding: HashSet<usize> = org
        .active
        .iter()
        .filter(|c| c.holds_agent())
        .filter_map(|c| c.agent.as_ref().map(|a| a.user_index))
        .collect();
    let busy: HashSet<usize> = (0..org.users.len())
        .filter(|&u| org.users[u].busy)
        .collect();
    assert_eq!(busy, holding);
    assert!(busy.is_subset(&active), "only active users hold calls");
    for (q, queue) in org.queues.iter().enumerate() {
        let members: Vec<&User> = org.users.iter().filter(|u| u.queues.contains(&q)).collect();
        assert_eq!(queue.members as usize, members.len(), "{}", queue.name);
        let idle = members
            .iter()
            .filter(|u| u.is_active() && u.routing == RoutingStatus::Idle)
            .count();
        assert_eq!(queue.idle_members as usize, idle, "{}", queue.name);
        let waiting = org
            .active
            .iter()
            .filter(|c| {
                c.queue_index == q
                    && c.time(Phase::AcdStart).is_some()
                    && c.time(Phase::AcdEnd).is_none()
            })
            .count();
        assert_eq!(queue.waiting as usize, waiting, "{}", queue.name);
        assert_eq!(*c_queue_id(org, q), queue.id);
    }
    for u in &org.users {
        assert!(u.queues.iter().all(|q| *q < org.queues.len()));
        if u.state == UserState::Deleted {
            assert!(u.queues.is_empty());
        }
    }
}

fn c_queue_id(org: &Org, q: usize) -> &String {
    let id = &org.queues[q].id;
    assert_eq!(org.queue_index.get(id), Some(&q));
    for c in org.active.iter().filter(|c| c.queue_index == q) {
        assert_eq!(&*c.queue_id, id.as_str());
    }
    id
}

#[test]
fn users_who_leave_cause_no_events_and_the_counters_stay_right() {
    let mut org = org(20, 3);
    run(&mut org, 3_000);
    assert_consistent(&org);
    let ids = user_ids(&org);
    let busy: Vec<String> = org
        .users()
        .filter(|u| u.busy)
        .map(|u| u.id.clone())
        .collect();
    assert!(!busy.is_empty(), "some calls in flight");
    let leaving: Vec<String> = busy.iter().chain(&ids[..3]).cloned().collect();
    let changed = org
        .change_users(ChangeUsers {
            ids: leaving[..leaving.len() / 2].to_vec(),
            state: Some(UserState::Deleted),
            division_id: None,
        })
        .unwrap();
    assert!(
        changed
            .iter()
            .all(|u| u.state == UserState::Deleted && u.queue_ids.is_empty())
    );
    org.change_users(ChangeUsers {
        ids: leaving[leaving.len() / 2..].to_vec(),
        state: Some(UserState::Inactive),
        division_id: None,
    })
    .unwrap();
    assert_consistent(&org);
    for event in run(&mut org, 5_000) {
        assert!(
            !leaving.iter().any(|id| event.topic.contains(id.as_str())),
            "{} names a user who left",
            event.topic
        );
    }
    for c in org.conversations() {
        if let Some(a) = &c.agent
            && leaving.iter().any(|id| *id == *a.user_id)
        {
            assert!(c.is_finished() || !c.holds_agent());
        }
    }
    assert_consistent(&org);
    assert!(
        org.topics_for(Family::Presence)
            .iter()
            .all(|t| !leaving.iter().any(|id| t.contains(id.as_str())))
    );

    // Back to active: events again.
    org.change_users(ChangeUsers {
        ids: vec![leaving[0].clone()],
        state: Some(UserState::Active),
        division_id: None,
    })
    .unwrap();
    let back = run(&mut org, 5_000)
        .iter()
        .filter(|e| e.topic.contains(leaving[0].as_str()))
        .count();
    assert!(back > 0);
    assert_consistent(&org);
}

#[test]
fn an_org_with_no_active_user_still_runs_its_queues() {
    let mut org = org(5, 2);
    run(&mut org, 500);
    org.change_users(ChangeUsers {
        ids: user_ids(&org),
        state: Some(UserState::Inactive),
        division_id: None,
    })
    .unwrap();
    let events = run(&mut org, 2_000);
    assert_eq!(
        events.len(),
        2_000,
        "queue families fill in for user families"
    );
    assert!(events.iter().all(|e| !e.topic.starts_with("v2.users.")));
    assert_consistent(&org);

    let mut users_only = Org::new(&WorkloadSpec {
        users: 2,
        families: vec![Family::Presence, Family::UserConversations],
        seed: Some(3),
        ..Default::default()
    });
    users_only
        .change_users(ChangeUsers {
            ids: user_ids(&users_only),
            state: Some(UserState::Deleted),
            division_id: None,
        })
        .unwrap();
    assert_eq!(
        users_only.next_event(t0()),
        None,
        "nothing to say, and no hang"
    );
}

#[test]
fn removed_queues_end_their_calls_and_memberships() {
    let mut org = org(30, 4);
    run(&mut org, 3_000);
    let gone = org.queues[1].id.clone();
    let members_before = org.queues[1].members;
    assert!(members_before > 0);
    let record = org.delete_queue(&gone).unwrap();
    assert_eq!(record.id, gone);
    assert_eq!(org.queues().count(), 3);
    assert!(org.queue(&gone).is_none());
    assert!(org.active.iter().all(|c| *c.queue_id != *gone));
    assert_consistent(&org);
    let homeless = org.users().filter(|u| u.queues.is_empty()).count();
    assert_eq!(
        homeless, members_before as usize,
        "their members are in no queue now"
    );
    for event in run(&mut org, 3_000) {
        assert!(!event.topic.contains(gone.as_str()), "{}", event.topic);
    }
    assert_consistent(&org);
    for q in org.queues().map(|q| q.id.clone()).collect::<Vec<_>>()[1..].to_vec() {
        org.delete_queue(&q).unwrap();
    }
    assert!(matches!(
        org.delete_queue(&org.queues[0].id.clone()),
        Err(ChangeError::Invalid(_))
    ));
}

#[test]
fn reshape_keeps_what_the_control_api_changed() {
    let mut org = org(10, 4);
    run(&mut org, 1_000);
    let europe = org.divisions[2].id.to_string();
    let queues: Vec<String> = org.queues().map(|q| q.id.clone()).collect();
    let added = org
        .add_users(AddUsers {
            count: Some(2),
            division_id: Some(europe.clone()),
            queue_ids: Some(vec![queues[3].clone()]),
            ..Default::default()
        })
        .unwrap();
    org.change_users(ChangeUsers {
        ids: vec![org.users[0].id.clone()],
        state: Some(UserState::Deleted),
        division_id: None,
    })
    .unwrap();
    let before: Vec<UserRecord> = org.users().map(|u| org.user_record(u)).collect();

    // The same counts: nothing changes.
    let mut spec = WorkloadSpec {
        users: 12,
        queues: 4,
        seed: Some(21),
        ..Default::default()
    };
    org.reshape(&spec);
    let after: Vec<UserRecord> = org.users().map(|u| org.user_record(u)).collect();
    assert_eq!(after, before);

    // Fewer queues: members of the removed one join one that is left.
    spec.queues = 3;
    org.reshape(&spec);
    assert_consistent(&org);
    for record in &added {
        let user = org.user(&record.id).unwrap();
        assert_eq!(*user.division().id, *europe);
        assert_eq!(org.queue_ids_of(user).count(), 1);
        assert!(org.queue_ids_of(user).all(|q| q != queues[3]));
    }
    assert!(
        org.users[0].queues.is_empty(),
        "a deleted user stays in no queue"
    );
    run(&mut org, 1_000);
    assert_consistent(&org);
}

#[test]
fn added_entities_get_fresh_ids_and_refusals_change_nothing() {
    let mut org = org(3, 1);
    let before = format!("{org:?}");
    let existing = org.users[0].id.clone();
    let err = org
        .add_users(AddUsers {
            users: Some(vec![
                NewUser::default(),
                NewUser {
                    id: Some(existing.to_uppercase()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, ChangeError::Invalid(m) if m.contains("already exists")));
    assert_eq!(format!("{org:?}"), before);
    assert_eq!(org.users().count(), 3);

    let queues = org
        .add_queues(AddQueues {
            count: Some(10),
            ..Default::default()
        })
        .unwrap();
    let names: HashSet<String> = org.queues().map(|q| q.name.to_lowercase()).collect();
    assert_eq!(names.len(), 11, "default queue names are unique");
    let divisions: HashSet<&str> = queues.iter().map(|q| q.division_id.as_str()).collect();
    assert_eq!(divisions.len(), 3, "spread over the seeded divisions");
    let added = org
        .add_divisions(AddDivisions {
            divisions: vec![NewDivision {
                id: None,
                name: "Partners".into(),
            }],
        })
        .unwrap();
    assert_eq!(org.divisions().count(), 4);
    let with_members = org
        .add_queues(AddQueues {
            queues: Some(vec![NewQueue {
                member_ids: Some(vec![org.users[1].id.clone(), org.users[1].id.clone()]),
                ..Default::default()
            }]),
            division_id: Some(added[0].id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(with_members[0].member_count, 1);
    assert_eq!(with_members[0].division_id, added[0].id);
    assert_consistent(&org);
}
