//! Fault injection: socket faults (drop, stall, socket_closing, malformed frames), channel faults (expiry,
//! eviction), token revocation, and REST faults (429 storms, 5xx, latency) for a while.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use super::channels::Removal;
use super::{RestFault, Scheduled, Sim, State, new_correlation_id};
use crate::sim::socket::frames;
use crate::sim::socket::link::Outbound;
use crate::sim::stats::Stats;

/// The faults the control API can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Close the TCP connection without a close frame.
    Drop,
    /// Send nothing and answer no ping (app-level or RFC 6455) for `durationSeconds`, keeping TCP open.
    Stall,
    /// Send `v2.system.socket_closing`, then close the socket after `graceSeconds` (default: the configured grace).
    SocketClosing,
    /// The channel expires now.
    ExpireChannel,
    /// The channel is removed as if a 21st channel had evicted it.
    EvictChannel,
    /// Revoke the tokens in scope; their channels die after `v2.system.token_revoked`.
    RevokeToken,
    /// Answer REST calls with 429 for `durationSeconds`.
    RateLimit,
    /// Answer REST calls with a 5xx (`status`, default 503) for `durationSeconds`.
    ServerError,
    /// Add `latencyMs` to REST calls for `durationSeconds`.
    Slow,
    /// Send one frame that is not a valid event (`variant`).
    MalformedFrame,
}

/// What kind of broken frame `malformed_frame` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MalformedVariant {
    /// A text frame cut off in the middle of the JSON.
    #[default]
    TruncatedJson,
    /// A text frame that is not JSON at all.
    NotJson,
    /// Valid JSON without `topicName`.
    MissingTopic,
    /// A binary frame.
    Binary,
}

/// `POST /sim/v1/faults`. Scope: `channel`, or `client`, or neither for everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    pub kind: FaultKind,
    pub channel: Option<String>,
    pub client: Option<String>,
    pub duration_seconds: Option<f64>,
    pub grace_seconds: Option<f64>,
    pub latency_ms: Option<u64>,
    pub status: Option<u16>,
    pub variant: Option<MalformedVariant>,
}

/// What a fault touched.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultResult {
    pub kind: FaultKind,
    /// Channels the fault was applied to (for socket and channel faults).
    pub affected_channels: Vec<String>,
    /// Tokens revoked (count only: tokens are secrets).
    pub revoked_tokens: usize,
}

const DEFAULT_FAULT_DURATION: Duration = Duration::from_secs(10);

fn seconds(field: &str, v: Option<f64>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(format!(
            "{field} must be a number of seconds between 0 and 86400"
        )),
    }
}

impl Sim {
    /// Applies a fault. Errors name the problem (unknown channel, bad field).
    pub fn inject(&self, req: &FaultRequest) -> Result<FaultResult, String> {
        if req.channel.is_some() && req.client.is_some() {
            return Err("give either channel or client, not both".into());
        }
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(c) = &req.client
            && !st.clients.contains_key(c)
        {
            return Err(format!("unknown client {c}"));
        }
        if let Some(c) = &req.channel
            && !st.channels.contains_key(c.as_str())
        {
            return Err(format!("unknown channel {c}"));
        }
        let targets = targets(st, req);
        let mut result = FaultResult {
            kind: req.kind,
            affected_channels: Vec::new(),
            revoked_tokens: 0,
        };
        match req.kind {
            FaultKind::Drop
            | FaultKind::Stall
            | FaultKind::SocketClosing
            | FaultKind::MalformedFrame => {
                let duration = seconds(
                    "durationSeconds",
                    req.duration_seconds,
                    DEFAULT_FAULT_DURATION,
                )?;
                let grace = seconds(
                    "graceSeconds",
                    req.grace_seconds,
                    self.config.socket_closing_grace,
                )?;
                for id in targets {
                    let Some(link) = st.channels.get(&id).and_then(|c| c.socket.clone()) else {
                        continue;
                    };
                    match req.kind {
                        FaultKind::Drop => link.drop_connection(),
                        FaultKind::Stall => link.shared.stall_for(duration),
                        FaultKind::SocketClosing => {
                            let _ = link.push(Outbound::Text(frames::socket_closing(
                                &id,
                                &new_correlation_id(),
                            )));
                            st.scheduled.push(Scheduled {
                                due: Instant::now() + grace,
                                channel: id.clone(),
                                conn_id: link.conn_id,
                            });
                        }
                        _ => {
                            let _ = link.push(malformed(req.variant.unwrap_or_default()));
                        }
                    }
                    result.affected_channels.push(id.to_string());
                }
            }
            FaultKind::ExpireChannel | FaultKind::EvictChannel => {
                for id in targets {
                    let (counter, why) = if req.kind == FaultKind::ExpireChannel {
                        (&self.stats.channels_expired, Removal::Expired)
                    } else {
                        (&self.stats.channels_evicted, Removal::Evicted)
                    };
                    Stats::bump(counter);
                    self.remove_channel(st, &id, why);
                    result.affected_channels.push(id.to_string());
                }
            }
            FaultKind::RevokeToken => {
                let revoked: Vec<Arc<str>> = match &req.channel {
                    Some(c) => {
                        let token = st.channels.get(c.as_str()).map(|c| c.token.clone());
                        token
                            .into_iter()
                            .filter(|t| match st.tokens.get_mut(t) {
                                Some(tok) if !tok.revoked => {
                                    tok.revoked = true;
                                    true
                                }
                                _ => false,
                            })
                            .collect()
                    }
                    None => self.revoke_tokens(st, req.client.as_deref()),
                };
                result.revoked_tokens = revoked.len();
                let doomed: Vec<Arc<str>> = st
                    .channels
                    .values()
                    .filter(|c| revoked.contains(&c.token))
                    .map(|c| c.id.clone())
                    .collect();
                for id in doomed {
                    self.remove_channel(st, &id, Removal::TokenRevoked);
                    result.affected_channels.push(id.to_string());
                }
            }
            FaultKind::RateLimit | FaultKind::ServerError | FaultKind::Slow => {
                let duration = seconds(
                    "durationSeconds",
                    req.duration_seconds,
                    DEFAULT_FAULT_DURATION,
                )?;
                let status = req.status.unwrap_or(503);
                if req.kind == FaultKind::ServerError && !(500..=599).contains(&status) {
                    return Err("status must be a 5xx code".into());
                }
                let client = match &req.channel {
                    Some(c) => st.channels.get(c.as_str()).map(|c| c.client_id.to_string()),
                    None => req.client.clone(),
                };
                st.rest_faults.push(RestFault {
                    kind: req.kind,
                    client,
                    until: Instant::now() + duration,
                    latency: Duration::from_millis(req.latency_ms.unwrap_or(1000).min(600_000)),
                    status,
                });
            }
        }
        Ok(result)
    }

    /// Ends every REST fault and stall now.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.rest_faults.clear();
        for link in st.channels.values().filter_map(|c| c.socket.as_ref()) {
            link.shared.clear_stall();
        }
    }
}

fn targets(st: &State, req: &FaultRequest) -> Vec<Arc<str>> {
    let mut ids: Vec<Arc<str>> = st
        .channels
        .values()
        .filter(|c| match (&req.channel, &req.client) {
            (Some(ch), _) => &*c.id == ch,
            (None, Some(cl)) => &*c.client_id == cl,
            (None, None) => true,
        })
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    ids
}

fn malformed(variant: MalformedVariant) -> Outbound {
    match variant {
        MalformedVariant::TruncatedJson => Outbound::Text(ByteString::from_static(
            r#"{"topicName":"v2.users.7c1f0d3a.presence","eventBody":{"sou"#,
        )),
        MalformedVariant::NotJson => {
            Outbound::Text(ByteString::from_static("this frame is not JSON"))
        }
        MalformedVariant::MissingTopic => Outbound::Text(ByteString::from_static(
            r#"{"version":"2","eventBody":{"message":"no topic"}}"#,
        )),
        MalformedVariant::Binary => Outbound::Binary(Bytes::from_static(&[0x00, 0xff, 0x10, 0x80])),
    }
}
