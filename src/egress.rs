//! Where switchboard may connect: one outbound address policy for every connector (the platform's API, login
//! and streaming hosts of a tenant, webhooks, NATS, Kafka).
//!
//! A host is resolved and every address is checked against the special-purpose ranges of the IANA IPv4 and
//! IPv6 registries (loopback, private, link-local, shared/CGNAT, benchmarking, documentation, NAT64, 6to4,
//! IPv4-compatible and -mapped, site-local, unique-local, multicast, reserved, cloud metadata addresses). Such
//! an address is refused unless the deployment's allow-list (`[egress] allow`) names its network, the address
//! or the host name. The address checked is the address connected to ([`Egress::resolve`] hands back only
//! permitted addresses, and the connectors connect to those), so a name cannot resolve to one address for the
//! check and another for the connection.
//!
//! Why refuse by default: switchboard is a shared service on a cluster network; a tenant's base URL or a sink's
//! target typed by one team must not reach the service's own neighbours (metadata endpoints, databases,
//! admin ports) — the server-side request forgery of OWASP API7.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One entry of an allow-list: a network, an address (a network of one) or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Net(IpAddr, u8),
    Host(String),
}

impl Allowed {
    /// Parses `10.0.0.0/8`, `::1`, `127.0.0.1` or a host name (`nats.internal`).
    pub fn parse(entry: &str) -> Result<Allowed, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("must not be empty".into());
        }
        if let Some((addr, bits)) = entry.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not a network (address/prefix)"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            return match bits.parse::<u8>() {
                Ok(bits) if bits <= max => Ok(Allowed::Net(addr, bits)),
                _ => Err(format!("{entry:?}: the prefix length must be 0 to {max}")),
            };
        }
        if let Ok(addr) = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Allowed::Net(addr, if addr.is_ipv4() { 32 } else { 128 }));
        }
        let valid = entry.len() <= 253
            && entry.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Allowed::Host(entry.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{entry:?} is neither a network, an address nor a host name"
            ))
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Allowed::Net(IpAddr::V4(net), bits), IpAddr::V4(ip)) => in_v4(ip, *net, *bits),
            (Allowed::Net(IpAddr::V6(net), bits), IpAddr::V6(ip)) => in_v6(ip, *net, *bits),
            // `127.0.0.0/8` also allows `::ffff:127.0.0.1`: the same address.
            (Allowed::Net(IpAddr::V4(net), bits), IpAddr::V6(ip)) => {
                ip.to_ipv4_mapped().is_some_and(|v4| in_v4(v4, *net, *bits))
            }
            _ => false,
        }
    }
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, bits: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    u32::from(net) & mask == u32::from(ip) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, bits: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    u128::from(net) & mask == u128::from(ip) & mask
}

/// The special-purpose IPv4 ranges refused (IANA IPv4 Special-Purpose Address Registry, plus multicast and the
/// metadata addresses of clouds that sit in otherwise-public-looking ranges).
const V4_REFUSED: &[([u8; 4], u8, &str)] = &[
    ([169, 254, 169, 254], 32, "a cloud metadata address"),
    ([100, 100, 100, 200], 32, "a cloud metadata address"),
    ([0, 0, 0, 0], 8, "a \"this network\" address"),
    ([10, 0, 0, 0], 8, "a private address"),
    ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
    ([127, 0, 0, 0], 8, "a loopback address"),
    ([169, 254, 0, 0], 16, "a link-local address"),
    ([172, 16, 0, 0], 12, "a private address"),
    ([192, 0, 0, 0], 24, "an IETF protocol assignment address"),
    ([192, 0, 2, 0], 24, "a documentation address"),
    ([192, 31, 196, 0], 24, "an AS112 address"),
    ([192, 52, 193, 0], 24, "an AMT address"),
    ([192, 88, 99, 0], 24, "a 6to4 relay anycast address"),
    ([192, 168, 0, 0], 16, "a private address"),
    ([192, 175, 48, 0], 24, "an AS112 address"),
    ([198, 18, 0, 0], 15, "a benchmarking address"),
    ([198, 51, 100, 0], 24, "a documentation address"),
    ([203, 0, 113, 0], 24, "a documentation address"),
    ([224, 0, 0, 0], 4, "a multicast address"),
    ([240, 0, 0, 0], 4, "a reserved address"),
];

/// The special-purpose IPv6 ranges refused (IANA IPv6 Special-Purpose Address Registry, plus multicast,
/// site-local and the IPv4-compatible range).
const V6_REFUSED: &[([u16; 8], u8, &str)] = &[
    (
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254],
        128,
        "a cloud metadata address",
    ),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "a loopback address"),
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "an unspecified address"),
    ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "an IPv4-mapped address"),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, "an IPv4-compatible address"),
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "a NAT64 address"),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "a local-use NAT64 address",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "an IETF protocol assignment address",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "a documentation address",
    ),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "a 6to4 address"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "a documentation address"),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "a segment-routing address",
    ),
    (
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        "a unique local (private) address",
    ),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "a site-local address"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address"),
];

/// Why `ip` is special-purpose, or `None` for an ordinary public unicast address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_broadcast() {
                return Some("the broadcast address");
            }
            V4_REFUSED
                .iter()
                .find(|(net, bits, _)| in_v4(v4, Ipv4Addr::from(*net), *bits))
                .map(|(_, _, why)| *why)
        }
        IpAddr::V6(v6) => V6_REFUSED
            .iter()
            .find(|(net, bits, _)| in_v6(v6, Ipv6Addr::from(*net), *bits))
            .map(|(_, _, why)| *why),
    }
}

/// Why a connection was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressError {
    /// The host resolves only to addresses the policy refuses (for good, until the allow-list changes).
    Refused {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    /// The host does not resolve now (perhaps later).
    Unresolved { host: String, cause: String },
}

impl EgressError {
    /// A refusal stays a refusal; a failed lookup may succeed later.
    pub fn is_refusal(&self) -> bool {
        matches!(self, EgressError::Refused { .. })
    }
}

impl fmt::Display for EgressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EgressError::Refused { host, ip, why } if host == &ip.to_string() => write!(
                f,
                "{ip} is {why}, which is refused unless allow-listed in [egress] allow"
            ),
            EgressError::Refused { host, ip, why } => write!(
                f,
                "{host} resolves to {ip} ({why}), which is refused unless allow-listed in [egress] allow"
            ),
            EgressError::Unresolved { host, cause } => write!(f, "cannot resolve {host}: {cause}"),
        }
    }
}

impl std::error::Error for EgressError {}

/// The host and port of a `host:port` entry (a Kafka broker), with `default_port` when none is written.
pub fn host_port(entry: &str, default_port: u16) -> (&str, u16) {
    let entry = entry.trim();
    match entry.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(default_port)),
        None => (entry, default_port),
    }
}

/// The policy's refusal somewhere in an error's chain of causes (an HTTP client's connect error wraps what
/// the resolver said).
pub fn refusal_in<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e EgressError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(refusal) = err.downcast_ref::<EgressError>()
            && refusal.is_refusal()
        {
            return Some(refusal);
        }
        current = err.source();
    }
    None
}

/// The outbound address policy of a deployment: special-purpose addresses are refused unless allow-listed.
/// Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    allow: Arc<[Allowed]>,
}

impl Egress {
    /// The policy with `allow` as its allow-list (entries as [`Allowed::parse`] takes them).
    pub fn new(allow: &[String]) -> Result<Egress, String> {
        let allow = allow
            .iter()
            .map(|a| Allowed::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Egress {
            allow: allow.into(),
        })
    }

    /// This policy with `more` entries allowed too (a webhook sink's own `allow`).
    pub fn with(&self, more: &[String]) -> Result<Egress, String> {
        let mut allow: Vec<Allowed> = self.allow.to_vec();
        for a in more {
            allow.push(Allowed::parse(a)?);
        }
        Ok(Egress {
            allow: allow.into(),
        })
    }

    /// A policy that allows every address: for the simulator's and benchmarks' own clients, never for a
    /// connector configured by a user.
    pub fn unrestricted() -> Egress {
        Egress {
            allow: vec![
                Allowed::Net(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                Allowed::Net(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
            ]
            .into(),
        }
    }

    /// The allow-list as written (for `switchboard check` and the logs).
    pub fn allow_list(&self) -> Vec<String> {
        self.allow
            .iter()
            .map(|a| match a {
                Allowed::Net(ip, bits) => format!("{ip}/{bits}"),
                Allowed::Host(h) => h.clone(),
            })
            .collect()
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allow
            .iter()
            .any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    /// Whether `ip` (reached as `host`) may be connected to.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        match special_purpose(ip) {
            None => Ok(()),
            Some(_) if self.host_allowed(host) || self.allow.iter().any(|a| a.contains(ip)) => {
                Ok(())
            }
            Some(why) => Err(EgressError::Refused {
                host: host.to_string(),
                ip,
                why,
            }),
        }
    }

    /// Checks a host that is written as an address (`10.0.0.1`, `[::1]`); a name is left to [`Egress::resolve`]
    /// at connection time. For early, clear errors on input (an API body, a config file).
    pub fn check_literal(&self, host: &str) -> Result<(), EgressError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check(bare, ip),
            Err(_) => Ok(()),
        }
    }

    /// [`Egress::check_literal`] of a URL's host (`http(s)://`, `ws(s)://`, `nats://`, or a bare `host:port`).
    /// A URL that does not parse passes: its own validation says what is wrong with it.
    pub fn check_url(&self, url: &str) -> Result<(), EgressError> {
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("nats://{url}")
        };
        match reqwest::Url::parse(&with_scheme) {
            Ok(u) => self.check_literal(u.host_str().unwrap_or_default()),
            Err(_) => Ok(()),
        }
    }

    /// Resolves `host` and returns the addresses that may be connected to, in the resolver's order; an error
    /// when there are none. Connect to these addresses, not to the name again.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| EgressError::Unresolved {
                    host: bare.to_string(),
                    cause: e.to_string(),
                })?
                .collect(),
        };
        self.permitted(bare, addrs)
    }

    /// [`Egress::resolve`] for a client library that connects by itself from a constructor (librdkafka): the
    /// system resolver, blocking the calling thread for the lookup.
    pub fn resolve_blocking(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        use std::net::ToSocketAddrs;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (bare, port)
                .to_socket_addrs()
                .map_err(|e| EgressError::Unresolved {
                    host: bare.to_string(),
                    cause: e.to_string(),
                })?
                .collect(),
        };
        self.permitted(bare, addrs)
    }

    /// The permitted ones of `addrs` (resolved from `host`), or why none is.
    fn permitted(
        &self,
        host: &str,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, EgressError> {
        let mut first_refusal = None;
        let mut ok = Vec::with_capacity(addrs.len());
        for a in addrs {
            match self.check(host, a.ip()) {
                Ok(()) => ok.push(a),
                Err(e) => {
                    first_refusal.get_or_insert(e);
                }
            }
        }
        if !ok.is_empty() {
            return Ok(ok);
        }
        Err(first_refusal.unwrap_or_else(|| EgressError::Unresolved {
            host: host.to_string(),
            cause: "no address".into(),
        }))
    }
}

/// The policy as reqwest's resolver: every name an HTTP client looks up is checked, and the client connects
/// only to the permitted addresses it returns. Hosts written as addresses never reach a resolver: check those
/// with [`Egress::check_literal`] before the request.
impl reqwest::dns::Resolve for Egress {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        special_purpose(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn every_special_purpose_range_is_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "192.88.99.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::7f00:1",
            "::8.8.8.8",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "3fff::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "198.20.0.1",
            "52.1.2.3",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(!refused(ip), "{ip} should be permitted");
        }
    }

    #[test]
    fn the_allow_list_takes_networks_addresses_and_host_names() {
        let policy = Egress::new(&[
            "10.200.0.0/16".into(),
            "::1".into(),
            "127.0.0.1".into(),
            "Hooks.Internal".into(),
        ])
        .unwrap();
        let ok = |host: &str, ip: &str| policy.check(host, ip.parse().unwrap()).is_ok();
        assert!(ok("x", "10.200.3.4"));
        assert!(!ok("x", "10.201.3.4"));
        assert!(ok("x", "::1"));
        assert!(ok("x", "127.0.0.1"));
        assert!(
            ok("x", "::ffff:127.0.0.1"),
            "a v4 entry allows its mapped form"
        );
        assert!(!ok("x", "127.0.0.2"));
        assert!(
            ok("hooks.internal", "192.168.0.9"),
            "a host entry allows what it resolves to"
        );
        assert!(!ok("other.internal", "192.168.0.9"));
        assert!(ok("x", "8.8.8.8"), "public addresses need no entry");
    }

    #[test]
    fn bad_allow_entries_are_errors() {
        for bad in ["", "10.0.0.0/33", "::/129", "a b", "x/8", "-/-"] {
            assert!(Egress::new(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusals_name_the_host_the_address_and_the_range() {
        let e = Egress::default()
            .check("meta.example", "169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert!(e.is_refusal());
        let text = e.to_string();
        assert!(text.contains("meta.example") && text.contains("169.254.169.254"));
        assert!(
            text.contains("metadata") && text.contains("[egress] allow"),
            "{text}"
        );
        assert!(Egress::default().check_literal("[::1]").is_err());
        assert!(Egress::default().check_literal("api.example.com").is_ok());
    }

    #[tokio::test]
    async fn resolution_keeps_only_permitted_addresses() {
        let strict = Egress::default();
        let e = strict.resolve("localhost", 80).await.unwrap_err();
        assert!(e.is_refusal(), "{e}");
        let open = Egress::new(&["localhost".into()]).unwrap();
        let addrs = open.resolve("localhost", 80).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
        let loopback_v4 = Egress::new(&["127.0.0.0/8".into()]).unwrap();
        let addrs = loopback_v4.resolve("127.0.0.1", 9).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:9".parse().unwrap()]);
        let e = Egress::default()
            .resolve("name.invalid", 80)
            .await
            .unwrap_err();
        assert!(!e.is_refusal());
    }
}
