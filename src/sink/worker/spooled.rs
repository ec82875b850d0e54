//! The intake stage of a sink worker in spooled mode: ordering and overflow to the spool.
//!
//! In the normal path it writes what the queue holds, as the plain worker does. While a write is under way it
//! keeps taking records from its queue, so a slow destination never holds the router (and so the other sinks
//! and the channels): once more than a queue's worth has arrived during one write, the batch being written and
//! everything after it go to the spool. When a write fails, likewise. From then on the destination is fed from
//! the spool, oldest first, until it is empty; then the worker goes back to the queue. A record is
//! acknowledged in the spool only once the destination accepted it (or it was dead-lettered): delivery is at
//! least once, and a crash may send the last batch again. While the spool is full the worker takes nothing
//! more from its queue, so the router waits: nothing is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::SinkStats;
use super::deliver::{BATCH, MAX_BACKOFF, MIN_BACKOFF, Writer};
use crate::sink::Delivery;
use crate::sink::spool::{Appended, Position, Spool};

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

/// Where the batch being written came from, which decides what its delivery acknowledges.
enum Source {
    /// Taken from the queue and only in memory.
    Memory,
    /// In the spool: delivering it acknowledges the spool up to this position.
    Spool(Position),
}

/// The intake side: what arrived and is newer than everything in the spool and in flight.
struct Intake {
    name: String,
    stats: Arc<SinkStats>,
    spool: Arc<Mutex<Spool>>,
    /// Received but not yet in the spool (not spooling yet, or the spool was full or could not be written).
    pending: Vec<Delivery>,
    /// Records that may wait in `pending` before they must go to the spool: as many as the queue holds, so
    /// memory stays bounded by twice the queue.
    pending_max: usize,
    /// The queue is closed (the sink is being removed): nothing more will arrive.
    closed: bool,
}

impl Intake {
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
                self.stats.spooled(n);
                if self.stats.spool_full.swap(false, Ordering::Relaxed) {
                    tracing::info!(sink = %self.name, "spool has room again");
                }
                true
            }
            Ok(Appended::Full) => {
                self.pending = batch;
                self.stats.spool_found_full();
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

    /// Writes `batch` (just taken from memory, older than `pending`) to the empty spool, so that what arrives
    /// after it can be spooled behind it; returns the position that acknowledges it, or `None` if the spool
    /// could not be written (the batch then stays in memory and nothing is spooled behind it).
    async fn spool_in_flight(&mut self, batch: &[Delivery]) -> Option<Position> {
        let records = batch.to_vec();
        let n = records.len() as u64;
        match on_spool(&self.spool, &self.stats, move |s| {
            s.append(&records).map(|a| (a, s.end()))
        })
        .await
        {
            Ok((Appended::Done, end)) => {
                self.stats.spooled(n);
                Some(end)
            }
            Ok((Appended::Full, _)) => None,
            Err(e) => {
                tracing::error!(sink = %self.name, error = %e, "cannot write the spool; records wait in memory");
                None
            }
        }
    }

    /// Whether to take more from the queue now.
    fn wants_more(&self) -> bool {
        !self.closed && self.pending.len() < self.pending_max
    }
}

/// Delivers `batch` while still taking records from the queue. If a queue's worth arrives meanwhile, the
/// destination is slower than the input: a batch from memory is first written to the spool (it is older than
/// what arrived), then what arrived follows it, and `spooling` turns true. Returns the result of the write.
async fn deliver_taking(
    writer: &mut Writer,
    intake: &mut Intake,
    rx: &mut mpsc::Receiver<Delivery>,
    batch: &[Delivery],
    source: &mut Source,
    spooling: &mut bool,
) -> std::io::Result<()> {
    let write = writer.deliver(batch);
    tokio::pin!(write);
    loop {
        let room = intake
            .pending_max
            .saturating_sub(intake.pending.len())
            .max(1);
        tokio::select! {
            result = &mut write => return result,
            n = rx.recv_many(&mut intake.pending, room), if intake.wants_more() => {
                if n == 0 {
                    intake.closed = true;
                }
                if intake.pending.len() < intake.pending_max && !*spooling {
                    continue;
                }
                if !*spooling {
                    match source {
                        Source::Memory => match intake.spool_in_flight(batch).await {
                            Some(end) => *source = Source::Spool(end),
                            // Nothing may be spooled ahead of the batch: the queue fills and the router waits.
                            None => continue,
                        },
                        Source::Spool(_) => {}
                    }
                    tracing::info!(sink = %intake.name, "destination slower than the input; spooling");
                    *spooling = true;
                }
                intake.store_pending().await;
            }
        }
    }
}

pub(super) async fn run(mut writer: Writer, mut rx: mpsc::Receiver<Delivery>, spool: Spool) {
    let mut spooling = !spool.is_empty();
    writer
        .stats
        .spool_bytes
        .store(spool.bytes(), Ordering::Relaxed);
    if spooling {
        tracing::info!(sink = %writer.name, bytes = spool.bytes(), "spool holds records from an earlier run; delivering them first");
    }
    let pending_max = rx.max_capacity();
    let mut intake = Intake {
        name: writer.name.clone(),
        stats: writer.stats.clone(),
        spool: Arc::new(Mutex::new(spool)),
        pending: Vec::new(),
        pending_max,
        closed: false,
    };
    let mut backoff = MIN_BACKOFF;
    // The buffer of the last batch taken from the queue, kept for the next: a batch costs no allocation.
    let mut spare: Vec<Delivery> = Vec::new();
    loop {
        // The oldest records not yet delivered: the spool's head while spooling, else what waits in memory.
        let (mut batch, mut source) = if spooling {
            intake.store_pending().await;
            match on_spool(&intake.spool, &intake.stats, |s| s.read(BATCH)).await {
                Ok((records, to)) if !records.is_empty() => (records, Source::Spool(to)),
                Ok(_) if intake.pending.is_empty() => {
                    // The spool is empty and nothing waits: back to the queue.
                    spooling = false;
                    continue;
                }
                // The spool is empty but could not take `pending` (it cannot be written): deliver from memory.
                Ok(_) => (take_batch(&mut intake.pending), Source::Memory),
                Err(e) => {
                    tracing::error!(sink = %intake.name, error = %e, "cannot read the spool; retrying");
                    (Vec::new(), Source::Memory)
                }
            }
        } else if !intake.pending.is_empty() {
            (take_batch(&mut intake.pending), Source::Memory)
        } else if intake.closed {
            break;
        } else {
            let mut batch = std::mem::take(&mut spare);
            batch.reserve(BATCH);
            if rx.recv_many(&mut batch, BATCH).await == 0 {
                break;
            }
            (batch, Source::Memory)
        };
        let delivered = !batch.is_empty()
            && deliver_taking(
                &mut writer,
                &mut intake,
                &mut rx,
                &batch,
                &mut source,
                &mut spooling,
            )
            .await
            .inspect_err(
                |e| tracing::warn!(sink = %intake.name, error = %e, "sink write failed; retrying"),
            )
            .is_ok();
        if delivered {
            if let Source::Spool(to) = source
                && let Err(e) = on_spool(&intake.spool, &intake.stats, move |s| s.ack(to)).await
            {
                // Delivered again after a restart: at least once.
                tracing::error!(sink = %intake.name, error = %e, "cannot acknowledge in the spool");
            }
            backoff = MIN_BACKOFF;
            if let Source::Memory = source {
                batch.clear();
                spare = batch;
            }
            continue;
        }
        if let Source::Memory = source {
            // The failed batch is the oldest of all: it goes first, ahead of what arrived meanwhile.
            let newer = std::mem::replace(&mut intake.pending, batch);
            intake.pending.extend(newer);
        }
        if !spooling {
            tracing::warn!(sink = %intake.name, "spooling until the destination recovers");
        }
        spooling = true;
        // Wait before the next attempt, still moving what arrives to the spool.
        let deadline = tokio::time::Instant::now() + jittered(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        intake.store_pending().await;
        loop {
            let room = intake
                .pending_max
                .saturating_sub(intake.pending.len())
                .max(1);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                n = rx.recv_many(&mut intake.pending, room), if intake.wants_more() => {
                    if n == 0 {
                        intake.closed = true;
                    }
                    intake.store_pending().await;
                }
            }
        }
    }
}

/// Takes up to one batch from the front of `pending`.
fn take_batch(pending: &mut Vec<Delivery>) -> Vec<Delivery> {
    if pending.len() <= BATCH {
        std::mem::take(pending)
    } else {
        pending.drain(..BATCH).collect()
    }
}
