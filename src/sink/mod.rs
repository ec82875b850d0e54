//! Sinks: where records leave switchboard. Each sink runs in its own task behind a bounded queue, so one slow
//! sink never stalls the router, the channels or the other sinks.

pub mod file;
pub mod nats;
pub mod stdout;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::{SinkConfig, SinkKind};

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

/// A destination. `write` may buffer; `flush` makes what was written durable (as far as the destination
/// allows). Both are retried by the worker on error, so they must not lose or reorder records they accepted.
#[async_trait::async_trait]
pub trait Sink: Send + 'static {
    async fn write(&mut self, batch: &[Delivery]) -> std::io::Result<()>;
    async fn flush(&mut self) -> std::io::Result<()>;
}

/// Counters of one sink worker.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// Records refused because the queue was full (the router waits instead; see `SinkHandle::send`).
    pub queue_full: AtomicU64,
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
                self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
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
pub fn open(config: &SinkConfig) -> std::io::Result<Box<dyn Sink>> {
    Ok(match &config.kind {
        SinkKind::File {
            path,
            max_bytes,
            max_files,
        } => Box::new(file::FileSink::open(path, *max_bytes, *max_files)?),
        SinkKind::Stdout => Box::new(stdout::StdoutSink::new()),
        SinkKind::Nats {
            url,
            subject,
            stream,
            create_stream,
        } => Box::new(nats::NatsSink::new(
            url,
            subject,
            stream.as_deref(),
            *create_stream,
        )),
    })
}

/// Starts a worker for `sink` with a queue of `capacity` records; the task ends when every handle is dropped
/// and the queue is drained.
pub fn spawn(
    name: &str,
    sink: Box<dyn Sink>,
    capacity: usize,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let stats = Arc::new(SinkStats::default());
    let handle = SinkHandle {
        name: name.into(),
        queue: tx,
        stats: stats.clone(),
    };
    let task = tokio::spawn(run(name.to_string(), sink, rx, stats));
    (handle, task)
}

async fn run(
    name: String,
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Delivery>,
    stats: Arc<SinkStats>,
) {
    let mut batch = Vec::with_capacity(1024);
    let mut backoff = Duration::from_millis(100);
    while rx.recv_many(&mut batch, 1024).await > 0 {
        loop {
            let result = match sink.write(&batch).await {
                Ok(()) => sink.flush().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    stats.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(e) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(sink = %name, error = %e, "sink write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        batch.clear();
    }
}
