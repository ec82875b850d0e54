//! Queues added and removed, and who is a member.

use std::collections::HashSet;

use serde::Deserialize;

use super::{ChangeError, QueueRecord, clip, entries, invalid, name_of};
use crate::sim::workload::entities::{Queue, SEEDED_DIVISIONS, UserState, seeded_queue_name};
use crate::sim::workload::org::Org;
use crate::sim::workload::spec::MAX_QUEUES;

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

impl Org {
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
