//! Responses checked against the official API descriptions (`reference/genesys-notifications-openapi.yml` and
//! `reference/genesys-users-queues-analytics-openapi.yml`), parsed here rather than hand-copied: documented
//! status codes, body shapes, required fields and error codes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// One of the descriptions in `reference/`, as JSON.
fn spec_file(name: &str) -> Value {
    let path = format!("{}/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

fn spec() -> Value {
    spec_file("genesys-notifications-openapi.yml")
}

fn directory_spec() -> Value {
    spec_file("genesys-users-queues-analytics-openapi.yml")
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/definitions/");
            &spec["definitions"][name]
        }
        None => schema,
    }
}

/// Every way `value` breaks `schema`; unknown properties count as breaks.
fn violations(spec: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(spec, schema);
    let mut out = Vec::new();
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or(
        if schema.get("properties").is_some() {
            "object"
        } else {
            ""
        },
    );
    match ty {
        "object" => {
            let Some(obj) = value.as_object() else {
                return vec![format!("{at}: expected an object, got {value}")];
            };
            let props = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(name) {
                    out.push(format!("{at}.{name}: required but missing"));
                }
            }
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => out.extend(violations(spec, s, v, &format!("{at}.{k}"))),
                    None if schema.get("additionalProperties").is_some() => {}
                    None => out.push(format!("{at}.{k}: not in the schema")),
                }
            }
        }
        "array" => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.extend(violations(
                        spec,
                        &schema["items"],
                        item,
                        &format!("{at}[{i}]"),
                    ));
                }
            }
            None => out.push(format!("{at}: expected an array")),
        },
        "string" => match value.as_str() {
            Some(s) => {
                if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                    && !allowed.iter().any(|a| a == s)
                {
                    out.push(format!("{at}: {s:?} not in {allowed:?}"));
                }
                if schema.get("format").and_then(Value::as_str) == Some("date-time")
                    && chrono::DateTime::parse_from_rfc3339(s).is_err()
                {
                    out.push(format!("{at}: {s:?} is not a date-time"));
                }
            }
            None => out.push(format!("{at}: expected a string, got {value}")),
        },
        "integer" if !value.is_i64() && !value.is_u64() => {
            out.push(format!("{at}: expected an integer"))
        }
        "boolean" if !value.is_boolean() => out.push(format!("{at}: expected a boolean")),
        _ => {}
    }
    out
}

/// Checks one response against the operation's documented responses.
async fn conforms(spec: &Value, path: &str, method: &str, res: reqwest::Response) -> Value {
    let status = res.status().as_u16().to_string();
    let op = &spec["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is in the description");
    let documented = op["responses"]
        .get(&status)
        .or_else(|| op["responses"].get("default"));
    let documented =
        documented.unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let text = res.text().await.unwrap();
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    if let Some(schema) = documented.get("schema") {
        let problems = violations(spec, schema, &body, "body");
        assert!(
            problems.is_empty(),
            "{method} {path} {status}: {problems:#?}\n{body}"
        );
    }
    if let Some(codes) = documented
        .get("x-inin-error-codes")
        .and_then(Value::as_object)
    {
        let code = body["code"].as_str().unwrap_or_default();
        assert!(
            codes.contains_key(code),
            "{method} {path} {status}: code {code:?} is not documented for this status"
        );
        assert_eq!(body["status"].as_u64().unwrap().to_string(), status);
    }
    body
}

#[tokio::test]
async fn every_operation_answers_as_the_official_description_says() {
    let spec = spec();
    let sim = TestSim::start(|c| c.rate_limit_per_window = 40);
    let token = sim.token().await;
    let channels = "/api/v2/notifications/channels";
    let subs = "/api/v2/notifications/channels/{channelId}/subscriptions";

    let res = sim
        .http
        .post(sim.url(channels))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let created = conforms(&spec, channels, "post", res).await;
    let id = created["id"].as_str().unwrap().to_string();
    let res = sim
        .http
        .get(sim.url(channels))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    conforms(&spec, channels, "get", res).await;
    let res = sim
        .http
        .get(sim.url(&format!("{channels}?includechannels=oauthclient")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    conforms(&spec, channels, "get", res).await;
    let res = sim
        .http
        .head(sim.url(&format!("{channels}/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    conforms(
        &spec,
        "/api/v2/notifications/channels/{channelId}",
        "head",
        res,
    )
    .await;
    let res = sim
        .http
        .get(sim.url("/api/v2/notifications/availabletopics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let topics = conforms(&spec, "/api/v2/notifications/availabletopics", "get", res).await;
    assert_eq!(topics["entities"].as_array().unwrap().len(), 237);

    sim.register_client(json!({"clientId": "denied", "clientSecret": "s", "deniedTopicPatterns": ["v2.analytics.*"]})).await;
    let limited = sim.token_for("denied", "s").await;
    let limited_channel = sim.create_channel(&limited).await;
    let mixed = [
        "v2.users.u1.presence",
        "v2.users.u2?presence&routingStatus",
        "v2.analytics.queues.q.observations",
    ];
    for method in [Method::POST, Method::PUT] {
        let res = sim
            .subscriptions(&limited, &limited_channel.id, method.clone(), &mixed, true)
            .await;
        let body = conforms(&spec, subs, &method.as_str().to_lowercase(), res).await;
        assert_eq!(body["entities"].as_array().unwrap().len(), 3);
        let res = sim
            .subscriptions(&limited, &limited_channel.id, method.clone(), &mixed, false)
            .await;
        conforms(&spec, subs, &method.as_str().to_lowercase(), res).await;
    }
    let res = sim
        .subscriptions(&limited, &limited_channel.id, Method::GET, &[], false)
        .await;
    conforms(&spec, subs, "get", res).await;
    let res = sim
        .subscriptions(&token, &id, Method::POST, &["v2.nope"], true)
        .await;
    conforms(&spec, subs, "post", res).await;
    let res = sim
        .subscriptions(
            &token,
            "streaming-0-missing",
            Method::PUT,
            &["v2.users.u.presence"],
            true,
        )
        .await;
    conforms(&spec, subs, "put", res).await;
    let res = sim
        .http
        .delete(sim.url(&format!("{channels}/{id}/subscriptions")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    conforms(&spec, subs, "delete", res).await;
    let res = sim.http.get(sim.url(channels)).send().await.unwrap();
    conforms(&spec, channels, "get", res).await;
    let res = sim
        .http
        .get(sim.url(channels))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    conforms(&spec, channels, "get", res).await;
    let res = sim
        .http
        .head(sim.url(&format!("{channels}/streaming-0-missing")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = sim
        .http
        .post(sim.url(&format!("{channels}/{id}/subscriptions")))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body("[]")
        .send()
        .await
        .unwrap();
    conforms(&spec, subs, "post", res).await;

    // Spend the rest of the token's budget: the 429 is documented too.
    loop {
        let res = sim
            .http
            .get(sim.url(channels))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            let body = conforms(&spec, channels, "get", res).await;
            assert_eq!(body["code"], "too.many.requests.retry.after");
            break;
        }
    }
    sim.fault(json!({"kind": "server_error", "status": 500, "durationSeconds": 30}))
        .await;
    let other = sim.token().await;
    let res = sim
        .http
        .post(sim.url(channels))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    conforms(&spec, channels, "post", res).await;
}

#[test]
fn the_simulator_serves_all_eight_documented_operations() {
    let spec = spec();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops.sort();
    assert_eq!(ops.len(), 8, "{ops:?}");
}

#[tokio::test]
async fn the_user_and_queue_listings_answer_as_the_official_description_says() {
    let spec = directory_spec();
    let sim = TestSim::start(|c| {
        c.rate_limit_per_window = 40;
        c.workload.users = 30;
        c.workload.queues = 3;
    });
    let token = sim.token().await;
    let users = "/api/v2/users";
    let queues = "/api/v2/routing/queues";
    let members = "/api/v2/routing/queues/{queueId}/members";
    let (status, _) = sim
        .control(
            Method::POST,
            "/sim/v1/org/users",
            json!({"count": 2, "state": "inactive"}),
        )
        .await;
    assert_eq!(status, 201);
    let org = sim.get_json("/sim/v1/org").await;
    let queue = org["queues"][0]["id"].as_str().unwrap().to_string();
    let division = org["divisions"][0]["id"].as_str().unwrap().to_string();
    let members_of = |id: &str| format!("/api/v2/routing/queues/{id}/members");

    let cases: Vec<(&str, String, u16)> = vec![
        (users, "/api/v2/users".into(), 200),
        (
            users,
            "/api/v2/users?pageSize=7&pageNumber=2&expand=presence,routingStatus".into(),
            200,
        ),
        (
            users,
            "/api/v2/users?state=any&sortOrder=descending".into(),
            200,
        ),
        (users, "/api/v2/users?state=inactive".into(), 200),
        (users, "/api/v2/users?pageNumber=99".into(), 200),
        (users, "/api/v2/users?pageSize=501".into(), 400),
        (users, "/api/v2/users?state=nope".into(), 400),
        (queues, "/api/v2/routing/queues".into(), 200),
        (
            queues,
            format!("/api/v2/routing/queues?name=S*&divisionId={division}"),
            200,
        ),
        (
            queues,
            "/api/v2/routing/queues?pageSize=1&pageNumber=2&sortOrder=desc".into(),
            200,
        ),
        (queues, "/api/v2/routing/queues?pageNumber=0".into(), 400),
        (queues, "/api/v2/routing/queues?id=not-a-uuid".into(), 400),
        (members, members_of(&queue), 200),
        (
            members,
            format!(
                "{}?pageSize=3&expand=routingStatus,presence",
                members_of(&queue)
            ),
            200,
        ),
        (members, format!("{}?pageSize=101", members_of(&queue)), 400),
        (
            members,
            members_of("00000000-0000-4000-8000-000000000000"),
            404,
        ),
        (members, members_of("queue-1"), 400),
    ];
    for (template, path, status) in &cases {
        let res = sim.rest_get(&token, path).await;
        assert_eq!(res.status().as_u16(), *status, "{path}");
        let body = conforms(&spec, template, "get", res).await;
        if *status == 200 {
            assert!(body["entities"].is_array(), "{path}: {body}");
        }
    }
    let expanded = sim
        .rest_json(
            &token,
            "/api/v2/users?pageSize=1&expand=presence,routingStatus",
        )
        .await;
    assert!(
        expanded["entities"][0]["presence"]["presenceDefinition"]["systemPresence"].is_string()
    );
    assert!(expanded["entities"][0]["routingStatus"]["status"].is_string());

    for template in [users, queues] {
        let res = sim.http.get(sim.url(template)).send().await.unwrap();
        conforms(&spec, template, "get", res).await;
    }
    sim.fault(json!({"kind": "server_error", "status": 500, "count": 1}))
        .await;
    let res = sim.rest_get(&token, users).await;
    conforms(&spec, users, "get", res).await;
    // Spend the rest of the token's budget: the 429 is documented too.
    loop {
        let res = sim.rest_get(&token, &members_of(&queue)).await;
        if res.status() == 429 {
            let body = conforms(&spec, members, "get", res).await;
            assert_eq!(body["code"], "too.many.requests.retry.after");
            break;
        }
    }
}

#[tokio::test]
async fn the_conversation_details_query_answers_as_the_official_description_says() {
    let spec = directory_spec();
    let sim = TestSim::start(|_| {});
    sim.set_workload(json!({"ratePerSecond": 2000.0})).await;
    wait_until("20 conversations", || async {
        sim.get_json("/sim/v1/org").await["conversations"]
            .as_u64()
            .unwrap()
            >= 20
    })
    .await;
    sim.set_workload(json!({"ratePerSecond": 0.0})).await;
    let token = sim.token().await;
    let path = "/api/v2/analytics/conversations/details/query";
    let now = chrono::Utc::now();
    let interval = format!(
        "{}/{}",
        (now - chrono::Duration::days(1)).to_rfc3339(),
        (now + chrono::Duration::days(1)).to_rfc3339()
    );
    for (body, status) in [
        (
            json!({"interval": interval, "paging": {"pageSize": 10, "pageNumber": 1}}),
            200,
        ),
        (
            json!({"interval": interval, "paging": {"pageSize": 10, "pageNumber": 999}}),
            200,
        ),
        (json!({"interval": "yesterday"}), 400),
    ] {
        let res = sim
            .http
            .post(sim.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{body}");
        conforms(&spec, path, "post", res).await;
    }
}
