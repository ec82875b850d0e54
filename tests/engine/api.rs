//! The admin API of a running engine: auth, roles, status, restarts, gaps, probes, the OpenAPI document,
//! and a canary secret that never comes back.

use serde_json::{Value, json};

use crate::harness::*;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "read-token-0123456789";
const CANARY: &str = "canary-secret-7f3e9b1c";

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
    async fn post(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_by_role_and_never_returns_a_secret() {
    let sim = Sim::start(|c| {
        c.workload.users = 5;
    });
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "canary", "clientSecret": CANARY}),
    )
    .await;
    let topics = sim.topics(&["presence"]).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("canary", CANARY)
        .sink_file()
        .admin_token(ADMIN)
        .read_token(READER)
        .start();
    let api = Api {
        base: format!("http://{}", engine.admin_addr.expect("admin API")),
        http: reqwest::Client::new(),
    };
    wait_live(&engine, "acme", 1).await;
    let mut bodies = Vec::new();

    let (status, body) = api.get("/healthz", None).await;
    assert_eq!(status, 200);
    bodies.push(body);
    // Without a token /readyz says whether it is ready, and nothing of the tenants.
    let (status, body) = api.get("/readyz", None).await;
    assert_eq!(status, 200);
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "ok");
    assert!(ready.get("tenants").is_none(), "{body}");
    assert!(
        !body.contains("acme"),
        "no tenant id without a token: {body}"
    );
    bodies.push(body);
    let (status, body) = api.get("/readyz", Some("not-a-token")).await;
    assert_eq!(status, 200);
    assert!(!body.contains("acme"), "nor with an unknown token: {body}");
    let (status, body) = api.get("/readyz", Some(READER)).await;
    assert_eq!(status, 200);
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["store"], "ok");
    assert_eq!(ready["tenants"]["acme"], "running");
    bodies.push(body);

    let (status, body) = api.get("/v1/status", None).await;
    assert_eq!(status, 401);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["code"], "unauthorized");
    assert!(err["message"].is_string() && err["details"].is_array());
    let (status, _) = api.get("/v1/status", Some("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, body) = api.get("/v1/status", Some(READER)).await;
    assert_eq!(status, 200);
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["tenants"][0]["id"], "acme");
    assert_eq!(s["tenants"][0]["channels"][0]["state"], "live");
    assert_eq!(s["tenants"][0]["channels"][0]["clientId"], "canary");
    bodies.push(body);
    let (status, body) = api.get("/v1/tenants/acme/status", Some(READER)).await;
    assert_eq!(status, 200);
    bodies.push(body);
    let (status, body) = api.get("/v1/tenants/nobody/status", Some(READER)).await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (404, json!("not_found"))
    );

    let (status, body) = api.post("/v1/tenants/acme/restart", Some(READER)).await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (403, json!("forbidden"))
    );
    let (status, _) = api
        .post("/v1/tenants/acme/restart?onlyFailed=true", Some(ADMIN))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        sim.stats().await.sockets_opened,
        1,
        "onlyFailed leaves a live channel alone"
    );
    let (status, _) = api.post("/v1/tenants/acme/restart", Some(ADMIN)).await;
    assert_eq!(status, 202);
    wait_until("the channel to reconnect", || async {
        sim.stats().await.sockets_opened == 2
    })
    .await;
    let (status, _) = api.post("/v1/tenants/nobody/restart", Some(ADMIN)).await;
    assert_eq!(status, 404);

    // A gap, then read back through the API.
    sim.inject(FaultRequest {
        client: Some("canary".into()),
        ..fault(FaultKind::RevokeToken)
    })
    .await;
    wait_until("a gap in the API", || async {
        let (_, body) = api.get("/v1/gaps?tenant=acme", Some(READER)).await;
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (_, body) = api.get("/v1/gaps?tenant=acme&limit=5", Some(READER)).await;
    let gaps: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gaps[0]["reason"], "token_revoked");
    bodies.push(body);
    let (status, body) = api.get("/v1/gaps?limit=0", Some(READER)).await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (400, json!("invalid"))
    );
    let (status, _) = api.get("/v1/gaps?bogus=1", Some(READER)).await;
    assert_eq!(status, 400);
    let (status, body) = api.get("/v1/nothing", Some(READER)).await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"));

    // /metrics names tenants and sinks: a read (or admin) token is needed on the admin listener.
    let (status, body) = api.get("/metrics", None).await;
    assert_eq!(status, 401, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["code"], "unauthorized");
    assert!(!body.contains("acme"));
    let (status, _) = api.get("/metrics", Some("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, body) = api.get("/metrics", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_events_received_total"));
    let (status, body) = api.get("/metrics", Some(READER)).await;
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_events_received_total"));
    assert!(
        body.contains(r#"switchboard_channels{region="custom",state="live",tenant="acme"} 1"#),
        "{body}"
    );
    bodies.push(body);

    let (status, body) = api.get("/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/status",
        "/v1/tenants/{id}/status",
        "/v1/tenants/{id}/restart",
        "/v1/gaps",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is in the OpenAPI document"
        );
    }
    assert!(
        doc["paths"]["/metrics"]["get"]["responses"]
            .get("401")
            .is_some(),
        "/metrics documents its 401"
    );
    bodies.push(body);

    for body in &bodies {
        assert!(!body.contains(CANARY), "a response carried the secret");
    }
    engine.stop();
    let db = std::fs::read(scratch.0.join("store.db")).unwrap_or_default();
    assert!(
        !db.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the store file holds the secret in clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_serves_the_scrape_without_a_token_and_nothing_else() {
    let sim = Sim::start(|c| c.workload.users = 5);
    let topics = sim.topics(&["presence"]).await;
    let App { engine, .. } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .read_token(READER)
        .metrics_listen("127.0.0.1:0")
        .start();
    wait_live(&engine, "acme", 1).await;
    let http = reqwest::Client::new();
    let metrics = Api {
        base: format!("http://{}", engine.metrics_addr.expect("metrics listener")),
        http: http.clone(),
    };
    let admin = Api {
        base: format!("http://{}", engine.admin_addr.expect("admin API")),
        http,
    };
    assert_ne!(metrics.base, admin.base);

    let (status, body) = metrics.get("/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#"switchboard_channels{region="custom",state="live",tenant="acme"} 1"#),
        "{body}"
    );
    let (status, _) = metrics.get("/healthz", None).await;
    assert_eq!(status, 200);
    // Only the scrape and the liveness probe: not the API, not even with a token.
    for path in ["/readyz", "/v1/status", "/v1/tenants", "/v1/openapi.json"] {
        let (status, body) = metrics.get(path, Some(READER)).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // The admin listener still wants a token for /metrics.
    let (status, _) = admin.get("/metrics", None).await;
    assert_eq!(status, 401);
    let (status, body) = admin.get("/metrics", Some(READER)).await;
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_events_received_total"));
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_live_tail_read_through_the_api() {
    let sim = Sim::start(|c| c.workload.users = 5);
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    let App {
        engine,
        scratch: _scratch,
        ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .read_token(READER)
        .start();
    let url = format!("http://{}", engine.admin_addr.unwrap());
    wait_live(&engine, "acme", 1).await;

    // The tail, filtered to presence.
    let res = reqwest::Client::new()
        .get(format!(
            "{url}/v1/tenants/acme/events?family=v2.users.%7Bid%7D.presence"
        ))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    sim.workload(json!({"ratePerSecond": 200.0, "families": ["presence", "routingStatus"]}))
        .await;
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    use futures_util::StreamExt;
    while text.matches("data: ").count() < 5 {
        let chunk = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("tail data")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["kind"], "event");
        assert_eq!(
            v["topicFamily"], "v2.users.{id}.presence",
            "the family filter holds"
        );
    }
    let (status, _) = Api {
        base: url.clone(),
        http: reqwest::Client::new(),
    }
    .get("/v1/tenants/nobody/events", Some(READER))
    .await;
    assert_eq!(status, 404);

    // The CLI, as a user runs it.
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let out = tokio::process::Command::new(bin)
        .args(["status", "--url", &url, "--json"])
        .env("SWITCHBOARD_TOKEN", READER)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["tenants"][0]["id"], "acme");
    let out = tokio::process::Command::new(bin)
        .args(["status", "--url", &url, "--token", READER])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("TENANT") && table.contains("acme") && table.contains("live"),
        "{table}"
    );
    let out = tokio::process::Command::new(bin)
        .args(["gaps", "--url", &url, "--token", READER, "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let out = tokio::process::Command::new(bin)
        .args(["status", "--url", &url, "--token", "wrong"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    engine.stop();
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_topics_are_managed_through_the_api_and_survive_a_restart() {
    use reqwest::Method;
    let sim = Sim::start(|c| c.workload.users = 600);
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "beta-client", "clientSecret": CANARY}),
    )
    .await;
    let presence = sim.topics(&["presence"]).await;
    let scratch = Scratch::new();
    let key_file = scratch.0.join("master.key");
    std::fs::write(
        &key_file,
        switchboard::secrets::MasterKey::generate().to_base64(),
    )
    .unwrap();
    let make_config = || {
        let mut c = App::builder(&sim)
            .scratch(&scratch)
            .tenant("acme", &presence[..5])
            .client("demo", "secret")
            .sink_file()
            .admin_token(ADMIN)
            .read_token(READER)
            .config();
        c.store.key_file = Some(key_file.clone());
        c
    };
    let engine = start(make_config());
    let api = Api {
        base: format!("http://{}", engine.admin_addr.unwrap()),
        http: reqwest::Client::new(),
    };
    wait_live(&engine, "acme", 1).await;

    let beta = json!({"id": "beta", "apiBase": sim.base(), "loginBase": sim.base(),
        "clients": [{"id": "beta-client", "secret": CANARY}], "topics": presence[..10]});
    let (status, body) = api
        .send(Method::POST, "/v1/tenants", READER, Some(beta.clone()))
        .await;
    assert_eq!((status, body["code"].clone()), (403, json!("forbidden")));
    let (status, body) = api
        .send(Method::POST, "/v1/tenants", ADMIN, Some(beta.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["clients"],
        json!([{"id": "beta-client", "secret": "set"}])
    );
    assert_eq!(body["topics"], 10);
    let (status, _) = api
        .send(Method::POST, "/v1/tenants", ADMIN, Some(beta.clone()))
        .await;
    assert_eq!(status, 409);
    wait_live(&engine, "beta", 1).await;

    let bad = json!({"id": "Bad Id!", "region": "nowhere", "clients": [], "topics": ["v2.nope", "v2.users.x.presence"]});
    let (status, body) = api
        .send(Method::POST, "/v1/tenants", ADMIN, Some(bad))
        .await;
    assert_eq!(status, 400);
    let details = body["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("id:")),
        "{body}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("region:")),
        "{body}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("clients:")),
        "{body}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.as_str().unwrap().contains("v2.nope")),
        "{body}"
    );

    // Bulk add: 590 more topics, two bad ones named.
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/tenants/beta/topics",
            ADMIN,
            Some(json!({"topics": ["v2.bad.one", "v2.users.a.nonsense"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"].as_array().unwrap().len(), 2, "{body}");
    let more: Vec<Value> = presence[10..600]
        .iter()
        .map(|t| json!({"name": t, "priority": 1}))
        .collect();
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/tenants/beta/topics",
            ADMIN,
            Some(json!({"topics": more})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["channelsChanged"], 1,
        "the existing channel took them: {body}"
    );
    wait_until("600 topics permitted", || async {
        let (_, list) = api
            .send(Method::GET, "/v1/tenants/beta/topics", READER, None)
            .await;
        list.as_array()
            .is_some_and(|l| l.len() == 600 && l.iter().all(|t| t["state"] == "Permitted"))
    })
    .await;
    let (status, body) = api
        .send(
            Method::DELETE,
            "/v1/tenants/beta/topics",
            ADMIN,
            Some(json!({"topics": presence[300..600]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = api
        .send(Method::GET, "/v1/tenants/beta/topics", READER, None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 300);

    // Pause and resume.
    let (status, body) = api
        .send(Method::POST, "/v1/tenants/beta/pause", ADMIN, None)
        .await;
    assert_eq!((status, body["paused"].clone()), (200, json!(true)));
    wait_until("beta paused", || async {
        engine
            .status()
            .await
            .unwrap()
            .tenants
            .iter()
            .any(|t| t.id == "beta" && t.state == "paused")
    })
    .await;
    let (status, _) = api
        .send(Method::POST, "/v1/tenants/beta/resume", ADMIN, None)
        .await;
    assert_eq!(status, 200);
    wait_live(&engine, "beta", 1).await;

    let (_, list) = api.send(Method::GET, "/v1/tenants", READER, None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "beta"]);

    // A restart: the tenants come back from the store and re-use their channels.
    engine.stop();
    let created = sim.stats().await.channels_created;
    let engine = start(make_config());
    let api = Api {
        base: format!("http://{}", engine.admin_addr.unwrap()),
        http: reqwest::Client::new(),
    };
    wait_live(&engine, "beta", 1).await;
    wait_live(&engine, "acme", 1).await;
    assert_eq!(
        sim.stats().await.channels_created,
        created,
        "channels re-used after the restart"
    );
    let (_, b) = api
        .send(Method::GET, "/v1/tenants/beta", READER, None)
        .await;
    assert_eq!(b["topics"], 300);

    let (status, _) = api
        .send(Method::DELETE, "/v1/tenants/beta", ADMIN, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .send(Method::GET, "/v1/tenants/beta", READER, None)
        .await;
    assert_eq!(status, 404);
    let (_, audit) = api
        .send(Method::GET, "/v1/audit?target=tenants/beta", READER, None)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "tenant.create",
        "topics.add",
        "topics.remove",
        "tenant.pause",
        "tenant.resume",
        "tenant.delete",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["actor"] == "ops" || a["actor"] == "config")
    );
    let (_, all) = api.send(Method::GET, "/v1/audit", READER, None).await;
    assert!(!all.to_string().contains(CANARY));
    engine.stop();
    let db = std::fs::read(scratch.0.join("store.db")).unwrap();
    assert!(
        !db.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the secret is sealed at rest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_manages_tenants_with_the_cli_and_rotates_the_master_key() {
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let run = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(bin)
            .args(&args)
            .env("SWITCHBOARD_TOKEN", ADMIN)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "switchboard {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let sim = Sim::start(|c| c.workload.users = 20);
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "ops-client", "clientSecret": CANARY}),
    )
    .await;
    let presence = sim.topics(&["presence"]).await;
    let scratch = Scratch::new();
    let old_key = scratch.0.join("old.key");
    let new_key = scratch.0.join("new.key");
    std::fs::write(&old_key, run(vec!["keys".into(), "generate".into()]).await).unwrap();
    std::fs::write(&new_key, run(vec!["keys".into(), "generate".into()]).await).unwrap();
    let make = |key: &std::path::Path| {
        let mut c = App::builder(&sim)
            .scratch(&scratch)
            .tenant("acme", &presence[..1])
            .client("demo", "secret")
            .sink_file()
            .admin_token(ADMIN)
            .config();
        c.store.key_file = Some(key.to_path_buf());
        c
    };
    let engine = start(make(&old_key));
    let url = format!("http://{}", engine.admin_addr.unwrap());
    let tenant_file = scratch.0.join("ops.json");
    std::fs::write(
        &tenant_file,
        json!({"id": "ops", "apiBase": sim.base(), "loginBase": sim.base(), "clients": [{"id": "ops-client", "secret": CANARY}]}).to_string(),
    )
    .unwrap();
    let out = run(vec![
        "tenants".into(),
        "create".into(),
        "--file".into(),
        tenant_file.display().to_string(),
        "--url".into(),
        url.clone(),
    ])
    .await;
    assert!(out.contains("ops") && !out.contains(CANARY), "{out}");
    let mut add = vec![
        "topics".into(),
        "add".into(),
        "ops".into(),
        "--url".into(),
        url.clone(),
    ];
    add.extend(presence[..5].iter().cloned());
    run(add).await;
    wait_live(&engine, "ops", 1).await;
    let listed = run(vec![
        "topics".into(),
        "list".into(),
        "ops".into(),
        "--url".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(
        listed.lines().count(),
        6,
        "a header and 5 topics:\n{listed}"
    );
    let tenants = run(vec![
        "tenants".into(),
        "list".into(),
        "--url".into(),
        url.clone(),
    ])
    .await;
    assert!(
        tenants.contains("acme") && tenants.contains("ops"),
        "{tenants}"
    );
    let (status, body) = Api { base: url.clone(), http: reqwest::Client::new() }
        .send(
            reqwest::Method::PUT,
            "/v1/sinks/hook",
            ADMIN,
            Some(json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "allow": ["127.0.0.1"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // A Kafka sink with a secret property, through the CLI: sealed like the webhook's secret.
    let kafka = cfg!(feature = "kafka");
    if kafka {
        run([
            "sinks",
            "put",
            "kafka",
            "--kind",
            "kafka",
            "--brokers",
            "127.0.0.1:9",
            "--topic",
            "sb.{tenant}",
            "--property",
            "security.protocol=SASL_PLAINTEXT",
            "--property",
            "sasl.mechanism=PLAIN",
            "--property",
            "sasl.username=ops",
            "--property",
            &format!("sasl.password={CANARY}"),
            "--url",
            &url,
        ]
        .map(String::from)
        .to_vec())
        .await;
        let listed = run(vec![
            "sinks".into(),
            "list".into(),
            "--url".into(),
            url.clone(),
        ])
        .await;
        assert!(listed.contains("127.0.0.1:9 sb.{tenant}"), "{listed}");
        assert!(!listed.contains(CANARY), "{listed}");
    }
    engine.stop();

    let db = scratch.0.join("store.db").display().to_string();
    let out = run(vec![
        "keys".into(),
        "rotate".into(),
        "--store".into(),
        db,
        "--old-key-file".into(),
        old_key.display().to_string(),
        "--new-key-file".into(),
        new_key.display().to_string(),
    ])
    .await;
    let resealed = if kafka { 4 } else { 3 };
    assert!(
        out.starts_with(&format!("{resealed} secret(s) re-sealed")),
        "two OAuth clients, one webhook sink and one Kafka sink: {out}"
    );
    let engine = start(make(&new_key));
    wait_live(&engine, "ops", 1).await;
    wait_live(&engine, "acme", 1).await;
    let api = Api {
        base: format!("http://{}", engine.admin_addr.unwrap()),
        http: reqwest::Client::new(),
    };
    let (_, sinks) = api
        .send(reqwest::Method::GET, "/v1/sinks", ADMIN, None)
        .await;
    assert!(
        sinks
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "hook" && s["secret"] == "set"),
        "the webhook sink opens with the new key: {sinks}"
    );
    if kafka {
        assert!(
            sinks
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "kafka"
                    && s["properties"]["sasl.password"] == "set"
                    && s["properties"]["sasl.mechanism"] == "PLAIN"),
            "the Kafka sink opens with the new key: {sinks}"
        );
        assert!(!sinks.to_string().contains(CANARY), "{sinks}");
    }
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_tenant_deleted_through_the_api_stays_deleted_after_a_restart() {
    use reqwest::Method;
    let sim = Sim::start(|c| c.workload.users = 5);
    let presence = sim.topics(&["presence"]).await;
    let scratch = Scratch::new();
    let key_file = scratch.0.join("master.key");
    std::fs::write(
        &key_file,
        switchboard::secrets::MasterKey::generate().to_base64(),
    )
    .unwrap();
    let make = || {
        let mut c = App::builder(&sim)
            .scratch(&scratch)
            .tenant("acme", &presence[..1])
            .client("demo", "secret")
            .sink_file()
            .admin_token(ADMIN)
            .config();
        c.store.key_file = Some(key_file.clone());
        c
    };
    let engine = start(make());
    let api = Api {
        base: format!("http://{}", engine.admin_addr.unwrap()),
        http: reqwest::Client::new(),
    };
    wait_live(&engine, "acme", 1).await;
    let (status, _) = api
        .send(Method::DELETE, "/v1/tenants/acme", ADMIN, None)
        .await;
    assert_eq!(status, 204);
    engine.stop();
    let engine = start(make());
    let api = Api {
        base: format!("http://{}", engine.admin_addr.unwrap()),
        http: reqwest::Client::new(),
    };
    let (status, list) = api.send(Method::GET, "/v1/tenants", ADMIN, None).await;
    assert_eq!(
        (status, list),
        (200, json!([])),
        "the file does not bring back what an operator deleted"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_with_nothing_to_set_up_and_stops_cleanly() {
    let dir = std::env::temp_dir().join(format!("sb-demo-{}", uuid::Uuid::new_v4()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--seconds", "6", "--admin", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("acme") && screen.contains("globex") && screen.contains("live"),
        "{screen}"
    );
    assert!(screen.contains("stopped;"));
    for line in screen.lines() {
        let line = line.trim_start_matches("\x1b[2J\x1b[H");
        assert!(line.chars().count() <= 80, "fits 80 columns: {line:?}");
    }
    assert!(
        screen.contains("recent gaps") && screen.contains("s ago"),
        "gaps and ages: {screen}"
    );
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(events.lines().count() > 10, "events were delivered");
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["kind"] == "event" || v["kind"] == "gap");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_json_errors_with_the_status_the_document_states() {
    use reqwest::Method;
    let sim = Sim::start(|c| c.workload.users = 5);
    let topics = sim.topics(&["presence"]).await;
    let App { engine, .. } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .admin_token(ADMIN)
        .start();
    let api = Api {
        base: format!("http://{}", engine.admin_addr.expect("admin API")),
        http: reqwest::Client::new(),
    };
    let raw = |method: Method, path: &str, content_type: &str, body: Vec<u8>| {
        api.http
            .request(method, format!("{}{path}", api.base))
            .bearer_auth(ADMIN)
            .header("Content-Type", content_type)
            .body(body)
    };
    // Query values that do not parse, or break a bound the document states: 400 with an ApiError.
    for path in [
        "/v1/tenants?limit=-1",
        "/v1/tenants?limit=0",
        "/v1/tenants?offset=-1",
        "/v1/tenants?offset=9223372036854775808",
        "/v1/gaps?limit=10001",
        "/v1/audit?limit=0",
        "/v1/sinks/file/dead-letters?limit=-1",
    ] {
        let (status, body) = api.send(Method::GET, path, ADMIN, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid", "{path}: {body}");
    }
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/tenants/acme/restart?onlyFailed=null",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
    // A body that is not JSON: 415; one too big: 413; one that does not parse: 400.
    let res = raw(Method::PUT, "/v1/sinks/x", "text/plain", b"{}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unsupported_media_type");
    // The server may answer 413 and close before the client has sent the whole body: the client then sees a
    // reset instead of the answer. Another try reads the answer.
    let mut answered = None;
    for _ in 0..5 {
        let big = vec![b' '; 2 * 1024 * 1024];
        if let Ok(res) = raw(Method::PUT, "/v1/sinks/x", "application/json", big)
            .send()
            .await
        {
            answered = Some(res.status().as_u16());
            break;
        }
    }
    assert_eq!(answered, Some(413));
    // The server answered 413 without reading the body and closed that connection; a request sent on it
    // before the client saw the close fails to send: that one is sent again on a new connection.
    let mut res = None;
    for _ in 0..5 {
        if let Ok(r) = raw(
            Method::PUT,
            "/v1/sinks/x",
            "application/json",
            b"{".to_vec(),
        )
        .send()
        .await
        {
            res = Some(r);
            break;
        }
    }
    let res = res.expect("an answer to a malformed body");
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid");
    // A known path with another method: 405 naming the methods; an unknown path: 404. Both JSON.
    for (method, path, allow) in [
        (Method::PATCH, "/v1/sinks/file", "GET, PUT, DELETE"),
        (Method::TRACE, "/v1/tenants/acme", "GET, PUT, DELETE"),
        (Method::POST, "/v1/status", "GET"),
    ] {
        let res = raw(method, path, "application/json", Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 405, "{path}");
        assert_eq!(res.headers()["allow"], allow, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{path}");
    }
    let (status, body) = api.send(Method::GET, "/v1/nothing", ADMIN, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // The document states those answers and the bounds.
    let (_, doc) = api.send(Method::GET, "/v1/openapi.json", ADMIN, None).await;
    let responses = &doc["paths"]["/v1/tenants/{id}/restart"]["post"]["responses"];
    assert!(responses.get("400").is_some(), "{responses}");
    let put = &doc["paths"]["/v1/sinks/{name}"]["put"]["responses"];
    for status in ["400", "401", "403", "409", "413", "415", "503"] {
        assert!(
            put.get(status).is_some(),
            "PUT /v1/sinks/{{name}} documents {status}"
        );
    }
    let params = doc["paths"]["/v1/tenants"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (
            limit["schema"]["minimum"].as_f64(),
            limit["schema"]["maximum"].as_f64()
        ),
        (Some(1.0), Some(10000.0))
    );
    let id = &doc["paths"]["/v1/tenants/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(id["pattern"], "^[a-z0-9][a-z0-9_-]{0,62}$");
    engine.stop();
}
