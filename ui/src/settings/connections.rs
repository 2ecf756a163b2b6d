//! Connections: per coding tool, whether its own config sends it through this Rota, the last
//! request the gateway saw from it, and *Connect* / *Undo* (asks first) / *Test* (a request
//! that costs the account nothing, answered in words). Shared by Settings → Connections and
//! the main window's empty state.

use std::collections::BTreeMap;

use leptos::prelude::*;
use rota_types::command::{
    ConnectToolCmd, ListConnectionsCmd, TestConnectionCmd, UndoConnectionCmd,
};
use rota_types::display::ago_text;
use rota_types::{ConnectionRequest, ConnectionStateKind, ConnectionView};

use crate::components::confirm::{AskFirst, Question};
use crate::ipc::{self, now_ms};
use crate::state::{Ui, fetched_on};

#[derive(Debug, Clone, Copy)]
enum Verb {
    Connect,
    Undo,
    Test,
}

/// The tools with their state and buttons. Re-read when sessions change (a new request updates
/// "last request").
#[component]
pub fn ConnectionsList() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let list = fetched_on::<ListConnectionsCmd>(ui, Some(ui.session_version));
    // Per connection: the last Test's answer (ok, words), or a Connect/Undo message.
    let results = RwSignal::new(BTreeMap::<String, (bool, String)>::new());
    let confirm_undo = RwSignal::new(None::<ConnectionView>);
    let run = Action::new_local(move |(name, verb): &(String, Verb)| {
        let (name, verb) = (name.clone(), *verb);
        async move {
            let request = ConnectionRequest {
                connection: name.clone(),
            };
            let result = match verb {
                Verb::Connect => ipc::call::<ConnectToolCmd>(&request)
                    .await
                    .map(|d| (true, d.message)),
                Verb::Undo => ipc::call::<UndoConnectionCmd>(&request)
                    .await
                    .map(|d| (true, d.message)),
                Verb::Test => ipc::call::<TestConnectionCmd>(&request)
                    .await
                    .map(|r| (r.ok, r.message)),
            };
            let answer = result.unwrap_or_else(|e| (false, e.message));
            results.update(|r| {
                r.insert(name, answer);
            });
            list.refetch();
        }
    });
    // The connection whose Connect, Undo or Test is under way.
    let input = run.input();
    let busy = move || input.with(|i| i.as_ref().map(|(name, _)| name.clone()));
    let act = move |name: String, verb: Verb| {
        confirm_undo.set(None);
        run.dispatch_local((name, verb));
    };
    view! {
        <ul class="connections" id="connections">
            {move || match list.get() {
                None => view! { <li class="muted">"Loading…"</li> }.into_any(),
                Some(l) => l
                    .into_iter()
                    .map(|c| {
                        let name = c.connection.clone();
                        let connected = c.state == ConnectionStateKind::Connected;
                        let seen = c.last_seen.map_or_else(
                            || "no request seen yet".to_owned(),
                            |at| format!("last request {}", ago_text(at, now_ms())),
                        );
                        let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
                        let undo_target = c.clone();
                        let result_name = name.clone();
                        let busy_name = name.clone();
                        let is_busy = move || busy().as_deref() == Some(busy_name.as_str());
                        let is_busy2 = is_busy.clone();
                        let is_busy3 = is_busy.clone();
                        view! {
                            <li class="connection" id=format!("connection-{name}") data-state=format!("{:?}", c.state)>
                                <div class="connection-main">
                                    <strong>{c.display_name.clone()}</strong>
                                    <span class="connection-state" class:ok=connected>{c.state_text.clone()}</span>
                                    <span class="muted">{seen}</span>
                                    <span class="muted connection-path">{c.path.clone()}</span>
                                </div>
                                <div class="connection-actions">
                                    {if connected {
                                        view! {
                                            <button class="button small" id=format!("test-{n1}") disabled=is_busy on:click=move |_| act(n1.clone(), Verb::Test)>"Test"</button>
                                            <button class="button small ghost" id=format!("undo-{n2}") disabled=is_busy2 on:click=move |_| confirm_undo.set(Some(undo_target.clone()))>"Undo"</button>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <button class="button small primary" id=format!("connect-{n3}") disabled=is_busy3 on:click=move |_| act(n3.clone(), Verb::Connect)>"Connect"</button>
                                        }.into_any()
                                    }}
                                </div>
                                {move || results.get().get(&result_name).cloned().map(|(ok, text)| view! {
                                    <p class="connection-result" class:ok=ok class:failed=!ok role="status">{text}</p>
                                })}
                            </li>
                        }
                    })
                    .collect_view()
                    .into_any(),
            }}
        </ul>
        <AskFirst pending=confirm_undo question=undo_question on_ok=Callback::new(move |c: ConnectionView| act(c.connection, Verb::Undo)) />
    }
}

/// Undo asks first: it rewrites the tool's file and revokes its key.
fn undo_question(c: &ConnectionView) -> Question {
    Question {
        id: "confirm-undo",
        title: format!("Disconnect {}?", c.display_name),
        text: format!(
            "{} is put back as it was before Rota (your later edits are kept) and its key is \
             revoked: {} will no longer go through Rota.",
            c.path, c.display_name
        ),
        cancel: "Cancel",
        ok: "Disconnect",
        ok_class: "button danger",
    }
}

#[component]
pub fn ConnectionsTab() -> impl IntoView {
    view! {
        <div class="tab-content" id="connections-tab">
            <header>
                <h3>"Connections"</h3>
                <p class="muted">
                    "Connect writes the tool's own settings so that it goes through Rota from its next start, "
                    "with a key of its own that survives restarts; Undo puts the file back. Test sends a request "
                    "that costs the account nothing (Claude Code: a token count; Codex CLI and opencode: the model list)."
                </p>
            </header>
            <ConnectionsList />
            <p class="muted">"Other tools and SDKs: run " <code>"eval \"$(rota env)\""</code> " in the shell that starts them."</p>
        </div>
    }
}
