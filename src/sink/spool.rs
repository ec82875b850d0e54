//! A sink's durable spool: an append-only log of records on disk, used while the destination fails.
//!
//! The spool is a directory of segments (`<n>.seg`, `n` growing) and a `cursor` file. A segment holds frames
//! `[len: u32 LE][crc32 of payload: u32 LE][payload]`; a payload is `[kind: u8][tenant len: u16 LE][tenant]
//! [json]`. Every appended batch is `fsync`ed before `append` returns. The cursor (`<segment> <offset>`, the
//! first record not yet acknowledged) is rewritten atomically (temporary file, `fsync`, rename) after each
//! acknowledged batch; segments wholly before it are deleted. On open, a torn tail (a partial frame or a bad
//! checksum, left by a crash in the middle of an append) is truncated, never replayed.
//!
//! The spool is bounded: an append that would take it past `max_bytes` is refused ([`Appended::Full`]) unless
//! the spool is empty (so that one batch larger than the bound still goes through). One process and one worker
//! use a spool at a time: the directory is locked (`flock`) while it is open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{Delivery, RecordKind};

/// The default bound of a spool: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The default size at which a segment is closed and a new one started.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

const HEADER: usize = 8;

/// Where a record starts: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What became of an append.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    Done,
    /// The spool is full: nothing was written.
    Full,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Every segment at or after the cursor's, with its size, oldest first; never empty.
    segments: Vec<(u64, u64)>,
    cursor: Position,
    writer: File,
    _lock: File,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn encode(d: &Delivery, out: &mut Vec<u8>) {
    let tenant = d.tenant.as_bytes();
    let tenant_len = tenant.len().min(u16::MAX as usize);
    let len = 1 + 2 + tenant_len + d.json.len();
    let start = out.len();
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(match d.kind {
        RecordKind::Event => 0,
        RecordKind::Gap => 1,
        RecordKind::Backfill => 2,
    });
    out.extend_from_slice(&(tenant_len as u16).to_le_bytes());
    out.extend_from_slice(&tenant[..tenant_len]);
    out.extend_from_slice(&d.json);
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn decode(payload: &[u8]) -> Option<Delivery> {
    let kind = match *payload.first()? {
        0 => RecordKind::Event,
        1 => RecordKind::Gap,
        2 => RecordKind::Backfill,
        _ => return None,
    };
    let tenant_len = u16::from_le_bytes(payload.get(1..3)?.try_into().ok()?) as usize;
    let tenant = std::str::from_utf8(payload.get(3..3 + tenant_len)?).ok()?;
    let json = Bytes::copy_from_slice(payload.get(3 + tenant_len..)?);
    Some(Delivery {
        kind,
        received_ms: None,
        tenant: Arc::from(tenant),
        json,
    })
}

/// Reads whole, valid frames of `data` from `offset`; returns the records and the offset after the last one.
/// Stops at the end, at a partial frame or at a bad checksum.
pub(crate) fn frames(data: &[u8], mut offset: usize, max: usize) -> (Vec<Delivery>, usize) {
    let mut out = Vec::new();
    while out.len() < max && offset + HEADER <= data.len() {
        let word = |at: usize| {
            data.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let (Some(len), Some(crc)) = (word(offset), word(offset + 4)) else {
            break;
        };
        let len = len as usize;
        let Some(payload) = data.get(offset + HEADER..offset + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(d) = decode(payload) else { break };
        out.push(d);
        offset += HEADER + len;
    }
    (out, offset)
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, truncating a torn tail. Fails with `WouldBlock` while another
    /// worker or process holds it.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let lock = crate::files::lock_dir(dir)?;
        let mut numbers: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".seg")?
                    .parse::<u64>()
                    .ok()
            })
            .collect();
        numbers.sort_unstable();
        let mut cursor = fs::read_to_string(dir.join("cursor"))
            .ok()
            .and_then(|s| {
                let (a, b) = s.trim().split_once(' ')?;
                Some(Position {
                    segment: a.parse().ok()?,
                    offset: b.parse().ok()?,
                })
            })
            .unwrap_or(Position {
                segment: numbers.first().copied().unwrap_or(0),
                offset: 0,
            });
        // Segments wholly acknowledged (a crash between the cursor's write and their deletion).
        for &n in numbers.iter().filter(|&&n| n < cursor.segment) {
            fs::remove_file(segment_path(dir, n))?;
        }
        numbers.retain(|&n| n >= cursor.segment);
        if numbers.first() != Some(&cursor.segment) {
            cursor = Position {
                segment: numbers.first().copied().unwrap_or(cursor.segment),
                offset: 0,
            };
        }
        if numbers.is_empty() {
            File::create(segment_path(dir, cursor.segment))?;
            sync_dir(dir)?;
            numbers.push(cursor.segment);
        }
        let mut segments = Vec::with_capacity(numbers.len());
        for &n in &numbers {
            let path = segment_path(dir, n);
            let data = fs::read(&path)?;
            let (_, valid) = frames(&data, 0, usize::MAX);
            if valid < data.len() {
                tracing::warn!(segment = %path.display(), kept = valid, dropped = data.len() - valid, "spool: torn tail truncated");
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(valid as u64)?;
                f.sync_all()?;
            }
            segments.push((n, valid as u64));
        }
        cursor.offset = cursor.offset.min(segments[0].1);
        let last = segments
            .last()
            .map(|s| s.0)
            .ok_or_else(|| io::Error::other("the spool has no segment"))?;
        let writer = OpenOptions::new()
            .append(true)
            .open(segment_path(dir, last))?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            segments,
            cursor,
            writer,
            _lock: lock,
        })
    }

    /// Bytes of records not yet acknowledged.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.1).sum::<u64>() - self.cursor.offset
    }

    pub fn is_empty(&self) -> bool {
        self.bytes() == 0
    }

    /// Appends `batch` and makes it durable, or refuses it whole when it would take the spool past its bound
    /// (an empty spool takes any batch).
    pub fn append(&mut self, batch: &[Delivery]) -> io::Result<Appended> {
        if batch.is_empty() {
            return Ok(Appended::Done);
        }
        let mut buf = Vec::new();
        for d in batch {
            encode(d, &mut buf);
        }
        if !self.is_empty() && self.bytes() + buf.len() as u64 > self.max_bytes {
            return Ok(Appended::Full);
        }
        let (last, size) = *self
            .segments
            .last()
            .ok_or_else(|| io::Error::other("the spool has no segment"))?;
        if size >= self.segment_bytes {
            let next = last + 1;
            self.writer = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(&self.dir, next))?;
            sync_dir(&self.dir)?;
            self.segments.push((next, 0));
        }
        let result = self
            .writer
            .write_all(&buf)
            .and_then(|()| self.writer.sync_data());
        let Some(tail) = self.segments.last_mut() else {
            return Err(io::Error::other("the spool has no segment"));
        };
        if let Err(e) = result {
            // Whatever part was written is cut off again, so the next append starts on a frame boundary.
            let _ = self.writer.set_len(tail.1);
            return Err(e);
        }
        tail.1 += buf.len() as u64;
        Ok(Appended::Done)
    }

    /// The position just after the last record appended: acknowledging it empties the spool.
    pub fn end(&self) -> Position {
        let (segment, offset) = self
            .segments
            .last()
            .copied()
            .unwrap_or((self.cursor.segment, 0));
        Position { segment, offset }
    }

    /// Reads up to `max` records from the oldest not yet acknowledged, without acknowledging them; returns
    /// them and the position to acknowledge once they are delivered. Never reads past a segment's end.
    pub fn read(&mut self, max: usize) -> io::Result<(Vec<Delivery>, Position)> {
        self.skip_finished()?;
        let (segment, size) = self.segments[0];
        let mut f = File::open(segment_path(&self.dir, segment))?;
        f.seek(SeekFrom::Start(self.cursor.offset))?;
        // At most ~8 MiB a read, but always at least one record.
        let mut data = Vec::new();
        (&mut f)
            .take((size - self.cursor.offset).min(8 << 20))
            .read_to_end(&mut data)?;
        let (mut records, mut end) = frames(&data, 0, max);
        if records.is_empty() && !data.is_empty() {
            data.clear();
            f.seek(SeekFrom::Start(self.cursor.offset))?;
            (&mut f)
                .take(size - self.cursor.offset)
                .read_to_end(&mut data)?;
            (records, end) = frames(&data, 0, 1);
        }
        Ok((
            records,
            Position {
                segment,
                offset: self.cursor.offset + end as u64,
            },
        ))
    }

    /// Acknowledges every record before `to`: the cursor moves there (durably) and finished segments go.
    pub fn ack(&mut self, to: Position) -> io::Result<()> {
        if to <= self.cursor {
            return Ok(());
        }
        self.cursor = to;
        self.skip_finished()?;
        let tmp = self.dir.join("cursor.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{} {}\n", self.cursor.segment, self.cursor.offset).as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, self.dir.join("cursor"))?;
        sync_dir(&self.dir)
    }

    /// Moves the cursor past wholly read segments other than the last, deleting them.
    fn skip_finished(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.cursor.offset >= self.segments[0].1 {
            let (old, _) = self.segments.remove(0);
            self.cursor = Position {
                segment: self.segments[0].0,
                offset: 0,
            };
            let tmp = self.dir.join("cursor.tmp");
            let mut f = File::create(&tmp)?;
            f.write_all(format!("{} 0\n", self.cursor.segment).as_bytes())?;
            f.sync_data()?;
            fs::rename(&tmp, self.dir.join("cursor"))?;
            sync_dir(&self.dir)?;
            fs::remove_file(segment_path(&self.dir, old))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: usize) -> Delivery {
        Delivery {
            kind: RecordKind::Event,
            received_ms: None,
            tenant: Arc::from("t1"),
            json: Bytes::from(format!("{{\"n\":{i}}}")),
        }
    }

    fn n(d: &Delivery) -> usize {
        let v: serde_json::Value = serde_json::from_slice(&d.json).unwrap();
        v["n"].as_u64().unwrap() as usize
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sb-spool-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Reads and acknowledges everything.
    fn drain(s: &mut Spool) -> Vec<usize> {
        let mut out = Vec::new();
        loop {
            let (records, to) = s.read(7).unwrap();
            if records.is_empty() {
                return out;
            }
            out.extend(records.iter().map(n));
            s.ack(to).unwrap();
        }
    }

    #[test]
    fn append_read_ack_and_reopen() {
        let dir = scratch("basic");
        {
            let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
            assert!(s.is_empty());
            let batch: Vec<Delivery> = (0..10).map(d).collect();
            assert_eq!(s.append(&batch).unwrap(), Appended::Done);
            assert!(!s.is_empty());
            let (records, to) = s.read(4).unwrap();
            assert_eq!(records.iter().map(n).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
            assert_eq!(&*records[0].tenant, "t1");
            assert_eq!(records[0].kind, RecordKind::Event);
            // Not acknowledged: read again.
            let (again, _) = s.read(4).unwrap();
            assert_eq!(again.iter().map(n).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
            s.ack(to).unwrap();
            // Locked while open.
            assert!(Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).is_err());
        }
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
        assert_eq!(drain(&mut s), (4..10).collect::<Vec<_>>());
        assert!(s.is_empty());
        drop(s);
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
        assert!(s.is_empty());
        assert!(drain(&mut s).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_dropped() {
        let dir = scratch("torn");
        {
            let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
            s.append(&(0..5).map(d).collect::<Vec<_>>()).unwrap();
        }
        let seg = segment_path(&dir, 0);
        // A partial frame at the end, as after a crash during a write.
        let mut buf = Vec::new();
        encode(&d(5), &mut buf);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&buf[..buf.len() - 3]).unwrap();
        drop(f);
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
        s.append(&[d(6)]).unwrap();
        assert_eq!(drain(&mut s), vec![0, 1, 2, 3, 4, 6]);
        drop(s);
        // A whole frame with a bad checksum at the end.
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
        s.append(&[d(7)]).unwrap();
        drop(s);
        let mut buf = Vec::new();
        encode(&d(8), &mut buf);
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&buf).unwrap();
        drop(f);
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES).unwrap();
        assert_eq!(drain(&mut s), vec![7]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn order_is_kept_across_segments_and_finished_segments_are_deleted() {
        let dir = scratch("segments");
        {
            let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, 100).unwrap();
            for i in 0..50 {
                s.append(&[d(2 * i), d(2 * i + 1)]).unwrap();
            }
            let segs = fs::read_dir(&dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
                .count();
            assert!(segs > 10, "{segs}");
            // Half read and acknowledged, then a restart.
            let mut got = Vec::new();
            while got.len() < 40 {
                let (records, to) = s.read(3).unwrap();
                got.extend(records.iter().map(n));
                s.ack(to).unwrap();
            }
            assert_eq!(got, (0..got.len()).collect::<Vec<_>>());
        }
        let mut s = Spool::open(&dir, DEFAULT_MAX_BYTES, 100).unwrap();
        let rest = drain(&mut s);
        assert_eq!(rest.first().copied(), Some(rest[0]));
        assert!(rest[0] >= 40);
        assert_eq!(rest, (rest[0]..100).collect::<Vec<_>>());
        let segs = fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
            .count();
        assert_eq!(segs, 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_bound_is_enforced() {
        let dir = scratch("bound");
        let mut s = Spool::open(&dir, 200, 64).unwrap();
        // An empty spool takes any batch, even one past the bound.
        assert_eq!(
            s.append(&(0..20).map(d).collect::<Vec<_>>()).unwrap(),
            Appended::Done
        );
        assert!(s.bytes() > 200);
        assert_eq!(s.append(&[d(20)]).unwrap(), Appended::Full);
        drain(&mut s);
        let mut appended = 0;
        while s.append(&[d(appended)]).unwrap() == Appended::Done {
            appended += 1;
        }
        assert!(s.bytes() <= 200);
        assert!(appended > 3);
        // Room again once some are acknowledged.
        let (_, to) = s.read(2).unwrap();
        s.ack(to).unwrap();
        assert_eq!(s.append(&[d(99)]).unwrap(), Appended::Done);
        fs::remove_dir_all(&dir).unwrap();
    }
}
