//! `switchboard bench`: measurements that the README quotes. Each prints a table and how it was run.

pub mod all;
pub mod alloc;
pub mod detection;
pub mod engine;
pub mod harness;
pub mod latency;
pub mod proc;
pub mod scale;
pub mod sim;
pub mod sinks;
pub mod stats;
pub mod tail;
