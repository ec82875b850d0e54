//! The supervisor hears of a tenant's end from the tenant itself, and restarts only the one running now.

use std::time::Duration;

use super::*;
use crate::config::{BackoffPolicy, Config};
use crate::store::sqlite::SqliteStore;

/// The number and address of the tenant's running actor (for the tests only).
#[derive(Message)]
#[rtype(result = "Option<(u64, Addr<TenantActor>)>")]
struct Running(String);

impl Handler<Running> for Supervisor {
    type Result = Option<(u64, Addr<TenantActor>)>;
    fn handle(&mut self, Running(id): Running, _: &mut Context<Self>) -> Self::Result {
        let r = self.children.get(&id)?.running.as_ref()?;
        Some((r.number, r.addr.clone()))
    }
}

/// A tenant with no topics, with `api_base` varied to make a change. Nothing answers there: its actor runs,
/// fails to get a token and waits.
fn tenant(id: &str, api_base: &str) -> TenantConfig {
    let text = format!(
        "[[tenants]]\nid = \"{id}\"\napi_base = \"{api_base}\"\nlogin_base = \"{api_base}\"\n\
         [[tenants.clients]]\nid = \"c\"\nsecret = \"s\"\n"
    );
    let mut config = Config::from_toml_str(&text, std::path::Path::new("/tmp")).expect("valid");
    config.tenants.remove(0)
}

async fn supervisor(tenants: Vec<TenantConfig>) -> (Addr<Supervisor>, Arc<Metrics>) {
    let (sup, metrics, _) = supervisor_and_board(tenants).await;
    (sup, metrics)
}

async fn supervisor_and_board(
    tenants: Vec<TenantConfig>,
) -> (Addr<Supervisor>, Arc<Metrics>, Arc<StatusBoard>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.expect("store"));
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (router, _) =
        crate::router::spawn(&[], Vec::new(), store.clone(), 16, 100, metrics.clone());
    let policy = EnginePolicy {
        // Restarts at once, so that the tests wait for little.
        backoff: BackoffPolicy {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
            ..BackoffPolicy::default()
        },
        ..EnginePolicy::default()
    };
    let shared = Arc::new(EngineShared {
        policy,
        router,
        store,
        http: reqwest::Client::new(),
        arbiters: Arc::new(vec![Arbiter::current()]),
        metrics: metrics.clone(),
        egress: crate::egress::Egress::unrestricted(),
        board: Arc::new(StatusBoard::new()),
        fence: crate::fence::Fence::open(),
        clustered: false,
    });
    let board = shared.board.clone();
    (Supervisor::new(shared, tenants).start(), metrics, board)
}

async fn running(sup: &Addr<Supervisor>, id: &str) -> Option<(u64, Addr<TenantActor>)> {
    sup.send(Running(id.into()))
        .await
        .expect("the supervisor answers")
}

/// Tenant restarts counted as `stopped`.
async fn restarts(metrics: &Metrics) -> u64 {
    restarts_for(metrics, "stopped").await
}

/// Tenant restarts counted with `reason`.
async fn restarts_for(metrics: &Metrics, reason: &str) -> u64 {
    let text = metrics
        .render::<crate::metrics::SinkSnapshot>(None, &[])
        .await
        .expect("render");
    let series = format!(r#"switchboard_actor_restarts_total{{kind="tenant",reason="{reason}"}}"#);
    text.lines()
        .find(|l| l.starts_with(&series))
        .and_then(|l| l.rsplit_once(' '))
        .map_or(0, |(_, v)| v.parse().expect("a number"))
}

#[actix::test]
async fn a_tenant_ended_without_being_asked_is_counted_as_a_panic_and_restarted() {
    let (sup, metrics) = supervisor(vec![tenant("acme", "http://127.0.0.1:1")]).await;
    let (first, _) = running(&sup, "acme").await.expect("running");
    // What a tenant actor's notice says when a panic unwound it: nobody asked it to stop.
    sup.send(TenantStopped {
        id: "acme".into(),
        incarnation: first,
        requested: false,
    })
    .await
    .expect("delivered");
    let second = restarted(&sup, "acme", first).await;
    assert!(second > first);
    assert_eq!(restarts_for(&metrics, "panic").await, 1);
    assert_eq!(restarts(&metrics).await, 0);
}

/// Waits (bounded) until the tenant's running actor is a later one than `after`.
async fn restarted(sup: &Addr<Supervisor>, id: &str, after: u64) -> u64 {
    let wait = async {
        loop {
            if let Some((n, _)) = running(sup, id).await
                && n > after
            {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the tenant was restarted")
}

#[actix::test]
async fn a_tenant_that_stops_unasked_is_restarted_as_a_new_incarnation() {
    let (sup, metrics) = supervisor(vec![tenant("acme", "http://127.0.0.1:1")]).await;
    let (first, addr) = running(&sup, "acme").await.expect("running");
    // Stopped behind the supervisor's back: for the supervisor, an unexpected end.
    addr.send(StopTenant).await.expect("stopped");
    let second = restarted(&sup, "acme", first).await;
    assert!(second > first);
    assert_eq!(restarts(&metrics).await, 1);
}

#[actix::test]
async fn the_end_of_a_replaced_or_removed_tenant_is_not_a_failure() {
    let (sup, metrics) = supervisor(vec![tenant("acme", "http://127.0.0.1:1")]).await;
    let (first, _) = running(&sup, "acme").await.expect("running");

    // A change other than topics restarts the tenant: the first actor is stopped on purpose.
    sup.send(UpsertTenant(tenant("acme", "http://127.0.0.1:2")))
        .await
        .expect("upsert");
    let (second, _) = running(&sup, "acme").await.expect("running again");
    assert!(second > first);
    // Whether the first actor's own notice came yet or not, this is what it says.
    sup.send(TenantStopped {
        id: "acme".into(),
        incarnation: first,
        requested: true,
    })
    .await
    .expect("delivered");
    assert_eq!(running(&sup, "acme").await.map(|r| r.0), Some(second));

    assert!(sup.send(RemoveTenant("acme".into())).await.expect("remove"));
    sup.send(TenantStopped {
        id: "acme".into(),
        incarnation: second,
        requested: true,
    })
    .await
    .expect("delivered");
    assert!(running(&sup, "acme").await.is_none());
    assert_eq!(restarts(&metrics).await, 0);
}

#[actix::test]
async fn the_board_shows_each_tenant_until_it_is_removed_and_not_what_a_replaced_actor_writes() {
    let (sup, _, board) = supervisor_and_board(vec![tenant("acme", "http://127.0.0.1:1")]).await;
    assert!(board.contains("acme"), "on the board before its actor runs");
    let (first, _) = running(&sup, "acme").await.expect("running");
    assert_eq!(board.get("acme").map(|t| t.id), Some("acme".to_string()));

    // Paused: no actor runs it, the supervisor shows it; the stopping actor's last words are ignored.
    let mut paused = tenant("acme", "http://127.0.0.1:1");
    paused.paused = true;
    sup.send(UpsertTenant(paused)).await.expect("upsert");
    let shown = board.get("acme").expect("still on the board");
    assert_eq!(shown.state, "paused");
    let mut late = shown.clone();
    late.state = "running".into();
    assert!(!board.update("acme", first, late));
    assert_eq!(board.get("acme").map(|t| t.state), Some("paused".into()));

    // Removed: gone, and no late write brings it back.
    assert!(sup.send(RemoveTenant("acme".into())).await.expect("remove"));
    assert!(!board.contains("acme"));
    assert!(!board.update("acme", first, shown));
    assert!(board.is_empty());
}
