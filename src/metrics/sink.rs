//! The series of one sink, resolved once for its worker.

use chrono::{DateTime, Utc};
use prometheus::local::LocalHistogram;
use prometheus::{Histogram, IntCounter};

use super::families::Families;
use super::labels::SinkErrorCode;

/// Handles on one sink's counters and its delivery latency; every series exists (at 0) once this is made.
#[derive(Clone)]
pub struct SinkMetrics {
    sent: IntCounter,
    errors: [IntCounter; SinkErrorCode::ALL.len()],
    spooled: IntCounter,
    spool_full: IntCounter,
    dlq: IntCounter,
    dead_letters_dropped: IntCounter,
    latency: Histogram,
}

impl std::fmt::Debug for SinkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkMetrics").finish_non_exhaustive()
    }
}

impl SinkMetrics {
    pub(crate) fn new(f: &Families, sink: &str) -> SinkMetrics {
        SinkMetrics {
            sent: f.sink_sent.with_label_values(&[sink]),
            errors: SinkErrorCode::ALL
                .map(|c| f.sink_errors.with_label_values(&[sink, c.as_str()])),
            spooled: f.spooled.with_label_values(&[sink]),
            spool_full: f.spool_full_total.with_label_values(&[sink]),
            dlq: f.dlq.with_label_values(&[sink]),
            dead_letters_dropped: f.dead_letters_dropped.with_label_values(&[sink]),
            latency: f.delivery_latency.with_label_values(&[sink]),
        }
    }

    pub fn sent(&self, n: u64) {
        self.sent.inc_by(n);
    }

    pub fn error(&self, code: SinkErrorCode, n: u64) {
        self.errors[code as usize].inc_by(n);
    }

    pub fn spooled(&self, n: u64) {
        self.spooled.inc_by(n);
    }

    pub fn spool_found_full(&self) {
        self.spool_full.inc();
    }

    pub fn dead_lettered(&self, n: u64) {
        self.dlq.inc_by(n);
        self.error(SinkErrorCode::Reject, n);
    }

    /// The store dropped `n` of the sink's oldest dead letters to keep within its bound.
    pub fn dead_letters_dropped(&self, n: u64) {
        self.dead_letters_dropped.inc_by(n);
    }

    /// A buffer of the delivery latency histogram, for [`Self::acknowledged`].
    pub fn latency_buffer(&self) -> LocalHistogram {
        self.latency.local()
    }

    /// The destination acknowledged these records at `now`: observes each event's time since `receivedAt`
    /// (gap records carry none). Each record comes with its `receivedAt` in milliseconds when the engine
    /// carried it beside the line; otherwise (records from the spool) it is read from the line. A batch is
    /// observed locally and flushed once, not one atomic per record.
    /// `local` is the worker's own buffer of the latency histogram ([`Self::latency_buffer`]), kept from batch
    /// to batch: a new one per batch was an allocation.
    pub fn acknowledged<'a>(
        local: &LocalHistogram,
        records: impl Iterator<Item = (Option<i64>, &'a [u8])>,
        now: DateTime<Utc>,
    ) {
        // Records read from the line mostly share their millisecond: parse each distinct text once.
        let mut last: Option<(&[u8], i64)> = None;
        let now_ms = now.timestamp_millis();
        for (received_ms, json) in records {
            let at = match received_ms {
                Some(ms) => ms,
                None => {
                    let Some(text) = crate::envelope::received_at(json) else {
                        continue;
                    };
                    match last {
                        Some((t, ms)) if t == text => ms,
                        _ => match parse_millis(text) {
                            Some(ms) => {
                                last = Some((text, ms));
                                ms
                            }
                            None => continue,
                        },
                    }
                }
            };
            local.observe(now_ms.saturating_sub(at).max(0) as f64 / 1000.0);
        }
        local.flush();
    }
}

fn parse_millis(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}
