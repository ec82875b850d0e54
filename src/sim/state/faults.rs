//! Fault injection: socket faults (drop, close, stall, socket_closing, malformed frames), channel faults (expiry,
//! eviction), token revocation, and REST faults (429 storms, 5xx, 4xx, latency) for a while or for the next N
//! matching requests.

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
    /// Close the socket with a close frame (`closeCode`, default 1001) and no `v2.system.socket_closing` first:
    /// the unannounced server close the contract (§6) says can happen. The channel survives.
    Close,
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
    /// Answer REST calls with a 4xx (`status`: 400, 401, 403 or 404; default 400) in the platform's error body.
    /// With `path`/`method` and `count` it fails one kind of call a given number of times (a 400 on subscribe,
    /// a 401 once).
    ClientError,
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
    /// A well-formed event on a topic the channel never subscribed to (a platform bug the client must not
    /// pass on).
    UnsubscribedTopic,
    /// An event on the channel's first subscribed topic whose body nests arrays a million deep (about 2 MB):
    /// valid JSON no consumer's parser should be handed.
    DeeplyNested,
}

/// `POST /sim/v1/faults`. Scope: `channel`, or `client`, or neither for everything.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    pub kind: FaultKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<MalformedVariant>,
    /// REST faults: only requests whose path contains this (case ignored), e.g. `/subscriptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// REST faults: only requests with this method (`GET`, `POST`, `PUT`, `DELETE`, `HEAD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// REST faults: only the next `count` matching requests; without `durationSeconds` the fault then lasts
    /// until it is used up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// `close`: the close frame's code (default 1001).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
}

/// What a fault touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultResult {
    pub kind: FaultKind,
    /// Channels the fault was applied to (for socket and channel faults).
    pub affected_channels: Vec<String>,
    /// Tokens revoked (count only: tokens are secrets).
    pub revoked_tokens: usize,
}

const DEFAULT_FAULT_DURATION: Duration = Duration::from_secs(10);
/// How long a fault limited by `count` alone waits to be used up.
const COUNTED_FAULT_DURATION: Duration = Duration::from_secs(86_400);
const MAX_FAULT_COUNT: u32 = 1_000_000;
const MAX_PATH_FILTER: usize = 256;

/// The methods a REST fault can be limited to (those of the platform's API).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "HEAD"];

fn is_rest_fault(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::RateLimit | FaultKind::ServerError | FaultKind::ClientError | FaultKind::Slow
    )
}

/// The REST-only fields of a request, checked.
struct RestFilters {
    /// Upper case.
    method: Option<String>,
    /// Lower case.
    path: Option<String>,
    count: Option<u32>,
}

/// Checks the REST-only fields; errors name the field.
fn rest_filters(req: &FaultRequest) -> Result<RestFilters, String> {
    if !is_rest_fault(req.kind) {
        for (name, given) in [
            ("path", req.path.is_some()),
            ("method", req.method.is_some()),
            ("count", req.count.is_some()),
        ] {
            if given {
                return Err(format!(
                    "{name} applies to REST faults only (rate_limit, server_error, client_error, slow)"
                ));
            }
        }
        return Ok(RestFilters {
            method: None,
            path: None,
            count: None,
        });
    }
    let method = match &req.method {
        None => None,
        Some(m) => {
            let upper = m.to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                return Err(format!("method must be one of {}", METHODS.join(", ")));
            }
            Some(upper)
        }
    };
    let path = match &req.path {
        None => None,
        Some(p) if p.is_empty() || p.len() > MAX_PATH_FILTER => {
            return Err(format!("path must be 1 to {MAX_PATH_FILTER} characters"));
        }
        Some(p) => Some(p.to_ascii_lowercase()),
    };
    if let Some(n) = req.count
        && !(1..=MAX_FAULT_COUNT).contains(&n)
    {
        return Err(format!("count must be between 1 and {MAX_FAULT_COUNT}"));
    }
    Ok(RestFilters {
        method,
        path,
        count: req.count,
    })
}

/// A close code a server may send (RFC 6455 §7.4: not 1004-1006 or 1015, which never go on the wire).
fn close_code(v: Option<u16>) -> Result<u16, String> {
    match v {
        None => Ok(1001),
        Some(c)
            if (1000..=1003).contains(&c)
                || (1007..=1014).contains(&c)
                || (3000..=4999).contains(&c) =>
        {
            Ok(c)
        }
        Some(_) => Err(
            "closeCode must be a close code a server may send: 1000-1003, 1007-1014 or 3000-4999"
                .into(),
        ),
    }
}

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
        let RestFilters {
            method,
            path,
            count,
        } = rest_filters(req)?;
        if req.close_code.is_some() && req.kind != FaultKind::Close {
            return Err("closeCode applies to the close fault only".into());
        }
        let code = close_code(req.close_code)?;
        let targets = targets(st, req);
        let mut result = FaultResult {
            kind: req.kind,
            affected_channels: Vec::new(),
            revoked_tokens: 0,
        };
        match req.kind {
            FaultKind::Drop
            | FaultKind::Close
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
                    let Some(channel) = st.channels.get(&id) else {
                        continue;
                    };
                    let Some(link) = channel.socket.clone() else {
                        continue;
                    };
                    let first_topic = channel
                        .subscriptions
                        .first()
                        .and_then(|s| s.expanded.first())
                        .cloned()
                        .unwrap_or_else(|| "v2.users.nobody.presence".into());
                    match req.kind {
                        FaultKind::Drop => link.drop_connection(),
                        FaultKind::Close => link.close(code, "closed by the server"),
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
                            let _ =
                                link.push(malformed(req.variant.unwrap_or_default(), &first_topic));
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
            FaultKind::RateLimit
            | FaultKind::ServerError
            | FaultKind::ClientError
            | FaultKind::Slow => {
                let default_duration = if count.is_some() {
                    COUNTED_FAULT_DURATION
                } else {
                    DEFAULT_FAULT_DURATION
                };
                let duration = seconds("durationSeconds", req.duration_seconds, default_duration)?;
                let status = match req.kind {
                    FaultKind::ServerError => {
                        let status = req.status.unwrap_or(503);
                        if !(500..=599).contains(&status) {
                            return Err(
                                "status must be a 5xx code (client_error gives a 4xx)".into()
                            );
                        }
                        status
                    }
                    FaultKind::ClientError => {
                        let status = req.status.unwrap_or(400);
                        if ![400, 401, 403, 404].contains(&status) {
                            return Err(
                                "status must be 400, 401, 403 or 404 for client_error".into()
                            );
                        }
                        status
                    }
                    _ => req.status.unwrap_or(503),
                };
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
                    method,
                    path,
                    remaining: count,
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

fn malformed(variant: MalformedVariant, subscribed_topic: &str) -> Outbound {
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
        MalformedVariant::UnsubscribedTopic => Outbound::Text(ByteString::from_static(
            r#"{"topicName":"v2.users.00000000-0000-4000-8000-0000000000ff.presence","version":"2","eventBody":{"id":"00000000-0000-4000-8000-0000000000ff","presenceDefinition":{"systemPresence":"Available"}},"metadata":{"CorrelationId":"not-subscribed-1"}}"#,
        )),
        MalformedVariant::DeeplyNested => {
            const DEPTH: usize = 1_000_000;
            let mut text =
                format!(r#"{{"topicName":"{subscribed_topic}","version":"2","eventBody":"#);
            text.reserve(2 * DEPTH + 64);
            text.extend(std::iter::repeat_n('[', DEPTH));
            text.extend(std::iter::repeat_n(']', DEPTH));
            text.push_str(r#","metadata":{"CorrelationId":"deeply-nested-1"}}"#);
            Outbound::Text(ByteString::from(text))
        }
    }
}
