//! The main window's shell: header, sessions view, the Settings dialog and global shortcuts.
//! The state the views share lives in [`crate::state`]; this file provides it.

use leptos::ev;
use leptos::prelude::*;

use crate::components::gateway_pill::GatewayPill;
use crate::components::icons::{GearIcon, Logo};
use crate::components::notice::Notices;
use crate::sessions::SessionsView;
use crate::settings::SettingsDialog;
use crate::state::Ui;

#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::provide();

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
