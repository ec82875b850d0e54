//! The engine against the simulator over real sockets, the simulator's ledger as the oracle.

mod api;
mod backfill;
mod bounds;
mod cluster;
mod egress;
mod hardening;
mod harness;
mod isolation;
#[cfg(feature = "kafka")]
mod kafka;
mod kit;
mod lifetimes;
mod metrics;
mod nats;
mod operator;
mod panics;
mod recipes;
mod replay;
mod scenarios;
mod sinks_api;
mod spool;
mod templates;
mod threads;
mod webhook;

use harness::{PATIENCE, POLL};
