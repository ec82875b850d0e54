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

mod helpers;
mod store_impl;

pub(super) use helpers::sql_helpers;
pub(super) use store_impl::sql_store;
