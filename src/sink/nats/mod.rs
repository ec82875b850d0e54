//! `kind = "nats"`: each envelope published to NATS JetStream. `config.rs` its settings (one type: file table,
//! store settings, API body and view) and their checks, `sink.rs` the writer, `tests.rs` its tests (some against a
//! real server).

pub mod config;
mod sink;

pub use config::{
    DEFAULT_NATS_SUBJECT, DEFAULT_NATS_URL, NATS_PLACEHOLDERS, NatsConfig, check_nats,
    check_nats_subject, check_nats_url, check_stream_name, nats_stream_subjects,
};
pub use sink::NatsSink;
