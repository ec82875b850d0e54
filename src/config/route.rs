//! `[[routes]]`: which events of which tenants go to which sinks.

use toml::Table;

use crate::filter::Filter;
use crate::settings::Errors;
use crate::settings::Reader;

/// A rule sending matching events to sinks. An event goes to every sink of every route it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Tenant ids, or `"*"` for every tenant. Default `["*"]`.
    pub tenants: Vec<String>,
    /// Names of configured sinks, at least one.
    pub sinks: Vec<String>,
    /// Topic name patterns; `*` matches any run of characters, dots included; case is ignored.
    /// Default `["*"]`.
    pub topics: Vec<String>,
    /// Drop presence and routing-status events whose state equals the last one delivered. Default false.
    pub changes_only: bool,
    /// A CEL expression over the event (see [`crate::filter`]), compiled when read: only events it is true
    /// for reach the route's sinks. Gap and backfill records are not filtered. Default none.
    pub filter: Option<Filter>,
}

const ROUTE_KEYS: &[&str] = &["tenants", "sinks", "topics", "changes_only", "filter"];

/// How a filter that does not compile is reported, the same in `switchboard check` and in the API.
pub fn filter_fault(expression: &str, e: &crate::filter::FilterError) -> String {
    // A long expression is quoted by its start: the position says where to look.
    let quoted: String = expression.chars().take(120).collect();
    let more = if quoted.len() < expression.len() {
        "..."
    } else {
        ""
    };
    format!("{quoted:?}{more} is not a valid CEL expression: {e}")
}

/// Reads every `[[routes]]` table, checking that tenants and sinks named exist.
pub(crate) fn read_routes(
    tables: &[(String, &Table)],
    tenant_ids: &[&str],
    sink_names: &[&str],
    errs: &mut Errors,
) -> Vec<RouteConfig> {
    let mut out = Vec::with_capacity(tables.len());
    for (path, table) in tables {
        let r = Reader::new(table, path, ROUTE_KEYS, errs);
        let tenants = match r.string_list("tenants", errs) {
            None => vec!["*".to_string()],
            Some(list) => {
                if list.is_empty() && r.has("tenants") {
                    errs.push(
                        r.path("tenants"),
                        "must not be empty (leave it out to mean every tenant)",
                    );
                }
                for (p, t) in &list {
                    if t != "*" && !tenant_ids.contains(&t.as_str()) {
                        errs.push(p, format!("{t:?} is not a configured tenant id (or \"*\")"));
                    }
                }
                list.into_iter().map(|(_, t)| t).collect()
            }
        };
        let sinks = match r.string_list("sinks", errs) {
            None => {
                if !r.has("sinks") {
                    errs.push(r.path("sinks"), "is required: name at least one sink");
                }
                Vec::new()
            }
            Some(list) => {
                if list.is_empty() {
                    errs.push(r.path("sinks"), "must name at least one sink");
                }
                for (p, s) in &list {
                    if !sink_names.contains(&s.as_str()) {
                        errs.push(p, format!("{s:?} is not a configured sink"));
                    }
                }
                list.into_iter().map(|(_, s)| s).collect()
            }
        };
        let topics = match r.string_list("topics", errs) {
            None => vec!["*".to_string()],
            Some(list) => {
                if list.is_empty() {
                    errs.push(
                        r.path("topics"),
                        "must not be empty (leave it out to mean every topic)",
                    );
                }
                for (p, t) in &list {
                    if t.trim().is_empty() {
                        errs.push(p, "must not be empty");
                    } else if t.chars().any(char::is_whitespace) {
                        errs.push(p, format!("{t:?}: a topic pattern has no spaces"));
                    }
                }
                list.into_iter().map(|(_, t)| t).collect()
            }
        };
        let changes_only = r.bool("changes_only", false, errs);
        let filter = r
            .string("filter", errs)
            .and_then(|text| match Filter::compile(&text) {
                Ok(f) => Some(f),
                Err(e) => {
                    errs.push(r.path("filter"), filter_fault(&text, &e));
                    None
                }
            });
        out.push(RouteConfig {
            tenants,
            sinks,
            topics,
            changes_only,
            filter,
        });
    }
    out
}
