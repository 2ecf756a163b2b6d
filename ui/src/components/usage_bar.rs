//! A usage bar: label, "42% used", a coloured bar with ARIA progressbar values, the reset time,
//! and the age of the value (greyed when stale — never an empty bar). A model's used-up window
//! says that the model's requests go to other accounts.

use leptos::prelude::*;
use rota_types::display::{UsageColor, age_text, percent, reset_text, used_text};
use rota_types::{UnixMs, UsageSnapshot, UsageWindow};

/// Values older than this are shown greyed as stale.
pub const STALE_AFTER_MS: UnixMs = 15 * 60_000;

#[component]
pub fn UsageBar(window: UsageWindow, fetched_at: UnixMs, now: UnixMs) -> impl IntoView {
    let pct = percent(window.utilization);
    let colour = UsageColor::for_utilization(window.utilization).class();
    let used = used_text(window.utilization);
    let stale = now.saturating_sub(fetched_at) > STALE_AFTER_MS;
    let reset = window.resets_at.map(|at| reset_text(at, now));
    let age = age_text(fetched_at, now);
    let label = window.label.clone();
    let capped = window
        .model
        .clone()
        .filter(|_| window.is_exhausted())
        .map(|m| format!("{m} requests go to other accounts until then"));
    view! {
        <div class="usage" class:stale=stale>
            <div class="usage-top">
                <span class="usage-label">{label.clone()}</span>
                <span class="usage-pct">{used.clone()}</span>
            </div>
            <div
                class="usage-track"
                role="progressbar"
                aria-label=label.clone()
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=pct.to_string()
                aria-valuetext=used
            >
                <div class=format!("usage-fill {colour}") style=format!("width: {pct}%")></div>
            </div>
            <div class="usage-foot">
                <span class="usage-reset">{reset}</span>
                {capped.map(|c| view! { <span class="usage-capped">{c}</span> })}
                <span class="usage-age" title=if stale { "This value is old; it is refreshed when Rota fetches usage again." } else { "" }>{age}</span>
            </div>
        </div>
    }
}

/// Every window a usage snapshot reports (the model-scoped ones included), one bar each.
#[component]
pub fn UsageBars(usage: UsageSnapshot, now: UnixMs) -> impl IntoView {
    let fetched_at = usage.fetched_at;
    usage
        .windows
        .into_iter()
        .map(|w| view! { <UsageBar window=w fetched_at=fetched_at now=now /> })
        .collect_view()
}
