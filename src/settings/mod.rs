//! The primitives every part of the configuration is read with: [`Errors`] (every problem, each with its
//! field path), the TOML [`Reader`], and [`Secret`] with the ways a secret is given (`secret`, `secret_env`,
//! `secret_file`).
//!
//! A leaf: it imports no other module of the crate, so that [`crate::config`] (the whole file) and each sink
//! kind's own settings (`crate::sink::<kind>::config`) can both be read with it without importing each other
//! both ways.

mod errors;
mod read;
mod secret;

pub use errors::{ConfigErrors, FieldError};
pub use secret::{SHOWN, Secret, redact_url, redact_urls, redacted, url_has_credentials};

pub(crate) use errors::{Errors, index};
pub(crate) use read::{Reader, line_col, syntax_error_path, wrong_type};
pub(crate) use secret::{EnvLookup, process_env, read_secret};
