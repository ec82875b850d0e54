//! The platform's REST API as the engine uses it: the client-credentials grant, channels, subscriptions.
//!
//! One [`ClientSession`] per OAuth client of a tenant holds the current token and the REST budget shared by
//! every channel made with it. Calls wait for the budget, honour `Retry-After`, retry 429/502/503/504 a few
//! times as the official SDKs do, and refresh the token once on a 401.

pub mod answer;
pub mod budget;
pub mod directory;
pub mod error;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::watch;

pub use self::budget::RateBudget;
pub use self::error::UpstreamError;
use crate::config::{ClientConfig, Endpoints, Secret};
use crate::egress::Egress;
use crate::metrics::TenantMetrics;
use crate::metrics::labels::{ApiEndpoint, StatusClass};

/// The longest `Retry-After` waited for inside a call (the official SDKs give up past 180 s).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(180);
pub use self::answer::{MAX_ANSWER_BYTES, MAX_ERROR_BYTES};

/// REST calls one OAuth client has in flight at most. Setting up or reconnecting hundreds of channels at
/// once would otherwise open a connection to the platform per channel (each with its TLS session and
/// buffers, tens of KiB), only to hit the per-client rate limit anyway; four keep the setup of a client's
/// 20 channels within a second or two at the platform's usual latency.
pub const REST_CALLS_IN_FLIGHT: usize = 4;

/// Retries of 429/502/503/504 inside one call.
const MAX_RETRIES: u32 = 3;

/// A bearer token and when it stops working.
#[derive(Clone)]
pub struct Token {
    pub access: Arc<str>,
    pub expires_at: DateTime<Utc>,
    /// Lifetime granted (`expires_in`).
    pub lifetime: Duration,
    /// Increases with every new token of the session.
    pub generation: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// A channel as the platform describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    pub id: String,
    pub connect_uri: String,
    pub expires: DateTime<Utc>,
}

/// The platform's verdict on one subscription id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicVerdict {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub rejection_reason: Option<String>,
}

/// The longest token lifetime the platform grants (contract §2: 300 s to 48 h per OAuth client).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(172_800);

/// A token's lifetime from the wire's `expires_in`: at least a second, and never more than the platform
/// grants (a larger value is a bug upstream; trusting it would mean never refreshing, or an overflow).
fn token_lifetime(expires_in: u64) -> Duration {
    Duration::from_secs(expires_in.clamp(1, MAX_TOKEN_LIFETIME.as_secs()))
}

/// How fast and how long a session's REST calls may go.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// The platform's REST limit per token (the session stays a little under it).
    pub requests_per_minute: u32,
    /// The longest one request may take.
    pub request_timeout: Duration,
}

/// One OAuth client of a tenant: its token and REST budget.
pub struct ClientSession {
    pub tenant: Arc<str>,
    pub client_id: Arc<str>,
    http: reqwest::Client,
    endpoints: Endpoints,
    secret: Secret,
    token: Mutex<Option<Token>>,
    generation: AtomicU64,
    budget: Mutex<RateBudget>,
    /// [`REST_CALLS_IN_FLIGHT`] slots; a call holds one from its send until its answer is read.
    in_flight: tokio::sync::Semaphore,
    refresh: tokio::sync::Mutex<()>,
    changes: watch::Sender<u64>,
    request_timeout: Duration,
    metrics: Arc<TenantMetrics>,
    /// Where this session may connect; hosts written as addresses are checked here, names by the resolver.
    egress: Egress,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct Entities<T> {
    #[serde(default = "Vec::new")]
    entities: Vec<T>,
}

impl ClientSession {
    pub fn new(
        tenant: Arc<str>,
        client: &ClientConfig,
        endpoints: Endpoints,
        http: reqwest::Client,
        limits: SessionLimits,
        metrics: Arc<TenantMetrics>,
        egress: Egress,
    ) -> Arc<ClientSession> {
        let SessionLimits {
            requests_per_minute,
            request_timeout,
        } = limits;
        // Stay a little under the platform's limit: our send times and its arrival times differ slightly.
        let budget = ((requests_per_minute as f64) * 0.95).floor().max(1.0) as usize;
        Arc::new(ClientSession {
            tenant,
            client_id: client.id.as_str().into(),
            http,
            endpoints,
            secret: client.secret.clone(),
            token: Mutex::new(None),
            generation: AtomicU64::new(0),
            budget: Mutex::new(RateBudget::new(budget, Duration::from_secs(60))),
            in_flight: tokio::sync::Semaphore::new(REST_CALLS_IN_FLIGHT),
            refresh: tokio::sync::Mutex::new(()),
            changes: watch::channel(0).0,
            request_timeout,
            metrics,
            egress,
        })
    }

    /// The outbound address policy the session's sockets follow too.
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// Refuses a base URL whose host is a refused address (names are checked when they are resolved).
    fn check_base(&self, base: &str) -> Result<(), UpstreamError> {
        self.egress
            .check_url(base)
            .map_err(|e| UpstreamError::Refused(e.to_string()))
    }

    /// The current token, if one was obtained.
    pub fn token(&self) -> Option<Token> {
        self.token.lock().clone()
    }

    /// Notified with the new generation whenever the token changes.
    pub fn token_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Gets a token if there is none yet.
    pub async fn ensure_token(&self) -> Result<Token, UpstreamError> {
        if let Some(t) = self.token() {
            return Ok(t);
        }
        self.refresh(None).await
    }

    /// Gets a new token. With `stale`, only if the current token is still that generation (so that many
    /// callers seeing the same 401 refresh once).
    pub async fn refresh(&self, stale: Option<u64>) -> Result<Token, UpstreamError> {
        let _guard = self.refresh.lock().await;
        if let (Some(stale), Some(current)) = (stale, self.token())
            && current.generation > stale
        {
            return Ok(current);
        }
        let result = self.request_token().await;
        self.metrics.token_refresh(result.is_ok());
        let token = result?;
        *self.token.lock() = Some(token.clone());
        let _ = self.changes.send(token.generation);
        Ok(token)
    }

    /// One client-credentials grant.
    async fn request_token(&self) -> Result<Token, UpstreamError> {
        self.check_base(&self.endpoints.login_base)?;
        let url = format!("{}/oauth/token", self.endpoints.login_base);
        let sent = self
            .http
            .post(url)
            .basic_auth(&*self.client_id, Some(self.secret.expose()))
            .form(&[("grant_type", "client_credentials")])
            .timeout(self.request_timeout)
            .send()
            .await;
        self.count(ApiEndpoint::Token, &sent);
        let res = sent.map_err(|e| UpstreamError::from_send("while requesting a token", e))?;
        let status = res.status();
        if !status.is_success() {
            let body = error_answer(res, "token answer").await;
            let message = format!("{} {}", body.error, body.error_description);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => {
                    UpstreamError::Unauthorized {
                        code: body.error,
                        message,
                    }
                }
                s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                    UpstreamError::Transient(format!("token request answered {s}"))
                }
                s => UpstreamError::Rejected {
                    status: s.as_u16(),
                    code: body.error,
                    message,
                },
            });
        }
        let body = answer::read_body(res, "token answer", MAX_ERROR_BYTES).await?;
        let answer: TokenAnswer = answer::parse(&body, "token answer")?;
        let lifetime = token_lifetime(answer.expires_in);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Token {
            access: answer.access_token.into(),
            expires_at: Utc::now() + crate::time::chrono(lifetime),
            lifetime,
            generation,
        })
    }

    /// Counts one REST attempt by its answer.
    fn count(&self, endpoint: ApiEndpoint, sent: &Result<reqwest::Response, reqwest::Error>) {
        let class = match sent {
            Ok(res) => StatusClass::of(res.status().as_u16()),
            Err(_) => StatusClass::NoAnswer,
        };
        self.metrics.api_request(endpoint, class);
    }

    /// Waits for a slot in the REST budget.
    async fn acquire(&self) {
        loop {
            let wait = self.budget.lock().try_acquire(Instant::now());
            match wait {
                Ok(()) => return,
                Err(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Requests in the budget's current window (for tests and status).
    pub fn requests_in_window(&self) -> usize {
        self.budget.lock().in_window()
    }

    /// One REST call with the budget, retries of 429/5xx and one token refresh on 401: the body of the
    /// successful answer, read whole (at most [`MAX_ANSWER_BYTES`]). Each attempt holds one of the
    /// client's [`REST_CALLS_IN_FLIGHT`] slots until its answer is read; waits between attempts hold none.
    async fn call(
        &self,
        endpoint: ApiEndpoint,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, UpstreamError> {
        let mut refreshed = false;
        let mut retries = 0;
        loop {
            let token = self.ensure_token().await?;
            self.check_base(&self.endpoints.api_base)?;
            let slot = self.in_flight.acquire().await.map_err(|_| {
                UpstreamError::Transient("the client's REST slots are closed".into())
            })?;
            self.acquire().await;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.endpoints.api_base))
                .bearer_auth(&*token.access)
                .timeout(self.request_timeout);
            if let Some(b) = body {
                req = req.json(b);
            }
            let sent = req.send().await;
            self.count(endpoint, &sent);
            let res = match sent {
                Ok(r) => r,
                Err(e)
                    if retries < MAX_RETRIES
                        && (e.is_timeout() || e.is_connect())
                        && crate::egress::refusal_in(&e).is_none() =>
                {
                    drop(slot);
                    retries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(UpstreamError::from_send(&format!("{method} {path}"), e)),
            };
            let status = res.status();
            if status.is_success() {
                return answer::read_body(res, &format!("{method} {path}"), MAX_ANSWER_BYTES).await;
            }
            let retry_after = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let answer = error_answer(res, &format!("{method} {path}")).await;
            drop(slot);
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    refreshed = true;
                    self.refresh(Some(token.generation)).await?;
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(UpstreamError::Unauthorized {
                        code: answer.code,
                        message: answer.message,
                    });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(3))
                        .min(budget::MAX_BLOCK);
                    self.budget.lock().retry_after(Instant::now(), wait);
                    if retries >= MAX_RETRIES || wait > MAX_RETRY_AFTER {
                        return Err(UpstreamError::RateLimited { retry_after: wait });
                    }
                    retries += 1;
                }
                StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
                    if retries < MAX_RETRIES =>
                {
                    retries += 1;
                    tokio::time::sleep(
                        retry_after
                            .unwrap_or(Duration::from_secs(3))
                            .min(MAX_RETRY_AFTER),
                    )
                    .await;
                }
                StatusCode::NOT_FOUND => {
                    return Err(UpstreamError::NotFound(format!("{method} {path}")));
                }
                s if s.is_server_error() => {
                    return Err(UpstreamError::Transient(format!(
                        "{method} {path} answered {s} {}",
                        answer.code
                    )));
                }
                s => {
                    return Err(UpstreamError::Rejected {
                        status: s.as_u16(),
                        code: answer.code,
                        message: answer.message,
                    });
                }
            }
        }
    }

    /// `POST /api/v2/notifications/channels`, with the generation of the token that made it.
    pub async fn create_channel(&self) -> Result<(ChannelInfo, Token), UpstreamError> {
        let body = self
            .call(
                ApiEndpoint::ChannelsCreate,
                Method::POST,
                "/api/v2/notifications/channels",
                None,
            )
            .await?;
        let token = self
            .token()
            .ok_or_else(|| UpstreamError::Protocol("no token after a call".into()))?;
        let info = answer::parse(&body, "channel")?;
        Ok((info, token))
    }

    /// `HEAD /api/v2/notifications/channels/{id}`.
    pub async fn channel_exists(&self, id: &str) -> Result<bool, UpstreamError> {
        match self
            .call(
                ApiEndpoint::ChannelHead,
                Method::HEAD,
                &format!("/api/v2/notifications/channels/{id}"),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(UpstreamError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v2/analytics/conversations/details/query`: one page of conversations (the body is the
    /// query as the API takes it). An answer larger than [`MAX_ANSWER_BYTES`] is refused.
    pub async fn conversation_details(
        &self,
        query: &serde_json::Value,
    ) -> Result<serde_json::Value, UpstreamError> {
        let path = "/api/v2/analytics/conversations/details/query";
        let body = self
            .call(
                ApiEndpoint::AnalyticsDetails,
                Method::POST,
                path,
                Some(query),
            )
            .await?;
        answer::parse(&body, &format!("POST {path}"))
    }

    /// `GET path` (a path with its query): the answer's JSON, at most [`MAX_ANSWER_BYTES`].
    pub(crate) async fn get_json(
        &self,
        endpoint: ApiEndpoint,
        path: &str,
    ) -> Result<serde_json::Value, UpstreamError> {
        let body = self.call(endpoint, Method::GET, path, None).await?;
        answer::parse(&body, &format!("GET {path}"))
    }

    /// `GET /api/v2/notifications/channels?includechannels=oauthclient`: channels of this client.
    pub async fn channels(&self) -> Result<Vec<ChannelInfo>, UpstreamError> {
        let body = self
            .call(
                ApiEndpoint::ChannelsList,
                Method::GET,
                "/api/v2/notifications/channels?includechannels=oauthclient",
                None,
            )
            .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            id: Option<String>,
            connect_uri: Option<String>,
            expires: DateTime<Utc>,
        }
        let listed: Entities<Listed> = answer::parse(&body, "channels")?;
        Ok(listed
            .entities
            .into_iter()
            .filter_map(|c| {
                Some(ChannelInfo {
                    id: c.id?,
                    connect_uri: c.connect_uri?,
                    expires: c.expires,
                })
            })
            .collect())
    }

    /// `PUT .../subscriptions?ignoreErrors=true`: the channel's whole topic list, each topic's verdict back.
    pub async fn put_subscriptions(
        &self,
        channel: &str,
        topics: &[String],
    ) -> Result<Vec<TopicVerdict>, UpstreamError> {
        let body = serde_json::Value::Array(
            topics
                .iter()
                .map(|t| serde_json::json!({ "id": t }))
                .collect(),
        );
        let path =
            format!("/api/v2/notifications/channels/{channel}/subscriptions?ignoreErrors=true");
        let answered = self
            .call(
                ApiEndpoint::SubscriptionsPut,
                Method::PUT,
                &path,
                Some(&body),
            )
            .await?;
        let answer: Entities<TopicVerdict> = answer::parse(&answered, "subscriptions")?;
        Ok(answer.entities)
    }
}

/// The platform's error body, if it is one within [`MAX_ERROR_BYTES`]; else an empty one.
async fn error_answer(res: reqwest::Response, what: &str) -> ErrorAnswer {
    answer::read_body(res, what, MAX_ERROR_BYTES)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_expires_in_is_capped_at_the_platform_maximum() {
        assert_eq!(token_lifetime(0), Duration::from_secs(1));
        assert_eq!(token_lifetime(900), Duration::from_secs(900));
        assert_eq!(token_lifetime(u64::MAX), MAX_TOKEN_LIFETIME);
        // And the expiry computed from it is a plain date, not an overflow.
        let _ = Utc::now() + crate::time::chrono(token_lifetime(u64::MAX));
    }
}
