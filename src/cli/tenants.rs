//! `switchboard tenants` and `topics`: tenants' definitions and their topics.

use anyhow::{Context, bail};
use serde_json::Value;

use super::{ClientArgs, s, table};

/// `switchboard tenants ...`
#[derive(Debug, clap::Subcommand)]
pub enum TenantsCommand {
    /// All tenants.
    List,
    /// One tenant.
    Get {
        /// The tenant's id.
        id: String,
    },
    /// Create a tenant from a JSON file (`{"id","region"|"apiBase"+"loginBase","clients":[{"id","secret"}],"topics":[...]}`).
    Create {
        /// The JSON file with the tenant's definition.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Replace a tenant's definition from a JSON file (clients without a secret keep theirs).
    Update {
        /// The tenant's id.
        id: String,
        /// The JSON file with the new definition.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Delete a tenant: its channels close, its definition, clients and topics are forgotten.
    Delete {
        /// The tenant's id.
        id: String,
    },
    /// Pause a tenant: its channels close (a gap is recorded) until it is resumed.
    Pause {
        /// The tenant's id.
        id: String,
    },
    /// Resume a paused tenant.
    Resume {
        /// The tenant's id.
        id: String,
    },
    /// Restart the tenant's channels (only the failed ones with --only-failed).
    Restart {
        /// The tenant's id.
        id: String,
        /// Restart only channels that failed, leaving live ones alone.
        #[arg(long)]
        only_failed: bool,
    },
}

/// `switchboard topics ...`
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// A tenant's topics and where each one is.
    List {
        /// The tenant's id.
        tenant: String,
    },
    /// Add topics: names as arguments, or one per line in --file (`-` for standard input).
    Add {
        /// The tenant's id.
        tenant: String,
        /// Topic names, e.g. 'v2.users.<id>.presence'.
        topics: Vec<String>,
        /// A file with one topic per line ('#' starts a comment; `-` reads standard input).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Placement priority: when not all topics fit, higher ones are placed first.
        #[arg(long, default_value_t = 0)]
        priority: i32,
    },
    /// Remove topics: names as arguments, or one per line in --file.
    Remove {
        /// The tenant's id.
        tenant: String,
        /// Topic names (case ignored).
        topics: Vec<String>,
        /// A file with one topic per line (`-` reads standard input).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

fn read_json_file(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("while reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn topic_names(args: Vec<String>, file: Option<std::path::PathBuf>) -> anyhow::Result<Vec<String>> {
    let mut names = args;
    if let Some(f) = file {
        let text = if f.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(&f).with_context(|| format!("while reading {}", f.display()))?
        };
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if names.is_empty() {
        bail!("no topics given");
    }
    Ok(names)
}

fn print_tenants(client: &ClientArgs, v: &Value) {
    if client.json {
        println!("{v}");
        return;
    }
    let list: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            let clients: Vec<String> = t["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| s(&c["id"]))
                .collect();
            vec![
                s(&t["id"]),
                s(&t["region"]),
                s(&t["apiBase"]),
                clients.join(","),
                s(&t["topics"]),
                s(&t["paused"]),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["TENANT", "REGION", "API", "CLIENTS", "TOPICS", "PAUSED"],
            &rows
        )
    );
}

pub async fn tenants(client: &ClientArgs, cmd: TenantsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        TenantsCommand::List => print_tenants(client, &client.get("/v1/tenants").await?),
        TenantsCommand::Get { id } => {
            print_tenants(client, &client.get(&format!("/v1/tenants/{id}")).await?)
        }
        TenantsCommand::Create { file } => {
            let v = client
                .send(Method::POST, "/v1/tenants", Some(read_json_file(&file)?))
                .await?;
            print_tenants(client, &v);
        }
        TenantsCommand::Update { id, file } => {
            let v = client
                .send(
                    Method::PUT,
                    &format!("/v1/tenants/{id}"),
                    Some(read_json_file(&file)?),
                )
                .await?;
            print_tenants(client, &v);
        }
        TenantsCommand::Delete { id } => {
            client
                .send(Method::DELETE, &format!("/v1/tenants/{id}"), None)
                .await?;
            println!("tenant {id} deleted");
        }
        TenantsCommand::Pause { id } => print_tenants(
            client,
            &client
                .send(Method::POST, &format!("/v1/tenants/{id}/pause"), None)
                .await?,
        ),
        TenantsCommand::Resume { id } => print_tenants(
            client,
            &client
                .send(Method::POST, &format!("/v1/tenants/{id}/resume"), None)
                .await?,
        ),
        TenantsCommand::Restart { id, only_failed } => {
            client
                .send(
                    Method::POST,
                    &format!("/v1/tenants/{id}/restart?onlyFailed={only_failed}"),
                    None,
                )
                .await?;
            println!("restart of {id} requested");
        }
    }
    Ok(())
}

/// What a topic change did to the channels, in words.
fn change_summary(change: &Value) -> String {
    let n = |field: &str| change[field].as_u64().unwrap_or(0);
    let mut text = format!(
        "channels: {} changed, {} started, {} stopped",
        n("channelsChanged"),
        n("channelsStarted"),
        n("channelsStopped")
    );
    if n("unplaced") > 0 {
        text.push_str(&format!(
            "; {} topic(s) do not fit (see `switchboard topics list`)",
            n("unplaced")
        ));
    }
    text
}

pub async fn topics(client: &ClientArgs, cmd: TopicsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        TopicsCommand::List { tenant } => {
            let v = client.get(&format!("/v1/tenants/{tenant}/topics")).await?;
            if client.json {
                println!("{v}");
            } else {
                let rows: Vec<Vec<String>> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        vec![
                            s(&t["topic"]),
                            s(&t["priority"]),
                            s(&t["state"]),
                            s(&t["channelId"]),
                            s(&t["reason"]),
                        ]
                    })
                    .collect();
                println!(
                    "{}",
                    table(&["TOPIC", "PRIORITY", "STATE", "CHANNEL", "REASON"], &rows)
                );
            }
        }
        TopicsCommand::Add {
            tenant,
            topics,
            file,
            priority,
        } => {
            let names = topic_names(topics, file)?;
            let body = serde_json::json!({"topics": names.iter().map(|n| serde_json::json!({"name": n, "priority": priority})).collect::<Vec<_>>()});
            let v = client
                .send(
                    Method::POST,
                    &format!("/v1/tenants/{tenant}/topics"),
                    Some(body),
                )
                .await?;
            if client.json {
                println!("{v}")
            } else {
                println!("{} topic(s) added; {}", names.len(), change_summary(&v))
            }
        }
        TopicsCommand::Remove {
            tenant,
            topics,
            file,
        } => {
            let names = topic_names(topics, file)?;
            let v = client
                .send(
                    Method::DELETE,
                    &format!("/v1/tenants/{tenant}/topics"),
                    Some(serde_json::json!({"topics": names})),
                )
                .await?;
            if client.json {
                println!("{v}")
            } else {
                println!("{} topic(s) removed; {}", names.len(), change_summary(&v))
            }
        }
    }
    Ok(())
}
