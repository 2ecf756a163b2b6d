//! One account in Provider Detail: label (renamed in place), badges (active, cooling down with
//! a live countdown, needs re-login, extra usage), requests, reset credits, the projected
//! exhaustion, its usage bars and the buttons; what the buttons do is the parent's.

use leptos::ev;
use leptos::prelude::*;
use rota_types::display::plan_name;
use rota_types::{AccountSummary, ProviderId, UnixMs};

use crate::components::icons::{CloseIcon, PencilIcon};
use crate::components::usage_bar::UsageBars;

/// Remaining cooldown with seconds, for the live badge: `1h 05m`, `4m 05s`, `12s`.
fn countdown(left_ms: UnixMs) -> String {
    let s = (left_ms.max(0) + 999) / 1000;
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

fn requests_text(a: &AccountSummary) -> String {
    let ok = a.health.success_count;
    let failed = a.health.failure_count;
    let requests = if ok + failed == 1 {
        "1 request".to_owned()
    } else {
        format!("{} requests", ok + failed)
    };
    if failed > 0 {
        format!("{requests} · {failed} failed")
    } else {
        requests
    }
}

#[component]
pub fn AccountRow(
    account: AccountSummary,
    provider: ProviderId,
    /// "Now" for the cooldown countdown (ticks while a cooldown is shown).
    now: ReadSignal<UnixMs>,
    /// The account whose label is being edited (at most one of the list).
    renaming: RwSignal<Option<String>>,
    /// A switch is under way: every Switch button waits.
    switching: Signal<bool>,
    /// A redeem is under way.
    redeeming: Signal<bool>,
    on_switch: Callback<AccountSummary>,
    on_remove: Callback<AccountSummary>,
    on_rename: Callback<(AccountSummary, String)>,
    on_relogin: Callback<AccountSummary>,
    on_redeem: Callback<AccountSummary>,
) -> impl IntoView {
    let a = account;
    let render_now = now.get_untracked();
    let until = a.health.cooldown_until.filter(|u| *u > render_now);
    let for_switch = a.clone();
    let for_remove = a.clone();
    let for_rename = a.clone();
    let label = a.label.clone();
    let edit_id = a.id.clone();
    let is_editing = move || renaming.get().as_deref() == Some(edit_id.as_str());
    let bars = match a.usage.clone() {
        Some(u) => {
            if u.windows.is_empty() {
                view! { <p class="muted no-usage">"No usage limits reported for this account."</p> }
                    .into_any()
            } else {
                view! { <UsageBars usage=u now=render_now /> }.into_any()
            }
        }
        None => view! { <p class="muted no-usage">"No usage fetched yet."</p> }.into_any(),
    };
    view! {
        <li class="account" class:is-active=a.is_active data-id=a.id.clone() data-label=a.label.clone()>
            <div class="account-head">
                <div class="account-main">
                    <div class="account-title">
                        <Show
                            when=is_editing.clone()
                            fallback={
                                let label = label.clone();
                                let id = a.id.clone();
                                move || {
                                    let id = id.clone();
                                    view! {
                                        <span class="account-label">{label.clone()}</span>
                                        <button class="icon-button tiny rename" aria-label=format!("Rename {label}") title="Rename"
                                            on:click=move |_| renaming.set(Some(id.clone()))>
                                            <PencilIcon />
                                        </button>
                                    }
                                }
                            }
                        >
                            <RenameField account=for_rename.clone() on_done=move |a, label| on_rename.run((a, label)) on_cancel=move || renaming.set(None) />
                        </Show>
                        <AccountBadges account=a.clone() now=now />
                    </div>
                    <AccountFacts account=a.clone() provider=provider now=render_now cooling=until.is_some() />
                </div>
                <div class="account-actions">
                    {a.health.needs_reauth.then(|| {
                        let target = a.clone();
                        view! {
                            <button class="button small relogin" title="Sign in to this account again"
                                on:click=move |_| on_relogin.run(target.clone())>
                                "Log in again"
                            </button>
                        }
                    })}
                    {a.reset_credits.as_ref().is_some_and(|c| !c.credits.is_empty()).then(|| {
                        let target = a.clone();
                        view! {
                            <button class="button small redeem" aria-label=format!("Redeem a reset credit on {}", a.label)
                                title="Clear both usage windows with one reset credit"
                                disabled=move || redeeming.get()
                                on:click=move |_| on_redeem.run(target.clone())>
                                "Redeem reset credit"
                            </button>
                        }
                    })}
                    {(!a.is_active).then(|| {
                        let aria = format!("Switch to {}", for_switch.label);
                        let target = for_switch.clone();
                        view! {
                            <button class="button small switch" aria-label=aria disabled=move || switching.get()
                                on:click=move |e: ev::MouseEvent| {
                                    // The second click of a double click is not a second switch.
                                    if e.detail() <= 1 { on_switch.run(target.clone()); }
                                }>
                                "Switch"
                            </button>
                        }
                    })}
                    <button
                        class="icon-button remove"
                        aria-label=format!("Remove {}", for_remove.label)
                        title="Remove this account"
                        on:click=move |_| on_remove.run(for_remove.clone())
                    >
                        <CloseIcon />
                    </button>
                </div>
            </div>
            <div class="account-usage">{bars}</div>
        </li>
    }
}

/// Beside the label: active, cooling down (a live countdown), needs re-login, extra usage.
#[component]
fn AccountBadges(account: AccountSummary, now: ReadSignal<UnixMs>) -> impl IntoView {
    let a = account;
    let render_now = now.get_untracked();
    let until = a.health.cooldown_until.filter(|u| *u > render_now);
    view! {
        {a.is_active.then(|| view! { <span class="badge badge-active">"Active"</span> })}
        {until.map(|until| view! {
            <span class="badge badge-cooldown" title="Rate-limited: skipped until the cooldown ends">
                {move || {
                    let left = until - now.get();
                    if left > 0 { format!("Cooling down · {}", countdown(left)) } else { "Cooldown over".to_owned() }
                }}
            </span>
        })}
        {a.health.needs_reauth.then(|| view! {
            <span class="badge badge-reauth" title="The provider refused this account's token; log in to it again">"needs re-login"</span>
        })}
        // The plan-limits-only guard's mark (Anthropic).
        {a.extra_usage.filter(|m| m.is_current(render_now)).map(|m| {
            let text = match m.kind {
                rota_types::ExtraUsageKind::ThirdPartyBilling => "Billed as extra usage",
                rota_types::ExtraUsageKind::Overage => "Plan limits used up",
            };
            view! {
                <span class="badge badge-reauth badge-extra-usage" title=m.text()>{text}</span>
            }
        })}
    }
}

/// The line under the label: e-mail and plan, requests, reset credits, projected exhaustion.
#[component]
fn AccountFacts(
    account: AccountSummary,
    provider: ProviderId,
    now: UnixMs,
    /// Cooling down now (its badge says enough: no projection).
    cooling: bool,
) -> impl IntoView {
    let a = account;
    let sub = a
        .identity
        .email
        .clone()
        .filter(|e| *e != a.label)
        .into_iter()
        .chain(a.identity.plan.as_deref().map(|p| plan_name(provider, p)))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <div class="account-sub">
            {(!sub.is_empty()).then(|| view! { <span>{sub.clone()}</span> })}
            <span class="account-requests">{requests_text(&a)}</span>
            // Only a projection into the future says something: an account at its
            // limit already shows it in its bars and badges.
            // OpenAI: banked rate-limit reset credits (redeemed with `rota auth redeem`).
            {a.reset_credits.as_ref().filter(|c| !c.credits.is_empty()).map(|c| {
                let expiry = c
                    .next()
                    .and_then(|n| n.expires_at)
                    .and_then(|at| rota_types::display::remaining_text(at, now))
                    .map(|left| format!(" · next expires in {left}"))
                    .unwrap_or_default();
                let n = c.credits.len();
                view! {
                    <span class="reset-credits" title="Each clears both usage windows once: Redeem reset credit, or rota auth redeem openai">
                        {format!("{n} reset credit{}{expiry}", if n == 1 { "" } else { "s" })}
                    </span>
                }
            })}
            {a.exhaustion.filter(|_| !cooling).and_then(|x| {
                let left = rota_types::display::remaining_text(x.at, now)?;
                Some(view! {
                    <span class="exhaustion" title="Projected from this account's recent usage">
                        {format!("{} limit in ~{left} at this pace", x.window.name(None))}
                    </span>
                })
            })}
        </div>
    }
}

/// The inline label editor: Enter saves, Esc or leaving the field cancels.
#[component]
fn RenameField(
    account: AccountSummary,
    on_done: impl Fn(AccountSummary, String) + Copy + 'static,
    on_cancel: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
            el.select();
        }
    });
    let value = RwSignal::new(account.label.clone());
    let on_key = move |e: ev::KeyboardEvent| match e.key().as_str() {
        "Enter" => {
            e.prevent_default();
            on_done(account.clone(), value.get_untracked());
        }
        "Escape" => {
            // Ends the edit only, not the dialog.
            e.prevent_default();
            e.stop_propagation();
            on_cancel();
        }
        _ => {}
    };
    view! {
        <input
            class="input rename-input"
            node_ref=input
            maxlength="64"
            aria-label="New label (Enter saves, Esc cancels)"
            prop:value=move || value.get()
            on:input=move |e| value.set(event_target_value(&e))
            on:keydown=on_key
            on:blur=move |_| on_cancel()
        />
    }
}
