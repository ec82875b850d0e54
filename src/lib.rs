//! switchboard keeps Genesys Cloud notification channels open for many tenants and delivers every event.
//!
//! Module map:
//! - [`sim`]: a Genesys Cloud simulator (OAuth, notification REST API, streaming sockets, analytics query,
//!   workload, fault injection and a ledger of what was sent), used by tests, the demo and the benchmarks.
//! - [`engine`]: starts the engine: [`supervisor`] → [`tenant`] → [`channel`] actors, the [`router`] and the
//!   [`sink`]s, with the [`store`]; [`upstream`] is the platform's REST API, [`envelope`] what sinks receive.
//! - [`registry`]: which sinks and routes run, kept in the store, changed through the admin API ([`api`]),
//!   applied to the [`router`].
//! - [`sink`]: the sink worker (`sink/worker/`: intake and delivery stages) and one folder per kind
//!   (`sink/<kind>/`: its settings, its writer, its tests).
//! - [`placement`]: which topics go on which channel of which client (for [`tenant`], [`channel`]).
//! - [`restart`] (over [`backoff`]): when a failed tenant or channel is tried again.
//! - [`gap`]: why continuity was lost, the tracker that turns a loss into a gap, and backfill's settings and
//!   outcome; [`backfill`]: the task each tenant with backfill runs (started by [`tenant`], fed gaps by its
//!   [`channel`]s), fetching what a gap missed from the analytics API.
//! - [`board`]: the status board, every tenant's and channel's status as their actors last wrote it, read by
//!   the admin API, `/readyz` and `/metrics` without a message to an actor.
//! - [`metrics`]: the Prometheus series of an engine, served at `/metrics`.
//! - [`config`]: the `serve` configuration and its validation; each sink kind's table is read by [`sink`].
//! - [`settings`]: what configuration is read with (field errors, the TOML reader, secrets); a leaf, so that
//!   [`config`] depends on [`sink`] and never the other way.
//! - [`egress`]: where connectors may connect (the outbound address policy and its allow-list); [`tls`]: the
//!   client TLS settings connectors use (a leaf).
//! - [`files`]: paths admins type, confined to a directory and read as small regular files.
//! - [`limits`]: the bounds of a shared instance (tenants, topics, pages).
//! - [`logging`]: log lines as text (coloured only on a terminal) or JSON.
//! - [`cluster`]: several instances on one PostgreSQL store: leases with a fencing epoch, the membership loop;
//!   [`fence`]: the self-fence the actors check before claiming anything (a leaf).
//! - [`topics`]: the platform's topic catalogue and patterns, used by the engine and the simulator.
//! - [`filter`]: routes' content filters (CEL expressions over an event), compiled when a route is set.
//! - [`bench`]: the measurements behind the figures in the README.
pub mod api;
pub mod backfill;
pub mod backoff;
pub mod bench;
pub mod board;
pub mod channel;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod egress;
pub mod engine;
pub mod envelope;
pub mod fence;
pub mod files;
pub mod filter;
pub mod gap;
pub mod heap;
pub mod lifetime;
pub mod limits;
pub mod logging;
pub mod metrics;
#[cfg(test)]
mod module_graph;
pub mod placement;
pub mod registry;
pub mod restart;
pub mod router;
pub mod secrets;
pub mod settings;
pub mod sim;
pub mod sink;
pub mod store;
pub mod supervisor;
pub mod tenant;
pub mod tenants;
pub mod time;
pub mod tls;
pub mod topics;
pub mod upstream;
