//! The sessions view. Until a tool sends traffic through the gateway it shows how to point one
//! at it.

use leptos::prelude::*;

use crate::app::Ui;
use crate::components::copy_line::CopyLine;
use crate::components::icons::SessionsIcon;

#[component]
pub fn SessionsView() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let base = move || ui.info.get().map(|i| i.gateway_url).unwrap_or_default();

    view! {
        <section class="sessions" aria-labelledby="sessions-title">
            <div class="section-head">
                <h1 id="sessions-title">"Sessions"</h1>
                <span class="muted">"Traffic seen by the gateway, grouped by tool and session"</span>
            </div>
            <div class="empty-state" id="sessions-empty">
                <div class="empty-icon"><SessionsIcon /></div>
                <h2>"No sessions yet"</h2>
                <p class="muted">
                    "Point a coding tool at Rota's gateway and its requests appear here. Rota adds the "
                    "active account's credentials and moves to the next account when one is rate-limited."
                </p>
                <Show when=move || !base().is_empty() fallback=|| view! { <p class="muted">"Loading the gateway address…"</p> }>
                    <div class="setup-lines">
                        <div class="setup-group">
                            <h3>"Claude Code, Anthropic SDKs"</h3>
                            <CopyLine text=Signal::derive(move || format!("export ANTHROPIC_BASE_URL={}/anthropic", base())) />
                        </div>
                        <div class="setup-group">
                            <h3>"Codex CLI, OpenAI SDKs"</h3>
                            <CopyLine text=Signal::derive(move || format!("export OPENAI_BASE_URL={}/openai", base())) />
                        </div>
                        <div class="setup-group">
                            <h3>"GitHub Copilot clients (base URL in the tool's settings)"</h3>
                            <CopyLine text=Signal::derive(move || format!("{}/github-copilot", base())) />
                        </div>
                    </div>
                </Show>
            </div>
        </section>
    }
}
