//! Sockets attached to channels, and the delivery of the org's events to every subscribed open socket.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::mpsc;

use super::{Sim, State, new_correlation_id};
use crate::sim::socket::frames;
use crate::sim::socket::link::{
    Control, FrameQueue, Outbound, PushError, SocketLink, SocketShared,
};
use crate::sim::stats::Stats;
use crate::sim::workload::GeneratedEvent;

/// The receiving ends a new socket reads its frames from.
pub struct Attached {
    pub link: SocketLink,
    pub data: Arc<FrameQueue>,
    pub ctrl: mpsc::UnboundedReceiver<Control>,
}

impl Sim {
    /// Attaches a new socket to a channel, disconnecting the one it had. `None` if the channel does not exist.
    pub fn attach_socket(&self, channel_id: &str) -> Option<Attached> {
        let mut st = self.lock();
        let channel = st.channels.get_mut(channel_id)?;
        let data = FrameQueue::new(self.config.socket_queue_frames);
        let (ctrl_tx, ctrl) = mpsc::unbounded_channel();
        let link = SocketLink {
            conn_id: self.next_conn_id.fetch_add(1, Ordering::Relaxed),
            data: data.clone(),
            ctrl: ctrl_tx,
            shared: Arc::new(SocketShared::new()),
        };
        if let Some(previous) = channel.socket.replace(link.clone()) {
            previous.close(1000, "another socket connected to this channel");
        }
        channel.last_used = Instant::now();
        Stats::bump(&self.stats.sockets_opened);
        if channel.subscriptions.is_empty() {
            Stats::bump(&self.stats.sockets_opened_unsubscribed);
        }
        Some(Attached { link, data, ctrl })
    }

    /// Called once when a socket's connection has ended. Under the lock (so nothing more is queued), `drain`
    /// empties the socket's queue and returns the ledger seqs of the event frames in it: they never reached the
    /// client.
    pub fn detach_socket(&self, channel_id: &str, conn_id: u64, drain: impl FnOnce() -> Vec<u64>) {
        let mut st = self.lock();
        if let Some(channel) = st.channels.get_mut(channel_id)
            && let Some(link) = channel.socket.as_ref()
            && link.conn_id == conn_id
        {
            link.shared.mark_closed();
            channel.socket = None;
        }
        let unsent = drain();
        st.ledger.unsend(channel_id, &unsent);
        Stats::bump(&self.stats.sockets_closed);
    }

    /// Marks the channel as used now (a client frame arrived on its socket).
    pub fn touch_channel(&self, channel_id: &str) {
        if let Some(c) = self.lock().channels.get_mut(channel_id) {
            c.last_used = Instant::now();
        }
    }

    /// Lets the org produce `count` events now and delivers them, each socket's share in one burst.
    /// Returns the last seq.
    pub fn publish_generated(&self, count: usize) -> u64 {
        let mut burst = Vec::new();
        let last = {
            let mut st = self.lock();
            let now = Utc::now();
            let mut key = String::new();
            for _ in 0..count {
                let Some(event) = st.org.next_event(now) else {
                    break;
                };
                self.publish(&mut st, event, &mut key, &mut burst);
            }
            st.ledger.last_seq()
        };
        announce(burst);
        last
    }

    /// Makes `count` events on one topic happen now (the control API's emit). Returns their seqs.
    pub fn emit(&self, topic: &str, count: usize) -> Result<Vec<u64>, String> {
        let template = self
            .catalogue
            .template_of(topic)
            .ok_or_else(|| format!("{topic} is not a known topic"))?;
        let _ = template;
        let mut burst = Vec::new();
        let mut st = self.lock();
        let now = Utc::now();
        let mut key = String::new();
        let mut seqs = Vec::with_capacity(count);
        for _ in 0..count {
            let event = st
                .org
                .event_for_topic(topic, now)
                .unwrap_or_else(|| GeneratedEvent {
                    topic: topic.into(),
                    event_body: format!(r#"{{"id":"{}","simulated":true}}"#, uuid::Uuid::new_v4()),
                });
            seqs.push(self.publish(&mut st, event, &mut key, &mut burst));
        }
        drop(st);
        announce(burst);
        Ok(seqs)
    }

    /// Records one event in the ledger and queues it on every open, subscribed socket, without waking the
    /// sockets' writers: each socket whose burst this event starts joins `burst`, to be announced once.
    fn publish(
        &self,
        st: &mut State,
        event: GeneratedEvent,
        key: &mut String,
        burst: &mut Vec<Arc<FrameQueue>>,
    ) -> u64 {
        key.clear();
        key.push_str(&event.topic);
        key.make_ascii_lowercase();
        let correlation_id = new_correlation_id();
        let seq = st.ledger.last_seq() + 1;
        let mut sent = Vec::new();
        if let Some(subscribed) = st.topic_index.get(key.as_str()) {
            let timestamp = self.config.event_timestamp.then(Utc::now);
            let frame = frames::event(&event.topic, &event.event_body, &correlation_id, timestamp);
            for channel_id in subscribed {
                let Some(link) = st.channels.get(channel_id).and_then(|c| c.socket.as_ref()) else {
                    continue;
                };
                match link.push_quietly(Outbound::Event {
                    seq,
                    frame: frame.clone(),
                }) {
                    Ok(first) => {
                        if first {
                            burst.push(link.data.clone());
                        }
                        sent.push(channel_id.clone());
                    }
                    Err(PushError::Stalled) => {}
                    Err(PushError::Unavailable) => {
                        if !link.shared.is_closed() {
                            // A consumer that cannot keep up is disconnected rather than silently skipped.
                            Stats::bump(&self.stats.slow_consumer_drops);
                            link.drop_connection();
                        }
                    }
                }
            }
        }
        Stats::bump(&self.stats.events_generated);
        self.stats
            .event_frames_sent
            .fetch_add(sent.len() as u64, Ordering::Relaxed);
        st.ledger
            .record(event.topic, correlation_id, Utc::now(), sent)
    }
}

/// Wakes the writer of each socket that was handed a burst.
fn announce(burst: Vec<Arc<FrameQueue>>) {
    for queue in burst {
        queue.announce();
    }
}
