//! The command-line client of the admin API: `switchboard status|gaps|tail` (status.rs), `tenants` and
//! `topics` (tenants.rs), `sinks` (sinks.rs), `audit` and `dead-letters` (records.rs). Human tables by default, `--json` for scripts.

mod records;
mod sinks;
mod status;
mod tenants;

use anyhow::bail;
use serde_json::Value;

pub use self::records::{AuditArgs, DeadLettersCommand, audit, dead_letters};
pub use self::sinks::{SinkPut, SinksCommand, sinks, sinks_command};
pub use self::status::{TailFrom, gaps, status, status_table, status_table_fit, tail};
pub use self::tenants::{TenantsCommand, TopicsCommand, tenants, topics};

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
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Sends a request to the admin API. An error says what to change: the address and the cause when the
    /// API cannot be reached, the token's flag when it is refused, and each field the API names.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let base = self.url.trim_end_matches('/');
        let mut req = reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| unreachable(base, &e))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(refused(status, &body, self.token.is_some()));
        }
        Ok(body)
    }
}

/// The error for an API that cannot be reached: where, why, and which flag says where.
fn unreachable(base: &str, e: &reqwest::Error) -> anyhow::Error {
    // reqwest's own text ("error sending request") hides the cause; the innermost source names it.
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let why = if e.is_timeout() {
        "no answer within 60 s".to_string()
    } else {
        cause.to_string()
    };
    anyhow::anyhow!(
        "cannot reach the admin API at {base}: {why} (set the address with --url or SWITCHBOARD_URL)"
    )
}

/// The error for an answer that is not a success: the status, the API's message and named fields, and
/// what to do about a refused token.
fn refused(status: reqwest::StatusCode, body: &Value, token_given: bool) -> String {
    let mut message = format!(
        "{status}: {}",
        body["message"].as_str().unwrap_or("(no message)")
    );
    for d in body["details"].as_array().into_iter().flatten() {
        message.push_str(&format!("\n  - {}", s(d)));
    }
    match status.as_u16() {
        401 if token_given => message.push_str(
            "\nthe token was not accepted: check --token or SWITCHBOARD_TOKEN (a token of [[admin.tokens]])",
        ),
        401 => message.push_str(
            "\nno token was given: pass one with --token or set SWITCHBOARD_TOKEN (a token of [[admin.tokens]])",
        ),
        403 => message
            .push_str("\nthis token's role may only read: changes need a token with role = \"admin\""),
        _ => {}
    }
    message
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

/// A time the API wrote (RFC 3339), or `None` for anything else.
pub fn time_of(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
}

/// How long ago `then` was, as of `now`: `3s ago`, `5m ago`, `2h ago`, `4d ago` (`now` for a time ahead).
pub fn ago(then: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        ..0 => "now".into(),
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// A length of time for people: `850ms`, `3.1s`, `4m10s`, `2h5m`.
pub fn length(d: chrono::TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// Each line of `text` cut to `width` characters, a cut line ending in `…`.
pub fn cut_lines(text: &str, width: usize) -> String {
    text.lines()
        .map(
            |line| match line.char_indices().nth(width.saturating_sub(1)) {
                Some((cut, _)) if line.chars().count() > width => format!("{}…", &line[..cut]),
                _ => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}
