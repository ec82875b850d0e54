//! The delivery stage of a sink worker: one batch to the destination, the refused records to the dead
//! letters, the counters. Shared by both modes of the worker (see `mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use prometheus::local::LocalHistogram;
use tokio::sync::mpsc;

use super::{DeadLetters, SinkStats};
use crate::sink::{Delivery, Sink, SinkError};
use crate::store::DeadLetter;

/// Records taken from the queue at once, and read from the spool at once.
pub(super) const BATCH: usize = 1024;
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(100);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The destination side of the worker: writes batches, dead-letters what the destination refuses.
pub(super) struct Writer {
    pub(super) name: String,
    sink: Box<dyn Sink>,
    pub(super) stats: Arc<SinkStats>,
    dead: DeadLetters,
    /// The latency histogram's buffer, kept for the worker's life.
    latency: Option<LocalHistogram>,
}

impl Writer {
    pub(super) fn new(
        name: String,
        sink: Box<dyn Sink>,
        stats: Arc<SinkStats>,
        dead: DeadLetters,
    ) -> Writer {
        Writer {
            name,
            sink,
            latency: stats.latency_buffer(),
            stats,
            dead,
        }
    }

    /// One attempt at delivering `batch`; rejected records go to the dead letters and count as done.
    pub(super) async fn deliver(&mut self, batch: &[Delivery]) -> std::io::Result<()> {
        let mut rejected = 0;
        let result = match self.sink.write(batch).await {
            Ok(()) => self.sink.flush().await,
            Err(SinkError::Retry(e)) => Err(e),
            Err(SinkError::Reject { records, reason }) => {
                rejected = self
                    .dead
                    .keep(&self.name, batch, &records, &reason, &self.stats)
                    .await;
                self.sink.flush().await
            }
        };
        match result {
            Ok(()) => {
                self.stats.delivered(batch, rejected, self.latency.as_ref());
                Ok(())
            }
            Err(e) => {
                self.stats.write_failed();
                Err(e)
            }
        }
    }

    /// The direct mode: each batch from the queue is delivered, retried after a growing backoff until the
    /// destination takes it; meanwhile the queue fills and the router waits. Ends when the queue is closed
    /// and drained.
    pub(super) async fn run_direct(mut self, mut rx: mpsc::Receiver<Delivery>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut backoff = MIN_BACKOFF;
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            while let Err(e) = self.deliver(&batch).await {
                tracing::warn!(sink = %self.name, error = %e, "sink write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            backoff = MIN_BACKOFF;
            batch.clear();
        }
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
