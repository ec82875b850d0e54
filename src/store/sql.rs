//! The SQL of every [`Store`](super::Store) operation, written once for both backends.
//!
//! A backend contributes its [`Dialect`]: how it keeps times, lists and JSON documents, how it classifies
//! errors and where its data lives (for messages). [`sql_store!`] then stamps out `impl Store` for it from
//! one body. Every statement is built with [`sqlx::QueryBuilder`], whose `push_bind` writes each backend's
//! placeholder (`?` or `$n`), and read into the `#[derive(sqlx::FromRow)]` rows of [`super::rows`].
//!
//! Why a macro rather than one generic `impl<DB: sqlx::Database> Store for SqlStore<DB>`: the generic impl
//! needs a dozen higher-ranked bounds (`for<'c> &'c mut DB::Connection: Executor<'c>`, `Encode`/`Decode`/`Type`
//! for every column type, `Send` for every future `async_trait` boxes) repeated on every helper, and its
//! errors are hard to read. The macro's body is compiled once per backend against concrete types, so each
//! backend is type-checked exactly as if written by hand, from a single text. `sqlx::Any` is no option: it
//! cannot carry PostgreSQL's TIMESTAMPTZ and JSONB columns.

use std::fmt::Display;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::common::is_foreign_key_violation;

/// Topic rows written by one statement (4 bound values each), dead letters or topic keys removed by one
/// statement (1 or 2 each), and channels whose proof of life one statement moves (2 each): well below
/// SQLite's limit of 32,766 and PostgreSQL's of 65,535 bound values per statement, and few statements for
/// tens of thousands of rows. A tenant has at most a few hundred channels, so a proof of life is nearly
/// always one statement.
pub(super) const BATCH: usize = 1000;

/// What differs between backends once the connection is open: the types columns are kept in and their
/// codecs, error classification, and where the data lives.
pub(super) trait Dialect: Sized + Send + Sync + 'static {
    /// How a time is kept (read back to the millisecond).
    type Time: Send;
    /// How a list of strings is kept.
    type List: Send;
    /// How a JSON document is kept.
    type Doc: Send;

    /// `at` as kept, truncated to the millisecond.
    fn time(at: DateTime<Utc>) -> Self::Time;
    /// Reads back a time of `column`.
    fn read_time(column: &str, kept: Self::Time) -> Result<DateTime<Utc>, String>;
    /// `list` as kept; `what` names it in an error.
    fn list(what: &str, list: &[String]) -> Result<Self::List, String>;
    /// Reads back a list of `column`.
    fn read_list(column: &str, kept: Self::List) -> Result<Vec<String>, String>;
    /// `doc` as kept.
    fn doc(doc: &serde_json::Value) -> Self::Doc;
    /// Reads back a JSON document of `column`.
    fn read_doc(column: &str, kept: Self::Doc) -> Result<serde_json::Value, String>;

    /// Where the data lives, for messages (never with credentials).
    fn location(&self) -> &str;
    /// Maps a sqlx error to the store's kinds, prefixed with `context`.
    fn error(&self, context: &str, err: sqlx::Error) -> StoreError;

    /// The context prefix of an error message: what was being done, and where.
    fn context(&self, doing: impl Display) -> String {
        format!("while {doing} in {}", self.location())
    }

    /// Maps an error of writing a row that belongs to `tenant`: a foreign key violation means the tenant is
    /// not stored.
    fn missing_tenant(&self, context: &str, tenant: &str, err: sqlx::Error) -> StoreError {
        if is_foreign_key_violation(&err) {
            StoreError::NotFound(format!("{context}: tenant {tenant} does not exist"))
        } else {
            self.error(context, err)
        }
    }
}

/// `impl Store for $store`, where `$store` implements [`Dialect`], has a field `pool: sqlx::Pool<$db>`, and
/// `$db` can bind and decode the dialect's types.
macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn upsert_channel(
                &self,
                record: &$crate::store::ChannelRecord,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                let context = || self.context(format_args!("saving channel {}", record.channel_id));
                let topics = <$store>::list("topics", &record.topics)
                    .map_err(|e| $crate::store::common::corrupt(&context(), e))?;
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, \
                     expires_at, token_expires_at, topics, updated_at) ",
                );
                query.push_values([record], |mut row, r| {
                    row.push_bind(&r.channel_id)
                        .push_bind(&r.tenant)
                        .push_bind(&r.region)
                        .push_bind(&r.client_id)
                        .push_bind(&r.connect_uri)
                        .push_bind(<$store>::time(r.expires_at))
                        .push_bind(<$store>::time(r.token_expires_at))
                        .push_bind(&topics)
                        .push_bind(<$store>::time(r.updated_at));
                });
                query.push(
                    " ON CONFLICT (channel_id) DO UPDATE SET tenant = excluded.tenant, \
                     region = excluded.region, client_id = excluded.client_id, \
                     connect_uri = excluded.connect_uri, expires_at = excluded.expires_at, \
                     token_expires_at = excluded.token_expires_at, topics = excluded.topics, \
                     updated_at = excluded.updated_at",
                );
                query
                    .build()
                    .execute(&self.pool)
                    .await
                    .map_err(|e| D::error(self, &context(), e))?;
                Ok(())
            }

            async fn remove_channel(
                &self,
                channel_id: &str,
            ) -> Result<(), $crate::store::StoreError> {
                // Removing an unknown channel is not an error: the caller wants it gone, and it is.
                let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM channels WHERE channel_id = ");
                query.push_bind(channel_id);
                self.execute(query, || format!("removing channel {channel_id}")).await?;
                Ok(())
            }

            async fn channels(
                &self,
                tenant: &str,
            ) -> Result<Vec<$crate::store::ChannelRecord>, $crate::store::StoreError> {
                // channel_id breaks ties so the order is stable from one call to the next.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT channel_id, tenant, region, client_id, connect_uri, expires_at, \
                     token_expires_at, topics, updated_at FROM channels WHERE tenant = ",
                );
                query.push_bind(tenant).push(" ORDER BY updated_at, channel_id");
                let context = || self.context(format_args!("reading the channels of tenant {tenant}"));
                let rows: Vec<$crate::store::rows::ChannelRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn touch_channels(
                &self,
                tenant: &str,
                proofs: &[(String, chrono::DateTime<chrono::Utc>)],
            ) -> Result<usize, $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                let context = || {
                    self.context(format_args!(
                        "storing the proofs of life of {} channels of tenant {tenant}",
                        proofs.len()
                    ))
                };
                // Ordered by id, so that concurrent writers take row locks in the same order.
                let proofs = $crate::store::common::latest_proofs(proofs);
                if proofs.is_empty() {
                    return Ok(0);
                }
                let mut moved: u64 = 0;
                let mut tx = self.pool.begin().await.map_err(|e| D::error(self, &context(), e))?;
                for chunk in proofs.chunks($crate::store::sql::BATCH) {
                    // One UPDATE for the whole chunk: the proofs as a table, joined to the tenant's channels.
                    let mut query = sqlx::QueryBuilder::<$db>::new("WITH proof (channel_id, at) AS (");
                    query.push_values(chunk, |mut row, (id, at)| {
                        row.push_bind(*id).push_bind(<$store>::time(*at));
                    });
                    query.push(
                        ") UPDATE channels SET updated_at = proof.at FROM proof \
                         WHERE channels.channel_id = proof.channel_id AND channels.updated_at < proof.at \
                         AND channels.tenant = ",
                    );
                    query.push_bind(tenant);
                    moved += query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| D::error(self, &context(), e))?
                        .rows_affected();
                }
                tx.commit().await.map_err(|e| D::error(self, &context(), e))?;
                Ok(usize::try_from(moved).unwrap_or(usize::MAX))
            }

            async fn record_gap(
                &self,
                gap: &$crate::store::GapRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let context = || self.context(format_args!("recording gap {}", gap.id));
                let topics = <$store>::list("topics", &gap.topics)
                    .map_err(|e| $crate::store::common::corrupt(&context(), e))?;
                // A gap id seen again is a retry of a write whose outcome the caller did not learn: keep
                // the first copy rather than fail or duplicate.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO gaps (id, tenant, region, channel_id, topics, from_at, to_at, reason) ",
                );
                query.push_values([gap], |mut row, g| {
                    row.push_bind(&g.id)
                        .push_bind(&g.tenant)
                        .push_bind(&g.region)
                        .push_bind(&g.channel_id)
                        .push_bind(&topics)
                        .push_bind(<$store>::time(g.from))
                        .push_bind(<$store>::time(g.to))
                        .push_bind(&g.reason);
                });
                query.push(" ON CONFLICT (id) DO NOTHING");
                self.execute(query, || format!("recording gap {}", gap.id)).await?;
                Ok(())
            }

            async fn gaps(
                &self,
                filter: &$crate::store::GapFilter,
            ) -> Result<Vec<$crate::store::GapRecord>, $crate::store::StoreError> {
                use $crate::store::common::{DEFAULT_GAP_LIMIT, MAX_GAP_LIMIT, effective_limit};
                let limit = effective_limit(filter.limit, DEFAULT_GAP_LIMIT, MAX_GAP_LIMIT);
                if limit == 0 {
                    return Ok(Vec::new());
                }
                // Conditions are added only when the filter sets them (rather than `? IS NULL OR ...`)
                // so the (tenant, from_at) index can be used. Only fixed fragments are pushed; values are
                // bound.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, tenant, region, channel_id, topics, from_at, to_at, reason FROM gaps \
                     WHERE 1 = 1",
                );
                if let Some(tenant) = &filter.tenant {
                    query.push(" AND tenant = ").push_bind(tenant.as_str());
                }
                if let Some(since) = filter.since {
                    query.push(" AND to_at >= ").push_bind(<$store>::time(since));
                }
                if let Some(until) = filter.until {
                    query.push(" AND from_at <= ").push_bind(<$store>::time(until));
                }
                // id breaks ties so the order (and what a limit cuts off) is stable from one call to
                // the next.
                query.push(" ORDER BY from_at, id LIMIT ").push_bind(limit);
                let context = || self.context("reading gaps");
                let rows: Vec<$crate::store::rows::GapRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                // Touches the schema, not just the connection, so a database whose tables vanished is not
                // ready.
                let query = sqlx::QueryBuilder::<$db>::new("SELECT 1 FROM channels LIMIT 0");
                self.execute(query, || "checking the store answers").await?;
                Ok(())
            }

            async fn upsert_tenant(
                &self,
                tenant: &$crate::store::TenantRecord,
            ) -> Result<(), $crate::store::StoreError> {
                // created_at is not in the update list: the first value stays.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO tenants (id, region, api_base, login_base, paused, ca_file, created_at, \
                     updated_at) ",
                );
                query.push_values([tenant], |mut row, t| {
                    row.push_bind(&t.id)
                        .push_bind(&t.region)
                        .push_bind(&t.api_base)
                        .push_bind(&t.login_base)
                        .push_bind(t.paused)
                        .push_bind(t.ca_file.as_deref())
                        .push_bind(<$store>::time(t.created_at))
                        .push_bind(<$store>::time(t.updated_at));
                });
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET region = excluded.region, \
                     api_base = excluded.api_base, login_base = excluded.login_base, \
                     paused = excluded.paused, ca_file = excluded.ca_file, \
                     updated_at = excluded.updated_at",
                );
                self.execute(query, || format!("saving tenant {}", tenant.id)).await?;
                Ok(())
            }

            async fn tenant(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::TenantRecord>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at \
                     FROM tenants WHERE id = ",
                );
                query.push_bind(id);
                let context = || self.context(format_args!("reading tenant {id}"));
                let rows: Vec<$crate::store::rows::TenantRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .next()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .transpose()
            }

            async fn tenants(
                &self,
            ) -> Result<Vec<$crate::store::TenantRecord>, $crate::store::StoreError> {
                let query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, region, api_base, login_base, paused, ca_file, created_at, updated_at \
                     FROM tenants ORDER BY id",
                );
                let context = || self.context("reading the tenants");
                let rows: Vec<$crate::store::rows::TenantRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn delete_tenant(&self, id: &str) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                let context = || self.context(format_args!("deleting tenant {id}"));
                let mut tx = self.pool.begin().await.map_err(|e| D::error(self, &context(), e))?;
                // The foreign keys cascade too; deleting explicitly does not depend on the connection
                // enforcing them, and channels have no foreign key (a channel record may precede its
                // tenant's).
                let mut deleted = 0;
                for statement in [
                    "DELETE FROM clients WHERE tenant = ",
                    "DELETE FROM topics WHERE tenant = ",
                    "DELETE FROM channels WHERE tenant = ",
                    "DELETE FROM tenants WHERE id = ",
                ] {
                    let mut query = sqlx::QueryBuilder::<$db>::new(statement);
                    query.push_bind(id);
                    deleted = query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| D::error(self, &context(), e))?
                        .rows_affected();
                }
                tx.commit().await.map_err(|e| D::error(self, &context(), e))?;
                // What the last statement, on tenants, deleted.
                Ok(deleted > 0)
            }

            async fn upsert_client(
                &self,
                client: &$crate::store::ClientRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let context = || {
                    self.context(format_args!(
                        "saving client {} of tenant {}",
                        client.id, client.tenant
                    ))
                };
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO clients (tenant, id, secret, updated_at) ",
                );
                query.push_values([client], |mut row, c| {
                    row.push_bind(&c.tenant)
                        .push_bind(&c.id)
                        .push_bind(c.secret.to_text())
                        .push_bind(<$store>::time(c.updated_at));
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

            async fn clients(
                &self,
                tenant: &str,
            ) -> Result<Vec<$crate::store::ClientRecord>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT tenant, id, secret, updated_at FROM clients WHERE tenant = ",
                );
                query.push_bind(tenant).push(" ORDER BY id");
                let context = || self.context(format_args!("reading the clients of tenant {tenant}"));
                let rows: Vec<$crate::store::rows::ClientRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn delete_client(
                &self,
                tenant: &str,
                id: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM clients WHERE tenant = ");
                query.push_bind(tenant).push(" AND id = ").push_bind(id);
                let deleted = self
                    .execute(query, || format!("deleting client {id} of tenant {tenant}"))
                    .await?;
                Ok(deleted > 0)
            }

            async fn add_topics(
                &self,
                tenant: &str,
                topics: &[$crate::store::TopicRecord],
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                let context = || {
                    self.context(format_args!(
                        "adding {} topics to tenant {tenant}",
                        topics.len()
                    ))
                };
                let rows = $crate::store::common::dedupe_topics(topics);
                if rows.is_empty() {
                    // Nothing to write, but adding to an unknown tenant is still an error.
                    return match self.tenant(tenant).await? {
                        Some(_) => Ok(()),
                        None => Err($crate::store::StoreError::NotFound(format!(
                            "{}: tenant {tenant} does not exist",
                            context()
                        ))),
                    };
                }
                let mut tx = self.pool.begin().await.map_err(|e| D::error(self, &context(), e))?;
                for chunk in rows.chunks($crate::store::sql::BATCH) {
                    // Keys are distinct (deduplicated above), as ON CONFLICT DO UPDATE requires.
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO topics (tenant, name_key, name, priority) ",
                    );
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
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.missing_tenant(&context(), tenant, e))?;
                }
                tx.commit().await.map_err(|e| D::error(self, &context(), e))?;
                Ok(())
            }

            async fn remove_topics(
                &self,
                tenant: &str,
                names: &[String],
            ) -> Result<usize, $crate::store::StoreError> {
                let keys = $crate::store::common::distinct_topic_keys(names);
                let doing = || format!("removing {} topics from tenant {tenant}", names.len());
                self.delete_in("topics", ("tenant", tenant), "name_key", &keys, doing).await
            }

            async fn topics(
                &self,
                tenant: &str,
            ) -> Result<Vec<$crate::store::TopicRecord>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT name, priority FROM topics WHERE tenant = ",
                );
                query.push_bind(tenant).push(" ORDER BY name");
                let context = || self.context(format_args!("reading the topics of tenant {tenant}"));
                let rows: Vec<$crate::store::rows::TopicRow> = self.fetch_all(query, &context).await?;
                Ok(rows
                    .into_iter()
                    .map(|row| $crate::store::TopicRecord {
                        name: row.name,
                        priority: row.priority,
                    })
                    .collect())
            }

            async fn upsert_sink(
                &self,
                sink: &$crate::store::SinkRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO sinks (name, kind, settings, updated_at) ",
                );
                query.push_values([sink], |mut row, s| {
                    row.push_bind(&s.name)
                        .push_bind(&s.kind)
                        .push_bind(<$store>::doc(&s.settings))
                        .push_bind(<$store>::time(s.updated_at));
                });
                query.push(
                    " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
                     settings = excluded.settings, updated_at = excluded.updated_at",
                );
                self.execute(query, || format!("saving sink {}", sink.name)).await?;
                Ok(())
            }

            async fn sink(
                &self,
                name: &str,
            ) -> Result<Option<$crate::store::SinkRecord>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT name, kind, settings, updated_at FROM sinks WHERE name = ",
                );
                query.push_bind(name);
                let context = || self.context(format_args!("reading sink {name}"));
                let rows: Vec<$crate::store::rows::SinkRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .next()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .transpose()
            }

            async fn sinks(&self) -> Result<Vec<$crate::store::SinkRecord>, $crate::store::StoreError> {
                let query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT name, kind, settings, updated_at FROM sinks ORDER BY name",
                );
                let context = || self.context("reading the sinks");
                let rows: Vec<$crate::store::rows::SinkRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn delete_sink(&self, name: &str) -> Result<bool, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM sinks WHERE name = ");
                query.push_bind(name);
                Ok(self.execute(query, || format!("deleting sink {name}")).await? > 0)
            }

            async fn upsert_route(
                &self,
                route: &$crate::store::RouteRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let context = || self.context(format_args!("saving route {}", route.id));
                let list = |what: &str, list: &[String]| {
                    <$store>::list(what, list).map_err(|e| $crate::store::common::corrupt(&context(), e))
                };
                let (tenants, sinks, topics) = (
                    list("tenants", &route.tenants)?,
                    list("sinks", &route.sinks)?,
                    list("topics", &route.topics)?,
                );
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO routes (id, tenants, sinks, topics, changes_only, updated_at) ",
                );
                query.push_values([route], |mut row, r| {
                    row.push_bind(&r.id)
                        .push_bind(&tenants)
                        .push_bind(&sinks)
                        .push_bind(&topics)
                        .push_bind(r.changes_only)
                        .push_bind(<$store>::time(r.updated_at));
                });
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET tenants = excluded.tenants, \
                     sinks = excluded.sinks, topics = excluded.topics, \
                     changes_only = excluded.changes_only, updated_at = excluded.updated_at",
                );
                self.execute(query, || format!("saving route {}", route.id)).await?;
                Ok(())
            }

            async fn routes(&self) -> Result<Vec<$crate::store::RouteRecord>, $crate::store::StoreError> {
                let query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, tenants, sinks, topics, changes_only, updated_at FROM routes ORDER BY id",
                );
                let context = || self.context("reading the routes");
                let rows: Vec<$crate::store::rows::RouteRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn delete_route(&self, id: &str) -> Result<bool, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM routes WHERE id = ");
                query.push_bind(id);
                Ok(self.execute(query, || format!("deleting route {id}")).await? > 0)
            }

            async fn append_audit(
                &self,
                entry: &$crate::store::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                // An id seen again is a retry: keep the first copy, as for gaps.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO audit (id, at, actor, action, target, details) ",
                );
                query.push_values([entry], |mut row, a| {
                    row.push_bind(&a.id)
                        .push_bind(<$store>::time(a.at))
                        .push_bind(&a.actor)
                        .push_bind(&a.action)
                        .push_bind(&a.target)
                        .push_bind(<$store>::doc(&a.details));
                });
                query.push(" ON CONFLICT (id) DO NOTHING");
                self.execute(query, || format!("appending audit entry {}", entry.id)).await?;
                Ok(())
            }

            async fn audit(
                &self,
                filter: &$crate::store::AuditFilter,
            ) -> Result<Vec<$crate::store::AuditRecord>, $crate::store::StoreError> {
                use $crate::store::common::{DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, effective_limit};
                let limit = effective_limit(filter.limit, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT);
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, at, actor, action, target, details FROM audit WHERE 1 = 1",
                );
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
                    query.push(" AND at >= ").push_bind(<$store>::time(since));
                }
                if let Some(until) = filter.until {
                    query.push(" AND at <= ").push_bind(<$store>::time(until));
                }
                query.push(" ORDER BY at DESC, seq DESC LIMIT ").push_bind(limit);
                let context = || self.context("reading the audit log");
                let rows: Vec<$crate::store::rows::AuditRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn add_dead_letters(
                &self,
                letters: &[$crate::store::DeadLetter],
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                let context = || self.context("saving dead letters");
                let mut tx = self.pool.begin().await.map_err(|e| D::error(self, &context(), e))?;
                for chunk in letters.chunks($crate::store::sql::BATCH) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO dead_letters (id, sink, at, reason, json) ",
                    );
                    query.push_values(chunk, |mut row, l| {
                        row.push_bind(&l.id)
                            .push_bind(&l.sink)
                            .push_bind(<$store>::time(l.at))
                            .push_bind(&l.reason)
                            .push_bind(&l.json);
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| D::error(self, &context(), e))?;
                }
                tx.commit().await.map_err(|e| D::error(self, &context(), e))
            }

            async fn dead_letters(
                &self,
                sink: &str,
                limit: usize,
            ) -> Result<Vec<$crate::store::DeadLetter>, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, sink, at, reason, json FROM dead_letters WHERE sink = ",
                );
                query
                    .push_bind(sink)
                    .push(" ORDER BY at DESC, seq DESC LIMIT ")
                    .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                let context = || self.context(format_args!("reading the dead letters of sink {sink}"));
                let rows: Vec<$crate::store::rows::DeadLetterRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn remove_dead_letters(
                &self,
                sink: &str,
                ids: &[String],
            ) -> Result<usize, $crate::store::StoreError> {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                let doing = || format!("removing dead letters of sink {sink}");
                self.delete_in("dead_letters", ("sink", sink), "id", &ids, doing).await
            }

            async fn all_sealed_secrets(
                &self,
            ) -> Result<Vec<$crate::store::ClientRecord>, $crate::store::StoreError> {
                let query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT tenant, id, secret, updated_at FROM clients ORDER BY tenant, id",
                );
                let context = || self.context("reading every client secret");
                let rows: Vec<$crate::store::rows::ClientRow<$store>> = self.fetch_all(query, &context).await?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| $crate::store::common::corrupt(&context(), e)))
                    .collect()
            }

            async fn replace_sealed(
                &self,
                tenant: &str,
                client: &str,
                previous: &$crate::secrets::Sealed,
                sealed: &$crate::secrets::Sealed,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new("UPDATE clients SET secret = ");
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

        /// Helpers of the shared statements.
        impl $store {
            /// Runs a statement that returns no rows; returns how many rows it changed. `doing` says what
            /// it does, for an error.
            async fn execute<S: std::fmt::Display>(
                &self,
                mut query: sqlx::QueryBuilder<$db>,
                doing: impl FnOnce() -> S,
            ) -> Result<u64, $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                match query.build().execute(&self.pool).await {
                    Ok(done) => Ok(done.rows_affected()),
                    Err(e) => Err(D::error(self, &self.context(doing()), e)),
                }
            }

            /// Runs a query and reads every row it returns as a `R`.
            async fn fetch_all<R>(
                &self,
                mut query: sqlx::QueryBuilder<$db>,
                context: &impl Fn() -> String,
            ) -> Result<Vec<R>, $crate::store::StoreError>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                use $crate::store::sql::Dialect as D;
                query
                    .build_query_as::<R>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| D::error(self, &context(), e))
            }

            /// Deletes the rows of `table` whose `scope` column equals its value and whose `column` is one
            /// of `values` (distinct), in one transaction; returns how many there were.
            async fn delete_in<S: std::fmt::Display>(
                &self,
                table: &str,
                scope: (&str, &str),
                column: &str,
                values: &[String],
                doing: impl Fn() -> S,
            ) -> Result<usize, $crate::store::StoreError> {
                use $crate::store::sql::Dialect as D;
                if values.is_empty() {
                    return Ok(0);
                }
                let context = || self.context(doing());
                let mut removed: u64 = 0;
                let mut tx = self.pool.begin().await.map_err(|e| D::error(self, &context(), e))?;
                for chunk in values.chunks($crate::store::sql::BATCH) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM ");
                    query
                        .push(table)
                        .push(" WHERE ")
                        .push(scope.0)
                        .push(" = ")
                        .push_bind(scope.1)
                        .push(" AND ")
                        .push(column)
                        .push(" IN (");
                    let mut list = query.separated(", ");
                    for value in chunk {
                        list.push_bind(value.as_str());
                    }
                    query.push(")");
                    removed += query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| D::error(self, &context(), e))?
                        .rows_affected();
                }
                tx.commit().await.map_err(|e| D::error(self, &context(), e))?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            }
        }
    };
}

pub(super) use sql_store;
