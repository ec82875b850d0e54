//! The one body of `impl Store`, written with [`sqlx::QueryBuilder`] so that it compiles for each backend.

/// `impl Store for $store`, in a module `shared_sql` of the invoking module. `$store` is a type of the invoking
/// module that implements [`Dialect`](super::Dialect) and has a field `pool: sqlx::Pool<$db>`; `$db` (a full path) binds and
/// decodes the dialect's types.
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        mod shared_sql {
            use chrono::{DateTime, Utc};

            use super::$store;
            use $crate::secrets::Sealed;
            use $crate::store::common::{
                DEFAULT_AUDIT_LIMIT, DEFAULT_GAP_LIMIT, MAX_AUDIT_LIMIT, MAX_GAP_LIMIT, corrupt, dedupe_topics,
                distinct_topic_keys, effective_limit, json_text, latest_proofs,
            };
            use $crate::gap::backfill::GapBackfill;
            use $crate::store::rows::{
                AuditRow, ChannelRow, ClientRow, DeadLetterRow, GapRow, Record, RouteRow, SinkRow, TenantRow,
                TopicRow,
            };
            use $crate::store::sql::{BATCH, Dialect};
            use $crate::store::{
                AuditFilter, AuditRecord, ChannelRecord, ClientRecord, DeadLetter, GapFilter, GapRecord, Lease,
                RouteRecord, SinkRecord, Store, StoreError, TenantRecord, TopicRecord,
            };

            type Query = sqlx::QueryBuilder<$db>;

            #[async_trait::async_trait]
            impl Store for $store {
                async fn upsert_channel(&self, record: &ChannelRecord) -> Result<(), StoreError> {
                    self.write_channel(record, None).await.map(|_| ())
                }

                async fn upsert_channel_fenced(
                    &self,
                    record: &ChannelRecord,
                    lease: &Lease,
                ) -> Result<bool, StoreError> {
                    self.write_channel(record, Some(lease)).await
                }

                async fn remove_channel(&self, channel_id: &str) -> Result<(), StoreError> {
                    // Removing an unknown channel is not an error: the caller wants it gone, and it is.
                    let mut query = Query::new("DELETE FROM channels WHERE channel_id = ");
                    query.push_bind(channel_id);
                    self.execute(query, || format!("removing channel {channel_id}"))
                        .await?;
                    Ok(())
                }

                async fn channels(&self, tenant: &str) -> Result<Vec<ChannelRecord>, StoreError> {
                    // channel_id breaks ties so the order is stable from one call to the next.
                    let mut query = Query::new(
                        "SELECT channel_id, tenant, region, client_id, connect_uri, expires_at, \
                         token_expires_at, topics, updated_at FROM channels WHERE tenant = ",
                    );
                    query
                        .push_bind(tenant)
                        .push(" ORDER BY updated_at, channel_id");
                    self.fetch::<ChannelRow<Self>, _>(query, || {
                        format!("reading the channels of tenant {tenant}")
                    })
                    .await
                }

                async fn touch_channels(
                    &self,
                    tenant: &str,
                    proofs: &[(String, DateTime<Utc>)],
                ) -> Result<usize, StoreError> {
                    self.write_proofs(tenant, proofs, None).await
                }

                async fn touch_channels_fenced(
                    &self,
                    tenant: &str,
                    proofs: &[(String, DateTime<Utc>)],
                    lease: &Lease,
                ) -> Result<usize, StoreError> {
                    self.write_proofs(tenant, proofs, Some(lease)).await
                }

                async fn record_gap(&self, gap: &GapRecord) -> Result<(), StoreError> {
                    let context = || self.context(format_args!("recording gap {}", gap.id));
                    let topics = Self::list("topics", &gap.topics).map_err(|e| corrupt(&context(), e))?;
                    // A gap id seen again is a retry of a write whose outcome the caller did not learn: keep
                    // the first copy rather than fail or duplicate.
                    let mut query = Query::new(
                        "INSERT INTO gaps (id, tenant, region, channel_id, topics, from_at, to_at, reason, backfill) ",
                    );
                    let backfill = json_text(gap.backfill.as_ref());
                    query.push_values([gap], |mut row, g| {
                        row.push_bind(&g.id)
                            .push_bind(&g.tenant)
                            .push_bind(&g.region)
                            .push_bind(&g.channel_id)
                            .push_bind(&topics)
                            .push_bind(Self::time(g.from))
                            .push_bind(Self::time(g.to))
                            .push_bind(&g.reason)
                            .push_bind(backfill.clone());
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    self.execute(query, || format!("recording gap {}", gap.id))
                        .await?;
                    Ok(())
                }

                async fn set_gap_backfill(&self, id: &str, backfill: &GapBackfill) -> Result<bool, StoreError> {
                    let mut query = Query::new("UPDATE gaps SET backfill = ");
                    query
                        .push_bind(json_text(Some(backfill)))
                        .push(" WHERE id = ")
                        .push_bind(id);
                    let changed = self
                        .execute(query, || format!("recording the backfill of gap {id}"))
                        .await?;
                    Ok(changed > 0)
                }

                async fn gaps(&self, filter: &GapFilter) -> Result<Vec<GapRecord>, StoreError> {
                    let limit = effective_limit(filter.limit, DEFAULT_GAP_LIMIT, MAX_GAP_LIMIT);
                    if limit == 0 {
                        return Ok(Vec::new());
                    }
                    // Conditions are added only when the filter sets them (rather than `? IS NULL OR ...`)
                    // so the (tenant, from_at) index can be used. Only fixed fragments are pushed; values are
                    // bound.
                    let mut query = Query::new(
                        "SELECT id, tenant, region, channel_id, topics, from_at, to_at, reason, backfill FROM gaps \
                         WHERE 1 = 1",
                    );
                    if let Some(tenant) = &filter.tenant {
                        query.push(" AND tenant = ").push_bind(tenant.as_str());
                    }
                    if let Some(since) = filter.since {
                        query.push(" AND to_at >= ").push_bind(Self::time(since));
                    }
                    if let Some(until) = filter.until {
                        query.push(" AND from_at <= ").push_bind(Self::time(until));
                    }
                    // id breaks ties so the order (and what a limit cuts off) is stable from one call to
                    // the next.
                    query.push(" ORDER BY from_at, id LIMIT ").push_bind(limit);
                    self.fetch::<GapRow<Self>, _>(query, || "reading gaps")
                        .await
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    // Touches the schema, not just the connection, so a database whose tables vanished is not
                    // ready.
                    let query = Query::new("SELECT 1 FROM channels LIMIT 0");
                    self.execute(query, || "checking the store answers").await?;
                    Ok(())
                }

                async fn upsert_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
                    // created_at is not in the update list: the first value stays.
                    let mut query = Query::new(
                        "INSERT INTO tenants (id, region, api_base, login_base, paused, ca_file, created_at, \
                         updated_at, backfill, templates) ",
                    );
                    query.push_values([tenant], |mut row, t| {
                        row.push_bind(&t.id)
                            .push_bind(&t.region)
                            .push_bind(&t.api_base)
                            .push_bind(&t.login_base)
                            .push_bind(t.paused)
                            .push_bind(t.ca_file.as_deref())
                            .push_bind(Self::time(t.created_at))
                            .push_bind(Self::time(t.updated_at))
                            .push_bind(json_text(t.backfill.as_ref()))
                            .push_bind(json_text(t.templates.as_ref()));
                    });
                    query.push(
                        " ON CONFLICT (id) DO UPDATE SET region = excluded.region, \
                         api_base = excluded.api_base, login_base = excluded.login_base, \
                         paused = excluded.paused, ca_file = excluded.ca_file, \
                         updated_at = excluded.updated_at, backfill = excluded.backfill, \
                         templates = excluded.templates",
                    );
                    self.execute(query, || format!("saving tenant {}", tenant.id))
                        .await?;
                    Ok(())
                }

                async fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError> {
                    let mut query = Query::new(
                        "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at, \
                         backfill, templates FROM tenants WHERE id = ",
                    );
                    query.push_bind(id);
                    Ok(self
                        .fetch::<TenantRow<Self>, _>(query, || format!("reading tenant {id}"))
                        .await?
                        .pop())
                }

                async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
                    let query = Query::new(
                        "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at, \
                         backfill, templates FROM tenants ORDER BY id",
                    );
                    self.fetch::<TenantRow<Self>, _>(query, || "reading the tenants")
                        .await
                }

                async fn delete_tenant(&self, id: &str) -> Result<bool, StoreError> {
                    // The foreign keys cascade too; deleting explicitly does not depend on the connection
                    // enforcing them, and channels have no foreign key (a channel record may precede its
                    // tenant's).
                    let statements = [
                        "DELETE FROM clients WHERE tenant = ",
                        "DELETE FROM topics WHERE tenant = ",
                        "DELETE FROM channels WHERE tenant = ",
                        "DELETE FROM tenants WHERE id = ",
                    ]
                    .map(|statement| {
                        let mut query = Query::new(statement);
                        query.push_bind(id);
                        query
                    });
                    let deleted = self
                        .transaction(statements, || format!("deleting tenant {id}"), None)
                        .await?;
                    // What the last statement, on tenants, deleted.
                    Ok(deleted.last().is_some_and(|&rows| rows > 0))
                }

                async fn upsert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
                    let context = || {
                        self.context(format_args!(
                            "saving client {} of tenant {}",
                            client.id, client.tenant
                        ))
                    };
                    let mut query = Query::new("INSERT INTO clients (tenant, id, secret, updated_at) ");
                    query.push_values([client], |mut row, c| {
                        row.push_bind(&c.tenant)
                            .push_bind(&c.id)
                            .push_bind(c.secret.to_text())
                            .push_bind(Self::time(c.updated_at));
                    });
                    query.push(
                        " ON CONFLICT (tenant, id) DO UPDATE SET secret = excluded.secret, \
                         updated_at = excluded.updated_at",
                    );
                    query
                        .build()
                        .execute(&self.pool)
                        .await
                        .map_err(|e| self.missing_tenant(&context(), &client.tenant, e))?;
                    Ok(())
                }

                async fn clients(&self, tenant: &str) -> Result<Vec<ClientRecord>, StoreError> {
                    let mut query =
                        Query::new("SELECT tenant, id, secret, updated_at FROM clients WHERE tenant = ");
                    query.push_bind(tenant).push(" ORDER BY id");
                    self.fetch::<ClientRow<Self>, _>(query, || {
                        format!("reading the clients of tenant {tenant}")
                    })
                    .await
                }

                async fn delete_client(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
                    let mut query = Query::new("DELETE FROM clients WHERE tenant = ");
                    query.push_bind(tenant).push(" AND id = ").push_bind(id);
                    let deleted = self
                        .execute(query, || format!("deleting client {id} of tenant {tenant}"))
                        .await?;
                    Ok(deleted > 0)
                }

                async fn add_topics(&self, tenant: &str, topics: &[TopicRecord]) -> Result<(), StoreError> {
                    let doing = || format!("adding {} topics to tenant {tenant}", topics.len());
                    let rows = dedupe_topics(topics);
                    if rows.is_empty() {
                        // Nothing to write, but adding to an unknown tenant is still an error.
                        return match self.tenant(tenant).await? {
                            Some(_) => Ok(()),
                            None => Err(StoreError::NotFound(format!(
                                "{}: tenant {tenant} does not exist",
                                self.context(doing())
                            ))),
                        };
                    }
                    let statements = rows.chunks(BATCH).map(|chunk| {
                        // Keys are distinct (deduplicated above), as ON CONFLICT DO UPDATE requires.
                        let mut query = Query::new("INSERT INTO topics (tenant, name_key, name, priority) ");
                        query.push_values(chunk, |mut row, (key, name, priority)| {
                            row.push_bind(tenant)
                                .push_bind(key.as_str())
                                .push_bind(*name)
                                .push_bind(*priority);
                        });
                        query.push(
                            " ON CONFLICT (tenant, name_key) DO UPDATE SET name = excluded.name, \
                             priority = excluded.priority",
                        );
                        query
                    });
                    self.transaction(statements, doing, Some(tenant)).await?;
                    Ok(())
                }

                async fn remove_topics(&self, tenant: &str, names: &[String]) -> Result<usize, StoreError> {
                    let keys = distinct_topic_keys(names);
                    let doing = || format!("removing {} topics from tenant {tenant}", names.len());
                    self.delete_in("topics", ("tenant", tenant), "name_key", &keys, doing)
                        .await
                }

                async fn topics(&self, tenant: &str) -> Result<Vec<TopicRecord>, StoreError> {
                    let mut query = Query::new("SELECT name, priority FROM topics WHERE tenant = ");
                    query.push_bind(tenant).push(" ORDER BY name");
                    self.fetch::<TopicRow, _>(query, || format!("reading the topics of tenant {tenant}"))
                        .await
                }

                async fn upsert_sink(&self, sink: &SinkRecord) -> Result<(), StoreError> {
                    let mut query = Query::new("INSERT INTO sinks (name, kind, settings, updated_at) ");
                    query.push_values([sink], |mut row, s| {
                        row.push_bind(&s.name)
                            .push_bind(&s.kind)
                            .push_bind(Self::doc(&s.settings))
                            .push_bind(Self::time(s.updated_at));
                    });
                    query.push(
                        " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
                         settings = excluded.settings, updated_at = excluded.updated_at",
                    );
                    self.execute(query, || format!("saving sink {}", sink.name))
                        .await?;
                    Ok(())
                }

                async fn sink(&self, name: &str) -> Result<Option<SinkRecord>, StoreError> {
                    let mut query =
                        Query::new("SELECT name, kind, settings, updated_at FROM sinks WHERE name = ");
                    query.push_bind(name);
                    Ok(self
                        .fetch::<SinkRow<Self>, _>(query, || format!("reading sink {name}"))
                        .await?
                        .pop())
                }

                async fn sinks(&self) -> Result<Vec<SinkRecord>, StoreError> {
                    let query = Query::new("SELECT name, kind, settings, updated_at FROM sinks ORDER BY name");
                    self.fetch::<SinkRow<Self>, _>(query, || "reading the sinks")
                        .await
                }

                async fn delete_sink(&self, name: &str) -> Result<bool, StoreError> {
                    let mut query = Query::new("DELETE FROM sinks WHERE name = ");
                    query.push_bind(name);
                    Ok(self
                        .execute(query, || format!("deleting sink {name}"))
                        .await?
                        > 0)
                }

                async fn upsert_route(&self, route: &RouteRecord) -> Result<(), StoreError> {
                    let context = || self.context(format_args!("saving route {}", route.id));
                    let list = |what: &str, list: &[String]| {
                        Self::list(what, list).map_err(|e| corrupt(&context(), e))
                    };
                    let (tenants, sinks, topics) = (
                        list("tenants", &route.tenants)?,
                        list("sinks", &route.sinks)?,
                        list("topics", &route.topics)?,
                    );
                    let mut query = Query::new(
                        "INSERT INTO routes (id, tenants, sinks, topics, changes_only, filter, updated_at) ",
                    );
                    query.push_values([route], |mut row, r| {
                        row.push_bind(&r.id)
                            .push_bind(&tenants)
                            .push_bind(&sinks)
                            .push_bind(&topics)
                            .push_bind(r.changes_only)
                            .push_bind(&r.filter)
                            .push_bind(Self::time(r.updated_at));
                    });
                    query.push(
                        " ON CONFLICT (id) DO UPDATE SET tenants = excluded.tenants, \
                         sinks = excluded.sinks, topics = excluded.topics, \
                         changes_only = excluded.changes_only, filter = excluded.filter, \
                         updated_at = excluded.updated_at",
                    );
                    self.execute(query, || format!("saving route {}", route.id))
                        .await?;
                    Ok(())
                }

                async fn routes(&self) -> Result<Vec<RouteRecord>, StoreError> {
                    let query = Query::new(
                        "SELECT id, tenants, sinks, topics, changes_only, filter, updated_at FROM routes ORDER BY id",
                    );
                    self.fetch::<RouteRow<Self>, _>(query, || "reading the routes")
                        .await
                }

                async fn delete_route(&self, id: &str) -> Result<bool, StoreError> {
                    let mut query = Query::new("DELETE FROM routes WHERE id = ");
                    query.push_bind(id);
                    Ok(self
                        .execute(query, || format!("deleting route {id}"))
                        .await?
                        > 0)
                }

                async fn append_audit(&self, entry: &AuditRecord) -> Result<(), StoreError> {
                    // An id seen again is a retry: keep the first copy, as for gaps.
                    let mut query = Query::new("INSERT INTO audit (id, at, actor, action, target, details) ");
                    query.push_values([entry], |mut row, a| {
                        row.push_bind(&a.id)
                            .push_bind(Self::time(a.at))
                            .push_bind(&a.actor)
                            .push_bind(&a.action)
                            .push_bind(&a.target)
                            .push_bind(Self::doc(&a.details));
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    self.execute(query, || format!("appending audit entry {}", entry.id))
                        .await?;
                    Ok(())
                }

                async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
                    let limit = effective_limit(filter.limit, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT);
                    if limit == 0 {
                        return Ok(Vec::new());
                    }
                    let mut query =
                        Query::new("SELECT id, at, actor, action, target, details FROM audit WHERE 1 = 1");
                    if let Some(prefix) = &filter.target_prefix {
                        // substr counts characters, as chars() does; comparing (rather than LIKE) keeps the
                        // match exact and case-sensitive, with no wildcard characters.
                        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
                        query
                            .push(" AND substr(target, 1, ")
                            .push_bind(length)
                            .push(") = ")
                            .push_bind(prefix.as_str());
                    }
                    if let Some(since) = filter.since {
                        query.push(" AND at >= ").push_bind(Self::time(since));
                    }
                    if let Some(until) = filter.until {
                        query.push(" AND at <= ").push_bind(Self::time(until));
                    }
                    query
                        .push(" ORDER BY at DESC, seq DESC LIMIT ")
                        .push_bind(limit);
                    self.fetch::<AuditRow<Self>, _>(query, || "reading the audit log")
                        .await
                }

                async fn add_dead_letters(&self, letters: &[DeadLetter], keep: usize) -> Result<usize, StoreError> {
                    let inserts = letters.chunks(BATCH).map(|chunk| {
                        let mut query = Query::new("INSERT INTO dead_letters (id, sink, at, reason, json) ");
                        query.push_values(chunk, |mut row, l| {
                            row.push_bind(&l.id)
                                .push_bind(&l.sink)
                                .push_bind(Self::time(l.at))
                                .push_bind(&l.reason)
                                .push_bind(&l.json);
                        });
                        query.push(" ON CONFLICT (id) DO NOTHING");
                        query
                    });
                    // Then, for each sink written, the rows past the newest `keep` (in the order `dead_letters`
                    // reads them) go, in the same transaction. The subquery walks the (sink, at, seq) index
                    // from the newest end: at most `keep` entries are skipped, so the cost is bounded by the
                    // bound. LIMIT is required before OFFSET by SQLite; i64::MAX means no limit on both.
                    let mut sinks: Vec<&str> = letters.iter().map(|l| l.sink.as_str()).collect();
                    sinks.sort_unstable();
                    sinks.dedup();
                    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
                    let trims = sinks.iter().map(|sink| {
                        let mut query = Query::new("DELETE FROM dead_letters WHERE sink = ");
                        query
                            .push_bind(*sink)
                            .push(" AND seq IN (SELECT seq FROM dead_letters WHERE sink = ")
                            .push_bind(*sink)
                            .push(" ORDER BY at DESC, seq DESC LIMIT ")
                            .push_bind(i64::MAX)
                            .push(" OFFSET ")
                            .push_bind(keep)
                            .push(")");
                        query
                    });
                    let statements: Vec<Query> = inserts.collect();
                    let written = statements.len();
                    let changed = self
                        .transaction(statements.into_iter().chain(trims), || "saving dead letters", None)
                        .await?;
                    let dropped: u64 = changed.iter().skip(written).sum();
                    Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
                }

                async fn dead_letters(&self, sink: &str, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
                    let mut query =
                        Query::new("SELECT id, sink, at, reason, json FROM dead_letters WHERE sink = ");
                    query
                        .push_bind(sink)
                        .push(" ORDER BY at DESC, seq DESC LIMIT ")
                        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                    self.fetch::<DeadLetterRow<Self>, _>(query, || {
                        format!("reading the dead letters of sink {sink}")
                    })
                    .await
                }

                async fn remove_dead_letters(&self, sink: &str, ids: &[String]) -> Result<usize, StoreError> {
                    let mut ids = ids.to_vec();
                    ids.sort_unstable();
                    ids.dedup();
                    let doing = || format!("removing dead letters of sink {sink}");
                    self.delete_in("dead_letters", ("sink", sink), "id", &ids, doing)
                        .await
                }

                async fn all_sealed_secrets(&self) -> Result<Vec<ClientRecord>, StoreError> {
                    let query =
                        Query::new("SELECT tenant, id, secret, updated_at FROM clients ORDER BY tenant, id");
                    self.fetch::<ClientRow<Self>, _>(query, || "reading every client secret")
                        .await
                }

                async fn replace_sealed(
                    &self,
                    tenant: &str,
                    client: &str,
                    previous: &Sealed,
                    sealed: &Sealed,
                ) -> Result<bool, StoreError> {
                    let mut query = Query::new("UPDATE clients SET secret = ");
                    query
                        .push_bind(sealed.to_text())
                        .push(" WHERE tenant = ")
                        .push_bind(tenant)
                        .push(" AND id = ")
                        .push_bind(client)
                        .push(" AND secret = ")
                        .push_bind(previous.to_text());
                    let replaced = self
                        .execute(query, || {
                            format!("replacing the sealed secret of client {client} of tenant {tenant}")
                        })
                        .await?;
                    Ok(replaced > 0)
                }
            }
            $crate::store::sql::sql_helpers!($store, $db);
        }
    };
}

pub(in crate::store) use sql_store;
