//! How the process logs: to standard error, as text for people or as JSON lines for log shippers.
//!
//! Text is coloured only when standard error is a terminal (and `NO_COLOR` is not set): log files, Docker and
//! Kubernetes read escape codes as text. JSON carries one object per line with `timestamp`, `level`, `target`,
//! `fields` (the event's message and fields), `span` (the span the event belongs to, with its fields) and
//! `spans` (the enclosing spans), so a shipper gets the same context a person reads in the text form.

use std::io::IsTerminal;

/// The form of log lines: `--log-format` or `SWITCHBOARD_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event; coloured on a terminal only.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether text logs are coloured: only on a terminal, and never with `NO_COLOR` set (<https://no-color.org>).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the process's logger. The level filter is `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A line standard error cannot take is dropped. By default the subscriber reports the failure with
        // `eprintln!`, which panics when standard error is a closed pipe (a log shipper that died,
        // `serve 2>&1 | head`): every log line became a panic inside whichever actor logged it, and a panic
        // in the shutdown task left the process waiting forever.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .init(),
        LogFormat::Json => builder
            .json()
            // `span`: the span the event belongs to, with its fields (a channel's tenant, region and channel
            // id). Actors log with an explicit parent, which `spans` (the thread's current stack) misses.
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(std::ffi::OsStr::new(""))));
        assert!(!colour(true, Some(std::ffi::OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
