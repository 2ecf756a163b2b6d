//! Providers tab: connected providers with account counts, and the supported ones to add.

use leptos::prelude::*;
use rota_types::command::{Empty, ListProvidersCmd, ProviderListing};

use super::ProviderBadge;
use crate::components::icons::{ChevronIcon, SearchIcon};
use crate::ipc;
use crate::state::{Ui, fetched};

fn accounts_text(n: u32) -> String {
    if n == 1 {
        "1 account".to_owned()
    } else {
        format!("{n} accounts")
    }
}

/// The connected row's health: what needs the user, else that every account can serve.
fn health_hint(p: &ProviderListing) -> (&'static str, String) {
    let mut parts = Vec::new();
    if p.needs_reauth > 0 {
        parts.push(format!("{} needs re-login", p.needs_reauth));
    }
    if p.cooling_down > 0 {
        parts.push(format!("{} cooling down", p.cooling_down));
    }
    if parts.is_empty() {
        ("ok", "Ready".to_owned())
    } else if p.needs_reauth > 0 {
        ("bad", parts.join(" · "))
    } else {
        ("warn", parts.join(" · "))
    }
}

#[component]
#[allow(clippy::too_many_lines)] // one view! tree; splitting it would scatter the tab's markup
pub fn ProvidersTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    // Read on open and again on every pool change (any process).
    let providers = fetched(ui, move || {
        ui.pool_version.track();
        async move {
            ipc::call::<ListProvidersCmd>(&Empty {})
                .await
                .map(|r| r.providers)
        }
    });
    let query = RwSignal::new(String::new());

    let open_detail = move |p: &ProviderListing| ui.open_detail(p.info.id);

    let connected = move || {
        providers
            .get()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.account_count > 0)
            .collect::<Vec<_>>()
    };
    let addable = move || {
        let q = query.get().trim().to_lowercase();
        providers
            .get()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                q.is_empty()
                    || p.info.display_name.to_lowercase().contains(&q)
                    || p.info.subscription.to_lowercase().contains(&q)
                    || p.info.id.as_str().contains(&q)
            })
            .collect::<Vec<_>>()
    };

    view! {
        <div class="tab-content" id="providers-tab">
            <header class="tab-head">
                <h3>"Providers"</h3>
                <p class="muted">"Accounts are pooled per provider. Rota rotates to the next account when one is rate-limited."</p>
            </header>

            <section class="group" aria-labelledby="connected-title">
                <h4 id="connected-title" class="group-title">"Connected"</h4>
                <Show
                    when=move || !connected().is_empty()
                    fallback=|| view! {
                        <div class="group-empty" id="no-connected">
                            <strong>"No providers connected yet"</strong>
                            <span class="muted">"Add a provider below to pool its accounts."</span>
                        </div>
                    }
                >
                    <ul class="rows" id="connected-list">
                        <For each=connected key=|p| (p.info.id, p.account_count, p.active_label.clone(), p.needs_reauth, p.cooling_down) children=move |p| {
                            let listing = p.clone();
                            let (health_class, health) = health_hint(&p);
                            view! {
                                <li>
                                    <button class="row" data-provider=p.info.id.as_str() on:click=move |_| open_detail(&listing)>
                                        <ProviderBadge provider=p.info.id />
                                        <span class="row-main">
                                            <span class="row-title">{p.info.display_name.clone()}</span>
                                            <span class="row-sub">
                                                {p.active_label.clone().map_or_else(|| p.info.subscription.clone(), |l| format!("Active: {l}"))}
                                            </span>
                                            <span class=format!("health {health_class}")>{health}</span>
                                        </span>
                                        <span class="count">{accounts_text(p.account_count)}</span>
                                        <ChevronIcon />
                                    </button>
                                </li>
                            }
                        } />
                    </ul>
                </Show>
            </section>

            <section class="group" aria-labelledby="add-title">
                <h4 id="add-title" class="group-title">"Add provider"</h4>
                <label class="search">
                    <SearchIcon />
                    <input
                        type="search"
                        id="provider-search"
                        placeholder="Search providers"
                        aria-label="Search providers"
                        prop:value=move || query.get()
                        on:input=move |e| query.set(event_target_value(&e))
                    />
                </label>
                <ul class="rows" id="add-provider-list">
                    <For each=addable key=|p| p.info.id children=move |p| {
                        let listing = p.clone();
                        view! {
                            <li>
                                <button class="row" data-provider=p.info.id.as_str() on:click=move |_| open_detail(&listing)>
                                    <ProviderBadge provider=p.info.id />
                                    <span class="row-main">
                                        <span class="row-title">{p.info.display_name.clone()}</span>
                                        <span class="row-sub">{p.info.subscription.clone()}</span>
                                    </span>
                                    <span class="tag">{p.info.auth_type.clone()}</span>
                                    <ChevronIcon />
                                </button>
                            </li>
                        }
                    } />
                </ul>
                <Show when=move || providers.with(|p| p.is_some()) && addable().is_empty()>
                    <p class="muted no-match">{move || format!("No provider matches \u{201c}{}\u{201d}.", query.get().trim())}</p>
                </Show>
            </section>
        </div>
    }
}
