//! The engine against the simulator over real sockets, the simulator's ledger as the oracle.

mod harness;
mod scenarios;
