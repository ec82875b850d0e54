//! Handing the router a burst's events together.
//!
//! The channel handles its socket's messages one at a time, as it always did, but it no longer queues each
//! event for the router as soon as it is framed: events wait in the channel's [`Outbox`] until the socket has
//! nothing more ready (or [`MOST_PER_BURST`] messages were read), and then go to the router's queue one after
//! another. No timer is involved: the burst ends when the socket has nothing more to give, so latency does
//! not grow. On the engine's one thread that changes little, but with the channels on threads of their own
//! (`channel_threads`) the first event of each burst used to wake the router's thread, which routed it,
//! wrote it and slept again before the next was framed: at 20,000 events/s about three wake-ups and file
//! writes of the router's thread per burst read, where one does now.
//!
//! The socket's stream says where a burst ends ([`BurstEnds`]); the messages themselves are not collected:
//! holding a burst of them at once measured 3.4 heap allocations per event instead of 1.1 (most likely each
//! message keeps a share of the codec's read buffer alive, so the codec cannot re-use it). An idle channel keeps no outbox buffer: it is borrowed from
//! the thread's pool at a burst's first event and given back when the burst is handed over.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::time::Instant;

use crate::router::{Inbound, RouterQueue};

/// The most messages read from a socket before the router is handed its events: at saturation, where the
/// socket is never empty, a bound on what waits in an outbox.
const MOST_PER_BURST: usize = 64;
/// Outbox buffers a thread keeps for re-use.
const POOLED_OUTBOXES: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Vec<Inbound>>> = const { RefCell::new(Vec::new()) };
}

/// An item of a socket's stream with when its burst arrived, or the end of what it had ready.
pub(super) enum Read<T> {
    Item(T, Arrival),
    BurstEnd,
}

/// When a burst arrived. The clocks are read once, at the burst's first item, for all of its items: they
/// came off the socket together, and two clock reads per event were a visible share of an event's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrival {
    /// For `receivedAt` and continuity.
    pub(super) wall: DateTime<Utc>,
    /// For the watchdog (tokio's clock: paused in tests).
    pub(super) mono: Instant,
}

impl Arrival {
    pub(super) fn now() -> Arrival {
        Arrival {
            wall: Utc::now(),
            mono: Instant::now(),
        }
    }

    /// This arrival, or `floor` if that is later: a burst's frames read after the channel waited for room
    /// in the router's queue arrived no earlier than the wait's end, though their burst was stamped before it.
    pub(super) fn not_before(self, floor: Option<Arrival>) -> Arrival {
        match floor {
            Some(floor) if floor.mono > self.mono => floor,
            _ => self,
        }
    }
}

/// Passes a stream's items through, with a [`Read::BurstEnd`] after each run of items that were ready at
/// once (at most [`MOST_PER_BURST`]), and each item stamped with its run's [`Arrival`].
pub(super) struct BurstEnds<S> {
    inner: S,
    /// Items passed since the last burst end.
    run: usize,
    /// The arrival of the current run, from its first item on.
    arrival: Option<Arrival>,
    /// The inner stream has ended (it is not polled again).
    ended: bool,
}

impl<S> BurstEnds<S> {
    pub(super) fn new(inner: S) -> BurstEnds<S> {
        BurstEnds {
            inner,
            run: 0,
            arrival: None,
            ended: false,
        }
    }
}

impl<S: Stream + Unpin> Stream for BurstEnds<S> {
    type Item = Read<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Read<S::Item>>> {
        let this = self.get_mut();
        if this.run >= MOST_PER_BURST {
            this.run = 0;
            this.arrival = None;
            return Poll::Ready(Some(Read::BurstEnd));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.run += 1;
                let arrival = *this.arrival.get_or_insert_with(Arrival::now);
                Poll::Ready(Some(Read::Item(item, arrival)))
            }
            // Nothing more ready (the inner stream will wake the task), or nothing more at all: a burst
            // read before either ends here; the end of the stream comes at the next poll.
            other => {
                this.ended = other.is_ready();
                this.arrival = None;
                if this.run > 0 {
                    this.run = 0;
                    Poll::Ready(Some(Read::BurstEnd))
                } else {
                    other.map(|_| None)
                }
            }
        }
    }
}

/// What [`Outbox::flush`] asks of the channel.
pub(super) enum Flushed {
    /// Everything is queued (or the router is gone: the engine is stopping).
    Done,
    /// The router's queue is full: the channel must read nothing more until these are queued.
    Wait(Held),
}

/// Messages waiting for room in the router's queue; the channel queues them in order ([`Held::send_all`]).
pub(super) struct Held(Rc<RefCell<VecDeque<Inbound>>>);

impl Held {
    pub(super) async fn send_all(self, queue: RouterQueue) {
        loop {
            // The borrow ends before the await: the channel may add to the queue while this one waits.
            let next = self.0.borrow_mut().pop_front();
            let Some(msg) = next else {
                return;
            };
            if queue.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// A channel's messages for the router from the burst being read, and those that found its queue full.
#[derive(Default)]
pub(super) struct Outbox {
    /// Empty, with no buffer, between bursts.
    pending: Vec<Inbound>,
    /// While the channel waits for room, what it waits to queue; anything sent meanwhile goes behind.
    held: Option<Rc<RefCell<VecDeque<Inbound>>>>,
}

impl Outbox {
    /// Keeps a message (an event, a gap) for [`Outbox::flush`].
    pub(super) fn post(&mut self, msg: Inbound) {
        if self.pending.capacity() == 0 {
            self.pending = POOL
                .with_borrow_mut(Vec::pop)
                .unwrap_or_else(|| Vec::with_capacity(MOST_PER_BURST));
        }
        self.pending.push(msg);
    }

    /// The held messages, while some are still waiting for room.
    fn waiting(&self) -> Option<&Rc<RefCell<VecDeque<Inbound>>>> {
        // The sending future holds the other reference until it has queued every message.
        self.held.as_ref().filter(|h| Rc::strong_count(h) > 1)
    }

    /// Hands the router every event posted since the last flush, in order.
    pub(super) fn flush(&mut self, queue: &RouterQueue) -> Flushed {
        if self.pending.capacity() == 0 {
            return Flushed::Done;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let flushed = self.queue_all(&mut pending, queue);
        debug_assert!(pending.is_empty());
        POOL.with_borrow_mut(|pool| {
            if pool.len() < POOLED_OUTBOXES && pending.capacity() <= MOST_PER_BURST {
                pool.push(pending);
            }
        });
        flushed
    }

    fn queue_all(&mut self, pending: &mut Vec<Inbound>, queue: &RouterQueue) -> Flushed {
        if let Some(held) = self.waiting() {
            held.borrow_mut().extend(pending.drain(..));
            return Flushed::Done;
        }
        let mut rest = pending.drain(..);
        while let Some(msg) = rest.next() {
            match queue.try_send(msg) {
                Ok(()) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) => {
                    let held: VecDeque<Inbound> = std::iter::once(msg).chain(rest).collect();
                    let held = Rc::new(RefCell::new(held));
                    self.held = Some(held.clone());
                    return Flushed::Wait(Held(held));
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return Flushed::Done,
            }
        }
        Flushed::Done
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn event(key: u64) -> Inbound {
        Inbound::Event {
            tenant: "t".into(),
            key,
            topic_hash: 0,
            received_ms: 0,
            json: Vec::new(),
            topic: 0..0,
        }
    }

    fn key_of(msg: &Inbound) -> u64 {
        match msg {
            Inbound::Event { key, .. } => *key,
            Inbound::Gap(_) => u64::MAX,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// What `stream` yields now, without waiting: items as `Some`, burst ends as `None`.
    fn ready<S: Stream<Item = Read<u32>> + Unpin>(stream: &mut S) -> Vec<Option<u32>> {
        let mut got = Vec::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        while let Poll::Ready(Some(read)) = stream.poll_next_unpin(&mut cx) {
            got.push(match read {
                Read::Item(n, _) => Some(n),
                Read::BurstEnd => None,
            });
        }
        got
    }

    #[test]
    fn a_burst_ends_when_nothing_more_is_ready_or_after_the_most_per_burst() {
        let (tx, rx) = futures_channel::mpsc::unbounded::<u32>();
        let mut reads = BurstEnds::new(rx);
        assert!(ready(&mut reads).is_empty(), "nothing ready, no burst end");
        for n in 0..3 {
            tx.unbounded_send(n).unwrap();
        }
        assert_eq!(ready(&mut reads), vec![Some(0), Some(1), Some(2), None]);
        assert!(ready(&mut reads).is_empty(), "one end per burst");

        let many = MOST_PER_BURST as u32 + 6;
        for n in 0..many {
            tx.unbounded_send(n).unwrap();
        }
        let got = ready(&mut reads);
        let ends: Vec<usize> = (0..got.len()).filter(|&i| got[i].is_none()).collect();
        assert_eq!(ends, vec![MOST_PER_BURST, got.len() - 1]);
        let items: Vec<u32> = got.into_iter().flatten().collect();
        assert_eq!(items, (0..many).collect::<Vec<_>>());

        // The end of the stream ends the burst read before it, then the stream.
        tx.unbounded_send(7).unwrap();
        drop(tx);
        assert_eq!(ready(&mut reads), vec![Some(7), None]);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(reads.poll_next_unpin(&mut cx), Poll::Ready(None)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_items_of_a_burst_share_its_arrival_and_the_next_burst_reads_the_clocks_again() {
        let (tx, rx) = futures_channel::mpsc::unbounded::<u32>();
        let mut reads = BurstEnds::new(rx);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut arrivals = |reads: &mut BurstEnds<_>| {
            let mut got = Vec::new();
            while let Poll::Ready(Some(Read::Item(_, at))) = reads.poll_next_unpin(&mut cx) {
                got.push(at);
            }
            got
        };
        let start = Instant::now();
        for n in 0..3 {
            tx.unbounded_send(n).unwrap();
        }
        let first = arrivals(&mut reads);
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|&at| at == first[0]));
        assert_eq!(first[0].mono, start);

        tokio::time::advance(std::time::Duration::from_millis(5)).await;
        for n in 0..2 {
            tx.unbounded_send(n).unwrap();
        }
        let second = arrivals(&mut reads);
        assert_eq!(second.len(), 2);
        assert!(second.iter().all(|&at| at == second[0]));
        assert_eq!(second[0].mono, start + std::time::Duration::from_millis(5));
        assert!(second[0].wall >= first[0].wall);
    }

    #[tokio::test(start_paused = true)]
    async fn an_arrival_is_never_older_than_the_end_of_a_wait() {
        let stamped = Arrival::now();
        assert_eq!(stamped.not_before(None), stamped);
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        let resumed = Arrival::now();
        assert_eq!(stamped.not_before(Some(resumed)), resumed);
        // A burst stamped after the wait keeps its own.
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        let later = Arrival::now();
        assert_eq!(later.not_before(Some(resumed)), later);
    }

    #[test]
    fn a_flushed_burst_reaches_the_queue_in_order_and_the_outbox_keeps_no_buffer() {
        let (queue, mut rx) = RouterQueue::bounded(16);
        let mut outbox = Outbox::default();
        assert!(
            matches!(outbox.flush(&queue), Flushed::Done),
            "nothing posted"
        );
        for key in 0..5 {
            outbox.post(event(key));
        }
        assert!(
            rx.try_recv().is_err(),
            "nothing queued before the burst ends"
        );
        assert!(matches!(outbox.flush(&queue), Flushed::Done));
        let keys: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|m| key_of(&m))
            .collect();
        assert_eq!(keys, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            outbox.pending.capacity(),
            0,
            "an idle channel holds no buffer"
        );
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_rest_and_what_follows_goes_behind_it() {
        let (queue, mut rx) = RouterQueue::bounded(2);
        let mut outbox = Outbox::default();
        for key in 0..5 {
            outbox.post(event(key));
        }
        let Flushed::Wait(held) = outbox.flush(&queue) else {
            panic!("a queue of 2 cannot take 5");
        };
        // Whatever the channel posts meanwhile (the actor's handlers other than the socket's still run: a
        // gap, or a burst cut short by a stop) goes behind the held events.
        outbox.post(event(u64::MAX));
        for key in 5..7 {
            outbox.post(event(key));
        }
        assert!(matches!(outbox.flush(&queue), Flushed::Done));
        let receiving = async {
            let mut keys = Vec::new();
            while keys.len() < 8 {
                keys.push(key_of(&rx.recv().await.expect("the queue stays open")));
            }
            keys
        };
        let ((), keys) = tokio::join!(held.send_all(queue.clone()), receiving);
        assert_eq!(keys, vec![0, 1, 2, 3, 4, u64::MAX, 5, 6]);
        // Once everything held is queued, the next flush goes straight to the queue.
        outbox.post(event(9));
        assert!(matches!(outbox.flush(&queue), Flushed::Done));
        assert_eq!(rx.try_recv().map(|m| key_of(&m)).ok(), Some(9));
    }
}
