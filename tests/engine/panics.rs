//! Faults of the engine's own code or of the platform's that must not spread: a panic anywhere in a channel
//! actor is contained (counted, shown, restarted through the restart policy, and what it missed is a `crash`
//! gap); an event on a topic the channel never subscribed is counted and dropped.

use serde_json::json;

use crate::harness::*;
use switchboard::sim::workload::Family;

const FAMILIES: [&str; 2] = ["presence", "routingStatus"];

/// A simulator with ten users, and the engine following their topics, live.
async fn live_app(engine_toml: &str) -> (Sim, Vec<String>, App) {
    let sim = Sim::start(|c| {
        c.workload.users = 10;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let topics = sim.topics(&FAMILIES).await;
    let app = App::builder(&sim)
        .tenant("acme", &topics)
        .client("demo", "secret")
        .engine(engine_toml)
        .sink_file()
        .start();
    wait_live(&app.engine, "acme", 1).await;
    (sim, topics, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_panic_in_a_channel_is_counted_shown_restarted_and_its_loss_is_a_crash_gap() {
    let (
        sim,
        topics,
        App {
            engine, scratch, ..
        },
    ) = live_app("proof_of_life_interval = \"200ms\"").await;
    sim.workload(json_rate(100.0, &FAMILIES)).await;
    wait_until("events flowing", || async {
        read_sink(&scratch).events.len() > 20
    })
    .await;

    engine.crash_channel("acme", 0);
    wait_until("the channel's socket replaced", || async {
        sim.stats().await.sockets_opened == 2
    })
    .await;
    wait_live(&engine, "acme", 1).await;
    wait_until("a crash gap", || async {
        read_sink(&scratch).gaps.iter().any(|g| g.reason == "crash")
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;

    let status = engine.status().await.unwrap();
    let tenant = &status.tenants[0];
    assert_eq!(
        tenant.channels[0].last_error.as_deref(),
        Some(switchboard::channel::PANIC_RESTART),
        "the channel says it panicked"
    );
    assert!(
        tenant
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("panicked")),
        "{:?}",
        tenant.last_error
    );
    assert_eq!(
        sim.stats().await.channels_created,
        1,
        "the restarted actor re-uses the channel"
    );
    let metrics = engine
        .metrics
        .render::<switchboard::metrics::SinkSnapshot>(Some(&status.metrics_snapshot()), &[])
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_actor_restarts_total")
                && l.contains("kind=\"channel\"")
                && l.contains("reason=\"panic\"")
                && l.ends_with(" 1")),
        "one channel restart counted as a panic:\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("switchboard_actor_restarts_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    let gaps = read_sink(&scratch).gaps;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].reason, "crash");
    engine.stop();
}

/// Injects one bad event frame (`variant`, carrying `correlation`), waits until the channel has counted it
/// (`counted`), then checks that events keep flowing completely, the bad one reached no sink and the socket
/// stayed up.
async fn a_bad_event_is_counted_skipped_and_the_socket_kept(
    variant: MalformedVariant,
    counted: fn(&switchboard::channel::ChannelStatus) -> u64,
    correlation: &str,
) {
    let (
        sim,
        topics,
        App {
            engine, scratch, ..
        },
    ) = live_app("").await;
    sim.inject(FaultRequest {
        variant: Some(variant),
        ..fault(FaultKind::MalformedFrame)
    })
    .await;
    wait_until("the bad event counted", || async {
        counted(&engine.status().await.unwrap().tenants[0].channels[0]) == 1
    })
    .await;
    sim.workload(json_rate(200.0, &FAMILIES)).await;
    wait_until("events flowing", || async {
        read_sink(&scratch).events.len() > 50
    })
    .await;
    sim.workload(json!({"ratePerSecond": 0.0})).await;
    assert_complete(&settle(&sim, &scratch, &topics).await);
    assert!(
        !read_sink(&scratch).events.contains_key(correlation),
        "the bad event reached no sink"
    );
    assert_eq!(sim.stats().await.sockets_opened, 1, "the socket stayed up");
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_a_topic_never_subscribed_is_counted_and_dropped_and_the_socket_stays_up() {
    a_bad_event_is_counted_skipped_and_the_socket_kept(
        MalformedVariant::UnsubscribedTopic,
        |c| c.unsubscribed_events,
        "not-subscribed-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_nested_a_million_deep_is_counted_and_skipped_and_reaches_no_sink() {
    a_bad_event_is_counted_skipped_and_the_socket_kept(
        MalformedVariant::DeeplyNested,
        |c| c.malformed_frames,
        "deeply-nested-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_sends_only_malformed_frames_is_opened_anew_with_a_gap() {
    let (
        sim,
        _topics,
        App {
            engine, scratch, ..
        },
    ) = live_app("").await;
    for _ in 0..100 {
        sim.inject(FaultRequest {
            variant: Some(MalformedVariant::NotJson),
            ..fault(FaultKind::MalformedFrame)
        })
        .await;
    }
    wait_until("a second socket", || async {
        sim.stats().await.sockets_opened >= 2
    })
    .await;
    wait_until("live again", || async {
        let status = engine.status().await.unwrap();
        live_channels(&status, "acme") == 1
    })
    .await;
    wait_until("the time without a socket recorded as a gap", || async {
        read_sink(&scratch)
            .gaps
            .iter()
            .any(|g| g.reason == "socket_lost")
    })
    .await;
    let status = engine.status().await.unwrap();
    assert!(status.tenants[0].channels[0].malformed_frames >= 100);
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_socket_closing_does_not_become_a_storm_of_connects() {
    let (sim, _topics, App { engine, .. }) = live_app("").await;
    // Each `socket_closing` makes the channel open a new socket; 600 of them, as fast as they can be sent.
    for _ in 0..600 {
        sim.inject(FaultRequest {
            grace_seconds: Some(0.05),
            ..fault(FaultKind::SocketClosing)
        })
        .await;
    }
    let opened = sim.stats().await.sockets_opened;
    // At most 50 opens in any 10 s (the initial one included); the storm is sent well within 20 s.
    assert!(opened <= 100, "{opened} sockets opened");
    assert!(opened > 1, "the channel followed socket_closing");
    wait_until("live again", || async {
        live_channels(&engine.status().await.unwrap(), "acme") == 1
    })
    .await;
    engine.stop();
}
