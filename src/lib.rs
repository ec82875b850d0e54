//! switchboard keeps Genesys Cloud notification channels open for many tenants and delivers every event.
//!
//! Module map:
//! - [`sim`]: a Genesys Cloud simulator (OAuth, notification REST API, streaming sockets, analytics query,
//!   workload, fault injection and a ledger of what was sent), used by tests, the demo and the benchmarks.
//! - [`bench`]: the measurements behind the figures in the README.
pub mod bench;
pub mod sim;
