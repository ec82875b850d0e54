//! Frames arriving on the channel's sockets: events go to the router, heartbeats and pongs are proof of life,
//! system topics change the channel's course, and anything malformed is counted and skipped.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::error::ChannelError;
use super::outbox::{Arrival, Flushed, Read};
use super::{ChannelActor, GapReason, SocketItem};
use crate::envelope::{self, Frame, FrameKind, Origin, OriginPrefix};
use crate::metrics::labels::DisconnectReason;
use crate::router::Inbound;

/// Malformed frames in a row after which a socket is given up and opened anew.
const MALFORMED_RUN_LIMIT: u32 = 100;

impl StreamHandler<Read<SocketItem>> for ChannelActor {
    fn handle(&mut self, read: Read<SocketItem>, ctx: &mut Context<Self>) {
        match read {
            Read::Item(item, arrival) => {
                let arrival = arrival.not_before(self.resumed);
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.on_item(item, arrival, ctx)
                }));
                if outcome.is_err() {
                    self.contain_panic(ctx);
                }
            }
            // The socket has nothing more ready: the router gets the burst's events.
            Read::BurstEnd => {
                self.flush(ctx);
                self.write_tally();
            }
        }
    }

    /// Each socket's stream ends with an explicit `msg: None` item; the actor outlives its sockets.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl ChannelActor {
    /// Whether `generation` is the live socket's (not one handed over or rolled over from).
    fn is_current(&self, generation: u64) -> bool {
        self.phase
            .live()
            .is_some_and(|l| l.socket.generation == generation)
    }

    /// A frame on the current socket, arrived at `at`: it is alive, and continuity holds until then.
    fn proof_of_life(&mut self, at: Arrival) {
        self.watchdog.frame(at.mono);
        self.continuity.proof(at.wall);
    }

    fn on_item(&mut self, item: SocketItem, at: Arrival, ctx: &mut Context<Self>) {
        let current = self.is_current(item.generation);
        if !matches!(item.msg, Some(Ok(WsMessage::Text(_)))) {
            // Whatever this leads to (a gap, a new socket) comes after the events read before it.
            self.flush(ctx);
        }
        let text = match item.msg {
            Some(Ok(WsMessage::Text(text))) => text,
            Some(Ok(WsMessage::Binary(_))) => {
                self.malformed(current, at, ctx);
                return;
            }
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                if !current {
                    return;
                }
                if self.phase.live().is_some_and(|l| l.handover.is_some()) {
                    // Expected: the platform closes the old socket as the new one connects.
                    tracing::debug!(parent: self.span.get(), "retiring socket closed");
                    return;
                }
                // Announced or not (`socket_closing` is not guaranteed before every close), a close is
                // answered the same way: reconnect at once; a gap covers the time no socket was open.
                let why = match item.msg {
                    Some(Err(e)) => format!("failed: {e}"),
                    _ => "closed by the server".to_string(),
                };
                self.socket_lost(GapReason::SocketLost, ChannelError::Socket(why), ctx);
                return;
            }
            Some(Ok(_)) => {
                if current {
                    self.proof_of_life(at);
                }
                return;
            }
        };
        let Some(frame) = Frame::parse(text.as_str()) else {
            tracing::debug!(parent: self.span.get(), "malformed frame skipped");
            self.flush(ctx);
            self.malformed(current, at, ctx);
            return;
        };
        let kind = frame.kind();
        if kind == FrameKind::Event {
            // Events from a socket being handed over are still delivered (the router drops duplicates).
            self.deliver(&frame, at.wall);
        } else {
            self.flush(ctx);
        }
        if !current {
            return;
        }
        self.proof_of_life(at);
        if kind != FrameKind::Unknown {
            self.counters.malformed_run = 0;
        }
        match kind {
            FrameKind::SocketClosing => {
                tracing::info!(parent: self.span.get(), "socket_closing: opening a new socket");
                self.hand_over(DisconnectReason::SocketClosing, ctx);
            }
            FrameKind::NoLongerSubscribed | FrameKind::ChannelGone => {
                self.channel_lost(
                    GapReason::ChannelLost,
                    ChannelError::Socket(format!("the platform says {kind:?}")),
                    ctx,
                );
            }
            FrameKind::TokenRevoked => {
                let session = self.session.clone();
                let stale = self.session.token().map(|t| t.generation);
                actix::spawn(async move {
                    let _ = session.refresh(stale).await;
                });
                self.channel_lost(
                    GapReason::TokenRevoked,
                    ChannelError::Socket("token revoked".into()),
                    ctx,
                );
            }
            FrameKind::Pong => {
                if let Some(latency) = self.watchdog.pong(at.mono) {
                    self.shared.metrics.pong(latency);
                }
            }
            FrameKind::Unknown => self.malformed(current, at, ctx),
            _ => {}
        }
    }

    /// A frame that is not JSON of the platform's shape (or nests too deep): counted and skipped. A socket
    /// that sends nothing else for [`MALFORMED_RUN_LIMIT`] frames is reconnected: it is broken, and skipping
    /// for ever would hide that.
    fn malformed(&mut self, current: bool, at: Arrival, ctx: &mut Context<Self>) {
        self.counters.malformed += 1;
        if !current {
            return;
        }
        self.proof_of_life(at);
        self.counters.malformed_run += 1;
        if self.counters.malformed_run >= MALFORMED_RUN_LIMIT {
            self.counters.malformed_run = 0;
            self.socket_lost(
                GapReason::SocketLost,
                ChannelError::Socket(format!("{MALFORMED_RUN_LIMIT} malformed frames in a row")),
                ctx,
            );
        }
    }

    /// Hands the router what the channel posted so far; while its queue is full, reads nothing more.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Flushed::Wait(held) = self.outbox.flush(&self.shared.router.queue) {
            // Back-pressure: this socket is not read until the router has taken them.
            ctx.wait(
                held.send_all(self.shared.router.queue.clone())
                    .into_actor(self)
                    .map(|(), act, _| act.resumed = Some(Arrival::now())),
            );
        }
    }

    /// Posts an event for the router; [`Self::flush`] hands it over.
    fn deliver(&mut self, frame: &Frame<'_>, now: DateTime<Utc>) {
        let topic = frame.topic_name.as_deref().unwrap_or("");
        let body = frame.event_body.unwrap_or("");
        let keys = envelope::event_keys(topic, frame.correlation_id(), body);
        let Some(family) = self.families.get(&keys.topic) else {
            // Not a topic of this channel (the map holds exactly its topics): a platform bug must not reach
            // the sinks, nor an unbounded topic name the labels.
            self.counters.unsubscribed += 1;
            tracing::debug!(parent: self.span.get(), "event on a topic not subscribed: dropped");
            return;
        };
        let channel_id = self.phase.bound().map(|b| b.id.as_str()).unwrap_or("");
        if self.origin.as_ref().is_none_or(|(id, _)| id != channel_id) {
            let origin = Origin {
                tenant: &self.shared.tenant,
                region: &self.shared.region,
                channel_id,
            };
            self.origin = Some((channel_id.to_string(), OriginPrefix::new(&origin)));
        }
        let Some((_, origin)) = &self.origin else {
            return;
        };
        if self.received_at.0 != now.timestamp_millis() {
            self.received_at.0 = now.timestamp_millis();
            envelope::write_timestamp(now, &mut self.received_at.1);
        }
        let line = envelope::event_line(origin, frame, family, keys.event, &self.received_at.1);
        self.counters.events += 1;
        let msg = Inbound::Event {
            tenant: self.shared.tenant.clone(),
            key: keys.event,
            topic_hash: keys.topic,
            received_ms: self.received_at.0,
            json: line.json,
            topic: line.topic,
        };
        self.outbox.post(msg);
    }
}
