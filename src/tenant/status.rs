//! What a tenant reports: its status (channels, OAuth clients, topics against the platform's limits) and
//! where each topic is.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::TenantActor;
use crate::channel::{self, ChannelStatus, Lifecycle};
use crate::metrics::{ChannelSnapshot, TenantSnapshot};
use crate::placement::Unit;

/// What the API shows of a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub id: String,
    pub region: String,
    /// `running` (every channel live), `degraded` (some are not), `failed` (none is), `starting`, `paused`.
    pub state: String,
    /// Shared with the tenant's slots: a status is copied only when its channel's figures move.
    #[schema(value_type = Vec<ChannelStatus>)]
    pub channels: Vec<Arc<ChannelStatus>>,
    /// Topics that could not be placed (over the channel limits), with the reason.
    pub unplaced: Vec<String>,
    pub unplaced_reason: Option<String>,
    pub last_error: Option<String>,
    /// The tenant's OAuth clients.
    pub clients: Vec<ClientStatus>,
    /// The tenant's topics against the platform's limits.
    pub quota: QuotaStatus,
    /// Each topic template: entities matched, topics placed, last sync, errors; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<super::TemplateStatus>,
}

/// One OAuth client of a tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientStatus {
    pub client_id: String,
    /// When its current token expires (none before the first token).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The tenant's channels made with this client.
    pub channels: usize,
}

/// A tenant's topics by state, and how full its channels and clients are.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaStatus {
    /// Topics the tenant asks for.
    pub topics_desired: usize,
    /// Topics on a subscribed channel that the platform permitted.
    pub topics_subscribed: usize,
    /// Topics the platform refused.
    pub topics_rejected: usize,
    /// Topics that fit on no channel.
    pub topics_unplaced: usize,
    /// The most topics on one channel over the per-channel topic limit.
    pub channel_quota_utilization: f64,
    /// The most channels of one client over the per-client channel limit.
    pub channels_per_client_utilization: f64,
}

/// Where a placed topic stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicState {
    Permitted,
    Rejected,
    /// On a channel not subscribed yet.
    Pending,
}

/// Where one topic is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicPlacement {
    pub topic: String,
    pub priority: i32,
    /// The channel holding it (none when unplaced or not created yet).
    pub channel_id: Option<String>,
    /// `Permitted`, `Rejected`, `pending` (not subscribed yet) or `unplaced`.
    pub state: String,
    pub reason: Option<String>,
}

impl TenantStatus {
    /// What the metrics' state gauges show of this tenant.
    pub fn metrics_snapshot(&self) -> TenantSnapshot {
        let q = &self.quota;
        TenantSnapshot {
            id: self.id.clone(),
            region: self.region.clone(),
            state: self.state.clone(),
            channels: self
                .channels
                .iter()
                .map(|c| ChannelSnapshot {
                    state: c.lifecycle.name(),
                    last_frame_at: c.last_frame_at,
                })
                .collect(),
            topics_desired: q.topics_desired,
            topics_subscribed: q.topics_subscribed,
            topics_rejected: q.topics_rejected,
            topics_unplaced: q.topics_unplaced,
            channel_quota_utilization: q.channel_quota_utilization,
            channels_per_client_utilization: q.channels_per_client_utilization,
            token_expires_at: self.clients.iter().map(|c| c.token_expires_at).collect(),
        }
    }
}

impl TenantActor {
    pub(super) fn status(&self) -> TenantStatus {
        let channels: Vec<Arc<ChannelStatus>> =
            self.slots.iter().filter_map(|s| s.status.clone()).collect();
        let live = channels
            .iter()
            .filter(|c| matches!(c.lifecycle, Lifecycle::Live { .. }))
            .count();
        let failed = channels
            .iter()
            .filter(|c| matches!(c.lifecycle, Lifecycle::Failed { .. }))
            .count();
        let state = if self.config.paused {
            "paused"
        } else if !self.started {
            "starting"
        } else if !channels.is_empty() && failed == channels.len() {
            "failed"
        } else if live == channels.len() {
            "running"
        } else {
            "degraded"
        };
        let clients: Vec<ClientStatus> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| ClientStatus {
                client_id: s.client_id.to_string(),
                token_expires_at: s.token().map(|t| t.expires_at),
                channels: self.channels_of(i),
            })
            .collect();
        TenantStatus {
            id: self.config.id.clone(),
            region: self.config.endpoints.region.clone(),
            state: state.to_string(),
            quota: self.quota(&channels, &clients),
            templates: self.template_status.clone(),
            channels,
            unplaced: self
                .unplaced
                .iter()
                .flat_map(|u| u.topics.iter().cloned())
                .collect(),
            unplaced_reason: self.unplaced_reason(),
            last_error: self.last_error.clone(),
            clients,
        }
    }

    fn unplaced_reason(&self) -> Option<String> {
        (!self.unplaced.is_empty()).then(|| {
            let p = &self.shared.policy;
            format!(
                "over the channel limits: {} client(s) x {} channels (one slot per client kept for rollovers) x {} topics",
                self.sessions.len(),
                p.channels_per_client.saturating_sub(p.reserved_channel_slots),
                p.topics_per_channel
            )
        })
    }

    /// Channels running with client `i` (slots emptied by a change of topics do not count).
    fn channels_of(&self, client: usize) -> usize {
        self.slots
            .iter()
            .filter(|s| s.client == client && s.holds_topics())
            .count()
    }

    fn quota(&self, channels: &[Arc<ChannelStatus>], clients: &[ClientStatus]) -> QuotaStatus {
        let p = &self.shared.policy;
        let mut q = QuotaStatus {
            topics_unplaced: self.unplaced.iter().map(|u| u.topics.len()).sum(),
            ..QuotaStatus::default()
        };
        let mut pending = 0;
        self.each_placed_topic(|_, _, state, _| match state {
            TopicState::Permitted => q.topics_subscribed += 1,
            TopicState::Rejected => q.topics_rejected += 1,
            TopicState::Pending => pending += 1,
        });
        q.topics_desired = pending + q.topics_subscribed + q.topics_rejected + q.topics_unplaced;
        let ratio = |n: usize, limit: usize| n as f64 / limit.max(1) as f64;
        q.channel_quota_utilization = channels
            .iter()
            .map(|c| ratio(c.topics, p.topics_per_channel))
            .fold(0.0, f64::max);
        q.channels_per_client_utilization = clients
            .iter()
            .map(|c| ratio(c.channels, p.channels_per_client))
            .fold(0.0, f64::max);
        q
    }

    /// Calls `each` for every topic placed on a channel: its unit, the topic, its state, and the channel's
    /// status with the platform's verdict when it rejected the topic.
    fn each_placed_topic(
        &self,
        mut each: impl FnMut(
            &Unit,
            &str,
            TopicState,
            (Option<&ChannelStatus>, Option<&channel::Rejected>),
        ),
    ) {
        for slot in &self.slots {
            let status = slot.status.as_deref();
            let subscribed = status.is_some_and(|s| s.channel_id.is_some() && s.connects > 0);
            for unit in &slot.units {
                let rejected = status.and_then(|s| {
                    s.rejected.iter().find(|r| {
                        r.id.eq_ignore_ascii_case(&unit.id)
                            || unit.topics.iter().any(|t| t.eq_ignore_ascii_case(&r.id))
                    })
                });
                let state = match rejected {
                    Some(_) => TopicState::Rejected,
                    None if subscribed => TopicState::Permitted,
                    None => TopicState::Pending,
                };
                for topic in &unit.topics {
                    each(unit, topic, state, (status, rejected));
                }
            }
        }
    }

    /// Where each topic is, by topic name.
    pub(super) fn placement(&self) -> Vec<TopicPlacement> {
        let mut out = Vec::new();
        self.each_placed_topic(|unit, topic, state, (status, rejected)| {
            let (state, reason) = match state {
                TopicState::Rejected => ("Rejected", rejected.map(|r| r.reason.clone())),
                TopicState::Permitted => ("Permitted", None),
                TopicState::Pending => ("pending", None),
            };
            out.push(TopicPlacement {
                topic: topic.to_string(),
                priority: unit.priority,
                channel_id: status.and_then(|s| s.channel_id.clone()),
                state: state.to_string(),
                reason,
            });
        });
        let reason = self.unplaced_reason();
        for unit in &self.unplaced {
            for topic in &unit.topics {
                out.push(TopicPlacement {
                    topic: topic.clone(),
                    priority: unit.priority,
                    channel_id: None,
                    state: "unplaced".into(),
                    reason: reason.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        out
    }
}
