//! Backfill's shapes, shared by the configuration, the store, the admin API and the backfill task
//! (`backfill`): what a tenant asks of it ([`BackfillSettings`]) and what it made of a gap
//! ([`GapBackfill`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shortest `reconcile_every`: a pass queries every conversation topic of the tenant.
pub const MIN_RECONCILE_EVERY: Duration = Duration::from_secs(10);

/// A tenant's `[tenants.backfill]` table, and `backfill` in the API's tenant body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackfillSettings {
    /// Backfill each gap on topics of the conversation families through the analytics conversation
    /// details query. Default false.
    #[serde(default)]
    pub on_gap: bool,
    /// Also query the last interval of every conversation topic this often (`"5m"`); absent: never.
    /// At least 10 s.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "5m")]
    pub reconcile_every: Option<Duration>,
}

impl BackfillSettings {
    /// Whether the tenant needs a backfill task at all.
    pub fn enabled(&self) -> bool {
        self.on_gap || self.reconcile_every.is_some()
    }

    /// What is wrong with the settings, if anything: the field and why.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        match self.reconcile_every {
            Some(every) if every < MIN_RECONCILE_EVERY => Some((
                "reconcile_every",
                format!("must be at least {} s", MIN_RECONCILE_EVERY.as_secs()),
            )),
            _ => None,
        }
    }
}

/// What a backfill made of a gap: `status` is `pending` (running or waiting), `done` (every conversation of
/// the gap's window was delivered), `partial` (some were; `reason` says why not all) or `failed` (none
/// could be; `reason` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapBackfill {
    /// `pending`, `done`, `partial` or `failed`.
    pub status: String,
    /// `backfill` records delivered for the gap.
    pub records: u64,
    /// Why a backfill is `partial` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl GapBackfill {
    pub fn pending() -> GapBackfill {
        GapBackfill {
            status: "pending".into(),
            records: 0,
            reason: None,
        }
    }

    pub fn done(records: u64) -> GapBackfill {
        GapBackfill {
            status: "done".into(),
            records,
            reason: None,
        }
    }

    pub fn partial(records: u64, reason: String) -> GapBackfill {
        GapBackfill {
            status: "partial".into(),
            records,
            reason: Some(reason),
        }
    }

    pub fn failed(records: u64, reason: String) -> GapBackfill {
        GapBackfill {
            status: "failed".into(),
            records,
            reason: Some(reason),
        }
    }
}
