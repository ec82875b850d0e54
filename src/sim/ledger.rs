//! The ledger: every event that happened in the simulated org, and the channels each was sent to.
//!
//! "Sent" means handed to the socket: frames still queued when a socket is dropped are taken back out of the
//! ledger ([`Ledger::unsend`]), so the ledger is an honest oracle of what a client could have received.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub seq: u64,
    pub topic: Arc<str>,
    pub correlation_id: Arc<str>,
    #[serde(serialize_with = "crate::sim::time::serialize_millis")]
    pub at: DateTime<Utc>,
    pub channels: Vec<Arc<str>>,
}

/// Query parameters of `GET /sim/v1/ledger`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerFilter {
    /// Exact topic name (case ignored).
    pub topic: Option<String>,
    /// Topic name prefix (case ignored), e.g. `v2.users.` for a family of entities.
    pub topic_prefix: Option<String>,
    /// Only events sent to this channel.
    pub channel: Option<String>,
    pub after_seq: Option<u64>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Page size: default 1000, at most 10000.
    pub limit: Option<usize>,
}

/// A page of the ledger.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `afterSeq` for the next page; absent when this page reached the end.
    pub next_after_seq: Option<u64>,
    /// The oldest seq still held (older ones fell out of the bounded ledger).
    pub oldest_seq: Option<u64>,
    /// The newest seq recorded so far (0 before any event).
    pub last_seq: u64,
}

pub const DEFAULT_PAGE: usize = 1000;
pub const MAX_PAGE: usize = 10_000;

/// The bounded, append-only record of events.
#[derive(Debug)]
pub struct Ledger {
    entries: VecDeque<LedgerEntry>,
    capacity: usize,
    last_seq: u64,
}

impl Ledger {
    pub fn new(capacity: usize) -> Ledger {
        Ledger {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            last_seq: 0,
        }
    }

    /// Appends an event, returning its seq (starting at 1).
    pub fn record(
        &mut self,
        topic: Arc<str>,
        correlation_id: Arc<str>,
        at: DateTime<Utc>,
        channels: Vec<Arc<str>>,
    ) -> u64 {
        self.last_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(LedgerEntry {
            seq: self.last_seq,
            topic,
            correlation_id,
            at,
            channels,
        });
        self.last_seq
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let first = self.entries.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(first)?).ok()?;
        (idx < self.entries.len()).then_some(idx)
    }

    /// Records that the frames of these events never left for `channel` (the socket went away first).
    pub fn unsend(&mut self, channel: &str, seqs: &[u64]) {
        for &seq in seqs {
            if let Some(i) = self.index_of(seq) {
                self.entries[i].channels.retain(|c| &**c != channel);
            }
        }
    }

    pub fn query(&self, filter: &LedgerFilter) -> LedgerPage {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let topic = filter.topic.as_deref().map(str::to_ascii_lowercase);
        let prefix = filter.topic_prefix.as_deref().map(str::to_ascii_lowercase);
        let start = match filter.after_seq {
            Some(after) => match self.entries.front() {
                Some(front) if after >= front.seq => (after - front.seq + 1) as usize,
                _ => 0,
            },
            None => 0,
        };
        let mut entries = Vec::new();
        let mut next_after_seq = None;
        for e in self.entries.iter().skip(start) {
            if let Some(t) = &topic
                && !e.topic.eq_ignore_ascii_case(t)
            {
                continue;
            }
            if let Some(p) = &prefix
                && !(e.topic.len() >= p.len() && e.topic[..p.len()].eq_ignore_ascii_case(p))
            {
                continue;
            }
            if let Some(c) = &filter.channel
                && !e.channels.iter().any(|x| &**x == c)
            {
                continue;
            }
            if filter.since.is_some_and(|s| e.at < s) || filter.until.is_some_and(|u| e.at > u) {
                continue;
            }
            if entries.len() == limit {
                next_after_seq = entries.last().map(|l: &LedgerEntry| l.seq);
                break;
            }
            entries.push(e.clone());
        }
        LedgerPage {
            entries,
            next_after_seq,
            oldest_seq: self.entries.front().map(|e| e.seq),
            last_seq: self.last_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_with(n: u64, cap: usize) -> Ledger {
        let mut l = Ledger::new(cap);
        for i in 0..n {
            let topic: Arc<str> = if i % 2 == 0 {
                "v2.users.a.presence".into()
            } else {
                "v2.users.b.presence".into()
            };
            l.record(
                topic,
                format!("c{i}").into(),
                Utc::now(),
                vec!["ch1".into(), "ch2".into()],
            );
        }
        l
    }

    #[test]
    fn pages_follow_after_seq_and_filters() {
        let l = ledger_with(10, 100);
        let page = l.query(&LedgerFilter {
            limit: Some(3),
            ..Default::default()
        });
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(page.next_after_seq, Some(3));
        let page = l.query(&LedgerFilter {
            after_seq: Some(8),
            ..Default::default()
        });
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![9, 10]
        );
        assert_eq!(page.next_after_seq, None);
        let page = l.query(&LedgerFilter {
            topic: Some("V2.USERS.B.PRESENCE".into()),
            ..Default::default()
        });
        assert_eq!(page.entries.len(), 5);
        assert!(page.entries.iter().all(|e| e.seq % 2 == 0));
    }

    #[test]
    fn unsend_removes_only_that_channel() {
        let mut l = ledger_with(4, 100);
        l.unsend("ch1", &[2, 3, 99]);
        let page = l.query(&LedgerFilter {
            channel: Some("ch1".into()),
            ..Default::default()
        });
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 4]
        );
        let page = l.query(&LedgerFilter {
            channel: Some("ch2".into()),
            ..Default::default()
        });
        assert_eq!(page.entries.len(), 4);
    }

    #[test]
    fn capacity_drops_the_oldest() {
        let l = ledger_with(10, 4);
        let page = l.query(&LedgerFilter::default());
        assert_eq!(page.oldest_seq, Some(7));
        assert_eq!(page.last_seq, 10);
        assert_eq!(page.entries.len(), 4);
        let page = l.query(&LedgerFilter {
            after_seq: Some(2),
            ..Default::default()
        });
        assert_eq!(page.entries.first().map(|e| e.seq), Some(7));
    }
}
