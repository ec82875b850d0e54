//! What a scrape does: fill the gauges of current state from the engine's status and the sinks, then encode
//! the registry as Prometheus text.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use prometheus::{Encoder as _, TextEncoder};

use super::Metrics;
use super::labels::{ActorKind, CHANNEL_STATES};
use super::snapshot::{SinkGauges, StatusSnapshot, TenantSnapshot};

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds().max(0) as f64) / 1000.0
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// The exposition, after refreshing the state gauges from `status` (none: the engine is stopping, the
    /// last values stay) and `sinks`.
    pub async fn render<S: SinkGauges>(
        &self,
        status: Option<&StatusSnapshot>,
        sinks: &[S],
    ) -> prometheus::Result<String> {
        let _one_at_a_time = self.scrape.lock().await;
        if let Some(status) = status {
            self.fill_tenants(status, Utc::now());
        }
        self.fill_sinks(sinks);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// Rebuilds the per-tenant gauges, so that a removed tenant's disappear.
    fn fill_tenants(&self, status: &StatusSnapshot, now: DateTime<Utc>) {
        let f = &self.f;
        for g in [
            &f.channels,
            &f.topics_desired,
            &f.topics_subscribed,
            &f.topics_rejected,
            &f.topics_unplaced,
        ] {
            g.reset();
        }
        for g in [
            &f.heartbeat_age,
            &f.channel_quota_utilization,
            &f.channels_per_client_utilization,
            &f.token_expiry,
        ] {
            g.reset();
        }
        self.reset_tenant_states();
        let mut failed_channels = 0;
        for t in &status.tenants {
            f.tenants.with_label_values(&[&t.state]).inc();
            failed_channels += t.channels.iter().filter(|c| c.state == "failed").count();
            self.fill_tenant(t, now);
        }
        self.set_actors_failed(ActorKind::Channel, failed_channels);
    }

    fn fill_tenant(&self, t: &TenantSnapshot, now: DateTime<Utc>) {
        let f = &self.f;
        let tr = [t.id.as_str(), t.region.as_str()];
        let mut by_state: HashMap<&str, usize> = HashMap::new();
        for c in &t.channels {
            *by_state.entry(c.state).or_default() += 1;
        }
        // Every state gets its series, 0 when no channel is in it.
        for state in CHANNEL_STATES {
            f.channels
                .with_label_values(&[tr[0], tr[1], state])
                .set(count(by_state.get(state).copied().unwrap_or(0)));
        }
        let oldest_proof = t
            .channels
            .iter()
            .filter(|c| c.state == "live")
            .filter_map(|c| c.last_frame_at)
            .min();
        f.heartbeat_age
            .with_label_values(&tr)
            .set(oldest_proof.map_or(0.0, |p| seconds_between(p, now)));
        f.topics_desired
            .with_label_values(&tr)
            .set(count(t.topics_desired));
        f.topics_subscribed
            .with_label_values(&tr)
            .set(count(t.topics_subscribed));
        f.topics_rejected
            .with_label_values(&tr)
            .set(count(t.topics_rejected));
        f.topics_unplaced
            .with_label_values(&tr)
            .set(count(t.topics_unplaced));
        f.channel_quota_utilization
            .with_label_values(&tr)
            .set(t.channel_quota_utilization);
        f.channels_per_client_utilization
            .with_label_values(&tr)
            .set(t.channels_per_client_utilization);
        let soonest = t.token_expires_at.iter().flatten().min();
        f.token_expiry
            .with_label_values(&tr)
            .set(soonest.map_or(0.0, |at| seconds_between(now, *at)));
    }

    /// Rebuilds the per-sink gauges, so that a deleted sink's disappear.
    fn fill_sinks<S: SinkGauges>(&self, sinks: &[S]) {
        let f = &self.f;
        for g in [
            &f.sink_queue_depth,
            &f.spool_bytes,
            &f.spool_max_bytes,
            &f.spool_full,
        ] {
            g.reset();
        }
        for s in sinks {
            let s = s.sink_snapshot();
            let name = [s.name.as_str()];
            f.sink_queue_depth
                .with_label_values(&name)
                .set(count(s.queued));
            f.spool_bytes
                .with_label_values(&name)
                .set(i64::try_from(s.spool_bytes).unwrap_or(i64::MAX));
            f.spool_max_bytes
                .with_label_values(&name)
                .set(i64::try_from(s.spool_max_bytes).unwrap_or(i64::MAX));
            f.spool_full
                .with_label_values(&name)
                .set(i64::from(s.spool_full));
        }
    }
}
