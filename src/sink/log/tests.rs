use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::sink::{Delivery, RecordKind, SinkKind};

fn config(dir: &std::path::Path, max_bytes: u64) -> LogConfig {
    LogConfig {
        dir: dir.to_path_buf(),
        max_bytes,
        max_age: DEFAULT_MAX_AGE,
    }
}

fn record(n: usize, size: usize) -> Delivery {
    let pad = "x".repeat(size);
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from(if n.is_multiple_of(2) { "acme" } else { "beta" }),
        json: Bytes::from(format!(r#"{{"kind":"event","n":{n},"pad":"{pad}"}}"#)),
    }
}

fn n_of(d: &Delivery) -> u64 {
    serde_json::from_slice::<serde_json::Value>(&d.json).unwrap()["n"]
        .as_u64()
        .unwrap()
}

fn temp(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-log-{}-{test}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn records_get_ids_in_order_and_a_reader_resumes_after_any_of_them() {
    let dir = temp("ids");
    let log = ReplayLog::open(&config(&dir, DEFAULT_MAX_BYTES)).unwrap();
    assert_eq!(*log.watch().borrow(), 0);
    let batch: Vec<Delivery> = (0..10).map(|n| record(n, 10)).collect();
    assert_eq!(log.append(&batch[..4]).unwrap(), 4);
    assert_eq!(log.append(&batch[4..]).unwrap(), 10);
    assert_eq!(*log.watch().borrow(), 10);
    let all = log.read(log.after(0), 100).unwrap();
    assert!(!all.trimmed);
    let ids: Vec<u64> = all.records.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        all.records.iter().map(|(_, d)| n_of(d)).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    // Resume after 6, three at a time, then follow what is appended.
    let first = log.read(log.after(6), 3).unwrap();
    assert_eq!(
        first.records.iter().map(|r| r.0).collect::<Vec<_>>(),
        [7, 8, 9]
    );
    let second = log.read(first.cursor, 3).unwrap();
    assert_eq!(second.records.iter().map(|r| r.0).collect::<Vec<_>>(), [10]);
    let empty = log.read(second.cursor, 3).unwrap();
    assert!(empty.records.is_empty());
    log.append(&[record(10, 10)]).unwrap();
    let more = log.read(empty.cursor, 3).unwrap();
    assert_eq!(more.records.iter().map(|r| r.0).collect::<Vec<_>>(), [11]);
    // From the end: only what comes next.
    let end = log.end();
    assert!(log.read(end, 10).unwrap().records.is_empty());
    log.append(&[record(11, 10)]).unwrap();
    assert_eq!(log.read(end, 10).unwrap().records[0].0, 12);
    // An id from the future waits for the next record instead of skipping any.
    let future = log.after(1_000);
    log.append(&[record(12, 10)]).unwrap();
    assert_eq!(log.read(future, 10).unwrap().records[0].0, 13);
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ids_survive_a_restart_and_a_torn_tail_is_cut() {
    let dir = temp("restart");
    {
        let log = ReplayLog::open(&config(&dir, DEFAULT_MAX_BYTES)).unwrap();
        log.append(&(0..5).map(|n| record(n, 10)).collect::<Vec<_>>())
            .unwrap();
    }
    // A crash in the middle of an append leaves half a frame.
    let seg = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2]);
    std::fs::write(&seg, bytes).unwrap();
    let log = ReplayLog::open(&config(&dir, DEFAULT_MAX_BYTES)).unwrap();
    assert_eq!(*log.watch().borrow(), 5);
    assert_eq!(log.append(&[record(5, 10)]).unwrap(), 6);
    let all = log.read(log.after(0), 100).unwrap();
    assert_eq!(
        all.records.iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn one_process_opens_a_directory_once_and_readers_find_it() {
    let dir = temp("shared");
    let a = ReplayLog::open(&config(&dir, DEFAULT_MAX_BYTES)).unwrap();
    let b = ReplayLog::open(&config(&dir, DEFAULT_MAX_BYTES)).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "a replacement worker shares the log");
    assert!(ReplayLog::find(&dir).is_some_and(|f| Arc::ptr_eq(&f, &a)));
    drop((a, b));
    assert!(
        ReplayLog::find(&dir).is_none(),
        "closed once no sink holds it"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_oldest_records_are_trimmed_past_the_bound_and_a_reader_is_told() {
    let dir = temp("trim");
    let log = ReplayLog::open(&config(&dir, config::MIN_MAX_BYTES)).unwrap();
    let cursor = log.after(0);
    // ~4 MiB through a 1 MiB log: segments of 128 KiB roll and the oldest go.
    for round in 0..64 {
        let batch: Vec<Delivery> = (0..4).map(|i| record(round * 4 + i, 16 << 10)).collect();
        log.append(&batch).unwrap();
    }
    assert!(log.first_id() > 1, "the oldest segments were trimmed");
    let read = log.read(cursor, 5).unwrap();
    assert!(read.trimmed, "a reader whose records are gone is told");
    assert_eq!(read.records[0].0, log.first_id());
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        total <= (16 << 20) + (2 << 20),
        "the log keeps to about its bound and one segment: {total}"
    );
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn settings_round_trip_through_the_store_form() {
    let c = LogConfig {
        dir: "/var/lib/sb/logs/replay".into(),
        max_bytes: 2 << 20,
        max_age: Duration::from_secs(3600),
    };
    let stored = SinkKind::Log(c.clone()).settings();
    assert_eq!(stored["maxAge"], "1h");
    let read = |settings: &serde_json::Value| {
        SinkKind::from_settings("log", "replay", settings, None, &[])
    };
    assert_eq!(read(&stored).unwrap(), SinkKind::Log(c.clone()));
    let bad = serde_json::json!({"dir": "x", "maxBytes": 10, "maxAgeMs": 3600});
    assert!(read(&bad).unwrap_err().contains("maxBytes"));
    // As versions before this one stored it: the age in milliseconds.
    let earlier = serde_json::json!({"dir": c.dir, "maxBytes": c.max_bytes, "maxAgeMs": 3_600_000});
    assert_eq!(read(&earlier).unwrap(), SinkKind::Log(c));
}

#[test]
fn records_older_than_max_age_are_forgotten_even_when_nothing_more_is_written() {
    let dir = temp("age");
    let log = ReplayLog::open(&LogConfig {
        dir: dir.clone(),
        max_bytes: DEFAULT_MAX_BYTES,
        max_age: Duration::from_secs(60),
    })
    .unwrap();
    log.append(&(0..5).map(|n| record(n, 10)).collect::<Vec<_>>())
        .unwrap();
    let from_start = log.after(0);
    log.trim_at(std::time::SystemTime::now() + Duration::from_secs(30));
    assert_eq!(
        log.read(from_start, 10).unwrap().records.len(),
        5,
        "not old yet"
    );
    log.trim_at(std::time::SystemTime::now() + Duration::from_secs(61));
    let read = log.read(from_start, 10).unwrap();
    assert!(read.trimmed && read.records.is_empty(), "{read:?}");
    assert_eq!(log.first_id(), 6, "ids go on after the last forgotten one");
    assert_eq!(log.append(&[record(5, 10)]).unwrap(), 6);
    drop(log);
    let _ = std::fs::remove_dir_all(dir);
}
