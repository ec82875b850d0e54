use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use switchboard::sim::workload::Family;

async fn users_sim(
    users: usize,
    tune: impl FnOnce(&mut switchboard::sim::SimConfig),
) -> (Sim, Vec<String>) {
    let sim = Sim::start(|c| {
        c.workload.users = users;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
        tune(c);
    });
    let topics = sim.topics(&USER_FAMILIES).await;
    assert_eq!(topics.len(), users * 2);
    (sim, topics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_over_the_quota_spread_over_channels_and_every_event_arrives_once() {
    let (sim, topics) = users_sim(1250, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 3).await;
    let status = engine.status().await.unwrap();
    let tenant = &status.tenants[0];
    assert_eq!(tenant.channels.len(), 3);
    assert!(tenant.unplaced.is_empty());
    assert_eq!(
        tenant.channels.iter().map(|c| c.topics).sum::<usize>(),
        2500
    );
    assert!(tenant.channels.iter().all(|c| c.topics <= 1000));
    let stats = sim.stats().await;
    assert_eq!(stats.channels_created, 3);
    assert_eq!(
        stats.sockets_opened_unsubscribed, 0,
        "subscribe, then connect: no socket sits idle without topics"
    );

    produce(&sim, 2000.0, 3000).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0, "nothing was missed, so no gap");
    assert_eq!(v.delivered_once, v.happened);
    assert!(v.happened >= 3000);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stall_is_detected_recovered_and_reported_as_a_gap() {
    let (sim, topics) = users_sim(20, |c| c.heartbeat_interval = Duration::from_secs(30)).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    let channel = engine.status().await.unwrap().tenants[0].channels[0]
        .channel_id
        .clone()
        .unwrap();
    sim.inject(FaultRequest {
        channel: Some(channel),
        duration_seconds: Some(5.0),
        ..fault(FaultKind::Stall)
    })
    .await;
    let stalled = std::time::Instant::now();
    produce(&sim, 200.0, 100).await;
    wait_until("a gap record", || async {
        !read_sink(&scratch).gaps.is_empty()
    })
    .await;
    let detected = stalled.elapsed();
    assert!(
        detected < Duration::from_secs(5),
        "detected within the heartbeat timeout, not at the stall's end ({detected:?})"
    );
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    let out = read_sink(&scratch);
    assert_eq!(out.gaps.len(), 1);
    assert_eq!(out.gaps[0].reason, "heartbeat_timeout");
    assert!(v.in_gap > 0, "the events of the stall are inside the gap");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_closing_moves_to_a_new_socket_without_losing_or_repeating_anything() {
    let (sim, topics) = users_sim(50, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    socket_closing_mid_flow(&sim, &scratch).await;
    wait_until("the old socket closed", || async {
        sim.stats().await.sockets_closed == 1
    })
    .await;
    produce(&sim, 300.0, 300).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0);
    assert_eq!(v.delivered_once, v.happened);
    assert_eq!(
        sim.stats().await.channels_created,
        1,
        "the channel survives socket_closing"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_expiry_is_pushed_out_in_time_without_a_gap() {
    let (sim, topics) = users_sim(20, |c| {
        c.channel_ttl = Duration::from_secs(4);
        c.subscription_extension = Duration::from_secs(6);
    })
    .await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine("rollover_margin = \"2s\"")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    sim.workload(json_rate(100.0, &USER_FAMILIES)).await;
    // Past the first lifetime and several extensions.
    let created = sim.stats().await.channels_created;
    wait_until("10 s of traffic", || async {
        sim.stats().await.events_generated >= 1000
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let stats = sim.stats().await;
    assert_eq!(
        stats.channels_expired, 0,
        "no channel was allowed to expire"
    );
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0);
    assert!(stats.channels_created >= created);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_cannot_be_extended_is_rolled_over_make_before_break() {
    let (sim, topics) = users_sim(20, |c| {
        c.channel_ttl = Duration::from_secs(4);
        // The extension does not reach past the engine's margin: it must roll over to a new channel.
        c.subscription_extension = Duration::from_secs(1);
    })
    .await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine("rollover_margin = \"2s\"")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    sim.workload(json_rate(100.0, &USER_FAMILIES)).await;
    wait_until("two rollovers", || async {
        sim.stats().await.channels_created >= 3
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0, "make before break leaves no gap");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_refreshed_and_its_channels_moved_without_a_gap() {
    let (sim, topics) = users_sim(20, |_| {}).await;
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "short", "clientSecret": "s", "tokenTtlSeconds": 6}),
    )
    .await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("short", "s")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    sim.workload(json_rate(100.0, &USER_FAMILIES)).await;
    wait_until("a new token and channel", || async {
        let s = sim.stats().await;
        s.tokens_issued >= 3 && s.channels_created >= 3
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(
        v.gaps, 0,
        "channels moved to the new token before the old one expired"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_and_the_unavoidable_gap_reported() {
    let (sim, topics) = users_sim(20, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    sim.inject(FaultRequest {
        client: Some("demo".into()),
        ..fault(FaultKind::RevokeToken)
    })
    .await;
    wait_until("a gap", || async { !read_sink(&scratch).gaps.is_empty() }).await;
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    let out = read_sink(&scratch);
    assert_eq!(out.gaps.len(), 1);
    assert_eq!(out.gaps[0].reason, "token_revoked");
    assert_eq!(sim.stats().await.tokens_issued, 2);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_as_retry_after_says() {
    let (sim, topics) = users_sim(1250, |_| {}).await;
    sim.inject(FaultRequest {
        client: Some("demo".into()),
        duration_seconds: Some(3.0),
        ..fault(FaultKind::RateLimit)
    })
    .await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 3).await;
    let stats = sim.stats().await;
    let limited = stats.rate_limited;
    assert!(limited >= 1, "the storm was met");
    assert!(
        limited <= 6,
        "each caller waited Retry-After instead of hammering: {limited} 429s"
    );
    produce(&sim, 1000.0, 1000).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_20_channels_never_evicting_its_own_and_two_clients_place_all() {
    let (sim, topics) = users_sim(12_500, |_| {}).await;
    sim.post(
        "/sim/v1/clients",
        json!({"clientId": "second", "clientSecret": "s"}),
    )
    .await;
    let App {
        engine,
        scratch: _scratch,
        ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 19).await;
    let status = engine.status().await.unwrap();
    assert_eq!(status.tenants[0].unplaced.len(), 6000);
    assert!(status.tenants[0].unplaced_reason.is_some());
    let stats = sim.stats().await;
    assert_eq!(stats.channels_evicted, 0);
    assert!(stats.channels_open <= 20);
    engine.stop();

    let App {
        engine,
        scratch: _scratch,
        ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .client("second", "s")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 25).await;
    let status = engine.status().await.unwrap();
    assert!(status.tenants[0].unplaced.is_empty());
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_reuses_every_channel() {
    let (sim, topics) = users_sim(1250, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 3).await;
    engine.stop();
    let created = sim.stats().await.channels_created;
    assert_eq!(created, 3);
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start()
        .engine;
    wait_live(&engine, "acme", 3).await;
    assert_eq!(
        sim.stats().await.channels_created,
        3,
        "0 channels created on restart"
    );
    produce(&sim, 1000.0, 500).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_the_client_may_not_read_are_reported_rejected_and_the_others_flow() {
    let (sim, topics) = users_sim(10, |_| {}).await;
    sim.post("/sim/v1/clients", json!({"clientId": "limited", "clientSecret": "s", "deniedTopicPatterns": ["*.routingstatus"]})).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("limited", "s")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    let status = engine.status().await.unwrap();
    let rejected = &status.tenants[0].channels[0].rejected;
    assert!(!rejected.is_empty());
    produce(&sim, 200.0, 200).await;
    let presence: Vec<String> = topics
        .iter()
        .filter(|t| t.ends_with(".presence"))
        .cloned()
        .collect();
    let v = settle(&sim, &scratch, &presence).await;
    assert_complete(&v);
    assert!(v.delivered_once > 0);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_can_never_connect_fails_after_backing_off_and_others_are_unaffected() {
    let (sim, topics) = users_sim(10, |_| {}).await;
    let scratch = Scratch::new();
    let dead = r#"
[[tenants]]
id = "broken"
api_base = "http://127.0.0.1:9"
login_base = "http://127.0.0.1:9"
topics = ["v2.users.nobody.presence"]
[[tenants.clients]]
id = "x"
secret = "y"
"#;
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine("[engine.restart]\nmax_restarts = 3\nwithin = \"60s\"\nfailed_retry = \"1h\"")
        .sink_file()
        .extra(dead)
        .start()
        .engine;
    wait_until("the broken tenant to fail", || async {
        let s = engine.status().await.unwrap();
        s.tenants
            .iter()
            .any(|t| t.id == "broken" && t.state == "failed")
    })
    .await;
    let status = engine.status().await.unwrap();
    let broken = status.tenants.iter().find(|t| t.id == "broken").unwrap();
    assert!(broken.channels[0].last_error.is_some());
    assert!(broken.channels[0].restarts >= 4);
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_counted_and_skipped_and_the_socket_stays_up() {
    let (sim, topics) = users_sim(10, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    for variant in [
        MalformedVariant::TruncatedJson,
        MalformedVariant::NotJson,
        MalformedVariant::MissingTopic,
        MalformedVariant::Binary,
    ] {
        sim.inject(FaultRequest {
            variant: Some(variant),
            ..fault(FaultKind::MalformedFrame)
        })
        .await;
    }
    wait_until("4 malformed frames counted", || async {
        engine.status().await.unwrap().tenants[0].channels[0].malformed_frames == 4
    })
    .await;
    produce(&sim, 200.0, 100).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);
    assert_eq!(sim.stats().await.sockets_opened, 1, "the socket stayed up");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_channel_handler_is_contained_and_the_channel_recovers() {
    let (sim, topics) = users_sim(10, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    engine.crash_channel("acme", 0);
    wait_until("the channel to reconnect", || async {
        sim.stats().await.sockets_opened == 2
    })
    .await;
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 200.0, 100).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changes_only_route_drops_repeated_states_and_other_routes_get_everything() {
    let (sim, topics) = users_sim(2, |_| {}).await;
    let scratch = Scratch::new();
    let changes = scratch.0.join("changes.jsonl");
    let extra = format!(
        "\n[[sinks]]\nname = \"changes\"\nkind = \"file\"\npath = \"{}\"\n\n[[routes]]\nsinks = [\"changes\"]\ntopics = [\"v2.users.*.presence\"]\nchanges_only = true\n",
        changes.display()
    );
    let engine = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .extra(&extra)
        .start()
        .engine;
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 500.0, 600).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);

    let states = |path: &std::path::Path| -> Vec<(String, String)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["topic"].as_str().unwrap().ends_with(".presence"))
            .map(|v| {
                (
                    v["topic"].as_str().unwrap().to_string(),
                    v["body"]["presenceDefinition"]["systemPresence"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    let all = states(&scratch.sink());
    let changed = states(&changes);
    let repeats_in_all = all
        .iter()
        .enumerate()
        .filter(|(i, (t, s))| {
            all[..*i]
                .iter()
                .rev()
                .find(|(t2, _)| t2 == t)
                .is_some_and(|(_, s2)| s2 == s)
        })
        .count();
    assert!(
        repeats_in_all > 0,
        "the workload repeated some states (else this test proves nothing)"
    );
    assert_eq!(
        changed.len(),
        all.len() - repeats_in_all,
        "exactly the repeats are dropped"
    );
    for (i, (topic, state)) in changed.iter().enumerate() {
        let previous = changed[..i].iter().rev().find(|(t, _)| t == topic);
        assert!(
            previous.is_none_or(|(_, s)| s != state),
            "{topic} repeated {state}"
        );
    }
    assert!(
        !std::fs::read_to_string(&changes)
            .unwrap()
            .contains(".routingStatus\""),
        "the route's topic filter holds"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_and_wss_with_the_tenants_own_ca_every_event_arrives() {
    let (sim, topics) = users_sim(20, |c| c.tls = true).await;
    assert!(sim.base().starts_with("https://"));
    let scratch = Scratch::new();
    let mut config = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .sink_file()
        .config();
    config.tenants[0].ca_file = sim.handle.cert_path.clone();
    let engine = start(config);
    wait_live(&engine, "acme", 1).await;
    produce(&sim, 500.0, 500).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0);
    engine.stop();
}

#[test]
fn an_unreadable_ca_file_is_a_configuration_error_naming_the_field() {
    let text = r#"
[[tenants]]
id = "acme"
region = "eu-west-1"
ca_file = "no/such/file.pem"
topics = ["v2.users.u.presence"]
[[tenants.clients]]
id = "c"
secret = "s"
"#;
    let errors =
        switchboard::config::Config::from_toml_str(text, std::path::Path::new("/nonexistent"))
            .unwrap_err();
    assert!(
        errors.errors.iter().any(|e| e.path == "tenants[0].ca_file"),
        "{errors}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_change_while_running_moving_nothing_that_stays() {
    let (sim, mut topics) = users_sim(1100, |_| {}).await;
    topics.sort();
    let scratch = Scratch::new();
    let first: Vec<String> = topics[..1500].to_vec();
    let config = App::builder(&sim)
        .scratch(&scratch)
        .tenant("acme", &first)
        .client("demo", "secret")
        .sink_file()
        .config();
    let tenant = config.tenants[0].clone();
    let engine = start(config);
    wait_live(&engine, "acme", 2).await;
    let before = engine.status().await.unwrap().tenants[0].channels.clone();

    let mut grown = tenant.clone();
    grown.topics = topics
        .iter()
        .map(|t| switchboard::config::TopicConfig {
            name: t.clone(),
            priority: 0,
        })
        .collect();
    let change = engine
        .upsert_tenant(grown)
        .await
        .unwrap()
        .expect("applied in place");
    assert_eq!(
        (
            change.channels_changed,
            change.channels_started,
            change.channels_stopped
        ),
        (1, 1, 0),
        "{change:?}"
    );
    wait_live(&engine, "acme", 3).await;
    let after = engine.status().await.unwrap().tenants[0].channels.clone();
    assert_eq!(
        after[0].channel_id, before[0].channel_id,
        "the full channel was not touched"
    );
    assert_eq!(
        after[1].channel_id, before[1].channel_id,
        "the other channel was filled in place"
    );
    assert_eq!(after.iter().map(|c| c.topics).sum::<usize>(), 2200);
    assert_eq!(sim.stats().await.channels_created, 3);
    produce(&sim, 2000.0, 2000).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);

    let mut shrunk = tenant.clone();
    shrunk.topics = topics[..500]
        .iter()
        .map(|t| switchboard::config::TopicConfig {
            name: t.clone(),
            priority: 0,
        })
        .collect();
    let change = engine
        .upsert_tenant(shrunk)
        .await
        .unwrap()
        .expect("applied in place");
    assert_eq!(
        (change.channels_changed, change.channels_stopped),
        (1, 2),
        "{change:?}"
    );
    // The two emptied channels stop and the third unsubscribes what it lost; the board shows each as it
    // happens, so the wait is for both.
    wait_until("one channel left, with the topics kept", || async {
        let channels = engine.status().await.unwrap().tenants[0].channels.clone();
        channels.len() == 1 && channels[0].topics == 500
    })
    .await;
    let status = engine.status().await.unwrap();
    assert_eq!(status.tenants[0].channels[0].topics, 500);
    assert_eq!(
        status.tenants[0].channels[0].channel_id,
        before[0].channel_id
    );
    assert!(engine.remove_tenant("acme").await.unwrap());
    wait_until("no tenant", || async {
        engine.status().await.unwrap().tenants.is_empty()
    })
    .await;
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_channels_proof_of_life_reaches_the_store_while_it_runs_not_only_at_a_stop() {
    let (sim, topics) = users_sim(10, |_| {}).await;
    let App {
        engine, scratch, ..
    } = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine(r#"proof_of_life_interval = "200ms""#)
        .sink_file()
        .start();
    wait_live(&engine, "acme", 1).await;
    let live_at = chrono::Utc::now();
    // The engine's own store file, read beside it (SQLite in WAL mode lets a reader in).
    let store = switchboard::store::open(&scratch.0.join("store.db").display().to_string())
        .await
        .unwrap();
    // Written at connect with the proof of life then; from then on only the timer moves it (pongs every
    // 200 ms are the frames). A process killed now would open its restart gap from there.
    wait_until(
        "the record's proof of life follows the channel's frames",
        || async {
            store
                .channels("acme")
                .await
                .unwrap()
                .first()
                .is_some_and(|r| r.updated_at > live_at + chrono::Duration::seconds(1))
        },
    )
    .await;
    let status = engine.status().await.unwrap();
    let record = store.channels("acme").await.unwrap().remove(0);
    assert_eq!(
        status.tenants[0].channels[0].channel_id.as_deref(),
        Some(record.channel_id.as_str())
    );
    engine.stop();
}
