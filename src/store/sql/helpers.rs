//! Helpers of the statements [`sql_store!`](super::sql_store) writes, stamped out with them.

/// The helper methods of `$store` the shared statements use. `Query`, `Record`, `StoreError` and
/// `corrupt` must be in scope where it is invoked (as in the module `sql_store!` makes).
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
        }
    };
}

pub(in crate::store) use sql_helpers;
