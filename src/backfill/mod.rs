//! Backfill: getting back what a gap missed. The platform never replays a notification; what it offers is
//! its REST API, and for conversations the analytics conversation details query. A tenant with
//! `[tenants.backfill] on_gap = true` runs one backfill task: each gap on topics of the conversation
//! families (a queue's or a user's conversations, conversation detail events) is followed by queries for
//! the gap's window filtered to its queues, users and conversations, paged, inside the client's REST budget
//! and honouring 429s; each conversation comes back once as a `backfill` record through the tenant's routes,
//! and the gap record says what became of it (`done`, `partial` with why, or `failed`). With
//! `reconcile_every`, the tenant also asks for a periodic pass over the last interval of all its
//! conversation topics, by the same machinery, deduplicated against what was already delivered.
//!
//! The task runs its jobs one at a time, in the order they came: a backfill never competes with itself for
//! the REST budget, and the channels' own calls (which keep the sockets open) share that budget fairly.

pub mod query;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

use self::query::{Wanted, delivered_key, entity_of, family_of};
use crate::gap::backfill::GapBackfill;
use crate::metrics::TenantMetrics;
use crate::router::{Inbound, RouterHandle};
use crate::store::{GapRecord, Store};
use crate::upstream::{ClientSession, UpstreamError};

/// Jobs that may wait for the task; past this a gap's backfill is refused (and the gap says so).
const QUEUE: usize = 1024;
/// Pages read per query at most: 100 pages of 100 conversations. Past this the backfill is `partial`.
const MAX_PAGES: usize = 100;
/// How long a backfill keeps trying through 429s and passing failures before it gives up.
const DEADLINE: Duration = Duration::from_secs(600);
/// Conversations remembered as delivered, to deliver each only once (oldest forgotten first).
const REMEMBERED: usize = 100_000;

/// What the tenant asks of its backfill task.
#[derive(Debug)]
pub enum Job {
    /// Get back what this gap missed.
    Gap(GapRecord),
    /// The periodic reconciliation over `[from, to]` of these topics.
    Reconcile {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        topics: Vec<String>,
    },
}

/// The tenant's and its channels' handle on the backfill task; the task ends when the last one is dropped.
#[derive(Clone)]
pub struct BackfillHandle {
    jobs: mpsc::Sender<Job>,
}

impl BackfillHandle {
    /// Queues a job without waiting; `false` when the queue is full or the task is gone.
    pub fn offer(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }
}

/// What the task needs of its tenant.
pub struct Backfill {
    pub tenant: Arc<str>,
    pub region: Arc<str>,
    pub session: Arc<ClientSession>,
    pub router: RouterHandle,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<TenantMetrics>,
}

fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Whether a gap on `topics` has anything to backfill: a topic of the conversation families.
pub fn covers(topics: &[String]) -> bool {
    topics.iter().any(|t| entity_of(t).is_some())
}

/// Starts the backfill task of a tenant.
pub fn spawn(backfill: Backfill) -> BackfillHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let worker = Worker {
        backfill,
        delivered: Delivered::default(),
    };
    tokio::spawn(worker.run(rx));
    BackfillHandle { jobs: tx }
}

/// Conversations already delivered, by [`delivered_key`]: a bounded set, oldest forgotten first.
#[derive(Default)]
struct Delivered {
    keys: HashSet<String>,
    order: VecDeque<String>,
}

impl Delivered {
    /// Remembers `key`; `false` if it was already there.
    fn insert(&mut self, key: String) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        if self.order.len() >= REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.keys.remove(&old);
        }
        self.keys.insert(key.clone());
        self.order.push_back(key);
        true
    }
}

struct Worker {
    backfill: Backfill,
    delivered: Delivered,
}

/// How one pass ended, before it is written to the gap.
struct Outcome {
    records: u64,
    complete: bool,
    why: Option<String>,
}

impl Worker {
    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            match job {
                Job::Gap(gap) => self.gap(gap).await,
                Job::Reconcile { from, to, topics } => {
                    let wanted = Wanted::of(topics.iter().map(String::as_str));
                    if wanted.is_empty() {
                        continue;
                    }
                    let outcome = self.pass(&wanted, from, to, None).await;
                    if let Some(why) = outcome.why {
                        tracing::warn!(tenant = %self.backfill.tenant, records = outcome.records, reason = %why, "reconciliation incomplete");
                    } else {
                        tracing::info!(tenant = %self.backfill.tenant, records = outcome.records, "reconciliation done");
                    }
                }
            }
        }
    }

    async fn gap(&mut self, gap: GapRecord) {
        let wanted = Wanted::of(gap.topics.iter().map(String::as_str));
        if wanted.is_empty() {
            return;
        }
        let outcome = self.pass(&wanted, gap.from, gap.to, Some(&gap.id)).await;
        let result = match (outcome.complete, outcome.why) {
            (true, _) => GapBackfill::done(outcome.records),
            (false, Some(why)) if outcome.records > 0 => GapBackfill::partial(outcome.records, why),
            (false, why) => GapBackfill::failed(outcome.records, why.unwrap_or_default()),
        };
        tracing::info!(tenant = %self.backfill.tenant, gap = %gap.id, status = result.status, records = result.records, "backfill of a gap finished");
        self.record(&gap.id, &result).await;
    }

    /// Writes the gap's backfill result. The gap's own record is written by the router at about the same
    /// time: a gap not found yet is tried again for a little while.
    async fn record(&self, gap: &str, result: &GapBackfill) {
        for _ in 0..50 {
            match self.backfill.store.set_gap_backfill(gap, result).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(tenant = %self.backfill.tenant, gap, error = %e, "could not store the backfill's result; retrying")
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::error!(tenant = %self.backfill.tenant, gap, "could not store the backfill's result");
    }

    /// Queries every filter of `wanted` over `[from, to]`, page by page, and delivers what matches.
    async fn pass(
        &mut self,
        wanted: &Wanted,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        gap: Option<&str>,
    ) -> Outcome {
        // At the precision the gap is recorded and conversations are reported in: milliseconds.
        let (from, to) = (to_millis(from), to_millis(to));
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut outcome = Outcome {
            records: 0,
            complete: true,
            why: None,
        };
        for filter in wanted.filters() {
            let mut page = 1;
            loop {
                let body = Wanted::query(&filter.body, from, to, page);
                let answer = match self.ask(&body, deadline).await {
                    Ok(a) => a,
                    Err(why) => {
                        outcome.complete = false;
                        outcome.why = Some(why);
                        return outcome;
                    }
                };
                let conversations = answer
                    .get("conversations")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for c in &conversations {
                    if let Some(topics) = filter.matches(c, from, to)
                        && delivered_key(c).is_some_and(|k| self.delivered.insert(k))
                    {
                        self.deliver(c, &topics, gap).await;
                        outcome.records += 1;
                    }
                }
                let total = answer.get("totalHits").and_then(Value::as_u64).unwrap_or(0);
                tracing::debug!(tenant = %self.backfill.tenant, page, total, returned = conversations.len(), "details query page");
                let read = (page * query::PAGE_SIZE) as u64;
                if conversations.len() < query::PAGE_SIZE || read >= total {
                    break;
                }
                if page >= MAX_PAGES {
                    outcome.complete = false;
                    outcome.why = Some(format!(
                        "more than {} conversations matched one query; the first {} were read",
                        MAX_PAGES * query::PAGE_SIZE,
                        MAX_PAGES * query::PAGE_SIZE
                    ));
                    break;
                }
                page += 1;
            }
        }
        outcome
    }

    /// One page, waiting through 429s (as long as the platform asks) and passing failures until `deadline`.
    async fn ask(&self, body: &Value, deadline: tokio::time::Instant) -> Result<Value, String> {
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = match self.backfill.session.conversation_details(body).await {
                Ok(answer) => return Ok(answer),
                Err(UpstreamError::RateLimited { retry_after }) => retry_after.max(backoff),
                Err(e) if e.is_transient() => backoff,
                Err(e) => return Err(format!("the details query failed: {e}")),
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(format!(
                    "gave up after {} s of rate limits and failures",
                    DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// One `backfill` record through the tenant's routes.
    async fn deliver(&self, conversation: &Value, topics: &[&str], gap: Option<&str>) {
        let b = &self.backfill;
        let family = topics
            .first()
            .and_then(|t| entity_of(t).map(|e| family_of(t, &e)))
            .unwrap_or_default();
        let json = crate::envelope::backfill_line(
            &b.tenant,
            &b.region,
            gap,
            &family,
            &crate::envelope::timestamp(Utc::now()),
            conversation,
        );
        b.metrics.backfilled(1);
        let record = Inbound::Backfill {
            tenant: b.tenant.clone(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            json,
        };
        let _ = b.router.queue.send(record).await;
    }
}
