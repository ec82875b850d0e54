//! The stdout sink: JSON Lines on standard output (for trying things out and for pipes).

use std::io::Write;

use crate::sink::{Delivery, Sink};

#[derive(Default)]
pub struct StdoutSink;

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), crate::sink::SinkError> {
        let mut out = std::io::stdout().lock();
        for d in batch {
            out.write_all(&d.json)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}
