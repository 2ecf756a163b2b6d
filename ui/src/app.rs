//! The main window: header, sessions view, the Settings dialog and global shortcuts.

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{
    AppInfo, AppInfoCmd, Empty, GatewayState, GatewayStatusCmd, GatewayStatusResponse, SettingsTab,
    UiPrefs, UiPrefsGetCmd, UiPrefsSetCmd,
};
use rota_types::{Event, LoginProgress, PoolChanged, ProviderId, SessionUpdated};

use crate::components::icons::{GearIcon, Logo};
use crate::components::notice::Notices;
use crate::ipc;
use crate::sessions::SessionsView;
use crate::settings::SettingsDialog;

/// Shared UI state, provided as context.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub settings_open: RwSignal<bool>,
    pub tab: RwSignal<SettingsTab>,
    /// The provider Provider Detail shows.
    pub detail: RwSignal<Option<ProviderId>>,
    pub info: RwSignal<Option<AppInfo>>,
    /// Errors and notices shown at the bottom of the window for a while ([`Ui::notify`]).
    pub notices: RwSignal<Vec<String>>,
    /// Bumped on every `pool-changed` event (any process changed the store): views that show
    /// accounts re-read them when it changes.
    pub pool_version: RwSignal<u64>,
    /// The latest `login-progress` event (the Add-account dialog follows its own flow).
    pub login_progress: RwSignal<Option<LoginProgress>>,
    /// Bumped on every `session-updated` event (the gateway saw traffic).
    pub session_version: RwSignal<u64>,
    /// The local gateway's state (`None` until the first answer).
    pub gateway: RwSignal<Option<GatewayStatusResponse>>,
    /// "Now" for relative times ("3 min ago"), ticking every [`CLOCK_TICK`] so they age
    /// without new data; only the text nodes that read it update.
    pub clock: RwSignal<rota_types::UnixMs>,
}

/// How long a notice stays up unless dismissed.
const NOTICE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// How often relative times are recomputed; their finest unit is the minute.
const CLOCK_TICK: std::time::Duration = std::time::Duration::from_secs(15);

impl Ui {
    /// Shows a notice that clears itself after [`NOTICE_TTL`] (or when dismissed): the
    /// errors shown here are about one action, and are stale a moment later.
    pub fn notify(&self, message: impl Into<String>) {
        let message = message.into();
        let mut added = false;
        self.notices.update(|n| {
            if !n.contains(&message) {
                n.push(message.clone());
                added = true;
            }
        });
        if added {
            let notices = self.notices;
            set_timeout(
                move || {
                    let _ = notices.try_update(|n| n.retain(|m| *m != message));
                },
                NOTICE_TTL,
            );
        }
    }

    /// Shows a notice that stays until dismissed: a problem that outlives the action that
    /// found it (an unreadable file moved aside at start-up).
    pub fn alert(&self, message: impl Into<String>) {
        let message = message.into();
        self.notices.update(|n| {
            if !n.contains(&message) {
                n.push(message);
            }
        });
    }

    /// Switches tab and remembers it as the tab to open next time.
    pub fn select_tab(&self, tab: SettingsTab) {
        if self.tab.get_untracked() == tab {
            return;
        }
        self.tab.set(tab);
        let ui = *self;
        spawn_local(async move {
            if let Err(e) = ipc::call::<UiPrefsSetCmd>(&UiPrefs { last_tab: tab }).await {
                ui.notify(e.message);
            }
        });
    }

    pub fn open_settings(&self) {
        self.settings_open.set(true);
    }
}

#[component]
pub fn App() -> impl IntoView {
    let ui = Ui {
        settings_open: RwSignal::new(false),
        tab: RwSignal::new(SettingsTab::Providers),
        detail: RwSignal::new(None),
        info: RwSignal::new(None),
        notices: RwSignal::new(Vec::new()),
        pool_version: RwSignal::new(0),
        session_version: RwSignal::new(0),
        login_progress: RwSignal::new(None),
        gateway: RwSignal::new(None),
        clock: RwSignal::new(ipc::now_ms()),
    };
    provide_context(ui);
    // Lives as long as the window.
    let _ = set_interval_with_handle(move || ui.clock.set(ipc::now_ms()), CLOCK_TICK);

    spawn_local(async move {
        match ipc::call::<AppInfoCmd>(&Empty {}).await {
            Ok(info) => ui.info.set(Some(info)),
            Err(e) => ui.alert(e.message),
        }
    });
    poll_gateway_status(ui);
    spawn_local(async move {
        match ipc::call::<UiPrefsGetCmd>(&Empty {}).await {
            // Provider Detail needs a chosen provider; without one, start at Providers.
            Ok(prefs) if prefs.last_tab != SettingsTab::ProviderDetail => {
                ui.tab.set(prefs.last_tab);
            }
            Ok(_) => {}
            Err(e) => ui.alert(e.message),
        }
    });

    // The tray's "Settings…" asks the window to open the dialog.
    ipc::listen::<()>("open-settings", move |()| ui.open_settings());
    // The store changed (this app, the CLI, the gateway, new usage, …): re-read what is shown.
    // (`usage-updated` always comes with a `pool-changed`, so it needs no listener here.)
    ipc::listen::<PoolChanged>(PoolChanged::NAME, move |_| {
        ui.pool_version.update(|v| *v += 1);
    });
    ipc::listen::<LoginProgress>(LoginProgress::NAME, move |p| {
        ui.login_progress.set(Some(p));
    });
    ipc::listen::<SessionUpdated>(SessionUpdated::NAME, move |_| {
        ui.session_version.update(|v| *v += 1);
    });

    let gear = NodeRef::<leptos::html::Button>::new();
    let _shortcuts = window_event_listener(ev::keydown, move |e| {
        let ctrl = e.ctrl_key() || e.meta_key();
        if ctrl && e.key() == "," {
            e.prevent_default();
            ui.settings_open.update(|open| *open = !*open);
        } else if e.key() == "Escape" && ui.settings_open.get_untracked() {
            e.prevent_default();
            // Esc closes the topmost dialog: an inner one (add account, confirm removal) before
            // Settings, even when the focus fell out of it.
            match inner_dialog_close_button() {
                Some(button) => button.click(),
                None => ui.settings_open.set(false),
            }
        }
    });
    // Focus returns to the gear when the dialog closes, so keyboard users keep their place.
    Effect::watch(
        move || ui.settings_open.get(),
        move |open, was_open, _| {
            if !*open
                && was_open.copied().unwrap_or(false)
                && let Some(button) = gear.get_untracked()
            {
                let _ = button.focus();
            }
        },
        false,
    );

    view! {
        <div class="app">
            <header class="topbar">
                <div class="brand">
                    <Logo />
                    <span class="brand-name">"Rota"</span>
                </div>
                <div class="topbar-right">
                    <GatewayPill />
                    <button
                        class="icon-button"
                        id="open-settings"
                        node_ref=gear
                        aria-label="Settings"
                        title="Settings (Ctrl+,)"
                        on:click=move |_| ui.open_settings()
                    >
                        <GearIcon />
                    </button>
                </div>
            </header>
            <main class="content">
                <SessionsView />
            </main>
            <Show when=move || ui.settings_open.get()>
                <SettingsDialog />
            </Show>
            <Notices />
        </div>
    }
}

/// The gateway binds right after launch: asks once, and again each second while it is still
/// starting (ten times at most; no timer outlives the start).
fn poll_gateway_status(ui: Ui) {
    spawn_local(async move {
        for _ in 0..10 {
            match ipc::call::<GatewayStatusCmd>(&Empty {}).await {
                Ok(status) => {
                    let starting = status.state == GatewayState::Starting;
                    if let Some(addr) = status.address.clone() {
                        // The copyable lines use the bound address.
                        ui.info.update(|i| {
                            if let Some(i) = i {
                                i.gateway_url = format!("http://{addr}");
                            }
                        });
                    }
                    ui.gateway.set(Some(status));
                    if !starting {
                        return;
                    }
                }
                Err(e) => {
                    ui.notify(e.message);
                    return;
                }
            }
            sleep_ms(1000).await;
        }
    });
}

/// The header's gateway pill: the address with a green dot while the gateway runs; red with the
/// reason in its tooltip when it could not start.
#[component]
fn GatewayPill() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let gateway = move || {
        ui.gateway
            .get()
            .and_then(|g| g.address)
            .or_else(|| {
                ui.info
                    .get()
                    .map(|i| i.gateway_url.trim_start_matches("http://").to_owned())
            })
            .unwrap_or_default()
    };
    let gateway_state = move || ui.gateway.get().map_or(GatewayState::Starting, |g| g.state);
    let pill_class = move || {
        let state = match gateway_state() {
            GatewayState::Starting => "starting",
            GatewayState::Running => "running",
            GatewayState::Failed => "failed",
            GatewayState::Stopped => "stopped",
        };
        format!("pill gateway-pill {state}")
    };
    let pill_title = move || match ui.gateway.get() {
        Some(GatewayStatusResponse {
            state: GatewayState::Running,
            ..
        }) => "Rota's local gateway is running at this address".to_owned(),
        Some(GatewayStatusResponse {
            state: GatewayState::Failed,
            message,
            ..
        }) => format!(
            "The gateway is not running: {}",
            message.unwrap_or_else(|| "it could not start".to_owned())
        ),
        Some(GatewayStatusResponse {
            state: GatewayState::Stopped,
            ..
        }) => "The gateway has stopped".to_owned(),
        _ => "The gateway is starting…".to_owned(),
    };
    let pill_state = move || match gateway_state() {
        GatewayState::Running => "",
        GatewayState::Starting => "starting",
        GatewayState::Failed => "not running",
        GatewayState::Stopped => "stopped",
    };

    view! {
        <span class=pill_class id="gateway-pill" title=pill_title>
            <span class="pill-dot" aria-hidden="true"></span>
            <span class="pill-label">"Gateway"</span>
            <code class="pill-value">{gateway}</code>
            <Show when=move || !pill_state().is_empty()>
                <span class="pill-state">{pill_state}</span>
            </Show>
        </span>
    }
}

/// The button that closes an inner dialog (marked `data-esc`), when one is open.
fn inner_dialog_close_button() -> Option<web_sys::HtmlElement> {
    use wasm_bindgen::JsCast;
    web_sys::window()?
        .document()?
        .query_selector(".confirm-overlay [data-esc]")
        .ok()??
        .dyn_into()
        .ok()
}

/// Resolves after `ms` milliseconds (one browser timeout).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
