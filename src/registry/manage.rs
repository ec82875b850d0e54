//! Changes of sinks and routes while the engine runs: each is checked, stored, then applied to the router.

use super::*;

impl EngineSinks {
    /// Seeds the store with the file's sinks and routes, opens every stored sink, and starts the router with
    /// them. Returns the manager, the router, and each starting sink's counters.
    // Each argument is a distinct piece of the engine's wiring, named at the one call site.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        store: Arc<dyn Store>,
        file_sinks: &[SinkConfig],
        file_routes: &[RouteConfig],
        key: Option<MasterKey>,
        workers: WorkerSettings,
        router: RouterSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(
        Arc<EngineSinks>,
        RouterHandle,
        Vec<(String, Arc<SinkStats>)>,
    )> {
        let (sinks, routes) = seed_and_load(store.as_ref(), key.as_ref(), file_sinks, file_routes)
            .await
            .context("while loading the sinks and routes from the store")?;
        let mut running = BTreeMap::new();
        for (config, updated_at) in sinks {
            let opened = sink::open(&workers.local(&config), &workers.egress)
                .with_context(|| format!("while opening sink {}", config.name))?;
            let (handle, done) =
                start_worker(&config.name, opened, store.clone(), &workers, &metrics);
            running.insert(
                config.name.clone(),
                Running {
                    stats: handle.stats.clone(),
                    config,
                    updated_at,
                    handle,
                    done,
                },
            );
        }
        let stats = running
            .iter()
            .map(|(name, r)| (name.clone(), r.stats.clone()))
            .collect();
        let entries: Vec<RouteEntry> = routes.iter().map(RunningRoute::entry).collect();
        let (router, task) = crate::router::spawn_on(
            &router,
            &entries,
            running.values().map(|r| r.handle.clone()).collect(),
            store.clone(),
            metrics.clone(),
        );
        let manager = EngineSinks {
            state: Mutex::new(State {
                sinks: running,
                routes: routes
                    .into_iter()
                    .map(|r| (r.record.id.clone(), r))
                    .collect(),
                retiring: Vec::new(),
                router: Some(task),
            }),
            router: router.queue.clone(),
            store,
            workers,
            key,
            metrics,
        };
        Ok((Arc::new(manager), router, stats))
    }

    /// Ends the flow at shutdown, once nothing more enters the router (the tenants are stopped): closes the
    /// router's queue (what it holds is still routed), then lets every sink worker write its queue and end.
    /// Changes of sinks and routes are refused from now on. Returns the workers (by sink name, `router` for the
    /// router) still at work when `within` ran out: a destination that never answers must not hold the process
    /// forever; what such a worker had moved to its spool is delivered by the next run.
    pub async fn drain(&self, within: std::time::Duration) -> Result<(), Vec<String>> {
        let deadline = tokio::time::Instant::now() + within;
        let (router, workers) = {
            let mut state = self.state.lock().await;
            let router = state.router.take();
            // The manager's own handles keep the workers' queues open: without them (and the router's, which
            // go when it ends) each worker ends once it has written its queue.
            let mut workers: Vec<(String, watch::Receiver<bool>)> =
                std::mem::take(&mut state.sinks)
                    .into_iter()
                    .map(|(name, r)| (name, r.done))
                    .collect();
            workers.extend(
                state
                    .retiring
                    .drain(..)
                    .map(|r| (format!("{} (replaced)", r.name), r.done)),
            );
            (router, workers)
        };
        let mut late = Vec::new();
        if let Some(router) = router {
            match tokio::time::timeout_at(deadline, router.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the router ended in a panic"),
                Err(_) => late.push("router".to_string()),
            }
        }
        for (name, mut done) in workers {
            // An error means the flag's sender is gone, which only happens once the worker has ended.
            if tokio::time::timeout_at(deadline, done.wait_for(|d| *d))
                .await
                .is_err()
            {
                late.push(name);
            }
        }
        if late.is_empty() { Ok(()) } else { Err(late) }
    }

    /// Refuses a change once [`EngineSinks::drain`] has begun.
    fn open(state: &State) -> Result<(), ManageError> {
        match state.router {
            Some(_) => Ok(()),
            None => Err(ManageError::Stopped),
        }
    }

    /// Every running sink, by name.
    pub async fn sinks(&self) -> Vec<SinkEntry> {
        let state = self.state.lock().await;
        state.sinks.values().map(Running::entry).collect()
    }

    /// The running sink `name`.
    pub async fn sink(&self, name: &str) -> Option<SinkEntry> {
        self.state.lock().await.sinks.get(name).map(Running::entry)
    }

    /// Every route, by id.
    pub async fn routes(&self) -> Vec<RouteRecord> {
        self.state
            .lock()
            .await
            .routes
            .values()
            .map(|r| r.record.clone())
            .collect()
    }

    /// Creates or replaces a sink (the config is valid in itself; this checks it against the other sinks):
    /// stores it, starts its worker and switches the router to it. Returns the sink and whether it is new.
    ///
    /// A replaced sink's worker finishes the records routed to it before the switch; when the new worker
    /// writes the same destination, it waits for that (and for any other retiring worker on it) before
    /// writing, so a file never has two writers and keeps its lines in routing order.
    pub async fn put_sink(&self, config: SinkConfig) -> Result<(SinkEntry, bool), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        state.retiring.retain(|r| !*r.done.borrow());
        let dest = config.kind.destination();
        if let Destination::File(path) = &dest
            && let Some(other) = state
                .sinks
                .values()
                .find(|r| r.config.name != config.name && r.config.kind.destination() == dest)
        {
            return Err(ManageError::Invalid(vec![format!(
                "path: {} is already written by sink {:?}",
                path.display(),
                other.config.name
            )]));
        }
        // Opening before anything changes reports a file that cannot be written (or settings the Kafka
        // client refuses) as the caller's mistake.
        config
            .kind
            .check_addresses(&self.workers.egress)
            .map_err(|(field, e)| ManageError::Invalid(vec![format!("{field}: {e}")]))?;
        let opened = sink::open(&self.workers.local(&config), &self.workers.egress)
            .map_err(|e| ManageError::Invalid(vec![config.kind.open_error(&e)]))?;
        let now = now_millis();
        let url_credentials = config.kind.settings()["url"]
            .as_str()
            .is_some_and(crate::settings::url_has_credentials);
        if (config.kind.secret().is_some() || url_credentials) && self.key.is_none() {
            return Err(ManageError::NoMasterKey);
        }
        self.store
            .upsert_sink(&sink_record(&config, now, self.key.as_ref()))
            .await?;
        let previous = state.sinks.remove(&config.name);
        let mut waiting: Vec<watch::Receiver<bool>> = state
            .retiring
            .iter()
            .filter(|r| r.destination == dest)
            .map(|r| r.done.clone())
            .collect();
        if let Some(p) = previous
            .as_ref()
            .filter(|p| p.config.kind.destination() == dest)
        {
            waiting.push(p.done.clone());
        }
        let sink: Box<dyn Sink> = if waiting.is_empty() {
            opened
        } else {
            // Re-opened once the others are done, so that the file's size (for rotation) counts their lines.
            drop(opened);
            Box::new(AfterPredecessors {
                waiting,
                config: self.workers.local(&config),
                sink: None,
                egress: self.workers.egress.clone(),
            })
        };
        let (handle, done) = start_worker(
            &config.name,
            sink,
            self.store.clone(),
            &self.workers,
            &self.metrics,
        );
        let created = previous.is_none();
        if let Some(p) = previous {
            state.retiring.push(p.retire());
        }
        let running = Running {
            stats: handle.stats.clone(),
            config,
            updated_at: now,
            handle,
            done,
        };
        let entry = running.entry();
        state.sinks.insert(running.config.name.clone(), running);
        self.apply(&state).await?;
        Ok((entry, created))
    }

    /// Sends the dead letters of sink `name` (at most `limit`, oldest first) to it again and removes them
    /// from the store; returns how many were re-queued. A record rejected again comes back as a new dead
    /// letter.
    pub async fn replay_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<usize, ManageError> {
        let handle = {
            let state = self.state.lock().await;
            Self::open(&state)?;
            state
                .sinks
                .get(name)
                .map(|r| r.handle.clone())
                .ok_or(ManageError::NotFound)?
        };
        let mut letters = self.store.dead_letters(name, limit).await?;
        letters.reverse();
        let mut sent = Vec::with_capacity(letters.len());
        for l in letters {
            #[derive(serde::Deserialize)]
            struct Probe {
                kind: Option<String>,
                tenant: Option<String>,
            }
            let probe: Probe = serde_json::from_str(&l.json).unwrap_or(Probe {
                kind: None,
                tenant: None,
            });
            let kind = match probe.kind.as_deref() {
                Some("gap") => sink::RecordKind::Gap,
                Some("backfill") => sink::RecordKind::Backfill,
                _ => sink::RecordKind::Event,
            };
            let delivery = Delivery {
                kind,
                received_ms: None,
                tenant: probe.tenant.unwrap_or_default().into(),
                json: bytes::Bytes::from(l.json.into_bytes()),
            };
            if !handle.send(delivery).await {
                break;
            }
            sent.push(l.id);
        }
        Ok(self
            .store
            .remove_dead_letters(name, &sent)
            .await?
            .min(sent.len()))
    }

    /// Deletes a sink no route names: forgotten by the store, and its worker ends once it has written what
    /// was routed to it.
    pub async fn delete_sink(&self, name: &str) -> Result<(), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        state.retiring.retain(|r| !*r.done.borrow());
        let users: Vec<String> = state
            .routes
            .values()
            .filter(|r| r.record.sinks.iter().any(|s| s == name))
            .map(|r| r.record.id.clone())
            .collect();
        if !users.is_empty() {
            return Err(ManageError::InUse(users));
        }
        // A stored sink that could not run (see `seed_and_load`) can still be deleted.
        let stored = self.store.delete_sink(name).await?;
        let Some(running) = state.sinks.remove(name) else {
            return if stored {
                Ok(())
            } else {
                Err(ManageError::NotFound)
            };
        };
        state.retiring.push(running.retire());
        self.metrics.remove_sink(name);
        self.apply(&state).await
    }

    /// Creates or replaces the route `id` (valid in itself; this checks that its sinks exist): stores it and
    /// switches the router to it. Returns the route and whether it is new.
    pub async fn put_route(
        &self,
        id: &str,
        route: RouteConfig,
    ) -> Result<(RouteRecord, bool), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        let unknown: Vec<String> = route
            .sinks
            .iter()
            .enumerate()
            .filter(|(_, s)| !state.sinks.contains_key(s.as_str()))
            .map(|(i, s)| format!("sinks[{i}]: {s:?} is not a sink"))
            .collect();
        if !unknown.is_empty() {
            return Err(ManageError::Invalid(unknown));
        }
        let record = route_record(id, &route, now_millis());
        self.store.upsert_route(&record).await?;
        let created = state
            .routes
            .insert(
                id.to_string(),
                RunningRoute {
                    record: record.clone(),
                    config: route,
                },
            )
            .is_none();
        self.apply(&state).await?;
        Ok((record, created))
    }

    /// Deletes the route `id`.
    pub async fn delete_route(&self, id: &str) -> Result<(), ManageError> {
        let mut state = self.state.lock().await;
        Self::open(&state)?;
        let stored = self.store.delete_route(id).await?;
        if state.routes.remove(id).is_none() {
            return if stored {
                Ok(())
            } else {
                Err(ManageError::NotFound)
            };
        }
        self.apply(&state).await
    }

    /// Sends the router the whole current set. Called with the lock held, so the router sees the changes in
    /// the order they were made.
    async fn apply(&self, state: &State) -> Result<(), ManageError> {
        let routes = state.routes.values().map(RunningRoute::entry).collect();
        let sinks = state.sinks.values().map(|r| r.handle.clone()).collect();
        self.router
            .send(Inbound::Reconfigure { routes, sinks })
            .await
            .map_err(|_| ManageError::Stopped)
    }
}

impl RunningRoute {
    /// The route as the router takes it.
    fn entry(&self) -> RouteEntry {
        RouteEntry {
            id: self.record.id.clone(),
            config: self.config.clone(),
        }
    }
}
