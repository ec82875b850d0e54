//! The command-line client of the admin API: `switchboard status|gaps|tail`. Human tables by default,
//! `--json` for scripts.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::Value;

/// Where the API is and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The admin API's base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    pub url: String,
    /// A bearer token of the admin API.
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut req =
            reqwest::Client::new().get(format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("while reaching {}", self.url))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{status}: {}",
                body["message"].as_str().unwrap_or("(no message)")
            );
        }
        Ok(body)
    }
}

/// A plain text table: columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

/// The status table: one row per channel (a tenant without channels gets one row).
pub fn status_table(status: &Value) -> String {
    let mut rows = Vec::new();
    for t in status["tenants"].as_array().into_iter().flatten() {
        let channels = t["channels"].as_array().cloned().unwrap_or_default();
        if channels.is_empty() {
            rows.push(vec![
                s(&t["id"]),
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
            rows.push(vec![
                s(&t["id"]),
                s(&t["state"]),
                c["channelId"]
                    .as_str()
                    .map(|id| id.trim_start_matches("streaming-0-").to_string())
                    .unwrap_or_else(|| "-".into()),
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
                s(&c["lastFrameAt"]),
                s(&c["restarts"]),
                s(&c["lastError"]),
            ]);
        }
        let unplaced = t["unplaced"].as_array().map_or(0, Vec::len);
        if unplaced > 0 {
            rows.push(vec![
                s(&t["id"]),
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
    table(
        &[
            "TENANT",
            "TENANT STATE",
            "CHANNEL",
            "STATE",
            "TOPICS",
            "LAST FRAME",
            "RESTARTS",
            "LAST ERROR",
        ],
        &rows,
    )
}

pub async fn status(client: &ClientArgs, watch: Option<u64>) -> anyhow::Result<()> {
    loop {
        let status = client.get("/v1/status").await?;
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
            vec![
                s(&g["tenant"]),
                s(&g["from"]),
                s(&g["to"]),
                s(&g["reason"]),
                g["topics"].as_array().map_or(0, Vec::len).to_string(),
                s(&g["channelId"]),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["TENANT", "FROM", "TO", "REASON", "TOPICS", "CHANNEL"],
            &rows
        )
    );
    Ok(())
}

/// Prints the tenant's records as they are delivered, one envelope per line.
pub async fn tail(client: &ClientArgs, tenant: &str, family: Option<&str>) -> anyhow::Result<()> {
    let mut url = format!(
        "{}/v1/tenants/{tenant}/events",
        client.url.trim_end_matches('/')
    );
    if let Some(f) = family {
        url.push_str(&format!(
            "?family={}",
            f.replace('{', "%7B").replace('}', "%7D")
        ));
    }
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

impl ClientArgs {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("while reaching {}", self.url))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let mut message = format!(
                "{status}: {}",
                body["message"].as_str().unwrap_or("(no message)")
            );
            for d in body["details"].as_array().into_iter().flatten() {
                message.push_str(&format!("\n  - {}", s(d)));
            }
            bail!(message);
        }
        Ok(body)
    }
}

/// `switchboard tenants ...`
#[derive(Debug, clap::Subcommand)]
pub enum TenantsCommand {
    /// All tenants.
    List,
    /// One tenant.
    Get {
        id: String,
    },
    /// Create a tenant from a JSON file (`{"id","region"|"apiBase"+"loginBase","clients":[{"id","secret"}],"topics":[...]}`).
    Create {
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Replace a tenant's definition from a JSON file (clients without a secret keep theirs).
    Update {
        id: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    Delete {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    /// Restart the tenant's channels (only the failed ones with --only-failed).
    Restart {
        id: String,
        #[arg(long)]
        only_failed: bool,
    },
}

/// `switchboard topics ...`
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// A tenant's topics and where each one is.
    List { tenant: String },
    /// Add topics: names as arguments, or one per line in --file (`-` for standard input).
    Add {
        tenant: String,
        topics: Vec<String>,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 0)]
        priority: i32,
    },
    /// Remove topics: names as arguments, or one per line in --file.
    Remove {
        tenant: String,
        topics: Vec<String>,
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
                println!("{} topic(s) added: {v}", names.len())
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
                println!("{} topic(s) removed: {v}", names.len())
            }
        }
    }
    Ok(())
}

/// `switchboard sinks ...`
#[derive(Debug, clap::Subcommand)]
pub enum SinksCommand {
    /// Sinks and routes.
    List,
    /// Create or replace a sink.
    Put(Box<SinkPut>),
    Delete {
        name: String,
    },
    /// Create or replace a route: which tenants' topics go to which sinks.
    Route {
        id: String,
        #[arg(long, value_delimiter = ',', required = true)]
        sinks: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "*")]
        tenants: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "*")]
        topics: Vec<String>,
        #[arg(long)]
        changes_only: bool,
    },
    /// Delete a route.
    Unroute {
        id: String,
    },
}

/// `switchboard sinks put`: a sink's name and settings.
#[derive(Debug, clap::Args)]
pub struct SinkPut {
    name: String,
    /// `file`, `stdout`, `nats`, `webhook` or `kafka`.
    #[arg(long)]
    kind: String,
    /// The file (for `file`), as the server sees it.
    #[arg(long)]
    path: Option<String>,
    #[arg(long)]
    max_bytes: Option<u64>,
    #[arg(long)]
    max_files: Option<u32>,
    /// The NATS server (for `nats`) or the URL to POST to (for `webhook`). Not `--url`, which is the admin
    /// API's (a global option: a `--url` of this command would take its value too).
    #[arg(long = "sink-url", id = "sink_url")]
    sink_url: Option<String>,
    /// The NATS subject template (for `nats`), e.g. `switchboard.{tenant}.{family}`.
    #[arg(long)]
    subject: Option<String>,
    /// The JetStream stream (for `nats`).
    #[arg(long)]
    stream: Option<String>,
    /// Create the JetStream stream when it does not exist (for `nats`).
    #[arg(long)]
    create_stream: bool,
    /// The environment variable holding the signing secret (for `webhook`): `whsec_<base64>` or any text.
    /// Read here and sent to the server, which stores it sealed.
    #[arg(long)]
    secret_env: Option<String>,
    /// One POST per batch with a JSON array (for `webhook`).
    #[arg(long)]
    batch: bool,
    /// How long one POST may take (for `webhook`), or a batch may wait for its acknowledgements (for
    /// `kafka`), in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// CIDRs, addresses or host names allowed although private or loopback (for `webhook`).
    #[arg(long, value_delimiter = ',')]
    allow: Vec<String>,
    /// The bootstrap brokers, host:port (for `kafka`).
    #[arg(long, value_delimiter = ',')]
    brokers: Vec<String>,
    /// The topic template (for `kafka`), e.g. `switchboard.{tenant}`.
    #[arg(long)]
    topic: Option<String>,
    /// The key template (for `kafka`); default: tenant and the topic's entity id.
    #[arg(long)]
    key: Option<String>,
    /// Create each topic when it does not exist (for `kafka`).
    #[arg(long)]
    create_topic: bool,
    /// Partitions of a created topic (for `kafka`).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor of a created topic (for `kafka`).
    #[arg(long)]
    replication: Option<i32>,
    /// A librdkafka property NAME=VALUE (for `kafka`; repeatable), e.g. `security.protocol=SASL_SSL`.
    #[arg(long = "property", value_name = "NAME=VALUE")]
    properties: Vec<String>,
    /// A librdkafka property NAME=VARIABLE whose value is read from the environment variable here (for
    /// `kafka`; repeatable), e.g. `sasl.password=KAFKA_PASSWORD`. The server stores secret ones sealed.
    #[arg(long = "property-env", value_name = "NAME=VARIABLE")]
    property_env: Vec<String>,
}

pub async fn sinks_command(client: &ClientArgs, cmd: SinksCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match cmd {
        SinksCommand::List => sinks(client).await,
        SinksCommand::Put(put) => {
            let SinkPut {
                name,
                kind,
                path,
                max_bytes,
                max_files,
                sink_url,
                subject,
                stream,
                create_stream,
                secret_env,
                batch,
                timeout_ms,
                allow,
                brokers,
                topic,
                key,
                create_topic,
                partitions,
                replication,
                properties,
                property_env,
            } = *put;
            let mut body = serde_json::json!({ "kind": kind });
            let mut props = serde_json::Map::new();
            for p in &properties {
                let (name, value) = p
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--property {p:?}: expected NAME=VALUE"))?;
                props.insert(name.trim().to_string(), value.into());
            }
            for p in &property_env {
                let (name, var) = p.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("--property-env {p:?}: expected NAME=VARIABLE")
                })?;
                let value = std::env::var(var.trim()).map_err(|_| {
                    anyhow::anyhow!("environment variable {} is not set", var.trim())
                })?;
                props.insert(name.trim().to_string(), value.trim().into());
            }
            if !props.is_empty() {
                body["properties"] = props.into();
            }
            if !brokers.is_empty() {
                body["brokers"] = brokers.into();
            }
            for (field, value) in [("topic", topic), ("key", key)] {
                if let Some(v) = value {
                    body[field] = v.into();
                }
            }
            if create_topic {
                body["createTopic"] = true.into();
            }
            if let Some(n) = partitions {
                body["partitions"] = n.into();
            }
            if let Some(n) = replication {
                body["replication"] = n.into();
            }
            if let Some(var) = secret_env {
                let secret = std::env::var(&var)
                    .map_err(|_| anyhow::anyhow!("environment variable {var} is not set"))?;
                body["secret"] = secret.trim().into();
            }
            if batch {
                body["batch"] = true.into();
            }
            if let Some(ms) = timeout_ms {
                body["timeoutMs"] = ms.into();
            }
            if !allow.is_empty() {
                body["allow"] = allow.into();
            }
            for (key, value) in [("url", sink_url), ("subject", subject), ("stream", stream)] {
                if let Some(v) = value {
                    body[key] = v.into();
                }
            }
            if create_stream {
                body["createStream"] = true.into();
            }
            if let Some(p) = path {
                body["path"] = p.into();
            }
            if let Some(b) = max_bytes {
                body["maxBytes"] = b.into();
            }
            if let Some(f) = max_files {
                body["maxFiles"] = f.into();
            }
            let v = client
                .send(Method::PUT, &format!("/v1/sinks/{name}"), Some(body))
                .await?;
            if client.json {
                println!("{v}")
            } else {
                println!("sink {name} saved")
            }
            Ok(())
        }
        SinksCommand::Delete { name } => {
            client
                .send(Method::DELETE, &format!("/v1/sinks/{name}"), None)
                .await?;
            println!("sink {name} deleted");
            Ok(())
        }
        SinksCommand::Route {
            id,
            sinks,
            tenants,
            topics,
            changes_only,
        } => {
            let body = serde_json::json!({"tenants": tenants, "sinks": sinks, "topics": topics, "changesOnly": changes_only});
            let v = client
                .send(Method::PUT, &format!("/v1/routes/{id}"), Some(body))
                .await?;
            if client.json {
                println!("{v}")
            } else {
                println!("route {id} saved")
            }
            Ok(())
        }
        SinksCommand::Unroute { id } => {
            client
                .send(Method::DELETE, &format!("/v1/routes/{id}"), None)
                .await?;
            println!("route {id} deleted");
            Ok(())
        }
    }
}

/// `switchboard sinks list`: the sinks and routes.
pub async fn sinks(client: &ClientArgs) -> anyhow::Result<()> {
    let sinks = client.get("/v1/sinks").await?;
    let routes = client.get("/v1/routes").await?;
    if client.json {
        println!("{}", serde_json::json!({"sinks": sinks, "routes": routes}));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = sinks
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            vec![
                s(&x["name"]),
                s(&x["kind"]),
                if x["subject"].is_string() {
                    // A NATS sink: where it publishes.
                    format!("{} {}", s(&x["url"]), s(&x["subject"]))
                } else if x["topic"].is_string() {
                    // A Kafka sink: where it produces.
                    let brokers: Vec<String> = x["brokers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect();
                    format!("{} {}", brokers.join(","), s(&x["topic"]))
                } else {
                    s(&x["path"])
                },
                s(&x["sent"]),
                s(&x["queued"]),
            ]
        })
        .collect();
    println!(
        "{}\n",
        table(&["SINK", "KIND", "PATH", "SENT", "QUEUED"], &rows)
    );
    let rows: Vec<Vec<String>> = routes
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                s(&r["id"]),
                s(&r["tenants"]),
                s(&r["topics"]),
                s(&r["sinks"]),
                s(&r["changesOnly"]),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["ROUTE", "TENANTS", "TOPICS", "SINKS", "CHANGES ONLY"],
            &rows
        )
    );
    Ok(())
}
