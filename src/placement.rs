//! Topic placement: which subscription ids go on which channel of which OAuth client.
//!
//! Topics of one prefix and priority are packed into the combined form (`v2.users.X?presence&routingStatus`)
//! to shorten requests; each channel holds at most the topic quota (a combined id counts as the topics it
//! covers unless the policy says otherwise); each client gets at most `channels_per_client - reserved`
//! channels, the reserved slots kept free for make-before-break rollovers. Higher priorities are placed
//! first; what does not fit is reported unplaced, never dropped silently. Existing channels keep the units
//! they already hold, so a restart or a change moves as few topics as possible.

use std::collections::{BTreeMap, HashSet};

use crate::config::{CombinedCounting, TopicConfig};
use crate::topics::MAX_COMBINED_TOPIC_LEN;

/// One subscription id and the topics it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What is sent to the platform (plain or combined form).
    pub id: String,
    /// The individual topic names, as configured.
    pub topics: Vec<String>,
    pub priority: i32,
}

impl Unit {
    pub fn weight(&self, counting: CombinedCounting) -> usize {
        match counting {
            CombinedCounting::Expanded => self.topics.len(),
            CombinedCounting::Single => 1,
        }
    }
}

/// Groups topics into units, highest priority first, then by id.
pub fn units(topics: &[TopicConfig]) -> Vec<Unit> {
    let mut groups: BTreeMap<(i32, String), Vec<String>> = BTreeMap::new();
    let mut singles = Vec::new();
    // A configured combined id is split into its topics, then grouped again like the rest.
    let expanded = topics.iter().flat_map(|t| match t.name.split_once('?') {
        Some((prefix, suffixes)) => suffixes
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|s| TopicConfig {
                name: format!("{prefix}.{s}"),
                priority: t.priority,
            })
            .collect::<Vec<_>>(),
        None => vec![t.clone()],
    });
    for t in expanded {
        match t.name.rsplit_once('.') {
            Some((prefix, suffix)) if !t.name.contains('?') && !suffix.is_empty() => groups
                .entry((t.priority, prefix.to_string()))
                .or_default()
                .push(t.name.clone()),
            _ => singles.push(Unit {
                id: t.name.clone(),
                topics: vec![t.name],
                priority: t.priority,
            }),
        }
    }
    let mut out = singles;
    for ((priority, prefix), mut names) in groups {
        // Sorted, so that the same topics always make the same ids (a restart re-uses channels by their ids).
        names.sort();
        names.dedup();
        let mut current: Vec<String> = Vec::new();
        let flush = |current: &mut Vec<String>, out: &mut Vec<Unit>| {
            if current.is_empty() {
                return;
            }
            let id = if current.len() == 1 {
                current[0].clone()
            } else {
                let suffixes: Vec<&str> = current.iter().map(|n| &n[prefix.len() + 1..]).collect();
                format!("{prefix}?{}", suffixes.join("&"))
            };
            out.push(Unit {
                id,
                topics: std::mem::take(current),
                priority,
            });
        };
        for name in names {
            let suffix_len = name.len() - prefix.len();
            let combined_len = prefix.len()
                + 1
                + current
                    .iter()
                    .map(|n| n.len() - prefix.len())
                    .sum::<usize>()
                + suffix_len;
            if !current.is_empty() && combined_len > MAX_COMBINED_TOPIC_LEN - 1 {
                flush(&mut current, &mut out);
            }
            current.push(name);
        }
        flush(&mut current, &mut out);
    }
    out.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    out
}

/// A channel that exists already (from the store) and the units it holds.
#[derive(Debug, Clone)]
pub struct Existing {
    pub channel_id: String,
    pub client: usize,
    pub units: Vec<String>,
}

/// Where one channel's units go.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChannel {
    pub client: usize,
    /// The existing channel to keep, if any.
    pub reuse: Option<String>,
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub channels: Vec<PlannedChannel>,
    pub unplaced: Vec<Unit>,
}

/// Limits that bound a plan.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub clients: usize,
    pub channels_per_client: usize,
    pub reserved: usize,
    pub quota: usize,
    pub counting: CombinedCounting,
}

pub fn place(units: Vec<Unit>, existing: &[Existing], limits: Limits) -> Plan {
    let per_client = limits.channels_per_client.saturating_sub(limits.reserved);
    let mut channels: Vec<PlannedChannel> = Vec::new();
    let mut used = vec![0usize; limits.clients];
    let mut placed: HashSet<String> = HashSet::new();
    let by_id: BTreeMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    // Keep what existing channels already hold, within the limits.
    for e in existing {
        if e.client >= limits.clients || used[e.client] >= per_client {
            continue;
        }
        let mut kept = Vec::new();
        let mut load = 0;
        for id in &e.units {
            if let Some(u) = by_id.get(id.as_str())
                && !placed.contains(id)
                && load + u.weight(limits.counting) <= limits.quota
            {
                load += u.weight(limits.counting);
                placed.insert(id.clone());
                kept.push((*u).clone());
            }
        }
        if !kept.is_empty() {
            used[e.client] += 1;
            channels.push(PlannedChannel {
                client: e.client,
                reuse: Some(e.channel_id.clone()),
                units: kept,
            });
        }
    }
    // Each channel's load, kept beside it: summing a channel's units for every unit placed would make a
    // large org (tens of thousands of units) quadratic.
    let mut loads: Vec<usize> = channels
        .iter()
        .map(|c| c.units.iter().map(|u| u.weight(limits.counting)).sum())
        .collect();
    let mut unplaced = Vec::new();
    for unit in units.into_iter().filter(|u| !placed.contains(&u.id)) {
        let w = unit.weight(limits.counting);
        if w > limits.quota {
            unplaced.push(unit);
            continue;
        }
        if let Some(i) = loads.iter().position(|&load| load + w <= limits.quota) {
            loads[i] += w;
            channels[i].units.push(unit);
            continue;
        }
        match (0..limits.clients).find(|&c| used[c] < per_client) {
            Some(client) => {
                used[client] += 1;
                loads.push(w);
                channels.push(PlannedChannel {
                    client,
                    reuse: None,
                    units: vec![unit],
                });
            }
            None => unplaced.push(unit),
        }
    }
    Plan { channels, unplaced }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, priority: i32) -> TopicConfig {
        TopicConfig {
            name: name.to_string(),
            priority,
        }
    }

    fn limits(clients: usize) -> Limits {
        Limits {
            clients,
            channels_per_client: 20,
            reserved: 1,
            quota: 1000,
            counting: CombinedCounting::Expanded,
        }
    }

    fn users(n: usize) -> Vec<TopicConfig> {
        (0..n)
            .map(|i| topic(&format!("v2.users.u{i:05}.presence"), 0))
            .collect()
    }

    #[test]
    fn topics_of_one_entity_share_a_combined_id() {
        let u = units(&[
            topic("v2.users.a.presence", 0),
            topic("v2.users.a.routingStatus", 0),
            topic("v2.users.b.presence", 0),
        ]);
        assert_eq!(
            u.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            vec!["v2.users.a?presence&routingStatus", "v2.users.b.presence"]
        );
        assert_eq!(u[0].topics.len(), 2);
        assert!(u.iter().all(|u| u.id.len() <= MAX_COMBINED_TOPIC_LEN));
    }

    #[test]
    fn a_configured_combined_id_is_split_and_regrouped() {
        let u = units(&[
            topic("v2.users.a?presence&routingStatus", 0),
            topic("v2.users.a.activity", 0),
        ]);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].id, "v2.users.a?activity&presence&routingStatus");
        assert_eq!(
            u[0].topics,
            vec![
                "v2.users.a.activity",
                "v2.users.a.presence",
                "v2.users.a.routingStatus"
            ]
        );
    }

    #[test]
    fn combined_ids_stay_under_200_characters() {
        let long: Vec<TopicConfig> = (0..40)
            .map(|i| topic(&format!("v2.users.a.suffix{i:03}"), 0))
            .collect();
        let u = units(&long);
        assert!(u.len() > 1);
        assert!(
            u.iter().all(|u| u.id.len() < MAX_COMBINED_TOPIC_LEN),
            "{:?}",
            u.iter().map(|u| u.id.len()).collect::<Vec<_>>()
        );
        assert_eq!(u.iter().map(|u| u.topics.len()).sum::<usize>(), 40);
    }

    #[test]
    fn a_quota_of_1000_makes_3_channels_for_2500_topics() {
        let plan = place(units(&users(2500)), &[], limits(1));
        assert_eq!(plan.channels.len(), 3);
        assert!(plan.unplaced.is_empty());
        assert!(plan.channels.iter().all(|c| c.units.len() <= 1000));
    }

    #[test]
    fn one_client_keeps_a_slot_free_and_reports_the_rest_unplaced() {
        let plan = place(units(&users(25_000)), &[], limits(1));
        assert_eq!(plan.channels.len(), 19);
        assert_eq!(plan.unplaced.len(), 25_000 - 19_000);
        let plan = place(units(&users(25_000)), &[], limits(2));
        assert_eq!(plan.channels.len(), 25);
        assert!(plan.unplaced.is_empty());
        assert_eq!(plan.channels.iter().filter(|c| c.client == 1).count(), 6);
    }

    #[test]
    fn higher_priorities_are_placed_first() {
        let mut topics = users(1500);
        topics.push(topic("v2.routing.queues.q1.conversations", 10));
        let l = Limits {
            clients: 1,
            channels_per_client: 2,
            reserved: 1,
            quota: 1000,
            counting: CombinedCounting::Expanded,
        };
        let plan = place(units(&topics), &[], l);
        assert_eq!(
            plan.channels[0].units[0].id,
            "v2.routing.queues.q1.conversations"
        );
        assert_eq!(plan.unplaced.len(), 501);
    }

    #[test]
    fn existing_channels_keep_their_units() {
        let u = units(&users(1500));
        let existing = vec![Existing {
            channel_id: "old".into(),
            client: 0,
            units: u[1000..1500].iter().map(|u| u.id.clone()).collect(),
        }];
        let plan = place(u.clone(), &existing, limits(1));
        assert_eq!(plan.channels[0].reuse.as_deref(), Some("old"));
        let old: Vec<&str> = plan.channels[0]
            .units
            .iter()
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(
            &old[..500],
            &u[1000..1500]
                .iter()
                .map(|u| u.id.as_str())
                .collect::<Vec<_>>()[..],
            "nothing moved off the old channel"
        );
        assert_eq!(plan.channels.len(), 2);
        assert_eq!(
            plan.channels.iter().map(|c| c.units.len()).sum::<usize>(),
            1500
        );
    }
}
