//! What the demo's screen shows of its sink file: how many records and gaps it holds and the latest gaps,
//! read incrementally (each tick reads only what was appended since the last).

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Gaps the screen lists.
const RECENT: usize = 5;
/// The most one tick reads, so that a burst never holds the screen up; the rest is read on the next ticks.
const READ_PER_TICK: u64 = 8 << 20;
/// How a gap record's line says so.
const GAP_KIND: &[u8] = br#""kind":"gap""#;

/// The sink file as far as it has been read.
#[derive(Debug)]
pub struct SinkFile {
    path: PathBuf,
    offset: u64,
    /// The start of a line whose end is not written yet.
    partial: Vec<u8>,
    pub records: u64,
    pub gaps: RecentGaps,
}

impl SinkFile {
    pub fn new(path: PathBuf) -> SinkFile {
        SinkFile {
            path,
            offset: 0,
            partial: Vec::new(),
            records: 0,
            gaps: RecentGaps::default(),
        }
    }

    /// Reads what was appended since the last call. A file shorter than what was read was rotated: it is
    /// read again from its start (the counts go on).
    pub fn read_new(&mut self) {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return;
        };
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut chunk = Vec::new();
        let Ok(read) = file.take(READ_PER_TICK).read_to_end(&mut chunk) else {
            return;
        };
        self.offset += read as u64;
        self.take(&chunk);
    }

    /// Counts the complete lines of `bytes` (after what was left over) and keeps the gaps among them.
    fn take(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.partial.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.records += 1;
            // Only gap lines are parsed: events are the bulk and need no more than counting.
            if line.windows(GAP_KIND.len()).any(|w| w == GAP_KIND)
                && let Ok(gap) = serde_json::from_slice::<Value>(line)
            {
                self.gaps.push(&gap);
            }
        }
    }
}

/// One gap as the screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct GapLine {
    pub tenant: String,
    pub reason: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub topics: usize,
}

/// How many gaps were seen, and the latest few.
#[derive(Debug, Default)]
pub struct RecentGaps {
    total: u64,
    latest: VecDeque<GapLine>,
}

impl RecentGaps {
    pub fn total(&self) -> u64 {
        self.total
    }

    fn push(&mut self, gap: &Value) {
        self.total += 1;
        if self.latest.len() == RECENT {
            self.latest.pop_front();
        }
        self.latest.push_back(GapLine {
            tenant: gap["tenant"].as_str().unwrap_or("-").to_string(),
            reason: gap["reason"].as_str().unwrap_or("-").to_string(),
            from: crate::cli::time_of(&gap["from"]),
            to: crate::cli::time_of(&gap["to"]),
            topics: gap["topics"].as_array().map_or(0, Vec::len),
        });
    }

    /// The latest gaps, newest first, one line each cut to `width`.
    pub fn render(&self, now: DateTime<Utc>, width: usize) -> String {
        if self.latest.is_empty() {
            return "recent gaps: none\n".into();
        }
        let mut out = String::from("recent gaps (newest first):\n");
        for g in self.latest.iter().rev() {
            let span = match (g.from, g.to) {
                (Some(from), Some(to)) => format!(
                    "{} long, ended {}",
                    crate::cli::length(to - from),
                    crate::cli::ago(to, now)
                ),
                _ => "-".into(),
            };
            let line = format!(
                "  {:<8} {:<18} {span}, {} topics",
                g.tenant, g.reason, g.topics
            );
            out.push_str(&crate::cli::cut_lines(&line, width));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"kind":"event","id":"1","tenant":"acme"}"#;
    const GAP: &str = r#"{"kind":"gap","tenant":"acme","reason":"heartbeat_timeout","from":"2026-11-23T10:00:01Z","to":"2026-11-23T10:00:04.100Z","topics":["a","b"]}"#;

    #[test]
    fn lines_are_counted_once_across_reads_that_end_mid_line() {
        let mut f = SinkFile::new(PathBuf::new());
        let text = format!("{EVENT}\n{GAP}\n{EVENT}\n");
        let (a, b) = text.as_bytes().split_at(EVENT.len() + 10);
        f.take(a);
        assert_eq!((f.records, f.gaps.total()), (1, 0));
        f.take(b);
        assert_eq!((f.records, f.gaps.total()), (3, 1));
        assert!(f.partial.is_empty());
    }

    #[test]
    fn the_file_is_read_from_where_the_last_tick_stopped_and_again_after_a_rotation() {
        let dir = std::env::temp_dir().join(format!("sb-screen-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        let mut f = SinkFile::new(path.clone());
        f.read_new();
        assert_eq!(f.records, 0, "no file yet");
        std::fs::write(&path, format!("{EVENT}\n{EVENT}\n")).unwrap();
        f.read_new();
        let mut append = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut append, format!("{GAP}\n").as_bytes()).unwrap();
        f.read_new();
        assert_eq!((f.records, f.gaps.total()), (3, 1), "nothing read twice");
        std::fs::write(&path, format!("{EVENT}\n")).unwrap();
        f.read_new();
        assert_eq!(f.records, 4, "a rotated file is read from its start");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn recent_gaps_show_reason_length_and_age_newest_first_within_the_width() {
        let mut gaps = RecentGaps::default();
        for i in 0..7 {
            let mut g: Value = serde_json::from_str(GAP).unwrap();
            g["tenant"] = format!("t{i}").into();
            gaps.push(&g);
        }
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:16.100Z")
            .unwrap()
            .to_utc();
        let screen = gaps.render(now, 80);
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(gaps.total(), 7);
        assert_eq!(lines.len(), 1 + RECENT, "{screen}");
        assert!(
            lines[1].contains("t6") && lines[5].contains("t2"),
            "{screen}"
        );
        assert!(
            lines[1].contains("heartbeat_timeout") && lines[1].contains("3.1s long, ended 12s ago"),
            "{screen}"
        );
        assert!(screen.lines().all(|l| l.chars().count() <= 80));
        assert_eq!(RecentGaps::default().render(now, 80), "recent gaps: none\n");
    }
}
