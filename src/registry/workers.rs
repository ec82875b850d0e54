//! The sink workers: where each writes (its [`Destination`]), how one starts, and how a replacement waits for
//! the workers that wrote its destination before it.

use super::*;

/// Starts a worker, with a flag that turns true once it has ended.
pub(super) fn start_worker(
    name: &str,
    sink: Box<dyn Sink>,
    store: Arc<dyn Store>,
    workers: &WorkerSettings,
    metrics: &Metrics,
) -> (SinkHandle, watch::Receiver<bool>) {
    let spool = workers.spool_dir.as_ref().map(|dir| sink::SpoolConfig {
        dir: dir.join(name),
        max_bytes: workers.spool_max_bytes,
        segment_bytes: sink::spool::DEFAULT_SEGMENT_BYTES,
    });
    let (handle, task) = sink::spawn_observed(
        name,
        sink,
        workers.queue,
        sink::DeadLetters {
            store,
            max: workers.dead_letters_max,
        },
        spool,
        Some(metrics.sink(name)),
    );
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = task.await;
        let _ = tx.send(true);
    });
    (handle, rx)
}

impl Running {
    pub(super) fn entry(&self) -> SinkEntry {
        SinkEntry {
            config: self.config.clone(),
            updated_at: self.updated_at,
            sent: self.stats.sent.load(Ordering::Relaxed),
            queued: self.handle.depth(),
            dead: self.stats.dead.load(Ordering::Relaxed),
            spool_bytes: self.stats.spool_bytes.load(Ordering::Relaxed),
            spooled: self.stats.spooled.load(Ordering::Relaxed),
            spool_full: self.stats.spool_full.load(Ordering::Relaxed),
            spool_full_total: self.stats.spool_full_total.load(Ordering::Relaxed),
            spool_max_bytes: self.stats.spool_max_bytes.load(Ordering::Relaxed),
        }
    }

    /// Gives up this handle on the worker; the router's goes with the next reconfiguration, then the worker
    /// writes its queue and ends.
    pub(super) fn retire(self) -> Retiring {
        Retiring {
            destination: self.config.kind.destination(),
            name: self.config.name,
            done: self.done,
        }
    }
}

/// A sink that writes only once the workers that wrote its destination before it have ended, then opens it.
pub(super) struct AfterPredecessors {
    pub(super) waiting: Vec<watch::Receiver<bool>>,
    pub(super) config: SinkConfig,
    pub(super) sink: Option<Box<dyn Sink>>,
    pub(super) egress: crate::egress::Egress,
}

impl AfterPredecessors {
    async fn ready(&mut self) -> std::io::Result<&mut Box<dyn Sink>> {
        while let Some(mut done) = self.waiting.pop() {
            // An error means the flag's sender is gone, which only happens once the worker has ended.
            let _ = done.wait_for(|d| *d).await;
        }
        let sink = match self.sink.take() {
            Some(s) => s,
            // An error here is retried by the worker with this same batch, like any write error.
            None => sink::open(&self.config, &self.egress)?,
        };
        Ok(self.sink.insert(sink))
    }
}

#[async_trait::async_trait]
impl Sink for AfterPredecessors {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), crate::sink::SinkError> {
        self.ready().await?.write(batch).await
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self.sink.as_mut() {
            Some(s) => s.flush().await,
            None => Ok(()),
        }
    }
}
