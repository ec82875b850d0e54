//! Cluster mode: three `switchboard serve` processes on one PostgreSQL database share nine tenants; a killed
//! instance's tenants are taken over (their recorded channels adopted) inside `failover` gaps, and a frozen
//! one wakes up fenced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchboard::sim::workload::Family;

use crate::harness::*;

const TOKEN: &str = "cluster-admin-token-0123456789abcdef";
const TENANTS: usize = 9;

fn postgres_or_fail() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_POSTGRES_URL is not set: the cluster tests need PostgreSQL \
             (scripts/test.sh sets it to postgres://postgres@127.0.0.1:5432/test)"
        )
    })
}

/// Drops a test database (the processes using it are gone by then).
async fn drop_database(url: &str, db_url: &str) {
    let name = db_url.rsplit('/').next().unwrap_or_default().to_string();
    if let Ok(admin) = sqlx::PgPool::connect(url).await {
        // The name is ours (a UUID), not input.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

/// A database of its own for one test, on the test server.
async fn fresh_database(url: &str) -> String {
    let name = format!("sb_cluster_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("the test PostgreSQL answers");
    // The name is ours (a UUID), not input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("a test database");
    admin.close().await;
    let (base, _) = url.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

struct Node {
    id: String,
    admin: String,
    child: tokio::process::Child,
}

impl Node {
    async fn get(&self, path: &str) -> Option<Value> {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        res.status().is_success().then_some(())?;
        res.json().await.ok()
    }

    fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }
}

/// Owner of each tenant as instance `via` sees the cluster.
async fn owners(via: &Node) -> Option<BTreeMap<String, String>> {
    let view = via.get("/v1/cluster").await?;
    Some(
        view["tenants"]
            .as_array()?
            .iter()
            .filter_map(|t| {
                Some((
                    t["id"].as_str()?.to_string(),
                    t["owner"].as_str()?.to_string(),
                ))
            })
            .collect(),
    )
}

fn spread(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for o in owners.values() {
        *by.entry(o.clone()).or_default() += 1;
    }
    by
}

/// One cluster under test: a simulator with a user per tenant, a fresh database, and the configuration every
/// instance runs (short timers, a file sink per instance).
struct Setup {
    server: String,
    db: String,
    sim: Sim,
    presence: Vec<String>,
    scratch: Scratch,
    config: std::path::PathBuf,
}

impl Setup {
    /// On the test PostgreSQL server.
    async fn new() -> Setup {
        Setup::on(postgres_or_fail()).await
    }

    /// On the PostgreSQL server at `server`, in a database of its own.
    async fn on(server: String) -> Setup {
        let db = fresh_database(&server).await;
        let sim = Sim::start(|c| {
            c.workload.users = TENANTS;
            c.workload.families = vec![Family::Presence, Family::RoutingStatus];
        });
        let presence = sim.topics(&["presence"]).await;
        let scratch = Scratch::new();
        let key_file = scratch.0.join("master.key");
        std::fs::write(
            &key_file,
            switchboard::secrets::MasterKey::generate().to_base64(),
        )
        .unwrap();
        let mut text = format!(
            r#"
[engine]
ping_interval = "200ms"
heartbeat_timeout = "1500ms"

[store]
url = "{db}"
spool_dir = "{spool}"
key_file = "{key}"

[egress]
allow = ["127.0.0.0/8"]

[cluster]
lease_ttl = "3s"
renew_interval = "1s"
renew_deadline = "2s"
acquire_interval = "500ms"

[[sinks]]
name = "events"
kind = "file"
path = "{events}"

[[routes]]
sinks = ["events"]

[admin]
[[admin.tokens]]
name = "test"
role = "admin"
token_sha256 = "{hash}"
"#,
            spool = scratch.0.join("spool").display(),
            key = key_file.display(),
            events = scratch.0.join("events.jsonl").display(),
            hash = hex(switchboard::config::hash_token(TOKEN)),
        );
        for (i, topic) in presence.iter().enumerate() {
            text.push_str(&format!(
                "\n[[tenants]]\nid = \"t{i}\"\napi_base = \"{base}\"\nlogin_base = \"{base}\"\ntopics = [\"{topic}\"]\n\
                 [[tenants.clients]]\nid = \"demo\"\nsecret = \"secret\"\n",
                base = sim.base()
            ));
        }
        let config = scratch.0.join("cluster.toml");
        std::fs::write(&config, text).unwrap();
        Setup {
            server,
            db,
            sim,
            presence,
            scratch,
            config,
        }
    }

    /// Starts instance `sb-{i}` on a free port.
    fn start(&self, i: usize) -> Node {
        let port = free_port();
        let id = format!("sb-{i}");
        let listen = format!("127.0.0.1:{port}");
        let advertise = format!("http://{listen}");
        Node {
            child: spawn_serve_with(
                &self.config,
                &[
                    ("SWITCHBOARD_INSTANCE_ID", &id),
                    ("SWITCHBOARD_ADMIN_LISTEN", &listen),
                    ("SWITCHBOARD_ADVERTISE_URL", &advertise),
                ],
            ),
            admin: format!("http://{listen}"),
            id,
        }
    }

    /// Waits for a fair spread over `nodes` (each holds the same share) with every tenant's socket open once.
    async fn balanced(&self, nodes: &[Node]) {
        let share = TENANTS / nodes.len();
        wait_until(
            &format!(
                "nine tenants spread {share} each over {} instances, nine sockets open",
                nodes.len()
            ),
            || async {
                let Some(o) = owners(&nodes[0]).await else {
                    return false;
                };
                let by = spread(&o);
                o.len() == TENANTS
                    && by.len() == nodes.len()
                    && nodes.iter().all(|n| by.get(&n.id) == Some(&share))
                    && self.sim.stats().await.sockets_open == TENANTS as u64
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_nine_tenants_take_over_a_killed_one_and_fence_a_frozen_one() {
    let setup = Setup::new().await;
    let Setup {
        server,
        db,
        sim,
        scratch,
        ..
    } = &setup;
    let start = |i: usize| setup.start(i);
    let mut nodes: Vec<Node> = (0..3).map(start).collect();

    // A fair spread: 3/3/3, every tenant live once.
    wait_until(
        "nine tenants spread 3/3/3 and nine sockets open",
        || async {
            let Some(o) = owners(&nodes[0]).await else {
                return false;
            };
            o.len() == TENANTS
                && spread(&o).values().all(|&n| n == 3)
                && spread(&o).len() == 3
                && sim.stats().await.sockets_open == TENANTS as u64
        },
    )
    .await;
    sim.workload(json!({"ratePerSecond": 100.0, "families": ["presence", "routingStatus"]}))
        .await;
    let created = sim.stats().await.channels_created;
    assert_eq!(created, TENANTS as u64);

    // Every cluster metric the dashboards query is exported by a cluster instance (the dashboards' live check
    // runs the demo, a single instance, where these series do not exist).
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", nodes[0].admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut named = std::collections::BTreeSet::new();
    for dashboard in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards")).unwrap()
    {
        let text = std::fs::read_to_string(dashboard.unwrap().path()).unwrap();
        for (at, _) in text.match_indices("switchboard_cluster_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            named.insert(name);
        }
    }
    assert!(
        named.len() >= 5,
        "the dashboards chart the cluster: {named:?}"
    );
    for name in &named {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "a cluster instance exports {name}"
        );
    }

    // A change made through an instance that does not own the tenant reaches its owner through the store.
    let o = owners(&nodes[0]).await.unwrap();
    let (tenant, owner) = o
        .iter()
        .next()
        .map(|(t, o)| (t.clone(), o.clone()))
        .unwrap();
    let other = nodes.iter().find(|n| n.id != owner).unwrap();
    let owning = nodes.iter().find(|n| n.id == owner).unwrap();
    let index: usize = tenant[1..].parse().unwrap();
    let routing = sim.topics(&["routingStatus"]).await[index].clone();
    let res = reqwest::Client::new()
        .post(format!("{}/v1/tenants/{tenant}/topics", other.admin))
        .bearer_auth(TOKEN)
        .json(&json!({"topics": [routing]}))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    wait_until("the owner subscribed the topic added elsewhere", || async {
        owning
            .get(&format!("/v1/tenants/{tenant}/topics"))
            .await
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|topics| {
                topics.iter().any(|t| {
                    t["topic"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&routing))
                        && t["state"] == "Permitted"
                })
            })
    })
    .await;

    // Another instance sends a reader of the tenant's status to the owner.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/v1/tenants/{tenant}/status", other.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(
        res.headers()["location"],
        format!("{}/v1/tenants/{tenant}/status", owning.admin).as_str()
    );

    // (A topic of the same user joins its combined subscription: the tenant may move it to a new channel.)
    wait_until("nine sockets open", || async {
        sim.stats().await.sockets_open == TENANTS as u64
    })
    .await;
    let created = sim.stats().await.channels_created;

    // kill -9 of one: its tenants are live on the others, their recorded channels adopted.
    let before = owners(&nodes[1]).await.unwrap();
    let victim = nodes.remove(0);
    let moved: Vec<String> = before
        .iter()
        .filter(|(_, o)| **o == victim.id)
        .map(|(t, _)| t.clone())
        .collect();
    let mut victim = victim;
    let killed = Instant::now();
    victim.child.kill().await.expect("SIGKILL");
    wait_until(
        "the killed instance's tenants owned by the others and live",
        || async {
            let Some(o) = owners(&nodes[0]).await else {
                return false;
            };
            o.len() == TENANTS
                && o.values().all(|owner| *owner != victim.id)
                && sim.stats().await.sockets_open == TENANTS as u64
        },
    )
    .await;
    let took = killed.elapsed();
    eprintln!("takeover after kill -9: {took:?}");
    assert!(
        took < Duration::from_secs(3 + 1 + 3),
        "taken over within about TTL + acquire interval (+ slack): {took:?}"
    );
    assert_eq!(
        sim.stats().await.channels_created,
        created,
        "the recorded channels were adopted, none created beside them"
    );
    // One failover gap per moved tenant, in the takers' files.
    wait_until("a failover gap for every moved tenant", || async {
        let mut gaps = Vec::new();
        for n in &nodes {
            let path = scratch.0.join(format!("events.{}.jsonl", n.id));
            for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line)
                    && v["kind"] == "gap"
                {
                    gaps.push(v);
                }
            }
        }
        moved.iter().all(|t| {
            gaps.iter()
                .any(|g| g["tenant"] == t.as_str() && g["reason"] == "failover")
        }) && gaps.iter().all(|g| g["reason"] == "failover")
    })
    .await;

    // kill -STOP for twice the TTL: its tenants move; after CONT it claims nothing it lost.
    let frozen = nodes.remove(0);
    let survivor = &nodes[0];
    let frozen_tenants: Vec<String> = owners(survivor)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, o)| *o == frozen.id)
        .map(|(t, _)| t)
        .collect();
    assert!(!frozen_tenants.is_empty());
    // SAFETY: a signal to a child process this test started.
    unsafe { libc::kill(frozen.pid(), libc::SIGSTOP) };
    wait_until("the frozen instance's tenants on the survivor", || async {
        owners(survivor)
            .await
            .is_some_and(|o| o.len() == TENANTS && o.values().all(|owner| *owner == survivor.id))
            && sim.stats().await.sockets_open == TENANTS as u64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await; // the freeze itself: twice the TTL
    let before_wake = sim.stats().await;
    // SAFETY: as above.
    unsafe { libc::kill(frozen.pid(), libc::SIGCONT) };
    // Woken, it finds its leases gone and stops those tenants (counted), without taking a socket back.
    let counter = |name: &'static str| {
        let admin = frozen.admin.clone();
        async move {
            let text = reqwest::Client::new()
                .get(format!("{admin}/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        }
    };
    wait_until("the woken instance gave its tenants up", || async {
        counter("switchboard_cluster_leases_lost_total")
            .await
            .is_some_and(|n| n >= frozen_tenants.len() as f64)
    })
    .await;
    let after_wake = sim.stats().await;
    assert_eq!(
        after_wake.sockets_open, TENANTS as u64,
        "every tenant live once"
    );
    assert_eq!(
        (after_wake.sockets_opened, after_wake.channels_created),
        (before_wake.sockets_opened, before_wake.channels_created),
        "the woken instance opened no socket and created no channel (none was displaced either)"
    );
    // What it tried to claim on waking (reconnects, proofs of life) was refused, and counted.
    wait_until("the woken instance's refused claims counted", || async {
        counter("switchboard_cluster_fenced_total")
            .await
            .is_some_and(|n| n > 0.0)
    })
    .await;
    drop(frozen);
    drop(nodes);
    drop_database(server, db).await;
}

/// Every instance's file sink (`events.<instance>.jsonl`): how many copies of each event id, and the gaps.
fn read_all_sinks(scratch: &Scratch) -> (BTreeMap<String, usize>, Vec<Value>) {
    let mut events = BTreeMap::new();
    let mut gaps = Vec::new();
    for entry in std::fs::read_dir(&**scratch.0).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("events.") && name.ends_with(".jsonl")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        // A last line without its newline is still being written.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        for line in complete.lines() {
            let v: Value = serde_json::from_str(line).expect("a sink line is JSON");
            match v["kind"].as_str() {
                Some("event") => {
                    *events
                        .entry(v["correlationId"].as_str().unwrap().to_string())
                        .or_default() += 1
                }
                Some("gap") => gaps.push(v),
                _ => {}
            }
        }
    }
    (events, gaps)
}

/// Stops an instance with SIGTERM and waits for it to exit; it must exit cleanly.
async fn terminate(mut node: Node) {
    // SAFETY: a signal to a child process this test started.
    unsafe { libc::kill(node.pid(), libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(30), node.child.wait())
        .await
        .unwrap_or_else(|_| panic!("{} did not stop within 30 s of SIGTERM", node.id))
        .expect("wait");
    assert!(status.success(), "{} exited with {status}", node.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_hands_every_tenant_over_without_a_gap_or_a_lost_event() {
    let setup = Setup::new().await;
    let sim = &setup.sim;
    let mut nodes: Vec<Node> = (0..3).map(|i| setup.start(i)).collect();
    setup.balanced(&nodes).await;
    sim.workload(json!({"ratePerSecond": 60.0, "families": ["presence"]}))
        .await;

    // `switchboard status` on any instance names each tenant's owner.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["status", "--url", &nodes[1].admin, "--token", TOKEN])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let o = owners(&nodes[0]).await.unwrap();
    assert!(table.lines().next().unwrap().contains("OWNER"), "{table}");
    for (tenant, owner) in &o {
        assert!(
            table.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&tenant.as_str()) && cells.get(1) == Some(&owner.as_str())
            }),
            "{tenant} owned by {owner}: {table}"
        );
    }

    // One at a time: SIGTERM hands the instance's tenants to the other two (no gap), then the restarted
    // instance takes its share back from them (a handover too).
    for round in 0..3 {
        let leaving = nodes.remove(0);
        let id = leaving.id.clone();
        let held: Vec<String> = owners(&nodes[0])
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, o)| *o == id)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(held.len(), 3, "round {round}: {id} holds its share");
        terminate(leaving).await;
        let o = owners(&nodes[0]).await.unwrap();
        assert!(
            held.iter()
                .all(|t| o.get(t).is_some_and(|owner| *owner != id)),
            "round {round}: {id}'s tenants were taken before it exited: {o:?}"
        );
        assert_eq!(sim.stats().await.sockets_open, TENANTS as u64);
        let (_, gaps) = read_all_sinks(&setup.scratch);
        assert!(
            gaps.is_empty(),
            "round {round}: no gap after SIGTERM: {gaps:?}"
        );
        let index: usize = id["sb-".len()..].parse().unwrap();
        nodes.push(setup.start(index));
        setup.balanced(&nodes).await;
    }
    assert_eq!(
        sim.stats().await.channels_created,
        TENANTS as u64,
        "every handover adopted the recorded channels, none was created beside them"
    );
    // The metrics say so: the last instance back took its three tenants by handover, nobody by takeover.
    let mut handovers = 0.0;
    for n in &nodes {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", n.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        assert_eq!(
            value("switchboard_cluster_takeovers_total"),
            0.0,
            "{}",
            n.id
        );
        handovers += value("switchboard_cluster_handovers_total");
    }
    assert!(handovers >= 3.0, "tenants taken by handover: {handovers}");

    // Every event of the followed topics reached a sink; no gap anywhere (sinks and store).
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let followed: std::collections::BTreeSet<String> = setup
        .presence
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let ledger: Vec<Value> = sim
        .ledger()
        .await
        .into_iter()
        .filter(|e| {
            e["topic"]
                .as_str()
                .is_some_and(|t| followed.contains(&t.to_ascii_lowercase()))
        })
        .collect();
    assert!(
        ledger.len() > 100,
        "the workload ran: {} events",
        ledger.len()
    );
    let missing = || {
        let (events, _) = read_all_sinks(&setup.scratch);
        ledger
            .iter()
            .filter(|e| !events.contains_key(e["correlationId"].as_str().unwrap_or_default()))
            .cloned()
            .collect::<Vec<Value>>()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !missing().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    let lost = missing();
    assert!(
        lost.is_empty(),
        "{} of {} ledger events in no sink, e.g. {:?}",
        lost.len(),
        ledger.len(),
        &lost[..lost.len().min(5)]
    );
    let (_, gaps) = read_all_sinks(&setup.scratch);
    assert!(gaps.is_empty(), "no gap record: {gaps:?}");
    let stored = nodes[0].get("/v1/gaps").await.expect("the gaps");
    assert_eq!(
        stored.as_array().map(Vec::len),
        Some(0),
        "no gap stored: {stored}"
    );
    drop(nodes);
    drop_database(&setup.server, &setup.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_the_cluster_loses_nothing_without_a_gap_and_the_leases_recover()
{
    // A server of this test's own: the shared one is not ours to stop.
    let pg = OwnPostgres::start();
    let setup = Setup::on(pg.url()).await;
    let sim = &setup.sim;
    let nodes: Vec<Node> = (0..3).map(|i| setup.start(i)).collect();
    setup.balanced(&nodes).await;
    sim.workload(json!({"ratePerSecond": 60.0, "families": ["presence"]}))
        .await;
    wait_until("the workload reaches the sinks", || async {
        read_all_sinks(&setup.scratch).0.len() > 50
    })
    .await;

    // Down for longer than the lease TTL: every instance passes its renew deadline and self-fences.
    pg.down();
    tokio::time::sleep(Duration::from_secs(4)).await; // the outage itself
    pg.up();

    // The leases recover: every tenant owned again, its socket open once.
    wait_until("every tenant owned and live again", || async {
        let Some(o) = owners(&nodes[0]).await else {
            return false;
        };
        o.len() == TENANTS && sim.stats().await.sockets_open == TENANTS as u64
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;

    // Every event of the followed topics reached a sink, or lies inside a gap of its topic.
    let followed: std::collections::BTreeSet<String> = setup
        .presence
        .iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let ledger: Vec<(String, String, DateTime<Utc>)> = sim
        .ledger()
        .await
        .into_iter()
        .filter_map(|e| {
            let topic = e["topic"].as_str()?.to_ascii_lowercase();
            followed.contains(&topic).then(|| {
                (
                    e["correlationId"].as_str().unwrap().to_string(),
                    topic,
                    e["at"].as_str().unwrap().parse().unwrap(),
                )
            })
        })
        .collect();
    let silently_lost = || {
        let (events, gaps) = read_all_sinks(&setup.scratch);
        ledger
            .iter()
            .filter(|(id, topic, at)| {
                !events.contains_key(id)
                    && !gaps.iter().any(|g| {
                        let covers_topic = g["topics"].as_array().is_some_and(|ts| {
                            ts.iter()
                                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(topic)))
                        });
                        let from: Option<DateTime<Utc>> =
                            g["from"].as_str().and_then(|t| t.parse().ok());
                        let to: Option<DateTime<Utc>> =
                            g["to"].as_str().and_then(|t| t.parse().ok());
                        covers_topic
                            && from.is_some_and(|f| f <= *at)
                            && to.is_some_and(|t| *at <= t)
                    })
            })
            .count()
    };
    wait_until("every event delivered or inside a gap", || async {
        silently_lost() == 0
    })
    .await;
    drop(nodes);
    drop_database(&setup.server, &setup.db).await;
}
