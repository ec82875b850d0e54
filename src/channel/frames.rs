//! Frames arriving on the channel's sockets: events go to the router, heartbeats and pongs are proof of life,
//! system topics change the channel's course, and anything malformed is counted and skipped.

use std::time::Instant;

use actix::prelude::*;
use chrono::Utc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{ChannelActor, GapReason, SocketItem};
use crate::envelope::{self, Frame, FrameKind, Origin};
use crate::metrics::labels::DisconnectReason;
use crate::router::Inbound;

impl StreamHandler<SocketItem> for ChannelActor {
    fn handle(&mut self, item: SocketItem, ctx: &mut Context<Self>) {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.on_item(item, ctx)));
        if outcome.is_err() {
            self.contain_panic(ctx);
        }
    }

    /// Each socket's stream ends with an explicit `msg: None` item; the actor outlives its sockets.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl ChannelActor {
    fn on_item(&mut self, item: SocketItem, ctx: &mut Context<Self>) {
        let current = self
            .socket
            .as_ref()
            .is_some_and(|s| s.generation == item.generation);
        let text = match item.msg {
            Some(Ok(WsMessage::Text(text))) => text,
            Some(Ok(WsMessage::Binary(_))) => {
                if current {
                    self.liveness.frame(Instant::now());
                }
                self.counters.malformed += 1;
                return;
            }
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                if current && self.socket.as_ref().is_some_and(|s| s.retiring.is_some()) {
                    // Expected: the platform closes the old socket as the new one connects.
                    tracing::debug!(tenant = %self.shared.tenant, slot = self.slot, "retiring socket closed");
                } else if current {
                    let why = match item.msg {
                        Some(Err(e)) => format!("socket error: {e}"),
                        _ => "socket closed".to_string(),
                    };
                    self.on_socket_lost(GapReason::SocketLost, why, ctx);
                }
                return;
            }
            Some(Ok(_)) => {
                if current {
                    self.liveness.frame(Instant::now());
                }
                return;
            }
        };
        let Some(frame) = Frame::parse(text.as_str()) else {
            self.counters.malformed += 1;
            tracing::debug!(tenant = %self.shared.tenant, slot = self.slot, "malformed frame skipped");
            if current {
                self.liveness.frame(Instant::now());
            }
            return;
        };
        let kind = frame.kind();
        if kind == FrameKind::Event {
            // Events from a socket being handed over are still delivered (the router drops duplicates).
            self.deliver(&frame, ctx);
        }
        if !current {
            return;
        }
        self.liveness.frame(Instant::now());
        self.last_proof = Some(Utc::now());
        match kind {
            FrameKind::SocketClosing => {
                if let Some(s) = self.socket.as_mut().filter(|s| s.retiring.is_none()) {
                    s.retiring = Some(DisconnectReason::SocketClosing);
                    tracing::info!(tenant = %self.shared.tenant, slot = self.slot, "socket_closing: opening a new socket");
                    self.connect(ctx);
                }
            }
            FrameKind::NoLongerSubscribed | FrameKind::ChannelGone => {
                self.on_channel_lost(GapReason::ChannelLost, format!("{kind:?}"), ctx);
            }
            FrameKind::TokenRevoked => {
                let session = self.session.clone();
                let stale = self.session.token().map(|t| t.generation);
                actix::spawn(async move {
                    let _ = session.refresh(stale).await;
                });
                self.on_channel_lost(GapReason::TokenRevoked, "token revoked".into(), ctx);
            }
            FrameKind::Pong => {
                if let Some(sent) = self.ping_sent.take() {
                    let latency = Instant::now().duration_since(sent);
                    self.pong_latency = Some(latency);
                    self.shared.metrics.pong(latency);
                }
            }
            FrameKind::Unknown => self.counters.malformed += 1,
            _ => {}
        }
    }

    fn deliver(&mut self, frame: &Frame<'_>, ctx: &mut Context<Self>) {
        let topic = frame.topic_name.as_deref().unwrap_or("");
        let body = frame.event_body.map(|b| b.get()).unwrap_or("");
        let key = envelope::event_key(topic, frame.correlation_id(), body);
        let family_key = envelope::fnv1a(&[topic.as_bytes()]);
        let family = self.families.get(&family_key).cloned();
        let family = family.as_deref().unwrap_or("unknown");
        let channel_id = self.bound.as_ref().map(|b| b.id.as_str()).unwrap_or("");
        let origin = Origin {
            tenant: &self.shared.tenant,
            region: &self.shared.region,
            channel_id,
        };
        let now = Utc::now();
        if self.received_at.0 != now.timestamp_millis() {
            self.received_at = (now.timestamp_millis(), envelope::timestamp(now));
        }
        let line = envelope::event_line(&origin, frame, family, key, &self.received_at.1);
        self.counters.events += 1;
        let msg = Inbound::Event {
            tenant: self.shared.tenant.clone(),
            key,
            json: line.json,
            topic: line.topic,
        };
        match self.shared.router.queue.try_send(msg) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) => {
                // Back-pressure: stop reading this socket until the router has room.
                let queue = self.shared.router.queue.clone();
                ctx.wait(
                    async move {
                        let _ = queue.send(msg).await;
                    }
                    .into_actor(self),
                );
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}
