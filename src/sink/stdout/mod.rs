//! `kind = "stdout"`: JSON Lines on standard output. `config.rs` its (empty) settings, `sink.rs` the writer,
//! `tests.rs` its tests.

pub mod config;
mod sink;
#[cfg(test)]
mod tests;

pub use config::StdoutConfig;
pub use sink::StdoutSink;
