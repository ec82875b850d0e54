//! Following a growing file and noting when each line appeared in it, for the latency benchmark.
//!
//! A thread waits on inotify (Linux) for the file to be written, reads what was appended and stamps each
//! complete line with the wall-clock time just after the read — at or after the moment the line was
//! written, never before. Without inotify it falls back to reading every millisecond.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A line that appeared in the file, parsed.
#[derive(Debug, Clone)]
pub struct Seen<T> {
    pub at: DateTime<Utc>,
    pub line: T,
}

/// A running tail; [`Tail::stop`] returns what it saw.
pub struct Tail<T> {
    stop: Arc<AtomicBool>,
    lines: Arc<AtomicUsize>,
    thread: JoinHandle<std::io::Result<Vec<Seen<T>>>>,
}

impl<T: Send + 'static> Tail<T> {
    /// Follows `path` (which must exist) from its current end. Lines `parse` rejects are not kept.
    pub fn start(path: &Path, parse: fn(&[u8]) -> Option<T>) -> std::io::Result<Tail<T>> {
        let mut file = File::open(path)?;
        let end = file.metadata()?.len();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(end))?;
        let watch = Watch::new(path);
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, lines) = (stop.clone(), lines.clone());
            std::thread::Builder::new()
                .name("bench-tail".into())
                .spawn(move || follow(file, watch, parse, &stop, &lines))?
        };
        Ok(Tail {
            stop,
            lines,
            thread,
        })
    }

    /// Complete lines seen so far (parsed or not).
    pub fn lines(&self) -> usize {
        self.lines.load(Ordering::Relaxed)
    }

    /// Reads what is left and returns every line seen.
    pub fn stop(self) -> anyhow::Result<Vec<Seen<T>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the tail thread panicked"))?
            .map_err(Into::into)
    }
}

fn follow<T>(
    mut file: File,
    watch: Option<Watch>,
    parse: fn(&[u8]) -> Option<T>,
    stop: &AtomicBool,
    lines: &AtomicUsize,
) -> std::io::Result<Vec<Seen<T>>> {
    let mut seen = Vec::new();
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let before = pending.len();
        file.read_to_end(&mut pending)?;
        let at = Utc::now();
        if pending.len() > before {
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                if let Some(line) = parse(&pending[start..start + nl]) {
                    seen.push(Seen { at, line });
                }
                lines.fetch_add(1, Ordering::Relaxed);
                start += nl + 1;
            }
            pending.drain(..start);
        }
        if stopping {
            return Ok(seen);
        }
        match &watch {
            Some(w) => w.wait(Duration::from_millis(50)),
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// An inotify watch for writes to one file.
struct Watch {
    fd: libc::c_int,
}

impl Watch {
    fn new(path: &Path) -> Option<Watch> {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain libc calls; `c_path` is a valid NUL-terminated string for the call's duration.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
            if fd < 0 {
                return None;
            }
            if libc::inotify_add_watch(fd, c_path.as_ptr(), libc::IN_MODIFY) < 0 {
                libc::close(fd);
                return None;
            }
            Some(Watch { fd })
        }
    }

    /// Returns when the file was written (or after `timeout`), with the pending notifications consumed.
    fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut buf = [0u8; 4096];
        // SAFETY: `pfd` and `buf` are valid for the calls; the fd is ours and open.
        unsafe {
            libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int);
            while libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sees_appended_lines_in_order_and_not_the_ones_before() {
        let dir = std::env::temp_dir().join(format!("switchboard-tail-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, "old\n").unwrap();
        let tail = Tail::start(&path, |l| Some(String::from_utf8_lossy(l).into_owned())).unwrap();
        let before = Utc::now();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"one\ntw").unwrap();
        f.flush().unwrap();
        f.write_all(b"o\nthree\n").unwrap();
        f.flush().unwrap();
        let seen = tail.stop().unwrap();
        let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
        assert_eq!(lines, ["one", "two", "three"]);
        assert!(seen.iter().all(|s| s.at >= before));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
