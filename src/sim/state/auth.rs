//! OAuth clients, tokens, and the per-token REST rate limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use chrono::Utc;

use super::{Client, FaultKind, Sim, Token};
use crate::sim::config::ClientSpec;
use crate::sim::error::{ApiError, OAuthError};
use crate::sim::stats::Stats;
use crate::sim::time::chrono_duration;

/// Who is calling: the OAuth client and the bearer token of a REST request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: Arc<str>,
    pub token: Arc<str>,
}

/// What the gate lets through: the caller and any latency a `slow` fault adds.
pub struct Admitted {
    pub caller: Caller,
    pub latency: Duration,
}

impl Sim {
    /// Registers (or replaces) an OAuth client.
    pub fn register_client(&self, spec: ClientSpec) -> Result<(), String> {
        spec.validate()?;
        self.lock()
            .clients
            .insert(spec.client_id.clone(), Client::new(spec));
        Ok(())
    }

    /// Client ids known to the simulator.
    pub fn client_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().clients.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Client-credentials grant: a new bearer token and its lifetime in seconds.
    pub fn issue_token(&self, client_id: &str, secret: &str) -> Result<(String, u64), OAuthError> {
        let mut st = self.lock();
        let client = st
            .clients
            .get(client_id)
            .filter(|c| constant_time_eq(c.spec.client_secret.as_bytes(), secret.as_bytes()))
            .ok_or_else(|| OAuthError::invalid_client("client not found or invalid secret"))?;
        let ttl = client
            .spec
            .token_ttl_seconds
            .unwrap_or(self.config.default_token_ttl.as_secs().max(1));
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let expires_at = Utc::now() + chrono_duration(Duration::from_secs(ttl));
        st.expires_at(expires_at);
        st.tokens.insert(
            token.clone().into(),
            Token {
                client_id: client_id.into(),
                expires_at,
                revoked: false,
                window: Default::default(),
            },
        );
        Stats::bump(&self.stats.tokens_issued);
        Ok((token, ttl))
    }

    /// Authenticates a REST request (`method`, `path` are what REST faults filter on), applies REST faults and
    /// the per-token rate limit.
    pub fn admit(
        &self,
        bearer: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Admitted, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::authentication_required)?;
        let now = Instant::now();
        let mut st = self.lock();
        let st = &mut *st;
        let token = st
            .tokens
            .get_mut(bearer)
            .ok_or_else(ApiError::bad_credentials)?;
        if token.revoked || token.expires_at <= Utc::now() {
            return Err(ApiError::bad_credentials());
        }
        let caller = Caller {
            client_id: token.client_id.clone(),
            token: bearer.into(),
        };

        st.rest_faults.retain(|f| f.until > now);
        let mut latency = Duration::ZERO;
        let mut answer = None;
        for fault in st
            .rest_faults
            .iter_mut()
            .filter(|f| f.matches(&caller.client_id, method, path))
        {
            match fault.kind {
                FaultKind::RateLimit => {
                    let secs = (fault.until - now).as_secs_f64().ceil().max(1.0) as u64;
                    // A counted storm is over once used up: ask for the shortest wait.
                    let secs = if fault.remaining.is_some() { 1 } else { secs };
                    Stats::bump(&self.stats.rate_limited);
                    answer = Some(ApiError::rate_limited(secs));
                }
                FaultKind::ServerError => {
                    let status = StatusCode::from_u16(fault.status)
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    answer = Some(ApiError::server_error(status));
                }
                FaultKind::ClientError => {
                    let status =
                        StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_REQUEST);
                    answer = Some(ApiError::client_error(status));
                }
                FaultKind::Slow => latency = latency.max(fault.latency),
                _ => continue,
            }
            if let Some(left) = &mut fault.remaining {
                *left = left.saturating_sub(1);
            }
            if answer.is_some() {
                break;
            }
        }
        st.rest_faults.retain(|f| f.remaining != Some(0));
        if let Some(e) = answer {
            return Err(e);
        }

        let window = self.config.rate_limit_window;
        while token
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            token.window.pop_front();
        }
        if token.window.len() >= self.config.rate_limit_per_window as usize {
            let oldest = token.window.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            Stats::bump(&self.stats.rate_limited);
            return Err(ApiError::rate_limited(secs));
        }
        token.window.push_back(now);
        Ok(Admitted { caller, latency })
    }

    /// Revokes every token of a client (or of all clients); their channels die with them.
    pub(super) fn revoke_tokens(
        &self,
        st: &mut super::State,
        client: Option<&str>,
    ) -> Vec<Arc<str>> {
        let mut revoked = Vec::new();
        for (key, token) in st.tokens.iter_mut() {
            if !token.revoked && client.is_none_or(|c| c == &*token.client_id) {
                token.revoked = true;
                revoked.push(key.clone());
            }
        }
        revoked
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
