//! Sinks: where records leave switchboard. Each sink runs in its own task behind a bounded queue, so one slow
//! sink never stalls the router, the channels or the other sinks.
//!
//! Map: this file holds the [`Sink`] trait and the record it writes; `worker/` the task that feeds a sink
//! (an intake stage that owns ordering and overflow to the [`spool`], a delivery stage that writes, flushes
//! and dead-letters, in `deliver.rs`); [`config`] the
//! [`SinkConfig`] and the reading of `[[sinks]]`; `kinds.rs` [`SinkKind`], the registry of kinds (every
//! dispatch on the kind) and the table of their fields; `form.rs` how a kind's one settings type is read from a
//! `[[sinks]]` table, an API body or the store; [`body`] the admin API's body and view; `template.rs` subject,
//! topic and key templates. Each kind is one folder, the same files in each: [`stdout`], [`file`], [`nats`],
//! [`webhook`], [`kafka`], [`log`] — `mod.rs` (the map), `config.rs` (its one settings type, a serde struct
//! that is at once the file's table, the API's body and view and the store's settings, with its checks),
//! `sink.rs` (the writer), `tests.rs`.
//!
//! Adding a kind: copy a folder to `sink/<kind>/`, write its `config.rs` (the struct and its `KindSettings`:
//! fields, required ones, checks) and `sink.rs`; add `pub mod <kind>;` here, one arm to [`SinkKind`] holding
//! the struct, one row to `KINDS`, and that arm to each `match` in `kinds.rs` (the compiler lists them). The
//! other kinds then name its fields as not theirs, and the API's schema shows it. Nothing else dispatches on
//! the kind.

pub mod body;
pub mod config;
pub mod file;
pub(crate) mod form;
pub mod kafka;
mod kinds;
pub mod log;
pub mod nats;
pub mod spool;
pub mod stdout;
mod template;
pub mod webhook;
mod worker;

use std::sync::Arc;

use bytes::Bytes;

pub use config::{SinkConfig, check_template, is_valid_sink_name, sink_aad};
pub use kinds::{Destination, SinkKind};
pub use worker::{
    DEFAULT_DEAD_LETTERS_MAX, DeadLetters, SinkHandle, SinkStats, SpoolConfig, spawn,
    spawn_observed, spawn_spooled,
};

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
    /// An event's `receivedAt` in milliseconds since the epoch, carried beside the line so that the sink's
    /// latency needs no search through it (`None`: read from the line, as for records from the spool).
    pub received_ms: Option<i64>,
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

/// Builds the sink a config names.
pub fn open(config: &SinkConfig, egress: &crate::egress::Egress) -> std::io::Result<Box<dyn Sink>> {
    config.kind.open(egress)
}
