//! A stdout sink's settings (`kind = "stdout"`): it has none. The configuration file's table is
//! `{ name, kind = "stdout" }`, the store's settings `{}`, and the API's body `{"kind":"stdout"}`.

use serde::{Deserialize, Serialize};

use crate::sink::form::{Context, Fault, KindSettings};

/// The settings of a stdout sink: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdoutConfig {}

impl KindSettings for StdoutConfig {
    const KIND: &'static str = "stdout";
    const FIELDS: &'static [&'static str] = &[];

    fn check(&mut self, _cx: &Context<'_>) -> Vec<Fault> {
        Vec::new()
    }
}
