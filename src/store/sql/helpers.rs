//! Helpers of the statements [`sql_store!`](super::sql_store) writes, stamped out with them.

/// The helper methods of `$store` the shared statements use, with the two lease-fenced writes of channel
/// records and proofs of life. `Query`, `Record`, `StoreError`, `corrupt` and the channel types must be in
/// scope where it is invoked (as in the module `sql_store!` makes).
macro_rules! sql_helpers {
    ($store:ident, $db:ty) => {
        /// Helpers of the shared statements.
        impl $store {
            /// Runs a statement that returns no rows; returns how many rows it changed. `doing` says what
            /// it does, for an error.
            async fn execute<S: std::fmt::Display>(
                &self,
                mut query: Query,
                doing: impl FnOnce() -> S,
            ) -> Result<u64, StoreError> {
                match query.build().execute(&self.pool).await {
                    Ok(done) => Ok(done.rows_affected()),
                    Err(e) => Err(self.error(&self.context(doing()), e)),
                }
            }

            /// Runs a query and reads every row it returns as an `R`, then as the record it stands for.
            /// `doing` says what the query does, for an error.
            async fn fetch<R, S: std::fmt::Display>(
                &self,
                mut query: Query,
                doing: impl Fn() -> S,
            ) -> Result<Vec<R::Record>, StoreError>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Record + Send + Unpin,
            {
                let context = || self.context(doing());
                let rows = query
                    .build_query_as::<R>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| self.error(&context(), e))?;
                rows.into_iter()
                    .map(|row| row.record().map_err(|e| corrupt(&context(), e)))
                    .collect()
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
            ) -> Result<usize, StoreError> {
                let statements = values.chunks(BATCH).map(|chunk| {
                    let mut query = Query::new("DELETE FROM ");
                    query.push(table).push(" WHERE ").push(scope.0).push(" = ");
                    query
                        .push_bind(scope.1)
                        .push(" AND ")
                        .push(column)
                        .push(" IN (");
                    let mut list = query.separated(", ");
                    for value in chunk {
                        list.push_bind(value.as_str());
                    }
                    query.push(")");
                    query
                });
                let removed: u64 = self
                    .transaction(statements, doing, None)
                    .await?
                    .iter()
                    .sum();
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            }

            /// Runs `statements` in order in one transaction; returns how many rows each changed. With
            /// `tenant`, the statements write rows of that tenant: a foreign key violation means it is not
            /// stored. Nothing to run is nothing to do (no transaction).
            async fn transaction<S: std::fmt::Display>(
                &self,
                statements: impl IntoIterator<Item = Query>,
                doing: impl Fn() -> S,
                tenant: Option<&str>,
            ) -> Result<Vec<u64>, StoreError> {
                let statements: Vec<Query> = statements.into_iter().collect();
                if statements.is_empty() {
                    return Ok(Vec::new());
                }
                let context = || self.context(doing());
                let fail = |e| match tenant {
                    Some(tenant) => self.missing_tenant(&context(), tenant, e),
                    None => self.error(&context(), e),
                };
                let mut tx = self.pool.begin().await.map_err(fail)?;
                let mut changed = Vec::with_capacity(statements.len());
                for mut statement in statements {
                    let done = statement.build().execute(&mut *tx).await.map_err(fail)?;
                    changed.push(done.rows_affected());
                }
                tx.commit().await.map_err(fail)?;
                Ok(changed)
            }

            /// Moves the tenant's channels' proofs of life forward; with `lease`, only while it is the tenant's
            /// current lease. Returns how many records moved.
            async fn write_proofs(
                &self,
                tenant: &str,
                proofs: &[(String, DateTime<Utc>)],
                lease: Option<&Lease>,
            ) -> Result<usize, StoreError> {
                let count = proofs.len();
                // Ordered by id, so that concurrent writers take row locks in the same order.
                let proofs = latest_proofs(proofs);
                let statements = proofs.chunks(BATCH).map(|chunk| {
                    // One UPDATE for the whole chunk: the proofs as a table, joined to the tenant's channels.
                    let mut query = Query::new("WITH proof (channel_id, at) AS (");
                    query.push_values(chunk, |mut row, (id, at)| {
                        row.push_bind(*id).push_bind(Self::time(*at));
                    });
                    query.push(
                        ") UPDATE channels SET updated_at = proof.at FROM proof \
                         WHERE channels.channel_id = proof.channel_id AND channels.updated_at < proof.at \
                         AND channels.tenant = ",
                    );
                    query.push_bind(tenant);
                    // Cluster mode: only while the lease is the writer's (a stale owner moves nothing).
                    if let Some(l) = lease {
                        query
                            .push(" AND EXISTS (SELECT 1 FROM tenant_leases WHERE tenant = ")
                            .push_bind(tenant)
                            .push(" AND owner = ")
                            .push_bind(&l.owner)
                            .push(" AND epoch = ")
                            .push_bind(l.epoch)
                            .push(")");
                    }
                    query
                });
                let doing = || format!("storing the proofs of life of {count} channels of tenant {tenant}");
                let moved: u64 = self
                    .transaction(statements, doing, None)
                    .await?
                    .iter()
                    .sum();
                Ok(usize::try_from(moved).unwrap_or(usize::MAX))
            }

            /// Creates or replaces a channel record; with `lease`, only while it is the tenant's current
            /// lease (the row is selected only if the lease row matches). Returns whether it was written.
            async fn write_channel(
                &self,
                record: &ChannelRecord,
                lease: Option<&Lease>,
            ) -> Result<bool, StoreError> {
                let context = || self.context(format_args!("saving channel {}", record.channel_id));
                let topics = Self::list("topics", &record.topics).map_err(|e| corrupt(&context(), e))?;
                let mut query = Query::new(
                    "INSERT INTO channels (channel_id, tenant, region, client_id, connect_uri, \
                     expires_at, token_expires_at, topics, updated_at) SELECT ",
                );
                query
                    .push_bind(&record.channel_id)
                    .push(", ")
                    .push_bind(&record.tenant)
                    .push(", ")
                    .push_bind(&record.region)
                    .push(", ")
                    .push_bind(&record.client_id)
                    .push(", ")
                    .push_bind(&record.connect_uri)
                    .push(", ")
                    .push_bind(Self::time(record.expires_at))
                    .push(", ")
                    .push_bind(Self::time(record.token_expires_at))
                    .push(", ")
                    .push_bind(&topics)
                    .push(", ")
                    .push_bind(Self::time(record.updated_at));
                match lease {
                    // SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
                    None => query.push(" WHERE 1 = 1"),
                    Some(l) => query
                        .push(" WHERE EXISTS (SELECT 1 FROM tenant_leases WHERE tenant = ")
                        .push_bind(&record.tenant)
                        .push(" AND owner = ")
                        .push_bind(&l.owner)
                        .push(" AND epoch = ")
                        .push_bind(l.epoch)
                        .push(")"),
                };
                query.push(
                    " ON CONFLICT (channel_id) DO UPDATE SET tenant = excluded.tenant, \
                     region = excluded.region, client_id = excluded.client_id, \
                     connect_uri = excluded.connect_uri, expires_at = excluded.expires_at, \
                     token_expires_at = excluded.token_expires_at, topics = excluded.topics, \
                     updated_at = excluded.updated_at",
                );
                let done = query
                    .build()
                    .execute(&self.pool)
                    .await
                    .map_err(|e| self.error(&context(), e))?;
                Ok(done.rows_affected() > 0)
            }

        }
    };
}

pub(in crate::store) use sql_helpers;
