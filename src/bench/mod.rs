//! `switchboard bench`: measurements that the README quotes. Each prints a table and how it was run.

pub mod alloc;
pub mod engine;
pub mod proc;
pub mod sim;
pub mod sinks;
