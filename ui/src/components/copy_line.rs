//! A line of shell text with a Copy button.

use leptos::prelude::*;

use crate::ipc;
use crate::state::Ui;

/// Copies its input to the clipboard; its value is `Some(true)` once a copy worked.
fn copy_action() -> Action<String, bool> {
    let ui = expect_context::<Ui>();
    Action::new_local(move |value: &String| {
        let value = value.clone();
        async move {
            match ipc::copy_text(&value).await {
                Ok(()) => true,
                Err(e) => {
                    ui.notify(format!("Could not copy to the clipboard: {e}"));
                    false
                }
            }
        }
    })
}

#[component]
pub fn CopyLine(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let action = copy_action();
    let answer = action.value();
    let copied = move || answer.get() == Some(true);
    let copy = move |_| {
        action.dispatch_local(text.get_untracked());
    };
    view! {
        <div class="copy-line">
            <code class="copy-text">{move || text.get()}</code>
            <button class="button small ghost" on:click=copy aria-label=move || format!("Copy: {}", text.get())>
                {move || if copied() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// A Copy button for a short value shown elsewhere (a device code).
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let action = copy_action();
    let answer = action.value();
    let copied = move || answer.get() == Some(true);
    let value = text.clone();
    let copy = move |_| {
        action.dispatch_local(value.clone());
    };
    view! {
        <button class="button small copy-button" aria-label=format!("Copy the code {text}") on:click=copy>
            {move || if copied() { "Copied" } else { "Copy code" }}
        </button>
    }
}
