//! File machinery: locks with a timeout, atomic replace with `.bak`, quarantine of unreadable
//! files, and the fault-injection points the crash test uses.
//!
//! [`write_durably`] and [`quarantine`] are the project's only way to replace a file or move an
//! unreadable one aside: the store, hand-off and connections, `api.json` and the app's settings
//! all call them (`tests/it/durable_writes.rs` keeps raw writes out of the rest of the code).

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

/// Removes the temp files crashed writers left next to `path` (`.<name>.tmp-*`, `.baktmp-*`).
/// Only for a caller holding the lock that serialises writers of `path`.
pub fn remove_stale_temps(path: &Path) {
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

/// The stages of a durable write, passed to the hook of [`write_durably_with`]: the store
/// updates `.bak` at [`WriteStep::Synced`], the crash tests abort at each.
#[derive(Debug, Clone, Copy)]
pub enum WriteStep<'a> {
    /// The bytes are in the temp file, not yet fsynced.
    Written,
    /// The temp file is on disk; the target is not replaced yet.
    Synced { tmp: &'a Path },
    /// Renamed over the target; the directory entry is not yet fsynced.
    Renamed,
    /// Done.
    DirSynced,
}

/// Atomically replaces `path` with `bytes`, owner-only (0600; a missing parent directory is
/// created 0700): temp file in the same directory → fsync → rename (retried while Windows
/// reports the target held open) → fsync of the directory. A crash at any point leaves `path`
/// either old or new, never partial, and only a temp file that [`remove_stale_temps`] clears.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    write_durably_with(path, bytes, &mut |_| Ok(()))
}

/// [`write_durably`] with `hook` called at each [`WriteStep`]; an error from the hook stops the
/// write (the temp file is removed, the target untouched unless already renamed).
pub fn write_durably_with(
    path: &Path,
    bytes: &[u8],
    hook: &mut dyn FnMut(WriteStep<'_>) -> Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        create_private_dir(dir)?;
    }
    let tmp = tmp_path(path, "tmp");
    let result = write_durably_inner(path, &tmp, bytes, hook);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_durably_inner(
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
    hook: &mut dyn FnMut(WriteStep<'_>) -> Result<()>,
) -> Result<()> {
    let mut file = open_private(tmp, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| StoreError::io("cannot create temp file", tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("cannot write", tmp, e))?;
    hook(WriteStep::Written)?;
    file.sync_all()
        .map_err(|e| StoreError::io("cannot fsync", tmp, e))?;
    drop(file);
    hook(WriteStep::Synced { tmp })?;
    replace_file(tmp, path).map_err(|e| StoreError::io("cannot rename into place", path, e))?;
    hook(WriteStep::Renamed)?;
    sync_dir(path)?;
    hook(WriteStep::DirSynced)
}

/// The store's write: [`write_durably`] with `.bak` kept as `bak` says and the crash test's
/// failpoints (`after_write`, `after_fsync`, `after_bak`, `after_rename`, `after_dir_fsync`).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], bak: Bak) -> Result<()> {
    write_durably_with(path, bytes, &mut |step| {
        match step {
            WriteStep::Written => failpoint("after_write"),
            WriteStep::Synced { tmp } => {
                failpoint("after_fsync");
                match bak {
                    Bak::KeepPrevious => {
                        if path.exists() {
                            replace_bak(path, path, false)?;
                        }
                    }
                    // A copy, not a link: `.bak` must not share the inode that becomes the data
                    // file.
                    Bak::CopyOfNew => replace_bak(tmp, path, true)?,
                    Bak::Untouched => {}
                }
                failpoint("after_bak");
            }
            WriteStep::Renamed => failpoint("after_rename"),
            WriteStep::DirSynced => failpoint("after_dir_fsync"),
        }
        Ok(())
    })
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
    let renamed = replace_file(&bak_tmp, &bak);
    // When `.bak` already is a link to the same inode (a writer died between this step and its
    // rename), POSIX rename does nothing and leaves `bak_tmp` behind: remove it either way.
    let _ = fs::remove_file(&bak_tmp);
    renamed.map_err(|e| StoreError::io("cannot rename backup into place", &bak, e))
}

/// `fs::rename` over an existing file, retried while another process holds either file open
/// without sharing delete access (Windows: an editor, a virus scanner, a tool reading its login);
/// such a holder lets go within moments, so the write waits for it rather than failing.
pub fn replace_file(from: &Path, to: &Path) -> std::io::Result<()> {
    retry_while_busy(crate::platform::Os::CURRENT, || fs::rename(from, to))
}

/// Pauses between attempts of [`replace_file`]: about 3 s in all.
const BUSY_PAUSES_MS: &[u64] = &[5, 10, 20, 40, 80, 160, 320, 500, 500, 500, 500];

/// Whether `e` means "another process has the file open" on `os`: Windows' access-denied,
/// sharing- and lock-violation codes (5, 32, 33). Unix renames never fail that way.
fn is_busy(os: crate::platform::Os, e: &std::io::Error) -> bool {
    os == crate::platform::Os::Windows && matches!(e.raw_os_error(), Some(5 | 32 | 33))
}

fn retry_while_busy<T>(
    os: crate::platform::Os,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut pauses = BUSY_PAUSES_MS.iter();
    loop {
        match op() {
            Err(e) if is_busy(os, &e) => match pauses.next() {
                Some(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// fsync of the directory holding `path`, so the renames survive a power loss.
#[cfg_attr(not(unix), allow(clippy::unnecessary_wraps))] // fallible where directories fsync
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

/// Moves an unreadable file aside as `<path>.corrupt-<unix ms>` (the one suffix scheme of every
/// file Rota reads); returns the new name.
pub fn quarantine(path: &Path) -> Result<PathBuf> {
    let ts = now_ms();
    let mut target = with_suffix(path, &format!(".corrupt-{ts}"));
    let mut n = 1;
    while target.exists() {
        target = with_suffix(path, &format!(".corrupt-{ts}-{n}"));
        n += 1;
    }
    replace_file(path, &target).map_err(|e| StoreError::io("cannot move aside", path, e))?;
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
        let v = std::env::var(rota_config::env::STORE_FAILPOINT).ok()?;
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

#[cfg(test)]
mod platform_tests {
    use std::cell::Cell;
    use std::io;

    use super::*;
    use crate::platform::Os;

    /// An operation that fails `n` times with `code`, then succeeds.
    fn failing(n: u32, code: i32, calls: &Cell<u32>) -> impl FnMut() -> io::Result<u32> + '_ {
        move || {
            calls.set(calls.get() + 1);
            if calls.get() <= n {
                Err(io::Error::from_raw_os_error(code))
            } else {
                Ok(calls.get())
            }
        }
    }

    #[test]
    fn windows_sharing_violations_are_retried_until_the_holder_lets_go() {
        for code in [5, 32, 33] {
            let calls = Cell::new(0);
            assert_eq!(
                retry_while_busy(Os::Windows, failing(3, code, &calls)).unwrap(),
                4
            );
        }
    }

    #[test]
    fn a_holder_that_never_lets_go_fails_after_about_three_seconds() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let err = retry_while_busy(Os::Windows, failing(u32::MAX, 32, &calls)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(32));
        assert_eq!(calls.get() as usize, BUSY_PAUSES_MS.len() + 1);
        let waited = started.elapsed();
        assert!(
            (Duration::from_secs(2)..Duration::from_secs(6)).contains(&waited),
            "{waited:?}"
        );
    }

    #[test]
    fn other_errors_and_other_systems_fail_at_once() {
        // Not found on Windows; the same numbers on Unix are other errors (EIO, EPIPE).
        for (os, code) in [(Os::Windows, 2), (Os::Linux, 32), (Os::MacOs, 5)] {
            let calls = Cell::new(0);
            assert!(retry_while_busy(os, failing(1, code, &calls)).is_err());
            assert_eq!(calls.get(), 1, "{os:?} {code}");
        }
    }

    /// The real thing on Windows: a reader holds the target open without delete sharing for a
    /// moment; the atomic write waits for it and lands.
    #[cfg(windows)]
    #[test]
    fn replace_waits_for_a_reader_that_does_not_share_delete() {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_SHARE_READ: u32 = 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, b"old").unwrap();
        let held = OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(&path)
            .unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        write_atomic(&path, b"new", Bak::KeepPrevious).unwrap();
        releaser.join().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read(bak_path(&path)).unwrap(), b"old");
    }
}
