use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn with_tls_the_same_api_and_sockets_work_over_https_and_wss() {
    let sim = TestSim::start(|c| {
        c.tls = true;
        c.heartbeat_interval = Duration::from_millis(100);
    });
    assert!(sim.base.starts_with("https://"));
    let cert = sim.handle.cert_path.clone().expect("certificate written");
    assert!(
        std::fs::read_to_string(&cert)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let token = sim.token().await;
    let ch = sim.create_channel(&token).await;
    assert!(ch.connect_uri.starts_with("wss://"), "{}", ch.connect_uri);
    let mut ws = sim.connect(&ch.connect_uri).await;
    let (hb, _) = ws.until_json("heartbeat over wss", is_heartbeat).await;
    assert_eq!(hb["topicName"], "channel.metadata");
    let stats: Value = sim.stats().await;
    assert_eq!(stats["socketsOpened"], 1);
}
