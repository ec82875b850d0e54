//! A sink's worker: the task between the router and one destination, in two stages.
//!
//! - **Intake** owns ordering and overflow: it takes records from the worker's bounded queue and, in
//!   [`Mode::Spooled`], moves them to the spool on disk while the destination is slow or failing
//!   (`spooled.rs`).
//! - **Delivery** ([`Writer`], `deliver.rs`) writes one batch to the destination, flushes it, moves what the
//!   destination refuses for good to the dead letters, and counts. Both modes deliver through it; a failed
//!   batch is retried after a backoff, never dropped.
//!
//! The counters every stage updates are [`SinkStats`]; the router holds a [`SinkHandle`].

mod deliver;
mod spooled;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus::local::LocalHistogram;
use tokio::sync::mpsc;

use super::{Delivery, Sink, spool};
use crate::metrics::SinkMetrics;
use crate::metrics::labels::SinkErrorCode;
use crate::store::Store;

use deliver::Writer;

/// How a worker feeds its destination.
enum Mode {
    /// Straight from the queue: while the destination fails, the queue fills and the router waits.
    Direct,
    /// Through a durable spool on disk, which takes what the destination cannot take yet.
    Spooled(spool::Spool),
}

/// Counters of one sink worker.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// Records refused because the queue was full (the router waits instead; see `SinkHandle::send`).
    pub queue_full: AtomicU64,
    /// Records the destination rejected for good, moved to the dead-letter store.
    pub dead: AtomicU64,
    /// Dead letters of this sink the store dropped (the oldest) to stay within its bound.
    pub dead_dropped: AtomicU64,
    /// Bytes waiting in the spool on disk.
    pub spool_bytes: AtomicU64,
    /// Records written to the spool by this worker.
    pub spooled: AtomicU64,
    /// True while the spool is full (the worker then takes nothing more: the router waits).
    pub spool_full: AtomicBool,
    /// Times an append found the spool full.
    pub spool_full_total: AtomicU64,
    /// The bound of the spool (0 while the worker has none).
    pub spool_max_bytes: AtomicU64,
    /// The sink's Prometheus series (none for a worker started without them, as in unit tests).
    pub metrics: Option<SinkMetrics>,
}

impl SinkStats {
    /// The destination accepted `batch`, of which `rejected` records were dead-lettered instead.
    /// `latency` is the worker's buffer of the latency histogram (see [`Self::latency_buffer`]).
    fn delivered(&self, batch: &[Delivery], rejected: usize, latency: Option<&LocalHistogram>) {
        let n = (batch.len() - rejected) as u64;
        self.sent.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.sent(n);
        }
        if let Some(local) = latency {
            SinkMetrics::acknowledged(
                local,
                batch.iter().map(|d| (d.received_ms, &d.json[..])),
                chrono::Utc::now(),
            );
        }
    }

    /// A buffer of the sink's latency histogram, for a worker to keep (none without metrics).
    fn latency_buffer(&self) -> Option<LocalHistogram> {
        self.metrics.as_ref().map(SinkMetrics::latency_buffer)
    }

    /// A write (or flush) failed; the batch is tried again.
    fn write_failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.error(SinkErrorCode::Retry, 1);
        }
    }

    /// `n` records were moved to the dead-letter store.
    fn dead_lettered(&self, n: usize) {
        self.dead.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.dead_lettered(n as u64);
        }
    }

    /// The store dropped `n` of the sink's oldest dead letters to keep within the bound.
    fn dead_letters_dropped(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.dead_dropped.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.dead_letters_dropped(n as u64);
        }
    }

    /// A record found the queue full.
    fn queue_was_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.error(SinkErrorCode::QueueFull, 1);
        }
    }

    /// `n` records were written to the spool.
    fn spooled(&self, n: u64) {
        self.spooled.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.spooled(n);
        }
    }

    /// An append found the spool full.
    fn spool_found_full(&self) {
        self.spool_full_total.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.spool_found_full();
        }
    }
}

/// The router's handle on a sink worker.
#[derive(Clone)]
pub struct SinkHandle {
    pub name: Arc<str>,
    queue: mpsc::Sender<Delivery>,
    pub stats: Arc<SinkStats>,
}

impl SinkHandle {
    /// Queues a record, waiting while the queue is full (back-pressure reaches the router's bounded queue and
    /// shows in its depth; nothing is dropped).
    pub async fn send(&self, delivery: Delivery) -> bool {
        match self.queue.try_send(delivery) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(d)) => {
                self.stats.queue_was_full();
                self.queue.send(d).await.is_ok()
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Records waiting in the queue.
    pub fn depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// Starts a worker for `sink` with a queue of `capacity` records; the task ends when every handle is dropped
/// and the queue is drained. Records the destination rejects for good go to `store`'s dead letters (at
/// most [`DEFAULT_DEAD_LETTERS_MAX`] of them).
pub fn spawn(
    name: &str,
    sink: Box<dyn Sink>,
    capacity: usize,
    store: Arc<dyn Store>,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    spawn_spooled(name, sink, capacity, store, None)
}

/// How many dead letters a sink keeps unless `[store] dead_letters_max` says otherwise.
pub const DEFAULT_DEAD_LETTERS_MAX: usize = crate::limits::DEFAULT_DEAD_LETTERS_MAX;

/// Where a worker keeps the records its destination rejects for good: the store's dead letters, at most
/// `max` of this sink's (the store drops the oldest past that).
#[derive(Clone)]
pub struct DeadLetters {
    pub store: Arc<dyn Store>,
    pub max: usize,
}

/// Where a worker keeps its spool, and how large it may grow.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
}

/// Like [`spawn`], with a durable spool on disk: while the destination fails (or the queue is full) the
/// worker moves records to the spool and feeds the destination from it, oldest first, until it is empty. A
/// spool left by an earlier run is delivered before anything new.
pub fn spawn_spooled(
    name: &str,
    sink: Box<dyn Sink>,
    capacity: usize,
    store: Arc<dyn Store>,
    spool: Option<SpoolConfig>,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    let dead = DeadLetters {
        store,
        max: DEFAULT_DEAD_LETTERS_MAX,
    };
    spawn_observed(name, sink, capacity, dead, spool, None)
}

/// Like [`spawn_spooled`] with the dead letters' bound given, counting into the sink's Prometheus series.
pub fn spawn_observed(
    name: &str,
    sink: Box<dyn Sink>,
    capacity: usize,
    dead: DeadLetters,
    spool: Option<SpoolConfig>,
    metrics: Option<SinkMetrics>,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let stats = Arc::new(SinkStats {
        metrics,
        ..SinkStats::default()
    });
    let handle = SinkHandle {
        name: name.into(),
        queue: tx,
        stats: stats.clone(),
    };
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let mode = match spool {
            None => Mode::Direct,
            Some(config) => match open_spool(&name, &config).await {
                Some(spool) => {
                    stats
                        .spool_max_bytes
                        .store(config.max_bytes, Ordering::Relaxed);
                    Mode::Spooled(spool)
                }
                None => Mode::Direct,
            },
        };
        let writer = Writer::new(name, sink, stats, dead);
        match mode {
            Mode::Direct => writer.run_direct(rx).await,
            Mode::Spooled(spool) => spooled::run(writer, rx, spool).await,
        }
    });
    (handle, task)
}

/// Opens the spool, waiting while another worker of the same sink (one being replaced) still holds it. An
/// error other than that leaves the worker without a spool (reported).
async fn open_spool(name: &str, config: &SpoolConfig) -> Option<spool::Spool> {
    let mut waited = false;
    loop {
        let c = config.clone();
        let opened = tokio::task::spawn_blocking(move || {
            spool::Spool::open(&c.dir, c.max_bytes, c.segment_bytes)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        match opened {
            Ok(s) => return Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !waited {
                    tracing::info!(sink = %name, "spool held by the previous worker of this sink; waiting");
                    waited = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                tracing::error!(sink = %name, dir = %config.dir.display(), error = %e, "cannot open the spool; this sink runs without one");
                return None;
            }
        }
    }
}
