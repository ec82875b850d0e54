//! The channel actor's log span: tenant, region, slot, and the id of the platform channel it is bound to.
//!
//! The text log format appends a span's field to what it prints each time the field is recorded, and keeps
//! every copy for the span's life. Recording the channel id at each phase change printed `channel="…"` once per
//! change (five times after four reconnects) and grew the span with every change. So a span names one channel id,
//! set once, and a new id gets a new span.

use std::sync::Arc;

use tracing::Span;

pub(super) struct LogSpan {
    span: Span,
    tenant: Arc<str>,
    region: Arc<str>,
    slot: usize,
    /// The channel id the span names, if any.
    channel: Option<String>,
}

impl LogSpan {
    pub(super) fn new(tenant: Arc<str>, region: Arc<str>, slot: usize) -> LogSpan {
        LogSpan {
            span: make(&tenant, &region, slot, None),
            tenant,
            region,
            slot,
            channel: None,
        }
    }

    /// The span to log under (`parent: …`) or to instrument a job with.
    pub(super) fn get(&self) -> &Span {
        &self.span
    }

    /// Names channel `id` in the span: nothing to do when it already does; the first id is recorded in the
    /// span as it is, a later one gets a new span.
    pub(super) fn name(&mut self, id: &str) {
        match &self.channel {
            Some(named) if named == id => {}
            Some(_) => {
                self.span = make(&self.tenant, &self.region, self.slot, Some(id));
                self.channel = Some(id.to_owned());
            }
            None => {
                self.span.record("channel", id);
                self.channel = Some(id.to_owned());
            }
        }
    }
}

fn make(tenant: &str, region: &str, slot: usize, channel: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "channel",
        tenant = %tenant,
        region = %region,
        slot,
        channel = tracing::field::Empty
    );
    if let Some(id) = channel {
        span.record("channel", id);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Log lines written by the text format, kept in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_names_the_current_channel_once() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut span = LogSpan::new("acme".into(), "eu-west-1".into(), 3);
            tracing::info!(parent: span.get(), "before a channel");
            // A phase change names the same channel again: connecting, live, reconnecting, live.
            for _ in 0..4 {
                span.name("streaming-0-a");
            }
            tracing::info!(parent: span.get(), "on the first channel");
            span.name("streaming-0-b");
            span.name("streaming-0-b");
            tracing::info!(parent: span.get(), "on the second channel");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("tenant=acme region=eu-west-1 slot=3}"),
            "{}",
            lines[0]
        );
        assert!(!lines[0].contains("channel="), "{}", lines[0]);
        assert_eq!(lines[1].matches("channel=").count(), 1, "{}", lines[1]);
        assert!(
            lines[1].contains("channel=\"streaming-0-a\""),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2].matches("channel=").count(), 1, "{}", lines[2]);
        assert!(
            lines[2].contains("channel=\"streaming-0-b\""),
            "{}",
            lines[2]
        );
    }
}
