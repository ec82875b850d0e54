//! The simulator, exercised over real sockets as a client would use it.

mod helpers;

mod analytics;
mod bad_input;
mod channels;
mod directory;
mod faults;
mod ledger;
mod oauth;
mod openapi;
mod org;
mod socket;
mod subscriptions;
mod tls;

#[path = "../engine/kit/wait.rs"]
mod wait;

use helpers::{PATIENCE, POLL};
