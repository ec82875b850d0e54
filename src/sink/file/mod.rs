//! `kind = "file"`: JSON Lines appended to a file, rotated by size. `config.rs` its settings (one type: file
//! table, store settings, API body and view), `sink.rs` the writer, `tests.rs` its tests.

pub mod config;
mod sink;

pub use config::{DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, FileConfig};
pub use sink::FileSink;
