//! Provider Detail: a provider's accounts in rotation order and what Rota reads from it.

use leptos::prelude::*;
use rota_types::command::SettingsTab;

use super::ProviderBadge;
use crate::app::Ui;

#[component]
pub fn ProviderDetailTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    move || {
        let Some(provider) = ui.detail.get() else {
            return view! { <p class="muted">"Choose a provider in the Providers tab."</p> }
                .into_any();
        };
        let info = provider.info();
        let windows = info.usage_windows.clone();
        view! {
            <div class="tab-content" id="provider-detail-tab" data-provider=provider.as_str()>
                <button class="link-button back" on:click=move |_| ui.select_tab(SettingsTab::Providers)>
                    "‹ Providers"
                </button>
                <header class="detail-head">
                    <ProviderBadge provider=provider />
                    <div>
                        <h3>{info.display_name.clone()}</h3>
                        <p class="muted">{info.subscription.clone()} " · " {info.auth_type.clone()}</p>
                    </div>
                </header>
                <p class="detail-description">{info.description.clone()}</p>

                <section class="group" aria-labelledby="accounts-title">
                    <h4 id="accounts-title" class="group-title">"Accounts"</h4>
                    <div class="group-empty" id="no-accounts">
                        <strong>{format!("No {} accounts yet", info.display_name)}</strong>
                        <span class="muted">"Accounts appear here in rotation order, the active one first."</span>
                    </div>
                </section>

                <section class="group" aria-labelledby="limits-title">
                    <h4 id="limits-title" class="group-title">"Usage shown per account"</h4>
                    <ul class="facts">
                        {windows.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                    </ul>
                </section>

                <section class="group" aria-labelledby="gateway-route-title">
                    <h4 id="gateway-route-title" class="group-title">"Gateway route"</h4>
                    <code class="inline-code">
                        {move || ui.info.get().map(|i| format!("{}{}", i.gateway_url, info.gateway_path)).unwrap_or_default()}
                    </code>
                </section>
            </div>
        }
        .into_any()
    }
}
