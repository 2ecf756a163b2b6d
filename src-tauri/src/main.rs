// No console window on Windows release builds; the app lives in its window and the tray.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The app hosts the gateway: its per-request allocations are cheaper with this allocator.
#[global_allocator]
static GLOBAL: rota_gateway::GlobalAllocator = rota_gateway::GlobalAllocator;

fn main() {
    webkit_defaults();
    rota_app::run();
}

/// WebKitGTK composites pages through GL by default. For Rota's few flat screens that buys
/// nothing visible and costs ~95 MB: the web process alone drops from ~210 to ~115 MB PSS
/// without it (`cargo xtask bench app`). A variable the user set wins, so
/// `WEBKIT_DISABLE_COMPOSITING_MODE=0` brings compositing back.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn webkit_defaults() {
    const VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    if std::env::var_os(VAR).is_none() {
        // SAFETY: first thing in `main`, before any thread exists (nothing else reads or
        // writes the environment concurrently); WebKit reads it when it starts later.
        unsafe { std::env::set_var(VAR, "1") };
    }
}

#[cfg(not(target_os = "linux"))]
fn webkit_defaults() {}
