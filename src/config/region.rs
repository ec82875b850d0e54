//! Genesys Cloud regions (contract §1) and custom endpoint pairs.

use crate::settings::Errors;
use crate::settings::Reader;

/// The 18 region keys and their domains (contract §1). The REST host is `api.<domain>`, the OAuth host
/// `login.<domain>`.
pub const REGIONS: [(&str, &str); 18] = [
    ("us-east-1", "mypurecloud.com"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("eu-west-1", "mypurecloud.ie"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("eu-central-1", "mypurecloud.de"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
];

/// The value of [`Endpoints::region`] for a custom endpoint pair.
pub const CUSTOM_REGION: &str = "custom";

/// Where a tenant's platform is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The region key (`"eu-west-1"`), or `"custom"` for an `api_base`/`login_base` pair.
    pub region: String,
    /// REST base URL without a trailing slash, e.g. `https://api.mypurecloud.ie`.
    pub api_base: String,
    /// OAuth base URL without a trailing slash, e.g. `https://login.mypurecloud.ie`.
    pub login_base: String,
}

impl Endpoints {
    /// The endpoints of a region key, or `None` for an unknown key.
    pub fn for_region(key: &str) -> Option<Endpoints> {
        let (key, domain) = REGIONS.iter().find(|(k, _)| *k == key)?;
        Some(Endpoints {
            region: (*key).to_string(),
            api_base: format!("https://api.{domain}"),
            login_base: format!("https://login.{domain}"),
        })
    }
}

/// Reads `region` XOR (`api_base` and `login_base`) from a tenant table.
pub(crate) fn read_endpoints(tenant: &Reader<'_>, errs: &mut Errors) -> Option<Endpoints> {
    let region = tenant.string("region", errs);
    let api = tenant.string("api_base", errs);
    let login = tenant.string("login_base", errs);
    let custom_given = tenant.has("api_base") || tenant.has("login_base");
    if tenant.has("region") {
        if custom_given {
            errs.push(
                tenant.path("region"),
                "give either region or api_base and login_base, not both",
            );
            return None;
        }
        let key = region?;
        return match Endpoints::for_region(key.trim()) {
            Some(e) => Some(e),
            None => {
                let known: Vec<&str> = REGIONS.iter().map(|(k, _)| *k).collect();
                errs.push(
                    tenant.path("region"),
                    format!("unknown region {key:?} (known: {})", known.join(", ")),
                );
                None
            }
        };
    }
    if !custom_given {
        errs.push(
            tenant.path("region"),
            "is required: give a region key such as \"eu-west-1\", or both api_base and login_base",
        );
        return None;
    }
    let mut missing = false;
    for key in ["api_base", "login_base"] {
        if !tenant.has(key) {
            errs.push(
                tenant.path(key),
                "is required when a custom endpoint is given (api_base and login_base go together)",
            );
            missing = true;
        }
    }
    let api = api.and_then(|u| checked_base_url(&u, &tenant.path("api_base"), errs));
    let login = login.and_then(|u| checked_base_url(&u, &tenant.path("login_base"), errs));
    if missing {
        return None;
    }
    Some(Endpoints {
        region: CUSTOM_REGION.to_string(),
        api_base: api?,
        login_base: login?,
    })
}

/// Validates a base URL by hand (scheme http or https, a host, optional port and path, no query, fragment or
/// credentials) and returns it without trailing slashes.
pub(crate) fn checked_base_url(url: &str, path: &str, errs: &mut Errors) -> Option<String> {
    match base_url(url) {
        Ok(u) => Some(u),
        Err(why) => {
            errs.push(path, format!("{url:?} is not a valid base URL: {why}"));
            None
        }
    }
}

fn base_url(url: &str) -> Result<String, &'static str> {
    let url = url.trim();
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces");
    }
    let rest = if let Some(r) = strip_prefix_ignore_case(url, "https://") {
        r
    } else if let Some(r) = strip_prefix_ignore_case(url, "http://") {
        r
    } else {
        return Err("the scheme must be http:// or https://");
    };
    if rest.contains(['?', '#']) {
        return Err("a base URL has no query or fragment");
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err("credentials do not belong in the URL");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err("unclosed [ in the host");
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("the IPv6 host is not valid");
        }
        match after {
            "" => (host, None),
            p => match p.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err("unexpected characters after the host"),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("the host has characters a host name cannot have");
    }
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err("the port must be a number from 0 to 65535");
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
