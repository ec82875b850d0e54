//! `switchboard sinks`: sinks and routes.

use super::{ClientArgs, s, table};

/// `switchboard sinks ...`
#[derive(Debug, clap::Subcommand)]
pub enum SinksCommand {
    /// Sinks and routes.
    List,
    /// Create or replace a sink.
    Put(Box<SinkPut>),
    /// Delete a sink (refused while a route names it).
    Delete {
        /// The sink's name.
        name: String,
    },
    /// Create or replace a route: which tenants' topics go to which sinks.
    Route {
        /// The route's id.
        id: String,
        /// The sinks that receive the records, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        sinks: Vec<String>,
        /// Tenant ids, or `*` for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        tenants: Vec<String>,
        /// Topic patterns ('v2.users.*.presence'), or `*` for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        topics: Vec<String>,
        /// Deliver an event only when its body differs from the entity's last one.
        #[arg(long)]
        changes_only: bool,
        /// A CEL expression only the events it is true for pass
        /// ('body.presenceDefinition.systemPresence != "Offline"').
        #[arg(long)]
        filter: Option<String>,
    },
    /// Delete a route.
    Unroute {
        /// The route's id.
        id: String,
    },
}

/// `switchboard sinks put`: a sink's name and settings.
#[derive(Debug, clap::Args)]
pub struct SinkPut {
    /// The sink's name (a-z, 0-9, _ and -).
    name: String,
    /// `file`, `stdout`, `nats`, `webhook`, `kafka` or `log`.
    #[arg(long)]
    kind: String,
    /// The file (for `file`), as the server sees it.
    #[arg(long)]
    path: Option<String>,
    /// Rotate past this many bytes (for `file`), or trim the oldest records past this many (for `log`).
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Rotated files kept (for `file`).
    #[arg(long)]
    max_files: Option<u32>,
    /// The log's directory below the server's data directory (for `log`; default `logs/<name>`).
    #[arg(long)]
    dir: Option<String>,
    /// Trim records older than this (for `log`), e.g. `24h`.
    #[arg(long)]
    max_age: Option<String>,
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
                dir,
                max_age,
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
            for (key, value) in [
                ("url", sink_url),
                ("subject", subject),
                ("stream", stream),
                ("dir", dir),
                ("maxAge", max_age),
            ] {
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
            filter,
        } => {
            let body = serde_json::json!({"tenants": tenants, "sinks": sinks, "topics": topics, "changesOnly": changes_only, "filter": filter});
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
                s(&r["filter"]),
                s(&r["filtered"]),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "ROUTE",
                "TENANTS",
                "TOPICS",
                "SINKS",
                "CHANGES ONLY",
                "FILTER",
                "FILTERED"
            ],
            &rows
        )
    );
    Ok(())
}
