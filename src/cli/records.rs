//! `switchboard audit` and `switchboard dead-letters`: who changed what, and what destinations refused.

use reqwest::Method;
use serde_json::Value;

use super::{ClientArgs, cut_lines, s, table};

/// `switchboard dead-letters ...`
#[derive(Debug, clap::Subcommand)]
pub enum DeadLettersCommand {
    /// The records a sink's destination refused for good, newest first.
    List {
        /// The sink's name.
        sink: String,
        /// At most this many (up to 10,000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send a sink's oldest dead letters to it again (a record refused again becomes a new dead letter).
    Replay {
        /// The sink's name.
        sink: String,
        /// At most this many (up to 10,000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `switchboard audit`: the audit log, newest first.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Only entries whose target starts with this, e.g. `tenants/acme`.
    #[arg(long)]
    pub target: Option<String>,
    /// Only entries since then: a duration ago (`10m`, `2h`) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many (up to 10,000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

pub async fn audit(client: &ClientArgs, args: &AuditArgs) -> anyhow::Result<()> {
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(t) = &args.target {
        query.push(("target", t.clone()));
    }
    if let Some(since) = &args.since {
        query.push(("since", super::status::since_time(since)?.to_rfc3339()));
    }
    let path = format!(
        "/v1/audit?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    );
    let entries = client.get(&path).await?;
    if client.json {
        println!("{entries}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                s(&e["at"]),
                s(&e["actor"]),
                s(&e["action"]),
                s(&e["target"]),
                // Long details (the names of thousands of topics) are cut; --json has them whole.
                cut_lines(&details(&e["details"]), 200),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["AT", "ACTOR", "ACTION", "TARGET", "DETAILS"], &rows)
    );
    Ok(())
}

/// An audit entry's details on one line: `count=3 topics=a,b,c`.
fn details(v: &Value) -> String {
    let Some(map) = v.as_object() else {
        return s(v);
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::Array(items) => {
                format!("{k}={}", items.iter().map(s).collect::<Vec<_>>().join(","))
            }
            other => format!("{k}={}", s(other)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn dead_letters(client: &ClientArgs, cmd: DeadLettersCommand) -> anyhow::Result<()> {
    match cmd {
        DeadLettersCommand::List { sink, limit } => {
            let letters = client
                .get(&format!("/v1/sinks/{sink}/dead-letters?limit={limit}"))
                .await?;
            if client.json {
                println!("{letters}");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = letters
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let record: Value = d["json"]
                        .as_str()
                        .and_then(|j| serde_json::from_str(j).ok())
                        .unwrap_or(Value::Null);
                    vec![
                        s(&d["at"]),
                        s(&record["tenant"]),
                        s(&record["kind"]),
                        s(&record["id"]),
                        cut_lines(&s(&d["reason"]), 60),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["AT", "TENANT", "KIND", "RECORD", "REASON"], &rows)
            );
        }
        DeadLettersCommand::Replay { sink, limit } => {
            let v = client
                .send(
                    Method::POST,
                    &format!("/v1/sinks/{sink}/dead-letters/replay?limit={limit}"),
                    None,
                )
                .await?;
            if client.json {
                println!("{v}");
            } else {
                println!(
                    "{} dead letter(s) of sink {sink} sent again",
                    v["replayed"].as_u64().unwrap_or(0)
                );
            }
        }
    }
    Ok(())
}
