//! *Add account*: the provider's login flow inside the Settings dialog (docs/product.md §2).
//!
//! - Anthropic: the policy notice (docs/product.md §9), the sign-in page (opened by the shell), a
//!   paste field for the `code#state`; a refused code can be pasted again. Importing Claude
//!   Code's own login is offered beside it.
//! - OpenAI: browser sign-in with a loopback callback, or a device code.
//! - GitHub Copilot: a device code with a copy button.
//!
//! The flow's progress arrives as `login-progress` events; closing the dialog cancels it.

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{
    BeginLoginCmd, BeginLoginRequest, CancelLoginCmd, CompleteLoginCmd, CompleteLoginRequest,
    FlowRequest, ImportAccountsCmd, ImportAccountsRequest, LoginMethod, LoginPrompt, LoginStarted,
    OpenLoginPageCmd,
};
use rota_types::{AccountSummary, LoginState, ProviderId};

use crate::components::copy_line::CopyButton;
use crate::ipc;
use crate::state::Ui;

/// Where the dialog is.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// OpenAI: choose browser or device code.
    Choose,
    Starting,
    Started(LoginStarted),
    Done(Signed),
    Failed(String),
}

/// Who signed in: the account's record id (unknown for an import) and label.
#[derive(Debug, Clone, PartialEq)]
struct Signed {
    id: Option<String>,
    label: String,
}

/// Whether a renewal signed in as someone else than the account being renewed.
fn someone_else(signed: &Signed, renew: Option<&AccountSummary>) -> bool {
    renew.is_some_and(|r| signed.id.as_ref().is_some_and(|id| *id != r.id))
}

/// The result line: added, renewed, or renewed-someone-else (the login belonged to another
/// account than the one being renewed, so that one still needs its sign-in).
fn done_text(signed: &Signed, renew: Option<&AccountSummary>) -> (String, String) {
    match renew {
        Some(r) if signed.id.as_deref() == Some(r.id.as_str()) => (
            format!("Renewed {}", r.label),
            "Its sign-in works again; it keeps its place in the rotation.".to_owned(),
        ),
        Some(r) if someone_else(signed, renew) => (
            format!("Signed in as {}, not {}", signed.label, r.label),
            format!(
                "That login is another account, so it was added as a new one (now active). {} still needs a new sign-in: try again with its own login.",
                r.label
            ),
        ),
        _ => (
            format!("Added {}", signed.label),
            "It is now the active account and appears in the list.".to_owned(),
        ),
    }
}

/// The tool whose own login file can be imported instead of signing in here.
fn import_source(provider: ProviderId) -> Option<(&'static str, &'static str)> {
    match provider {
        ProviderId::Anthropic => Some(("claude-code", "Import Claude Code's login")),
        ProviderId::OpenAi => Some(("codex", "Import Codex CLI's login")),
        ProviderId::GithubCopilot => None,
    }
}

#[component]
#[allow(clippy::too_many_lines)] // one view! tree per step; splitting would scatter the dialog
pub fn AddAccountDialog(
    provider: ProviderId,
    open: RwSignal<bool>,
    /// The account "Log in again" renews; `None` adds one.
    renew: Option<AccountSummary>,
) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let name = provider.info().display_name;
    let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    let title = match &renew {
        Some(r) => format!("Sign in to {} again", r.label),
        None => format!("Add {article} {name} account"),
    };
    let step = RwSignal::new(if provider == ProviderId::OpenAi {
        Step::Choose
    } else {
        Step::Starting
    });
    let code = RwSignal::new(String::new());
    let code_error = RwSignal::new(None::<String>);

    let start = Action::new_local(move |&method: &LoginMethod| async move {
        let request = BeginLoginRequest {
            provider_id: provider,
            method,
        };
        match ipc::call::<BeginLoginCmd>(&request).await {
            Ok(started) => {
                // Closed while starting: end the flow at once.
                if open.get_untracked() {
                    step.set(Step::Started(started));
                } else {
                    cancel_flow(started.flow_id);
                }
            }
            Err(e) => step.set(Step::Failed(e.message)),
        }
    });
    let begin = move |method: LoginMethod| {
        step.set(Step::Starting);
        start.dispatch_local(method);
    };
    if provider != ProviderId::OpenAi {
        begin(LoginMethod::Default);
    }

    let flow_id = move || match step.get_untracked() {
        Step::Started(s) => Some(s.flow_id),
        _ => None,
    };
    // Background flows (browser, device) finish through events.
    Effect::new(move |_| {
        let Some(progress) = ui.login_progress.get() else {
            return;
        };
        if Some(&progress.flow_id) != flow_id().as_ref() {
            return;
        }
        match progress.state {
            LoginState::Succeeded { record_id, label } => step.set(Step::Done(Signed {
                id: Some(record_id),
                label,
            })),
            LoginState::Failed { message } => step.set(Step::Failed(message)),
            LoginState::Cancelled => open.set(false),
            _ => {}
        }
    });

    let close = move || {
        if let Some(id) = flow_id()
            && !matches!(step.get_untracked(), Step::Done(_))
        {
            cancel_flow(id);
        }
        open.set(false);
    };
    let complete = Action::new_local(move |request: &CompleteLoginRequest| {
        let request = request.clone();
        async move {
            match ipc::call::<CompleteLoginCmd>(&request).await {
                Ok(account) => step.set(Step::Done(Signed {
                    id: Some(account.id),
                    label: account.label,
                })),
                Err(e) => code_error.set(Some(e.message)),
            }
        }
    });
    let submit = move || {
        let Some(id) = flow_id() else { return };
        let pasted = code.get_untracked();
        if pasted.trim().is_empty() {
            code_error.set(Some("Paste the code the sign-in page shows.".to_owned()));
            return;
        }
        code_error.set(None);
        complete.dispatch_local(CompleteLoginRequest {
            flow_id: id,
            code: pasted,
        });
    };
    let open_page_action = Action::new_local(move |request: &FlowRequest| {
        let request = request.clone();
        async move {
            if let Err(e) = ipc::call::<OpenLoginPageCmd>(&request).await {
                ui.notify(e.message);
            }
        }
    });
    let open_page = move || {
        if let Some(flow_id) = flow_id() {
            open_page_action.dispatch_local(FlowRequest { flow_id });
        }
    };
    let import_action = Action::new_local(move |&source: &&'static str| async move {
        let request = ImportAccountsRequest {
            source: source.to_owned(),
            path: None,
        };
        match ipc::call::<ImportAccountsCmd>(&request).await {
            Ok(done) => {
                if let Some(id) = flow_id() {
                    cancel_flow(id);
                }
                step.set(Step::Done(Signed {
                    id: None,
                    label: done.imported.join(", "),
                }));
            }
            Err(e) => ui.notify(e.message),
        }
    });
    let import = move |source: &'static str| {
        import_action.dispatch_local(source);
    };
    // A pasted code or an import under way.
    let (completing, importing) = (complete.pending(), import_action.pending());
    let busy = move || completing.get() || importing.get();

    let on_key = move |e: ev::KeyboardEvent| {
        if e.key() == "Escape" {
            // Closes this dialog only, not Settings behind it.
            e.prevent_default();
            e.stop_propagation();
            close();
        }
    };

    let body = move || {
        match step.get() {
        Step::Choose => view! {
            <p class="muted">"How do you want to sign in to ChatGPT?"</p>
            <div class="login-choices">
                <button class="choice" id="login-browser" on:click=move |_| begin(LoginMethod::Default)>
                    <strong>"Sign in with the browser"</strong>
                    <span class="muted">"Opens chatgpt.com on this computer; Rota receives the result on a local port."</span>
                </button>
                <button class="choice" id="login-device" on:click=move |_| begin(LoginMethod::Device)>
                    <strong>"Use a device code"</strong>
                    <span class="muted">"Sign in on any device (a phone, another computer) by entering a short code."</span>
                </button>
            </div>
        }
        .into_any(),
        Step::Starting => view! { <p class="muted login-wait">"Starting the sign-in…"</p> }.into_any(),
        Step::Started(started) => match started.prompt.clone() {
            LoginPrompt::Paste { authorize_url } => view! {
                <ol class="login-steps">
                    <li>
                        "Sign in on the page that opened in your browser "
                        <button class="link-button" id="login-open-page" on:click=move |_| open_page()>"(open it again)"</button>
                        "."
                        <div class="login-url"><code id="login-url">{authorize_url}</code></div>
                    </li>
                    <li>"Copy the code it shows and paste it here:"</li>
                </ol>
                <form class="login-paste" on:submit=move |e: ev::SubmitEvent| { e.prevent_default(); submit(); }>
                    <input
                        id="login-code"
                        class="input"
                        type="text"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="code#state or the page's address"
                        aria-label="Authorization code"
                        aria-invalid=move || code_error.get().is_some().to_string()
                        prop:value=move || code.get()
                        on:input=move |e| code.set(event_target_value(&e))
                    />
                    <button class="button primary" id="login-submit" type="submit" disabled=busy>
                        {move || if busy() { "Connecting…" } else { "Connect" }}
                    </button>
                </form>
                {move || code_error.get().map(|m| view! { <p class="field-error" id="login-error" role="alert">{m}</p> })}
            }
            .into_any(),
            LoginPrompt::Browser { authorize_url, port } => view! {
                <p>"Finish signing in in your browser. Rota is waiting for it on port " {port} "."</p>
                <div class="login-url"><code id="login-url">{authorize_url}</code></div>
                <p class="muted login-wait">
                    "Waiting for the browser… "
                    <button class="link-button" id="login-open-page" on:click=move |_| open_page()>"Open the page again"</button>
                </p>
            }
            .into_any(),
            LoginPrompt::Device { user_code, verification_uri } => view! {
                <p>"Open " <code>{verification_uri.clone()}</code> " and enter this code:"</p>
                <div class="device-row">
                    <div class="device-code" id="device-code">{user_code.clone()}</div>
                    <CopyButton text=user_code.clone() />
                </div>
                <p class="muted login-wait">
                    "Waiting for approval… "
                    <button class="link-button" id="login-open-page" on:click=move |_| open_page()>"Open the page"</button>
                </p>
            }
            .into_any(),
        },
        Step::Done(signed) => {
            let (title, text) = done_text(&signed, renew.as_ref());
            let class = if someone_else(&signed, renew.as_ref()) { "login-done mismatch" } else { "login-done" };
            view! {
                <div class=class id="login-done" role="status">
                    <strong>{title}</strong>
                    <span class="muted">{text}</span>
                </div>
            }
            .into_any()
        }
        Step::Failed(message) => view! {
            <div class="login-failed" role="alert">
                <strong>"Sign-in failed"</strong>
                <span id="login-failed-text">{message}</span>
            </div>
            <button class="button" on:click=move |_| begin(LoginMethod::Default)>"Try again"</button>
        }
        .into_any(),
    }
    };

    // The step's content is replaced on every change, taking the focus with it; put it where
    // the user goes next, so keys (Esc above all) keep reaching this dialog.
    let close_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if matches!(step.get(), Step::Done(_) | Step::Failed(_))
            && let Some(button) = close_button.get_untracked()
        {
            let _ = button.focus();
        }
    });

    let notice = move || match step.get() {
        Step::Started(s) => s.notice,
        _ => None,
    };

    view! {
        <div class="overlay confirm-overlay" on:click=move |e| { e.stop_propagation(); close(); } on:keydown=on_key>
            <div
                class="dialog add-account"
                id="add-account"
                role="dialog"
                aria-modal="true"
                aria-labelledby="add-account-title"
                on:click=|e| e.stop_propagation()
            >
                <h3 id="add-account-title">{title}</h3>
                {move || notice().map(|n| view! { <div class="policy-notice" id="policy-notice" role="note">{n}</div> })}
                <div class="login-body">{body}</div>
                <div class="confirm-actions">
                    {import_source(provider).map(|(source, label)| view! {
                        <button class="button ghost import-instead" id="import-instead" disabled=busy on:click=move |_| import(source)>{label}</button>
                    })}
                    <span class="spacer"></span>
                    <button class="button" id="add-account-close" data-esc node_ref=close_button on:click=move |_| close()>
                        {move || if matches!(step.get(), Step::Done(_)) { "Done" } else { "Cancel" }}
                    </button>
                </div>
            </div>
        </div>
    }
}

/// Ends a flow, best effort: a flow that just finished is already gone. Not an `Action`: it
/// runs as the dialog closes and must outlive it.
fn cancel_flow(flow_id: String) {
    spawn_local(async move {
        let _ = ipc::call::<CancelLoginCmd>(&FlowRequest { flow_id }).await;
    });
}
