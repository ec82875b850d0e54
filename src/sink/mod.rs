//! Sinks: where records leave switchboard. Each sink runs in its own task behind a bounded queue, so one slow
//! sink never stalls the router, the channels or the other sinks.
//!
//! Map: this file holds the [`Sink`] trait and its worker (with [`spool`] and `spooled.rs`); [`config`] the
//! [`SinkConfig`] and the reading of `[[sinks]]`; `kinds.rs` [`SinkKind`], the registry of kinds (every
//! dispatch on the kind); [`body`] the admin API's body and view; `template.rs` subject, topic and key
//! templates. Each kind is one folder, the same files in each: [`stdout`], [`file`], [`nats`], [`webhook`],
//! [`kafka`] — `mod.rs` (the map), `config.rs` (its settings: the configuration file's table, the store's
//! settings, the API's body and view, and their checks), `sink.rs` (the writer), `tests.rs`.
//!
//! Adding a kind: copy a folder to `sink/<kind>/` and write its `config.rs` and `sink.rs`; add `pub mod
//! <kind>;` here, one arm to [`SinkKind`] holding its config type, and that arm to each `match` in
//! `kinds.rs` (the compiler lists them; the other arms of `read` and `from_body` name its keys as not theirs).
//! Nothing else dispatches on the kind.

pub mod body;
pub mod config;
pub mod file;
pub mod kafka;
mod kinds;
pub mod nats;
pub mod spool;
mod spooled;
pub mod stdout;
mod template;
pub mod webhook;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::metrics::SinkMetrics;
use crate::metrics::labels::SinkErrorCode;
use crate::store::{DeadLetter, Store};

pub use config::{SinkConfig, check_template, is_valid_sink_name, sink_aad};
pub use kinds::{Destination, SinkKind};

/// The kind of a record, as in the envelope's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Event,
    Gap,
    Backfill,
}

/// One record for one sink: the envelope's JSON (no newline) and what a keyed destination needs.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub kind: RecordKind,
    pub tenant: Arc<str>,
    pub json: Bytes,
}

/// Why a write did not deliver the whole batch.
#[derive(Debug)]
pub enum SinkError {
    /// A passing failure: the worker writes the same batch again after a backoff.
    Retry(std::io::Error),
    /// The destination refused these records (indices into the batch) for good: the worker moves them to the
    /// dead-letter store; the rest of the batch counts as delivered.
    Reject { records: Vec<usize>, reason: String },
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> SinkError {
        SinkError::Retry(e)
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Retry(e) => write!(f, "{e}"),
            SinkError::Reject { records, reason } => {
                write!(f, "{} record(s) rejected: {reason}", records.len())
            }
        }
    }
}

/// A destination. `write` may buffer; `flush` makes what was written durable (as far as the destination
/// allows). Both are retried by the worker on error, so they must not lose or reorder records they accepted.
/// A write that ends in [`SinkError::Reject`] has delivered every record of the batch but the rejected ones.
#[async_trait::async_trait]
pub trait Sink: Send + 'static {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError>;
    async fn flush(&mut self) -> std::io::Result<()>;
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
    fn delivered(&self, batch: &[Delivery], rejected: usize) {
        let n = (batch.len() - rejected) as u64;
        self.sent.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.sent(n);
            m.acknowledged(batch.iter().map(|d| &d.json[..]), chrono::Utc::now());
        }
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

/// Builds the sink a config names.
pub fn open(config: &SinkConfig, egress: &crate::egress::Egress) -> std::io::Result<Box<dyn Sink>> {
    config.kind.open(egress)
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
        match spool {
            None => run(name, sink, rx, stats, dead).await,
            Some(config) => match open_spool(&name, &config).await {
                Some(spool) => {
                    stats
                        .spool_max_bytes
                        .store(config.max_bytes, Ordering::Relaxed);
                    spooled::run(name, sink, rx, stats, dead, spool).await
                }
                None => run(name, sink, rx, stats, dead).await,
            },
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

async fn run(
    name: String,
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Delivery>,
    stats: Arc<SinkStats>,
    dead: DeadLetters,
) {
    let mut batch = Vec::with_capacity(1024);
    let mut backoff = Duration::from_millis(100);
    while rx.recv_many(&mut batch, 1024).await > 0 {
        loop {
            let mut rejected = 0;
            let result = match sink.write(&batch).await {
                Ok(()) => sink.flush().await,
                Err(SinkError::Retry(e)) => Err(e),
                Err(SinkError::Reject { records, reason }) => {
                    rejected = dead.keep(&name, &batch, &records, &reason, &stats).await;
                    sink.flush().await
                }
            };
            match result {
                Ok(()) => {
                    stats.delivered(&batch, rejected);
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(e) => {
                    stats.write_failed();
                    tracing::warn!(sink = %name, error = %e, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        batch.clear();
    }
}

impl DeadLetters {
    /// Keeps the rejected records of `batch` in the store's dead letters, retrying the store until it
    /// answers, and counts them and the oldest the store dropped to stay within the bound; returns how many
    /// were rejected.
    async fn keep(
        &self,
        name: &str,
        batch: &[Delivery],
        records: &[usize],
        reason: &str,
        stats: &SinkStats,
    ) -> usize {
        let mut indices: Vec<usize> = records
            .iter()
            .copied()
            .filter(|&i| i < batch.len())
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let at = chrono::Utc::now();
        let letters: Vec<DeadLetter> = indices
            .iter()
            .map(|&i| DeadLetter {
                id: uuid::Uuid::new_v4().to_string(),
                sink: name.to_string(),
                at,
                reason: reason.to_string(),
                json: String::from_utf8_lossy(&batch[i].json).into_owned(),
            })
            .collect();
        tracing::warn!(sink = %name, records = letters.len(), reason = %reason, "records rejected by the destination; kept as dead letters");
        let mut backoff = Duration::from_millis(100);
        let dropped = loop {
            match self.store.add_dead_letters(&letters, self.max).await {
                Ok(dropped) => break dropped,
                Err(e) => {
                    tracing::warn!(sink = %name, error = %e, "cannot store dead letters; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        };
        stats.dead_lettered(letters.len());
        if dropped > 0 {
            tracing::warn!(sink = %name, dropped, max = self.max, "the sink's dead letters are at their bound; the oldest were dropped");
            stats.dead_letters_dropped(dropped);
        }
        letters.len()
    }
}
