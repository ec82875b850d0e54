//! Master key rotation: re-sealing every stored client secret under a new key.

use super::{Store, StoreError};
use crate::secrets::{MasterKey, SecretsError, client_aad};

/// How many times rotation re-reads the clients when some changed while it was re-sealing them.
const MAX_ROUNDS: usize = 3;

/// Why [`rotate_master_key`] failed. Messages name tenants, clients and key ids, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The store failed; what was re-sealed before stays re-sealed (and is skipped by a new run).
    #[error("while rotating the master key: {0}")]
    Store(#[from] StoreError),
    /// A secret could not be opened with the old key. Nothing of the round was written.
    #[error(
        "while rotating the master key from {old} to {new}: cannot open the secret of client {client} of \
         tenant {tenant}: {source} (no secret was changed in this pass; {resealed} re-sealed by an earlier \
         pass of this run)"
    )]
    Open {
        /// The client's tenant.
        tenant: String,
        /// The client's id.
        client: String,
        /// Id of the old key.
        old: String,
        /// Id of the new key.
        new: String,
        /// How many secrets earlier passes of this run had re-sealed.
        resealed: usize,
        /// Why it did not open.
        #[source]
        source: SecretsError,
    },
    /// Clients kept changing while rotation re-sealed them.
    #[error(
        "while rotating the master key from {old} to {new}: {pending} client secrets changed while being \
         re-sealed, {MAX_ROUNDS} times in a row ({resealed} re-sealed); run the rotation again"
    )]
    Contended {
        /// Id of the old key.
        old: String,
        /// Id of the new key.
        new: String,
        /// Secrets re-sealed so far.
        resealed: usize,
        /// Secrets still sealed by another key.
        pending: usize,
    },
}

/// Re-seals every client secret sealed by `old` under `new`, in place; returns how many were re-sealed.
///
/// Secrets already sealed by `new` are skipped, so the rotation is idempotent and a rotation that was
/// interrupted can simply be run again. Every secret to re-seal is opened with `old` before anything is
/// written: if one does not open (wrong old key, a secret sealed by a third key, tampering), the rotation
/// fails naming that client and changes nothing. Each new seal is checked to open with `new` before it is
/// written, and written only if the stored secret is still the one that was read (see
/// [`Store::replace_sealed`]); secrets changed meanwhile are read again, up to three passes.
pub async fn rotate_master_key(
    store: &dyn Store,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<usize, RotateError> {
    let old_id = old.id();
    let new_id = new.id();
    let mut resealed = 0;
    let mut pending = 0;
    for _ in 0..MAX_ROUNDS {
        pending = 0;
        let clients: Vec<_> = store
            .all_sealed_secrets()
            .await?
            .into_iter()
            .filter(|client| client.secret.key_id != new_id)
            .collect();
        if clients.is_empty() {
            break;
        }

        // Open and re-seal everything before writing anything.
        let mut plan = Vec::with_capacity(clients.len());
        for client in clients {
            let aad = client_aad(&client.tenant, &client.id);
            let open_error = |source| RotateError::Open {
                tenant: client.tenant.clone(),
                client: client.id.clone(),
                old: old_id.clone(),
                new: new_id.clone(),
                resealed,
                source,
            };
            let secret = old.open(&client.secret, &aad).map_err(open_error)?;
            let sealed = new.seal(&secret, &aad);
            let check = new.open(&sealed, &aad).map_err(open_error)?;
            if check != secret {
                return Err(open_error(SecretsError::Malformed(
                    "re-sealing did not round-trip".to_owned(),
                )));
            }
            plan.push((client, sealed));
        }

        for (client, sealed) in plan {
            if store
                .replace_sealed(&client.tenant, &client.id, &client.secret, &sealed)
                .await?
            {
                resealed += 1;
            } else {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
    }
    if pending > 0 {
        return Err(RotateError::Contended {
            old: old_id,
            new: new_id,
            resealed,
            pending,
        });
    }
    tracing::info!(
        resealed,
        old_key = %old_id,
        new_key = %new_id,
        "re-sealed client secrets under the new master key"
    );
    Ok(resealed)
}
