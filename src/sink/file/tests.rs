//! Tests of the file sink.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::config::tests::parse;
use crate::sink::RecordKind;
use crate::sink::SinkKind;
use crate::sink::file::FileConfig;

fn line(n: usize) -> Delivery {
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
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

// The configuration file's `kind = "file"` table (moved from `config/tests.rs`).

#[test]
fn file_sink_defaults_and_absolute_paths() {
    let c =
        parse("[[sinks]]\nname = \"f\"\nkind = \"file\"\npath = \"/var/log/e.jsonl\"\n").unwrap();
    assert_eq!(
        c.sinks[0].kind,
        SinkKind::File(FileConfig {
            path: PathBuf::from("/var/log/e.jsonl"),
            max_bytes: 100 * 1024 * 1024,
            max_files: 5,
        })
    );
}
