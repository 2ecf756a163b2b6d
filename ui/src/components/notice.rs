//! Error and notice toasts: every failed command ends up here with its message.

use leptos::prelude::*;

use crate::state::{Ui, fetched_on};

#[component]
pub fn Notices() -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <div class="notices" role="status" aria-live="polite">
            <RecoveryNotices />
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

/// What the store repaired after a crash or a damaged file (any process's repair): shown above
/// the toasts until the user acknowledges it, which ends it on every surface (CLI, API, app).
/// Re-read whenever the store changes.
#[component]
pub fn RecoveryNotices() -> impl IntoView {
    use rota_types::RecoveriesResponse;
    use rota_types::command::{AcknowledgeRecoveriesCmd, Empty, RecoveriesCmd};

    let ui = expect_context::<Ui>();
    let recoveries = fetched_on::<RecoveriesCmd>(ui, Some(ui.pool_version));
    let pending = move || recoveries.get().map(|r| r.recoveries).unwrap_or_default();
    let acknowledge = Action::new_local(move |(): &()| async move {
        match crate::ipc::call::<AcknowledgeRecoveriesCmd>(&Empty {}).await {
            Ok(_) => recoveries.set(RecoveriesResponse::default()),
            Err(e) => ui.notify(e.message),
        }
    });
    view! {
        <Show when=move || !pending().is_empty()>
            <div class="notice recovery-notice" id="recovery-notice" role="alert">
                <div class="notice-text">
                    <strong>"Rota repaired its account store"</strong>
                    <ul class="recovery-list">
                        <For
                            each=pending
                            key=|n| (n.at, n.message.clone())
                            children=move |n| view! { <li>{n.message}</li> }
                        />
                    </ul>
                    <p class="recovery-hint">
                        "Check the accounts named here (they may need a new login), then acknowledge."
                    </p>
                </div>
                <button class="button" id="acknowledge-recoveries" on:click=move |_| { acknowledge.dispatch_local(()); }>
                    "Acknowledge"
                </button>
            </div>
        </Show>
    }
}
