//! Simulator settings: every interval, lifetime and limit of the contract, plus the options for behaviour the
//! contract calls unknown. Read from a TOML file (`--config`) and overridden by command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::workload::WorkloadSpec;

/// How a combined subscription (`v2.users.X?presence&routingStatus`) counts against the per-channel quota.
/// The contract says this is unknown, so it is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CombinedCounting {
    /// Each individual topic a combined id covers counts (the conservative reading).
    #[default]
    Expanded,
    /// A combined id counts as one topic.
    Single,
}

/// What a socket opened on an unknown or expired channel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum UnknownChannelSocket {
    /// The upgrade succeeds, then `{"result":"404","message":...}` and a close (what socket clients expect).
    #[default]
    Frame,
    /// The upgrade is refused with HTTP 404.
    Http404,
}

/// An OAuth client known to the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSpec {
    #[serde(alias = "client_id")]
    pub client_id: String,
    #[serde(alias = "client_secret")]
    pub client_secret: String,
    #[serde(default = "default_org_id", alias = "org_id")]
    pub org_id: String,
    /// `expires_in` of this client's tokens; the platform allows 300 to 172800 s. Shorter values are accepted
    /// so that tests can make tokens expire quickly.
    #[serde(default, alias = "token_ttl_seconds")]
    pub token_ttl_seconds: Option<u64>,
    /// Topics this client may not read (`*` matches anything, case ignored): subscribing to them is rejected.
    #[serde(default, alias = "denied_topic_patterns")]
    pub denied_topic_patterns: Vec<String>,
}

fn default_org_id() -> String {
    "00000000-0000-4000-8000-000000000001".to_string()
}

impl ClientSpec {
    /// Parses the CLI form `ID:SECRET`.
    pub fn parse_cli(s: &str) -> Result<ClientSpec, String> {
        let (id, secret) = s
            .split_once(':')
            .ok_or_else(|| format!("expected ID:SECRET, got {s:?}"))?;
        let spec = ClientSpec {
            client_id: id.to_string(),
            client_secret: secret.to_string(),
            org_id: default_org_id(),
            token_ttl_seconds: None,
            denied_topic_patterns: Vec::new(),
        };
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.client_id.is_empty() || self.client_id.len() > 128 {
            return Err("clientId must be 1 to 128 characters".into());
        }
        if self.client_id.contains(':') {
            return Err("clientId must not contain ':'".into());
        }
        if self.client_secret.is_empty() || self.client_secret.len() > 256 {
            return Err("clientSecret must be 1 to 256 characters".into());
        }
        if let Some(ttl) = self.token_ttl_seconds
            && (ttl == 0 || ttl > 172_800)
        {
            return Err("tokenTtlSeconds must be between 1 and 172800".into());
        }
        if self.denied_topic_patterns.len() > 10_000 {
            return Err("deniedTopicPatterns holds at most 10000 patterns".into());
        }
        Ok(())
    }
}

/// All simulator settings. Defaults are the real platform's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// HTTP worker threads.
    pub workers: usize,
    /// Serve HTTPS/WSS with a self-signed certificate generated at start.
    pub tls: bool,
    /// Where the generated certificate (PEM) is written; default `sim-cert-<port>.pem` in the temp dir.
    pub tls_cert_path: Option<PathBuf>,
    /// Unasked `channel.metadata` heartbeat interval on each socket.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A channel's lifetime from creation.
    #[serde(with = "humantime_serde")]
    pub channel_ttl: Duration,
    /// A subscription call (POST/PUT) pushes `expires` out to now + this (unknown on the platform).
    #[serde(with = "humantime_serde")]
    pub subscription_extension: Duration,
    /// Time between `v2.system.socket_closing` and the close.
    #[serde(with = "humantime_serde")]
    pub socket_closing_grace: Duration,
    pub max_topics_per_channel: usize,
    pub max_channels_per_client: usize,
    pub combined_topic_counting: CombinedCounting,
    /// REST requests allowed per token in each `rate_limit_window`.
    pub rate_limit_per_window: u32,
    #[serde(with = "humantime_serde")]
    pub rate_limit_window: Duration,
    /// Token lifetime for clients that do not set their own.
    #[serde(with = "humantime_serde")]
    pub default_token_ttl: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Frames queued per socket before it counts as a slow consumer and is dropped.
    pub socket_queue_frames: usize,
    /// Largest accepted client frame on a socket (unknown on the platform).
    pub max_client_frame_bytes: usize,
    /// Ledger entries kept; the oldest are dropped past this.
    pub ledger_capacity: usize,
    pub unknown_channel_socket: UnknownChannelSocket,
    /// Add a `timestamp` field to event frames (unknown on the platform; off by default).
    pub event_timestamp: bool,
    /// Whether a channel dies when the token that made it merely expires. The contract (§2) calls this unknown:
    /// on by default, the stricter reading, so a client must move its channels to a new token in time; off, a
    /// channel outlives its token and lives until its own `expires`. A revoked token kills its channels either way.
    pub channels_die_with_token: bool,
    /// How often expiries and scheduled closes are checked.
    #[serde(with = "humantime_serde")]
    pub clock_tick: Duration,
    pub clients: Vec<ClientSpec>,
    pub workload: WorkloadSpec,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            workers: 2,
            tls: false,
            tls_cert_path: None,
            heartbeat_interval: Duration::from_secs(30),
            channel_ttl: Duration::from_secs(24 * 3600),
            subscription_extension: Duration::from_secs(24 * 3600),
            socket_closing_grace: Duration::from_secs(60),
            max_topics_per_channel: 1000,
            max_channels_per_client: 20,
            combined_topic_counting: CombinedCounting::Expanded,
            rate_limit_per_window: 300,
            rate_limit_window: Duration::from_secs(60),
            default_token_ttl: Duration::from_secs(86_400),
            max_body_bytes: 1024 * 1024,
            socket_queue_frames: 8192,
            max_client_frame_bytes: 64 * 1024,
            ledger_capacity: 2_000_000,
            unknown_channel_socket: UnknownChannelSocket::Frame,
            event_timestamp: false,
            channels_die_with_token: true,
            clock_tick: Duration::from_millis(20),
            clients: Vec::new(),
            workload: WorkloadSpec::default(),
        }
    }
}

impl SimConfig {
    /// Reads a TOML file; unknown keys are errors.
    pub fn from_toml_file(path: &std::path::Path) -> anyhow::Result<SimConfig> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("while reading {}", path.display()))?;
        let config: SimConfig =
            toml::from_str(&text).with_context(|| format!("while parsing {}", path.display()))?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Checks every setting; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("channel_ttl", self.channel_ttl),
            ("subscription_extension", self.subscription_extension),
            ("rate_limit_window", self.rate_limit_window),
            ("default_token_ttl", self.default_token_ttl),
            ("clock_tick", self.clock_tick),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return Err(format!("{name} must be greater than zero"));
            }
        }
        let counts = [
            ("workers", self.workers),
            ("max_topics_per_channel", self.max_topics_per_channel),
            ("max_channels_per_client", self.max_channels_per_client),
            ("max_body_bytes", self.max_body_bytes),
            ("socket_queue_frames", self.socket_queue_frames),
            ("max_client_frame_bytes", self.max_client_frame_bytes),
            ("ledger_capacity", self.ledger_capacity),
            ("rate_limit_per_window", self.rate_limit_per_window as usize),
        ];
        for (name, n) in counts {
            if n == 0 {
                return Err(format!("{name} must be greater than zero"));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            c.validate().map_err(|e| format!("clients[{i}]: {e}"))?;
        }
        self.workload
            .validate()
            .map_err(|e| format!("workload: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_file_overrides_defaults_and_rejects_unknown_keys() {
        let c: SimConfig = toml::from_str(
            r#"
            heartbeat_interval = "100ms"
            channel_ttl = "2s"
            combined_topic_counting = "single"
            [[clients]]
            client_id = "a"
            client_secret = "b"
            token_ttl_seconds = 5
            "#,
        )
        .unwrap();
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.channel_ttl, Duration::from_secs(2));
        assert_eq!(c.combined_topic_counting, CombinedCounting::Single);
        assert_eq!(c.clients[0].token_ttl_seconds, Some(5));
        assert_eq!(c.max_topics_per_channel, 1000);
        assert!(
            c.channels_die_with_token,
            "today's behaviour unless asked otherwise"
        );
        let kept: SimConfig = toml::from_str("channels_die_with_token = false").unwrap();
        assert!(!kept.channels_die_with_token);
        assert!(toml::from_str::<SimConfig>("heartbeat = \"1s\"").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let c = SimConfig {
            max_channels_per_client: 0,
            ..SimConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("max_channels_per_client")
        );
        assert!(ClientSpec::parse_cli("nocolon").is_err());
        assert_eq!(
            ClientSpec::parse_cli("demo:secret").unwrap().client_secret,
            "secret"
        );
    }
}
