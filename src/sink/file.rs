//! The file sink: JSON Lines, one envelope per line, flushed after every batch, rotated by size.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Delivery, Sink, SinkError};

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
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::sink::RecordKind;

    fn line(n: usize) -> Delivery {
        Delivery {
            kind: RecordKind::Event,
            tenant: Arc::from("t"),
            json: Bytes::from(format!("{{\"n\":{n:04}}}")),
        }
    }

    #[tokio::test]
    async fn writes_lines_and_rotates_by_size_keeping_max_files() {
        let dir = std::env::temp_dir().join(format!("sb-file-sink-{}", uuid::Uuid::new_v4()));
        let path = dir.join("out.jsonl");
        let mut sink = FileSink::open(&path, 40, 2).unwrap();
        let batch: Vec<Delivery> = (0..10).map(line).collect();
        sink.write(&batch).await.unwrap();
        sink.flush().await.unwrap();
        // Each line is 11 bytes: three fit under 40.
        let current = std::fs::read_to_string(&path).unwrap();
        assert_eq!(current.lines().collect::<Vec<_>>(), vec![r#"{"n":0009}"#]);
        let one = std::fs::read_to_string(dir.join("out.jsonl.1")).unwrap();
        assert_eq!(one.lines().count(), 3);
        assert!(one.starts_with(r#"{"n":0006}"#));
        assert!(dir.join("out.jsonl.2").exists());
        assert!(
            !dir.join("out.jsonl.3").exists(),
            "only max_files rotated files are kept"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn appends_to_an_existing_file() {
        let dir = std::env::temp_dir().join(format!("sb-file-sink-{}", uuid::Uuid::new_v4()));
        let path = dir.join("out.jsonl");
        for n in 0..2 {
            let mut sink = FileSink::open(&path, 1 << 20, 1).unwrap();
            sink.write(&[line(n)]).await.unwrap();
            sink.flush().await.unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
