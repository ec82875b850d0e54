//! One test case per engine, store, sink and route validation rule: each broken config yields exactly one error, at the right path.

use std::path::Path;

use super::*;

/// A valid tenant `t` with `tenant` lines added to its table and `client` lines to its one client.
pub(super) fn tenant_with(tenant: &str, client: &str) -> String {
    format!(
        "[[tenants]]\nid = \"t\"\n{tenant}\n[[tenants.clients]]\nid = \"c\"\n{client}\n",
        tenant = if tenant.contains("region") || tenant.contains("_base") {
            tenant.to_string()
        } else {
            format!("region = \"eu-west-1\"\n{tenant}")
        },
        client = if client.contains("secret") {
            client.to_string()
        } else {
            format!("secret = \"s\"\n{client}")
        },
    )
}

/// A valid tenant `t` with `lines` added to its table.
pub(super) fn tenant(lines: &str) -> String {
    tenant_with(lines, "")
}

/// A valid tenant `t` with `lines` added to its one client.
pub(super) fn client(lines: &str) -> String {
    tenant_with("", lines)
}

/// A valid stdout sink named `out`.
pub(super) const SINK: &str = "[[sinks]]\nname = \"out\"\nkind = \"stdout\"\n";

/// Asserts that `text` yields exactly one error, at `path`, whose message contains `fragment`.
pub(super) fn assert_one(text: &str, path: &str, fragment: &str) {
    let env = |_: &str| -> Result<Option<String>, ()> { Ok(None) };
    let errs = match Config::from_toml_str_with_env(text, Path::new("/cfg"), &env) {
        Ok(_) => panic!("expected an error at {path} for:\n{text}"),
        Err(e) => e.errors,
    };
    assert_eq!(
        errs.len(),
        1,
        "expected one error at {path} for:\n{text}\ngot {errs:#?}"
    );
    assert_eq!(errs[0].path, path, "for:\n{text}\ngot {errs:#?}");
    assert!(
        errs[0].message.contains(fragment),
        "message {:?} lacks {fragment:?}",
        errs[0].message
    );
}

#[test]
fn engine_rules() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[engine]\nping_interval = \"0s\"",
            "engine.ping_interval",
            "greater than zero",
        ),
        (
            "[engine]\nconnect_timeout = \"soon\"",
            "engine.connect_timeout",
            "not a duration",
        ),
        (
            "[engine]\nrequest_timeout = 30",
            "engine.request_timeout",
            "expected a duration",
        ),
        (
            "[engine]\ntoken_refresh_margin = \"0ms\"",
            "engine.token_refresh_margin",
            "greater than zero",
        ),
        (
            "[engine]\nrollover_margin = \"24h\"",
            "engine.rollover_margin",
            "24h",
        ),
        (
            "[engine]\nheartbeat_timeout = \"15s\"",
            "engine.heartbeat_timeout",
            "ping_interval",
        ),
        (
            "[engine]\nping_interval = \"80s\"",
            "engine.heartbeat_timeout",
            "ping_interval",
        ),
        (
            "[engine.backoff]\nmin = \"2m\"",
            "engine.backoff.min",
            "max",
        ),
        (
            "[engine.backoff]\nmax = \"0s\"",
            "engine.backoff.max",
            "greater than zero",
        ),
        (
            "[engine.backoff]\nmultiplier = 0.5",
            "engine.backoff.multiplier",
            "at least 1",
        ),
        (
            "[engine.backoff]\nmultiplier = \"2\"",
            "engine.backoff.multiplier",
            "expected a number",
        ),
        (
            "[engine.backoff]\njitter = -0.1",
            "engine.backoff.jitter",
            "between 0 and 1",
        ),
        (
            "[engine.backoff]\njitter = 1.5",
            "engine.backoff.jitter",
            "between 0 and 1",
        ),
        (
            "[engine.backoff]\nmaximum = \"1s\"",
            "engine.backoff.maximum",
            "unknown key",
        ),
        (
            "[engine.restart]\nmax_restarts = 0",
            "engine.restart.max_restarts",
            "at least 1",
        ),
        (
            "[engine.restart]\nwithin = \"0s\"",
            "engine.restart.within",
            "greater than zero",
        ),
        (
            "[engine.restart]\nhealthy_after = \"x\"",
            "engine.restart.healthy_after",
            "not a duration",
        ),
        (
            "[engine.restart]\nfailed_retry = \"0s\"",
            "engine.restart.failed_retry",
            "greater than zero",
        ),
        (
            "[engine.restart]\nretries = 1",
            "engine.restart.retries",
            "unknown key",
        ),
        (
            "[engine]\ntopics_per_channel = 0",
            "engine.topics_per_channel",
            "at least 1",
        ),
        (
            "[engine]\nreserved_channel_slots = 20",
            "engine.reserved_channel_slots",
            "less than",
        ),
        (
            "[engine]\nchannels_per_client = -1",
            "engine.channels_per_client",
            "negative",
        ),
        (
            "[engine]\nrest_requests_per_minute = 0",
            "engine.rest_requests_per_minute",
            "at least 1",
        ),
        (
            "[engine]\nrest_requests_per_minute = 5000000000",
            "engine.rest_requests_per_minute",
            "too large",
        ),
        (
            "[engine]\nrouter_queue = 0",
            "engine.router_queue",
            "at least 1",
        ),
        (
            "[engine]\ndedup_window = 0",
            "engine.dedup_window",
            "at least 1",
        ),
        (
            "[engine]\nchannel_threads = 65",
            "engine.channel_threads",
            "at most 64",
        ),
        (
            "[engine]\nchannel_threads = 2\nrouter_shards = 3",
            "engine.router_shards",
            "at most channel_threads (2)",
        ),
        (
            "[engine]\nrouter_shards = 0",
            "engine.router_shards",
            "at least 1",
        ),
        (
            "[engine]\nproof_of_life_interval = \"0s\"",
            "engine.proof_of_life_interval",
            "greater than zero",
        ),
        (
            "[engine]\nproof_of_life_interval = \"71s\"",
            "engine.proof_of_life_interval",
            "heartbeat_timeout",
        ),
        (
            "[engine]\nheartbeat_timeout = \"20s\"\nproof_of_life_interval = \"30s\"",
            "engine.proof_of_life_interval",
            "heartbeat_timeout",
        ),
        (
            "[engine]\ncombined_topic_counting = \"both\"",
            "engine.combined_topic_counting",
            "expanded",
        ),
        (
            "[engine]\npingInterval = \"5s\"",
            "engine.pingInterval",
            "unknown key",
        ),
        ("engine = 5", "engine", "expected a table"),
        (
            "[engine]\nbackoff = 1",
            "engine.backoff",
            "expected a table",
        ),
        ("bogus = true", "bogus", "unknown key"),
        ("[store]\npath = \" \"", "store.path", "must not be empty"),
        ("[store]\nfile = \"x.db\"", "store.file", "unknown key"),
    ];
    for (text, path, fragment) in cases {
        assert_one(text, path, fragment);
    }
}

#[test]
fn sink_rules() {
    let cases: Vec<(String, &str, &str)> = vec![
        ("[[sinks]]\nname = \"Out\"\nkind = \"stdout\"".into(), "sinks[0].name", "not a valid sink name"),
        ("[[sinks]]\nkind = \"stdout\"".into(), "sinks[0].name", "is required"),
        (format!("{SINK}{SINK}"), "sinks[1].name", "duplicate sink name"),
        ("[[sinks]]\nname = \"out\"".into(), "sinks[0].kind", "is required"),
        ("[[sinks]]\nname = \"out\"\nkind = \"carrier-pigeon\"".into(), "sinks[0].kind", "not one of"),
        ("[[sinks]]\nname = \"f\"\nkind = \"file\"".into(), "sinks[0].path", "is required"),
        ("[[sinks]]\nname = \"f\"\nkind = \"file\"\npath = \"\"".into(), "sinks[0].path", "must not be empty"),
        ("[[sinks]]\nname = \"out\"\nkind = \"stdout\"\npath = \"x\"".into(), "sinks[0].path", "only applies"),
        ("[[sinks]]\nname = \"f\"\nkind = \"file\"\npath = \"e\"\nmax_bytes = 0".into(), "sinks[0].max_bytes", "at least 1"),
        ("[[sinks]]\nname = \"f\"\nkind = \"file\"\npath = \"e\"\nmax_files = 0".into(), "sinks[0].max_files", "at least 1"),
        ("[[sinks]]\nname = \"f\"\nkind = \"file\"\npath = \"e\"\nmax_files = -2".into(), "sinks[0].max_files", "negative"),
        (
            "[[sinks]]\nname = \"a\"\nkind = \"file\"\npath = \"e\"\n[[sinks]]\nname = \"b\"\nkind = \"file\"\npath = \"/cfg/e\"".into(),
            "sinks[1].path",
            "already written by the sink at sinks[0]",
        ),
        (format!("{SINK}format = \"json\""), "sinks[0].format", "unknown key"),
    ];
    for (text, path, fragment) in &cases {
        assert_one(text, path, fragment);
    }
}

#[test]
fn route_rules() {
    let t = tenant("");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{SINK}[[routes]]\ntopics = [\"*\"]"),
            "routes[0].sinks",
            "is required",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = []"),
            "routes[0].sinks",
            "at least one sink",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\", \"nope\"]"),
            "routes[0].sinks[1]",
            "not a configured sink",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = \"out\""),
            "routes[0].sinks",
            "list of strings",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\", 3]"),
            "routes[0].sinks[1]",
            "expected a string",
        ),
        (
            format!("{t}{SINK}[[routes]]\nsinks = [\"out\"]\ntenants = [\"t\", \"u\"]"),
            "routes[0].tenants[1]",
            "not a configured tenant",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\"]\ntenants = []"),
            "routes[0].tenants",
            "must not be empty",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\"]\ntopics = []"),
            "routes[0].topics",
            "must not be empty",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\"]\ntopics = [\"v2 users\"]"),
            "routes[0].topics[0]",
            "no spaces",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\"]\nchanges_only = 1"),
            "routes[0].changes_only",
            "true or false",
        ),
        (
            format!("{SINK}[[routes]]\nsinks = [\"out\"]\nsink = \"out\""),
            "routes[0].sink",
            "unknown key",
        ),
    ];
    for (text, path, fragment) in &cases {
        assert_one(text, path, fragment);
    }
}

#[test]
fn a_route_filter_is_compiled_when_read_and_a_malformed_one_is_refused_with_its_position() {
    let good = format!(
        "{SINK}[[routes]]\nsinks = [\"out\"]\nfilter = 'body.presenceDefinition.systemPresence != \"Offline\"'"
    );
    let c = Config::from_toml_str(&good, Path::new("/cfg")).unwrap();
    let filter = c.routes[0].filter.as_ref().expect("the filter");
    assert_eq!(
        filter.source(),
        r#"body.presenceDefinition.systemPresence != "Offline""#
    );
    assert_eq!(
        Config::from_toml_str(
            &format!("{SINK}[[routes]]\nsinks = [\"out\"]"),
            Path::new("/cfg")
        )
        .unwrap()
        .routes[0]
            .filter,
        None
    );

    // What `switchboard check` prints: the route's path, the expression quoted, line and column.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(
        &path,
        format!("{SINK}[[routes]]\nsinks = [\"out\"]\n\n[[routes]]\nsinks = [\"out\"]\nfilter = 'body.presenceDefinition.systemPresence == '"),
    )
    .unwrap();
    let errors = check(&path).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "routes[1].filter: \"body.presenceDefinition.systemPresence == \" is not a valid CEL expression: line 1, column 43: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
    );
    assert_one(
        &format!("{SINK}[[routes]]\nsinks = [\"out\"]\nfilter = 'tenant == \"a\" && bdy.x'"),
        "routes[0].filter",
        "line 1, column 18: undeclared reference to 'bdy'",
    );
    assert_one(
        &format!("{SINK}[[routes]]\nsinks = [\"out\"]\nfilter = true"),
        "routes[0].filter",
        "expected a string",
    );
}
