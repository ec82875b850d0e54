//! Channels and their subscriptions: create (with the 20-per-client eviction), list, HEAD, and the four
//! subscription operations with `ignoreErrors`, the combined form and the 1000-topic quota.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Channel, Sim, State, Subscription, new_channel_id, new_correlation_id};
use crate::sim::config::CombinedCounting;
use crate::sim::error::ApiError;
use crate::sim::socket::frames;
use crate::sim::socket::link::Outbound;
use crate::sim::stats::Stats;
use crate::sim::time::{chrono_duration, serialize_millis};
use crate::topics::{self, TopicError};

/// A channel as the API shows it (`Channel` in the official description).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(serialize_with = "serialize_millis")]
    pub expires: DateTime<Utc>,
}

/// `includechannels` of `GET /api/v2/notifications/channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IncludeChannels {
    #[default]
    Token,
    Oauthclient,
}

/// POST adds to the list, PUT replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeMode {
    Add,
    Replace,
}

/// One entity of a subscription response (`ChannelTopic`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopicResult {
    pub id: String,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_permissions: Option<Vec<String>>,
}

impl TopicResult {
    fn permitted(id: &str) -> TopicResult {
        TopicResult {
            id: id.to_string(),
            state: "Permitted",
            rejection_reason: None,
            missing_permissions: None,
        }
    }
}

impl Sim {
    /// `POST /api/v2/notifications/channels`. `ws_base` is `ws://host:port` or `wss://host:port`.
    pub fn create_channel(&self, caller: &Caller, ws_base: &str) -> ChannelView {
        let mut st = self.lock();
        let max = self.config.max_channels_per_client;
        while st
            .channels
            .values()
            .filter(|c| c.client_id == caller.client_id)
            .count()
            >= max
        {
            // The documented order: a channel with no connected socket first, else the least recently used.
            let victim = st
                .channels
                .values()
                .filter(|c| c.client_id == caller.client_id)
                .min_by_key(|c| (c.socket.is_some(), c.last_used))
                .map(|c| c.id.clone());
            let Some(victim) = victim else { break };
            Stats::bump(&self.stats.channels_evicted);
            self.remove_channel(&mut st, &victim, Removal::Evicted);
        }
        let id: Arc<str> = new_channel_id().into();
        let now = Utc::now();
        let channel = Channel {
            id: id.clone(),
            client_id: caller.client_id.clone(),
            token: caller.token.clone(),
            connect_uri: format!("{ws_base}/channels/{id}"),
            created_at: now,
            expires_at: now + chrono_duration(self.config.channel_ttl),
            last_used: Instant::now(),
            subscriptions: Vec::new(),
            socket: None,
        };
        let view = view_of(&channel, true);
        st.expires_at(channel.expires_at);
        st.channels.insert(id, channel);
        Stats::bump(&self.stats.channels_created);
        view
    }

    /// `GET /api/v2/notifications/channels`: this token's channels, or the whole client's with the ids of other
    /// tokens' channels hidden.
    pub fn list_channels(&self, caller: &Caller, include: IncludeChannels) -> Vec<ChannelView> {
        let st = self.lock();
        let mut list: Vec<&Channel> = st
            .channels
            .values()
            .filter(|c| match include {
                IncludeChannels::Token => c.token == caller.token,
                IncludeChannels::Oauthclient => c.client_id == caller.client_id,
            })
            .collect();
        list.sort_by_key(|c| c.created_at);
        list.into_iter()
            .map(|c| view_of(c, c.token == caller.token))
            .collect()
    }

    /// `HEAD /api/v2/notifications/channels/{id}`.
    pub fn channel_exists(&self, caller: &Caller, id: &str) -> bool {
        let mut st = self.lock();
        match st.channels.get_mut(id) {
            Some(c) if c.client_id == caller.client_id => {
                c.last_used = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// `GET .../subscriptions`.
    pub fn subscriptions(&self, caller: &Caller, id: &str) -> Result<Vec<TopicResult>, ApiError> {
        let mut st = self.lock();
        let channel = owned_channel(&mut st, caller, id)?;
        channel.last_used = Instant::now();
        Ok(channel
            .subscriptions
            .iter()
            .map(|s| TopicResult::permitted(&s.id))
            .collect())
    }

    /// `POST` / `PUT .../subscriptions`: validates every topic, checks permissions and the quota, then applies
    /// the whole request or nothing. Extends the channel's `expires`.
    pub fn subscribe(
        &self,
        caller: &Caller,
        id: &str,
        requested: &[String],
        mode: SubscribeMode,
        ignore_errors: bool,
    ) -> Result<Vec<TopicResult>, ApiError> {
        let mut st = self.lock();
        let st = &mut *st;
        let client = st
            .clients
            .get(&*caller.client_id)
            .ok_or_else(ApiError::bad_credentials)?;
        let denied = client.denied.clone();
        let channel = owned_channel(st, caller, id)?;

        let mut accepted: Vec<Subscription> = Vec::new();
        let mut rejected: Vec<TopicResult> = Vec::new();
        for topic in requested {
            let expanded = topics::expand(self.catalogue, topic).map_err(|e| match e {
                TopicError::Invalid(_) | TopicError::TooLong(_) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "notification.invalid.topic",
                    e.to_string(),
                ),
            })?;
            if let Some(pattern) = denied
                .iter()
                .find(|p| expanded.iter().any(|t| p.matches(t)))
            {
                if !ignore_errors {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "notification.unauthorized.topic",
                        format!("Not authorized to subscribe to topic {topic}"),
                    ));
                }
                let _ = pattern;
                rejected.push(TopicResult {
                    id: topic.clone(),
                    state: "Rejected",
                    rejection_reason: Some(format!("Not authorized to subscribe to topic {topic}")),
                    missing_permissions: Some(Vec::new()),
                });
                continue;
            }
            if !accepted.iter().any(|s| s.id.eq_ignore_ascii_case(topic)) {
                accepted.push(Subscription {
                    id: topic.trim().to_string(),
                    expanded,
                });
            }
        }

        let mut next: Vec<Subscription> = match mode {
            SubscribeMode::Replace => Vec::new(),
            SubscribeMode::Add => channel.subscriptions.clone(),
        };
        for sub in accepted {
            if !next.iter().any(|s| s.id.eq_ignore_ascii_case(&sub.id)) {
                next.push(sub);
            }
        }
        let used: usize = next
            .iter()
            .map(|s| match self.config.combined_topic_counting {
                CombinedCounting::Expanded => s.expanded.len(),
                CombinedCounting::Single => 1,
            })
            .sum();
        if used > self.config.max_topics_per_channel {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "notification.subscription.too.many.subscriptions",
                format!(
                    "Too many subscriptions: {used} topics, at most {}",
                    self.config.max_topics_per_channel
                ),
            ));
        }

        let channel_id = channel.id.clone();
        let old = std::mem::replace(&mut channel.subscriptions, next);
        channel.last_used = Instant::now();
        let extended = Utc::now() + chrono_duration(self.config.subscription_extension);
        if extended > channel.expires_at {
            channel.expires_at = extended;
        }
        let mut results: Vec<TopicResult> = channel
            .subscriptions
            .iter()
            .map(|s| TopicResult::permitted(&s.id))
            .collect();
        let new = channel.subscriptions.clone();
        let (added, removed) = reindex(st, &channel_id, &old, &new);
        self.stats.record_churn(&added, &removed);
        results.extend(rejected);
        Ok(results)
    }

    /// `DELETE .../subscriptions`: removes every subscription.
    pub fn unsubscribe_all(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let mut st = self.lock();
        let channel = owned_channel(&mut st, caller, id)?;
        let old = std::mem::take(&mut channel.subscriptions);
        channel.last_used = Instant::now();
        let channel_id = channel.id.clone();
        let (added, removed) = reindex(&mut st, &channel_id, &old, &[]);
        self.stats.record_churn(&added, &removed);
        Ok(())
    }

    /// The socket-level subscribe of third-party clients: adds topics to the socket's channel as a POST with
    /// `ignoreErrors=false` would, on behalf of the channel's own token.
    pub fn socket_subscribe(&self, channel_id: &str, topics: &[String]) -> Result<(), ApiError> {
        let caller = {
            let st = self.lock();
            let c = st
                .channels
                .get(channel_id)
                .ok_or_else(|| ApiError::not_found("channel not found"))?;
            Caller {
                client_id: c.client_id.clone(),
                token: c.token.clone(),
            }
        };
        self.subscribe(&caller, channel_id, topics, SubscribeMode::Add, false)
            .map(|_| ())
    }

    /// Removes a channel: its subscriptions leave the index and its socket, if any, is told why and closed.
    pub(super) fn remove_channel(&self, st: &mut State, id: &str, why: Removal) {
        let Some(channel) = st.channels.remove(id) else {
            return;
        };
        reindex(st, &channel.id, &channel.subscriptions, &[]);
        if let Some(link) = &channel.socket {
            let notice = match why {
                Removal::Evicted => Some(frames::system_topic(
                    "no_longer_subscribed",
                    id,
                    "another_channel_subscribed",
                    &new_correlation_id(),
                )),
                Removal::TokenRevoked => Some(frames::system_topic(
                    "token_revoked",
                    id,
                    "user_tokens_revoked",
                    &new_correlation_id(),
                )),
                Removal::Expired | Removal::TokenExpired => None,
            };
            if let Some(frame) = notice {
                let _ = link.push(Outbound::Text(frame));
            }
            link.close(1001, why.reason());
        }
    }
}

/// Why a channel went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    Evicted,
    Expired,
    TokenExpired,
    TokenRevoked,
}

impl Removal {
    fn reason(self) -> &'static str {
        match self {
            Removal::Evicted => "channel removed",
            Removal::Expired => "channel expired",
            Removal::TokenExpired => "token expired",
            Removal::TokenRevoked => "token revoked",
        }
    }
}

fn view_of(c: &Channel, show_id: bool) -> ChannelView {
    ChannelView {
        connect_uri: show_id.then(|| c.connect_uri.clone()),
        id: show_id.then(|| c.id.to_string()),
        expires: c.expires_at,
    }
}

/// The channel if it exists and belongs to the caller's OAuth client; 404 otherwise.
fn owned_channel<'a>(
    st: &'a mut State,
    caller: &Caller,
    id: &str,
) -> Result<&'a mut Channel, ApiError> {
    match st.channels.get_mut(id) {
        Some(c) if c.client_id == caller.client_id => Ok(c),
        _ => Err(ApiError::not_found(format!("Channel {id} not found"))),
    }
}

/// Moves a channel's entries in the topic index from `old` to `new` subscriptions, touching only the
/// topics that differ. Returns them: (added, removed), each topic once.
fn reindex(
    st: &mut State,
    channel: &Arc<str>,
    old: &[Subscription],
    new: &[Subscription],
) -> (Vec<String>, Vec<String>) {
    let before: HashSet<&String> = old.iter().flat_map(|s| &s.expanded).collect();
    let after: HashSet<&String> = new.iter().flat_map(|s| &s.expanded).collect();
    let removed: Vec<String> = before.difference(&after).map(|t| (*t).clone()).collect();
    let added: Vec<String> = after.difference(&before).map(|t| (*t).clone()).collect();
    for topic in &removed {
        if let Some(list) = st.topic_index.get_mut(topic) {
            list.retain(|c| c != channel);
            if list.is_empty() {
                st.topic_index.remove(topic);
            }
        }
    }
    for topic in &added {
        let list = st.topic_index.entry(topic.clone()).or_default();
        if !list.contains(channel) {
            list.push(channel.clone());
        }
    }
    (added, removed)
}
