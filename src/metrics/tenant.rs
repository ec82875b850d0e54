//! The series of one tenant × region, resolved once: channels, sessions and the router bump these handles
//! without looking labels up per event.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Counter, Histogram, IntCounter, IntCounterVec};

use super::families::Families;
use super::labels::{
    ActorKind, ApiEndpoint, DisconnectReason, RestartReason, RolloverReason, StatusClass,
};
use crate::gap::GapReason;

/// Handles on one tenant's series. Every series listed as pre-initialised in the contract exists (at 0) as
/// soon as this is made.
pub struct TenantMetrics {
    pub tenant: Arc<str>,
    pub region: Arc<str>,
    connects: IntCounter,
    disconnects: [IntCounter; DisconnectReason::ALL.len()],
    rollovers: [IntCounter; RolloverReason::ALL.len()],
    pong_latency: Histogram,
    api_requests: IntCounterVec,
    rate_limited: IntCounter,
    socket_opens_throttled: IntCounter,
    token_ok: IntCounter,
    token_error: IntCounter,
    events_received: IntCounterVec,
    duplicates: IntCounter,
    gaps: [IntCounter; GapReason::ALL.len()],
    gap_seconds: Counter,
    backfill: IntCounter,
    channel_restarts: [IntCounter; RestartReason::ALL.len()],
}

impl std::fmt::Debug for TenantMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMetrics")
            .field("tenant", &self.tenant)
            .field("region", &self.region)
            .finish()
    }
}

impl TenantMetrics {
    /// `n` records were delivered by a backfill.
    pub fn backfilled(&self, n: u64) {
        self.backfill.inc_by(n);
    }

    pub(crate) fn new(f: &Families, tenant: &str, region: &str) -> TenantMetrics {
        let tr = [tenant, region];
        let with = |reason: &'static str| [tenant, region, reason];
        TenantMetrics {
            tenant: tenant.into(),
            region: region.into(),
            connects: f.channel_connects.with_label_values(&tr),
            disconnects: DisconnectReason::ALL
                .map(|r| f.channel_disconnects.with_label_values(&with(r.as_str()))),
            rollovers: RolloverReason::ALL
                .map(|r| f.channel_rollovers.with_label_values(&with(r.as_str()))),
            pong_latency: f.pong_latency.with_label_values(&tr),
            api_requests: f.api_requests.clone(),
            rate_limited: f.api_rate_limited.with_label_values(&tr),
            socket_opens_throttled: f.socket_opens_throttled.with_label_values(&tr),
            token_ok: f.token_refreshes.with_label_values(&with("ok")),
            token_error: f.token_refreshes.with_label_values(&with("error")),
            events_received: f.events_received.clone(),
            duplicates: f.events_duplicate.with_label_values(&tr),
            gaps: GapReason::ALL.map(|r| f.gaps.with_label_values(&with(r.as_str()))),
            gap_seconds: f.gap_seconds.with_label_values(&tr),
            backfill: f.backfill_records.with_label_values(&tr),
            channel_restarts: RestartReason::ALL.map(|r| {
                f.actor_restarts
                    .with_label_values(&[ActorKind::Channel.as_str(), r.as_str()])
            }),
        }
    }

    /// A socket opened.
    pub fn connected(&self) {
        self.connects.inc();
    }

    /// A socket went away.
    pub fn disconnected(&self, reason: DisconnectReason) {
        self.disconnects[reason as usize].inc();
    }

    /// A rollover (make before break) completed.
    pub fn rolled_over(&self, reason: RolloverReason) {
        self.rollovers[reason as usize].inc();
    }

    /// A pong came back this long after its ping.
    pub fn pong(&self, latency: Duration) {
        self.pong_latency.observe(latency.as_secs_f64());
    }

    /// One REST attempt and what came of it.
    pub fn api_request(&self, endpoint: ApiEndpoint, status: StatusClass) {
        self.api_requests
            .with_label_values(&[
                &*self.tenant,
                &*self.region,
                endpoint.as_str(),
                status.as_str(),
            ])
            .inc();
        if status == StatusClass::TooManyRequests {
            self.rate_limited.inc();
        }
    }

    /// A socket open waited for the tenant's socket-open budget.
    pub fn socket_open_throttled(&self) {
        self.socket_opens_throttled.inc();
    }

    /// A token request ended.
    pub fn token_refresh(&self, ok: bool) {
        if ok {
            self.token_ok.inc()
        } else {
            self.token_error.inc()
        }
    }

    /// The counter of events received on topics of `family` (creating the series): callers keep it.
    pub fn received(&self, family: &str) -> IntCounter {
        self.events_received
            .with_label_values(&[&*self.tenant, &*self.region, family])
    }

    /// The counter of duplicates dropped: callers keep it.
    pub fn duplicates(&self) -> IntCounter {
        self.duplicates.clone()
    }

    /// A gap was recorded.
    pub fn gap(&self, reason: GapReason, length: Duration) {
        self.gaps[reason as usize].inc();
        self.gap_seconds.inc_by(length.as_secs_f64());
    }

    /// A channel starts its work over (after a failure, or a contained panic).
    pub fn channel_restarted(&self, reason: RestartReason) {
        self.channel_restarts[reason as usize].inc();
    }
}
