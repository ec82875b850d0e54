//! The platform's directory listings over the simulated org: `GET /api/v2/users`,
//! `GET /api/v2/routing/queues` and `GET /api/v2/routing/queues/{queueId}/members`, with the
//! platform's filters, order (by name), paging and entity shapes (`UserEntityListing`,
//! `QueueEntityListing`, `QueueMemberEntityListing` of the official description).
//!
//! - [`query`]: the query parameters and their 400s.
//! - [`views`]: the entity and listing shapes.
//!
//! Pure: the HTTP layer parses the query, calls these with the org, and serializes the result.

pub mod query;
pub mod views;

#[cfg(test)]
mod tests;

use actix_web::http::StatusCode;

use self::query::{MemberQuery, QueueQuery, UserQuery};
use self::views::{EntityListing, MemberListing, MemberView, QueueView, UserView};
use crate::sim::error::ApiError;
use crate::sim::workload::{Org, RoutingStatus};

/// Path of the user listing, for its URIs.
pub const USERS_PATH: &str = "/api/v2/users";
/// Path of the queue listing, for its URIs.
pub const QUEUES_PATH: &str = "/api/v2/routing/queues";

/// `GET /api/v2/users`: users of the asked state (active by default), by name.
pub fn users<'a>(org: &'a Org, q: &UserQuery) -> EntityListing<UserView<'a>> {
    let mut matching: Vec<_> = org
        .users_by_name()
        .filter(|u| q.state.is_none_or(|s| u.state() == s))
        .filter(|u| q.ids.as_ref().is_none_or(|ids| ids.contains(&u.id)))
        .collect();
    if q.descending {
        matching.reverse();
    }
    let entities = matching[q.page.range(matching.len())]
        .iter()
        .map(|u| UserView::new(org, u, q.expand))
        .collect();
    EntityListing::new(USERS_PATH, &q.params, q.page, matching.len(), entities)
}

/// `GET /api/v2/routing/queues`: queues by name.
pub fn queues<'a>(org: &'a Org, q: &QueueQuery) -> EntityListing<QueueView<'a>> {
    let mut matching: Vec<_> = org
        .queues_by_name()
        .filter(|_| !q.nothing)
        .filter(|x| q.name.as_ref().is_none_or(|n| n.matches(&x.name)))
        .filter(|x| q.ids.as_ref().is_none_or(|ids| ids.contains(&x.id)))
        .filter(|x| {
            q.division_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&*x.division().id))
        })
        .collect();
    if q.descending {
        matching.reverse();
    }
    let entities = matching[q.page.range(matching.len())]
        .iter()
        .map(|x| QueueView::new(x))
        .collect();
    EntityListing::new(QUEUES_PATH, &q.params, q.page, matching.len(), entities)
}

/// `GET /api/v2/routing/queues/{queueId}/members`: the queue's members by name; 400 `invalid.id`
/// for an id that is not a UUID, 404 for an unknown queue.
pub fn members<'a>(
    org: &'a Org,
    queue_id: &str,
    q: &MemberQuery,
) -> Result<MemberListing<MemberView<'a>>, ApiError> {
    if uuid::Uuid::parse_str(queue_id).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid.id",
            "A non-UUID value was specified for an ID field.",
        ));
    }
    let members = org
        .members_of(queue_id)
        .ok_or_else(|| ApiError::not_found(format!("Queue {queue_id} was not found.")))?;
    let status_ok = |s: RoutingStatus| {
        q.routing_status
            .as_ref()
            .is_none_or(|wanted| wanted.iter().any(|w| w == s.as_str()))
    };
    let mut matching: Vec<_> = members
        .filter(|_| !q.nothing && q.joined != Some(false))
        .filter(|u| {
            q.name
                .as_ref()
                .is_none_or(|n| u.name.to_lowercase().contains(n.as_str()))
        })
        .filter(|u| status_ok(u.routing_status()))
        .filter(|u| {
            q.presence.as_ref().is_none_or(|wanted| {
                wanted
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(u.system_presence()))
            })
        })
        .collect();
    if q.descending {
        matching.reverse();
    }
    let entities = matching[q.page.range(matching.len())]
        .iter()
        .map(|u| MemberView::new(org, u, q.expand))
        .collect();
    let path = format!("{QUEUES_PATH}/{queue_id}/members");
    Ok(MemberListing::new(
        &path,
        &q.params,
        q.page,
        matching.len(),
        entities,
    ))
}
