//! The confirmation dialogs several views share: the question box itself, and the switch to an
//! account that cannot serve now (Provider Detail, the context panel; see [`Switcher`]).

use crate::state::Switcher;
use leptos::ev;
use leptos::prelude::*;

/// What a confirmation asks: the dialog's element id (the parts' ids derive from it, see
/// [`ConfirmDialog`]), its words, and its two buttons (the cancelling one first).
#[derive(Debug, Clone)]
pub struct Question {
    pub id: &'static str,
    pub title: String,
    pub text: String,
    pub cancel: &'static str,
    pub ok: &'static str,
    pub ok_class: &'static str,
}

/// Asks first: while `pending` holds something, the question about it; OK hands it to
/// `on_ok` (which clears `pending` when it is done), Cancel clears `pending`.
#[component]
pub fn AskFirst<T: Clone + Send + Sync + 'static>(
    pending: RwSignal<Option<T>>,
    question: fn(&T) -> Question,
    on_ok: Callback<T>,
) -> impl IntoView {
    move || {
        pending.get().map(|item| {
            let q = question(&item);
            view! {
                <ConfirmDialog
                    id=q.id
                    title=q.title
                    text=q.text
                    cancel=q.cancel
                    ok=q.ok
                    ok_class=q.ok_class
                    on_cancel=move || pending.set(None)
                    on_ok=move || on_ok.run(item.clone())
                />
            }
        })
    }
}

/// Switching to an account that cannot serve: say what will happen and let the user choose.
#[component]
pub fn ConfirmSwitch(switcher: Switcher) -> impl IntoView {
    view! {
        <AskFirst
            pending=switcher.pending
            question=|(_, account, text)| Question {
                id: "confirm-switch",
                title: format!("Switch to {}?", account.label),
                text: text.clone(),
                cancel: "Keep the current account",
                ok: "Switch anyway",
                ok_class: "button primary",
            }
            on_ok=Callback::new(move |_| switcher.confirm())
        />
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
