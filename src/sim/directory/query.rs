//! The query parameters of the listings, read as the platform reads them: defaults, multi-valued
//! parameters (repeated, `id=a&id=b`, or comma-separated, `id=a,b`), limits, and the platform's
//! 400s with its documented codes. Parameters the simulator does not know are ignored, as the
//! platform ignores them.

use std::collections::HashSet;
use std::ops::Range;

use actix_web::http::StatusCode;

use crate::sim::error::ApiError;
use crate::sim::workload::UserState;

/// Largest `pageSize` of `GET /api/v2/users` and `GET /api/v2/routing/queues`.
pub const MAX_PAGE_SIZE: usize = 500;
/// Largest `pageSize` of `GET /api/v2/routing/queues/{queueId}/members` ("Max value is 100").
pub const MAX_MEMBER_PAGE_SIZE: usize = 100;
/// The default `pageSize` of every listing.
const DEFAULT_PAGE_SIZE: usize = 25;
/// Most ids one `GET /api/v2/users` may name (`max.user.ids`).
pub const MAX_USER_IDS: usize = 100;

/// At most 64 characters of a value, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The documented `invalid.query.param.value` 400.
fn invalid_value(param: &str, value: &str, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid.query.param.value",
        format!(
            "Value [{}] is not valid for parameter [{param}]. Allowable values are: {allowed}",
            clip(value)
        ),
    )
}

/// The documented `invalid.id` 400 of the routing API.
fn invalid_id() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid.id",
        "A non-UUID value was specified for an ID field.",
    )
}

/// The query string of a request, as pairs in their order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a query string (`a=1&b=2`); undecodable text is replaced, never refused.
    pub fn parse(query: &str) -> Params {
        Params {
            pairs: serde_urlencoded::from_str(query).unwrap_or_default(),
        }
    }

    /// The first value of a parameter.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a multi-valued parameter, repeated or comma-separated, trimmed, empty ones
    /// left out.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `path` with this query, `pageSize` and `pageNumber` set to `page`'s (first, as the platform
    /// writes them) and every other parameter kept, so that following the URI keeps the filters.
    pub fn page_uri(&self, path: &str, size: usize, number: usize) -> String {
        let mut uri = format!("{path}?pageSize={size}&pageNumber={number}");
        let rest: Vec<&(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "pageSize" && k != "pageNumber")
            .collect();
        // Pairs of strings always serialize.
        let rest = serde_urlencoded::to_string(rest).unwrap_or_default();
        if !rest.is_empty() {
            uri.push('&');
            uri.push_str(&rest);
        }
        uri
    }

    fn integer(&self, key: &str, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.first(key) else {
            return Ok(None);
        };
        match raw.trim().parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid_value(key, raw, &format!("{min} to {max}"))),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.first(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(invalid_value(key, v, "true, false")),
        }
    }

    /// `sortOrder`: `asc`/`ascending` or `desc`/`descending`, case ignored; `true` for descending.
    /// `allowed` is how the operation's description spells the values, for the 400.
    fn descending(&self, allowed: &str) -> Result<bool, ApiError> {
        match self
            .first("sortOrder")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("asc") | Some("ascending") => Ok(false),
            Some("desc") | Some("descending") => Ok(true),
            Some(_) => Err(invalid_value(
                "sortOrder",
                self.first("sortOrder").unwrap_or_default(),
                allowed,
            )),
        }
    }

    /// Lower-case UUIDs of a multi-valued id parameter; `None` when absent.
    fn uuids(&self, key: &str) -> Result<Option<HashSet<String>>, ApiError> {
        let values = self.all(key);
        if values.is_empty() {
            return Ok(None);
        }
        values
            .iter()
            .map(|v| {
                uuid::Uuid::parse_str(v)
                    .map(|u| u.hyphenated().to_string())
                    .map_err(|_| invalid_id())
            })
            .collect::<Result<HashSet<_>, _>>()
            .map(Some)
    }

    /// `expand` values the simulator fills in.
    fn expand(&self) -> Expand {
        let wanted = self.all("expand");
        Expand {
            presence: wanted.iter().any(|v| v.eq_ignore_ascii_case("presence")),
            routing_status: wanted
                .iter()
                .any(|v| v.eq_ignore_ascii_case("routingStatus")),
        }
    }
}

/// One page of a listing: `pageSize` and `pageNumber` (both from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: usize,
    pub number: usize,
}

impl Page {
    /// Reads `pageSize` (1 to `max_size`, default 25) and `pageNumber` (from 1, default 1). A page
    /// number below 1 is `invalid.page.number` where the operation documents that code.
    fn parse(params: &Params, max_size: usize, page_number_code: bool) -> Result<Page, ApiError> {
        let size = params
            .integer("pageSize", 1, max_size)?
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let number = match params.integer("pageNumber", 1, i32::MAX as usize) {
            Ok(n) => n.unwrap_or(1),
            Err(_) if page_number_code => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid.page.number",
                    "Invalid page number specified.",
                ));
            }
            Err(e) => return Err(e),
        };
        Ok(Page { size, number })
    }

    /// The indices of this page among `total` entries (empty past the end).
    pub fn range(&self, total: usize) -> Range<usize> {
        let start = (self.number - 1).saturating_mul(self.size).min(total);
        let end = start.saturating_add(self.size).min(total);
        start..end
    }

    /// Pages needed for `total` entries (0 for none).
    pub fn count(&self, total: usize) -> usize {
        total.div_ceil(self.size)
    }
}

/// Optional parts of a user the caller asked for with `expand`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expand {
    pub presence: bool,
    pub routing_status: bool,
}

/// `GET /api/v2/users`.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub page: Page,
    /// `None`: any state.
    pub state: Option<UserState>,
    /// Lower-case ids to keep; `None`: every user.
    pub ids: Option<HashSet<String>>,
    pub descending: bool,
    pub expand: Expand,
    pub params: Params,
}

impl UserQuery {
    pub fn parse(query: &str) -> Result<UserQuery, ApiError> {
        let params = Params::parse(query);
        let page = Page::parse(&params, MAX_PAGE_SIZE, false)?;
        let state = match params
            .first("state")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("active") => Some(UserState::Active),
            Some("inactive") => Some(UserState::Inactive),
            Some("deleted") => Some(UserState::Deleted),
            Some("any") => None,
            Some(_) => {
                return Err(invalid_value(
                    "state",
                    params.first("state").unwrap_or_default(),
                    "active, inactive, deleted, any",
                ));
            }
        };
        let ids = params.all("id");
        if ids.len() > MAX_USER_IDS {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "max.user.ids",
                "Only 100 users can be requested at a time.",
            ));
        }
        let ids = (!ids.is_empty()).then(|| ids.iter().map(|i| i.to_ascii_lowercase()).collect());
        Ok(UserQuery {
            page,
            state,
            ids,
            descending: params.descending("ascending, descending")?,
            expand: params.expand(),
            params,
        })
    }
}

/// A queue name filter: exact, or with a leading and/or trailing `*` (case ignored either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl NameMatch {
    /// Only leading and trailing asterisks are wildcards (the platform's description says so); any
    /// other `*` is a plain character.
    pub fn parse(pattern: &str) -> NameMatch {
        let lower = pattern.to_lowercase();
        let (lead, rest) = match lower.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let (trail, core) = match rest.strip_suffix('*') {
            Some(core) => (true, core),
            None => (false, rest),
        };
        let core = core.to_owned();
        match (lead, trail) {
            (false, false) => NameMatch::Exact(core),
            (false, true) => NameMatch::Prefix(core),
            (true, false) => NameMatch::Suffix(core),
            (true, true) => NameMatch::Contains(core),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        match self {
            NameMatch::Exact(s) => name == *s,
            NameMatch::Prefix(s) => name.starts_with(s.as_str()),
            NameMatch::Suffix(s) => name.ends_with(s.as_str()),
            NameMatch::Contains(s) => name.contains(s.as_str()),
        }
    }
}

/// `GET /api/v2/routing/queues`.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub page: Page,
    pub name: Option<NameMatch>,
    pub ids: Option<HashSet<String>>,
    pub division_ids: Option<HashSet<String>>,
    pub descending: bool,
    /// A filter no simulated queue can pass (peers, canned response libraries).
    pub nothing: bool,
    pub params: Params,
}

impl QueueQuery {
    pub fn parse(query: &str) -> Result<QueueQuery, ApiError> {
        let params = Params::parse(query);
        let page = Page::parse(&params, MAX_PAGE_SIZE, true)?;
        let nothing = params.boolean("hasPeer")? == Some(true)
            || !params.all("peerId").is_empty()
            || params.first("cannedResponseLibraryId").is_some();
        Ok(QueueQuery {
            page,
            name: params
                .first("name")
                .filter(|n| !n.is_empty())
                .map(NameMatch::parse),
            ids: params.uuids("id")?,
            division_ids: params.uuids("divisionId")?,
            descending: params.descending("asc, desc")?,
            nothing,
            params,
        })
    }
}

/// `GET /api/v2/routing/queues/{queueId}/members`.
#[derive(Debug, Clone)]
pub struct MemberQuery {
    pub page: Page,
    pub descending: bool,
    /// Lower-case text the member's name contains.
    pub name: Option<String>,
    pub joined: Option<bool>,
    /// Routing statuses to keep (`IDLE`, ...), upper-case.
    pub routing_status: Option<Vec<String>>,
    /// System presences to keep (`On Queue`, ...), compared case ignored.
    pub presence: Option<Vec<String>>,
    /// A filter no simulated member can pass (group members, skills, languages).
    pub nothing: bool,
    pub expand: Expand,
    pub params: Params,
}

impl MemberQuery {
    pub fn parse(query: &str) -> Result<MemberQuery, ApiError> {
        let params = Params::parse(query);
        let page = Page::parse(&params, MAX_MEMBER_PAGE_SIZE, true)?;
        let by_group = match params
            .first("memberBy")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("user") => false,
            Some("group") => true,
            Some(_) => {
                return Err(invalid_value(
                    "memberBy",
                    params.first("memberBy").unwrap_or_default(),
                    "user, group",
                ));
            }
        };
        let many = |key: &str, upper: bool| {
            let values = params.all(key);
            (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(|v| {
                        if upper {
                            v.to_ascii_uppercase()
                        } else {
                            v.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
            })
        };
        // Simulated users have no skills or languages.
        let unskilled = ["profileSkills", "skills", "languages"]
            .iter()
            .any(|k| !params.all(k).is_empty());
        Ok(MemberQuery {
            page,
            descending: params.descending("asc, desc")?,
            name: params
                .first("name")
                .map(|n| n.to_lowercase())
                .filter(|n| !n.is_empty()),
            joined: params.boolean("joined")?,
            routing_status: many("routingStatus", true),
            presence: many("presence", false),
            nothing: by_group || unskilled,
            expand: params.expand(),
            params,
        })
    }
}
