//! The Settings dialog: tabs Providers, Provider Detail, Connections, Switch history and About.

mod about;
mod account_row;
mod add_account;
pub mod connections;
mod handoff;
mod history;
mod provider_detail;
mod providers;

use leptos::prelude::*;
use rota_types::ProviderId;
use rota_types::command::SettingsTab;

use crate::components::icons::CloseIcon;
use crate::state::Ui;

const TABS: [SettingsTab; 5] = [
    SettingsTab::Providers,
    SettingsTab::ProviderDetail,
    SettingsTab::Connections,
    SettingsTab::History,
    SettingsTab::About,
];

fn tab_key(tab: SettingsTab) -> &'static str {
    match tab {
        SettingsTab::Providers => "providers",
        SettingsTab::ProviderDetail => "provider-detail",
        SettingsTab::History => "history",
        SettingsTab::Connections => "connections",
        SettingsTab::About => "about",
    }
}

fn tab_label(tab: SettingsTab) -> &'static str {
    match tab {
        SettingsTab::Providers => "Providers",
        SettingsTab::ProviderDetail => "Provider Detail",
        SettingsTab::History => "Switch history",
        SettingsTab::Connections => "Connections",
        SettingsTab::About => "About",
    }
}

/// A coloured initial standing for a provider in lists.
#[component]
pub fn ProviderBadge(provider: ProviderId) -> impl IntoView {
    let (class, letter) = match provider {
        ProviderId::Anthropic => ("provider-badge anthropic", "A"),
        ProviderId::OpenAi => ("provider-badge openai", "O"),
        ProviderId::GithubCopilot => ("provider-badge copilot", "G"),
    };
    view! { <span class=class aria-hidden="true">{letter}</span> }
}

/// Provider Detail needs a chosen provider; every other tab is always there.
fn tab_enabled(ui: Ui, tab: SettingsTab) -> bool {
    tab != SettingsTab::ProviderDetail || ui.detail.get().is_some()
}

/// The tab shown: a remembered Provider Detail without a provider falls back to Providers.
fn current_tab(ui: Ui) -> SettingsTab {
    let tab = ui.tab.get();
    if tab_enabled(ui, tab) {
        tab
    } else {
        SettingsTab::Providers
    }
}

#[component]
pub fn SettingsDialog() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let current = move || current_tab(ui);

    // One scroll area serves every tab: a new tab starts at its top, not where the last one
    // was left.
    let body = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        current();
        if let Some(el) = body.get_untracked() {
            el.set_scroll_top(0);
        }
    });

    view! {
        <div class="overlay" on:click=move |_| ui.settings_open.set(false)>
            <div
                class="dialog settings"
                role="dialog"
                aria-modal="true"
                aria-labelledby="settings-title"
                id="settings-dialog"
                on:click=|e| e.stop_propagation()
            >
                <SettingsNav />
                <div class="settings-body" node_ref=body>
                    <button class="icon-button dialog-close" aria-label="Close settings" title="Close (Esc)" on:click=move |_| ui.settings_open.set(false)>
                        <CloseIcon />
                    </button>
                    <div
                        class="tabpanel"
                        role="tabpanel"
                        id=move || format!("panel-{}", tab_key(current()))
                        aria-labelledby=move || format!("tab-{}", tab_key(current()))
                    >
                        {move || match current() {
                            SettingsTab::Providers => view! { <providers::ProvidersTab /> }.into_any(),
                            SettingsTab::ProviderDetail => view! { <provider_detail::ProviderDetailTab /> }.into_any(),
                            SettingsTab::History => view! { <history::HistoryTab /> }.into_any(),
                            SettingsTab::Connections => view! { <connections::ConnectionsTab /> }.into_any(),
                            SettingsTab::About => view! { <about::AboutTab /> }.into_any(),
                        }}
                    </div>
                </div>
            </div>
        </div>
    }
}

/// The tab list: arrow keys move between the usable tabs, focus follows the selection.
#[component]
fn SettingsNav() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let enabled = move |tab: SettingsTab| tab_enabled(ui, tab);
    let current = move || current_tab(ui);

    let tablist = NodeRef::<leptos::html::Div>::new();
    let focus_tab = move |tab: SettingsTab| {
        use wasm_bindgen::JsCast;
        if let Some(list) = tablist.get_untracked()
            && let Ok(Some(el)) = list.query_selector(&format!("#tab-{}", tab_key(tab)))
            && let Ok(el) = el.dyn_into::<web_sys::HtmlElement>()
        {
            let _ = el.focus();
        }
    };
    // Focus lands on the selected tab when the dialog opens.
    Effect::new(move |_| {
        if tablist.get().is_some() {
            focus_tab(current());
        }
    });

    let on_key = move |e: leptos::ev::KeyboardEvent| {
        let forward = match e.key().as_str() {
            "ArrowDown" | "ArrowRight" => true,
            "ArrowUp" | "ArrowLeft" => false,
            _ => return,
        };
        e.prevent_default();
        let usable: Vec<_> = TABS.iter().copied().filter(|t| enabled(*t)).collect();
        let at = usable.iter().position(|t| *t == current()).unwrap_or(0);
        let n = usable.len();
        let next = usable[if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        }];
        ui.select_tab(next);
        focus_tab(next);
    };

    view! {
        <nav class="settings-nav">
            <h2 id="settings-title">"Settings"</h2>
            <div class="tablist" role="tablist" aria-orientation="vertical" node_ref=tablist on:keydown=on_key>
                {TABS
                    .into_iter()
                    .map(|tab| {
                        view! {
                            <button
                                role="tab"
                                class="tab"
                                id=format!("tab-{}", tab_key(tab))
                                aria-controls=format!("panel-{}", tab_key(tab))
                                aria-selected=move || (current() == tab).to_string()
                                aria-disabled=move || (!enabled(tab)).to_string()
                                tabindex=move || if current() == tab { "0" } else { "-1" }
                                title=move || if enabled(tab) { String::new() } else { "Choose a provider first".to_owned() }
                                on:click=move |_| if enabled(tab) { ui.select_tab(tab) }
                            >
                                {tab_label(tab)}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
        </nav>
    }
}
