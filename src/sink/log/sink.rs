//! The log sink's writer: appends each batch to its [`ReplayLog`] (durably, per batch).

use std::sync::Arc;

use super::config::LogConfig;
use super::replay::ReplayLog;
use crate::sink::{Delivery, Sink, SinkError};

pub struct LogSink {
    log: Arc<ReplayLog>,
}

impl LogSink {
    /// Opens (or joins, when a replaced worker still has it) the log in `config.dir`.
    pub fn open(config: &LogConfig) -> std::io::Result<LogSink> {
        Ok(LogSink {
            log: ReplayLog::open(config)?,
        })
    }
}

#[async_trait::async_trait]
impl Sink for LogSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        let log = self.log.clone();
        let batch = batch.to_vec();
        // Appends write and fsync files: off the async threads.
        tokio::task::spawn_blocking(move || log.append(&batch))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        // Every append is already durable.
        Ok(())
    }
}
