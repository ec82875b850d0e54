//! The user, queue and queue-member listings over HTTP: paging, limits, filters, errors and the
//! rate limit, as a client that expands topic templates would meet them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn ids(entities: &[Value]) -> BTreeSet<String> {
    entities
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(page: &Value) -> Vec<String> {
    page["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn user_pages_chain_by_next_uri_to_the_total() {
    let sim = TestSim::start(|c| {
        c.workload.users = 1234;
        c.workload.queues = 7;
    });
    let token = sim.token().await;

    let first = sim.rest_json(&token, "/api/v2/users?pageSize=500").await;
    assert_eq!(first["total"], 1234);
    assert_eq!(first["pageCount"], 3);
    assert_eq!(first["pageSize"], 500);
    assert_eq!(first["pageNumber"], 1);
    assert_eq!(first["entities"].as_array().unwrap().len(), 500);
    assert_eq!(first["firstUri"], "/api/v2/users?pageSize=500&pageNumber=1");
    assert_eq!(first["selfUri"], "/api/v2/users?pageSize=500&pageNumber=1");
    assert_eq!(first["nextUri"], "/api/v2/users?pageSize=500&pageNumber=2");
    assert_eq!(first["lastUri"], "/api/v2/users?pageSize=500&pageNumber=3");
    assert!(first.get("previousUri").is_none());

    let (users, pages) = sim.all_pages(&token, "/api/v2/users?pageSize=500").await;
    assert_eq!(pages, 3);
    assert_eq!(users.len(), 1234);
    let listed = ids(&users);
    assert_eq!(listed.len(), 1234, "no user on two pages");
    let org = sim.get_json("/sim/v1/org").await;
    let all: BTreeSet<String> = ids(org["users"].as_array().unwrap());
    assert_eq!(listed, all);
    let sorted: Vec<String> = users
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "sorted by name");

    let last = sim
        .rest_json(&token, "/api/v2/users?pageSize=500&pageNumber=3")
        .await;
    assert_eq!(last["entities"].as_array().unwrap().len(), 234);
    assert!(last.get("nextUri").is_none());
    assert_eq!(
        last["previousUri"],
        "/api/v2/users?pageSize=500&pageNumber=2"
    );
    let past = sim
        .rest_json(&token, "/api/v2/users?pageSize=500&pageNumber=9")
        .await;
    assert_eq!(past["entities"].as_array().unwrap().len(), 0);
    assert_eq!(past["total"], 1234);

    let default = sim.rest_json(&token, "/api/v2/users").await;
    assert_eq!(default["pageSize"], 25);
    assert_eq!(default["entities"].as_array().unwrap().len(), 25);
    let user = &default["entities"][0];
    for field in ["id", "name", "email", "username", "state", "selfUri"] {
        assert!(user[field].is_string(), "{field} in {user}");
    }
    assert_eq!(user["state"], "active");
    assert!(user["version"].is_u64());
    assert!(user["division"]["id"].is_string() && user["division"]["name"] == "Home");

    for bad in [
        "pageSize=501",
        "pageSize=0",
        "pageSize=x",
        "pageNumber=0",
        "state=gone",
    ] {
        let (status, body) =
            error_of(sim.rest_get(&token, &format!("/api/v2/users?{bad}")).await).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "invalid.query.param.value", "{bad}");
        assert_eq!(body["status"], 400);
    }
    let many: Vec<String> = (0..101).map(|i| format!("id={i}")).collect();
    let (status, body) = error_of(
        sim.rest_get(&token, &format!("/api/v2/users?{}", many.join("&")))
            .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("max.user.ids")));
}

#[tokio::test]
async fn the_state_filter_follows_users_deleted_and_deactivated_through_the_control_api() {
    let sim = TestSim::start(|c| c.workload.users = 30);
    let token = sim.token().await;
    let org = sim.get_json("/sim/v1/org").await;
    let all: Vec<String> = org["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let (status, body) = sim
        .control(
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": &all[..3], "state": "deleted"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["state"] == "deleted" && u["queueIds"] == json!([]))
    );
    let (status, _) = sim
        .control(
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": &all[3..5], "state": "inactive"}),
        )
        .await;
    assert_eq!(status, 200);

    let total = |state: &'static str| {
        let sim = &sim;
        let token = &token;
        async move {
            let path = match state {
                "" => "/api/v2/users".to_string(),
                s => format!("/api/v2/users?state={s}"),
            };
            sim.rest_json(token, &path).await["total"].as_u64().unwrap()
        }
    };
    assert_eq!(total("").await, 25);
    assert_eq!(total("active").await, 25);
    assert_eq!(total("inactive").await, 2);
    assert_eq!(total("deleted").await, 3);
    assert_eq!(total("any").await, 30);

    let (active, _) = sim.all_pages(&token, "/api/v2/users?pageSize=7").await;
    let active = ids(&active);
    assert_eq!(active.len(), 25);
    assert!(all[..5].iter().all(|id| !active.contains(id)));
    let deleted = sim.rest_json(&token, "/api/v2/users?state=deleted").await;
    assert!(
        deleted["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["state"] == "deleted")
    );

    // `id` picks users (repeated or comma-separated), still within the state asked for.
    let path = format!("/api/v2/users?id={},{}&id={}", all[0], all[10], all[11]);
    let picked = sim.rest_json(&token, &path).await;
    assert_eq!(
        ids(picked["entities"].as_array().unwrap()),
        BTreeSet::from([all[10].clone(), all[11].clone()])
    );
    let picked = sim.rest_json(&token, &format!("{path}&state=any")).await;
    assert_eq!(picked["total"], 3);

    // Reactivated, a user is listed again.
    let (status, _) = sim
        .control(
            Method::PATCH,
            "/sim/v1/org/users",
            json!({"ids": [&all[0]], "state": "active"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(total("").await, 26);
}

#[tokio::test]
async fn queues_filter_by_name_wildcards_division_and_id() {
    let sim = TestSim::start(|c| {
        c.workload.users = 40;
        c.workload.queues = 12;
    });
    let token = sim.token().await;
    let total = |query: String| {
        let sim = &sim;
        let token = &token;
        async move {
            sim.rest_json(token, &format!("/api/v2/routing/queues?{query}"))
                .await["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(total(String::new()).await, 12);
    assert_eq!(total("name=Support".into()).await, 1);
    assert_eq!(total("name=support".into()).await, 1, "case ignored");
    assert_eq!(total("name=Support*".into()).await, 2);
    assert_eq!(total("name=*Support".into()).await, 2);
    assert_eq!(total("name=*Support*".into()).await, 4);
    assert_eq!(total("name=*upp*".into()).await, 4);
    assert_eq!(
        total("name=Sup*port".into()).await,
        0,
        "only leading and trailing * are wildcards"
    );

    let page = sim
        .rest_json(
            &token,
            "/api/v2/routing/queues?name=*Support*&sortOrder=desc",
        )
        .await;
    assert_eq!(
        names(&page),
        [
            "Technical Support 2",
            "Technical Support",
            "Support 2",
            "Support"
        ]
    );

    let org = sim.get_json("/sim/v1/org").await;
    let divisions: Vec<String> = org["divisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(divisions.len(), 3);
    for d in &divisions {
        let page = sim
            .rest_json(
                &token,
                &format!("/api/v2/routing/queues?divisionId={d}&pageSize=100"),
            )
            .await;
        assert_eq!(page["total"], 4);
        assert!(
            page["entities"]
                .as_array()
                .unwrap()
                .iter()
                .all(|q| q["division"]["id"] == d.as_str())
        );
    }
    assert_eq!(
        total(format!(
            "divisionId={}&divisionId={}",
            divisions[0], divisions[2]
        ))
        .await,
        8
    );

    // A division and a queue in it, added while running.
    let (status, body) = sim
        .control(
            Method::POST,
            "/sim/v1/org/divisions",
            json!({"divisions": [{"name": "Partners"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let partners = body["divisions"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = sim
        .control(
            Method::POST,
            "/sim/v1/org/queues",
            json!({"queues": [{"name": "Partner Desk", "divisionId": partners}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let desk = body["queues"][0]["id"].as_str().unwrap().to_string();
    let page = sim
        .rest_json(
            &token,
            &format!("/api/v2/routing/queues?divisionId={partners}"),
        )
        .await;
    assert_eq!(names(&page), ["Partner Desk"]);
    assert_eq!(page["entities"][0]["division"]["name"], "Partners");
    assert_eq!(page["entities"][0]["memberCount"], 0);
    assert_eq!(total(format!("id={desk}")).await, 1);

    let (queues, pages) = sim
        .all_pages(&token, "/api/v2/routing/queues?pageSize=5")
        .await;
    assert_eq!((queues.len(), pages), (13, 3));
    assert_eq!(ids(&queues).len(), 13);
    let members: u64 = queues
        .iter()
        .map(|q| q["memberCount"].as_u64().unwrap())
        .sum();
    assert_eq!(members, 40, "every seeded user is a member of one queue");

    let (status, body) = error_of(
        sim.rest_get(&token, "/api/v2/routing/queues?divisionId=home")
            .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid.id")));
    let (status, body) = error_of(
        sim.rest_get(&token, "/api/v2/routing/queues?pageSize=501")
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid.query.param.value"))
    );
    let (status, body) = error_of(
        sim.rest_get(&token, "/api/v2/routing/queues?pageNumber=0")
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid.page.number"))
    );
}

#[tokio::test]
async fn queue_members_page_by_next_uri_and_follow_membership_changes() {
    let sim = TestSim::start(|c| {
        c.workload.users = 250;
        c.workload.queues = 2;
    });
    let token = sim.token().await;
    let org = sim.get_json("/sim/v1/org").await;
    let queue = org["queues"][0]["id"].as_str().unwrap().to_string();
    let expected: BTreeSet<String> = org["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            u["queueIds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q == queue.as_str())
        })
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 125);
    assert_eq!(org["queues"][0]["memberCount"], 125);

    let path = format!("/api/v2/routing/queues/{queue}/members");
    let first = sim.rest_json(&token, &format!("{path}?pageSize=100")).await;
    assert_eq!(first["entities"].as_array().unwrap().len(), 100);
    assert_eq!(
        first["nextUri"],
        format!("{path}?pageSize=100&pageNumber=2")
    );
    assert!(
        first.get("total").is_none(),
        "QueueMemberEntityListing has no total"
    );
    let member = &first["entities"][0];
    assert_eq!(member["id"], member["user"]["id"]);
    assert_eq!(member["joined"], true);
    assert_eq!(member["memberBy"], "user");
    let (members, pages) = sim.all_pages(&token, &format!("{path}?pageSize=100")).await;
    assert_eq!(pages, 2);
    assert_eq!(ids(&members), expected);
    let default = sim.rest_json(&token, &path).await;
    assert_eq!(default["pageSize"], 25);

    // Membership changed through the control API shows at once.
    let joining = org["users"][1]["id"].as_str().unwrap().to_string();
    let leaving = expected.iter().next().unwrap().clone();
    let (status, body) = sim
        .control(
            Method::PATCH,
            &format!("/sim/v1/org/queues/{queue}/members"),
            json!({"add": [&joining], "remove": [&leaving]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["memberCount"], 125);
    let (members, _) = sim.all_pages(&token, &format!("{path}?pageSize=100")).await;
    let now = ids(&members);
    assert!(now.contains(&joining) && !now.contains(&leaving));
    assert_eq!(now.len(), 125);
    let named = sim
        .rest_json(
            &token,
            &format!(
                "{path}?{}",
                query(&[("name", members[0]["name"].as_str().unwrap())])
            ),
        )
        .await;
    assert!(!named["entities"].as_array().unwrap().is_empty());
    let grouped = sim
        .rest_json(&token, &format!("{path}?memberBy=group"))
        .await;
    assert_eq!(grouped["entities"], json!([]));

    let (status, body) = error_of(
        sim.rest_get(
            &token,
            "/api/v2/routing/queues/00000000-0000-4000-8000-000000000000/members",
        )
        .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not.found")));
    assert!(body["contextId"].is_string());
    let (status, body) = error_of(
        sim.rest_get(&token, "/api/v2/routing/queues/nope/members")
            .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid.id")));
    let (status, _) = error_of(sim.rest_get(&token, &format!("{path}?pageSize=101")).await).await;
    assert_eq!(status, 400);

    // A removed queue is gone from the listing and its members endpoint.
    let (status, body) = sim
        .control(
            Method::DELETE,
            &format!("/sim/v1/org/queues/{queue}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = error_of(sim.rest_get(&token, &path).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        sim.rest_json(&token, "/api/v2/routing/queues").await["total"],
        1
    );
}

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

#[tokio::test]
async fn listings_need_a_token_and_spend_the_rate_limit() {
    let sim = TestSim::start(|c| c.rate_limit_per_window = 6);
    let token = sim.token().await;
    let queue = sim.get_json("/sim/v1/org").await["queues"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members = format!("/api/v2/routing/queues/{queue}/members");

    let res = sim.http.get(sim.url("/api/v2/users")).send().await.unwrap();
    let (status, body) = error_of(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("authentication.required"))
    );
    let (status, body) = error_of(sim.rest_get("forged", "/api/v2/routing/queues").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad.credentials"))
    );

    for path in [
        "/api/v2/users",
        "/api/v2/routing/queues",
        &members,
        "/api/v2/users?pageSize=9999",
    ] {
        let status = sim.rest_get(&token, path).await.status();
        assert!(status == 200 || status == 400, "{path}: {status}");
    }
    // A REST fault can hit one listing only (a faulted call is answered before the rate limit).
    sim.fault(
        json!({"kind": "server_error", "status": 503, "path": "/routing/queues", "count": 1}),
    )
    .await;
    assert_eq!(
        sim.rest_get(&token, "/api/v2/routing/queues")
            .await
            .status(),
        503
    );
    assert_eq!(sim.rest_get(&token, "/api/v2/users").await.status(), 200);
    // Six calls admitted (the 400 counts too): the seventh waits.
    assert_eq!(sim.rest_get(&token, &members).await.status(), 200);
    let res = sim.rest_get(&token, &members).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let (_, body) = error_of(res).await;
    assert_eq!(body["code"], "too.many.requests.retry.after");

    let stats = sim.stats().await;
    let rest = &stats["rest"];
    assert_eq!(rest["GET /api/v2/users"]["200"], 2);
    assert_eq!(rest["GET /api/v2/users"]["400"], 1);
    assert_eq!(rest["GET /api/v2/users"]["401"], 1);
    assert_eq!(rest["GET /api/v2/routing/queues"]["200"], 1);
    assert_eq!(rest["GET /api/v2/routing/queues"]["503"], 1);
    assert_eq!(rest["GET /api/v2/routing/queues"]["401"], 1);
    assert_eq!(
        rest["GET /api/v2/routing/queues/{queueId}/members"]["200"],
        2
    );
    assert_eq!(
        rest["GET /api/v2/routing/queues/{queueId}/members"]["429"],
        1
    );
    assert_eq!(stats["rateLimited"], 1);
    let other = sim.token().await;
    assert_eq!(
        sim.rest_get(&other, &members).await.status(),
        200,
        "the limit is per token"
    );
}
