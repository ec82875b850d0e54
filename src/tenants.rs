//! Tenant definitions between the configuration, the store and the engine.
//!
//! With a master key, the store is the source of truth: tenants of the configuration file are written to it
//! on first start (a seed), tenants added through the admin API are written to it, and the engine runs what
//! it holds. OAuth secrets are stored sealed. Without a master key, the engine runs the file's tenants and
//! the API cannot add any (it has nowhere safe to keep their secrets).

use std::collections::HashSet;

use chrono::Utc;

use crate::config::{
    ClientConfig, DEFAULT_TEMPLATE_SYNC, Endpoints, MIN_TEMPLATE_SYNC, TenantConfig, TopicConfig,
};
use crate::secrets::{MasterKey, client_aad};
use crate::store::{
    AuditRecord, ClientRecord, Store, StoreError, TemplateSettings, TenantRecord, TopicRecord,
};

/// Writes a tenant (definition, sealed clients, topics) so that the store holds exactly it.
pub async fn save(
    store: &dyn Store,
    key: &MasterKey,
    tenant: &TenantConfig,
) -> Result<(), StoreError> {
    let now = Utc::now();
    store
        .upsert_tenant(&TenantRecord {
            id: tenant.id.clone(),
            region: tenant.endpoints.region.clone(),
            api_base: tenant.endpoints.api_base.clone(),
            login_base: tenant.endpoints.login_base.clone(),
            paused: tenant.paused,
            ca_file: tenant.ca_file.as_ref().map(|p| p.display().to_string()),
            backfill: tenant.backfill.enabled().then_some(tenant.backfill),
            templates: (!tenant.templates.is_empty()).then(|| TemplateSettings {
                sync_interval_secs: tenant.template_sync_interval.as_secs(),
                templates: tenant.templates.clone(),
            }),
            created_at: now,
            updated_at: now,
        })
        .await?;
    let wanted: HashSet<&str> = tenant.clients.iter().map(|c| c.id.as_str()).collect();
    for old in store.clients(&tenant.id).await? {
        if !wanted.contains(old.id.as_str()) {
            store.delete_client(&tenant.id, &old.id).await?;
        }
    }
    for c in &tenant.clients {
        let sealed = key.seal(&c.secret, &client_aad(&tenant.id, &c.id));
        store
            .upsert_client(&ClientRecord {
                tenant: tenant.id.clone(),
                id: c.id.clone(),
                secret: sealed,
                updated_at: now,
            })
            .await?;
    }
    set_topics(store, &tenant.id, &tenant.topics).await
}

/// Makes the store's topics of a tenant exactly `topics`.
pub async fn set_topics(
    store: &dyn Store,
    tenant: &str,
    topics: &[TopicConfig],
) -> Result<(), StoreError> {
    let wanted: HashSet<String> = topics.iter().map(|t| t.name.to_ascii_lowercase()).collect();
    let stale: Vec<String> = store
        .topics(tenant)
        .await?
        .into_iter()
        .filter(|t| !wanted.contains(&t.name.to_ascii_lowercase()))
        .map(|t| t.name)
        .collect();
    if !stale.is_empty() {
        store.remove_topics(tenant, &stale).await?;
    }
    let records: Vec<TopicRecord> = topics
        .iter()
        .map(|t| TopicRecord {
            name: t.name.clone(),
            priority: t.priority,
        })
        .collect();
    if !records.is_empty() {
        store.add_topics(tenant, &records).await?;
    }
    // The tenant's updated_at says its definition changed: in cluster mode the instance that owns it sees the
    // change by that (see crate::cluster), whichever instance's API made it.
    if let Some(mut record) = store.tenant(tenant).await? {
        record.updated_at = Utc::now();
        store.upsert_tenant(&record).await?;
    }
    Ok(())
}

/// Reads one tenant back, opening its secrets. `Ok(None)` when it is not stored.
pub async fn load_one(
    store: &dyn Store,
    key: &MasterKey,
    id: &str,
) -> Result<Option<TenantConfig>, String> {
    let Some(t) = store.tenant(id).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut clients = Vec::new();
    for c in store.clients(id).await.map_err(|e| e.to_string())? {
        let secret = key
            .open(&c.secret, &client_aad(id, &c.id))
            .map_err(|e| format!("tenant {id}, client {}: cannot open the secret: {e}", c.id))?;
        clients.push(ClientConfig { id: c.id, secret });
    }
    let topics = store
        .topics(id)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|t| TopicConfig {
            name: t.name,
            priority: t.priority,
        })
        .collect();
    Ok(Some(TenantConfig {
        id: t.id,
        endpoints: Endpoints {
            region: t.region,
            api_base: t.api_base,
            login_base: t.login_base,
        },
        clients,
        topics,
        paused: t.paused,
        ca_file: t.ca_file.map(Into::into),
        backfill: t.backfill.unwrap_or_default(),
        template_sync_interval: t.templates.as_ref().map_or(DEFAULT_TEMPLATE_SYNC, |s| {
            std::time::Duration::from_secs(s.sync_interval_secs).max(MIN_TEMPLATE_SYNC)
        }),
        templates: t.templates.map(|s| s.templates).unwrap_or_default(),
    }))
}

/// Seeds the file's tenants the store does not have yet, then returns every stored tenant. A tenant whose
/// secrets cannot be opened is reported and left out (the others run).
pub async fn seed_and_load(
    store: &dyn Store,
    key: &MasterKey,
    seed: &[TenantConfig],
) -> Result<Vec<TenantConfig>, StoreError> {
    for t in seed {
        if store.tenant(&t.id).await?.is_none()
            && !known_before(store, &format!("tenants/{}", t.id)).await?
        {
            save(store, key, t).await?;
            audit(
                store,
                "config",
                "tenant.seed",
                &format!("tenants/{}", t.id),
                serde_json::json!({"topics": t.topics.len()}),
            )
            .await;
            tracing::info!(tenant = %t.id, "tenant seeded into the store from the configuration");
        }
    }
    let mut out = Vec::new();
    for record in store.tenants().await? {
        match load_one(store, key, &record.id).await {
            Ok(Some(t)) => out.push(t),
            Ok(None) => {}
            Err(e) => tracing::error!(tenant = %record.id, error = %e, "tenant left out"),
        }
    }
    Ok(out)
}

/// Whether the audit log has ever mentioned `target` exactly (seeded, created, changed or deleted): a file
/// entry the store lacks is seeded only if it is new, so that what an operator deleted through the API stays
/// deleted when the service restarts with the same file.
pub async fn known_before(store: &dyn Store, target: &str) -> Result<bool, StoreError> {
    let entries = store
        .audit(&crate::store::AuditFilter {
            target_prefix: Some(target.to_string()),
            since: None,
            until: None,
            limit: Some(10_000),
        })
        .await?;
    Ok(entries.iter().any(|e| e.target == target))
}

/// Appends an audit entry; a failure is logged, not returned (the change itself was made).
pub async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
) {
    let entry = AuditRecord {
        id: uuid::Uuid::new_v4().to_string(),
        at: Utc::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        details,
    };
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(action, target, error = %e, "could not write the audit log");
    }
}
