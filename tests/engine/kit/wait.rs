//! The one `wait_until`, shared by the engine's and the simulator's test binaries (the simulator's includes this
//! file by path). Each binary's crate root names how long to wait (`PATIENCE`) and how often to look (`POLL`).

use crate::{PATIENCE, POLL};

/// Polls `probe` until it returns true, failing after `PATIENCE`.
pub async fn wait_until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if probe().await {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("timed out waiting for {what}");
}
