//! The continuity tracker: remembers the last proof of life of a channel and turns a loss of continuity into
//! a gap once it is regained. A gap starts [`GAP_LEAD`] before the last proof of life (for transit and clock
//! differences) and ends when a socket is live again.

use chrono::{DateTime, Utc};

use super::GapReason;

/// Gaps start this long before the last proof of life.
pub const GAP_LEAD: chrono::Duration = chrono::Duration::seconds(2);

/// A loss of continuity that has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: GapReason,
}

#[derive(Debug, Clone, Default)]
pub struct Continuity {
    last_proof: Option<DateTime<Utc>>,
    /// Continuity is lost since this time, for this reason.
    lost: Option<(DateTime<Utc>, GapReason)>,
}

impl Continuity {
    /// A frame arrived on the live socket at `at`.
    pub fn proof(&mut self, at: DateTime<Utc>) {
        self.last_proof = Some(at);
    }

    /// The last moment continuity is known to have held.
    pub fn last_proof(&self) -> Option<DateTime<Utc>> {
        self.last_proof
    }

    /// Continuity is lost (a socket died, the process restarted): from the last proof of life, if there was
    /// one. A second loss before continuity is regained changes nothing: the gap is the first one's.
    pub fn lost(&mut self, reason: GapReason) {
        if self.lost.is_none()
            && let Some(proof) = self.last_proof
        {
            self.lost = Some((proof - GAP_LEAD, reason));
        }
    }

    /// An earlier process last had proof of life at `proof`: continuity is lost since then.
    pub fn resumed_after(&mut self, proof: DateTime<Utc>, reason: GapReason) {
        self.last_proof = Some(proof);
        self.lost(reason);
    }

    /// Whether continuity is lost now.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// A socket is live again at `at`: the gap since continuity was lost, if it was.
    pub fn regained(&mut self, at: DateTime<Utc>) -> Option<Gap> {
        self.last_proof = Some(at);
        let (from, reason) = self.lost.take()?;
        Some(Gap {
            from,
            to: at.max(from),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_loss_becomes_a_gap_from_the_last_proof_to_the_regain() {
        let mut c = Continuity::default();
        assert_eq!(c.regained(t(0)), None, "the first connect is no gap");
        c.proof(t(10));
        c.lost(GapReason::SocketLost);
        c.lost(GapReason::HeartbeatTimeout);
        assert!(c.is_lost());
        assert_eq!(
            c.regained(t(13)),
            Some(Gap {
                from: t(10) - GAP_LEAD,
                to: t(13),
                reason: GapReason::SocketLost
            }),
            "the first reason stands"
        );
        assert_eq!(c.regained(t(14)), None, "a gap is reported once");
    }

    #[test]
    fn nothing_is_lost_before_the_first_proof_of_life() {
        let mut c = Continuity::default();
        c.lost(GapReason::SocketLost);
        assert!(!c.is_lost());
    }

    #[test]
    fn a_restart_gap_starts_at_the_earlier_process_last_proof() {
        let mut c = Continuity::default();
        c.resumed_after(t(100), GapReason::Restart);
        let gap = c.regained(t(112)).unwrap();
        assert_eq!(
            (gap.from, gap.to, gap.reason),
            (t(98), t(112), GapReason::Restart)
        );
    }
}
