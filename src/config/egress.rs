//! `[egress]`: the deployment's allow-list for the outbound address policy ([`crate::egress`]).

use toml::Table;

use crate::egress::{Allowed, Egress};
use crate::settings::EnvLookup;
use crate::settings::Errors;
use crate::settings::Reader;
use crate::sink::SinkConfig;

/// Reads `[egress] allow = [...]` and adds `SWITCHBOARD_EGRESS_ALLOW` (comma-separated entries).
pub(crate) fn read_egress(table: Option<&Table>, env: EnvLookup<'_>, errs: &mut Errors) -> Egress {
    let mut entries: Vec<String> = Vec::new();
    if let Some(table) = table {
        let r = Reader::new(table, "egress", &["allow"], errs);
        for (path, entry) in r.string_list("allow", errs).unwrap_or_default() {
            match Allowed::parse(&entry) {
                Ok(_) => entries.push(entry.trim().to_string()),
                Err(e) => errs.push(path, e),
            }
        }
    }
    if let Some(list) = env("SWITCHBOARD_EGRESS_ALLOW").ok().flatten() {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match Allowed::parse(entry) {
                Ok(_) => entries.push(entry.to_string()),
                Err(e) => errs.push("SWITCHBOARD_EGRESS_ALLOW", e),
            }
        }
    }
    Egress::new(&entries).unwrap_or_default()
}

/// Sink destinations written as addresses that the policy refuses, as field errors.
pub(crate) fn check_sink_addresses(
    sinks: &[SinkConfig],
    names: &[&str],
    egress: &Egress,
    errs: &mut Errors,
) {
    for sink in sinks {
        let Some(i) = names.iter().position(|n| *n == sink.name) else {
            continue;
        };
        if let Err((field, e)) = sink.kind.check_addresses(egress) {
            errs.push(format!("sinks[{i}].{field}"), e);
        }
    }
}
