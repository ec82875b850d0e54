//! `[cluster]`: several instances sharing the tenants of one PostgreSQL store (see `crate::cluster`).

use std::time::Duration;

use toml::Table;

use crate::settings::{EnvLookup, Errors, Reader};

/// The keys of `[cluster]`.
const KEYS: &[&str] = &[
    "instance_id",
    "lease_ttl",
    "renew_interval",
    "renew_deadline",
    "acquire_interval",
    "advertise_url",
];

/// Cluster mode: present when the configuration has a `[cluster]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This instance's id, unique in the cluster: default the host name and a random suffix;
    /// `SWITCHBOARD_INSTANCE_ID` overrides.
    pub instance_id: String,
    /// How long a lease holds without renewal (default 15 s).
    pub lease_ttl: Duration,
    /// How often leases are renewed (default 5 s).
    pub renew_interval: Duration,
    /// How long after the last good renewal this instance stops claiming anything (default 10 s): less than
    /// the TTL, so that it stops before another may take over.
    pub renew_deadline: Duration,
    /// How often free and expired leases are looked for (default 2 s).
    pub acquire_interval: Duration,
    /// Where this instance's admin API is reachable by the others (readers of its tenants are sent there), if
    /// anywhere; `SWITCHBOARD_ADVERTISE_URL` overrides.
    pub advertise_url: Option<String>,
}

/// A default instance id: the host name and a random suffix, so that two processes on one host differ.
pub fn default_instance_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into a buffer this function owns.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end])
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .take(40)
            .collect::<String>()
    } else {
        String::new()
    };
    let host = if host.is_empty() {
        "switchboard".to_string()
    } else {
        host
    };
    format!("{host}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

fn is_valid_instance_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Reads `[cluster]` (absent: `None`, one process owns every tenant).
pub(crate) fn read_cluster(
    table: Option<&Table>,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> Option<ClusterConfig> {
    let table = table?;
    let r = Reader::new(table, "cluster", KEYS, errs);
    let mut instance_id = r.string("instance_id", errs);
    if let Ok(Some(id)) = env("SWITCHBOARD_INSTANCE_ID")
        && !id.trim().is_empty()
    {
        instance_id = Some(id.trim().to_string());
    }
    let instance_id = instance_id.unwrap_or_else(default_instance_id);
    if !is_valid_instance_id(&instance_id) {
        errs.push(
            r.path("instance_id"),
            format!(
                "{instance_id:?} is not valid: 1 to 63 characters from A-Z, a-z, 0-9, '-', '.', '_'"
            ),
        );
    }
    let config = ClusterConfig {
        instance_id,
        lease_ttl: r.duration("lease_ttl", Duration::from_secs(15), errs),
        renew_interval: r.duration("renew_interval", Duration::from_secs(5), errs),
        renew_deadline: r.duration("renew_deadline", Duration::from_secs(10), errs),
        acquire_interval: r.duration("acquire_interval", Duration::from_secs(2), errs),
        advertise_url: match env("SWITCHBOARD_ADVERTISE_URL") {
            Ok(Some(url)) if !url.trim().is_empty() => Some(url.trim().to_string()),
            _ => r.string("advertise_url", errs),
        },
    };
    if config.renew_deadline >= config.lease_ttl {
        errs.push(
            r.path("renew_deadline"),
            "must be shorter than lease_ttl: an instance stops claiming before another may take over",
        );
    }
    if config.renew_interval >= config.renew_deadline {
        errs.push(
            r.path("renew_interval"),
            "must be shorter than renew_deadline: a renewal must have a chance before the deadline",
        );
    }
    if let Some(url) = &config.advertise_url
        && !reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
    {
        errs.push(
            r.path("advertise_url"),
            "must be an http(s) URL with a host",
        );
    }
    Some(config)
}
