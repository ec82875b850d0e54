//! The README's recipes, each run as written: its TOML block is taken from README.md, the simulator's address,
//! free ports and the simulator's ids put where the recipe says, and the outcome it promises checked.

use std::path::Path;

use serde_json::{Value, json};
use switchboard::config::Config;
use switchboard::sim::workload::Family;

use crate::harness::*;

/// The TOML block of recipe `name` in README.md (the one starting `# recipe: <name>`).
fn recipe(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find(&format!("```toml\n# recipe: {name}\n"))
        .unwrap_or_else(|| panic!("README.md has no recipe {name}"));
    let body = &readme[start + "```toml\n".len()..];
    body[..body.find("\n```").unwrap()].to_string()
}

/// The recipe with the simulator's address and `replacements` (placeholder, value) put in, saved beside its
/// files in `scratch`.
fn fill(
    name: &str,
    sim: &Sim,
    scratch: &Scratch,
    replacements: &[(&str, String)],
) -> std::path::PathBuf {
    let mut text = recipe(name).replace("http://127.0.0.1:8090", sim.base());
    for (from, to) in replacements {
        assert!(text.contains(from), "recipe {name} has {from}");
        text = text.replace(from, to);
    }
    assert!(
        !text.contains("<"),
        "every placeholder of recipe {name} is filled:\n{text}"
    );
    let path = scratch.0.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the engine in this process from a recipe file (recipes without an admin API).
fn start_recipe(path: &Path) -> switchboard::engine::EngineHandle {
    let config = Config::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    start(config)
}

/// The JSON lines of a file beside the recipe (none while it does not exist).
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The topic id of an entity in a topic (`v2.users.<id>.presence` → `<id>`).
fn entity(topic: &str, at: usize) -> String {
    topic.split('.').nth(at).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_adherence_streams_a_users_presence_routing_status_and_conversations() {
    let sim = Sim::start(|c| {
        c.workload.users = 1;
        c.workload.queues = 1;
        c.workload.families = vec![
            Family::Presence,
            Family::RoutingStatus,
            Family::UserConversations,
        ];
    });
    let user = entity(&sim.topics(&["presence"]).await[0], 2);
    let scratch = Scratch::new();
    let path = fill("adherence", &sim, &scratch, &[("<user-id>", user.clone())]);
    let engine = start_recipe(&path);
    wait_live(&engine, "acme", 1).await;
    sim.workload(json!({"ratePerSecond": 50.0, "families": ["presence", "routingStatus", "userConversations"]}))
        .await;
    let out = scratch.0.join("adherence.jsonl");
    wait_until("the three families in the sink", || async {
        let families: std::collections::BTreeSet<String> = lines(&out)
            .iter()
            .filter_map(|r| r["topicFamily"].as_str().map(str::to_string))
            .collect();
        families.len() == 3
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    for r in lines(&out).iter().filter(|r| r["kind"] == "event") {
        assert!(r["topic"].as_str().unwrap().contains(&user), "{r}");
    }
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_conversations_brings_back_what_a_drop_missed() {
    let sim = Sim::start(|c| {
        c.workload.queues = 1;
        c.workload.users = 5;
        c.workload.families = vec![Family::QueueConversations];
    });
    let queue = entity(&sim.topics(&["queueConversations"]).await[0], 3);
    let scratch = Scratch::new();
    let path = fill("conversations", &sim, &scratch, &[("<queue-id>", queue)]);
    let engine = start_recipe(&path);
    wait_live(&engine, "acme", 1).await;
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["queueConversations"]}))
        .await;
    let out = scratch.0.join("conversations.jsonl");
    wait_until("events", || async { lines(&out).len() > 20 }).await;
    let channel = engine.status().await.unwrap().tenants[0].channels[0]
        .channel_id
        .clone()
        .unwrap();
    // A drop without warning (the default heartbeat timeout would take a minute to see a silent stall).
    sim.inject(FaultRequest {
        channel: Some(channel),
        ..fault(FaultKind::Drop)
    })
    .await;
    wait_until("a gap and its backfill", || async {
        let records = lines(&out);
        records.iter().any(|r| r["kind"] == "gap")
            && records.iter().any(|r| r["kind"] == "backfill")
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    engine.stop();
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_kafka_keys_each_queues_conversations_by_the_queue() {
    let brokers = crate::kafka::broker_or_fail();
    let sim = Sim::start(|c| {
        c.workload.queues = 1;
        c.workload.users = 5;
        c.workload.families = vec![Family::QueueConversations];
    });
    let queue = entity(&sim.topics(&["queueConversations"]).await[0], 3);
    let scratch = Scratch::new();
    // A tenant id of its own, so that the topic is this test's.
    let tenant = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let path = fill(
        "kafka",
        &sim,
        &scratch,
        &[
            ("<queue-id>", queue.clone()),
            ("127.0.0.1:19092", brokers.clone()),
            ("id = \"acme\"", format!("id = \"{tenant}\"")),
        ],
    );
    let engine = start_recipe(&path);
    wait_live(&engine, &tenant, 1).await;
    let reader = crate::kafka::Reader::start(&brokers, &format!("genesys.{tenant}.conversations"));
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["queueConversations"]}))
        .await;
    wait_until("conversations in Kafka", || async {
        reader.records().len() >= 20
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    for r in reader.records() {
        assert_eq!(r.key, queue, "keyed by the queue");
        assert_eq!(r.envelope["tenant"], tenant.as_str());
    }
    engine.stop();
}

/// The correlation ids of the events in `records`, each once (a second copy fails the test).
fn correlation_ids(records: &[Value]) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    for r in records.iter().filter(|r| r["kind"] == "event") {
        let id = r["correlationId"].as_str().unwrap().to_string();
        assert!(ids.insert(id), "delivered twice: {r}");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_filtered_delivers_exactly_the_ledgers_presence_events_that_are_not_offline() {
    let sim = Sim::start(|c| {
        c.workload.users = 2;
        c.workload.families = vec![Family::Presence];
    });
    let presence = sim.topics(&["presence"]).await;
    let (a, b) = (entity(&presence[0], 2), entity(&presence[1], 2));
    let followed: Vec<String> = presence[..2]
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let scratch = Scratch::new();
    let path = fill(
        "filtered",
        &sim,
        &scratch,
        &[("<user-id>", a), ("<user-id-2>", b)],
    );
    let engine = start_recipe(&path);
    wait_live(&engine, "acme", 1).await;
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["presence"]}))
        .await;
    let (all, present) = (scratch.0.join("all.jsonl"), scratch.0.join("present.jsonl"));
    let offline = |r: &Value| r["body"]["presenceDefinition"]["systemPresence"] == "Offline";
    // Offline is one draw in twenty: wait until both kinds have happened.
    wait_until("Offline and other presence events", || async {
        let records = lines(&all);
        records.iter().any(offline) && records.iter().filter(|r| !offline(r)).count() >= 10
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;

    // The unfiltered route has every event the ledger has on the followed topics, once.
    let ledger = || async {
        sim.ledger()
            .await
            .into_iter()
            .filter(|e| followed.contains(&e["topic"].as_str().unwrap().to_ascii_lowercase()))
            .map(|e| e["correlationId"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<String>>()
    };
    wait_until("every ledger event in the unfiltered file", || async {
        correlation_ids(&lines(&all)) == ledger().await
    })
    .await;
    let everything = lines(&all);
    assert!(everything.iter().all(|r| r["kind"] == "event"), "no gap");
    let expected: std::collections::BTreeSet<String> = everything
        .iter()
        .filter(|r| !offline(r))
        .map(|r| r["correlationId"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() < everything.len(), "some were Offline");
    // The filtered route has exactly the ledger's events that are not Offline.
    wait_until("the filtered file complete", || async {
        correlation_ids(&lines(&present)).len() >= expected.len()
    })
    .await;
    assert_eq!(correlation_ids(&lines(&present)), expected);
    assert!(!lines(&present).iter().any(offline));
    engine.stop();
}

/// Runs `serve` on a recipe with the admin API on free ports; returns the process and the two addresses.
async fn serve_recipe(path: &Path, env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let child = spawn_serve_with(path, env);
    let text = std::fs::read_to_string(path).unwrap();
    let admin = text
        .lines()
        .find_map(|l| l.strip_prefix("listen = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .unwrap();
    let base = format!("http://{admin}");
    wait_until("the admin API up", || async {
        reqwest::get(format!("{base}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_presence_keeps_changes_of_the_listed_users_with_metrics_and_audit() {
    const ADMIN: &str = "recipe-admin-token-0123456789abcdef";
    const READ: &str = "recipe-read-token-0123456789abcdef";
    let sim = Sim::start(|c| {
        c.workload.users = 5;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let presence = sim.topics(&["presence"]).await;
    let (a, b) = (entity(&presence[0], 2), entity(&presence[1], 2));
    let scratch = Scratch::new();
    let (admin_port, metrics_port) = (free_port(), free_port());
    let path = fill(
        "presence",
        &sim,
        &scratch,
        &[
            ("<user-id>", a.clone()),
            ("<user-id-2>", b.clone()),
            ("127.0.0.1:8081", format!("127.0.0.1:{admin_port}")),
            ("127.0.0.1:9090", format!("127.0.0.1:{metrics_port}")),
        ],
    );
    let (mut child, base) = serve_recipe(
        &path,
        &[
            ("SWITCHBOARD_ADMIN_TOKEN", ADMIN),
            ("SWITCHBOARD_READ_TOKEN", READ),
        ],
    )
    .await;
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["presence", "routingStatus"]}))
        .await;
    let out = scratch.0.join("presence.jsonl");
    wait_until("presence of both users", || async {
        let records = lines(&out);
        [&a, &b].iter().all(|u| {
            records
                .iter()
                .any(|r| r["topic"].as_str().is_some_and(|t| t.contains(u.as_str())))
        })
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    for r in lines(&out) {
        assert_eq!(
            r["topicFamily"], "v2.users.{id}.presence",
            "only presence: {r}"
        );
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_delivery_latency_seconds_count{sink=\"presence\"}"),
        "the latency of deliveries is measured"
    );
    let audit = reqwest::Client::new()
        .get(format!("{base}/v1/audit"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(audit.status(), 200);
    child.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipe_resume_lets_a_consumer_reconnect_without_missing_events() {
    const READ: &str = "a-read-token-of-at-least-32-characters";
    let sim = Sim::start(|c| {
        c.workload.users = 2;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let user = entity(&sim.topics(&["presence"]).await[0], 2);
    let scratch = Scratch::new();
    let admin_port = free_port();
    let path = fill(
        "resume",
        &sim,
        &scratch,
        &[
            ("<user-id>", user),
            ("127.0.0.1:8081", format!("127.0.0.1:{admin_port}")),
        ],
    );
    let (mut child, base) = serve_recipe(&path, &[("SWITCHBOARD_READ_TOKEN", READ)]).await;
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["presence", "routingStatus"]}))
        .await;
    // As the README's curl: from the start of the log.
    let mut sse = Sse::open(&format!("{base}/v1/tenants/acme/events"), READ, Some(0)).await;
    let mut seen = Vec::new();
    while seen.len() < 20 {
        seen.push(sse.next(PATIENCE).await.expect("a record"));
    }
    drop(sse);
    assert_eq!(
        seen.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    // After its own outage the consumer resumes with the CLI, after the last id it saw.
    let mut tail = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "tail", "acme", "--after", "20", "--url", &base, "--token", READ,
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut out = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(PATIENCE, out.next_line())
        .await
        .expect("a line from switchboard tail")
        .unwrap()
        .unwrap();
    let record: Value = serde_json::from_str(&first).unwrap();
    let page = reqwest::Client::new()
        .get(format!("{base}/v1/tenants/acme/records?after=20&limit=1"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        record, page["records"][0]["record"],
        "the CLI resumes at record 21"
    );
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    tail.kill().await.ok();
    child.kill().await.ok();
}
