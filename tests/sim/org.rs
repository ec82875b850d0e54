//! Changing the org through `/sim/v1/org...` while the simulator runs: what the listings and the
//! event generator do about it, and what the control API refuses.

use std::collections::BTreeSet;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap().to_string())
        .collect()
}

/// Ledger entries after `after` whose topic starts with `prefix`, following the pages.
async fn events_after(sim: &TestSim, prefix: &str, after: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let page = sim
            .get_json(&format!(
                "/sim/v1/ledger?topicPrefix={prefix}&afterSeq={after}"
            ))
            .await;
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["nextAfterSeq"].as_u64() {
            Some(next) => after = next,
            None => return out,
        }
    }
}

/// Whether the ledger holds any event whose topic starts with `prefix`.
async fn any_event(sim: &TestSim, prefix: &str) -> bool {
    let page = sim
        .get_json(&format!("/sim/v1/ledger?topicPrefix={prefix}&limit=1"))
        .await;
    !page["entries"].as_array().unwrap().is_empty()
}

#[tokio::test]
async fn events_follow_users_and_queues_added_and_removed_while_running() {
    let sim = TestSim::start(|c| c.workload.seed = Some(5));
    let token = sim.token().await;

    let (status, body) = sim
        .control(Method::POST, "/sim/v1/org/users", json!({"count": 20}))
        .await;
    assert_eq!(status, 201, "{body}");
    let added = strings(&body["users"], "id");
    assert_eq!(added.len(), 20);
    let (status, body) = sim
        .control(
            Method::POST,
            "/sim/v1/org/queues",
            json!({"queues": [{"name": "Escalations", "memberIds": &added[..5]}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let queue = body["queues"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(body["queues"][0]["memberCount"], 5);

    // The listing an engine would expand `users = "all"` with has them.
    let (listed, _) = sim.all_pages(&token, "/api/v2/users?pageSize=500").await;
    let listed: BTreeSet<String> = listed
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 40);
    assert!(added.iter().all(|id| listed.contains(id)));
    let workload = sim.get_json("/sim/v1/workload").await;
    assert_eq!(
        (workload["users"].as_u64(), workload["queues"].as_u64()),
        (Some(40), Some(6))
    );

    // A subscriber to an added user hears its events.
    let channel = sim.create_channel(&token).await;
    let combined = format!("v2.users.{}?presence&routingStatus", added[0]);
    sim.subscribe(&token, &channel.id, &[&combined]).await;
    let mut ws = sim.connect(&channel.connect_uri).await;
    sim.set_workload(json!({"ratePerSecond": 2000.0})).await;
    let presence = format!("v2.users.{}.presence", added[0]);
    ws.until_json("an event of the added user", |v| {
        v["topicName"] == presence.as_str()
    })
    .await;
    for id in &added {
        let prefix = format!("v2.users.{id}.");
        wait_until(&format!("an event on user {id}"), || {
            any_event(&sim, &prefix)
        })
        .await;
    }
    for prefix in [
        format!("v2.routing.queues.{queue}."),
        format!("v2.analytics.queues.{queue}."),
    ] {
        wait_until(&format!("an event on {prefix}"), || {
            any_event(&sim, &prefix)
        })
        .await;
    }

    // Ten of them deleted, the queue removed: from then on, not one event names them.
    let (gone, kept) = added.split_at(10);
    let (status, body) = sim
        .control(
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": gone, "state": "deleted"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sim
        .control(
            Method::DELETE,
            &format!("/sim/v1/org/queues/{queue}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = sim.last_seq().await;
    wait_until("3000 more events", || async {
        sim.last_seq().await >= after + 3000
    })
    .await;
    sim.set_workload(json!({"ratePerSecond": 0.0})).await;

    for id in gone {
        assert_eq!(
            events_after(&sim, &format!("v2.users.{id}."), after).await,
            Vec::<Value>::new()
        );
    }
    for prefix in ["v2.routing.queues.", "v2.analytics.queues."] {
        let events = events_after(&sim, &format!("{prefix}{queue}."), after).await;
        assert!(events.is_empty(), "{events:?}");
    }
    let mut kept_with_events = 0;
    for id in kept {
        if !events_after(&sim, &format!("v2.users.{id}."), after)
            .await
            .is_empty()
        {
            kept_with_events += 1;
        }
    }
    assert_eq!(kept_with_events, 10, "kept users still have events");
    let topics = sim.get_json("/sim/v1/org?family=presence").await["topics"].clone();
    let topics: BTreeSet<String> = serde_json::from_value(topics).unwrap();
    assert_eq!(topics.len(), 30);
    assert!(
        gone.iter()
            .all(|id| !topics.contains(&format!("v2.users.{id}.presence")))
    );

    // A partial workload change keeps what the control API did.
    let org = sim.get_json("/sim/v1/org").await;
    assert_eq!(org["users"].as_array().unwrap().len(), 40);
    assert_eq!(org["queues"].as_array().unwrap().len(), 5);
    let deleted = org["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["state"] == "deleted")
        .count();
    assert_eq!(deleted, 10);
}

#[tokio::test]
async fn users_added_with_ids_names_divisions_states_and_queues_are_listed_as_given() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let org = sim.get_json("/sim/v1/org").await;
    let europe = org["divisions"][2]["id"].as_str().unwrap().to_string();
    let queues = strings(&org["queues"], "id");
    let id = "6F1C2B9E-1D3A-4C7B-9E2F-0A1B2C3D4E5F";
    let (status, body) = sim
        .control(
            Method::POST,
            "/sim/v1/org/users",
            json!({
                "divisionId": europe,
                "queueIds": [&queues[1]],
                "users": [
                    {"id": id, "name": "Zoë Keller", "queueIds": [&queues[0], &queues[1]]},
                    {"name": "Ines Park", "state": "inactive"},
                    {"name": "Old Timer", "state": "deleted", "queueIds": []},
                ]
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let users = body["users"].as_array().unwrap();
    assert_eq!(users[0]["id"], id.to_lowercase());
    assert_eq!(users[0]["divisionId"], europe.as_str());
    assert_eq!(users[0]["queueIds"], json!([&queues[0], &queues[1]]));
    assert_eq!(users[1]["state"], "inactive");
    assert_eq!(users[1]["queueIds"], json!([&queues[1]]));

    let zoe = sim
        .rest_json(&token, &format!("/api/v2/users?id={id}"))
        .await;
    let zoe = &zoe["entities"][0];
    assert_eq!(zoe["name"], "Zoë Keller");
    assert_eq!(zoe["division"]["name"], "Europe");
    assert_eq!(zoe["state"], "active");
    let inactive = sim.rest_json(&token, "/api/v2/users?state=inactive").await;
    assert_eq!(inactive["entities"][0]["name"], "Ines Park");
    let deleted = sim.rest_json(&token, "/api/v2/users?state=deleted").await;
    assert_eq!(deleted["entities"][0]["name"], "Old Timer");
    let members = sim
        .rest_json(
            &token,
            &format!("/api/v2/routing/queues/{}/members?pageSize=100", queues[1]),
        )
        .await;
    let names: Vec<&str> = members["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Zoë Keller") && names.contains(&"Ines Park"));

    // Moved to another division, deleted by id: the listing follows.
    let (status, body) = sim
        .control(
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": [id], "divisionId": org["divisions"][1]["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let moved = sim
        .rest_json(&token, &format!("/api/v2/users?id={id}"))
        .await;
    assert_eq!(moved["entities"][0]["division"]["name"], "North America");
    assert_eq!(moved["entities"][0]["version"], 2);
    let (status, body) = sim
        .control(
            Method::DELETE,
            &format!("/sim/v1/org/users/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("deleted")));
    let gone = sim
        .rest_json(&token, &format!("/api/v2/users?id={id}"))
        .await;
    assert_eq!(gone["total"], 0);
}

#[tokio::test]
async fn refused_org_changes_say_why_and_change_nothing() {
    let sim = TestSim::start(|c| c.workload.queues = 1);
    let org = sim.get_json("/sim/v1/org").await;
    let user = org["users"][0]["id"].as_str().unwrap().to_string();
    let queue = org["queues"][0]["id"].as_str().unwrap().to_string();
    let unknown = "00000000-0000-4000-8000-0000000000aa";
    let cases = [
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({}),
            "either users or count",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"count": 2, "users": [{}]}),
            "either users or count",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"count": 0}),
            "nothing to add",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"count": 100_000}),
            "at most",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"id": "u-1"}]}),
            "id must be a UUID",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"id": user}]}),
            "already exists",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"name": "A \"quoted\" name"}]}),
            "quotes",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"name": ""}]}),
            "1 to 256",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{}, {"divisionId": unknown}]}),
            "no division",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{}], "queueIds": [unknown]}),
            "no queue",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"nickname": "x"}]}),
            "unknown field",
        ),
        (
            Method::POST,
            "/sim/v1/org/users",
            json!({"users": [{"state": "retired"}]}),
            "unknown variant",
        ),
        (
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": [user]}),
            "give state, divisionId",
        ),
        (
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": [unknown], "state": "inactive"}),
            "no user",
        ),
        (
            Method::POST,
            "/sim/v1/org/queues",
            json!({"queues": [{"name": "support"}]}),
            "named",
        ),
        (
            Method::POST,
            "/sim/v1/org/queues",
            json!({"queues": [{"memberIds": [unknown]}]}),
            "no user",
        ),
        (
            Method::POST,
            "/sim/v1/org/divisions",
            json!({"divisions": [{"name": "home"}]}),
            "named",
        ),
        (
            Method::DELETE,
            &format!("/sim/v1/org/queues/{queue}"),
            Value::Null,
            "at least one queue",
        ),
        (
            Method::PATCH,
            &format!("/sim/v1/org/queues/{queue}/members"),
            json!({}),
            "give add, remove",
        ),
        (
            Method::PATCH,
            &format!("/sim/v1/org/queues/{queue}/members"),
            json!({"add": [user], "remove": [user]}),
            "both added and removed",
        ),
    ];
    for (method, path, body, why) in cases {
        let (status, answer) = sim.control(method.clone(), path, body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert_eq!(answer["code"], "invalid");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(why),
            "{body}: {message:?} should say {why:?}"
        );
    }
    for path in [
        format!("/sim/v1/org/users/{unknown}"),
        format!("/sim/v1/org/queues/{unknown}"),
    ] {
        let (status, answer) = sim.control(Method::DELETE, &path, Value::Null).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = sim
        .control(
            Method::PATCH,
            &format!("/sim/v1/org/queues/{unknown}/members"),
            json!({"add": [user]}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(sim.get_json("/sim/v1/org").await, org, "nothing changed");
}

#[tokio::test]
async fn a_25000_user_org_is_quick_to_make_and_to_page_through() {
    let sim = TestSim::start(|_| {});
    let token = sim.token().await;
    let started = Instant::now();
    let (status, body) = sim
        .control(Method::POST, "/sim/v1/org/users", json!({"count": 24_980}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["users"].as_array().unwrap().len(), 24_980);
    // Generous for a debug build on a busy machine (about 1.5 s there; a release build takes a
    // fraction of that). Each page below is bounded by the client's timeout.
    let made = started.elapsed();
    assert!(made < PATIENCE / 2, "24,980 users made in {made:?}");
    let (users, pages) = sim.all_pages(&token, "/api/v2/users?pageSize=500").await;
    assert_eq!(pages, 50);
    let ids: BTreeSet<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25_000);
    let queues = sim.rest_json(&token, "/api/v2/routing/queues").await;
    let members: u64 = queues["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["memberCount"].as_u64().unwrap())
        .sum();
    assert_eq!(members, 20, "users added without queueIds join no queue");
}
