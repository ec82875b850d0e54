//! `[admin]`: the admin HTTP API's address and its bearer tokens (stored as SHA-256 hashes, never in clear), and
//! the optional listener that serves `/metrics` without a token.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use toml::Table;

use crate::settings::EnvLookup;
use crate::settings::Errors;
use crate::settings::Reader;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Reading only.
    Read,
}

/// One bearer token of the admin API.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Who holds it (shown in the audit log).
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish()
    }
}

/// The admin API: `[admin]`. With no `listen`, no API is served.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminConfig {
    pub listen: Option<SocketAddr>,
    pub tokens: Vec<AdminToken>,
    /// The only directory below which file sinks created through the API may write (`data_dir`; default:
    /// the config file's directory). Resolved against the config file's directory.
    pub data_dir: std::path::PathBuf,
    /// The only directory from which a tenant's `caFile` given through the API is read (`ca_dir`; default:
    /// the config file's directory).
    pub ca_dir: std::path::PathBuf,
    /// A second listener serving only `/metrics` and `/healthz`, without a token, for a scraper on a network
    /// that may read the metrics (on `listen`, `/metrics` needs a read or admin token either way).
    pub metrics_listen: Option<SocketAddr>,
}

/// SHA-256 of a token, as stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn read_role(r: &Reader<'_>, errs: &mut Errors) -> Option<Role> {
    match r.required_string("role", errs)?.as_str() {
        "admin" => Some(Role::Admin),
        "read" => Some(Role::Read),
        other => {
            errs.push(
                r.path("role"),
                format!("{other:?} is not a role: use \"admin\" or \"read\""),
            );
            None
        }
    }
}

/// An address like `127.0.0.1:8081`, or an error for `path`.
fn read_addr(path: &str, value: &str, errs: &mut Errors) -> Option<SocketAddr> {
    match value.trim().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            errs.push(
                path,
                format!("{value:?} is not an address like 127.0.0.1:8081"),
            );
            None
        }
    }
}

/// Reads `[admin]`, then the deployment overrides: `SWITCHBOARD_ADMIN_LISTEN`, `SWITCHBOARD_METRICS_LISTEN`,
/// and `SWITCHBOARD_ADMIN_TOKEN` / `SWITCHBOARD_READ_TOKEN` (a token in clear, hashed at once).
pub(crate) fn read_admin(
    table: Option<&Table>,
    env: EnvLookup<'_>,
    errs: &mut Errors,
) -> AdminConfig {
    let get = |key: &str| env(key).ok().flatten();
    let mut admin = AdminConfig::default();
    if let Some(table) = table {
        let r = Reader::new(
            table,
            "admin",
            &["listen", "tokens", "metrics_listen", "data_dir", "ca_dir"],
            errs,
        );
        for (key, slot) in [
            ("data_dir", &mut admin.data_dir),
            ("ca_dir", &mut admin.ca_dir),
        ] {
            match r.string(key, errs) {
                Some(d) if d.trim().is_empty() => errs.push(r.path(key), "must not be empty"),
                Some(d) => *slot = std::path::PathBuf::from(d.trim()),
                None => {}
            }
        }
        admin.listen = r
            .string("listen", errs)
            .and_then(|l| read_addr(&r.path("listen"), &l, errs));
        admin.metrics_listen = r
            .string("metrics_listen", errs)
            .and_then(|l| read_addr(&r.path("metrics_listen"), &l, errs));
        for (path, t) in r.tables("tokens", errs) {
            let tr = Reader::new(
                t,
                &path,
                &["name", "role", "token_sha256", "token_env"],
                errs,
            );
            let name = tr.required_string("name", errs);
            let role = read_role(&tr, errs);
            let hash = match (
                tr.string("token_sha256", errs),
                tr.string("token_env", errs),
            ) {
                (Some(h), None) => parse_hex32(&h).or_else(|| {
                    errs.push(
                        tr.path("token_sha256"),
                        "must be 64 hex digits (the SHA-256 of the token)",
                    );
                    None
                }),
                (None, Some(var)) => match get(&var) {
                    Some(v) if !v.trim().is_empty() => Some(hash_token(v.trim())),
                    _ => {
                        errs.push(
                            tr.path("token_env"),
                            format!("environment variable {var} is not set"),
                        );
                        None
                    }
                },
                _ => {
                    errs.push(
                        tr.own_path().to_string(),
                        "give exactly one of token_sha256 or token_env",
                    );
                    None
                }
            };
            if let (Some(name), Some(role), Some(sha256)) = (name, role, hash) {
                admin.tokens.push(AdminToken { name, role, sha256 });
            }
        }
    }
    for (var, field) in [
        ("SWITCHBOARD_ADMIN_LISTEN", &mut admin.listen),
        ("SWITCHBOARD_METRICS_LISTEN", &mut admin.metrics_listen),
    ] {
        if let Some(listen) = get(var)
            && let Some(a) = read_addr(var, &listen, errs)
        {
            *field = Some(a);
        }
    }
    for (var, role, name) in [
        ("SWITCHBOARD_ADMIN_TOKEN", Role::Admin, "env-admin"),
        ("SWITCHBOARD_READ_TOKEN", Role::Read, "env-read"),
    ] {
        if let Some(token) = get(var).filter(|t| !t.trim().is_empty()) {
            admin.tokens.push(AdminToken {
                name: name.to_string(),
                role,
                sha256: hash_token(token.trim()),
            });
        }
    }
    if let (Some(a), Some(m)) = (admin.listen, admin.metrics_listen)
        && a == m
        && a.port() != 0
    {
        errs.push(
            "admin.metrics_listen",
            format!("{m} is the admin API's address too: give the metrics their own port"),
        );
    }
    if admin.listen.is_some() && admin.tokens.is_empty() {
        errs.push(
            "admin.tokens",
            "the admin API needs at least one token (or set SWITCHBOARD_ADMIN_TOKEN)",
        );
    }
    admin
}
