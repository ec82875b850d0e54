//! The replay log on disk: a directory of segments in the spool's frame format, each named after the id of
//! its first record (`<id>.seg`, 20 digits), so that record ids (1, 2, 3 …) survive restarts and trimming
//! without an index of their own. Appends are `fsync`ed per batch. Readers follow with a [`Cursor`] (segment,
//! byte offset, next id) and never read past what the writer has committed; a reader whose records were
//! trimmed under it is told so ([`Read::trimmed`]).
//!
//! One process opens a log directory once: [`ReplayLog::open`] hands out the same `Arc` to the sink's writer
//! (and to its replacement while the old worker drains) and to the admin API's readers, and locks the
//! directory (`flock`) against other processes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::config::LogConfig;
use crate::sink::Delivery;
use crate::sink::spool::{encode, frames};

/// A new segment is started past an eighth of `max_bytes`, within these bounds (or once the current one is a
/// quarter of `max_age` old), so that trimming by size and age removes the log in small steps.
const SEGMENT_BYTES: (u64, u64) = (4 << 10, 16 << 20);
/// The most a reader takes from a segment at once.
const READ_BYTES: u64 = 4 << 20;

/// Where a reader is: the segment (by its first id), the byte offset in it and the id of the record there,
/// and the first id it wants (records before it are read and dropped: a cursor made for an id starts at its
/// segment's beginning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    segment: u64,
    offset: u64,
    at: u64,
    /// The id of the next record the reader gets.
    pub next: u64,
}

impl Cursor {
    /// At the start of segment `base`, wanting records from `next` on.
    fn segment_start(base: u64, next: u64) -> Cursor {
        Cursor {
            segment: base,
            offset: 0,
            at: base,
            next: next.max(base),
        }
    }
}

/// What a read found.
#[derive(Debug)]
pub struct Read {
    /// (id, record), oldest first.
    pub records: Vec<(u64, Delivery)>,
    /// Where to read next.
    pub cursor: Cursor,
    /// Records the reader asked for were trimmed: the read starts at the oldest kept record instead.
    pub trimmed: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    /// The id of its first record.
    base: u64,
    records: u64,
    bytes: u64,
    /// When its first record was written (the file's creation, as far as this process knows).
    started: SystemTime,
    /// When its last record was written.
    written: SystemTime,
}

struct State {
    /// Oldest first; never empty: the last is the one appended to.
    segments: Vec<Segment>,
    writer: File,
}

/// A replay log (see the module's documentation).
pub struct ReplayLog {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    max_age: Duration,
    state: Mutex<State>,
    /// The id of the last record appended (0 while the log has none): readers wait on it.
    last: watch::Sender<u64>,
    _lock: File,
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.seg"))
}

/// The logs open in this process, by directory.
fn open_logs() -> &'static Mutex<HashMap<PathBuf, Weak<ReplayLog>>> {
    static LOGS: OnceLock<Mutex<HashMap<PathBuf, Weak<ReplayLog>>>> = OnceLock::new();
    LOGS.get_or_init(Default::default)
}

impl ReplayLog {
    /// Opens the log in `config.dir` (creating it), or returns the one this process already has open there
    /// (taking the newer bounds). A torn last frame (a crash in the middle of an append) is cut off.
    pub fn open(config: &LogConfig) -> io::Result<Arc<ReplayLog>> {
        fs::create_dir_all(&config.dir)?;
        let dir = fs::canonicalize(&config.dir)?;
        let mut logs = open_logs().lock();
        logs.retain(|_, w| w.strong_count() > 0);
        if let Some(log) = logs.get(&dir).and_then(Weak::upgrade) {
            return Ok(log);
        }
        let log = Arc::new(ReplayLog::open_dir(&dir, config)?);
        logs.insert(dir, Arc::downgrade(&log));
        Ok(log)
    }

    /// The log this process has open in `dir`, if any (a reader must not open a log no sink writes).
    pub fn find(dir: &Path) -> Option<Arc<ReplayLog>> {
        let dir = fs::canonicalize(dir).ok()?;
        open_logs().lock().get(&dir).and_then(Weak::upgrade)
    }

    fn open_dir(dir: &Path, config: &LogConfig) -> io::Result<ReplayLog> {
        let lock = crate::files::lock_dir(dir)?;
        let mut bases: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let path = segment_path(dir, base);
            let data = fs::read(&path)?;
            let (records, valid) = frames(&data, 0, usize::MAX);
            if valid < data.len() {
                tracing::warn!(segment = %path.display(), kept = valid, dropped = data.len() - valid, "replay log: torn tail truncated");
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(valid as u64)?;
                f.sync_all()?;
            }
            let meta = fs::metadata(&path)?;
            let written = meta.modified().unwrap_or_else(|_| SystemTime::now());
            let segment = Segment {
                base,
                records: records.len() as u64,
                bytes: valid as u64,
                started: meta.created().unwrap_or(written),
                written,
            };
            // A segment that does not reach the next one's first id would leave a hole in the ids: only the
            // last may be shorter than its successor expects, and ids never go back.
            if let Some(&next) = bases.get(i + 1)
                && segment.base + segment.records > next
            {
                return Err(io::Error::other(format!(
                    "{}: segment {base} overlaps segment {next}",
                    dir.display()
                )));
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            File::create(segment_path(dir, 1))?;
            File::open(dir)?.sync_all()?;
            let now = SystemTime::now();
            segments.push(Segment {
                base: 1,
                records: 0,
                bytes: 0,
                started: now,
                written: now,
            });
        }
        let tail = segments
            .last()
            .cloned()
            .ok_or_else(|| io::Error::other("no segment"))?;
        let writer = OpenOptions::new()
            .append(true)
            .open(segment_path(dir, tail.base))?;
        let (last, _) = watch::channel(tail.base + tail.records - 1);
        Ok(ReplayLog {
            dir: dir.to_path_buf(),
            max_bytes: config.max_bytes,
            segment_bytes: (config.max_bytes / 8).clamp(SEGMENT_BYTES.0, SEGMENT_BYTES.1),
            max_age: config.max_age,
            state: Mutex::new(State { segments, writer }),
            last,
            _lock: lock,
        })
    }

    /// Appends `batch` durably; returns the id of its last record.
    pub fn append(&self, batch: &[Delivery]) -> io::Result<u64> {
        let mut st = self.state.lock();
        if batch.is_empty() {
            return Ok(*self.last.borrow());
        }
        let now = SystemTime::now();
        let roll = st.segments.last().is_some_and(|s| {
            s.records > 0
                && (s.bytes >= self.segment_bytes
                    || now.duration_since(s.started).unwrap_or_default() > self.max_age / 4)
        });
        if roll {
            self.roll(&mut st, now)?;
        }
        let mut buf = Vec::new();
        for d in batch {
            encode(d, &mut buf);
        }
        let result = st
            .writer
            .write_all(&buf)
            .and_then(|()| st.writer.sync_data());
        let committed = st.segments.last().map_or(0, |s| s.bytes);
        if let Err(e) = result {
            // Whatever part was written is cut off again, so the next append starts on a frame boundary.
            let _ = st.writer.set_len(committed);
            return Err(e);
        }
        let last = {
            let Some(tail) = st.segments.last_mut() else {
                return Err(io::Error::other("no segment"));
            };
            tail.bytes += buf.len() as u64;
            tail.records += batch.len() as u64;
            tail.written = now;
            tail.base + tail.records - 1
        };
        self.trim(&mut st, now);
        drop(st);
        self.last.send_replace(last);
        Ok(last)
    }

    /// Starts a new segment after the last (empty, named after the next id).
    fn roll(&self, st: &mut State, now: SystemTime) -> io::Result<()> {
        let next = st.segments.last().map_or(1, |s| s.base + s.records);
        st.writer = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(&self.dir, next))?;
        File::open(&self.dir)?.sync_all()?;
        st.segments.push(Segment {
            base: next,
            records: 0,
            bytes: 0,
            started: now,
            written: now,
        });
        Ok(())
    }

    /// Deletes the oldest segments past `max_bytes` or whose records are all older than `max_age`. The segment
    /// appended to goes too once its records are all too old (a new, empty one takes its place), so that a
    /// log nobody writes to any more still forgets on time.
    fn trim(&self, st: &mut State, now: SystemTime) {
        let too_old = |s: &Segment| {
            s.records > 0 && now.duration_since(s.written).unwrap_or_default() > self.max_age
        };
        if st.segments.last().is_some_and(too_old)
            && let Err(e) = self.roll(st, now)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "replay log: cannot start a segment");
        }
        loop {
            let total: u64 = st.segments.iter().map(|s| s.bytes).sum();
            if st.segments.len() < 2 || !(total > self.max_bytes || too_old(&st.segments[0])) {
                return;
            }
            let path = segment_path(&self.dir, st.segments[0].base);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(segment = %path.display(), error = %e, "replay log: cannot trim a segment");
                return;
            }
            st.segments.remove(0);
        }
    }

    /// Trims what is too old now: readers call it, so that age holds when nothing is appended.
    fn trim_now(&self) {
        self.trim_at(SystemTime::now());
    }

    /// Trims what is too old at `now`.
    pub(super) fn trim_at(&self, now: SystemTime) {
        let mut st = self.state.lock();
        self.trim(&mut st, now);
    }

    /// The id of the last record appended (0 while there is none), to wait on for more.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }

    /// The id of the oldest record kept.
    pub fn first_id(&self) -> u64 {
        self.state.lock().segments[0].base
    }

    /// A cursor at the first record after `after` (0: the oldest kept); a trimmed position starts at the oldest
    /// kept record (the first read says so).
    pub fn after(&self, after: u64) -> Cursor {
        self.trim_now();
        let st = self.state.lock();
        let end = st.segments.last().map_or(1, |s| s.base + s.records);
        // An id from the future (another log's, or a typo) waits for the next record rather than skipping.
        let want = after.saturating_add(1).min(end);
        match st.segments.iter().rev().find(|s| s.base <= want) {
            Some(seg) => Cursor::segment_start(seg.base, want),
            // Before the oldest kept segment: the read reports it trimmed.
            None => Cursor::segment_start(0, want),
        }
    }

    /// A cursor after the last record: only what is appended from now on.
    pub fn end(&self) -> Cursor {
        let st = self.state.lock();
        let (base, records, bytes) = st
            .segments
            .last()
            .map_or((1, 0, 0), |s| (s.base, s.records, s.bytes));
        Cursor {
            segment: base,
            offset: bytes,
            at: base + records,
            next: base + records,
        }
    }

    /// The first segment whose last write is at or after `since` (older ones cannot hold a record from
    /// then): where a search by time starts, and whether older records were trimmed.
    pub fn from_time(&self, since: SystemTime) -> Cursor {
        self.trim_now();
        let st = self.state.lock();
        let seg = st
            .segments
            .iter()
            .find(|s| s.written >= since)
            .or(st.segments.last())
            .map_or(1, |s| s.base);
        Cursor::segment_start(seg, seg)
    }

    /// When the oldest kept record was written, about (its segment's start).
    pub fn oldest_time(&self) -> SystemTime {
        self.state.lock().segments[0].started
    }

    /// Reads up to `max` records from `cursor`. Records the cursor skips (it was made for an id inside a
    /// segment) are read and dropped.
    pub fn read(&self, cursor: Cursor, max: usize) -> io::Result<Read> {
        self.trim_now();
        let (mut cursor, trimmed) = {
            let st = self.state.lock();
            match st.segments.iter().find(|s| s.base == cursor.segment) {
                Some(_) => (cursor, false),
                // Its segment was trimmed (or it predates the log): restart at the oldest kept record.
                None if cursor.segment < st.segments[0].base => {
                    (Cursor::segment_start(st.segments[0].base, 0), true)
                }
                None => return Err(io::Error::other("the position is not in this log")),
            }
        };
        let mut out = Vec::new();
        loop {
            let (size, next_segment) = {
                let st = self.state.lock();
                let Some(i) = st.segments.iter().position(|s| s.base == cursor.segment) else {
                    // Trimmed while reading: the caller reads again and is told.
                    return Ok(Read {
                        records: out,
                        cursor,
                        trimmed,
                    });
                };
                (st.segments[i].bytes, st.segments.get(i + 1).map(|s| s.base))
            };
            if cursor.offset >= size {
                match next_segment {
                    Some(base) => {
                        cursor = Cursor::segment_start(base, cursor.next);
                        continue;
                    }
                    None => break,
                }
            }
            if out.len() >= max {
                break;
            }
            let mut f = match File::open(segment_path(&self.dir, cursor.segment)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            f.seek(SeekFrom::Start(cursor.offset))?;
            let mut data = Vec::new();
            (&mut f)
                .take((size - cursor.offset).min(READ_BYTES))
                .read_to_end(&mut data)?;
            let (mut records, _) = frames(&data, 0, usize::MAX);
            if records.is_empty() {
                // A record larger than a read: take the rest of its segment.
                if data.len() as u64 >= size - cursor.offset {
                    break;
                }
                f.seek(SeekFrom::Start(cursor.offset))?;
                data.clear();
                (&mut f).take(size - cursor.offset).read_to_end(&mut data)?;
                (records, _) = frames(&data, 0, 1);
                if records.is_empty() {
                    break;
                }
            }
            for d in records {
                if cursor.at >= cursor.next {
                    if out.len() >= max {
                        break;
                    }
                    cursor.next = cursor.at + 1;
                    out.push((cursor.at, d.clone()));
                }
                cursor.offset += framed_len(&d);
                cursor.at += 1;
            }
        }
        Ok(Read {
            records: out,
            cursor,
            trimmed,
        })
    }
}

/// The bytes `d` takes in a segment (as `spool::encode` writes it).
fn framed_len(d: &Delivery) -> u64 {
    (8 + 1 + 2 + d.tenant.len().min(u16::MAX as usize) + d.json.len()) as u64
}
