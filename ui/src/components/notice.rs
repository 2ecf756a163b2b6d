//! Error and notice toasts: every failed command ends up here with its message.

use leptos::prelude::*;

use crate::app::Ui;

#[component]
pub fn Notices() -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <div class="notices" role="status" aria-live="polite">
            <For
                each=move || ui.notices.get()
                key=|m| m.clone()
                children=move |message| {
                    let dismiss = message.clone();
                    view! {
                        <div class="notice">
                            <span class="notice-text">{message}</span>
                            <button
                                class="notice-close"
                                aria-label="Dismiss"
                                on:click=move |_| ui.notices.update(|n| n.retain(|m| *m != dismiss))
                            >
                                "×"
                            </button>
                        </div>
                    }
                }
            />
        </div>
    }
}
