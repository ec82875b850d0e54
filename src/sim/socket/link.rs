//! The handle the simulator keeps for one open socket, and what can be pushed through it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Context;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::task::AtomicWaker;
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

/// A socket's queue of frames, bounded. The simulator can append a burst quietly and wake the socket's
/// writer once for all of it: the burst then leaves in one write. (Woken by the first frame, the writer
/// would pre-empt the publisher on its core and send that frame alone, then the rest: two writes where the
/// platform's fan-out sends one.)
#[derive(Debug)]
pub struct FrameQueue {
    frames: parking_lot::Mutex<VecDeque<Outbound>>,
    capacity: usize,
    waker: AtomicWaker,
    /// Frames were appended quietly and the writer not yet woken for them.
    unannounced: AtomicBool,
}

impl FrameQueue {
    pub fn new(capacity: usize) -> Arc<FrameQueue> {
        Arc::new(FrameQueue {
            frames: parking_lot::Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            waker: AtomicWaker::new(),
            unannounced: AtomicBool::new(false),
        })
    }

    /// Appends a frame unless the queue is full.
    fn append(&self, frame: Outbound) -> bool {
        let mut frames = self.frames.lock();
        if frames.len() >= self.capacity {
            return false;
        }
        frames.push_back(frame);
        true
    }

    /// Wakes the writer for whatever was appended.
    pub fn announce(&self) {
        self.unannounced.store(false, Ordering::Relaxed);
        self.waker.wake();
    }

    /// Moves up to `max` queued frames into `into`, oldest first; when none are left, the writer is woken by
    /// the next announcement.
    pub fn take(&self, cx: &mut Context<'_>, max: usize, into: &mut Vec<Outbound>) {
        // Registered before looking, so that an announcement made meanwhile is not missed.
        self.waker.register(cx.waker());
        let mut frames = self.frames.lock();
        let n = frames.len().min(max);
        into.extend(frames.drain(..n));
    }

    /// Every queued frame (the socket is closing or gone).
    pub fn take_all(&self) -> Vec<Outbound> {
        self.frames.lock().drain(..).collect()
    }
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
    pub data: Arc<FrameQueue>,
    pub ctrl: mpsc::UnboundedSender<Control>,
    pub shared: Arc<SocketShared>,
}

impl SocketLink {
    /// Queues a frame unless the socket is stalled, closed or full, and wakes the socket's writer.
    pub fn push(&self, frame: Outbound) -> Result<(), PushError> {
        self.push_quietly(frame)?;
        self.data.announce();
        Ok(())
    }

    /// Queues a frame like [`SocketLink::push`] without waking the writer. Returns whether this is the
    /// first frame since the last announcement: the caller then announces the socket's frames once it has
    /// queued the burst ([`FrameQueue::announce`]).
    pub fn push_quietly(&self, frame: Outbound) -> Result<bool, PushError> {
        if self.shared.is_closed() {
            return Err(PushError::Unavailable);
        }
        if self.shared.is_stalled() {
            return Err(PushError::Stalled);
        }
        if !self.data.append(frame) {
            return Err(PushError::Unavailable);
        }
        Ok(!self.data.unannounced.swap(true, Ordering::Relaxed))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its wake-ups.
    struct Counter(AtomicU64);

    impl std::task::Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn link(capacity: usize) -> SocketLink {
        let (ctrl, _) = mpsc::unbounded_channel();
        SocketLink {
            conn_id: 1,
            data: FrameQueue::new(capacity),
            ctrl,
            shared: Arc::new(SocketShared::new()),
        }
    }

    fn text(n: u32) -> Outbound {
        Outbound::Text(ByteString::from(n.to_string()))
    }

    #[test]
    fn a_quiet_burst_wakes_the_writer_once_and_is_taken_whole() {
        let link = link(16);
        let counter = Arc::new(Counter(AtomicU64::new(0)));
        let waker = std::task::Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut taken = Vec::new();
        // The writer waits on an empty queue.
        link.data.take(&mut cx, 512, &mut taken);
        assert!(taken.is_empty());
        let firsts: Vec<bool> = (0..5)
            .map(|n| link.push_quietly(text(n)).unwrap())
            .collect();
        assert_eq!(
            firsts,
            [true, false, false, false, false],
            "only the first starts a burst"
        );
        assert_eq!(
            counter.0.load(Ordering::Relaxed),
            0,
            "nobody woken while queuing"
        );
        link.data.announce();
        assert_eq!(counter.0.load(Ordering::Relaxed), 1);
        link.data.take(&mut cx, 512, &mut taken);
        assert_eq!(taken.len(), 5, "the whole burst in one take");
        // After an announcement, the next quiet frame starts a new burst; `push` wakes at once.
        assert!(link.push_quietly(text(5)).unwrap());
        link.push(text(6)).unwrap();
        assert_eq!(counter.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_socket_takes_nothing() {
        let link = link(2);
        link.push(text(0)).unwrap();
        link.push(text(1)).unwrap();
        assert_eq!(link.push(text(2)), Err(PushError::Unavailable), "full");
        assert_eq!(link.data.take_all().len(), 2);
        link.shared.stall_for(Duration::from_secs(60));
        assert_eq!(link.push(text(3)), Err(PushError::Stalled));
        link.shared.clear_stall();
        link.shared.mark_closed();
        assert_eq!(link.push_quietly(text(4)), Err(PushError::Unavailable));
        assert!(link.data.take_all().is_empty());
    }
}
