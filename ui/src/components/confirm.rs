//! The confirmation dialogs several views share: the question box itself, and the switch to an
//! account that cannot serve now (Provider Detail, the context panel; see [`Switcher`]).

use crate::state::Switcher;
use leptos::ev;
use leptos::prelude::*;

/// Switching to an account that cannot serve: say what will happen and let the user choose.
#[component]
pub fn ConfirmSwitch(switcher: Switcher) -> impl IntoView {
    move || {
        switcher.pending.get().map(|(_, account, text)| {
            view! {
                <ConfirmDialog
                    id="confirm-switch"
                    title=format!("Switch to {}?", account.label)
                    text=text
                    cancel="Keep the current account"
                    ok="Switch anyway"
                    ok_class="button primary"
                    on_cancel=move || switcher.pending.set(None)
                    on_ok=move || switcher.confirm()
                />
            }
        })
    }
}

/// A question over the dialog: focus starts on the cancelling button, and Esc, a click
/// outside or Cancel close this dialog only (not Settings behind it). Element ids derive from
/// `id` (`<id>-title`, `<id>-text`, `<id>-cancel`, `<id>-ok`).
#[component]
pub fn ConfirmDialog(
    id: &'static str,
    title: String,
    text: String,
    cancel: &'static str,
    ok: &'static str,
    ok_class: &'static str,
    on_cancel: impl Fn() + Copy + 'static,
    on_ok: impl Fn() + Clone + 'static,
) -> impl IntoView {
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = cancel_button.get() {
            let _ = button.focus();
        }
    });
    let on_key = move |e: ev::KeyboardEvent| {
        if e.key() == "Escape" {
            e.prevent_default();
            e.stop_propagation();
            on_cancel();
        }
    };
    view! {
        <div class="overlay confirm-overlay" on:click=move |e| { e.stop_propagation(); on_cancel(); } on:keydown=on_key>
            <div
                class="dialog confirm"
                id=id
                role="alertdialog"
                aria-modal="true"
                aria-labelledby=format!("{id}-title")
                aria-describedby=format!("{id}-text")
                on:click=|e| e.stop_propagation()
            >
                <h3 id=format!("{id}-title")>{title}</h3>
                <p id=format!("{id}-text") class="muted">{text}</p>
                <div class="confirm-actions">
                    <button class="button" id=format!("{id}-cancel") data-esc node_ref=cancel_button on:click=move |_| on_cancel()>{cancel}</button>
                    <button class=ok_class id=format!("{id}-ok") on:click=move |_| on_ok()>{ok}</button>
                </div>
            </div>
        </div>
    }
}
