//! The event generator: picks a family, moves the org's state on, renders the event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use super::GeneratedEvent;
use super::bodies;
use super::conversation::{Agent, Conversation, Phase};
use super::entities::{ON_QUEUE, RoutingStatus};
use super::org::{Org, Slot, detail_topic, new_uuid};
use super::spec::Family;

/// Presence a free user moves to: mostly On Queue (index 4), the rest spread over the others.
const PRESENCE_DRAW: [usize; 20] = [4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 1, 1, 2, 3, 5, 6, 7, 8];
/// Chance that a new call is abandoned while queued.
const ABANDON_RATE: f64 = 0.1;
/// Chance, while under the in-flight cap, that a lifecycle step starts a new call rather than
/// advancing one in flight.
const START_RATE: f64 = 0.25;
/// Lifecycle steps one conversation-family draw may take looking for an event to hand out.
const MAX_STEPS_PER_EVENT: usize = 1_000;
/// Area codes for generated caller numbers.
const AREA_CODES: [u16; 8] = [212, 312, 415, 503, 617, 702, 818, 919];

impl Org {
    /// The next event at wall-clock time `now`; `None` only when the org has nothing to speak
    /// about (no active user, and no conversation family that can make progress without one).
    ///
    /// A family is drawn uniformly among the active ones. Presence and routing status events
    /// concern a random active user, observation events a random queue. The conversation families
    /// share one lifecycle: a draw of any of them hands out the next event of that lifecycle, and
    /// every step of it (a call starting, queueing, being answered, ending, wrapped up) causes one
    /// event on each active conversation family that sees it, in causal order, as the platform
    /// does. So the conversation families as a whole get their uniform share, and within it detail
    /// and queue events are about equally frequent while user events are fewer (they begin once an
    /// agent is alerted). A family with nothing to say (user events while no user is active) gives
    /// its turn to the others.
    pub fn next_event(&mut self, now: DateTime<Utc>) -> Option<GeneratedEvent> {
        self.last_now = Some(now);
        let slot = self.slots[self.rng.random_range(0..self.slots.len())];
        if let Some(event) = self.event_in(slot, now) {
            return Some(event);
        }
        for i in 0..self.slots.len() {
            if let Some(event) = self.event_in(self.slots[i], now) {
                return Some(event);
            }
        }
        None
    }

    fn event_in(&mut self, slot: Slot, now: DateTime<Utc>) -> Option<GeneratedEvent> {
        match slot {
            Slot::Presence | Slot::Routing => {
                if self.live.is_empty() {
                    return None;
                }
                let u = self.live[self.rng.random_range(0..self.live.len())];
                Some(match slot {
                    Slot::Presence => self.presence_event(u, now),
                    _ => self.routing_event(u, now),
                })
            }
            Slot::Observations => {
                if self.queues.is_empty() {
                    return None;
                }
                let q = self.rng.random_range(0..self.queues.len());
                Some(self.observations_event(q))
            }
            Slot::Conversation => {
                // Bounded: with user conversations the only family and no active user, no step
                // ever causes an event.
                for _ in 0..MAX_STEPS_PER_EVENT {
                    if let Some((_, event)) = self.pending.pop_front() {
                        return Some(event);
                    }
                    if !self.advance_any(now) {
                        return None;
                    }
                }
                None
            }
        }
    }

    /// Makes an event for `topic` (matched case-insensitively) now, if the topic belongs to an
    /// active family and names an entity of this org; `None` otherwise.
    ///
    /// Presence and routing-status events change the user's state; an observation is a snapshot. A
    /// queue-conversations topic advances a call in flight in that queue (or starts one); a
    /// user-conversations topic advances the user's call (or routes a new one to the user). A
    /// detail topic advances its conversation up to that phase, or repeats the event of a phase
    /// already past; an id announced by [`Org::topics_for`] starts that conversation. Other events
    /// those steps cause are handed out by later [`Org::next_event`] calls.
    pub fn event_for_topic(&mut self, topic: &str, now: DateTime<Utc>) -> Option<GeneratedEvent> {
        self.last_now = Some(now);
        if self.queues.is_empty() {
            return None;
        }
        let lower = topic.to_ascii_lowercase();
        let on: [bool; 6] = Family::ALL.map(|f| self.families.contains(&f));
        let active = |f: Family| on[f as usize];
        if let Some(rest) = lower.strip_prefix("v2.users.") {
            let (id, suffix) = rest.split_once('.')?;
            let u = *self.user_index.get(id)?;
            if !self.users[u].is_active() {
                return None;
            }
            match suffix {
                "presence" if active(Family::Presence) => Some(self.presence_event(u, now)),
                "routingstatus" if active(Family::RoutingStatus) => {
                    Some(self.routing_event(u, now))
                }
                "conversations" if active(Family::UserConversations) => {
                    self.user_conversation_now(u, now)
                }
                _ => None,
            }
        } else if let Some(rest) = lower.strip_prefix("v2.routing.queues.") {
            let q = *self.queue_index.get(rest.strip_suffix(".conversations")?)?;
            if !active(Family::QueueConversations) {
                return None;
            }
            match self.active.iter().position(|c| c.queue_index == q) {
                Some(ci) => {
                    self.step(ci, now, None);
                }
                None => {
                    self.start_conversation(q, now, None, false);
                }
            }
            let topic = self.queues[q].topic_conversations.clone();
            self.take_pending(Family::QueueConversations, &topic)
        } else if let Some(rest) = lower.strip_prefix("v2.analytics.queues.") {
            let q = *self.queue_index.get(rest.strip_suffix(".observations")?)?;
            active(Family::QueueObservations).then(|| self.observations_event(q))
        } else if let Some(rest) = lower.strip_prefix("v2.detail.events.conversation.") {
            let (id, suffix) = rest.split_once('.')?;
            let id = Uuid::parse_str(id).ok()?;
            let phase = Phase::from_suffix(suffix)?;
            if !active(Family::DetailEvents) {
                return None;
            }
            self.detail_now(&id, phase, now)
        } else {
            None
        }
    }

    fn presence_event(&mut self, u: usize, now: DateTime<Utc>) -> GeneratedEvent {
        let draw = PRESENCE_DRAW[self.rng.random_range(0..PRESENCE_DRAW.len())];
        let user = &mut self.users[u];
        user.presence = if user.busy { ON_QUEUE } else { draw };
        if !user.busy {
            let routing = match (user.presence == ON_QUEUE, user.routing) {
                (true, RoutingStatus::OffQueue) => Some(RoutingStatus::Idle),
                (false, r) if r != RoutingStatus::OffQueue => Some(RoutingStatus::OffQueue),
                _ => None,
            };
            if let Some(r) = routing {
                self.set_routing(u, r, now);
            }
        }
        let user = &self.users[u];
        let mut body = String::with_capacity(self.event_size.unwrap_or(200));
        bodies::presence(
            &mut body,
            &self.presence_ids[user.presence],
            user.system_presence(),
            now,
        );
        self.finish(user.topic_presence.clone(), body)
    }

    fn routing_event(&mut self, u: usize, now: DateTime<Utc>) -> GeneratedEvent {
        let roll: f64 = self.rng.random();
        let user = &self.users[u];
        let status = if user.busy {
            RoutingStatus::Interacting
        } else if user.presence != ON_QUEUE {
            RoutingStatus::OffQueue
        } else if roll < 0.1 {
            RoutingStatus::NotResponding
        } else if roll < 0.15 {
            RoutingStatus::Communicating
        } else {
            RoutingStatus::Idle
        };
        self.set_routing(u, status, now);
        let user = &self.users[u];
        let mut body = String::with_capacity(self.event_size.unwrap_or(100));
        bodies::routing_status(
            &mut body,
            status.as_str(),
            user.routing_since.unwrap_or(now),
        );
        self.finish(user.topic_routing.clone(), body)
    }

    fn observations_event(&mut self, q: usize) -> GeneratedEvent {
        let queue = &self.queues[q];
        let mut body = String::with_capacity(self.event_size.unwrap_or(300));
        bodies::observations(
            &mut body,
            &queue.id,
            queue.waiting,
            queue.interacting,
            queue.idle_members,
        );
        self.finish(queue.topic_observations.clone(), body)
    }

    /// Pads the body and pairs it with its topic.
    fn finish(&self, topic: Arc<str>, mut body: String) -> GeneratedEvent {
        bodies::pad(&mut body, topic.len(), self.event_size);
        GeneratedEvent {
            topic,
            event_body: body,
        }
    }

    /// Changes a user's routing status, keeping the idle counters of the user's queues right.
    fn set_routing(&mut self, u: usize, status: RoutingStatus, now: DateTime<Utc>) {
        let user = &mut self.users[u];
        if user.routing == status {
            return;
        }
        for &q in &user.queues {
            let queue = &mut self.queues[q];
            if user.routing == RoutingStatus::Idle {
                queue.idle_members = queue.idle_members.saturating_sub(1);
            }
            if status == RoutingStatus::Idle {
                queue.idle_members += 1;
            }
        }
        user.routing = status;
        user.routing_since = Some(now);
    }

    /// One lifecycle step somewhere: a new call while under the in-flight cap (sometimes), else the
    /// next phase of a random call in flight. `false` when there is neither a call nor a queue.
    fn advance_any(&mut self, now: DateTime<Utc>) -> bool {
        if self.active.is_empty() && self.queues.is_empty() {
            return false;
        }
        let under_cap = self.active.len() < self.in_flight_cap();
        if self.active.is_empty()
            || under_cap && !self.queues.is_empty() && self.rng.random_bool(START_RATE)
        {
            let q = self.rng.random_range(0..self.queues.len());
            let abandoned = self.rng.random_bool(ABANDON_RATE);
            self.start_conversation(q, now, None, abandoned);
        } else {
            let ci = self.rng.random_range(0..self.active.len());
            self.step(ci, now, None);
        }
        true
    }

    /// Starts a call in queue `q` (reaching `customer.start`) and returns its index in flight.
    fn start_conversation(
        &mut self,
        q: usize,
        now: DateTime<Utc>,
        id: Option<Uuid>,
        abandoned: bool,
    ) -> usize {
        let id = match id.or_else(|| self.upcoming.pop_front()) {
            Some(id) => id,
            None => new_uuid(&mut self.rng),
        };
        while self.upcoming.len() < super::org::UPCOMING_IDS {
            let next = new_uuid(&mut self.rng);
            self.upcoming.push_back(next);
        }
        let area = AREA_CODES[self.rng.random_range(0..AREA_CODES.len())];
        let line: u32 = self.rng.random_range(2_000_000..10_000_000);
        let queue = &self.queues[q];
        let mut phase_times = [None; 7];
        phase_times[Phase::CustomerStart as usize] = Some(now);
        let conversation = Conversation {
            id,
            queue_id: queue.shared_id.clone(),
            queue_name: queue.shared_name.clone(),
            division_id: queue.division.id.clone(),
            ani: format!("tel:+1{area}{line}"),
            dnis: queue.dnis.clone(),
            customer_participant_id: new_uuid(&mut self.rng),
            customer_session_id: new_uuid(&mut self.rng),
            acd_participant_id: new_uuid(&mut self.rng),
            acd_session_id: new_uuid(&mut self.rng),
            agent: None,
            abandoned,
            wrapup_code: None,
            phase_times,
            queue_index: q,
        };
        self.active.push(conversation);
        self.trim_history();
        let ci = self.active.len() - 1;
        self.emit(ci, Phase::CustomerStart);
        ci
    }

    /// Moves call `ci` to its next phase at `now` (routing it to `preferred` agent when that user is
    /// free and the call needs an agent), queues the events it causes and retires a finished call.
    /// Returns the phase reached, or `None` for a call already finished.
    fn step(&mut self, ci: usize, now: DateTime<Utc>, preferred: Option<usize>) -> Option<Phase> {
        let mut phase = self.active[ci].next_phase()?;
        let q = self.active[ci].queue_index;
        match phase {
            Phase::CustomerStart | Phase::CustomerEnd => {}
            Phase::AcdStart => self.queues[q].waiting += 1,
            Phase::UserStart => {
                let pick = match preferred.and_then(|u| self.idle.iter().position(|i| *i == u)) {
                    Some(pos) => Some(pos),
                    None if self.idle.is_empty() => None,
                    None => Some(self.rng.random_range(0..self.idle.len())),
                };
                match pick {
                    Some(pos) => {
                        let u = self.idle.swap_remove(pos);
                        self.users[u].busy = true;
                        self.users[u].presence = ON_QUEUE;
                        self.set_routing(u, RoutingStatus::Interacting, now);
                        let agent = Agent {
                            user_id: self.users[u].shared_id.clone(),
                            user_name: self.users[u].shared_name.clone(),
                            participant_id: new_uuid(&mut self.rng),
                            session_id: new_uuid(&mut self.rng),
                            user_index: u,
                        };
                        self.active[ci].agent = Some(agent);
                    }
                    None => {
                        // No free agent: the caller gives up, leaving the queue.
                        self.active[ci].abandoned = true;
                        phase = Phase::AcdEnd;
                        let queue = &mut self.queues[q];
                        queue.waiting = queue.waiting.saturating_sub(1);
                    }
                }
            }
            Phase::AcdEnd => {
                let queue = &mut self.queues[q];
                queue.waiting = queue.waiting.saturating_sub(1);
                if !self.active[ci].abandoned {
                    queue.interacting += 1;
                }
            }
            Phase::UserEnd => {
                let queue = &mut self.queues[q];
                queue.interacting = queue.interacting.saturating_sub(1);
            }
            Phase::Wrapup => {
                let code = self.rng.random_range(0..self.wrapup_codes.len());
                self.active[ci].wrapup_code = Some(self.wrapup_codes[code].clone());
                if let Some(u) = self.active[ci].agent.as_ref().map(|a| a.user_index) {
                    self.users[u].busy = false;
                    self.idle.push(u);
                    self.set_routing(u, RoutingStatus::Idle, now);
                }
            }
        }
        self.active[ci].phase_times[phase as usize] = Some(now);
        self.emit(ci, phase);
        if self.active[ci].is_finished() {
            let done = self.active.swap_remove(ci);
            self.history.push_back(done);
            self.trim_history();
        }
        Some(phase)
    }

    /// Queues the events call `ci` causes on reaching `phase`: its detail event, then the
    /// conversation object on the queue's and the agent's topics.
    fn emit(&mut self, ci: usize, phase: Phase) {
        let c = &self.active[ci];
        let detail = self.families.contains(&Family::DetailEvents);
        let queue = self.families.contains(&Family::QueueConversations);
        let agent = c
            .agent
            .as_ref()
            .filter(|_| self.families.contains(&Family::UserConversations));
        if detail {
            let mut body = String::with_capacity(self.event_size.unwrap_or(600));
            bodies::detail_event(&mut body, c, phase);
            let event = self.finish(Arc::from(detail_topic(&c.id, phase)), body);
            self.pending.push_back((Family::DetailEvents, event));
        }
        if queue || agent.is_some() {
            let mut snapshot = String::with_capacity(1600);
            bodies::conversation(&mut snapshot, c);
            if queue {
                let topic = self.queues[c.queue_index].topic_conversations.clone();
                let event = self.finish(topic, snapshot.clone());
                self.pending.push_back((Family::QueueConversations, event));
            }
            if let Some(a) = agent {
                let topic = self.users[a.user_index].topic_conversations.clone();
                let event = self.finish(topic, snapshot);
                self.pending.push_back((Family::UserConversations, event));
            }
        }
    }

    /// Removes and returns the latest queued event of `family` on `topic`.
    fn take_pending(&mut self, family: Family, topic: &str) -> Option<GeneratedEvent> {
        let pos = self
            .pending
            .iter()
            .rposition(|(f, e)| *f == family && &*e.topic == topic)?;
        self.pending.remove(pos).map(|(_, e)| e)
    }

    /// Emit-now for `v2.users.{id}.conversations`.
    fn user_conversation_now(&mut self, u: usize, now: DateTime<Utc>) -> Option<GeneratedEvent> {
        let held = self
            .active
            .iter()
            .position(|c| c.holds_agent() && c.agent.as_ref().is_some_and(|a| a.user_index == u));
        match held {
            Some(ci) => {
                self.step(ci, now, None);
            }
            None if self.users[u].busy => return None,
            None => {
                // The user's first queue; one in no queue gets a call from the first queue.
                let q = self.users[u].queues.first().copied().unwrap_or(0);
                let id = self.start_conversation(q, now, None, false);
                let id = self.active[id].id;
                while let Some(ci) = self.active.iter().position(|c| c.id == id) {
                    if self.active[ci].agent.is_some() || self.step(ci, now, Some(u)).is_none() {
                        break;
                    }
                }
            }
        }
        let topic = self.users[u].topic_conversations.clone();
        self.take_pending(Family::UserConversations, &topic)
    }

    /// Emit-now for `v2.detail.events.conversation.{id}.<phase>`.
    fn detail_now(
        &mut self,
        id: &Uuid,
        phase: Phase,
        now: DateTime<Utc>,
    ) -> Option<GeneratedEvent> {
        if let Some(pos) = self.upcoming.iter().position(|u| u == id) {
            let id = self.upcoming.remove(pos);
            let q = self.rng.random_range(0..self.queues.len());
            self.start_conversation(q, now, id, false);
        }
        let topic = detail_topic(id, phase);
        while let Some(ci) = self.active.iter().position(|c| c.id == *id) {
            let c = &self.active[ci];
            if c.time(phase).is_some() || !c.path().contains(&phase) {
                break;
            }
            self.step(ci, now, None)?;
        }
        if let Some(event) = self.take_pending(Family::DetailEvents, &topic) {
            return Some(event);
        }
        // A phase already past: repeat its event.
        let c = self.conversations().find(|c| c.id == *id)?;
        c.time(phase)?;
        let mut body = String::new();
        bodies::detail_event(&mut body, c, phase);
        Some(self.finish(Arc::from(topic), body))
    }
}
