// No console window on Windows release builds; the app lives in its window and the tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The system allocator, unlike `rota serve` (which uses `rota_gateway::GlobalAllocator`): the
// app's gateway serves one person's tools, while mimalloc's per-thread segments cost the app
// ~5 MB of resident memory (`cargo xtask bench app`).

fn main() {
    webkit_defaults();
    release_freed_memory_periodically();
    rota_app::run();
}

/// WebKitGTK defaults for Rota's few flat screens. A variable the user set always wins.
///
/// - **No GL compositing.** It buys these screens nothing visible and costs ~95 MB: the web
///   process drops from ~210 to ~115 MB PSS without it. `WEBKIT_DISABLE_COMPOSITING_MODE=0`
///   brings it back, and then the next item is skipped too.
/// - **Less GL in the app process.** Without compositing nothing in it draws through GL, yet
///   GTK's X11 backend looks for GLX visuals when it opens the display (`GDK_GL=disable` skips
///   it) and WebKit asks EGL for DMA-BUF formats that only the composited path uses
///   (`WEBKIT_DISABLE_DMABUF_RENDERER`): ~6 MB. WebKit's EGL probe for the DRM render node
///   still loads Mesa; naming the node (`WEBKIT_WEB_RENDER_DEVICE_FILE`) would skip it too, but
///   WebKitGTK 2.50 then stops passing the GTK theme's dark variant to the page.
/// - **No JavaScript/WebAssembly JIT.** The UI is small and event-driven; the interpreters
///   keep ~6 MB less code and data in the web process, and a JIT-less web process is a smaller
///   attack surface. `JSC_useJIT=1` brings it back.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn webkit_defaults() {
    fn default(var: &str, value: &str) {
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in `main`, before any thread exists (nothing else
            // reads or writes the environment concurrently); WebKit reads it when it starts.
            unsafe { std::env::set_var(var, value) };
        }
    }
    default("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_some_and(|v| v != "0") {
        default("GDK_GL", "disable");
        default("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    default("JSC_useJIT", "0");
}

#[cfg(not(target_os = "linux"))]
fn webkit_defaults() {}

/// glibc keeps memory that was freed (start-up's decoded assets and parsed JSON, a burst of
/// gateway traffic) in its arenas for reuse. Handing the free pages back every few minutes
/// keeps the long-running app's footprint at what it uses (~2 MB after start-up).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory_periodically() {
    const FIRST: std::time::Duration = std::time::Duration::from_secs(10);
    const EVERY: std::time::Duration = std::time::Duration::from_mins(5);
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".into())
        .stack_size(64 * 1024)
        .spawn(|| {
            std::thread::sleep(FIRST);
            loop {
                // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe
                // and leaves every live allocation where it is.
                unsafe { libc::malloc_trim(0) };
                std::thread::sleep(EVERY);
            }
        });
    if let Err(e) = spawned {
        eprintln!("rota: no malloc-trim thread ({e}); freed memory stays with the allocator");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory_periodically() {}
