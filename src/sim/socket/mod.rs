//! `GET /channels/{id}`: the streaming socket. No auth: the channel id is the credential (contract §6).
//!
//! The socket's outbound half is [`body::SocketBody`]; its inbound half is a task that reads client frames
//! (app-level ping, RFC 6455 ping, socket-level subscribe, close) and sends the unasked heartbeats.

pub mod body;
pub mod frames;
pub mod link;

use std::sync::Arc;

use actix_http::ws::{Codec, Frame, ProtocolError};
use actix_web::body::MessageBody;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_util::codec::{Decoder, Encoder};

use self::link::{Outbound, SocketLink};
use super::config::UnknownChannelSocket;
use super::error::ApiError;
use super::state::Sim;
use super::stats::Stats;

/// The frames a client may send. Anything else is ignored, as the platform does.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientFrame {
    message: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
    correlation_id: Option<String>,
}

pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
    sim: web::Data<Arc<Sim>>,
) -> Result<HttpResponse, actix_web::Error> {
    let channel_id = path.into_inner();
    let mut response = actix_http::ws::handshake(req.head())?;
    let sim: Arc<Sim> = sim.get_ref().clone();
    let Some(attached) = sim.attach_socket(&channel_id) else {
        if sim.config.unknown_channel_socket == UnknownChannelSocket::Http404 {
            return Err(ApiError::not_found(format!("Channel {channel_id} not found")).into());
        }
        let body = actix_web::body::BodyStream::new(not_found_frames(&channel_id));
        return Ok(response.message_body(body.boxed())?.into());
    };
    let link = attached.link.clone();
    let body = body::SocketBody::new(
        sim.clone(),
        channel_id.clone(),
        link.conn_id,
        attached.data,
        attached.ctrl,
    );
    actix_rt::spawn(read_client(sim, channel_id, link, payload));
    Ok(response
        .message_body(actix_web::body::BodyStream::new(body).boxed())?
        .into())
}

/// `{"result":"404",...}` then a close: what a socket on an unknown channel receives.
fn not_found_frames(
    channel_id: &str,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + use<> {
    let mut codec = Codec::new();
    let mut buf = BytesMut::new();
    let _ = codec.encode(
        actix_http::ws::Message::Text(frames::channel_not_found(channel_id)),
        &mut buf,
    );
    let close = actix_http::ws::CloseReason {
        code: actix_http::ws::CloseCode::Policy,
        description: Some("channel not found".into()),
    };
    let _ = codec.encode(actix_http::ws::Message::Close(Some(close)), &mut buf);
    futures_util::stream::iter([Ok(buf.freeze())])
}

/// Reads the client's frames and sends heartbeats until the connection ends.
async fn read_client(
    sim: Arc<Sim>,
    channel_id: String,
    link: SocketLink,
    mut payload: web::Payload,
) {
    let mut codec = Codec::new().max_size(sim.config.max_client_frame_bytes);
    let mut buf = BytesMut::new();
    let period = sim.config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'conn: loop {
        tokio::select! {
            chunk = payload.next() => {
                let Some(Ok(chunk)) = chunk else { break 'conn };
                buf.extend_from_slice(&chunk);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(frame)) => {
                            if !on_frame(&sim, &channel_id, &link, frame) {
                                break 'conn;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let code = if matches!(e, ProtocolError::Overflow) { 1009 } else { 1002 };
                            link.close(code, "protocol error");
                            break 'conn;
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                if link.shared.is_closed() {
                    break 'conn;
                }
                if link.push(Outbound::Text(frames::heartbeat())).is_ok() {
                    Stats::bump(&sim.stats.heartbeats_sent);
                }
            }
        }
    }
    // The client went away or broke the protocol: make sure the outbound half ends too.
    if !link.shared.is_closed() {
        link.drop_connection();
    }
}

/// Handles one client frame; false when the connection should end.
fn on_frame(sim: &Sim, channel_id: &str, link: &SocketLink, frame: Frame) -> bool {
    match frame {
        Frame::Text(text) => on_text(sim, channel_id, link, &text),
        Frame::Ping(payload) => {
            if link.push(Outbound::Pong(payload)).is_ok() {
                Stats::bump(&sim.stats.protocol_pongs_sent);
            }
        }
        Frame::Close(_) => {
            link.close(1000, "");
            return false;
        }
        Frame::Binary(_) | Frame::Continuation(_) | Frame::Pong(_) => {
            Stats::bump(&sim.stats.client_frames_ignored);
        }
    }
    true
}

fn on_text(sim: &Sim, channel_id: &str, link: &SocketLink, text: &Bytes) {
    let Ok(frame) = serde_json::from_slice::<ClientFrame>(text) else {
        Stats::bump(&sim.stats.client_frames_ignored);
        return;
    };
    match frame.message.as_deref() {
        Some("ping") => {
            sim.touch_channel(channel_id);
            if link.push(Outbound::Text(frames::pong())).is_ok() {
                Stats::bump(&sim.stats.pongs_sent);
            }
        }
        Some("subscribe") => {
            let correlation_id = frame.correlation_id.unwrap_or_default();
            let reply = match sim.socket_subscribe(channel_id, &frame.topics) {
                Ok(()) => frames::subscribe_ok(&correlation_id),
                Err(e) => frames::subscribe_failed(&correlation_id, &e.message),
            };
            let _ = link.push(Outbound::Text(reply));
        }
        _ => Stats::bump(&sim.stats.client_frames_ignored),
    }
}
