//! Switch history: every change of an active account and every removal, newest first, with why
//! it happened (manual from the tray / CLI / app, rate limited, re-login needed, proactive,
//! account removed, …). A row about one account (a removal nobody took over from) names it
//! once. Re-read on every `pool-changed`.

use leptos::prelude::*;
use rota_types::ProviderId;
use rota_types::command::{SwitchLogCmd, SwitchLogRequest};
use rota_types::display::{ago_text, clock_time};

use super::ProviderBadge;
use crate::ipc;
use crate::state::{Ui, fetched};

/// The webview's UTC offset in minutes (for wall-clock times).
fn utc_offset_minutes() -> i32 {
    // `getTimezoneOffset` is minutes *behind* UTC.
    #[allow(clippy::cast_possible_truncation)] // offsets are at most ±14 h
    let behind = js_sys::Date::new_0().get_timezone_offset() as i32;
    -behind
}

#[component]
pub fn HistoryTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let filter = RwSignal::new(None::<ProviderId>);
    let items = fetched(ui, move || {
        ui.pool_version.track();
        let request = SwitchLogRequest {
            provider_id: filter.get().map(|p| p.as_str().to_owned()),
            limit: Some(200),
        };
        async move { ipc::call::<SwitchLogCmd>(&request).await }
    });
    let chip = move |p: Option<ProviderId>, label: &'static str| {
        view! {
            <button class="chip" class:selected=move || filter.get() == p aria-pressed=move || (filter.get() == p).to_string()
                on:click=move |_| filter.set(p)>{label}</button>
        }
    };
    view! {
        <div class="tab-content" id="history-tab">
            <header>
                <h3>"Switch history"</h3>
                <p class="muted">"Every change of the active account and every removal, with why, newest first."</p>
            </header>
            <div class="chips" role="group" aria-label="Provider">
                {chip(None, "All")}
                {chip(Some(ProviderId::Anthropic), "Anthropic")}
                {chip(Some(ProviderId::OpenAi), "OpenAI")}
                {chip(Some(ProviderId::GithubCopilot), "GitHub Copilot")}
            </div>
            {move || {
                let now = ui.clock.get();
                let offset = utc_offset_minutes();
                match items.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(list) if list.is_empty() => view! {
                        <div class="group-empty" id="no-switches">
                            <strong>"No switches yet"</strong>
                            <span class="muted">"Switches from the tray, the CLI, this window and the gateway's automatic rotations appear here."</span>
                        </div>
                    }.into_any(),
                    Some(list) => view! {
                        <ol class="history" id="switch-history">
                            {list.into_iter().map(|e| {
                                let automatic = e.reason.is_automatic();
                                view! {
                                    <li class="history-item" class:automatic=automatic data-reason=e.reason.as_str()>
                                        <ProviderBadge provider=e.provider_id />
                                        <div class="history-main">
                                            <div class="history-accounts">
                                                // A redeem names one account (`from` = `to`): no arrow.
                                                {e.from.clone().filter(|f| *f != e.to).map(|f| view! { <span class="muted">{f}</span><span class="arrow" aria-label="to">" → "</span> })}
                                                <strong>{e.to.clone()}</strong>
                                            </div>
                                            <span class="history-reason">{e.reason_text.clone()}</span>
                                        </div>
                                        <time class="history-when muted" title=ago_text(e.at, now)>
                                            {clock_time(e.at, offset)}<br/>{ago_text(e.at, now)}
                                        </time>
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                }
            }}
        </div>
    }
}
