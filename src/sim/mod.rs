//! The Genesys Cloud simulator: a faithful platform in a box for tests, the demo and the benchmarks.
//!
//! - [`config`]: every interval, lifetime and limit, and the options for behaviour the contract calls unknown.
//! - [`state`]: clients, tokens, channels, subscriptions, sockets, faults; [`ledger`] and [`stats`] record.
//! - [`http`]: OAuth, the notification REST API, the user and queue listings, the analytics query and the
//!   `/sim/v1` control API.
//! - [`socket`]: the streaming socket (heartbeats, pings, socket-level subscribe).
//! - [`workload`]: the org model, its events and the changes the control API makes to it; [`directory`]: the
//!   user, queue and queue-member listings over it; [`analytics`]: the conversation details query.
//! - [`server`]: starting it (`spawn`), TLS, and the thread that drives the workload and the clock.
pub mod analytics;
pub mod config;
pub mod directory;
pub mod error;
pub mod http;
pub mod ledger;
pub mod server;
pub mod socket;
pub mod state;
pub mod stats;
pub mod time;
pub mod tls;
pub mod workload;

pub use config::{ClientSpec, SimConfig};
pub use server::{SimHandle, spawn};
