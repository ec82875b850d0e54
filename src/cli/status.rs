//! `switchboard status`, `gaps` and `tail`: what the engine is doing and what it could not deliver.

use chrono::{DateTime, Utc};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::Value;

use super::{ClientArgs, s, table};

/// The status table: one row per channel (a tenant without channels gets one row), the last frame as an
/// age; in cluster mode (a tenant with an `owner`, see [`with_owners`]) the instance that runs each tenant.
pub fn status_table(status: &Value) -> String {
    status_table_fit(status, Utc::now(), usize::MAX)
}

/// The status table as of `now`, each line cut to `width` characters (the last column, the error, is the
/// one cut); under a width, channel ids show their first 8 characters.
pub fn status_table_fit(status: &Value, now: DateTime<Utc>, width: usize) -> String {
    let short = width < usize::MAX;
    let clustered = status["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t.get("owner").is_some());
    let mut rows = Vec::new();
    for t in status["tenants"].as_array().into_iter().flatten() {
        let channels = t["channels"].as_array().cloned().unwrap_or_default();
        if channels.is_empty() {
            rows.push(vec![
                s(&t["id"]),
                s(&t["owner"]),
                s(&t["state"]),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                s(&t["lastError"]),
            ]);
        }
        for c in channels {
            let rejected = c["rejected"].as_array().map_or(0, Vec::len);
            let channel = c["channelId"]
                .as_str()
                .map(|id| id.trim_start_matches("streaming-0-"))
                .map(|id| match id.char_indices().nth(8) {
                    Some((cut, _)) if short => format!("{}…", &id[..cut]),
                    _ => id.to_string(),
                })
                .unwrap_or_else(|| "-".into());
            rows.push(vec![
                s(&t["id"]),
                s(&t["owner"]),
                s(&t["state"]),
                channel,
                s(&c["state"]),
                format!(
                    "{}{}",
                    s(&c["topics"]),
                    if rejected > 0 {
                        format!(" ({rejected} rejected)")
                    } else {
                        String::new()
                    }
                ),
                super::time_of(&c["lastFrameAt"])
                    .map_or_else(|| "-".into(), |t| super::ago(t, now)),
                s(&c["restarts"]),
                s(&c["lastError"]),
            ]);
        }
        // A topic template: its topic, the entities it matched, its topics placed of all, its last sync.
        for tpl in t["templates"].as_array().into_iter().flatten() {
            rows.push(vec![
                s(&t["id"]),
                s(&t["owner"]),
                "template".into(),
                s(&tpl["template"]["template"]),
                format!("{} entities", s(&tpl["entities"])),
                format!("{}/{}", s(&tpl["placed"]), s(&tpl["topics"])),
                super::time_of(&tpl["lastSync"]).map_or_else(|| "-".into(), |t| super::ago(t, now)),
                "-".into(),
                s(&tpl["error"]),
            ]);
        }
        let unplaced = t["unplaced"].as_array().map_or(0, Vec::len);
        if unplaced > 0 {
            rows.push(vec![
                s(&t["id"]),
                s(&t["owner"]),
                "unplaced".into(),
                "-".into(),
                "-".into(),
                unplaced.to_string(),
                "-".into(),
                "-".into(),
                s(&t["unplacedReason"]),
            ]);
        }
    }
    let mut header = vec![
        "TENANT",
        "OWNER",
        "TENANT STATE",
        "CHANNEL",
        "STATE",
        "TOPICS",
        "LAST FRAME",
        "RESTARTS",
        "LAST ERROR",
    ];
    if !clustered {
        // One process runs every tenant: no owner to show.
        header.remove(1);
        for row in &mut rows {
            row.remove(1);
        }
    }
    let text = table(&header, &rows);
    if short {
        super::cut_lines(&text, width)
    } else {
        text
    }
}

/// Cluster mode: adds each tenant's `owner` (the instance that holds its lease, `-` when none does) from
/// `GET /v1/cluster`'s answer to the status.
pub fn with_owners(mut status: Value, cluster: &Value) -> Value {
    let owner_of = |id: &str| {
        cluster["tenants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["id"] == id)
            .and_then(|l| l["owner"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    if let Some(tenants) = status["tenants"].as_array_mut() {
        for t in tenants {
            let owner = owner_of(t["id"].as_str().unwrap_or_default());
            if let Some(t) = t.as_object_mut() {
                t.insert("owner".into(), Value::String(owner));
            }
        }
    }
    status
}

pub async fn status(client: &ClientArgs, watch: Option<u64>) -> anyhow::Result<()> {
    loop {
        let mut status = client.get("/v1/status").await?;
        // Cluster mode only (404 otherwise): who runs each tenant.
        if let Ok(cluster) = client.get("/v1/cluster").await {
            status = with_owners(status, &cluster);
        }
        if client.json {
            println!("{status}");
        } else {
            if watch.is_some() {
                // Clear the screen and go home, like `watch`.
                print!("\x1b[2J\x1b[H");
            }
            println!("{}", status_table(&status));
        }
        match watch {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return Ok(()),
        }
    }
}

pub async fn gaps(client: &ClientArgs, tenant: Option<&str>, limit: usize) -> anyhow::Result<()> {
    let mut path = format!("/v1/gaps?limit={limit}");
    if let Some(t) = tenant {
        path.push_str(&format!("&tenant={t}"));
    }
    let gaps = client.get(&path).await?;
    if client.json {
        println!("{gaps}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = gaps
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let length = match (super::time_of(&g["from"]), super::time_of(&g["to"])) {
                (Some(from), Some(to)) => super::length(to - from),
                _ => "-".into(),
            };
            vec![
                s(&g["tenant"]),
                s(&g["from"]),
                s(&g["to"]),
                length,
                s(&g["reason"]),
                g["topics"].as_array().map_or(0, Vec::len).to_string(),
                s(&g["channelId"]),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "TENANT", "FROM", "TO", "LENGTH", "REASON", "TOPICS", "CHANNEL"
            ],
            &rows
        )
    );
    Ok(())
}

/// A `--since`: a duration ago (`10m`) or an RFC 3339 time.
pub(super) fn since_time(since: &str) -> anyhow::Result<DateTime<Utc>> {
    since_time_at(since, Utc::now())
}

fn since_time_at(since: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    Ok(match DateTime::parse_from_rfc3339(since.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let ago = humantime::parse_duration(since.trim()).with_context(|| {
                format!("--since {since:?}: give a duration such as 10m or an RFC 3339 time")
            })?;
            now - chrono::Duration::from_std(ago).context("--since: too long ago")?
        }
    })
}

/// Where `switchboard tail` starts: live (the default), after a record id, or from a time.
#[derive(Debug, Clone, Default)]
pub struct TailFrom {
    /// Resume after this record id (from a log sink).
    pub after: Option<u64>,
    /// `10m` (that long ago) or an RFC 3339 time.
    pub since: Option<String>,
    /// The log sink to read when several receive the tenant's records.
    pub log: Option<String>,
}

impl TailFrom {
    /// The query string's parameters.
    fn params(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<(&'static str, String)>> {
        let mut out = Vec::new();
        if let Some(after) = self.after {
            out.push(("after", after.to_string()));
        }
        if let Some(since) = &self.since {
            let at = since_time_at(since, now)?;
            out.push((
                "since",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
        if let Some(log) = &self.log {
            out.push(("log", log.clone()));
        }
        Ok(out)
    }
}

/// Prints the tenant's records as they are delivered, one envelope per line; with `from`, first those since
/// a time or after a record id (from the tenant's log sink).
pub async fn tail(
    client: &ClientArgs,
    tenant: &str,
    family: Option<&str>,
    from: &TailFrom,
) -> anyhow::Result<()> {
    let url = format!(
        "{}/v1/tenants/{tenant}/events",
        client.url.trim_end_matches('/')
    );
    let mut params = from.params(Utc::now())?;
    if let Some(f) = family {
        params.push(("family", f.to_string()));
    }
    let query = serde_urlencoded::to_string(&params).context("the query")?;
    let url = if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    };
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = &client.token {
        req = req.bearer_auth(t);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("while reaching {}", client.url))?;
    if !res.status().is_success() {
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        bail!(
            "{status}: {}",
            body["message"].as_str().unwrap_or("(no message)")
        );
    }
    let mut stream = res.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk.context("while reading the tail")?);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            for line in event.split(|b| *b == b'\n') {
                if let Some(data) = line.strip_prefix(b"data: ") {
                    println!("{}", String::from_utf8_lossy(data));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_starts_after_an_id_or_at_a_time_given_as_an_age_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ago = TailFrom {
            since: Some("10m".into()),
            log: Some("replay".into()),
            ..TailFrom::default()
        };
        assert_eq!(
            ago.params(now).unwrap(),
            [
                ("since", "2026-12-02T09:50:00.000Z".to_string()),
                ("log", "replay".to_string())
            ]
        );
        let at = TailFrom {
            since: Some("2026-12-01T08:00:00+01:00".into()),
            ..TailFrom::default()
        };
        assert_eq!(at.params(now).unwrap()[0].1, "2026-12-01T07:00:00.000Z");
        let after = TailFrom {
            after: Some(42),
            ..TailFrom::default()
        };
        assert_eq!(after.params(now).unwrap(), [("after", "42".to_string())]);
        let bad = TailFrom {
            since: Some("yesterday-ish".into()),
            ..TailFrom::default()
        };
        assert!(bad.params(now).unwrap_err().to_string().contains("--since"));
    }

    #[test]
    fn tables_pad_columns_and_show_each_channel() {
        let status = serde_json::json!({"tenants": [{"id": "acme", "state": "running", "channels": [
            {"channelId": "streaming-0-abc", "state": "live", "topics": 3, "rejected": [{"id": "x"}], "lastFrameAt": "t", "restarts": 0, "lastError": null}
        ], "unplaced": ["a", "b"], "unplacedReason": "over the limits"}]});
        let t = status_table(&status);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TENANT"));
        assert!(
            lines[1].contains("abc")
                && lines[1].contains("live")
                && lines[1].contains("3 (1 rejected)")
        );
        assert!(lines[2].contains("unplaced") && lines[2].contains("over the limits"));
        let col = lines[0].find("CHANNEL").unwrap();
        assert_eq!(&lines[1][col..col + 3], "abc", "columns line up");
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().to_utc()
    }

    #[test]
    fn the_status_table_shows_ages_and_fits_the_width_it_is_given() {
        let status = serde_json::json!({"tenants": [{
            "id": "acme", "state": "running", "unplaced": [], "lastError": null,
            "channels": [{
                "channelId": "streaming-0-0123456789abcdef0123456789abcdef", "state": "live", "topics": 998,
                "rejected": [{"topic": "x"}], "lastFrameAt": "2026-12-02T10:00:00Z", "restarts": 2,
                "lastError": "the socket was lost: a long explanation that would wrap a terminal of eighty columns"
            }]
        }]});
        let now = at("2026-12-02T10:00:07Z");
        let narrow = status_table_fit(&status, now, 80);
        assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
        let row = narrow.lines().nth(1).unwrap();
        assert!(
            row.contains("7s ago") && row.contains("01234567…"),
            "{narrow}"
        );
        assert!(row.ends_with('…'), "the error is the column cut: {narrow}");
        let wide = status_table_fit(&status, now, usize::MAX);
        assert!(
            wide.contains("0123456789abcdef0123456789abcdef") && wide.contains("eighty columns"),
            "{wide}"
        );
    }

    #[test]
    fn each_topic_template_has_a_row_with_its_entities_and_placed_topics() {
        let status = serde_json::json!({"tenants": [{"id": "acme", "state": "running", "unplaced": [], "lastError": null,
            "channels": [],
            "templates": [{"template": {"template": "v2.users.{id}.presence", "users": "all"},
                "entities": 510, "topics": 510, "placed": 500, "lastSync": "2026-01-01T11:59:00Z",
                "error": null}]}]});
        let text = status_table_fit(&status, at("2026-01-01T12:00:00Z"), usize::MAX);
        let row = text
            .lines()
            .find(|l| l.contains("template"))
            .expect("a template row");
        for words in ["v2.users.{id}.presence", "510 entities", "500/510", "1m"] {
            assert!(row.contains(words), "{row:?} lacks {words:?}");
        }
    }

    #[test]
    fn in_cluster_mode_the_table_names_each_tenant_s_owner() {
        let status = serde_json::json!({"tenants": [
            {"id": "t0", "state": "running", "channels": []},
            {"id": "t1", "state": "standby", "channels": []},
            {"id": "t2", "state": "standby", "channels": []}]});
        let plain = status_table(&status);
        assert!(!plain.contains("OWNER"), "{plain}");
        let cluster = serde_json::json!({"tenants": [
            {"id": "t0", "owner": "sb-1", "epoch": 2},
            {"id": "t1", "owner": "sb-2", "epoch": 5},
            {"id": "t2", "epoch": 1}]});
        let text = status_table(&with_owners(status, &cluster));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("TENANT  OWNER  TENANT STATE"),
            "{text}"
        );
        assert!(lines[1].starts_with("t0      sb-1   running"), "{text}");
        assert!(lines[2].starts_with("t1      sb-2   standby"), "{text}");
        assert!(lines[3].starts_with("t2      -      standby"), "{text}");
    }

    #[test]
    fn ages_and_lengths_read_as_people_say_them() {
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(super::super::ago(at("2026-12-02T09:59:57Z"), now), "3s ago");
        assert_eq!(super::super::ago(at("2026-12-02T09:55:00Z"), now), "5m ago");
        assert_eq!(super::super::ago(at("2026-12-02T07:00:00Z"), now), "3h ago");
        assert_eq!(super::super::ago(at("2026-11-28T10:00:00Z"), now), "4d ago");
        assert_eq!(super::super::ago(at("2026-12-02T10:00:05Z"), now), "now");
        let ms = chrono::TimeDelta::milliseconds;
        assert_eq!(super::super::length(ms(850)), "850ms");
        assert_eq!(super::super::length(ms(3_120)), "3.1s");
        assert_eq!(super::super::length(ms(250_000)), "4m10s");
        assert_eq!(super::super::length(ms(7_500_000)), "2h5m");
        assert_eq!(super::super::cut_lines("abcdef\nab", 4), "abc…\nab");
    }
}
