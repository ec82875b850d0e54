//! Where the membership loop finds the tenants and their definitions: the store (with a master key, the
//! source of truth, changed through any instance's API) or the configuration file.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::TenantConfig;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::tenant::StatusBoard;

/// Where the loop finds the tenants and their definitions.
pub struct Sources {
    pub store: Arc<dyn Store>,
    pub key: Option<MasterKey>,
    /// The configuration file's tenants (the only ones without a master key).
    pub file_tenants: Vec<TenantConfig>,
    /// Whether every channel of a tenant being handed over is live.
    pub board: Arc<StatusBoard>,
}

/// Every tenant's id with when its stored definition last changed: the store's (with a master key the store
/// is the source of truth), or the file's (which do not change while running).
pub(super) async fn tenant_versions(
    sources: &Sources,
) -> anyhow::Result<BTreeMap<String, Option<DateTime<Utc>>>> {
    Ok(match &sources.key {
        Some(_) => sources
            .store
            .tenants()
            .await?
            .into_iter()
            .map(|t| (t.id, Some(t.updated_at)))
            .collect(),
        None => sources
            .file_tenants
            .iter()
            .map(|t| (t.id.clone(), None))
            .collect(),
    })
}

/// A tenant's definition as it is now (changes made through any instance's API are in the store).
pub(super) async fn tenant_config(sources: &Sources, id: &str) -> Option<TenantConfig> {
    match &sources.key {
        Some(key) => match crate::tenants::load_one(sources.store.as_ref(), key, id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(tenant = %id, error = %e, "cluster: cannot load the tenant");
                None
            }
        },
        None => sources.file_tenants.iter().find(|t| t.id == id).cloned(),
    }
}
