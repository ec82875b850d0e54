//! A stdout sink's settings (`kind = "stdout"`): it has none. The configuration file's table is
//! `{ name, kind = "stdout" }`, the store's settings `{}`, and the API's body `{"kind":"stdout"}`.

/// The TOML keys of a stdout sink (besides `name` and `kind`): none.
pub const KEYS: &[&str] = &[];
