//! Content filters as the router runs them: each filtered route's compiled expression (see [`crate::filter`])
//! with its counters, and the router's step that applies them to an event. Only events a filtered route wants
//! have their body parsed, once for all such routes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::{Router, changes};
use crate::filter::{Filter, Subject, Verdict};
use crate::metrics::{Metrics, RouteFilterMetrics};

/// One route's filter.
pub(super) struct RouteFilter {
    id: String,
    filter: Filter,
    counts: RouteFilterMetrics,
    /// Whether a failure of this filter was logged: the first is, the rest are counted only (one bad
    /// expression must not write a line per event).
    warned: bool,
}

impl RouteFilter {
    pub(super) fn new(id: &str, filter: Filter, metrics: &Metrics) -> RouteFilter {
        RouteFilter {
            id: id.to_string(),
            filter,
            counts: metrics.route_filter(id),
            warned: false,
        }
    }

    /// Whether the event passes; an event that does not is counted. `subject` is `None` when the event's
    /// envelope could not be read, which no filter passes.
    pub(super) fn passes(&mut self, subject: Option<&Subject>) -> bool {
        let verdict = match subject {
            Some(s) => self.filter.test(s),
            None => Verdict::Error("the event's envelope could not be read".into()),
        };
        match verdict {
            Verdict::Pass => return true,
            Verdict::Reject => {}
            Verdict::Error(error) => {
                self.counts.errors.inc();
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        route = %self.id,
                        filter = %self.filter.source(),
                        %error,
                        "a route's filter failed on an event: such events do not pass (counted in switchboard_route_filter_errors_total, logged once per route)"
                    );
                }
            }
        }
        self.counts.filtered.inc();
        false
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn counts(&self) -> &RouteFilterMetrics {
        &self.counts
    }
}

/// What the API shows of each filtered route: its counters, by route id, replaced at each reconfiguration.
#[derive(Debug, Default)]
pub struct FilterCounts {
    routes: parking_lot::RwLock<BTreeMap<String, RouteFilterMetrics>>,
}

impl FilterCounts {
    /// `(filtered out, of which failed)` for route `id`, when it has a filter.
    pub fn of(&self, id: &str) -> Option<(u64, u64)> {
        self.routes
            .read()
            .get(id)
            .map(|c| (c.filtered.get(), c.errors.get()))
    }

    /// Publishes the counters of the filtered routes now running, and drops the series of routes that
    /// had a filter and no longer do (deleted, or their filter taken away).
    pub(super) fn publish<'a>(
        &self,
        running: impl Iterator<Item = &'a RouteFilter>,
        metrics: &Metrics,
    ) {
        let now: BTreeMap<String, RouteFilterMetrics> = running
            .map(|f| (f.id().to_string(), f.counts().clone()))
            .collect();
        let before = std::mem::replace(&mut *self.routes.write(), now);
        let routes = self.routes.read();
        for id in before.keys().filter(|id| !routes.contains_key(*id)) {
            metrics.remove_route(id);
        }
    }
}

impl Router {
    /// The sinks an event of `routes` (one of which has a content filter) skips: those of routes that do not
    /// deliver it (their filter says no, or it is changes-only and the state is unchanged), unless a route
    /// that delivers it reaches them too. The body is parsed here, once for every filtered route.
    pub(super) fn filter(
        &mut self,
        tenant: &str,
        topic: &str,
        topic_key: u64,
        routes: &[usize],
        json: &[u8],
    ) -> Vec<usize> {
        let subject = Subject::read(tenant, json);
        let state = routes
            .iter()
            .any(|&r| self.routes[r].changes_only)
            .then(|| changes::state_of(topic, json))
            .flatten();
        let mut delivering: Vec<usize> = Vec::with_capacity(routes.len());
        let mut unchanged = false;
        for &r in routes {
            let route = &mut self.routes[r];
            if let Some(filter) = &mut route.filter
                && !filter.passes(subject.as_ref())
            {
                continue;
            }
            // A state is recorded only for an event the route's filter let through: "changed" means changed
            // since the last event the route delivered.
            if route.changes_only
                && let Some(state) = state
                && !self.last.changed(r, topic_key, state)
            {
                unchanged = true;
                continue;
            }
            delivering.push(r);
        }
        let skip: Vec<usize> = routes
            .iter()
            .filter(|r| !delivering.contains(r))
            .flat_map(|&r| self.routes[r].sinks.iter().copied())
            .filter(|s| !delivering.iter().any(|&d| self.routes[d].sinks.contains(s)))
            .collect();
        if unchanged && !skip.is_empty() {
            self.stats.unchanged_dropped.fetch_add(1, Ordering::Relaxed);
        }
        skip
    }
}
