//! Sinks and routes managed through the admin API of a running engine: a second file sink and a presence-only
//! route added while events flow, the switch losing nothing (the first sink still matches the simulator's
//! ledger), roles, validation, conflicts, a restart, the OpenAPI document and the audit log.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

const ADMIN: &str = "sinks-admin-token-0123456789";
const READER: &str = "sinks-read-token-0123456789";

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn of(engine: &switchboard::engine::EngineHandle) -> Api {
        Api {
            base: format!("http://{}", engine.admin_addr.expect("admin API")),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// The JSON lines of a sink file (none when it does not exist yet).
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn details_name(body: &Value, prefix: &str) -> bool {
    body["details"]
        .as_array()
        .is_some_and(|d| d.iter().any(|x| x.as_str().unwrap().starts_with(prefix)))
}

/// The simulator's newest ledger seq: every event made later is causally after this moment.
async fn last_seq(sim: &Sim) -> u64 {
    sim.get("/sim/v1/ledger?limit=1").await["lastSeq"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_and_routes_change_live_through_the_api_and_no_record_is_lost() {
    let sim = Sim::start(|c| c.workload.users = 20);
    let followed = sim.topics(&["presence", "routingStatus"]).await;
    let presence_topic = sim.topics(&["presence"]).await[0].clone();
    let routing_topic = sim.topics(&["routingStatus"]).await[0].clone();
    let scratch = Scratch::new();
    let presence_file = scratch.0.join("presence.jsonl");
    let make_config = || {
        App::builder(&sim)
            .scratch(&scratch)
            .tenant("acme", &followed)
            .client("demo", "secret")
            .sink_file()
            .admin_token(ADMIN)
            .read_token(READER)
            .config()
    };
    let engine = start(make_config());
    let api = Api::of(&engine);
    wait_live(&engine, "acme", 1).await;

    // The file's sink and route were seeded into the store and are what runs.
    let (status, sinks) = api.send(Method::GET, "/v1/sinks", Some(READER), None).await;
    assert_eq!(status, 200, "{sinks}");
    assert_eq!(sinks.as_array().unwrap().len(), 1, "{sinks}");
    assert_eq!(sinks[0]["name"], "file");
    assert_eq!(sinks[0]["kind"], "file");
    assert_eq!(sinks[0]["path"], scratch.sink().display().to_string());
    let (_, routes) = api
        .send(Method::GET, "/v1/routes", Some(READER), None)
        .await;
    assert_eq!(
        (
            routes[0]["id"].clone(),
            routes[0]["sinks"].clone(),
            routes[0]["topics"].clone()
        ),
        (json!("config-1"), json!(["file"]), json!(["*"])),
        "{routes}"
    );

    // Roles: reading needs a token, changing needs the admin role.
    let sink_body =
        json!({"kind": "file", "path": presence_file.display().to_string(), "maxFiles": 2});
    let (status, _) = api.send(Method::GET, "/v1/sinks", None, None).await;
    assert_eq!(status, 401);
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/presence",
            Some(READER),
            Some(sink_body.clone()),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/routes/presence-only",
            Some(READER),
            Some(json!({"sinks": ["file"]})),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));

    // Validation names each bad field.
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/Bad%20Name",
            Some(ADMIN),
            Some(json!({"kind": "file", "path": " ", "maxBytes": 0})),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("invalid")));
    for field in ["name:", "path:", "maxBytes:"] {
        assert!(details_name(&body, field), "{field} in {body}");
    }
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/copy",
            Some(ADMIN),
            Some(json!({"kind": "file", "path": scratch.sink().display().to_string()})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(details_name(&body, "path:"), "{body}");
    assert!(
        body.to_string().contains("\\\"file\\\""),
        "names the other sink: {body}"
    );
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/odd",
            Some(ADMIN),
            Some(json!({"kind": "stdout", "colour": "red"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/routes/presence-only",
            Some(ADMIN),
            Some(json!({"sinks": ["nope"], "topics": ["v2.users.*.presence"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(details_name(&body, "sinks[0]:"), "{body}");
    assert!(body.to_string().contains("nope"), "{body}");
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/routes/Bad%20Id",
            Some(ADMIN),
            Some(json!({"sinks": ["file"], "topics": ["has space"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        details_name(&body, "id:") && details_name(&body, "topics[0]:"),
        "{body}"
    );
    // A malformed filter: refused with the route, the expression and where it goes wrong.
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/routes/presence-only",
            Some(ADMIN),
            Some(
                json!({"sinks": ["file"], "filter": "body.presenceDefinition.systemPresence != "}),
            ),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().starts_with(
            "the route \"presence-only\" is not valid: filter: \"body.presenceDefinition.systemPresence != \" is not a valid CEL expression: line 1, column 43: Syntax error"
        ),
        "{body}"
    );
    let (_, sinks) = api.send(Method::GET, "/v1/sinks", Some(READER), None).await;
    assert_eq!(
        sinks.as_array().unwrap().len(),
        1,
        "nothing invalid was kept"
    );

    // The switch, while events flow.
    sim.workload(json!({"ratePerSecond": 400.0, "families": ["presence", "routingStatus"]}))
        .await;
    wait_until("events in the first sink", || async {
        read_sink(&scratch).lines >= 50
    })
    .await;
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/presence",
            Some(ADMIN),
            Some(sink_body.clone()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["kind"].clone(), body["maxFiles"].clone()),
        (json!("file"), json!(2))
    );
    // Replaced in place (same file): 200.
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/sinks/presence",
            Some(ADMIN),
            Some(sink_body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .send(
            Method::PUT,
            "/v1/routes/presence-only",
            Some(ADMIN),
            Some(json!({"tenants": ["acme"], "sinks": ["presence"], "topics": ["v2.users.*.presence"], "changesOnly": false})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sinks"], json!(["presence"]));
    // Every event the simulator makes from here on reaches the router after the new route.
    let mark = last_seq(&sim).await;
    wait_until("events made after the switch", || async {
        last_seq(&sim).await >= mark + 300
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    sim.post(
        "/sim/v1/events",
        json!({"topic": presence_topic, "count": 5}),
    )
    .await;
    sim.post(
        "/sim/v1/events",
        json!({"topic": routing_topic, "count": 5}),
    )
    .await;

    // The first sink has every followed event exactly once, across the switch.
    let v = settle(&sim, &scratch, &followed).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0);
    assert!(v.happened >= 300, "{v:?}");
    // The new sink has every presence event made after the switch, and nothing but presence.
    let expected: BTreeSet<String> = sim
        .ledger()
        .await
        .iter()
        .filter(|e| {
            e["seq"].as_u64().unwrap() > mark
                && e["topic"]
                    .as_str()
                    .unwrap()
                    .to_ascii_lowercase()
                    .ends_with(".presence")
        })
        .map(|e| e["correlationId"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() >= 5, "{} presence events", expected.len());
    wait_until(
        "the presence sink to hold every presence event since the switch",
        || async {
            let got: BTreeSet<String> = lines(&presence_file)
                .iter()
                .map(|l| l["correlationId"].as_str().unwrap_or_default().to_string())
                .collect();
            expected.is_subset(&got)
        },
    )
    .await;
    let written = lines(&presence_file);
    let mut seen = BTreeSet::new();
    for l in &written {
        assert_eq!(l["kind"], "event", "{l}");
        assert_eq!(l["topicFamily"], "v2.users.{id}.presence", "{l}");
        assert!(
            seen.insert(l["correlationId"].as_str().unwrap().to_string()),
            "delivered twice: {l}"
        );
    }

    // A restart: the API's sink and route come back from the store.
    engine.stop();
    let engine = start(make_config());
    let api = Api::of(&engine);
    wait_live(&engine, "acme", 1).await;
    let (_, sinks) = api.send(Method::GET, "/v1/sinks", Some(READER), None).await;
    let names: Vec<&str> = sinks
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["file", "presence"]);
    let (status, one) = api
        .send(Method::GET, "/v1/sinks/presence", Some(READER), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["path"], presence_file.display().to_string());
    let (_, routes) = api
        .send(Method::GET, "/v1/routes", Some(READER), None)
        .await;
    let ids: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["config-1", "presence-only"]);

    // A sink a route uses cannot go; the route first, then the sink.
    let (status, body) = api
        .send(Method::DELETE, "/v1/sinks/presence", Some(ADMIN), None)
        .await;
    assert_eq!((status, body["code"].clone()), (409, json!("conflict")));
    assert!(body.to_string().contains("presence-only"), "{body}");
    let (status, _) = api
        .send(
            Method::DELETE,
            "/v1/routes/presence-only",
            Some(READER),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .send(
            Method::DELETE,
            "/v1/routes/presence-only",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = api
        .send(
            Method::DELETE,
            "/v1/routes/presence-only",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
    let (status, _) = api
        .send(Method::DELETE, "/v1/sinks/presence", Some(ADMIN), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .send(Method::GET, "/v1/sinks/presence", Some(READER), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .send(Method::DELETE, "/v1/sinks/presence", Some(ADMIN), None)
        .await;
    assert_eq!(status, 404);

    // After that the presence file gets nothing, the first sink still everything.
    let before = lines(&presence_file).len();
    sim.post(
        "/sim/v1/events",
        json!({"topic": presence_topic, "count": 10}),
    )
    .await;
    let v = settle(&sim, &scratch, &followed).await;
    assert_complete(&v);
    assert_eq!(lines(&presence_file).len(), before);

    // The OpenAPI document lists the new paths.
    let (status, doc) = api.send(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    for path in [
        "/v1/sinks",
        "/v1/sinks/{name}",
        "/v1/routes",
        "/v1/routes/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} in the document");
    }
    for method in ["get", "put", "delete"] {
        assert!(doc["paths"]["/v1/sinks/{name}"].get(method).is_some());
    }
    for schema in ["SinkBody", "SinkView", "RouteBody", "RouteRecord"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} in the document"
        );
    }

    // The audit log has every change, by who made it.
    let actions = |audit: &Value| -> Vec<(String, String)> {
        audit
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap().to_string(),
                    a["actor"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (status, audit) = api
        .send(Method::GET, "/v1/audit?target=sinks/", Some(READER), None)
        .await;
    assert_eq!(status, 200);
    let sinks_log = actions(&audit);
    for entry in [
        ("sink.seed", "config"),
        ("sink.put", "ops"),
        ("sink.delete", "ops"),
    ] {
        assert!(
            sinks_log.contains(&(entry.0.to_string(), entry.1.to_string())),
            "{entry:?} in {sinks_log:?}"
        );
    }
    assert_eq!(
        sinks_log.iter().filter(|(a, _)| a == "sink.put").count(),
        2,
        "created, then replaced: {sinks_log:?}"
    );
    let (_, audit) = api
        .send(Method::GET, "/v1/audit?target=routes/", Some(READER), None)
        .await;
    let routes_log = actions(&audit);
    for entry in [
        ("route.seed", "config"),
        ("route.put", "ops"),
        ("route.delete", "ops"),
    ] {
        assert!(
            routes_log.contains(&(entry.0.to_string(), entry.1.to_string())),
            "{entry:?} in {routes_log:?}"
        );
    }
    engine.stop();
}
