//! The file sink: JSON Lines, one envelope per line, flushed after every batch, rotated by size.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sink::{Delivery, Sink, SinkError};

/// Appends lines to `path`; past `max_bytes` the file becomes `path.1` (older ones shift to `.2`… up to
/// `max_files`, the oldest deleted) and a new file starts.
pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
}

impl FileSink {
    pub fn open(path: &Path, max_bytes: u64, max_files: u32) -> std::io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let written = file.metadata()?.len();
        Ok(FileSink {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            max_files,
            file: std::io::BufWriter::with_capacity(256 * 1024, file),
            written,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        if self.max_files == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.file = std::io::BufWriter::with_capacity(256 * 1024, file);
        self.written = 0;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        // Local file writes are short; doing them on the worker's task keeps one copy of each line.
        for d in batch {
            if self.written > 0 && self.written + d.json.len() as u64 + 1 > self.max_bytes {
                self.rotate()?;
            }
            self.file.write_all(&d.json)?;
            self.file.write_all(b"\n")?;
            self.written += d.json.len() as u64 + 1;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
