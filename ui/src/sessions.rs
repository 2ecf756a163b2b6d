//! The main window's sessions: traffic the gateway saw, grouped per tool conversation, and the
//! context panel of the selected one (Context Breakdown, then the provider's Rate Limits with
//! switch buttons). Until a tool sends traffic through the gateway it shows how to point one at
//! it.
//!
//! Re-read on `session-updated` (coalesced by the shell) and, for the rate limits, on every
//! `pool-changed`. Ages follow the window's clock (`Ui::clock`), so "just now" does not stick.

use leptos::prelude::*;
use rota_types::command::{SessionDetailCmd, SessionRequest, SessionsCmd};
use rota_types::display::{ago_text as ago, client_name, session_tag, thousands, usage_hint};
use rota_types::{AccountSummary, ProviderId, SessionDetail, TokenUsage, context_window};

use crate::components::confirm::ConfirmSwitch;
use crate::components::copy_line::CopyLine;
use crate::components::icons::SessionsIcon;
use crate::components::usage_bar::UsageBars;
use crate::ipc::{self, now_ms};
use crate::settings::ProviderBadge;
use crate::state::{Fetched, Switcher, Ui, fetched, fetched_on, pool_accounts};

#[component]
pub fn SessionsView() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let sessions = fetched_on::<SessionsCmd>(ui, Some(ui.session_version));
    let selected = RwSignal::new(None::<String>);
    // Keep the selection while its session is listed; else select the most recent session.
    Effect::new(move |_| {
        sessions.with(|list| {
            let Some(list) = list else { return };
            let keep = selected
                .get_untracked()
                .is_some_and(|id| list.iter().any(|s| s.session_id == id));
            if !keep {
                selected.set(list.first().map(|s| s.session_id.clone()));
            }
        });
    });

    view! {
        <Show
            when=move || sessions.with(|s| s.is_some_and(|s| !s.is_empty()))
            fallback=EmptyState
        >
            <div class="sessions-layout">
                <section class="session-list" aria-labelledby="sessions-title">
                    <div class="section-head">
                        <h1 id="sessions-title">"Sessions"</h1>
                        <span class="muted">{move || sessions.with(|s| {
                            let n = s.map_or(0, Vec::len);
                            if n == 1 { "1 session".to_owned() } else { format!("{n} sessions") }
                        })}</span>
                    </div>
                    <ul class="sessions-ul" id="sessions" role="listbox" aria-label="Sessions">
                        {move || {
                            sessions.get().unwrap_or_default().into_iter().map(|s| {
                                let id = s.session_id.clone();
                                let id_for_click = id.clone();
                                let id_for_sel = id.clone();
                                let is_selected = move || selected.get().as_deref() == Some(id_for_sel.as_str());
                                let rotations = (s.rotations > 0).then(|| {
                                    let n = s.rotations;
                                    view! { <span class="tag tag-rotations">{if n == 1 { "1 rotation".to_owned() } else { format!("{n} rotations") }}</span> }
                                });
                                view! {
                                    <li
                                        class="session-item"
                                        class:selected=is_selected.clone()
                                        role="option"
                                        tabindex="0"
                                        aria-selected=move || is_selected().to_string()
                                        data-id=id.clone()
                                        on:click=move |_| selected.set(Some(id_for_click.clone()))
                                        on:keydown={
                                            let id = id.clone();
                                            move |e: leptos::ev::KeyboardEvent| {
                                                if e.key() == "Enter" || e.key() == " " {
                                                    e.prevent_default();
                                                    selected.set(Some(id.clone()));
                                                }
                                            }
                                        }
                                    >
                                        <ProviderBadge provider=s.provider_id />
                                        <div class="session-main">
                                            <div class="session-title">
                                                <span class="session-client">{client_name(&s.client)}" "<span class="session-tag muted">{session_tag(&s.session_id)}</span></span>
                                                <span class="session-when muted">{move || ago(s.last_activity_at, ui.clock.get())}</span>
                                            </div>
                                            <div class="session-sub">
                                                <span>{s.model.clone().unwrap_or_else(|| "model not named".to_owned())}</span>
                                                <span>{if s.request_count == 1 { "1 request".to_owned() } else { format!("{} requests", s.request_count) }}</span>
                                                <span class="session-connection" title="The key the requests carried">
                                                    {s.connection.clone().map_or_else(|| "via api.json token".to_owned(), |c| format!("via {c}"))}
                                                </span>
                                                {rotations}
                                            </div>
                                        </div>
                                    </li>
                                }
                            }).collect_view()
                        }}
                    </ul>
                </section>
                <ContextPanel selected=selected />
            </div>
        </Show>
    }
}

/// Before any traffic: a Connect button per coding tool, and the line for everything else.
#[component]
fn EmptyState() -> impl IntoView {
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
                    "Connect a coding tool and its requests appear here. Rota adds the active account's "
                    "credentials and moves to the next account when one is rate-limited."
                </p>
                <crate::settings::connections::ConnectionsList />
                <Show when=move || !base().is_empty() fallback=|| view! { <p class="muted">"Loading the gateway address…"</p> }>
                    <div class="setup-lines">
                        <div class="setup-group">
                            <h3>"Other tools and SDKs (base URL and key for this shell)"</h3>
                            <CopyLine text=Signal::derive(|| "eval \"$(rota env)\"".to_owned()) />
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

/// The selected session: Context Breakdown, the provider's Rate Limits, recent requests.
#[component]
fn ContextPanel(selected: RwSignal<Option<String>>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let detail = fetched(ui, move || {
        ui.session_version.track();
        let id = selected.get();
        async move {
            let Some(id) = id else { return Ok(None) };
            match ipc::call::<SessionDetailCmd>(&SessionRequest { session_id: id }).await {
                Ok(d) => Ok(Some(d)),
                // The session aged out of the gateway's memory between list and detail.
                Err(e) if e.code == rota_types::ErrorCode::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }
    });

    // The session's provider's accounts, read once per pool change for both the rate limits
    // and the account labels of the requests.
    let provider = Memo::new(move |_| {
        detail.with(|d| d.and_then(|d| d.as_ref().map(|d| d.summary.provider_id)))
    });
    let accounts = pool_accounts(ui, move || provider.get());

    // Switches from the Rate Limits buttons. The question about an account that cannot serve
    // lives out here, so new traffic re-rendering the panel does not close it.
    let switcher = Switcher::new(ui);

    let panel = move || {
        let Some(d) = detail.get().flatten() else {
            return view! { <aside class="context-panel" id="context-panel"><p class="muted">"Select a session."</p></aside> }.into_any();
        };
        let s = d.summary.clone();
        let provider = s.provider_id;
        let latest = d.latest_usage();
        let model = s.model.clone();
        let started = s.started_at;
        view! {
            <aside class="context-panel" id="context-panel" data-session=s.session_id.clone() aria-label="Session details">
                <header class="context-head">
                    <ProviderBadge provider=provider />
                    <div class="context-title">
                        <h2>{client_name(&s.client)}" "<span class="session-tag muted">{session_tag(&s.session_id)}</span></h2>
                        <p class="muted">
                            {model.clone().unwrap_or_else(|| "model not named".to_owned())}
                            " · started " {move || ago(started, ui.clock.get())}
                            " · " {s.request_count} {if s.request_count == 1 { " request" } else { " requests" }}
                        </p>
                    </div>
                </header>
                <ContextBreakdown latest=latest total=s.usage model=model />
                <RateLimits provider=provider accounts=accounts switcher=switcher />
                <RecentRequests detail=d accounts=accounts />
            </aside>
        }
        .into_any()
    };
    view! { {panel} <ConfirmSwitch switcher=switcher /> }
}

#[component]
fn ContextBreakdown(
    latest: Option<TokenUsage>,
    total: TokenUsage,
    model: Option<String>,
) -> impl IntoView {
    let window = model.as_deref().and_then(context_window);
    let Some(u) = latest else {
        return view! {
            <section class="panel-section" id="context-breakdown" aria-labelledby="ctx-title">
                <h3 id="ctx-title" class="group-title">"Context Breakdown"</h3>
                <p class="muted">"No token counts yet: the responses so far did not report usage."</p>
            </section>
        }
        .into_any();
    };
    let used = u.context_tokens();
    let parts = [
        ("Input", u.input_tokens, "seg-input"),
        ("Cache read", u.cache_read_input_tokens, "seg-cache-read"),
        (
            "Cache write",
            u.cache_creation_input_tokens,
            "seg-cache-write",
        ),
        ("Output", u.output_tokens, "seg-output"),
    ];
    // Segments are shares of the window (or of the used total when the window is unknown).
    #[allow(clippy::cast_precision_loss)] // token counts are far below 2^52
    let denom = window.unwrap_or(used).max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let share = |n: u64| (n as f64 / denom * 100.0).min(100.0);
    let summary = match window {
        Some(w) => {
            #[allow(clippy::cast_precision_loss)]
            let pct = rota_types::display::percent(used as f64 / w as f64 * 100.0);
            format!("{} of {} tokens ({pct}%)", thousands(used), thousands(w))
        }
        None => format!("{} tokens (model's window unknown)", thousands(used)),
    };
    let pct_now = window.map_or(100, |w| {
        #[allow(clippy::cast_precision_loss)]
        let p = rota_types::display::percent(used as f64 / w as f64 * 100.0);
        p
    });
    view! {
        <section class="panel-section" id="context-breakdown" aria-labelledby="ctx-title">
            <h3 id="ctx-title" class="group-title">"Context Breakdown"</h3>
            <div class="ctx-summary">
                <span class="ctx-used">{summary.clone()}</span>
                <span class="muted">"latest request"</span>
            </div>
            <div
                class="ctx-track"
                role="progressbar"
                aria-label="Context used"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=pct_now.to_string()
                aria-valuetext=summary
            >
                {parts.iter().map(|(_, n, class)| view! {
                    <div class=format!("ctx-seg {class}") style=format!("width: {:.2}%", share(*n))></div>
                }).collect_view()}
            </div>
            <dl class="ctx-rows">
                {parts.iter().map(|(label, n, class)| view! {
                    <div class="ctx-row" data-kind=*label>
                        <dt><span class=format!("ctx-dot {class}")></span>{*label}</dt>
                        <dd>{thousands(*n)}</dd>
                    </div>
                }).collect_view()}
            </dl>
            <p class="muted ctx-total">
                "Session total: " {thousands(total.context_tokens())} " tokens ("
                {thousands(total.input_tokens + total.cache_read_input_tokens + total.cache_creation_input_tokens)} " in, "
                {thousands(total.output_tokens)} " out)"
            </p>
        </section>
    }
    .into_any()
}

/// The session provider's limits, every provider in one style: the active account's bars, and a
/// switch button per other account (when there is more than one).
#[component]
fn RateLimits(
    provider: ProviderId,
    accounts: Fetched<Vec<AccountSummary>>,
    switcher: Switcher,
) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let name = provider.display_name();
    move || {
        let list = accounts.get().unwrap_or_default();
        let now = now_ms();
        let active = list.iter().find(|a| a.is_active).cloned();
        let others: Vec<_> = list.iter().filter(|a| !a.is_active).cloned().collect();
        let bars = active.as_ref().map(|a| match &a.usage {
            Some(u) => view! { <UsageBars usage=u.clone() now=now /> }.into_any(),
            None => {
                view! { <p class="muted">"No usage fetched for this account yet."</p> }.into_any()
            }
        });
        view! {
            <section class="panel-section" id="rate-limits" aria-labelledby="rl-title">
                <h3 id="rl-title" class="group-title">{format!("{name} Rate Limits")}</h3>
                {match active.clone() {
                    Some(a) => view! {
                        <div class="rl-account">
                            <span class="account-label">{a.label.clone()}</span>
                            <span class="badge badge-active">"Active"</span>
                        </div>
                        <div class="rl-bars">{bars}</div>
                    }.into_any(),
                    None => view! {
                        <div class="rl-none" id="rl-no-account">
                            <p class="muted">{format!("No {name} account in the pool: this tool's requests fail until one is added.")}</p>
                            <button class="button small primary" id="rl-add-account" on:click=move |_| {
                                ui.open_detail(provider);
                                ui.open_settings();
                            }>"Add account"</button>
                        </div>
                    }.into_any(),
                }}
                {(!others.is_empty()).then(|| view! {
                    <div class="rl-switch">
                        <span class="muted">"Switch to"</span>
                        <div class="rl-switch-buttons">
                            {others.into_iter().map(|a| {
                                let hint = a.usage.as_ref().and_then(usage_hint);
                                let unusable = a.health.needs_reauth || a.health.is_cooling(now);
                                let title = if a.health.needs_reauth {
                                    "needs re-login".to_owned()
                                } else if a.health.is_cooling(now) {
                                    "cooling down".to_owned()
                                } else {
                                    hint.clone().unwrap_or_default()
                                };
                                let aria = format!("Switch to {}", a.label);
                                let target = a.clone();
                                view! {
                                    <button class="button small rl-switch-button" class:unusable=unusable aria-label=aria title=title.clone() data-id=a.id.clone()
                                        on:click=move |_| switcher.switch(provider, target.clone())>
                                        <span>{a.label.clone()}</span>
                                        {(!title.is_empty()).then(|| view! { <span class="muted rl-hint">{title.clone()}</span> })}
                                    </button>
                                }
                            }).collect_view()}
                        </div>
                    </div>
                })}
            </section>
        }
    }
}

#[component]
fn RecentRequests(detail: SessionDetail, accounts: Fetched<Vec<AccountSummary>>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    // Account labels for the "account" column (ids are not for people).
    let label_of = move |id: Option<String>| {
        id.map_or_else(
            || "—".to_owned(),
            |id| {
                accounts.with(|l| {
                    l.into_iter()
                        .flatten()
                        .find(|a| a.id == id)
                        .map_or_else(|| "removed account".to_owned(), |a| a.label.clone())
                })
            },
        )
    };
    let rows: Vec<_> = detail.requests.iter().rev().take(12).cloned().collect();
    view! {
        <section class="panel-section" aria-labelledby="req-title">
            <h3 id="req-title" class="group-title">"Recent requests"</h3>
            <table class="requests">
                <thead><tr><th>"When"</th><th>"Request"</th><th>"Status"</th><th>"Account"</th><th class="num">"Tokens"</th><th class="num latency">"Latency"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let status_class = match r.status {
                            200..=299 => "status ok",
                            0 => "status",
                            _ => "status bad",
                        };
                        let id = r.record_id.clone();
                        view! {
                            <tr>
                                <td class="muted">{move || ago(r.at, ui.clock.get())}</td>
                                <td><code>{format!("{} {}", r.method, r.path)}</code>
                                    {(r.rotations > 0).then(|| view! { <span class="tag tag-rotations">{format!("rotated ×{}", r.rotations)}</span> })}
                                    {r.streamed.then(|| view! { <span class="tag">"stream"</span> })}
                                </td>
                                <td><span class=status_class>{if r.status == 0 { "…".to_owned() } else { r.status.to_string() }}</span></td>
                                <td>{move || label_of(id.clone())}</td>
                                <td class="num">{thousands(r.usage.context_tokens())}</td>
                                <td class="num latency">{format!("{} ms", r.latency_ms)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
