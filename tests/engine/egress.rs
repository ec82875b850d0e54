//! What a hostile (or careless) admin of one team meets: a base URL on a special-purpose address is refused
//! before anything (least of all the OAuth client's credentials) is sent; `caFile` and file sink paths stay in
//! their directories; credentials written in a sink's URL are never shown.

use serde_json::json;

use crate::harness::*;

const ADMIN: &str = "egress-admin-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_bases_resolve_to_loopback_fails_at_once_and_sends_no_credentials() {
    let sim = Sim::start(|_| {});
    // `localhost` is a name: it is refused when resolved, not when written.
    let base = sim.base().replace("127.0.0.1", "localhost");
    let mut builder = App::builder(&sim)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .egress_allow(&[]);
    let mut config = builder.config();
    config.tenants[0].endpoints.api_base = base.clone();
    config.tenants[0].endpoints.login_base = base;
    let engine = start(config);
    let failed_error = || async {
        let status = engine.status().await.ok()?;
        let tenant = status.tenants.into_iter().find(|t| t.id == "acme")?;
        let channel = tenant
            .channels
            .into_iter()
            .find(|c| c.lifecycle.name() == "failed")?;
        channel.last_error.clone()
    };
    wait_until("the channel to fail on the refused address", || async {
        failed_error().await.is_some()
    })
    .await;
    let failed = failed_error().await.unwrap();
    assert!(
        failed.contains("loopback") && failed.contains("[egress] allow"),
        "{failed}"
    );
    let stats = sim.stats().await;
    assert_eq!(
        stats.tokens_issued, 0,
        "no credentials may reach the address"
    );
    assert!(
        stats.rest.is_empty(),
        "no request may reach it: {:?}",
        stats.rest
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_bases_and_ca_files_that_escape_their_place() {
    let sim = Sim::start(|_| {});
    let App {
        engine,
        admin,
        scratch,
    } = App::builder(&sim)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .master_key()
        .egress_allow(&[])
        .admin_token(ADMIN)
        .start();
    let admin = admin.unwrap();
    // A request held by a FIFO or an endless file fails the test by this bound.
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let post = |body: serde_json::Value| {
        http.post(format!("{}/v1/tenants", admin.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    for host in [
        "100.100.100.200",
        "169.254.169.254",
        "[64:ff9b::a9fe:a9fe]",
        "[::7f00:1]",
        "[2002:7f00:1::]",
        "100.64.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "[fec0::1]",
        "10.0.0.1",
    ] {
        let url = format!("http://{host}:8080");
        let res = post(json!({"id": "evil", "apiBase": url, "loginBase": url,
            "clients": [{"id": "c", "secret": "s"}]}))
        .await
        .unwrap();
        assert_eq!(res.status(), 400, "{host}");
        let body: serde_json::Value = res.json().await.unwrap();
        let details = body["details"].to_string();
        assert!(
            details.contains("apiBase") && details.contains("[egress] allow"),
            "{host}: {details}"
        );
    }

    // caFile: only a small regular PEM file below `[admin] ca_dir` (here the scratch dir, the config's).
    let fifo = scratch.0.join("ca.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = scratch.0.join("big.pem");
    std::fs::write(&big, vec![b'A'; 2 << 20]).unwrap();
    for ca in [
        "/proc/self/mem".to_string(),
        "/dev/zero".to_string(),
        "../../../etc/ssl/certs/ca-certificates.crt".to_string(),
        fifo.display().to_string(),
        big.display().to_string(),
    ] {
        let res = post(json!({"id": "beta", "apiBase": "https://api.example.com",
            "loginBase": "https://login.example.com", "clients": [{"id": "c", "secret": "s"}],
            "caFile": ca}))
        .await
        .unwrap();
        assert_eq!(res.status(), 400, "{ca}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            body["details"].to_string().contains("caFile"),
            "{ca}: {body}"
        );
    }
    let health = http
        .get(format!("{}/healthz", admin.base))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sinks_stay_in_the_data_directory_and_urls_never_show_their_credentials() {
    let sim = Sim::start(|_| {});
    let App {
        engine,
        admin,
        scratch,
    } = App::builder(&sim)
        .tenant("acme", &["v2.users.nobody.presence".to_string()])
        .client("demo", "secret")
        .sink_file()
        .master_key()
        .admin_token(ADMIN)
        .start();
    let admin = admin.unwrap();
    let http = reqwest::Client::new();
    let put = |name: &str, body: serde_json::Value| {
        http.put(format!("{}/v1/sinks/{name}", admin.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let outside = tempfile_dir();
    std::os::unix::fs::symlink(&outside, scratch.0.join("escape")).unwrap();
    for (path, why) in [
        ("../../../var/tmp/x.jsonl".to_string(), "`..`"),
        ("/proc/self/mem".to_string(), "outside"),
        ("escape/x.jsonl".to_string(), "outside"),
        (scratch.0.join("store.db").display().to_string(), "store"),
        (
            scratch
                .0
                .join("spool/file/segment.log")
                .display()
                .to_string(),
            "spool",
        ),
    ] {
        let res = put("evil", json!({"kind": "file", "path": path}))
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        let details = body["details"].to_string();
        assert!(
            details.contains("path") && details.contains(why),
            "{path}: {details}"
        );
    }
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing was written outside"
    );
    // A relative path lands in the data directory (the config file's, here the scratch dir).
    let res = put(
        "inside",
        json!({"kind": "file", "path": "out/inside.jsonl"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let view: serde_json::Value = res.json().await.unwrap();
    let shown = view["path"].as_str().unwrap().to_string();
    assert!(
        std::path::Path::new(&shown).starts_with(scratch.0.canonicalize().unwrap()),
        "{shown}"
    );

    // Credentials in a webhook's URL are shown as *** in the answer, the list and the audit log.
    let res = put(
        "hook",
        json!({"kind": "webhook", "url": "https://bob:hunter2@hooks.example.com/x?token=canary-token",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let answer = res.text().await.unwrap();
    let list = http
        .get(format!("{}/v1/sinks", admin.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let audit = http
        .get(format!("{}/v1/audit", admin.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (what, text) in [("answer", &answer), ("list", &list), ("audit", &audit)] {
        assert!(
            !text.contains("hunter2") && !text.contains("canary-token"),
            "{what}: {text}"
        );
    }
    assert!(
        answer.contains("https://***:***@hooks.example.com/x?token=***"),
        "{answer}"
    );
    engine.stop();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-outside-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
