//! The test kit: what a test names instead of building by hand. An app under test ([`App::builder`]), the
//! simulator's typed faults and stats (in `harness`), one HTTP receiver for the webhook sink's tests, one
//! JetStream reader, one way to run the `serve` binary, one `wait_until`, one `hex`.

mod app;
mod jetstream;
mod postgres;
mod receiver;
mod serve;
mod sse;
mod wait;

pub use app::{Admin, App, RunningEngine};
pub use jetstream::{jetstream_at, read_stream};
pub use postgres::OwnPostgres;
pub use receiver::{Request, http_receiver};
pub use serve::{spawn_serve, spawn_serve_with};
pub use sse::{Sse, SseEvent};
pub use wait::wait_until;

/// Lower-case hex of bytes (a token's SHA-256 as the configuration wants it).
pub fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
