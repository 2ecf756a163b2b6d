//! File machinery: locks with a timeout, atomic replace with `.bak`, quarantine of unreadable
//! files, and the fault-injection points the crash test uses.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};

/// Wall-clock now, in unix milliseconds: the one clock read of the crate, for callers that need
/// the `now` the pool's pure functions take, and for naming quarantined files.
#[allow(clippy::disallowed_methods)] // rota-store is the outer IO layer; this is its single clock read.
pub fn now_ms() -> rota_types::UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An exclusive advisory lock (flock semantics) on a lock file; released on drop.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// Blocks until the lock is ours, or fails with [`StoreError::LockTimeout`] naming the file.
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<Self> {
        let file = open_private(path, OpenOptions::new().read(true).write(true).create(true))
            .map_err(|e| StoreError::io("cannot open lock file", path, e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Self {
                        file,
                        path: path.to_owned(),
                    });
                }
                Err(TryLockError::WouldBlock) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(StoreError::LockTimeout {
                            path: path.to_owned(),
                            waited,
                        });
                    }
                    std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(StoreError::io("cannot lock", path, e));
                }
            }
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(e) = self.file.unlock() {
            tracing::warn!(path = %self.path.display(), error = %e, "unlock failed; closing releases it");
        }
    }
}

/// Opens with mode 0600 on Unix (owner-only) when the file is created.
fn open_private(path: &Path, opts: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Creates the directory (and parents), owner-only on Unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| StoreError::io("cannot create directory", dir, e))
}

/// Reads a whole file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("cannot read", path, e)),
    }
}

/// `<path>.bak`.
pub(crate) fn bak_path(path: &Path) -> PathBuf {
    with_suffix(path, ".bak")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn tmp_path(path: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{what}-{}-{n}", std::process::id()))
}

/// Whether temp files of crashed writers lie around: `.<name>.tmp-*` next to `path`.
pub(crate) fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&prefix)
            && (file_name.contains(".tmp-") || file_name.contains(".baktmp-"))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// What `.bak` should hold after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bak {
    /// The file being replaced (the last good copy; it parsed when we read it under the lock).
    KeepPrevious,
    /// The new content (used when the previous content must not linger, e.g. a plaintext vault
    /// that is now sealed).
    CopyOfNew,
    /// Leave `.bak` alone (restoring from it).
    Untouched,
}

/// Atomically replaces `path` with `bytes`: temp file in the same directory → fsync → `.bak`
/// update → rename → fsync of the directory. A crash at any point leaves `path` either old or new,
/// never partial.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], bak: Bak) -> Result<()> {
    let tmp = tmp_path(path, "tmp");
    let result = write_atomic_inner(path, &tmp, bytes, bak);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_atomic_inner(path: &Path, tmp: &Path, bytes: &[u8], bak: Bak) -> Result<()> {
    let mut file = open_private(tmp, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| StoreError::io("cannot create temp file", tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("cannot write", tmp, e))?;
    failpoint("after_write");
    file.sync_all()
        .map_err(|e| StoreError::io("cannot fsync", tmp, e))?;
    drop(file);
    failpoint("after_fsync");
    match bak {
        Bak::KeepPrevious => {
            if path.exists() {
                replace_bak(path, path, false)?;
            }
        }
        // A copy, not a link: `.bak` must not share the inode that becomes the data file.
        Bak::CopyOfNew => replace_bak(tmp, path, true)?,
        Bak::Untouched => {}
    }
    failpoint("after_bak");
    fs::rename(tmp, path).map_err(|e| StoreError::io("cannot rename into place", path, e))?;
    failpoint("after_rename");
    sync_dir(path)?;
    failpoint("after_dir_fsync");
    Ok(())
}

/// Points `<target>.bak` at the content of `source` atomically: a hard link to the outgoing
/// data file (it is never written again: writers replace, never modify) where allowed, else a
/// copied and fsynced file; then rename over `.bak`.
fn replace_bak(source: &Path, target: &Path, force_copy: bool) -> Result<()> {
    let bak = bak_path(target);
    let bak_tmp = tmp_path(target, "baktmp");
    let _ = fs::remove_file(&bak_tmp);
    if force_copy || fs::hard_link(source, &bak_tmp).is_err() {
        fs::copy(source, &bak_tmp)
            .map_err(|e| StoreError::io("cannot copy backup", &bak_tmp, e))?;
        File::open(&bak_tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io("cannot fsync", &bak_tmp, e))?;
    }
    let renamed = fs::rename(&bak_tmp, &bak);
    // When `.bak` already is a link to the same inode (a writer died between this step and its
    // rename), POSIX rename does nothing and leaves `bak_tmp` behind: remove it either way.
    let _ = fs::remove_file(&bak_tmp);
    renamed.map_err(|e| StoreError::io("cannot rename backup into place", &bak, e))
}

/// fsync of the directory holding `path`, so the renames survive a power loss.
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("cannot fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = path; // Windows has no directory fsync; MoveFileEx with replace is the durable step.
    Ok(())
}

/// Removes `path` (if present) and makes the removal durable.
pub(crate) fn remove_durably(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("cannot remove", path, e)),
    }
}

/// Moves an unreadable file aside as `<path>.corrupt-<unix ms>`; returns the new name.
pub(crate) fn quarantine(path: &Path) -> Result<PathBuf> {
    let ts = now_ms();
    let mut target = with_suffix(path, &format!(".corrupt-{ts}"));
    let mut n = 1;
    while target.exists() {
        target = with_suffix(path, &format!(".corrupt-{ts}-{n}"));
        n += 1;
    }
    fs::rename(path, &target).map_err(|e| StoreError::io("cannot move aside", path, e))?;
    sync_dir(path)?;
    Ok(target)
}

/// Fault injection for the crash test: `ROTA_STORE_FAILPOINT=<point>:<n>` aborts the process the
/// n-th time `<point>` is reached (points: `after_write`, `after_fsync`, `after_bak`,
/// `after_rename`, `after_dir_fsync`; `after_commit_vault`, between a commit's vault and state
/// writes). Unset in normal use; read once.
pub(crate) fn failpoint(point: &str) {
    static SPEC: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("ROTA_STORE_FAILPOINT").ok()?;
        let (name, n) = v.split_once(':')?;
        Some((name.to_owned(), n.parse().ok()?))
    });
    if let Some((name, n)) = spec
        && name == point
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        std::process::abort();
    }
}
