//! Topic templates kept in step with the org: each template is expanded through the platform's user and
//! queue listings at the start and every `template_sync_interval`; new entities are subscribed, gone ones
//! unsubscribed, through the same placement as a change of topics (so nothing that stays moves). Changes
//! of membership are written to the audit log.
//!
//! A sync that fails keeps the template's last expansion: an org listing that times out must not
//! unsubscribe every agent.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::TenantActor;
use crate::config::{Selector, TopicConfig, TopicTemplate};
use crate::limits::MAX_TOPICS_PER_TENANT;
use crate::upstream::directory::{DirectoryQueue, DirectoryUser};
use crate::upstream::{ClientSession, UpstreamError};

/// How long the first expansion may hold up the tenant's start; past it the channels start with the
/// plain topics and the templates follow at the next sync.
pub(super) const FIRST_SYNC_PATIENCE: Duration = Duration::from_secs(120);

/// Entity ids named in one audit entry; the rest are counted.
const AUDITED_IDS: usize = 100;

/// What the API shows of one template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// The template as written.
    #[schema(value_type = Object)]
    pub template: TopicTemplate,
    /// Users or queues it matched at the last sync that worked.
    pub entities: usize,
    /// Topics those entities make.
    pub topics: usize,
    /// Of those, topics placed on a channel (the rest are unplaced: over the limits).
    pub placed: usize,
    /// When it was last expanded successfully (none before the first).
    pub last_sync: Option<DateTime<Utc>>,
    /// Why the last sync failed (its entities are then those of the sync before), or why some topics are
    /// not followed.
    pub error: Option<String>,
}

/// One template and what its last syncs made of it.
#[derive(Debug, Clone)]
struct Run {
    spec: TopicTemplate,
    /// Entity ids of the last sync that worked; `None` before the first.
    entities: Option<BTreeSet<String>>,
    last_sync: Option<DateTime<Utc>>,
    error: Option<String>,
    /// Entities left out because the tenant's topic limit was reached.
    over_limit: usize,
}

/// A change of one template's entities, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Membership {
    pub template: TopicTemplate,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The tenant's templates and their expansions.
#[derive(Debug, Clone, Default)]
pub(super) struct Templates {
    runs: Vec<Run>,
}

impl Templates {
    pub(super) fn new(specs: &[TopicTemplate]) -> Templates {
        let mut t = Templates::default();
        t.replace(specs);
        t
    }

    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The templates as written, in order.
    pub(super) fn specs(&self) -> Vec<TopicTemplate> {
        self.runs.iter().map(|r| r.spec.clone()).collect()
    }

    /// New templates: those kept (same topic and selector) keep their expansion.
    pub(super) fn replace(&mut self, specs: &[TopicTemplate]) {
        let mut old: HashMap<String, Run> =
            self.runs.drain(..).map(|r| (r.spec.key(), r)).collect();
        self.runs = specs
            .iter()
            .map(|spec| match old.remove(&spec.key()) {
                Some(mut run) => {
                    run.spec = spec.clone();
                    run
                }
                None => Run {
                    spec: spec.clone(),
                    entities: None,
                    last_sync: None,
                    error: None,
                    over_limit: 0,
                },
            })
            .collect();
    }

    /// Takes what a sync of `specs` found (in their order). A template changed since the sync began is
    /// left alone; a failed expansion keeps the last one. Returns the changes of membership.
    pub(super) fn apply(
        &mut self,
        specs: &[TopicTemplate],
        results: Vec<Result<BTreeSet<String>, String>>,
        at: DateTime<Utc>,
    ) -> Vec<Membership> {
        let mut changes = Vec::new();
        for (spec, result) in specs.iter().zip(results) {
            let Some(run) = self.runs.iter_mut().find(|r| r.spec.key() == spec.key()) else {
                continue;
            };
            match result {
                Ok(found) => {
                    let before = run.entities.take().unwrap_or_default();
                    let added: Vec<String> = found.difference(&before).cloned().collect();
                    let removed: Vec<String> = before.difference(&found).cloned().collect();
                    if !added.is_empty() || !removed.is_empty() {
                        changes.push(Membership {
                            template: run.spec.clone(),
                            added,
                            removed,
                        });
                    }
                    run.entities = Some(found);
                    run.last_sync = Some(at);
                    run.error = None;
                }
                Err(e) => run.error = Some(e),
            }
        }
        changes
    }

    /// The plain topics, then every template's topics not already among them, up to the tenant's limit of
    /// individual topics (entities past it are counted on their template, never dropped silently).
    pub(super) fn topics(&mut self, plain: &[TopicConfig]) -> Vec<TopicConfig> {
        let mut out: Vec<TopicConfig> = plain.to_vec();
        let mut names: HashSet<String> =
            plain.iter().map(|t| t.name.to_ascii_lowercase()).collect();
        let mut count: usize = plain.iter().map(|t| individual_count(&t.name)).sum();
        for run in &mut self.runs {
            run.over_limit = 0;
            let per_entity = individual_count(&run.spec.template);
            for id in run.entities.iter().flatten() {
                let name = run.spec.topic_for(id);
                if names.contains(&name.to_ascii_lowercase()) {
                    continue;
                }
                if count + per_entity > MAX_TOPICS_PER_TENANT {
                    run.over_limit += 1;
                    continue;
                }
                count += per_entity;
                names.insert(name.to_ascii_lowercase());
                out.push(TopicConfig {
                    name,
                    priority: run.spec.priority,
                });
            }
        }
        out
    }

    /// Each template's status; `unplaced` holds the lower-cased individual topics that fit on no channel.
    pub(super) fn status(&self, unplaced: &HashSet<String>) -> Vec<TemplateStatus> {
        self.runs
            .iter()
            .map(|run| {
                let entities = run.entities.as_ref().map_or(0, BTreeSet::len);
                let per_entity = individual_count(&run.spec.template);
                let mut placed = 0;
                for id in run.entities.iter().flatten() {
                    placed += individual_topics(&run.spec.topic_for(id))
                        .filter(|t| !unplaced.contains(t))
                        .count();
                }
                placed = placed.saturating_sub(run.over_limit * per_entity);
                let limit_note = (run.over_limit > 0).then(|| {
                    format!(
                        "{} entities are not followed: the tenant would pass {MAX_TOPICS_PER_TENANT} topics",
                        run.over_limit
                    )
                });
                TemplateStatus {
                    template: run.spec.clone(),
                    entities,
                    topics: entities * per_entity,
                    placed,
                    last_sync: run.last_sync,
                    error: run.error.clone().or(limit_note),
                }
            })
            .collect()
    }
}

/// The individual topics of a subscription id, lower-cased (`a.b?c&d` → `a.b.c`, `a.b.d`).
fn individual_topics(id: &str) -> impl Iterator<Item = String> + '_ {
    let (prefix, suffixes) = match id.split_once('?') {
        Some((p, s)) => (p, Some(s)),
        None => (id, None),
    };
    let names: Vec<String> = match suffixes {
        None => vec![id.to_ascii_lowercase()],
        Some(s) => s
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|s| format!("{prefix}.{s}").to_ascii_lowercase())
            .collect(),
    };
    names.into_iter()
}

fn individual_count(id: &str) -> usize {
    match id.split_once('?') {
        Some((_, s)) => s.split('&').filter(|s| !s.is_empty()).count().max(1),
        None => 1,
    }
}

/// What one sync read of the org, so that templates sharing a listing read it once.
#[derive(Default)]
struct Listings {
    users: Option<Vec<DirectoryUser>>,
    queues: Option<Vec<DirectoryQueue>>,
    members: HashMap<String, Vec<String>>,
}

/// Expands every template: the ids of the entities each selects, or why it could not be read.
pub(super) async fn expand(
    session: Arc<ClientSession>,
    specs: Vec<TopicTemplate>,
) -> Vec<Result<BTreeSet<String>, String>> {
    let mut listings = Listings::default();
    let mut out = Vec::with_capacity(specs.len());
    for spec in &specs {
        out.push(
            select(&session, &spec.selector, &mut listings)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    out
}

async fn select(
    session: &ClientSession,
    selector: &Selector,
    listings: &mut Listings,
) -> Result<BTreeSet<String>, UpstreamError> {
    Ok(match selector {
        Selector::AllUsers => users(session, listings)
            .await?
            .iter()
            .map(|u| u.id.clone())
            .collect(),
        Selector::UsersOfDivisions(divisions) => users(session, listings)
            .await?
            .iter()
            .filter(|u| u.division.as_ref().is_some_and(|d| divisions.contains(d)))
            .map(|u| u.id.clone())
            .collect(),
        Selector::MembersOfQueues(queues) => {
            let mut ids = BTreeSet::new();
            for q in queues {
                if !listings.members.contains_key(q) {
                    let members = session.queue_members(q).await?;
                    listings.members.insert(q.clone(), members);
                }
                ids.extend(listings.members[q].iter().cloned());
            }
            ids
        }
        Selector::AllQueues => all_queues(session, listings)
            .await?
            .iter()
            .map(|q| q.id.clone())
            .collect(),
        Selector::QueuesOfDivisions(divisions) => session
            .queues(Some(divisions))
            .await?
            .into_iter()
            .map(|q| q.id)
            .collect(),
        Selector::QueuesNamed(pattern) => {
            let pattern = crate::topics::TopicPattern::new(pattern);
            all_queues(session, listings)
                .await?
                .iter()
                .filter(|q| pattern.matches(&q.name.to_ascii_lowercase()))
                .map(|q| q.id.clone())
                .collect()
        }
    })
}

async fn users<'a>(
    session: &ClientSession,
    listings: &'a mut Listings,
) -> Result<&'a [DirectoryUser], UpstreamError> {
    if listings.users.is_none() {
        listings.users = Some(session.active_users().await?);
    }
    Ok(listings.users.as_deref().unwrap_or_default())
}

async fn all_queues<'a>(
    session: &ClientSession,
    listings: &'a mut Listings,
) -> Result<&'a [DirectoryQueue], UpstreamError> {
    if listings.queues.is_none() {
        listings.queues = Some(session.queues(None).await?);
    }
    Ok(listings.queues.as_deref().unwrap_or_default())
}

/// The audit entry of one change of membership: counts, and the first [`AUDITED_IDS`] ids each way.
fn audit_details(change: &Membership) -> serde_json::Value {
    serde_json::json!({
        "template": change.template.to_json(),
        "added": change.added.len(),
        "removed": change.removed.len(),
        "addedIds": change.added.iter().take(AUDITED_IDS).collect::<Vec<_>>(),
        "removedIds": change.removed.iter().take(AUDITED_IDS).collect::<Vec<_>>(),
    })
}

/// Replaces the tenant's templates (and how often they are synced) without a restart, then syncs at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetTemplates {
    pub templates: Vec<TopicTemplate>,
    pub interval: Duration,
}

impl Handler<SetTemplates> for TenantActor {
    type Result = ();
    fn handle(&mut self, msg: SetTemplates, ctx: &mut Context<Self>) {
        let _span = self.span.clone().entered();
        self.config.templates = msg.templates.clone();
        self.config.template_sync_interval = msg.interval;
        self.templates.replace(&msg.templates);
        // Removed templates' topics go at once; new ones come with the sync.
        self.place_topics(ctx);
        self.schedule_template_syncs(ctx);
        self.sync_templates(ctx);
    }
}

impl TenantActor {
    /// (Re)starts the timer of the template syncs at the configured interval.
    pub(super) fn schedule_template_syncs(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.template_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.templates.is_empty() || self.config.paused {
            return;
        }
        self.template_timer = Some(
            ctx.run_interval(self.config.template_sync_interval, |act, ctx| {
                act.sync_templates(ctx)
            }),
        );
    }

    /// Expands the templates again (one sync at a time) and applies what changed.
    pub(super) fn sync_templates(&mut self, ctx: &mut Context<Self>) {
        if self.templates.is_empty() || self.template_sync_in_flight {
            return;
        }
        let Some(session) = self.sessions.first().cloned() else {
            return;
        };
        self.template_sync_in_flight = true;
        let specs = self.templates.specs();
        let job = expand(session, specs.clone());
        ctx.spawn(job.into_actor(self).map(move |results, act, ctx| {
            act.template_sync_in_flight = false;
            let _span = act.span.clone().entered();
            if act.apply_expansion(&specs, results) {
                act.place_topics(ctx);
            } else {
                act.publish();
            }
        }));
    }

    /// Takes a sync's results; audits and returns whether any template's entities changed.
    pub(super) fn apply_expansion(
        &mut self,
        specs: &[TopicTemplate],
        results: Vec<Result<BTreeSet<String>, String>>,
    ) -> bool {
        for (spec, r) in specs.iter().zip(&results) {
            if let Err(e) = r {
                tracing::warn!(template = %spec.key(), error = %e, "a topic template could not be expanded; its last expansion is kept");
            }
        }
        let changes = self.templates.apply(specs, results, Utc::now());
        self.refresh_template_status();
        for change in &changes {
            tracing::info!(
                template = %change.template.key(),
                added = change.added.len(),
                removed = change.removed.len(),
                "topic template: membership changed"
            );
            let store = self.shared.store.clone();
            let target = format!("tenants/{}/templates", self.config.id);
            let details = audit_details(change);
            actix::spawn(async move {
                crate::tenants::audit(
                    store.as_ref(),
                    "switchboard",
                    "templates.sync",
                    &target,
                    details,
                )
                .await;
            });
        }
        !changes.is_empty()
    }

    /// The topics to follow: the plain ones and the templates' expansions.
    pub(super) fn effective_topics(&mut self) -> Vec<TopicConfig> {
        self.templates.topics(&self.config.topics)
    }

    /// Works out each template's status again, against the topics that are unplaced now. Called when the
    /// placement or an expansion changes, not on every status report (a large org makes it costly).
    pub(super) fn refresh_template_status(&mut self) {
        if self.templates.is_empty() {
            self.template_status.clear();
            return;
        }
        let unplaced: HashSet<String> = self
            .unplaced
            .iter()
            .flat_map(|u| u.topics.iter().map(|t| t.to_ascii_lowercase()))
            .collect();
        self.template_status = self.templates.status(&unplaced);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(written: serde_json::Value) -> TopicTemplate {
        TopicTemplate::from_json(&written).expect("a template")
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_sync_reports_who_came_and_who_went_and_a_failure_keeps_the_last_expansion() {
        let presence =
            template(json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}));
        let mut t = Templates::new(std::slice::from_ref(&presence));
        let specs = t.specs();
        let first = t.apply(&specs, vec![Ok(ids(&["u1", "u2"]))], Utc::now());
        assert_eq!(first[0].added, vec!["u1", "u2"]);
        let second = t.apply(&specs, vec![Ok(ids(&["u2", "u3"]))], Utc::now());
        assert_eq!(second[0].added, vec!["u3"]);
        assert_eq!(second[0].removed, vec!["u1"]);
        assert!(
            t.apply(&specs, vec![Err("timed out".into())], Utc::now())
                .is_empty()
        );
        let topics: Vec<String> = t.topics(&[]).into_iter().map(|t| t.name).collect();
        assert_eq!(
            topics,
            vec![
                "v2.users.u2?presence&routingStatus",
                "v2.users.u3?presence&routingStatus"
            ]
        );
        let status = t.status(&HashSet::new());
        assert_eq!(status[0].entities, 2);
        assert_eq!(status[0].topics, 4);
        assert_eq!(status[0].placed, 4);
        assert_eq!(status[0].error.as_deref(), Some("timed out"));
    }

    #[test]
    fn plain_topics_come_first_and_a_topic_is_never_listed_twice() {
        let t1 = template(json!({"template": "v2.users.{id}.presence", "users": "all"}));
        let t2 =
            template(json!({"template": "v2.users.{id}.presence", "users": {"division": "d"}}));
        let mut t = Templates::new(&[t1, t2]);
        let specs = t.specs();
        t.apply(
            &specs,
            vec![Ok(ids(&["u1", "u2"])), Ok(ids(&["u2"]))],
            Utc::now(),
        );
        let plain = vec![TopicConfig {
            name: "v2.users.U1.presence".into(),
            priority: 5,
        }];
        let topics = t.topics(&plain);
        let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["v2.users.U1.presence", "v2.users.u2.presence"]);
        assert_eq!(topics[0].priority, 5);
    }

    #[test]
    fn a_template_kept_through_a_change_keeps_its_expansion_and_a_result_for_a_removed_one_is_ignored()
     {
        let a = template(json!({"template": "v2.users.{id}.presence", "users": "all"}));
        let b =
            template(json!({"template": "v2.routing.queues.{id}.conversations", "queues": "all"}));
        let mut t = Templates::new(&[a.clone(), b.clone()]);
        let specs = t.specs();
        t.replace(std::slice::from_ref(&b));
        let changes = t.apply(&specs, vec![Ok(ids(&["u1"])), Ok(ids(&["q1"]))], Utc::now());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].template, b);
        t.replace(&[a, b]);
        let names: Vec<String> = t.topics(&[]).into_iter().map(|t| t.name).collect();
        assert_eq!(names, vec!["v2.routing.queues.q1.conversations"]);
    }

    #[test]
    fn entities_past_the_tenant_limit_are_counted_not_dropped_silently() {
        let a =
            template(json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}));
        let mut t = Templates::new(&[a]);
        let specs = t.specs();
        let many: BTreeSet<String> = (0..MAX_TOPICS_PER_TENANT / 2 + 10)
            .map(|i| format!("u{i:06}"))
            .collect();
        t.apply(&specs, vec![Ok(many)], Utc::now());
        let topics = t.topics(&[]);
        assert_eq!(topics.len(), MAX_TOPICS_PER_TENANT / 2);
        let status = t.status(&HashSet::new());
        assert_eq!(status[0].entities, MAX_TOPICS_PER_TENANT / 2 + 10);
        assert_eq!(status[0].placed, MAX_TOPICS_PER_TENANT);
        assert!(
            status[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("10 entities are not followed")
        );
    }

    #[test]
    fn individual_topics_split_the_combined_form() {
        let names: Vec<String> = individual_topics("v2.users.U?presence&routingStatus").collect();
        assert_eq!(
            names,
            vec!["v2.users.u.presence", "v2.users.u.routingstatus"]
        );
        assert_eq!(individual_count("v2.users.u.presence"), 1);
        assert_eq!(individual_count("v2.users.u?a&b&c"), 3);
    }
}

/// A large org through the real placement: every topic is on a channel within the limits, or unplaced.
#[cfg(test)]
mod large_org {
    use super::*;
    use crate::config::CombinedCounting;
    use crate::placement::{self, Limits};

    #[test]
    fn twenty_five_thousand_users_on_two_clients_fill_the_channels_and_report_the_rest_unplaced() {
        let spec = TopicTemplate::from_json(
            &serde_json::json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}),
        )
        .expect("a template");
        let mut t = Templates::new(&[spec]);
        let specs = t.specs();
        let users: BTreeSet<String> = (0..25_000)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        t.apply(&specs, vec![Ok(users)], Utc::now());
        let topics = t.topics(&[]);
        let limits = Limits {
            clients: 2,
            channels_per_client: 20,
            reserved: 1,
            quota: 1000,
            counting: CombinedCounting::Expanded,
        };
        let plan = placement::place(placement::units(&topics), &[], limits);
        for client in 0..2 {
            assert_eq!(
                plan.channels.iter().filter(|c| c.client == client).count(),
                19
            );
        }
        let mut placed = 0;
        for c in &plan.channels {
            let load: usize = c.units.iter().map(|u| u.topics.len()).sum();
            assert!(load <= 1000, "a channel holds {load} topics");
            placed += load;
        }
        let unplaced: usize = plan.unplaced.iter().map(|u| u.topics.len()).sum();
        assert_eq!(placed, 38_000);
        assert_eq!(placed + unplaced, 50_000, "every topic placed or reported");
        let unplaced_names: HashSet<String> = plan
            .unplaced
            .iter()
            .flat_map(|u| u.topics.iter().map(|n| n.to_ascii_lowercase()))
            .collect();
        let status = t.status(&unplaced_names);
        assert_eq!(status[0].entities, 25_000);
        assert_eq!(status[0].topics, 50_000);
        assert_eq!(status[0].placed, 38_000);
    }
}
