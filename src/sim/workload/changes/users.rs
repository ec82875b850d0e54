//! Users added, their state and division changed, deleted.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use super::{ChangeError, UserRecord, clip, entries, invalid, name_of};
use crate::sim::workload::entities::{
    Division, ON_QUEUE, RoutingStatus, User, UserState, seeded_user_name,
};
use crate::sim::workload::org::Org;
use crate::sim::workload::spec::MAX_USERS;

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

impl Org {
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
}
