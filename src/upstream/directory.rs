//! The org's users and queues as the platform lists them (`GET /api/v2/users`, `GET /api/v2/routing/queues`,
//! `GET /api/v2/routing/queues/{id}/members`), page by page, through a client session (so inside its REST
//! budget, with its retries of 429 and 5xx).

use serde::Deserialize;

use super::{ClientSession, UpstreamError};
use crate::metrics::labels::ApiEndpoint;

/// The largest page the platform serves for users and queues.
const LIST_PAGE_SIZE: usize = 500;
/// The largest page the platform serves for queue members.
const MEMBERS_PAGE_SIZE: usize = 100;
/// Most pages read for one listing: 1,000 pages of 500 is far beyond any org, and a platform whose
/// `pageCount` never ends cannot keep a sync running for ever.
const MAX_PAGES: usize = 1_000;

/// A user as listed: its id, division and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub id: String,
    pub division: Option<String>,
}

/// A queue as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryQueue {
    pub id: String,
    pub name: String,
    pub division: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    entities: Vec<T>,
    page_count: Option<u64>,
}

#[derive(Deserialize)]
struct Named {
    id: Option<String>,
}

#[derive(Deserialize)]
struct UserEntity {
    id: Option<String>,
    state: Option<String>,
    division: Option<Named>,
}

#[derive(Deserialize)]
struct QueueEntity {
    id: Option<String>,
    name: Option<String>,
    division: Option<Named>,
}

#[derive(Deserialize)]
struct MemberEntity {
    id: Option<String>,
    user: Option<UserEntity>,
}

/// Whether an id from the platform can go into a topic and a REST path as it is. Ids are UUIDs; anything
/// else (a `/`, a `?`, a space) is skipped rather than trusted.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClientSession {
    /// Every active user.
    pub async fn active_users(&self) -> Result<Vec<DirectoryUser>, UpstreamError> {
        let users: Vec<UserEntity> = self
            .all_pages(
                ApiEndpoint::UsersList,
                "/api/v2/users?state=active",
                LIST_PAGE_SIZE,
            )
            .await?;
        Ok(users
            .into_iter()
            .filter(|u| u.state.as_deref().is_none_or(|s| s == "active"))
            .filter_map(|u| {
                Some(DirectoryUser {
                    id: u.id.filter(|id| is_safe_id(id))?,
                    division: u.division.and_then(|d| d.id),
                })
            })
            .collect())
    }

    /// Every queue (of `divisions` only, when given).
    pub async fn queues(
        &self,
        divisions: Option<&[String]>,
    ) -> Result<Vec<DirectoryQueue>, UpstreamError> {
        let mut path = "/api/v2/routing/queues?".to_string();
        for d in divisions.unwrap_or_default() {
            // Selector ids are checked to be URL-safe when read.
            path.push_str(&format!("divisionId={d}&"));
        }
        let queues: Vec<QueueEntity> = self
            .all_pages(
                ApiEndpoint::QueuesList,
                path.trim_end_matches('&'),
                LIST_PAGE_SIZE,
            )
            .await?;
        Ok(queues
            .into_iter()
            .filter_map(|q| {
                let division = q.division.and_then(|d| d.id);
                // The platform filters by division already; filtering again costs nothing and keeps a
                // listing that ignored the parameter from widening the selection.
                if let Some(wanted) = divisions
                    && !division.as_ref().is_some_and(|d| wanted.contains(d))
                {
                    return None;
                }
                Some(DirectoryQueue {
                    id: q.id.filter(|id| is_safe_id(id))?,
                    name: q.name.unwrap_or_default(),
                    division,
                })
            })
            .collect())
    }

    /// The users who are members of `queue` (an unknown queue is a [`UpstreamError::NotFound`]).
    pub async fn queue_members(&self, queue: &str) -> Result<Vec<String>, UpstreamError> {
        if !is_safe_id(queue) {
            return Err(UpstreamError::Protocol(format!(
                "{queue:?} is not a queue id"
            )));
        }
        let members: Vec<MemberEntity> = self
            .all_pages(
                ApiEndpoint::QueueMembersList,
                &format!("/api/v2/routing/queues/{queue}/members?"),
                MEMBERS_PAGE_SIZE,
            )
            .await?;
        Ok(members
            .into_iter()
            .filter(|m| {
                m.user
                    .as_ref()
                    .and_then(|u| u.state.as_deref())
                    .is_none_or(|s| s == "active")
            })
            .filter_map(|m| m.user.and_then(|u| u.id).or(m.id))
            .filter(|id| is_safe_id(id))
            .collect())
    }

    /// Reads `path` page after page (`pageSize`, `pageNumber` added) until the platform's `pageCount`, a
    /// short page, or [`MAX_PAGES`].
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: ApiEndpoint,
        path: &str,
        page_size: usize,
    ) -> Result<Vec<T>, UpstreamError> {
        let sep = if path.ends_with('?') || path.ends_with('&') {
            ""
        } else if path.contains('?') {
            "&"
        } else {
            "?"
        };
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!("{path}{sep}pageSize={page_size}&pageNumber={page}");
            let json = self.get_json(endpoint, &url).await?;
            let listed: Page<T> = serde_json::from_value(json).map_err(|e| {
                UpstreamError::Protocol(format!("GET {url}: not a page of entities: {e}"))
            })?;
            let short = listed.entities.len() < page_size;
            out.extend(listed.entities);
            let last = listed.page_count.is_some_and(|count| page as u64 >= count);
            if short || last {
                return Ok(out);
            }
        }
        Err(UpstreamError::Protocol(format!(
            "GET {path}: more than {MAX_PAGES} pages"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::is_safe_id;

    #[test]
    fn only_plain_ids_are_safe() {
        assert!(is_safe_id("6a8b1f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"));
        for bad in ["", "a/b", "a?b", "a b", "a.b", &"x".repeat(129)] {
            assert!(!is_safe_id(bad), "{bad:?}");
        }
    }
}
