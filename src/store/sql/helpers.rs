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
                if values.is_empty() {
                    return Ok(0);
                }
                let context = || self.context(doing());
                let mut removed: u64 = 0;
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| self.error(&context(), e))?;
                for chunk in values.chunks(BATCH) {
                    let mut query = Query::new("DELETE FROM ");
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
                        .map_err(|e| self.error(&context(), e))?
                        .rows_affected();
                }
                tx.commit().await.map_err(|e| self.error(&context(), e))?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            }
        }
    };
}

pub(in crate::store) use sql_helpers;
