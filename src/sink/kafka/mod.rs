//! `kind = "kafka"`: each envelope produced to Kafka by the idempotent producer. `config.rs` its settings
//! (one type: file table, store settings, API body and view) and their checks, with `properties.rs` (the librdkafka
//! properties: fixed, secret, and how a value is given), read in every build; `sink.rs` the
//! writer and `tests.rs` its tests (against a real broker), built only with the `kafka` feature.

pub mod config;
mod properties;
#[cfg(feature = "kafka")]
mod sink;

pub use config::{
    DEFAULT_KAFKA_TIMEOUT, DEFAULT_KAFKA_TOPIC, KAFKA_SUPPORTED, KafkaConfig, NO_KAFKA, Properties,
    check_kafka, is_secret_property,
};
#[cfg(feature = "kafka")]
pub use sink::*;
