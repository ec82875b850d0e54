//! The start: the configuration file's sinks and routes the store lacks are written to it, then what the
//! store holds is read back.

use super::*;

/// Seeds the file's sinks and routes the store lacks (file routes have no id: the `n`th is `config-n`), then
/// reads back what the store holds. A stored sink that cannot run (unknown kind, bad settings, a file another
/// sink writes) or route that cannot (a filter that does not compile) is reported and left out.
pub(super) async fn seed_and_load(
    store: &dyn Store,
    key: Option<&MasterKey>,
    file_sinks: &[SinkConfig],
    file_routes: &[RouteConfig],
) -> Result<(Vec<(SinkConfig, DateTime<Utc>)>, Vec<RunningRoute>), StoreError> {
    let now = now_millis();
    for s in file_sinks {
        if store.sink(&s.name).await?.is_none()
            && !crate::tenants::known_before(store, &format!("sinks/{}", s.name)).await?
        {
            let record = sink_record(s, now, key);
            store.upsert_sink(&record).await?;
            crate::tenants::audit(
                store,
                "config",
                "sink.seed",
                &format!("sinks/{}", s.name),
                serde_json::json!({"kind": record.kind, "settings": s.kind.settings()}),
            )
            .await;
            tracing::info!(sink = %s.name, "sink seeded into the store from the configuration");
        }
    }
    let stored: HashSet<String> = store.routes().await?.into_iter().map(|r| r.id).collect();
    for (i, r) in file_routes.iter().enumerate() {
        let id = format!("config-{}", i + 1);
        if stored.contains(&id)
            || crate::tenants::known_before(store, &format!("routes/{id}")).await?
        {
            continue;
        }
        let record = route_record(&id, r, now);
        store.upsert_route(&record).await?;
        crate::tenants::audit(
            store,
            "config",
            "route.seed",
            &format!("routes/{id}"),
            route_audit(&record),
        )
        .await;
        tracing::info!(route = %id, "route seeded into the store from the configuration");
    }
    let mut sinks: Vec<(SinkConfig, DateTime<Utc>)> = Vec::new();
    for record in store.sinks().await? {
        match sink_from_record(&record, key, file_sinks) {
            Ok(config) => {
                let dest = config.kind.destination();
                if let Some((other, _)) = sinks.iter().find(|(o, _)| {
                    matches!(dest, Destination::File(_)) && o.kind.destination() == dest
                }) {
                    tracing::error!(sink = %record.name, other = %other.name, "sink left out: another sink writes its file");
                } else {
                    sinks.push((config, record.updated_at));
                }
            }
            Err(e) => tracing::error!(sink = %record.name, error = %e, "sink left out"),
        }
    }
    let mut routes = Vec::new();
    for r in store.routes().await? {
        // Compiled once here; a route whose filter does not compile is left out, as a sink that cannot run
        // is: delivering everything a filter was set to hold back is no safer than delivering nothing.
        let config = match route_config(&r) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(route = %r.id, error = %e, "route left out");
                continue;
            }
        };
        for s in r
            .sinks
            .iter()
            .filter(|s| !sinks.iter().any(|(c, _)| c.name == **s))
        {
            tracing::warn!(route = %r.id, sink = %s, "the route names a sink that is not running; that sink is skipped");
        }
        routes.push(RunningRoute { record: r, config });
    }
    Ok((sinks, routes))
}
