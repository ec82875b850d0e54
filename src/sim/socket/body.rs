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

use super::link::{Control, Outbound};
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
    data: mpsc::Receiver<Outbound>,
    ctrl: mpsc::UnboundedReceiver<Control>,
    codec: Codec,
    buf: BytesMut,
    phase: Phase,
}

impl SocketBody {
    pub fn new(
        sim: Arc<Sim>,
        channel_id: String,
        conn_id: u64,
        data: mpsc::Receiver<Outbound>,
        ctrl: mpsc::UnboundedReceiver<Control>,
    ) -> SocketBody {
        SocketBody {
            sim,
            channel_id,
            conn_id,
            data,
            ctrl,
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
                    while let Ok(frame) = this.data.try_recv() {
                        this.encode(frame);
                    }
                    this.encode_close(code, reason);
                    this.phase = Phase::Closing;
                }
            }
        }
        if this.phase == Phase::Open {
            let mut n = 0;
            while n < MAX_FRAMES_PER_POLL {
                match this.data.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => {
                        this.encode(frame);
                        n += 1;
                    }
                    Poll::Ready(None) => {
                        this.phase = Phase::Closing;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
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
        let data = &mut self.data;
        self.sim.detach_socket(&self.channel_id, self.conn_id, || {
            let mut unsent = Vec::new();
            while let Ok(frame) = data.try_recv() {
                if let Outbound::Event { seq, .. } = frame {
                    unsent.push(seq);
                }
            }
            unsent
        });
    }
}
