//! Changing the org while it runs, as the control API asks: divisions added, users added or their
//! state and division changed, queues added or removed, queue membership changed. Each request is
//! checked in full before anything changes, so a refused one leaves the org as it was.
//!
//! This file holds what every change shares (errors, checks, the records the control API shows)
//! and divisions; `users.rs` and `queues.rs` the rest.

mod queues;
mod users;

pub use queues::{AddQueues, ChangeMembers, NewQueue};
pub use users::{AddUsers, ChangeUsers, NewUser};

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::entities::{Division, Queue, User, UserState};
use super::org::{Org, new_id};

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
}

#[cfg(test)]
mod tests;
