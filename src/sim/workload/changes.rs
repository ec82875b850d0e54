//! Changing the org while it runs, as the control API asks: divisions added, users added or their
//! state and division changed, queues added or removed, queue membership changed. Each request is
//! checked in full before anything changes, so a refused one leaves the org as it was.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::entities::{
    Division, ON_QUEUE, Queue, RoutingStatus, SEEDED_DIVISIONS, User, UserState, seeded_queue_name,
    seeded_user_name,
};
use super::org::{Org, new_id};
use super::spec::{MAX_QUEUES, MAX_USERS};

/// Most divisions an org may have.
pub const MAX_DIVISIONS: usize = 1_000;
/// Longest user, queue or division name, in characters.
const MAX_NAME_CHARS: usize = 256;

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The request is malformed or does not fit the org (unknown ids in it, duplicates, limits).
    #[error("{0}")]
    Invalid(String),
    /// The user or queue the change is about does not exist.
    #[error("{0}")]
    NotFound(String),
}

fn invalid(message: impl Into<String>) -> ChangeError {
    ChangeError::Invalid(message.into())
}

/// One user to add; every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// A UUID; drawn when absent.
    pub id: Option<String>,
    /// Default: the next name of the seeded sequence (`Olivia Smith`, ...).
    pub name: Option<String>,
    /// Default: the home division.
    pub division_id: Option<String>,
    /// Default: `active`.
    pub state: Option<UserState>,
    /// Queues the user joins. Default: none.
    pub queue_ids: Option<Vec<String>>,
}

/// Users to add: either `users`, one entry each, or `count` users with every field defaulted. The
/// other fields apply to every user that does not set its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddUsers {
    pub users: Option<Vec<NewUser>>,
    pub count: Option<usize>,
    pub division_id: Option<String>,
    pub state: Option<UserState>,
    pub queue_ids: Option<Vec<String>>,
}

/// A change to existing users: a new state (`deleted` also ends their queue memberships), a new
/// division, or both.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeUsers {
    pub ids: Vec<String>,
    pub state: Option<UserState>,
    pub division_id: Option<String>,
}

/// One queue to add; every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewQueue {
    /// A UUID; drawn when absent.
    pub id: Option<String>,
    /// Unique in the org, case ignored. Default: the next name of the seeded sequence.
    pub name: Option<String>,
    /// Default: one of the three seeded divisions, in turn.
    pub division_id: Option<String>,
    /// Users that join the queue (not deleted ones). Default: none.
    pub member_ids: Option<Vec<String>>,
}

/// Queues to add: either `queues`, one entry each, or `count` queues with every field defaulted;
/// `divisionId` applies to every queue that does not set its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddQueues {
    pub queues: Option<Vec<NewQueue>>,
    pub count: Option<usize>,
    pub division_id: Option<String>,
}

/// Users joining (`add`) and leaving (`remove`) one queue.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeMembers {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// One division to add.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDivision {
    /// A UUID; drawn when absent.
    pub id: Option<String>,
    /// Unique in the org, case ignored.
    pub name: String,
}

/// Divisions to add.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddDivisions {
    pub divisions: Vec<NewDivision>,
}

/// A user as the control API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub division_id: String,
    pub state: UserState,
    pub queue_ids: Vec<String>,
}

/// A queue as the control API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRecord {
    pub id: String,
    pub name: String,
    pub division_id: String,
    pub member_count: u32,
}

/// A division as the control API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DivisionRecord {
    pub id: String,
    pub name: String,
}

/// The lower-case hyphenated form of a UUID, or a 400 naming the field.
fn uuid_of(field: &str, value: &str) -> Result<String, ChangeError> {
    Uuid::parse_str(value.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| invalid(format!("{field} must be a UUID, got {:?}", clip(value))))
}

/// At most 64 characters of `s`, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A name as given, trimmed; the simulator writes names into event bodies unescaped, so quotes,
/// backslashes and control characters are refused.
fn name_of(field: &str, value: &str) -> Result<String, ChangeError> {
    let name = value.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{field} must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if name
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(invalid(format!(
            "{field} must not contain quotes, backslashes or control characters, got {:?}",
            clip(name)
        )));
    }
    Ok(name.to_owned())
}

/// Either the list or `count` defaulted entries, not both, and not nothing.
fn entries<T: Default + Clone>(
    what: &str,
    list: Option<Vec<T>>,
    count: Option<usize>,
    max: usize,
) -> Result<Vec<T>, ChangeError> {
    let entries = match (list, count) {
        (Some(list), None) => list,
        (None, Some(n)) if n <= max => vec![T::default(); n],
        (None, Some(n)) => return Err(invalid(format!("count must be at most {max}, got {n}"))),
        _ => return Err(invalid(format!("give either {what} or count"))),
    };
    if entries.is_empty() {
        return Err(invalid(format!("nothing to add: {what} is empty")));
    }
    Ok(entries)
}

impl Org {
    /// A user as the control API shows it.
    pub fn user_record(&self, user: &User) -> UserRecord {
        UserRecord {
            id: user.id.clone(),
            name: user.name.clone(),
            division_id: user.division.id.to_string(),
            state: user.state,
            queue_ids: self.queue_ids_of(user).map(str::to_owned).collect(),
        }
    }

    /// A queue as the control API shows it.
    pub fn queue_record(&self, queue: &Queue) -> QueueRecord {
        QueueRecord {
            id: queue.id.clone(),
            name: queue.name.clone(),
            division_id: queue.division.id.to_string(),
            member_count: queue.members,
        }
    }

    /// A division as the control API shows it.
    pub fn division_record(&self, division: &Division) -> DivisionRecord {
        DivisionRecord {
            id: division.id.to_string(),
            name: division.name.to_string(),
        }
    }

    /// The division with this id, or a 400 naming the field.
    fn division_named(&self, field: &str, id: &str) -> Result<Arc<Division>, ChangeError> {
        let id = uuid_of(field, id)?;
        self.divisions
            .iter()
            .find(|d| *d.id == *id)
            .cloned()
            .ok_or_else(|| invalid(format!("{field}: no division {id}")))
    }

    /// The index of an existing user, or a 400 naming the field.
    fn user_at(&self, field: &str, id: &str) -> Result<usize, ChangeError> {
        let id = uuid_of(field, id)?;
        self.user_index
            .get(&id)
            .copied()
            .ok_or_else(|| invalid(format!("{field}: no user {id}")))
    }

    /// The index of an existing queue, or a 400 naming the field.
    fn queue_at(&self, field: &str, id: &str) -> Result<usize, ChangeError> {
        let id = uuid_of(field, id)?;
        self.queue_index
            .get(&id)
            .copied()
            .ok_or_else(|| invalid(format!("{field}: no queue {id}")))
    }

    /// A new id, unless `given`; either way one no user or queue has (`taken` holds the ones this
    /// request already uses).
    fn fresh_id(
        &self,
        field: &str,
        given: Option<&str>,
        taken: &mut HashSet<String>,
    ) -> Result<Option<String>, ChangeError> {
        let Some(given) = given else { return Ok(None) };
        let id = uuid_of(field, given)?;
        if self.user_index.contains_key(&id) || self.queue_index.contains_key(&id) {
            return Err(invalid(format!("{field}: {id} already exists")));
        }
        if !taken.insert(id.clone()) {
            return Err(invalid(format!("{field}: {id} is given twice")));
        }
        Ok(Some(id))
    }

    /// A drawn id that nothing in the org or in `taken` has.
    fn drawn_id(&mut self, taken: &HashSet<String>) -> String {
        loop {
            let id = new_id(&mut self.rng);
            if !self.user_index.contains_key(&id)
                && !self.queue_index.contains_key(&id)
                && !taken.contains(&id)
            {
                return id;
            }
        }
    }

    /// Adds divisions; names are unique in the org (case ignored).
    pub fn add_divisions(&mut self, req: AddDivisions) -> Result<Vec<DivisionRecord>, ChangeError> {
        if req.divisions.is_empty() {
            return Err(invalid("nothing to add: divisions is empty"));
        }
        if self.divisions.len() + req.divisions.len() > MAX_DIVISIONS {
            return Err(invalid(format!(
                "the org holds at most {MAX_DIVISIONS} divisions; it has {}",
                self.divisions.len()
            )));
        }
        let mut names: HashSet<String> = self
            .divisions
            .iter()
            .map(|d| d.name.to_lowercase())
            .collect();
        let mut ids: HashSet<String> = self.divisions.iter().map(|d| d.id.to_string()).collect();
        let mut planned = Vec::with_capacity(req.divisions.len());
        for d in &req.divisions {
            let name = name_of("name", &d.name)?;
            if !names.insert(name.to_lowercase()) {
                return Err(invalid(format!("a division is named {name:?} already")));
            }
            let id = match &d.id {
                Some(id) => {
                    let id = uuid_of("id", id)?;
                    if !ids.insert(id.clone()) {
                        return Err(invalid(format!("id: division {id} exists already")));
                    }
                    Some(id)
                }
                None => None,
            };
            planned.push((id, name));
        }
        let mut added = Vec::with_capacity(planned.len());
        for (id, name) in planned {
            let id = id.unwrap_or_else(|| new_id(&mut self.rng));
            let division = Arc::new(Division {
                id: Arc::from(id),
                name: Arc::from(name),
            });
            added.push(self.division_record(&division));
            self.divisions.push(division);
        }
        Ok(added)
    }

    /// Adds users (see [`AddUsers`]); the org may hold [`MAX_USERS`] users, deleted ones included.
    pub fn add_users(&mut self, req: AddUsers) -> Result<Vec<UserRecord>, ChangeError> {
        let room = MAX_USERS.saturating_sub(self.users.len());
        let specs = entries("users", req.users, req.count, room)?;
        if specs.len() > room {
            return Err(invalid(format!(
                "the org holds at most {MAX_USERS} users, deleted ones included; it has {}",
                self.users.len()
            )));
        }
        let home = self.divisions[0].clone();
        let default_division = match &req.division_id {
            Some(id) => self.division_named("divisionId", id)?,
            None => home,
        };
        let default_queues = self.queues_named("queueIds", req.queue_ids.as_deref())?;
        let default_state = req.state.unwrap_or(UserState::Active);

        let mut taken = HashSet::new();
        let mut planned = Vec::with_capacity(specs.len());
        for spec in &specs {
            let id = self.fresh_id("id", spec.id.as_deref(), &mut taken)?;
            let name = spec
                .name
                .as_deref()
                .map(|n| name_of("name", n))
                .transpose()?;
            let division = match &spec.division_id {
                Some(id) => self.division_named("divisionId", id)?,
                None => default_division.clone(),
            };
            let state = spec.state.unwrap_or(default_state);
            let queues = match &spec.queue_ids {
                Some(ids) => self.queues_named("queueIds", Some(ids))?,
                None => default_queues.clone(),
            };
            if state == UserState::Deleted && !queues.is_empty() {
                return Err(invalid("a deleted user belongs to no queue"));
            }
            planned.push((id, name, division, state, queues));
        }

        let mut added = Vec::with_capacity(planned.len());
        for (id, name, division, state, queues) in planned {
            let i = self.users.len();
            let id = id.unwrap_or_else(|| self.drawn_id(&taken));
            let name = name.unwrap_or_else(|| seeded_user_name(i));
            let mut user = User::new(id.clone(), name, division, state);
            user.queues = queues;
            self.user_index.insert(id, i);
            self.users.push(user);
            added.push(i);
        }
        self.recount();
        Ok(added
            .into_iter()
            .map(|i| self.user_record(&self.users[i]))
            .collect())
    }

    /// Queue indices for a list of ids, without duplicates.
    fn queues_named(&self, field: &str, ids: Option<&[String]>) -> Result<Vec<usize>, ChangeError> {
        let mut out = Vec::new();
        for id in ids.unwrap_or_default() {
            let q = self.queue_at(field, id)?;
            if !out.contains(&q) {
                out.push(q);
            }
        }
        Ok(out)
    }

    /// Changes the state and/or division of existing users (see [`ChangeUsers`]).
    pub fn change_users(&mut self, req: ChangeUsers) -> Result<Vec<UserRecord>, ChangeError> {
        if req.ids.is_empty() {
            return Err(invalid("ids must name at least one user"));
        }
        if req.state.is_none() && req.division_id.is_none() {
            return Err(invalid("give state, divisionId or both"));
        }
        let division = req
            .division_id
            .as_deref()
            .map(|id| self.division_named("divisionId", id))
            .transpose()?;
        let mut users = Vec::with_capacity(req.ids.len());
        let mut seen = HashSet::new();
        for id in &req.ids {
            let u = self.user_at("ids", id)?;
            if seen.insert(u) {
                users.push(u);
            }
        }
        self.apply_user_change(&users, req.state, division);
        Ok(users
            .into_iter()
            .map(|u| self.user_record(&self.users[u]))
            .collect())
    }

    /// Marks one user deleted: listed only under `state=deleted`, in no queue, silent.
    pub fn delete_user(&mut self, id: &str) -> Result<UserRecord, ChangeError> {
        let u = self
            .user(id)
            .and_then(|u| self.user_index.get(&u.id).copied())
            .ok_or_else(|| ChangeError::NotFound(format!("no user {}", clip(id))))?;
        self.apply_user_change(&[u], Some(UserState::Deleted), None);
        Ok(self.user_record(&self.users[u]))
    }

    fn apply_user_change(
        &mut self,
        users: &[usize],
        state: Option<UserState>,
        division: Option<Arc<Division>>,
    ) {
        if let Some(state) = state {
            let leaving: Vec<usize> = users
                .iter()
                .copied()
                .filter(|&u| self.users[u].is_active() && state != UserState::Active)
                .collect();
            self.retire(&leaving);
            let now = self.last_now;
            for &u in users {
                let user = &mut self.users[u];
                if user.state == state {
                    continue;
                }
                if state == UserState::Active {
                    user.presence = ON_QUEUE;
                    user.routing = RoutingStatus::Idle;
                    user.routing_since = now;
                }
                if state == UserState::Deleted {
                    user.queues.clear();
                }
                user.state = state;
                user.version = user.version.saturating_add(1);
            }
        }
        if let Some(division) = division {
            for &u in users {
                let user = &mut self.users[u];
                if user.division != division {
                    user.division = division.clone();
                    user.version = user.version.saturating_add(1);
                }
            }
        }
        self.recount();
    }

    /// Adds queues (see [`AddQueues`]); the org may hold [`MAX_QUEUES`].
    pub fn add_queues(&mut self, req: AddQueues) -> Result<Vec<QueueRecord>, ChangeError> {
        let room = MAX_QUEUES.saturating_sub(self.queues.len());
        let specs = entries("queues", req.queues, req.count, room)?;
        if specs.len() > room {
            return Err(invalid(format!(
                "the org holds at most {MAX_QUEUES} queues; it has {}",
                self.queues.len()
            )));
        }
        let default_division = req
            .division_id
            .as_deref()
            .map(|id| self.division_named("divisionId", id))
            .transpose()?;
        let mut names: HashSet<String> =
            self.queues.iter().map(|q| q.name.to_lowercase()).collect();
        let mut taken = HashSet::new();
        let mut planned = Vec::with_capacity(specs.len());
        for (k, spec) in specs.iter().enumerate() {
            let i = self.queues.len() + k;
            let id = self.fresh_id("id", spec.id.as_deref(), &mut taken)?;
            let name = match &spec.name {
                Some(name) => {
                    let name = name_of("name", name)?;
                    if !names.insert(name.to_lowercase()) {
                        return Err(invalid(format!("a queue is named {name:?} already")));
                    }
                    name
                }
                None => {
                    let mut n = i;
                    while names.contains(&seeded_queue_name(n).to_lowercase()) {
                        n += 1;
                    }
                    let name = seeded_queue_name(n);
                    names.insert(name.to_lowercase());
                    name
                }
            };
            let division = match (&spec.division_id, &default_division) {
                (Some(id), _) => self.division_named("divisionId", id)?,
                (None, Some(d)) => d.clone(),
                (None, None) => self.divisions[i % SEEDED_DIVISIONS.len()].clone(),
            };
            let mut members = Vec::new();
            for id in spec.member_ids.as_deref().unwrap_or_default() {
                let u = self.user_at("memberIds", id)?;
                if self.users[u].state == UserState::Deleted {
                    return Err(invalid(format!("memberIds: user {id} is deleted")));
                }
                if !members.contains(&u) {
                    members.push(u);
                }
            }
            planned.push((id, name, division, members));
        }

        let mut added = Vec::with_capacity(planned.len());
        for (id, name, division, members) in planned {
            let q = self.queues.len();
            let id = id.unwrap_or_else(|| self.drawn_id(&taken));
            self.queue_index.insert(id.clone(), q);
            self.queues.push(Queue::new(id, name, division, q));
            for u in members {
                self.users[u].queues.push(q);
            }
            added.push(q);
        }
        self.recount();
        Ok(added
            .into_iter()
            .map(|q| self.queue_record(&self.queues[q]))
            .collect())
    }

    /// Removes a queue: it leaves the listing, its calls end silently, its members leave it. The
    /// org keeps at least one queue.
    pub fn delete_queue(&mut self, id: &str) -> Result<QueueRecord, ChangeError> {
        let q = self
            .queue(id)
            .and_then(|q| self.queue_index.get(&q.id).copied())
            .ok_or_else(|| ChangeError::NotFound(format!("no queue {}", clip(id))))?;
        if self.queues.len() == 1 {
            return Err(invalid(
                "the org keeps at least one queue: add another before removing this one",
            ));
        }
        let record = self.queue_record(&self.queues[q]);
        self.remove_queues(&[q]);
        self.recount();
        Ok(QueueRecord {
            member_count: 0,
            ..record
        })
    }

    /// Users join (`add`) and leave (`remove`) a queue; joining twice or leaving a queue one is not
    /// in changes nothing.
    pub fn change_members(
        &mut self,
        queue_id: &str,
        req: ChangeMembers,
    ) -> Result<QueueRecord, ChangeError> {
        let q = self
            .queue(queue_id)
            .and_then(|q| self.queue_index.get(&q.id).copied())
            .ok_or_else(|| ChangeError::NotFound(format!("no queue {}", clip(queue_id))))?;
        if req.add.is_empty() && req.remove.is_empty() {
            return Err(invalid("give add, remove or both"));
        }
        let mut add = Vec::with_capacity(req.add.len());
        for id in &req.add {
            let u = self.user_at("add", id)?;
            if self.users[u].state == UserState::Deleted {
                return Err(invalid(format!("add: user {id} is deleted")));
            }
            add.push(u);
        }
        let mut remove = HashSet::with_capacity(req.remove.len());
        for id in &req.remove {
            remove.insert(self.user_at("remove", id)?);
        }
        if let Some(u) = add.iter().find(|u| remove.contains(u)) {
            return Err(invalid(format!(
                "user {} is both added and removed",
                self.users[*u].id
            )));
        }
        for u in add {
            if !self.users[u].queues.contains(&q) {
                self.users[u].queues.push(q);
            }
        }
        for u in remove {
            self.users[u].queues.retain(|x| *x != q);
        }
        self.recount();
        Ok(self.queue_record(&self.queues[q]))
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
