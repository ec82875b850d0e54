//! The tenant's proofs of life: the last frame of each live channel, written to the store in one write for
//! the tenant every `proof_of_life_interval` (in cluster mode only under the tenant's lease).

use actix::prelude::*;
use tracing::Instrument;

use super::TenantActor;
use super::slot::Proof;

impl TenantActor {
    /// Writes the proof of life of every live channel that received a frame since its last write, in one
    /// store write for the tenant, so that a process killed without a graceful stop restarts with gaps that
    /// open at most `proof_of_life_interval` (plus the gap's lead) before it died, not when each channel was
    /// made.
    pub(super) fn persist_proofs(&mut self, ctx: &mut Context<Self>) {
        // Cluster mode: a fenced instance writes nothing for the tenant (another may own it by now).
        if self.proofs_in_flight.is_some() || !self.shared.fence.admit() {
            // The store is slow: this round's proofs go with the next one.
            return;
        }
        // The last frames from the channels' tallies, written as frames arrive: no channel is asked (its
        // channel id and phase it reports itself as they change).
        self.take_tallies();
        let due: Vec<(usize, Proof)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.proof_due()?)))
            .collect();
        if due.is_empty() {
            return;
        }
        let store = self.shared.store.clone();
        let tenant = self.config.id.clone();
        let shared = self.shared.clone();
        let write = async move {
            let proofs: Vec<Proof> = due.iter().map(|(_, p)| p.clone()).collect();
            let result = match &shared.lease {
                None => store.touch_channels(&tenant, &proofs).await,
                // Cluster mode: checked by the database too, since the local fence cannot see a lease
                // taken by another instance between two renewals.
                Some(lease) => {
                    let moved = store.touch_channels_fenced(&tenant, &proofs, lease).await;
                    if matches!(moved, Ok(0)) {
                        shared.fence.count_refusal();
                        tracing::warn!("proofs of life refused: the tenant's lease moved on");
                    }
                    moved
                }
            };
            (due, result)
        }
        .instrument(self.span.clone())
        .into_actor(self);
        let handle = ctx.spawn(write.map(|(due, result), act, _| {
            act.proofs_in_flight = None;
            let _span = act.span.clone().entered();
            match result {
                Ok(moved) => {
                    tracing::trace!(channels = due.len(), moved, "proofs of life stored");
                    for (i, proof) in due {
                        if let Some(slot) = act.slots.get_mut(i) {
                            slot.persisted.written(proof);
                        }
                    }
                }
                // Tried again at the next interval with newer proofs; the last one stored stays true, only older.
                Err(e) => {
                    tracing::warn!(error = %e, "could not store the channels' proofs of life")
                }
            }
        }));
        self.proofs_in_flight = Some(handle);
    }
}
