//! Providers tab: connected providers with account counts, and the supported ones to add.

use leptos::prelude::*;
use rota_types::command::{ListProvidersCmd, ProviderListing};

use super::ProviderBadge;
use crate::components::icons::{ChevronIcon, SearchIcon};
use crate::state::{Ui, fetched_on};

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

/// One provider, as the button that opens its Provider Detail.
#[component]
fn ProviderRow(
    listing: ProviderListing,
    sub: String,
    /// The connected row's health: its class and words.
    #[prop(optional)]
    health: Option<(&'static str, String)>,
    /// What the row ends with: the account count, or the kind of sign-in.
    trail_class: &'static str,
    trail: String,
) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let id = listing.info.id;
    view! {
        <li>
            <button class="row" data-provider=id.as_str() on:click=move |_| ui.open_detail(id)>
                <ProviderBadge provider=id />
                <span class="row-main">
                    <span class="row-title">{listing.info.display_name}</span>
                    <span class="row-sub">{sub}</span>
                    {health.map(|(class, text)| view! { <span class=format!("health {class}")>{text}</span> })}
                </span>
                <span class=trail_class>{trail}</span>
                <ChevronIcon />
            </button>
        </li>
    }
}

#[component]
pub fn ProvidersTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    // Read on open and again on every pool change (any process).
    let listing = fetched_on::<ListProvidersCmd>(ui, Some(ui.pool_version));
    let providers = move || listing.get().map(|r| r.providers);
    let query = RwSignal::new(String::new());

    let connected = move || {
        providers()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.account_count > 0)
            .collect::<Vec<_>>()
    };
    let addable = move || {
        let q = query.get().trim().to_lowercase();
        providers()
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
                        <For each=connected key=|p| (p.info.id, p.account_count, p.active_label.clone(), p.needs_reauth, p.cooling_down) children=move |p| view! {
                            <ProviderRow
                                sub=p.active_label.clone().map_or_else(|| p.info.subscription.clone(), |l| format!("Active: {l}"))
                                health=health_hint(&p)
                                trail_class="count"
                                trail=accounts_text(p.account_count)
                                listing=p
                            />
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
                    <For each=addable key=|p| p.info.id children=move |p| view! {
                        <ProviderRow
                            sub=p.info.subscription.clone()
                            trail_class="tag"
                            trail=p.info.auth_type.clone()
                            listing=p
                        />
                    } />
                </ul>
                <Show when=move || listing.with(|p| p.is_some()) && addable().is_empty()>
                    <p class="muted no-match">{move || format!("No provider matches \u{201c}{}\u{201d}.", query.get().trim())}</p>
                </Show>
            </section>
        </div>
    }
}
