//! Small conversions between std and chrono durations.

/// A chrono duration from a std one, saturating instead of failing.
pub fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
