//! Timestamps as the platform writes them: ISO-8601 in UTC with milliseconds and a `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn iso_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn serialize_millis<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso_millis(*t))
}

/// `chrono::Duration` from a std one, saturating instead of failing for absurd values.
pub fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
