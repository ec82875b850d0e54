//! Time-driven platform behaviour: channel expiry, token expiry (and, if configured, the channels that die with
//! their token), and the close after `socket_closing`.

use std::collections::HashSet;
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
        if now >= st.next_expiry {
            self.expire(&mut st, now);
        }
        self.run_scheduled(&mut st);
    }

    /// Removes expired channels and the channels of expired tokens; notes the next expiry.
    fn expire(&self, st: &mut super::State, now: chrono::DateTime<Utc>) {
        let expired: Vec<Arc<str>> = st
            .channels
            .values()
            .filter(|c| c.expires_at <= now)
            .map(|c| c.id.clone())
            .collect();
        for id in expired {
            Stats::bump(&self.stats.channels_expired);
            self.remove_channel(st, &id, Removal::Expired);
        }

        // A channel dies with the token that made it, if so configured (unknown on the platform). Revoked tokens
        // are not handled here: revocation removes their channels at once, whatever this setting says.
        if self.config.channels_die_with_token {
            let dead_token: Vec<Arc<str>> = st
                .channels
                .values()
                .filter(|c| st.tokens.get(&c.token).is_none_or(|t| t.expires_at <= now))
                .map(|c| c.id.clone())
                .collect();
            for id in dead_token {
                Stats::bump(&self.stats.channels_token_expired);
                self.remove_channel(st, &id, Removal::TokenExpired);
            }
        }
        // Expired tokens are kept a while so that using one is told 401, then forgotten. A token whose channels
        // outlived it is kept as long as they live, so that revoking the client's tokens still reaches them.
        let token_grace = chrono::Duration::hours(1);
        let in_use: HashSet<Arc<str>> = st.channels.values().map(|c| c.token.clone()).collect();
        st.tokens
            .retain(|k, t| t.expires_at + token_grace > now || in_use.contains(k));
        let next_channel = st.channels.values().map(|c| c.expires_at).min();
        let next_token = st
            .tokens
            .values()
            .filter(|t| t.expires_at > now)
            .map(|t| t.expires_at)
            .min();
        // A token kept for its channels is looked at again when they expire (`next_channel`).
        let forget_token = st
            .tokens
            .iter()
            .filter(|(k, _)| !in_use.contains(*k))
            .map(|(_, t)| t.expires_at + token_grace)
            .min();
        st.next_expiry = [next_channel, next_token, forget_token]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
    }

    fn run_scheduled(&self, st: &mut super::State) {
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
