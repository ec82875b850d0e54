//! The entity shapes of the listings, as the official API description defines them: `User`,
//! `Queue`, `QueueMember`, `Division`, and the two listing envelopes. URIs are relative, as the
//! platform writes them.

use serde::Serialize;

use super::query::{Expand, Page, Params};
use crate::sim::time::iso_millis;
use crate::sim::workload::{Division, Org, Queue, User};

/// `UserEntityListing` and `QueueEntityListing`: a page with the total and every paging URI.
/// `nextUri` is absent on the last page, `previousUri` on the first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityListing<T> {
    pub entities: Vec<T>,
    pub page_size: usize,
    pub page_number: usize,
    pub total: usize,
    pub page_count: usize,
    pub first_uri: String,
    pub self_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
    pub last_uri: String,
}

impl<T> EntityListing<T> {
    /// Page `page` of `total` entries, `entities` being that page's.
    pub fn new(path: &str, params: &Params, page: Page, total: usize, entities: Vec<T>) -> Self {
        let page_count = page.count(total);
        let uri = |n: usize| params.page_uri(path, page.size, n);
        EntityListing {
            entities,
            page_size: page.size,
            page_number: page.number,
            total,
            page_count,
            first_uri: uri(1),
            self_uri: uri(page.number),
            next_uri: (page.number < page_count).then(|| uri(page.number.saturating_add(1))),
            previous_uri: (page.number > 1).then(|| uri(page.number - 1)),
            last_uri: uri(page_count.max(1)),
        }
    }
}

/// `QueueMemberEntityListing`: the description gives it no total, page count or last page, so
/// a client follows `nextUri` until it is absent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberListing<T> {
    pub entities: Vec<T>,
    pub page_number: usize,
    pub page_size: usize,
    pub first_uri: String,
    pub self_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
}

impl<T> MemberListing<T> {
    /// Page `page` of `total` members, `entities` being that page's.
    pub fn new(path: &str, params: &Params, page: Page, total: usize, entities: Vec<T>) -> Self {
        let uri = |n: usize| params.page_uri(path, page.size, n);
        MemberListing {
            entities,
            page_number: page.number,
            page_size: page.size,
            first_uri: uri(1),
            self_uri: uri(page.number),
            next_uri: (page.range(total).end < total).then(|| uri(page.number.saturating_add(1))),
            previous_uri: (page.number > 1).then(|| uri(page.number - 1)),
        }
    }
}

/// `Division`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DivisionView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub self_uri: String,
}

impl<'a> DivisionView<'a> {
    pub fn new(d: &'a Division) -> Self {
        DivisionView {
            id: &d.id,
            name: &d.name,
            self_uri: format!("/api/v2/authorization/divisions/{}", d.id),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub jabber_id: String,
}

/// `Contact`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub address: String,
    pub media_type: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `PresenceDefinition`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceDefinition<'a> {
    pub id: &'a str,
    pub system_presence: &'a str,
    pub self_uri: String,
}

/// `UserPresence` (with `expand=presence`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceView<'a> {
    pub source: &'static str,
    pub primary: bool,
    pub presence_definition: PresenceDefinition<'a>,
}

/// `RoutingStatus` (with `expand=routingStatus`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingView<'a> {
    pub user_id: &'a str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

impl<'a> RoutingView<'a> {
    pub fn new(user: &'a User) -> Self {
        RoutingView {
            user_id: &user.id,
            status: user.routing_status().as_str(),
            start_time: user.routing_since().map(iso_millis),
        }
    }
}

/// `User`, with the fields the platform fills in without `expand`, and presence and routing
/// status when asked for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub division: DivisionView<'a>,
    pub chat: Chat,
    pub email: String,
    pub primary_contact_info: [Contact; 1],
    pub addresses: [Contact; 0],
    pub state: &'static str,
    pub username: String,
    pub version: u32,
    pub acd_auto_answer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_status: Option<RoutingView<'a>>,
    pub self_uri: String,
}

/// A user's email (and username): the name in lower case with dots for what is not a letter or
/// digit, and the start of the id to keep it unique.
fn email_of(user: &User) -> String {
    let mut local = String::with_capacity(user.name.len() + 10);
    for c in user.name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            local.push(c);
        } else if !local.is_empty() && !local.ends_with('.') {
            local.push('.');
        }
    }
    if !local.is_empty() && !local.ends_with('.') {
        local.push('.');
    }
    local.extend(user.id.chars().filter(|c| *c != '-').take(8));
    local.push_str("@example.com");
    local
}

impl<'a> UserView<'a> {
    pub fn new(org: &'a Org, user: &'a User, expand: Expand) -> Self {
        let email = email_of(user);
        UserView {
            id: &user.id,
            name: &user.name,
            division: DivisionView::new(user.division()),
            chat: Chat {
                jabber_id: format!(
                    "{}@simulated.orgspan.com",
                    user.id.replace('-', "").get(..24).unwrap_or_default()
                ),
            },
            primary_contact_info: [Contact {
                address: email.clone(),
                media_type: "EMAIL",
                kind: "PRIMARY",
            }],
            addresses: [],
            state: user.state().as_str(),
            username: email.clone(),
            email,
            version: user.version(),
            acd_auto_answer: false,
            presence: expand.presence.then(|| {
                let id = org.presence_definition_id(user);
                PresenceView {
                    source: "PURECLOUD",
                    primary: true,
                    presence_definition: PresenceDefinition {
                        id,
                        system_presence: user.system_presence(),
                        self_uri: format!("/api/v2/presencedefinitions/{id}"),
                    },
                }
            }),
            routing_status: expand.routing_status.then(|| RoutingView::new(user)),
            self_uri: format!("/api/v2/users/{}", user.id),
        }
    }
}

/// `AcwSettings`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AcwSettings {
    pub wrapup_prompt: &'static str,
}

/// `Queue`, with the fields a queue made in the admin UI with defaults has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub division: DivisionView<'a>,
    pub member_count: u32,
    pub user_member_count: u32,
    pub joined_member_count: u32,
    pub acw_settings: AcwSettings,
    pub skill_evaluation_method: &'static str,
    pub scoring_method: &'static str,
    pub last_agent_routing_mode: &'static str,
    pub auto_answer_only: bool,
    pub enable_transcription: bool,
    pub enable_audio_monitoring: bool,
    pub enable_manual_assignment: bool,
    pub suppress_in_queue_call_recording: bool,
    pub self_uri: String,
}

impl<'a> QueueView<'a> {
    pub fn new(queue: &'a Queue) -> Self {
        let members = queue.member_count();
        QueueView {
            id: &queue.id,
            name: &queue.name,
            division: DivisionView::new(queue.division()),
            // Every simulated member is a user who has joined.
            member_count: members,
            user_member_count: members,
            joined_member_count: members,
            acw_settings: AcwSettings {
                wrapup_prompt: "OPTIONAL",
            },
            skill_evaluation_method: "BEST",
            scoring_method: "TimestampAndPriority",
            last_agent_routing_mode: "QueueMembersOnly",
            auto_answer_only: true,
            enable_transcription: false,
            enable_audio_monitoring: false,
            enable_manual_assignment: false,
            suppress_in_queue_call_recording: true,
            self_uri: format!("/api/v2/routing/queues/{}", queue.id),
        }
    }
}

/// `QueueMember`: a user member who has joined.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub user: UserView<'a>,
    pub ring_number: u32,
    pub joined: bool,
    pub member_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_status: Option<RoutingView<'a>>,
    pub self_uri: String,
}

impl<'a> MemberView<'a> {
    pub fn new(org: &'a Org, user: &'a User, expand: Expand) -> Self {
        MemberView {
            id: &user.id,
            name: &user.name,
            user: UserView::new(
                org,
                user,
                Expand {
                    routing_status: false,
                    ..expand
                },
            ),
            ring_number: 1,
            joined: true,
            member_by: "user",
            routing_status: expand.routing_status.then(|| RoutingView::new(user)),
            self_uri: format!("/api/v2/users/{}", user.id),
        }
    }
}
