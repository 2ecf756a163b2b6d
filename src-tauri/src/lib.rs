//! Rota's desktop shell: wiring only. Commands live in [`commands`] (one-line adapters over the
//! Rota crates), the tray in [`tray`], UI preferences in [`prefs`], paths and settings in
//! [`state`].
//!
//! Boundaries: this is the only crate that knows Tauri. Nothing here decides pool policy; the
//! webview gets the commands listed in `rota_types::COMMAND_NAMES` and no plugin commands.
//!
//! Modules:
//! - `main.rs`: process set-up. On Linux, WebKit defaults for a light footprint, each
//!   overridable by the user's own variable: no GL compositing, no GLX or DMA-BUF probes, no EGL
//!   driver in the app process (glvnd's vendor list read once with none, so WebKit's render-node
//!   probe loads no Mesa/LLVM; the web process loads it as usual), no JS JIT. The system
//!   allocator, not the gateway's mimalloc; `rota-trim`'s memory trim started.
//! - `lib.rs`: wiring. The main window is built in `setup` from its `tauri.conf.json` entry, so
//!   that it can name the web-extensions directory that holds `rota-trim`'s cdylib.
//! - [`commands`]: thin adapters over [`accounts`] (argument validation → `rota-store` calls →
//!   `{code, message}` errors).
//! - [`login`]: the providers' login flows for *Add account* (paste, loopback, device),
//!   `login-progress` events; cancelling closes the listener.
//! - [`live`]: watches the store (any process's change → `pool-changed`, `usage-updated`,
//!   `switched`, notifications, tray rebuilt), the background usage poller, gateway
//!   `session-updated` forwarded (coalesced to 4/s), the hand-off autopilot.
//! - [`notify`]: pure: which store changes deserve a notification.
//! - [`gateway`]: the hosted gateway, sharing the app's `TokenManager`.
//! - [`connections`]: Settings → Connections and the empty state's *Connect* buttons over
//!   rota-connect and the store's local keys; *Test* sends a free probe through the app's own
//!   gateway.
//! - [`tray`]: the tray menu from a testable model; [`settings`]: `settings.json` (polling,
//!   notifications); [`prefs`]: UI preferences in tauri-plugin-store; [`state`]: paths,
//!   services, links.
//!
//! Capabilities are in `capabilities/`, the CSP in `tauri.conf.json`.

pub mod commands;
pub mod connections;
pub mod gateway;
pub mod live;
pub mod login;
pub mod notify;
pub mod prefs;
pub mod settings;
pub mod state;
pub mod tray;

use tauri::{Manager, RunEvent, Runtime, WindowEvent};

pub use state::AppState;

/// The label of the one main window (capabilities grant commands to it only).
pub const MAIN_WINDOW: &str = "main";

/// Event asking the UI to open the Settings dialog (tray *Settings…*).
pub const EVENT_OPEN_SETTINGS: &str = "open-settings";

/// Everything both the real app and the mock-runtime tests need: plugins, state, commands.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_store::Builder::new().build())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_providers,
            commands::snapshot,
            commands::get_accounts,
            commands::set_active,
            commands::remove_record,
            commands::switch_caveat,
            commands::rename_record,
            commands::usage,
            commands::ui_prefs_get,
            commands::ui_prefs_set,
            commands::open_link,
            commands::gateway_status,
            commands::sessions,
            commands::session_detail,
            commands::begin_login,
            commands::complete_login,
            commands::open_login_page,
            commands::cancel_login,
            commands::import_accounts,
            commands::settings_get,
            commands::settings_set,
            commands::handoff_status,
            commands::handoff_set,
            commands::proactive_set,
            commands::anthropic_clients_set,
            commands::switch_log,
            commands::recoveries,
            commands::acknowledge_recoveries,
            commands::list_connections,
            commands::connect_tool,
            commands::undo_connection,
            commands::test_connection,
            commands::redeem_reset_credit,
            commands::auto_redeem_get,
            commands::auto_redeem_set,
        ])
}

/// Starts the desktop app.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(rota_config::env::LOG)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let state = match AppState::from_env() {
        Ok(state) => state,
        Err(e) => {
            // Before any window exists there is nowhere else to say it.
            eprintln!("rota: {e}");
            std::process::exit(1);
        }
    };

    let app = builder(tauri::Builder::default(), state)
        // A second launch focuses the running app instead of starting another one.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main_window(app);
        }))
        .setup(|app| {
            main_window(app.handle())?;
            tray::install(app.handle())?;
            live::start(app.handle())?;
            live::start_usage_poller(app.handle());
            live::start_autopilot(app.handle())?;
            // The gateway binds off the main thread; a busy port leaves a `Failed` status.
            let state = app.state::<AppState>();
            let (gateway, config, tokens) = (
                state.gateway.clone(),
                state.gateway_config(),
                state.tokens.clone(),
            );
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                if let Some(events) = gateway.start(config, tokens).await {
                    live::forward_gateway_events(&handle, events);
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Rota (tray, gateway) running; Quit is in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == MAIN_WINDOW
                && window.app_handle().tray_by_id(tray::TRAY_ID).is_some()
            {
                api.prevent_close();
                if let Err(e) = window.hide() {
                    tracing::warn!("could not hide the main window: {e}");
                }
            }
        })
        .build(tauri::generate_context!())
        .expect("error while building the Rota app");

    app.run(|app, event| {
        if let RunEvent::Exit = event {
            gateway::stop_blocking(&app.state::<AppState>().gateway);
        }
    });
}

/// Creates the main window from its `tauri.conf.json` entry (`"create": false` there, so that
/// it can be given the web-extensions directory first).
///
/// The extension is `rota-trim`'s cdylib: WebKit's web process, which renders this window,
/// then trims its own memory the way the app process does (see `rota_trim`). Without it (a
/// plain `cargo run`, which does not stage it) the window works the same.
fn main_window(app: &tauri::AppHandle) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .ok_or(tauri::Error::WindowNotFound)?;
    let mut window = tauri::WebviewWindowBuilder::from_config(app, config)?;
    let dir = std::env::current_exe().map(|exe| rota_trim::web_extensions_dir(&exe));
    if let Ok(Some(dir)) = dir {
        window = window.extensions_path(dir);
    } else {
        tracing::debug!("no web extension found: the web process does not trim its memory");
    }
    window.build()?;
    Ok(())
}

/// Shows, un-minimises and focuses the main window.
pub fn show_main_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
