//! Time-driven platform behaviour: channel expiry, token expiry, and the close after `socket_closing`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::Sim;
use super::channels::Removal;
use crate::sim::stats::Stats;

impl Sim {
    /// Applies everything that has come due. Called on every clock tick.
    pub fn tick(&self) {
        let mut st = self.lock();
        let now = Utc::now();
        let expired: Vec<Arc<str>> = st
            .channels
            .values()
            .filter(|c| c.expires_at <= now)
            .map(|c| c.id.clone())
            .collect();
        for id in expired {
            Stats::bump(&self.stats.channels_expired);
            self.remove_channel(&mut st, &id, Removal::Expired);
        }

        // A channel dies with the token that made it.
        let dead_token: Vec<Arc<str>> = st
            .channels
            .values()
            .filter(|c| st.tokens.get(&c.token).is_none_or(|t| t.expires_at <= now))
            .map(|c| c.id.clone())
            .collect();
        for id in dead_token {
            self.remove_channel(&mut st, &id, Removal::TokenExpired);
        }
        let token_grace = chrono::Duration::hours(1);
        st.tokens.retain(|_, t| t.expires_at + token_grace > now);

        let instant = Instant::now();
        let due: Vec<_> = {
            let (due, later): (Vec<_>, Vec<_>) =
                st.scheduled.drain(..).partition(|s| s.due <= instant);
            st.scheduled = later;
            due
        };
        for s in due {
            if let Some(link) = st.channels.get(&s.channel).and_then(|c| c.socket.as_ref())
                && link.conn_id == s.conn_id
            {
                link.close(1001, "socket closing");
            }
        }
    }
}
