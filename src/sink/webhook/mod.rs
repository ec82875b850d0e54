//! `kind = "webhook"`: each envelope (or batch) POSTed to a URL, signed per Standard Webhooks. `config.rs` its
//! settings (one type: file table, store settings, API body and view) and their checks, `sink.rs` the writer,
//! `tests.rs` its tests.

pub mod config;
mod sink;

pub use config::{
    DEFAULT_WEBHOOK_TIMEOUT, WebhookConfig, check_webhook_allow, check_webhook_url, webhook_key,
};
pub use sink::*;
