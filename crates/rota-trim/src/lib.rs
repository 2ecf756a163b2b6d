//! Keeps Rota's long-running processes at the memory they use, not what start-up touched.
//!
//! Start-up runs code and reads tables that an idle tray app never touches again: our own
//! binary's initialisation paths, symbol and relocation tables, GTK, WebKit and plugin set-up.
//! Their pages stay mapped until the kernel needs the memory. [`trim_periodically`] hands them
//! back, the way Android compacts background apps: `madvise(MADV_PAGEOUT)` on the process's own
//! read-only file mappings. Only clean pages that no other process maps are dropped; a page that
//! is needed again is read back from the page cache or the file, so nothing is lost.
//!
//! Two processes run it:
//! - **the app** (`rota-app`), which calls [`trim_periodically`] from `main`;
//! - **WebKit's web process**, which renders the UI and is WebKit's own executable. It loads
//!   this crate's cdylib as a WebKitGTK *web extension*: the app names the directory that holds
//!   it ([`web_extensions_dir`]), and WebKit calls [`webkit_web_extension_initialize`] in every
//!   web process it starts.
//!
//! `cargo xtask bench app` prints what it saves.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// When the first trim runs: the window has painted and start-up's first fetches are done.
pub const FIRST_TRIM: Duration = Duration::from_secs(10);
/// How often it runs again, for pages a burst of use (a login, an open Settings dialog) touched.
pub const TRIM_EVERY: Duration = Duration::from_mins(5);

/// The address ranges of `/proc/<pid>/maps` that may be paged out without changing anything
/// the program can observe: private, read-only mappings of regular files.
///
/// Writable mappings are left alone (their dirty pages would have to go to swap or back to the
/// file), and so are shared memory (`/SYSV…`, `/memfd:…`, `/dev/…`), deleted files and the
/// kernel's pseudo-mappings (`[heap]`, `[stack]`, `[vdso]`).
pub fn clean_file_ranges(maps: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?.as_bytes();
            // offset, device, inode, then the path (which may contain spaces).
            let path = line.splitn(6, |c: char| c.is_ascii_whitespace()).nth(5);
            let path = path.map(str::trim_start)?;
            let private_read_only =
                perms.len() == 4 && perms[0] == b'r' && perms[1] == b'-' && perms[3] == b'p';
            let regular_file = path.starts_with('/')
                && !path.ends_with(" (deleted)")
                && !path.starts_with("/SYSV")
                && !path.starts_with("/memfd:")
                && !path.starts_with("/dev/");
            if !(private_read_only && regular_file) {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

/// Asks the kernel to page out this process's clean, read-only file pages (see the module
/// docs). Returns how many bytes of mappings were advised.
///
/// # Errors
/// Reading `/proc/self/maps` failed, or the kernel does not know `MADV_PAGEOUT` (Linux < 5.4).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn page_out_clean_file_pages() -> std::io::Result<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut advised = 0;
    for (start, end) in clean_file_ranges(&maps) {
        // SAFETY: MADV_PAGEOUT is a hint that never changes the mapping's contents: clean file
        // pages are dropped and read back on the next access. The range was read from
        // /proc/self/maps just now; a mapping unmapped since makes madvise fail with ENOMEM,
        // which is skipped below.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if rc == 0 {
            advised += end - start;
        } else {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                return Err(err);
            }
        }
    }
    Ok(advised)
}

/// Starts the thread that trims this process's memory: at [`FIRST_TRIM`], then every
/// [`TRIM_EVERY`]. Each trim returns glibc's free heap pages to the kernel (`malloc_trim`:
/// start-up's decoded assets and parsed JSON, a burst of gateway traffic) and pages out clean
/// file pages ([`page_out_clean_file_pages`]).
#[cfg(target_os = "linux")]
pub fn trim_periodically() {
    let spawned = std::thread::Builder::new()
        .name("memory-trim".into())
        .stack_size(64 * 1024)
        .spawn(|| {
            std::thread::sleep(FIRST_TRIM);
            let mut page_out = true;
            loop {
                release_free_heap();
                if page_out && let Err(e) = page_out_clean_file_pages() {
                    // An old kernel: keep trimming the heap, stop asking.
                    tracing::debug!("no page-out of start-up pages: {e}");
                    page_out = false;
                }
                std::thread::sleep(TRIM_EVERY);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no memory-trim thread ({e}); start-up's pages stay resident");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn trim_periodically() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_heap() {
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe and leaves
    // every live allocation where it is.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(all(target_os = "linux", not(target_env = "gnu")))]
fn release_free_heap() {}

/// The web extension's file name, as cargo builds it (`librota_trim.so`).
pub const WEB_EXTENSION_FILE: &str = "librota_trim.so";

/// The directory WebKit should load Rota's web extension from, given the app's executable: the
/// installed layout (`/usr/bin/rota-app` → `/usr/lib/rota/web-extensions`, as the `.deb` packs
/// it) or the development one (`target/<profile>/web-extensions`, which `cargo xtask` fills).
/// `None` when neither holds the extension; the web process then runs without it.
///
/// The directory holds nothing else: WebKit loads every `.so` in it.
pub fn web_extensions_dir(exe: &Path) -> Option<PathBuf> {
    let bin = exe.parent()?;
    [
        bin.parent()
            .map(|prefix| prefix.join("lib/rota/web-extensions")),
        Some(bin.join("web-extensions")),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.join(WEB_EXTENSION_FILE).is_file())
}

/// Puts the built extension where [`web_extensions_dir`] finds it in a build tree: copies
/// `librota_trim.so`, which cargo writes into the app binary's directory (or its `deps/`, when
/// the crate was built only as the app's dependency), into `web-extensions/` beside the binary,
/// and returns that directory. For `cargo xtask` and the end-to-end harness (the `.deb`
/// installs the file under `/usr/lib/rota` instead).
///
/// The copy is renamed into place, so an app starting meanwhile never loads half a file.
///
/// # Errors
/// The extension was not built into `profile_dir`, or copying it failed.
pub fn stage_web_extension(profile_dir: &Path) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COPIES: AtomicU32 = AtomicU32::new(0);
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built = [
        profile_dir.join(WEB_EXTENSION_FILE),
        profile_dir.join("deps").join(WEB_EXTENSION_FILE),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .max_by_key(modified)
    .ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "{WEB_EXTENSION_FILE} not built in {} (cargo build -p rota-app builds it)",
                profile_dir.display()
            ),
        )
    })?;
    let dir = profile_dir.join("web-extensions");
    std::fs::create_dir_all(&dir)?;
    // Not ending in `.so`: WebKit ignores the partial copy.
    let partial = dir.join(format!(
        ".{WEB_EXTENSION_FILE}.{}.{}",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::copy(&built, &partial)?;
    std::fs::rename(&partial, dir.join(WEB_EXTENSION_FILE)).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    Ok(dir)
}

/// The entry point WebKitGTK calls when a web process loads this crate's cdylib as a web
/// extension: that process trims itself like the app does ([`trim_periodically`]).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn webkit_web_extension_initialize(_extension: *mut std::ffi::c_void) {
    trim_periodically();
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0e4c000 r--p 00000000 fe:01 1234 /usr/bin/rota-app
55d0c0e4c000-55d0c1cce000 r-xp 0044c000 fe:01 1234 /usr/bin/rota-app
55d0c1cce000-55d0c1d3b000 r--p 012ce000 fe:01 1234 /usr/bin/rota-app
55d0c1d3b000-55d0c1d41000 rw-p 0133b000 fe:01 1234 /usr/bin/rota-app
55d0c2000000-55d0c2400000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000300000 rw-s 00000000 00:01 98                         /SYSV00000000 (deleted)
7f0000400000-7f0000500000 r--s 00000000 00:01 99                         /memfd:wayland-shm (deleted)
7f0000600000-7f0000700000 r--p 00000000 fe:01 77                         /home/u/old lib.so (deleted)
7f0000800000-7f0000900000 r--p 00000000 fe:01 78                         /usr/share/fonts/a b.ttf
7f0000a00000-7f0000a01000 r--s 00000000 00:05 79                         /dev/dri/renderD128
7f0000b00000-7f0000b21000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    #[allow(clippy::unreadable_literal)] // addresses as /proc prints them
    fn only_private_read_only_regular_files_are_paged_out() {
        assert_eq!(
            clean_file_ranges(MAPS),
            vec![
                (0x55d0c0a00000, 0x55d0c0e4c000), // the binary's headers and tables
                (0x55d0c0e4c000, 0x55d0c1cce000), // its code
                (0x55d0c1cce000, 0x55d0c1d3b000), // its relocated read-only data
                (0x7f0000800000, 0x7f0000900000), // a font, path with a space
            ]
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(
            clean_file_ranges("nonsense\n\nzz-yy r--p 0 0 0 /x\n10-5 r--p 0 0:0 1 /x").is_empty()
        );
    }

    /// A read-only file mapping this process touched is no longer resident after the trim, and
    /// reads back byte for byte.
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(unsafe_code)]
    fn touched_file_pages_leave_memory_and_read_back_intact() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        const LEN: usize = 8 << 20;
        // A named file: an unlinked one is a "(deleted)" mapping, which the trim leaves alone.
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let content: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        file.write_all(&content).expect("write");
        // Clean pages only: dirty page-cache pages are written back, not dropped.
        file.as_file().sync_all().expect("sync");

        // SAFETY: a fresh private read-only mapping of a file we own, unmapped below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is LEN bytes long and stays mapped until munmap below.
        let mapped = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), LEN) };
        let touched: u64 = mapped.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert!(touched > 0);
        let before = resident_kb(ptr as usize);
        assert!(
            before >= 7 * 1024,
            "the touched mapping is resident: {before} kB"
        );

        let advised = page_out_clean_file_pages().expect("MADV_PAGEOUT (Linux ≥ 5.4)");
        assert!(
            advised >= LEN,
            "the test mapping was advised: {advised} bytes"
        );
        let after = resident_kb(ptr as usize);
        assert!(
            after <= 1024,
            "paged out: {before} kB resident before, {after} kB after"
        );

        assert!(
            mapped == content.as_slice(),
            "the pages read back unchanged"
        );
        // SAFETY: unmapping the mapping created above; `mapped` is not used after this.
        unsafe { libc::munmap(ptr, LEN) };
    }

    #[test]
    fn the_extension_is_found_installed_or_in_the_build_tree() {
        let root = tempfile::tempdir().expect("temp dir");
        let (bin, installed, dev) = (
            root.path().join("usr/bin"),
            root.path().join("usr/lib/rota/web-extensions"),
            root.path().join("usr/bin/web-extensions"),
        );
        std::fs::create_dir_all(&bin).expect("bin");
        let exe = bin.join("rota-app");
        assert_eq!(web_extensions_dir(&exe), None, "no extension anywhere");

        std::fs::create_dir_all(&installed).expect("installed dir");
        assert_eq!(
            web_extensions_dir(&exe),
            None,
            "an empty directory is not enough"
        );

        std::fs::create_dir_all(&dev).expect("dev dir");
        std::fs::write(dev.join(WEB_EXTENSION_FILE), b"").expect("dev extension");
        assert_eq!(web_extensions_dir(&exe), Some(dev));

        std::fs::write(installed.join(WEB_EXTENSION_FILE), b"").expect("installed extension");
        assert_eq!(
            web_extensions_dir(&exe),
            Some(installed),
            "the installed one first"
        );
    }

    #[test]
    fn staging_copies_the_built_extension_where_the_app_finds_it() {
        let profile = tempfile::tempdir().expect("temp dir");
        let missing = stage_web_extension(profile.path()).expect_err("nothing built yet");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);

        std::fs::write(profile.path().join(WEB_EXTENSION_FILE), b"v1").expect("built");
        let dir = stage_web_extension(profile.path()).expect("staged");
        assert_eq!(
            web_extensions_dir(&profile.path().join("rota-app")),
            Some(dir.clone())
        );
        // Built again, as a dependency only: cargo leaves it in deps/.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let deps = profile.path().join("deps");
        std::fs::create_dir_all(&deps).expect("deps");
        std::fs::write(deps.join(WEB_EXTENSION_FILE), b"v2").expect("rebuilt");
        stage_web_extension(profile.path()).expect("staged again");
        let staged = std::fs::read(dir.join(WEB_EXTENSION_FILE)).expect("read");
        assert_eq!(staged, b"v2", "the newest build is staged");
        let entries: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert_eq!(entries.len(), 1, "only the extension, no partial copies");
    }

    /// `Rss` of the mapping starting at `start`, from /proc/self/smaps.
    #[cfg(target_os = "linux")]
    fn resident_kb(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let header = format!("{start:x}-");
        let mut lines = smaps
            .lines()
            .skip_while(|l| !l.starts_with(&header))
            .skip(1);
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .expect("the mapping is in smaps")
    }
}
