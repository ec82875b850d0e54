//! `kind = "log"`: a replay log. Records are kept on disk in the spool's segment format, each with an id (1,
//! 2, 3 … in routing order), trimmed by size (`max_bytes`) and age (`max_age`), never acknowledged by a
//! consumer: the admin API's tail and paged read replay from it (`api/tail.rs`), so a consumer that went away
//! resumes from the last id it saw. `config.rs` its settings, `replay.rs` the log on disk (append, read from
//! an id, trim), `sink.rs` the writer, `tests.rs` its tests.

pub mod config;
pub mod replay;
mod sink;

pub use config::{DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, LogConfig};
pub use replay::{Cursor, ReplayLog};
pub use sink::LogSink;

#[cfg(test)]
mod tests;
