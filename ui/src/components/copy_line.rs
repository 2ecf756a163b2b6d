//! A line of shell text with a Copy button.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::app::Ui;
use crate::ipc;

#[component]
pub fn CopyLine(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let value = text.get_untracked();
        spawn_local(async move {
            match ipc::copy_text(&value).await {
                Ok(()) => copied.set(true),
                Err(e) => ui.notify(format!("Could not copy to the clipboard: {e}")),
            }
        });
    };
    view! {
        <div class="copy-line">
            <code class="copy-text">{move || text.get()}</code>
            <button class="button small ghost" on:click=copy aria-label=move || format!("Copy: {}", text.get())>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// A Copy button for a short value shown elsewhere (a device code).
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let copied = RwSignal::new(false);
    let value = text.clone();
    let copy = move |_| {
        let value = value.clone();
        spawn_local(async move {
            match ipc::copy_text(&value).await {
                Ok(()) => copied.set(true),
                Err(e) => ui.notify(format!("Could not copy to the clipboard: {e}")),
            }
        });
    };
    view! {
        <button class="button small copy-button" aria-label=format!("Copy the code {text}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy code" }}
        </button>
    }
}
