//! What the store implementations share: limits, and the conversions that must behave the same in each.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::{StoreError, TopicRecord};
use crate::secrets::Sealed;

/// Gaps returned when the filter names no limit.
pub(crate) const DEFAULT_GAP_LIMIT: usize = 1000;
/// Upper bound on gaps returned by one call, whatever the filter asks: keeps one request from loading an
/// unbounded history into memory.
pub(crate) const MAX_GAP_LIMIT: usize = 10_000;
/// Audit entries returned when the filter names no limit.
pub(crate) const DEFAULT_AUDIT_LIMIT: usize = 1000;
/// Upper bound on audit entries returned by one call.
pub(crate) const MAX_AUDIT_LIMIT: usize = 10_000;

/// The limit to apply, as SQL wants it.
pub(crate) fn effective_limit(asked: Option<usize>, default: usize, max: usize) -> i64 {
    i64::try_from(asked.unwrap_or(default).min(max)).unwrap_or(i64::MAX)
}

/// A timestamp at the precision the stores keep: milliseconds, finer precision truncated towards the past.
pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// `at` truncated to the millisecond, for stores that could keep more (so that what is read back, and what
/// a filter compares, is the same on every backend).
pub(crate) fn truncate_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// Reads back a [`to_millis`] value of `column`.
pub(crate) fn from_millis(column: &str, millis: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| format!("column {column} holds {millis}, which is not a representable time"))
}

/// The proofs of life to write: one per channel id, the latest of equal ids, ordered by id (so that
/// concurrent writers take row locks in the same order).
pub(crate) fn latest_proofs(proofs: &[(String, DateTime<Utc>)]) -> Vec<(&str, DateTime<Utc>)> {
    let mut latest: std::collections::BTreeMap<&str, DateTime<Utc>> = Default::default();
    for (id, at) in proofs {
        let at = truncate_millis(*at);
        latest
            .entry(id.as_str())
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }
    latest.into_iter().collect()
}

/// The key a topic name is unique by: the name in lower case (Unicode-aware, computed here rather than in
/// SQL so that every backend folds case the same way).
pub(crate) fn topic_key(name: &str) -> String {
    name.to_lowercase()
}

/// One topic row to write: (key, name, priority).
pub(crate) type TopicRow<'t> = (String, &'t str, i32);

/// The rows to write for `topics`: one per key, the last of equal keys winning. In the order of first
/// appearance, so the result does not depend on hashing.
pub(crate) fn dedupe_topics(topics: &[TopicRecord]) -> Vec<TopicRow<'_>> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(topics.len());
    let mut rows: Vec<TopicRow<'_>> = Vec::with_capacity(topics.len());
    for topic in topics {
        let key = topic_key(&topic.name);
        match index.get(&key) {
            Some(&at) => rows[at] = (key, &topic.name, topic.priority),
            None => {
                index.insert(key.clone(), rows.len());
                rows.push((key, &topic.name, topic.priority));
            }
        }
    }
    rows
}

/// The distinct keys of the names to remove.
pub(crate) fn distinct_topic_keys(names: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = names.iter().map(|name| topic_key(name)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Encodes a list of strings as the JSON text the stores keep.
pub(crate) fn encode_list(what: &str, list: &[String]) -> Result<String, String> {
    serde_json::to_string(list).map_err(|e| format!("cannot encode {what}: {e}"))
}

/// Decodes a list of strings from JSON text.
pub(crate) fn decode_list(column: &str, text: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("column {column} is not a JSON array of strings: {e}"))
}

/// Decodes a JSON document kept as text.
pub(crate) fn decode_json(column: &str, text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("column {column} is not JSON: {e}"))
}

/// Parses a sealed secret column. The message never repeats the column's content.
pub(crate) fn decode_sealed(text: &str) -> Result<Sealed, String> {
    Sealed::from_text(text).map_err(|e| format!("column secret: {e}"))
}

/// A `Corrupt` error: `context` says what was being done, `detail` what is wrong with the data.
pub(crate) fn corrupt(context: &str, detail: String) -> StoreError {
    StoreError::Corrupt(format!("{context}: {detail}"))
}

/// The store's kind of a sqlx error whose `message` is ready to show. Data that does not decode is corrupt,
/// as is a database the backend found `damaged`; a failed migration is a migration error; everything else
/// is reported unavailable (something a retry or an operator can fix). sqlx's messages carry no bound
/// values, so nothing written to the store leaks into them.
pub(crate) fn classify(err: &sqlx::Error, message: String, damaged: bool) -> StoreError {
    match err {
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(message),
        sqlx::Error::Migrate(_) => StoreError::Migration(message),
        _ if damaged => StoreError::Corrupt(message),
        _ => StoreError::Unavailable(message),
    }
}

/// The migrator of a backend's embedded migrations, `(version, description, SQL)` in version order.
pub(crate) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Whether a database error is a foreign key violation (a row names a parent that does not exist).
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// A small document kept as JSON text (the same in both backends); `None` stays NULL.
pub(crate) fn json_text<T: serde::Serialize>(value: Option<&T>) -> Option<String> {
    value.and_then(|v| serde_json::to_string(v).ok())
}

/// A document kept by [`json_text`], read back; `what` names it in the error.
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(
    what: &str,
    text: Option<String>,
) -> Result<Option<T>, String> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| format!("{what} is not valid: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_the_last_of_equal_names_in_first_order() {
        let topics = vec![
            TopicRecord {
                name: "B".to_owned(),
                priority: 1,
            },
            TopicRecord {
                name: "a".to_owned(),
                priority: 2,
            },
            TopicRecord {
                name: "b".to_owned(),
                priority: 3,
            },
        ];
        assert_eq!(
            dedupe_topics(&topics),
            vec![("b".to_owned(), "b", 3), ("a".to_owned(), "a", 2)]
        );
    }

    #[test]
    fn keys_fold_unicode_case() {
        assert_eq!(topic_key("V2.Users.ÄÖ"), "v2.users.äö");
        assert_eq!(
            distinct_topic_keys(&["X".to_owned(), "x".to_owned(), "y".to_owned()]),
            vec!["x".to_owned(), "y".to_owned()]
        );
    }

    #[test]
    fn latest_proofs_keep_the_latest_of_equal_ids_at_millisecond_precision() {
        let t = |ms: i64| DateTime::from_timestamp_millis(1_750_000_000_000 + ms).unwrap();
        let fine = t(7) + chrono::Duration::microseconds(900);
        let proofs = vec![
            ("b".to_owned(), t(5)),
            ("a".to_owned(), fine),
            ("b".to_owned(), t(9)),
            ("b".to_owned(), t(1)),
        ];
        assert_eq!(latest_proofs(&proofs), vec![("a", t(7)), ("b", t(9))]);
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(effective_limit(None, 10, 20), 10);
        assert_eq!(effective_limit(Some(30), 10, 20), 20);
        assert_eq!(effective_limit(Some(usize::MAX), 10, 20), 20);
        assert_eq!(effective_limit(Some(0), 10, 20), 0);
    }
}
