//! Paths that admins type: confined to a directory, and read only as small regular files.
//!
//! An admin API body names files (a file sink's path, a tenant's `caFile`). Without a rule, such a path can
//! reach anything the process can: another sink's spool, the store, `/proc/self/mem`, a FIFO that blocks the
//! reader for ever, `/dev/zero` that never ends. [`confine`] keeps a path below one directory (no `..`, no
//! symbolic link leading out); [`read_regular`] reads a regular file only, and only up to a bound.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest `caFile` read: a bundle of a few hundred certificates fits.
pub const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// `requested` as a path below `root`: relative paths are taken from `root`, absolute ones must already be
/// below it. Refused: `..` components, a path that is `root` itself, and a path whose existing part leads
/// out of `root` through a symbolic link (or is one).
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, String> {
    let requested = requested.trim();
    if requested.is_empty() {
        return Err("must not be empty".into());
    }
    if requested.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    let path = Path::new(requested);
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{requested:?} must not contain `..`"));
    }
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let root_real = root
        .canonicalize()
        .map_err(|e| format!("the data directory {} is not usable: {e}", root.display()))?;
    // The lexical check first (an absolute path elsewhere), then the real one (links).
    if !joined.starts_with(root) && !joined.starts_with(&root_real) {
        return Err(format!(
            "{requested:?} is outside the data directory {}",
            root.display()
        ));
    }
    if joined.file_name().is_none() || joined == root || joined == root_real {
        return Err(format!("{requested:?} names no file"));
    }
    // The deepest part that exists decides where the path really leads.
    let mut existing = joined.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    if std::fs::symlink_metadata(&joined).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!("{requested:?} is a symbolic link"));
    }
    let real = existing
        .canonicalize()
        .map_err(|e| format!("{requested:?}: {e}"))?;
    if !real.starts_with(&root_real) {
        return Err(format!(
            "{requested:?} leads outside the data directory {}",
            root.display()
        ));
    }
    // `join("")` would add a trailing separator: an existing file is its real path as it is.
    match joined.strip_prefix(existing) {
        Ok(rest) if !rest.as_os_str().is_empty() => Ok(real.join(rest)),
        _ => Ok(real),
    }
}

/// Reads `path` if it is a regular file of at most `max` bytes. FIFOs, devices and directories are refused
/// before they are opened; the file is opened non-blocking, so that a file swapped for a FIFO meanwhile
/// cannot block the reader; reading stops past `max`.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let opened = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !opened.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Locks `dir` for this process (`flock` on `dir/lock`, created if missing) while the returned file is open;
/// `WouldBlock` while another holds it. One writer per spool or log directory, across processes too.
pub fn lock_dir(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn relative_paths_land_below_the_root_and_parents_are_refused() {
        let dir = scratch();
        let root = dir.path();
        let ok = confine(root, "out/events.jsonl").unwrap();
        assert!(ok.starts_with(root.canonicalize().unwrap()));
        assert!(ok.ends_with("out/events.jsonl"));
        // An existing file is its own path (no trailing separator).
        std::fs::write(root.join("there.jsonl"), b"").unwrap();
        let there = confine(root, "there.jsonl").unwrap();
        assert_eq!(there, root.canonicalize().unwrap().join("there.jsonl"));
        for bad in [
            "../x.jsonl",
            "a/../../x.jsonl",
            "../../../var/tmp/x.jsonl",
            "",
            ".",
        ] {
            assert!(confine(root, bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn absolute_paths_must_already_be_below_the_root() {
        let dir = scratch();
        let root = dir.path();
        let inside = root.join("events.jsonl");
        assert!(confine(root, inside.to_str().unwrap()).is_ok());
        for bad in ["/proc/self/mem", "/etc/passwd", "/var/tmp/x.jsonl"] {
            assert!(confine(root, bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_cannot_lead_out() {
        let dir = scratch();
        let outside = scratch();
        let root = dir.path();
        std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
        assert!(confine(root, "escape/x.jsonl").is_err());
        assert!(confine(root, "passwd").is_err());
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = scratch();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, b"-----BEGIN CERTIFICATE-----").unwrap();
        assert_eq!(read_regular(&file, 100).unwrap().len(), 27);
        assert!(read_regular(&file, 10).unwrap_err().contains("larger"));
        assert!(read_regular(dir.path(), 100).is_err(), "a directory");
        assert!(
            read_regular(Path::new("/dev/zero"), 100).is_err(),
            "a device"
        );
        assert!(read_regular(&dir.path().join("missing"), 100).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = scratch();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_regular(&fifo, 100).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
