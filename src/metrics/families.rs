//! Every metric family of the contract, registered once per engine. The names, label names and help texts
//! are here and nowhere else.

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Buckets of `delivery_latency_seconds` (fixed by the contract).
pub const DELIVERY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Buckets of `pong_latency_seconds`: a round trip to the platform, normally well under a second.
pub const PONG_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub(crate) const TENANT: &[&str] = &["tenant", "region"];
pub(crate) const SINK: &[&str] = &["sink"];
const ROUTE: &[&str] = &["route"];

/// The registered families.
pub(crate) struct Families {
    pub build_info: IntGaugeVec,
    pub tenants: IntGaugeVec,

    pub channels: IntGaugeVec,
    pub channel_connects: IntCounterVec,
    pub channel_disconnects: IntCounterVec,
    pub channel_rollovers: IntCounterVec,
    pub heartbeat_age: GaugeVec,
    pub pong_latency: HistogramVec,

    pub topics_desired: IntGaugeVec,
    pub topics_subscribed: IntGaugeVec,
    pub topics_rejected: IntGaugeVec,
    pub topics_unplaced: IntGaugeVec,
    pub channel_quota_utilization: GaugeVec,
    pub channels_per_client_utilization: GaugeVec,

    pub api_requests: IntCounterVec,
    pub api_rate_limited: IntCounterVec,
    pub socket_opens_throttled: IntCounterVec,
    pub token_refreshes: IntCounterVec,
    pub token_expiry: GaugeVec,

    pub events_received: IntCounterVec,
    pub events_duplicate: IntCounterVec,
    pub sink_sent: IntCounterVec,
    pub sink_errors: IntCounterVec,
    pub sink_queue_depth: IntGaugeVec,
    pub spool_bytes: IntGaugeVec,
    pub spool_max_bytes: IntGaugeVec,
    pub spool_full: IntGaugeVec,
    pub spool_full_total: IntCounterVec,
    pub spooled: IntCounterVec,
    pub dlq: IntCounterVec,
    pub dead_letters_dropped: IntCounterVec,
    pub delivery_latency: HistogramVec,

    pub route_filtered: IntCounterVec,
    pub route_filter_errors: IntCounterVec,

    pub actor_restarts: IntCounterVec,
    pub actors_failed: IntGaugeVec,
    pub gaps: IntCounterVec,
    pub gap_seconds: CounterVec,
    pub backfill_records: IntCounterVec,

    pub cluster_leases_held: IntGaugeVec,
    pub cluster_leases_lost: IntCounterVec,
    pub cluster_takeovers: IntCounterVec,
    pub cluster_handovers: IntCounterVec,
    pub cluster_fenced: IntCounterVec,
    pub cluster_tenants_unowned: IntGaugeVec,
}

fn name(short: &str) -> String {
    format!("switchboard_{short}")
}

struct Registrar<'a> {
    registry: &'a Registry,
}

impl Registrar<'_> {
    fn add<C: Collector + Clone + 'static>(&self, c: C) -> prometheus::Result<C> {
        self.registry.register(Box::new(c.clone()))?;
        Ok(c)
    }
    fn int_gauge(
        &self,
        short: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name(short), help), labels)?)
    }
    fn gauge(&self, short: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
        self.add(GaugeVec::new(Opts::new(name(short), help), labels)?)
    }
    fn counter(
        &self,
        short: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name(short), help), labels)?)
    }
    fn histogram(
        &self,
        short: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> prometheus::Result<HistogramVec> {
        let opts = HistogramOpts::new(name(short), help).buckets(buckets.to_vec());
        self.add(HistogramVec::new(opts, labels)?)
    }
}

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

impl Families {
    pub fn register(registry: &Registry) -> prometheus::Result<Families> {
        let r = Registrar { registry };
        let t = TENANT;
        Ok(Families {
            build_info: r.int_gauge("build_info", "Always 1; the version of switchboard running.", &["version"])?,
            tenants: r.int_gauge("tenants", "Tenants by state.", &["state"])?,

            channels: r.int_gauge("channels", "Channels by lifecycle state.", &with(t, &["state"]))?,
            channel_connects: r.counter("channel_connects_total", "Sockets opened successfully.", t)?,
            channel_disconnects: r.counter(
                "channel_disconnects_total",
                "Sockets that went away, by reason.",
                &with(t, &["reason"]),
            )?,
            channel_rollovers: r.counter(
                "channel_rollovers_total",
                "Channels moved to a new socket or channel without a gap, by reason.",
                &with(t, &["reason"]),
            )?,
            heartbeat_age: r.gauge(
                "heartbeat_age_seconds",
                "The oldest, among the tenant's live channels, last proof of life (frame, heartbeat or pong); 0 with no live channel.",
                t,
            )?,
            pong_latency: r.histogram(
                "pong_latency_seconds",
                "Time from a ping sent to its pong received.",
                t,
                &PONG_BUCKETS,
            )?,

            topics_desired: r.int_gauge("topics_desired", "Topics the tenant asks for.", t)?,
            topics_subscribed: r.int_gauge(
                "topics_subscribed",
                "Topics subscribed on a channel and permitted by the platform.",
                t,
            )?,
            topics_rejected: r.int_gauge("topics_rejected", "Topics the platform refused.", t)?,
            topics_unplaced: r.int_gauge(
                "topics_unplaced",
                "Topics that fit on no channel (over the channel limits).",
                t,
            )?,
            channel_quota_utilization: r.gauge(
                "channel_quota_utilization_ratio",
                "The most topics on one of the tenant's channels over the per-channel topic limit.",
                t,
            )?,
            channels_per_client_utilization: r.gauge(
                "channels_per_client_utilization_ratio",
                "The most channels of one of the tenant's OAuth clients over the per-client channel limit.",
                t,
            )?,

            api_requests: r.counter(
                "api_requests_total",
                "REST requests to the platform (each attempt), by endpoint and status class.",
                &with(t, &["endpoint", "status"]),
            )?,
            api_rate_limited: r.counter(
                "api_rate_limited_total",
                "REST answers 429 Too Many Requests.",
                t,
            )?,
            socket_opens_throttled: r.counter(
                "socket_opens_throttled_total",
                "Socket opens that waited for the tenant's socket-open budget (50 per 10 s).",
                t,
            )?,
            token_refreshes: r.counter(
                "token_refreshes_total",
                "Token requests, by result.",
                &with(t, &["result"]),
            )?,
            token_expiry: r.gauge(
                "token_expiry_seconds",
                "Seconds until the tenant's soonest-expiring current token expires; 0 when it has none.",
                t,
            )?,

            events_received: r.counter(
                "events_received_total",
                "Events received from channels (duplicates included), by topic family.",
                &with(t, &["topic_family"]),
            )?,
            events_duplicate: r.counter(
                "events_duplicate_total",
                "Duplicate events dropped (rollover and handover overlaps).",
                t,
            )?,
            sink_sent: r.counter("sink_sent_total", "Records the sink's destination accepted.", SINK)?,
            sink_errors: r.counter(
                "sink_errors_total",
                "Sink failures: retry (failed write attempts), reject (records refused for good), queue_full (records that found the queue full).",
                &with(SINK, &["error_code"]),
            )?,
            sink_queue_depth: r.int_gauge("sink_queue_depth", "Records waiting in the sink's queue.", SINK)?,
            spool_bytes: r.int_gauge("spool_bytes", "Bytes waiting in the sink's disk spool.", SINK)?,
            spool_max_bytes: r.int_gauge(
                "spool_max_bytes",
                "The bound of the sink's disk spool (0: the sink has no spool).",
                SINK,
            )?,
            spool_full: r.int_gauge(
                "spool_full",
                "1 while the sink's spool is full (the router then waits for it).",
                SINK,
            )?,
            spool_full_total: r.counter(
                "spool_full_total",
                "Times the sink found its spool full.",
                SINK,
            )?,
            spooled: r.counter("spooled_total", "Records written to the sink's spool.", SINK)?,
            dlq: r.counter(
                "dlq_total",
                "Records moved to the dead-letter store.",
                SINK,
            )?,
            dead_letters_dropped: r.counter(
                "dead_letters_dropped_total",
                "The sink's oldest dead letters dropped to keep it within [store] dead_letters_max.",
                SINK,
            )?,
            delivery_latency: r.histogram(
                "delivery_latency_seconds",
                "Time from an event's receivedAt to its acknowledgement by the sink's destination.",
                SINK,
                &DELIVERY_BUCKETS,
            )?,

            route_filtered: r.counter(
                "route_filtered_total",
                "Events a route's filter kept from its sinks (false, or failed on the event), by route id.",
                ROUTE,
            )?,
            route_filter_errors: r.counter(
                "route_filter_errors_total",
                "Events on which a route's filter failed or gave no bool (also in route_filtered_total), by route id.",
                ROUTE,
            )?,

            actor_restarts: r.counter(
                "actor_restarts_total",
                "Restarts of supervised actors, by kind and reason.",
                &["kind", "reason"],
            )?,
            actors_failed: r.int_gauge(
                "actors_failed",
                "Actors over their restart intensity, retried on a slow cadence.",
                &["kind"],
            )?,
            gaps: r.counter(
                "gaps_total",
                "Losses of continuity recorded, by the gap record's reason.",
                &with(t, &["reason"]),
            )?,
            gap_seconds: r.add(CounterVec::new(
                Opts::new(name("gap_seconds_total"), "Total length of the gaps recorded."),
                t,
            )?)?,
            backfill_records: r.counter(
                "backfill_records_total",
                "Records delivered by backfills after gaps.",
                t,
            )?,
            cluster_leases_held: r.int_gauge(
                "cluster_leases_held",
                "Tenant leases this instance holds (cluster mode).",
                &["instance"],
            )?,
            cluster_leases_lost: r.counter(
                "cluster_leases_lost_total",
                "Leases this instance lost or gave up when its renewals failed (cluster mode).",
                &["instance"],
            )?,
            cluster_takeovers: r.counter(
                "cluster_takeovers_total",
                "Tenants this instance took over from another instance (cluster mode).",
                &["instance"],
            )?,
            cluster_handovers: r.counter(
                "cluster_handovers_total",
                "Tenants this instance took from another that handed them over make-before-break, without a gap (cluster mode).",
                &["instance"],
            )?,
            cluster_fenced: r.counter(
                "cluster_fenced_total",
                "Claiming actions (connects, channel changes, store writes) refused by the self-fence (cluster mode).",
                &["instance"],
            )?,
            cluster_tenants_unowned: r.int_gauge(
                "cluster_tenants_unowned",
                "Tenants whose lease no live instance holds, as this instance last saw (0 without cluster mode).",
                &[],
            )?,
        })
    }
}

/// Removes every series of `vec` whose label `label` is `value` (the crate removes only by the full set).
pub(crate) fn remove_where<T: MetricVecBuilder>(
    vec: &MetricVec<T>,
    names: &[&str],
    label: &str,
    value: &str,
) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let pairs = metric.get_label();
            if !pairs
                .iter()
                .any(|p| p.name() == label && p.value() == value)
            {
                continue;
            }
            let values: Vec<&str> = names
                .iter()
                .map(|n| {
                    pairs
                        .iter()
                        .find(|p| p.name() == *n)
                        .map_or("", |p| p.value())
                })
                .collect();
            let _ = vec.remove_label_values(&values);
        }
    }
}
