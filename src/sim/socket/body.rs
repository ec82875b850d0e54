//! The server-to-client half of a socket: a response body stream that encodes queued frames.
//!
//! Owning the queue here (rather than going through a per-socket writer task) keeps one hop between the event
//! fan-out and the TCP write. When the body ends, for whatever reason, the frames still queued are reported
//! back to the simulator as unsent so the ledger stays honest.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_http::ws::{CloseCode, CloseReason, Codec, Message};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio_util::codec::Encoder;

use super::link::{Control, FrameQueue, Outbound};
use crate::sim::state::Sim;

/// Frames encoded per poll before yielding, so one busy socket cannot starve its worker.
const MAX_FRAMES_PER_POLL: usize = 512;

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// A close frame was written: end once the buffer is flushed.
    Closing,
    Done,
}

/// The body of a `101 Switching Protocols` response: the frames of one socket.
pub struct SocketBody {
    sim: Arc<Sim>,
    channel_id: String,
    conn_id: u64,
    data: Arc<FrameQueue>,
    ctrl: mpsc::UnboundedReceiver<Control>,
    /// Frames taken from `data` and not yet encoded.
    taken: Vec<Outbound>,
    codec: Codec,
    buf: BytesMut,
    phase: Phase,
}

impl SocketBody {
    pub fn new(
        sim: Arc<Sim>,
        channel_id: String,
        conn_id: u64,
        data: Arc<FrameQueue>,
        ctrl: mpsc::UnboundedReceiver<Control>,
    ) -> SocketBody {
        SocketBody {
            sim,
            channel_id,
            conn_id,
            data,
            ctrl,
            taken: Vec::new(),
            codec: Codec::new(),
            buf: BytesMut::new(),
            phase: Phase::Open,
        }
    }

    fn encode(&mut self, frame: Outbound) {
        let message = match frame {
            Outbound::Event { frame, .. } | Outbound::Text(frame) => Message::Text(frame),
            Outbound::Pong(b) => Message::Pong(b),
            Outbound::Binary(b) => Message::Binary(b),
        };
        // Encoding into a BytesMut cannot fail for server-side frames within the codec's size limit.
        let _ = self.codec.encode(message, &mut self.buf);
    }

    fn encode_close(&mut self, code: u16, reason: &str) {
        let reason = CloseReason {
            code: CloseCode::from(code),
            description: Some(reason.to_string()),
        };
        let _ = self
            .codec
            .encode(Message::Close(Some(reason)), &mut self.buf);
    }
}

impl Stream for SocketBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.phase == Phase::Done {
            return Poll::Ready(None);
        }
        if this.phase == Phase::Open
            && let Poll::Ready(Some(order)) = this.ctrl.poll_recv(cx)
        {
            match order {
                Control::Drop => {
                    this.phase = Phase::Done;
                    return Poll::Ready(None);
                }
                Control::Close { code, reason } => {
                    for frame in this.data.take_all() {
                        this.encode(frame);
                    }
                    this.encode_close(code, reason);
                    this.phase = Phase::Closing;
                }
            }
        }
        if this.phase == Phase::Open {
            let mut taken = std::mem::take(&mut this.taken);
            this.data.take(cx, MAX_FRAMES_PER_POLL, &mut taken);
            let n = taken.len();
            for frame in taken.drain(..) {
                this.encode(frame);
            }
            this.taken = taken;
            if n == MAX_FRAMES_PER_POLL {
                cx.waker().wake_by_ref();
            }
        }
        if !this.buf.is_empty() {
            return Poll::Ready(Some(Ok(this.buf.split().freeze())));
        }
        if this.phase == Phase::Closing {
            this.phase = Phase::Done;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl Drop for SocketBody {
    fn drop(&mut self) {
        let data = &self.data;
        self.sim.detach_socket(&self.channel_id, self.conn_id, || {
            data.take_all()
                .into_iter()
                .filter_map(|frame| match frame {
                    Outbound::Event { seq, .. } => Some(seq),
                    _ => None,
                })
                .collect()
        });
    }
}
