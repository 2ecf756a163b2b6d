//! The main window: header, sessions view, the Settings dialog and global shortcuts.

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{
    AppInfo, AppInfoCmd, Empty, SettingsTab, UiPrefs, UiPrefsGetCmd, UiPrefsSetCmd,
};
use rota_types::{Event, PoolChanged, ProviderId};

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
    /// Errors and notices shown at the bottom of the window until dismissed.
    pub notices: RwSignal<Vec<String>>,
    /// Bumped on every `pool-changed` event (any process changed the store): views that show
    /// accounts re-read them when it changes.
    pub pool_version: RwSignal<u64>,
}

impl Ui {
    pub fn notify(&self, message: impl Into<String>) {
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
    };
    provide_context(ui);

    spawn_local(async move {
        match ipc::call::<AppInfoCmd>(&Empty {}).await {
            Ok(info) => ui.info.set(Some(info)),
            Err(e) => ui.notify(e.message),
        }
    });
    spawn_local(async move {
        match ipc::call::<UiPrefsGetCmd>(&Empty {}).await {
            // Provider Detail needs a chosen provider; without one, start at Providers.
            Ok(prefs) if prefs.last_tab != SettingsTab::ProviderDetail => {
                ui.tab.set(prefs.last_tab);
            }
            Ok(_) => {}
            Err(e) => ui.notify(e.message),
        }
    });

    // The tray's "Settings…" asks the window to open the dialog.
    ipc::listen::<()>("open-settings", move |()| ui.open_settings());
    // The store changed (this app, the CLI, the gateway, …): re-read what is shown.
    ipc::listen::<PoolChanged>(PoolChanged::NAME, move |_| {
        ui.pool_version.update(|v| *v += 1);
    });

    let gear = NodeRef::<leptos::html::Button>::new();
    let _shortcuts = window_event_listener(ev::keydown, move |e| {
        let ctrl = e.ctrl_key() || e.meta_key();
        if ctrl && e.key() == "," {
            e.prevent_default();
            ui.settings_open.update(|open| *open = !*open);
        } else if e.key() == "Escape" && ui.settings_open.get_untracked() {
            e.prevent_default();
            ui.settings_open.set(false);
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

    let gateway = move || {
        ui.info
            .get()
            .map(|i| i.gateway_url.trim_start_matches("http://").to_owned())
            .unwrap_or_default()
    };

    view! {
        <div class="app">
            <header class="topbar">
                <div class="brand">
                    <Logo />
                    <span class="brand-name">"Rota"</span>
                </div>
                <div class="topbar-right">
                    <span class="pill" title="Address of Rota's local gateway">
                        <span class="pill-label">"Gateway"</span>
                        <code class="pill-value">{gateway}</code>
                    </span>
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
