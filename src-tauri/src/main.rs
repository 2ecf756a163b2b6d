// No console window on Windows release builds; the app lives in its window and the tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The system allocator, unlike `rota serve` (which uses `rota_gateway::GlobalAllocator`): the
// app's gateway serves one person's tools, while mimalloc's per-thread segments cost the app
// ~5 MB of resident memory (`cargo xtask bench app`).

fn main() {
    webkit_defaults();
    rota_trim::trim_periodically();
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
///   (`WEBKIT_DISABLE_DMABUF_RENDERER`): ~6 MB. See [`no_egl_vendors_in_this_process`] for
///   the last EGL probe. The web process still opens an EGL display (Mesa and its LLVM, ~43 MB
///   of resident pages) that it never draws with: WebKitGTK 2.50 checks the compositing setting
///   in `WebPage::updateAfterDrawingAreaCreation` before the page's preferences are applied,
///   so it reads the engine's default (on). Nothing outside WebKit can change that order.
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
    // How WebKit reads its switches: set to anything but "0".
    fn on(var: &str) -> bool {
        std::env::var_os(var).is_some_and(|v| v != "0")
    }
    default("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    if on("WEBKIT_DISABLE_COMPOSITING_MODE") {
        default("GDK_GL", "disable");
        default("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        if on("WEBKIT_DISABLE_DMABUF_RENDERER") {
            no_egl_vendors_in_this_process();
        }
    }
    default("JSC_useJIT", "0");
}

/// Lets the app process (not the web process) load no EGL driver.
///
/// WebKit's UI process still opens an EGL display once, only to learn the GPU's DRM render node
/// for the web process. Mesa's driver links LLVM, so that probe costs ~17 MB PSS, and without
/// compositing or DMA-BUF the web process does not use the node. glvnd (`libEGL.so.1`) reads
/// its vendor list once per process, on first use: reading it here with
/// `__EGL_VENDOR_LIBRARY_FILENAMES` naming no file leaves this process with no EGL vendor,
/// and removing the variable again lets the web process, started later, load Mesa as usual.
/// WebKit then finds no render node, as on a machine without a GPU.
///
/// Naming the node instead (`WEBKIT_WEB_RENDER_DEVICE_FILE`) also skips the probe, but in
/// WebKitGTK 2.50 the probe is what first creates the UI-side display object, which is what
/// forwards GTK's settings (dark variant, fonts, text scaling) to the page: they would be lost.
/// A user who sets either glvnd variable keeps their own EGL set-up.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn no_egl_vendors_in_this_process() {
    const VENDORS: &str = "__EGL_VENDOR_LIBRARY_FILENAMES";
    const EGL_EXTENSIONS: libc::c_int = 0x3055;
    if std::env::var_os(VENDORS).is_some()
        || std::env::var_os("__EGL_VENDOR_LIBRARY_DIRS").is_some()
    {
        return;
    }
    // SAFETY: still before any thread exists (see `webkit_defaults`); the variable is removed
    // again before this function returns, so nothing started later sees it.
    unsafe { std::env::set_var(VENDORS, "/nonexistent/rota-no-egl-vendor.json") };
    // SAFETY: dlopen/dlsym with NUL-terminated names; the symbol has eglQueryString's C
    // signature, and EGL_NO_DISPLAY (null) with EGL_EXTENSIONS is a valid query that makes
    // glvnd load its vendor list. The handle stays open: WebKit links the same library.
    unsafe {
        let egl = libc::dlopen(c"libEGL.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if !egl.is_null() {
            let sym = libc::dlsym(egl, c"eglQueryString".as_ptr());
            if !sym.is_null() {
                let query: unsafe extern "C" fn(
                    *mut libc::c_void,
                    libc::c_int,
                ) -> *const libc::c_char = std::mem::transmute(sym);
                query(std::ptr::null_mut(), EGL_EXTENSIONS);
            }
        }
        std::env::remove_var(VENDORS);
    }
}

#[cfg(not(target_os = "linux"))]
fn webkit_defaults() {}
