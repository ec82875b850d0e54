//! The handle the simulator keeps for one open socket, and what can be pushed through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::mpsc;

/// A frame queued for a socket, in order.
#[derive(Debug)]
pub enum Outbound {
    /// An event frame; `seq` is its ledger entry, so an unsent frame can be taken back out of the ledger.
    Event { seq: u64, frame: ByteString },
    /// A frame that is not an event (heartbeat, pong, system topic, reply to a socket subscribe).
    Text(ByteString),
    /// An RFC 6455 pong.
    Pong(Bytes),
    /// Raw text that is deliberately not JSON, or a binary frame (fault injection).
    Binary(Bytes),
}

/// Orders that overtake queued frames.
#[derive(Debug, Clone)]
pub enum Control {
    /// Send a close frame after what is already queued, then end the connection.
    Close { code: u16, reason: &'static str },
    /// End the TCP connection at once, without a close frame; queued frames are not sent.
    Drop,
}

/// State shared between the socket's tasks and the simulator.
#[derive(Debug)]
pub struct SocketShared {
    /// Monotonic reference for `stalled_until_us`.
    epoch: Instant,
    /// While now < this (µs since `epoch`), the socket sends nothing and answers no ping.
    stalled_until_us: AtomicU64,
    /// Set once the socket is being closed or dropped.
    closed: AtomicBool,
}

impl SocketShared {
    pub fn new() -> SocketShared {
        SocketShared {
            epoch: Instant::now(),
            stalled_until_us: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    pub fn stall_for(&self, d: Duration) {
        let until = self.epoch.elapsed() + d;
        self.stalled_until_us
            .fetch_max(until.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn clear_stall(&self) {
        self.stalled_until_us.store(0, Ordering::Relaxed);
    }

    pub fn is_stalled(&self) -> bool {
        (self.epoch.elapsed().as_micros() as u64) < self.stalled_until_us.load(Ordering::Relaxed)
    }

    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

impl Default for SocketShared {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a push to a socket did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The socket is stalled by a fault: the frame is withheld.
    Stalled,
    /// The queue is full (slow consumer) or the socket is gone.
    Unavailable,
}

/// The simulator's handle on one open socket.
#[derive(Debug, Clone)]
pub struct SocketLink {
    /// Distinguishes this socket from a later one on the same channel.
    pub conn_id: u64,
    pub data: mpsc::Sender<Outbound>,
    pub ctrl: mpsc::UnboundedSender<Control>,
    pub shared: Arc<SocketShared>,
}

impl SocketLink {
    /// Queues a frame unless the socket is stalled, closed or full.
    pub fn push(&self, frame: Outbound) -> Result<(), PushError> {
        if self.shared.is_closed() {
            return Err(PushError::Unavailable);
        }
        if self.shared.is_stalled() {
            return Err(PushError::Stalled);
        }
        self.data
            .try_send(frame)
            .map_err(|_| PushError::Unavailable)
    }

    pub fn close(&self, code: u16, reason: &'static str) {
        self.shared.mark_closed();
        let _ = self.ctrl.send(Control::Close { code, reason });
    }

    pub fn drop_connection(&self) {
        self.shared.mark_closed();
        let _ = self.ctrl.send(Control::Drop);
    }
}
