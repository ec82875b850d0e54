//! The worker of a sink with a spool.
//!
//! In the normal path it writes what the queue holds, as the plain worker does. When a write fails (or the
//! queue is full), the batch and everything received after it go to the spool, and the destination is fed
//! from the spool, oldest first, until the spool is empty; then the worker goes back to the queue. A record
//! is acknowledged in the spool only once the destination accepted it (or it was dead-lettered): delivery
//! is at least once, and a crash may send the last batch again. While the spool is full the worker takes
//! nothing more from its queue, so the router waits: nothing is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::spool::{Appended, Position, Spool};
use super::{Delivery, Sink, SinkError, SinkStats, dead_letters};
use crate::store::Store;

const BATCH: usize = 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// Runs a spool operation off the async threads (it reads, writes and fsyncs files), and updates the gauge.
async fn on_spool<T: Send + 'static>(
    spool: &Arc<Mutex<Spool>>,
    stats: &Arc<SinkStats>,
    f: impl FnOnce(&mut Spool) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let s = spool.clone();
    let st = stats.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = s.lock();
        let r = f(&mut s);
        st.spool_bytes.store(s.bytes(), Ordering::Relaxed);
        r
    })
    .await
    .map_err(std::io::Error::other)?
}

fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

struct Worker {
    name: String,
    sink: Box<dyn Sink>,
    stats: Arc<SinkStats>,
    store: Arc<dyn Store>,
    spool: Arc<Mutex<Spool>>,
    /// Received while spooling but not yet in the spool (it was full, or could not be written).
    pending: Vec<Delivery>,
}

impl Worker {
    /// One attempt at delivering `batch`; rejected records go to the dead letters and count as done.
    async fn deliver(&mut self, batch: &[Delivery]) -> std::io::Result<()> {
        let mut rejected = 0;
        let result = match self.sink.write(batch).await {
            Ok(()) => self.sink.flush().await,
            Err(SinkError::Retry(e)) => Err(e),
            Err(SinkError::Reject { records, reason }) => {
                rejected =
                    dead_letters(&self.name, batch, &records, &reason, self.store.as_ref()).await;
                self.stats
                    .dead
                    .fetch_add(rejected as u64, Ordering::Relaxed);
                self.sink.flush().await
            }
        };
        match result {
            Ok(()) => {
                self.stats
                    .sent
                    .fetch_add((batch.len() - rejected) as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Moves `pending` to the spool if it has room; returns whether `pending` is now empty.
    async fn store_pending(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.pending);
        let n = batch.len() as u64;
        let (batch, result) = {
            let s = self.spool.clone();
            let st = self.stats.clone();
            match tokio::task::spawn_blocking(move || {
                let mut s = s.lock();
                let r = s.append(&batch);
                st.spool_bytes.store(s.bytes(), Ordering::Relaxed);
                (batch, r)
            })
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(sink = %self.name, error = %e, "spool task failed");
                    return false;
                }
            }
        };
        match result {
            Ok(Appended::Done) => {
                self.stats.spooled.fetch_add(n, Ordering::Relaxed);
                if self.stats.spool_full.swap(false, Ordering::Relaxed) {
                    tracing::info!(sink = %self.name, "spool has room again");
                }
                true
            }
            Ok(Appended::Full) => {
                self.pending = batch;
                self.stats.spool_full_total.fetch_add(1, Ordering::Relaxed);
                if !self.stats.spool_full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(sink = %self.name, "spool full: taking no more records until the destination accepts some");
                }
                false
            }
            Err(e) => {
                self.pending = batch;
                tracing::error!(sink = %self.name, error = %e, "cannot write the spool; records wait in memory");
                false
            }
        }
    }

    /// Moves what waits in the queue to the spool (at most a few batches, so that delivery is not starved by
    /// a fast input), as far as it has room. Returns false once the queue is closed and empty.
    async fn drain_queue(&mut self, rx: &mut mpsc::Receiver<Delivery>) -> bool {
        for _ in 0..16 {
            if !self.store_pending().await {
                return true;
            }
            loop {
                match rx.try_recv() {
                    Ok(d) => {
                        self.pending.push(d);
                        if self.pending.len() >= BATCH {
                            break;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        // What did not fit stays in `pending`, delivered once the spool is empty.
                        self.store_pending().await;
                        return false;
                    }
                }
            }
            if self.pending.is_empty() {
                return true;
            }
        }
        self.store_pending().await;
        true
    }
}

pub(super) async fn run(
    name: String,
    sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Delivery>,
    stats: Arc<SinkStats>,
    store: Arc<dyn Store>,
    spool: Spool,
) {
    let mut spooling = !spool.is_empty();
    stats.spool_bytes.store(spool.bytes(), Ordering::Relaxed);
    if spooling {
        tracing::info!(sink = %name, bytes = spool.bytes(), "spool holds records from an earlier run; delivering them first");
    }
    let mut w = Worker {
        name,
        sink,
        stats,
        store,
        spool: Arc::new(Mutex::new(spool)),
        pending: Vec::new(),
    };
    let mut backoff = MIN_BACKOFF;
    let mut batch = Vec::with_capacity(BATCH);
    // The batch being delivered from the spool (or from `pending` when the spool cannot be written), with
    // the position to acknowledge once delivered.
    let mut inflight: Option<(Vec<Delivery>, Option<Position>)> = None;
    let mut open = true;
    loop {
        if !spooling {
            batch.clear();
            if rx.recv_many(&mut batch, BATCH).await == 0 {
                break;
            }
            // A full queue means the destination is slower than the input: spool rather than hold the router.
            let full = rx.len() >= rx.max_capacity();
            if !full && w.deliver(&batch).await.is_ok() {
                backoff = MIN_BACKOFF;
                continue;
            }
            if full {
                tracing::info!(sink = %w.name, "queue full; spooling");
            } else {
                tracing::warn!(sink = %w.name, "sink write failed; spooling until the destination recovers");
            }
            w.pending = std::mem::take(&mut batch);
            spooling = true;
        }
        if open {
            open = w.drain_queue(&mut rx).await;
        }
        if inflight.is_none() {
            match on_spool(&w.spool, &w.stats, |s| s.read(BATCH)).await {
                Ok((records, to)) if !records.is_empty() => inflight = Some((records, Some(to))),
                Ok(_) if w.pending.is_empty() => {
                    // The spool is empty and nothing waits: back to the queue.
                    spooling = false;
                    if !open {
                        break;
                    }
                    continue;
                }
                Ok(_) => inflight = Some((std::mem::take(&mut w.pending), None)),
                Err(e) => {
                    tracing::error!(sink = %w.name, error = %e, "cannot read the spool; retrying");
                }
            }
        }
        let delivered = match &inflight {
            Some((records, _)) => {
                let records = records.clone();
                match w.deliver(&records).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(sink = %w.name, error = %e, "sink write failed; retrying from the spool");
                        false
                    }
                }
            }
            None => false,
        };
        if delivered {
            if let Some((_, Some(to))) = inflight.take()
                && let Err(e) = on_spool(&w.spool, &w.stats, move |s| s.ack(to)).await
            {
                // Delivered again after a restart: at least once.
                tracing::error!(sink = %w.name, error = %e, "cannot acknowledge in the spool");
            }
            backoff = MIN_BACKOFF;
            continue;
        }
        // Wait before the next attempt, still moving what arrives to the spool.
        let deadline = tokio::time::Instant::now() + jittered(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        loop {
            let take = open && w.pending.is_empty();
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                n = rx.recv_many(&mut w.pending, BATCH), if take => {
                    if n == 0 {
                        open = false;
                    } else {
                        w.store_pending().await;
                    }
                }
            }
        }
    }
}
