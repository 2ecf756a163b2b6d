//! Provider Detail: a provider's accounts in rotation order with their badges, request counts
//! and usage bars; *Switch* on inactive accounts; **X** → confirmation → removed. Re-read on
//! every `pool-changed`; when the last account goes, the view stays with an *Add account*
//! button, so the way back in is where the user is.

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{
    AccountRequest, AnthropicClientsSetCmd, AnthropicClientsSetRequest, AutoRedeemGetCmd,
    AutoRedeemSetCmd, AutoRedeemSetRequest, Empty, GetAccountsCmd, HandoffSetCmd,
    HandoffSetRequest, HandoffStatusCmd, PoolRequest, ProactiveSetCmd, ProactiveSetRequest,
    RedeemResetCreditCmd, RemoveRecordCmd, RenameRecordCmd, RenameRecordRequest, SetActiveCmd,
    SettingsTab, UsageCmd, UsageRequest,
};
use rota_types::display::plan_name;
use rota_types::handoff::{HandoffStatus, HandoffTool, TargetState};
use rota_types::{
    AccountSummary, AnthropicClients, AutoRedeemStatus, ProviderId, RedeemResponse, UnixMs,
};

use super::ProviderBadge;
use super::add_account::AddAccountDialog;
use crate::app::Ui;
use crate::components::confirm::{ConfirmDialog, ConfirmSwitch, switch_caveat};
use crate::components::icons::{CloseIcon, PencilIcon};
use crate::components::usage_bar::UsageBar;
use crate::ipc::{self, now_ms};

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

fn any_cooling(accounts: Option<&Vec<AccountSummary>>, now: UnixMs) -> bool {
    accounts.is_some_and(|list| list.iter().any(|a| a.health.is_cooling(now)))
}

#[component]
pub fn ProviderDetailTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    move || match ui.detail.get() {
        Some(provider) => view! { <ProviderDetail provider=provider /> }.into_any(),
        None => view! { <p class="muted">"Choose a provider in the Providers tab."</p> }.into_any(),
    }
}

#[component]
#[allow(clippy::too_many_lines)] // one view! tree; splitting it would scatter the tab's markup
fn ProviderDetail(provider: ProviderId) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let info = provider.info();
    let accounts = RwSignal::new(None::<Vec<AccountSummary>>);
    // "Now" for the countdowns; ticks once a second only while a cooldown is visible.
    let now = RwSignal::new(now_ms());
    let pending_removal = RwSignal::new(None::<AccountSummary>);
    // Its last account was removed while this view was open.
    let emptied = RwSignal::new(false);
    let adding = RwSignal::new(false);
    // The account "Log in again" renews (`None`: a plain Add account).
    let renewing = RwSignal::new(None::<AccountSummary>);
    let refreshing = RwSignal::new(false);
    // The account whose label is being edited.
    let renaming = RwSignal::new(None::<String>);

    // Read on open and again on every pool change (any process).
    Effect::new(move |_| {
        ui.pool_version.track();
        spawn_local(async move {
            let request = PoolRequest {
                provider_id: provider.as_str().to_owned(),
                namespace: None,
            };
            match ipc::call::<GetAccountsCmd>(&request).await {
                Ok(list) => {
                    let had_accounts = accounts
                        .try_get_untracked()
                        .flatten()
                        .is_some_and(|a| !a.is_empty());
                    now.set(now_ms());
                    // The last account went (here or elsewhere): the view stays, with the way
                    // back in (Add account), rather than vanishing under the user.
                    if had_accounts && list.is_empty() {
                        emptied.set(true);
                    }
                    accounts.set(Some(list));
                }
                Err(e) => ui.notify(e.message),
            }
        });
    });

    // The 1-s timer exists only while some shown account is cooling down.
    let timer = StoredValue::new(None::<leptos::prelude::IntervalHandle>);
    Effect::new(move |_| {
        let needed = accounts.with(|a| any_cooling(a.as_ref(), now.get()));
        let running = timer.get_value();
        match (needed, running) {
            (true, None) => {
                let handle = set_interval_with_handle(
                    move || now.set(now_ms()),
                    std::time::Duration::from_secs(1),
                )
                .ok();
                timer.set_value(handle);
            }
            (false, Some(handle)) => {
                handle.clear();
                timer.set_value(None);
            }
            _ => {}
        }
    });
    on_cleanup(move || {
        if let Some(handle) = timer.try_get_value().flatten() {
            handle.clear();
        }
    });

    // One switch at a time: the list reorders when it lands (the active account moves first),
    // so a second click must not hit whatever slid under the pointer.
    let switching = RwSignal::new(false);
    // "Switched to …", shown after a switch from here; the new active card is scrolled to.
    let switched = RwSignal::new(None::<String>);
    // An account that cannot serve now, waiting for the user's "switch anyway".
    let pending_switch = RwSignal::new(None::<(AccountSummary, String)>);
    let do_switch = move |account: AccountSummary| {
        if switching.get_untracked() {
            return;
        }
        switching.set(true);
        pending_switch.set(None);
        spawn_local(async move {
            let request = AccountRequest {
                provider_id: provider.as_str().to_owned(),
                record_id: account.id.clone(),
                namespace: None,
            };
            match ipc::call::<SetActiveCmd>(&request).await {
                Ok(_) => {
                    switched.set(Some(account.label.clone()));
                    ui.pool_version.update(|v| *v += 1);
                    // The confirmation is for this moment, not a lasting state.
                    set_timeout(
                        move || {
                            let _ = switched.try_set(None);
                        },
                        std::time::Duration::from_secs(6),
                    );
                }
                Err(e) => ui.notify(format!(
                    "Could not switch to {}: {}",
                    account.label, e.message
                )),
            }
            switching.set(false);
        });
    };
    let switch_to = move |account: AccountSummary| {
        // The check counts as the switch under way: a second click waits for its answer.
        if switching.get_untracked() {
            return;
        }
        switching.set(true);
        spawn_local(async move {
            let caveat = switch_caveat(provider, &account).await;
            switching.set(false);
            match caveat {
                Ok(Some(text)) => pending_switch.set(Some((account, text))),
                Ok(None) => do_switch(account),
                Err(e) => ui.notify(format!(
                    "Could not switch to {}: {}",
                    account.label, e.message
                )),
            }
        });
    };
    // Keep the new active card in view once the list has re-rendered.
    Effect::new(move |_| {
        accounts.track();
        if switched.get_untracked().is_some() {
            scroll_active_into_view();
        }
    });
    let remove = move |account: AccountSummary| {
        spawn_local(async move {
            let request = AccountRequest {
                provider_id: provider.as_str().to_owned(),
                record_id: account.id.clone(),
                namespace: None,
            };
            match ipc::call::<RemoveRecordCmd>(&request).await {
                Ok(_) => {
                    pending_removal.set(None);
                    ui.pool_version.update(|v| *v += 1);
                }
                Err(e) => {
                    pending_removal.set(None);
                    ui.notify(format!("Could not remove {}: {}", account.label, e.message));
                }
            }
        });
    };

    // OpenAI reset credits: the account waiting for the user's confirmation, a redeem in
    // flight, and what the last one answered.
    let pending_redeem = RwSignal::new(None::<AccountSummary>);
    let redeeming = RwSignal::new(false);
    let redeemed = RwSignal::new(None::<String>);
    let redeem = move |account: AccountSummary| {
        pending_redeem.set(None);
        if redeeming.get_untracked() {
            return;
        }
        redeeming.set(true);
        redeemed.set(None);
        spawn_local(async move {
            let request = AccountRequest {
                provider_id: provider.as_str().to_owned(),
                record_id: account.id.clone(),
                namespace: None,
            };
            match ipc::call::<RedeemResetCreditCmd>(&request).await {
                Ok(result) => {
                    redeemed.set(Some(redeem_text(&account.label, &result)));
                    // The windows and the credit count as the provider now reports them.
                    if let Err(e) = ipc::call::<UsageCmd>(&UsageRequest { refresh: true }).await {
                        ui.notify(format!("Could not refresh usage: {}", e.message));
                    }
                }
                Err(e) => ui.notify(format!(
                    "Could not redeem a reset credit on {}: {}",
                    account.label, e.message
                )),
            }
            redeeming.set(false);
            ui.pool_version.update(|v| *v += 1);
        });
    };

    let rename = move |account: AccountSummary, label: String| {
        renaming.set(None);
        if label.trim() == account.label {
            return;
        }
        spawn_local(async move {
            let request = RenameRecordRequest {
                provider_id: provider.as_str().to_owned(),
                record_id: account.id.clone(),
                label,
                namespace: None,
            };
            match ipc::call::<RenameRecordCmd>(&request).await {
                Ok(_) => ui.pool_version.update(|v| *v += 1),
                Err(e) => ui.notify(format!("Could not rename {}: {}", account.label, e.message)),
            }
        });
    };
    let refresh = move |_| {
        refreshing.set(true);
        spawn_local(async move {
            if let Err(e) = ipc::call::<UsageCmd>(&UsageRequest { refresh: true }).await {
                ui.notify(format!("Could not refresh usage: {}", e.message));
            }
            refreshing.set(false);
            ui.pool_version.update(|v| *v += 1);
        });
    };

    let empty_name = info.display_name.clone();
    let gateway_path = info.gateway_path.clone();
    let rows = move || {
        accounts.get().unwrap_or_default().into_iter().map(move |a| {
            let render_now = now.get_untracked();
            let until = a.health.cooldown_until.filter(|u| *u > render_now);
            let for_switch = a.clone();
            let for_remove = a.clone();
            let for_rename = a.clone();
            let label = a.label.clone();
            let edit_id = a.id.clone();
            let is_editing = move || renaming.get().as_deref() == Some(edit_id.as_str());
            let sub = a
                .identity
                .email
                .clone()
                .filter(|e| *e != a.label)
                .into_iter()
                .chain(a.identity.plan.as_deref().map(|p| plan_name(provider, p)))
                .collect::<Vec<_>>()
                .join(" · ");
            let bars = match a.usage.clone() {
                Some(u) => {
                    if u.windows.is_empty() {
                        view! { <p class="muted no-usage">"No usage limits reported for this account."</p> }.into_any()
                    } else {
                        u.windows
                            .iter()
                            .cloned()
                            .map(|w| view! {
                                <UsageBar window=w fetched_at=u.fetched_at now=render_now />
                            })
                            .collect_view()
                            .into_any()
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
                                    <RenameField account=for_rename.clone() on_done=rename on_cancel=move || renaming.set(None) />
                                </Show>
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
                            </div>
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
                                        .and_then(|at| rota_types::display::remaining_text(at, render_now))
                                        .map(|left| format!(" · next expires in {left}"))
                                        .unwrap_or_default();
                                    let n = c.credits.len();
                                    view! {
                                        <span class="reset-credits" title="Each clears both usage windows once: Redeem reset credit, or rota auth redeem openai">
                                            {format!("{n} reset credit{}{expiry}", if n == 1 { "" } else { "s" })}
                                        </span>
                                    }
                                })}
                                {a.exhaustion.filter(|_| until.is_none()).and_then(|x| {
                                    let left = rota_types::display::remaining_text(x.at, render_now)?;
                                    Some(view! {
                                        <span class="exhaustion" title="Projected from this account's recent usage">
                                            {format!("{} limit in ~{left} at this pace", x.window.name(None))}
                                        </span>
                                    })
                                })}
                            </div>
                        </div>
                        <div class="account-actions">
                            {a.health.needs_reauth.then(|| {
                                let target = a.clone();
                                view! {
                                    <button class="button small relogin" title="Sign in to this account again"
                                        on:click=move |_| { renewing.set(Some(target.clone())); adding.set(true); }>
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
                                        on:click=move |_| pending_redeem.set(Some(target.clone()))>
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
                                            if e.detail() <= 1 { switch_to(target.clone()); }
                                        }>
                                        "Switch"
                                    </button>
                                }
                            })}
                            <button
                                class="icon-button remove"
                                aria-label=format!("Remove {}", for_remove.label)
                                title="Remove this account"
                                on:click=move |_| pending_removal.set(Some(for_remove.clone()))
                            >
                                <CloseIcon />
                            </button>
                        </div>
                    </div>
                    <div class="account-usage">{bars}</div>
                </li>
            }
        }).collect_view()
    };

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
                <div class="group-head">
                    <h4 id="accounts-title" class="group-title">"Accounts"
                        <span class="group-hint">" · in rotation order, the active one is used first"</span>
                    </h4>
                    <div class="group-actions">
                        <button class="button small ghost" id="refresh-usage" disabled=move || refreshing.get() on:click=refresh>
                            {move || if refreshing.get() { "Refreshing…" } else { "Refresh usage" }}
                        </button>
                        <button class="button small primary" id="add-account-button" on:click=move |_| { renewing.set(None); adding.set(true); }>"Add account"</button>
                    </div>
                </div>
                {move || switched.get().map(|label| view! {
                    <p class="switch-status" id="switch-status" role="status">{format!("Switched to {label}. New requests use it.")}</p>
                })}
                {move || redeemed.get().map(|text| view! {
                    <p class="switch-status" id="redeem-status" role="status">{text}</p>
                })}
                <Show
                    when=move || accounts.with(|a| a.as_ref().is_some_and(|a| !a.is_empty()))
                    fallback=move || {
                        let name = empty_name.clone();
                        view! {
                            <Show when=move || accounts.with(Option::is_some)>
                                <div class="group-empty" id="no-accounts">
                                    <strong>{
                                        let name = name.clone();
                                        move || if emptied.get() {
                                            format!("No {name} accounts left")
                                        } else {
                                            format!("No {name} accounts yet")
                                        }
                                    }</strong>
                                    <span class="muted">
                                        {
                                            let name = name.clone();
                                            move || emptied.get().then(|| format!("Requests to {name} fail until an account is added. "))
                                        }
                                        "Sign in with " <strong>"Add account"</strong> ", or from a terminal with "
                                        <code>"rota auth login"</code> " / " <code>"rota auth import"</code>
                                        "; it appears here at once."
                                    </span>
                                    <button class="button primary" id="empty-add-account"
                                        on:click=move |_| { renewing.set(None); adding.set(true); }>
                                        {format!("Add {} account", name.clone())}
                                    </button>
                                </div>
                            </Show>
                        }
                    }
                >
                    <ul class="accounts" id="accounts">{rows}</ul>
                </Show>
            </section>

            <HandoffSection provider=provider />

            <section class="group" aria-labelledby="gateway-route-title">
                <h4 id="gateway-route-title" class="group-title">"Gateway route"</h4>
                <code class="inline-code">
                    {move || ui.info.get().map(|i| format!("{}{}", i.gateway_url, gateway_path)).unwrap_or_default()}
                </code>
            </section>

            {move || pending_removal.get().map(|account| view! { <ConfirmRemove account=account pending=pending_removal on_confirm=remove /> })}
            {move || pending_switch.get().map(|(account, text)| view! { <ConfirmSwitch account=account text=text pending=pending_switch on_confirm=do_switch /> })}
            {move || pending_redeem.get().map(|account| view! { <ConfirmRedeem account=account pending=pending_redeem on_confirm=redeem /> })}
            <Show when=move || adding.get()>
                <AddAccountDialog provider=provider open=adding renew=renewing.get_untracked() />
            </Show>
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

fn scroll_active_into_view() {
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| {
        d.query_selector("#accounts .account.is-active")
            .ok()
            .flatten()
    }) {
        el.scroll_into_view_with_bool(false);
    }
}

/// The confirmation before removing an account. Esc or Cancel keeps it.
#[component]
fn ConfirmRemove(
    account: AccountSummary,
    pending: RwSignal<Option<AccountSummary>>,
    on_confirm: impl Fn(AccountSummary) + Copy + 'static,
) -> impl IntoView {
    view! {
        <ConfirmDialog
            id="confirm-remove"
            title=format!("Remove {}?", account.label)
            text="Rota forgets this account and deletes its stored tokens. The account itself stays untouched at the provider; you can add it again later.".to_owned()
            cancel="Cancel"
            ok="Remove"
            ok_class="button danger"
            on_cancel=move || pending.set(None)
            on_ok=move || on_confirm(account.clone())
        />
    }
}

/// What a redeem answered, in words: the account, the provider's answer, the credits left.
fn redeem_text(label: &str, r: &RedeemResponse) -> String {
    let mut text = format!("{label}: {}.", r.code.text());
    if r.coalesced {
        text.push_str(
            " (Another redeem of this account had just finished; no second credit was used.)",
        );
    }
    let left = match r.remaining {
        Some(1) => " 1 reset credit left.".to_owned(),
        Some(n) => format!(" {n} reset credits left."),
        None => String::new(),
    };
    text.push_str(&left);
    text
}

/// The confirmation before spending a reset credit: which account, how many it has, what a
/// redeem does and that it uses one.
#[component]
fn ConfirmRedeem(
    account: AccountSummary,
    pending: RwSignal<Option<AccountSummary>>,
    on_confirm: impl Fn(AccountSummary) + Copy + 'static,
) -> impl IntoView {
    let now = now_ms();
    let credits = account.reset_credits.clone().unwrap_or_default();
    let n = credits.credits.len();
    let expiry = credits
        .next()
        .and_then(|c| c.expires_at)
        .and_then(|at| rota_types::display::remaining_text(at, now))
        .map(|left| format!(" (the next expires in {left})"))
        .unwrap_or_default();
    let text = format!(
        "{} has {n} reset credit{}{expiry}. A redeem clears both its 5-hour and weekly windows at \
         once and uses one credit. If nothing is used yet, the provider keeps the credit.",
        account.label,
        if n == 1 { "" } else { "s" },
    );
    view! {
        <ConfirmDialog
            id="confirm-redeem"
            title=format!("Redeem a reset credit on {}?", account.label)
            text=text
            cancel="Cancel"
            ok="Redeem one credit"
            ok_class="button primary"
            on_cancel=move || pending.set(None)
            on_ok=move || on_confirm(account.clone())
        />
    }
}

/// Hand-off (the active account written into the official tool's login) and proactive
/// switching, per provider.
#[component]
fn HandoffSection(provider: ProviderId) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let status = RwSignal::new(None::<HandoffStatus>);
    let busy = RwSignal::new(false);
    // The tool's file holds a login Rota does not know: offer to replace it, once asked.
    let foreign = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        ui.pool_version.track();
        spawn_local(async move {
            let request = PoolRequest {
                provider_id: provider.as_str().to_owned(),
                namespace: None,
            };
            match ipc::call::<HandoffStatusCmd>(&request).await {
                Ok(s) => status.set(Some(s)),
                Err(e) => ui.notify(e.message),
            }
        });
    });
    let set_handoff = move |enabled: bool, force: bool| {
        busy.set(true);
        spawn_local(async move {
            let request = HandoffSetRequest {
                provider_id: provider.as_str().to_owned(),
                enabled,
                force,
            };
            match ipc::call::<HandoffSetCmd>(&request).await {
                Ok(s) => {
                    foreign.set(None);
                    status.set(Some(s));
                }
                Err(e) if e.code == rota_types::ErrorCode::Conflict => foreign.set(Some(e.message)),
                Err(e) => ui.notify(e.message),
            }
            busy.set(false);
            ui.pool_version.update(|v| *v += 1);
        });
    };
    let set_proactive = move |enabled: bool| {
        spawn_local(async move {
            let request = ProactiveSetRequest {
                provider_id: provider.as_str().to_owned(),
                enabled,
            };
            match ipc::call::<ProactiveSetCmd>(&request).await {
                Ok(s) => status.set(Some(s)),
                Err(e) => ui.notify(e.message),
            }
        });
    };
    let set_clients = move |any: bool| {
        spawn_local(async move {
            let request = AnthropicClientsSetRequest {
                clients: if any {
                    AnthropicClients::Any
                } else {
                    AnthropicClients::ClaudeCode
                },
            };
            match ipc::call::<AnthropicClientsSetCmd>(&request).await {
                Ok(s) => status.set(Some(s)),
                Err(e) => ui.notify(e.message),
            }
        });
    };
    let tool = HandoffTool::default_for(provider).display_name();
    let restart_note = HandoffTool::default_for(provider).restart_note();
    let target_text = move || {
        status.get().map(|s| {
            let now = now_ms();
            let state = match s.state {
                TargetState::Active => "holds the active account".to_owned(),
                TargetState::OtherAccount => {
                    "holds another of your accounts (sync pending)".to_owned()
                }
                TargetState::Foreign => "holds a login Rota does not know".to_owned(),
                TargetState::Missing => "does not exist yet".to_owned(),
                TargetState::Unreadable => "has no readable login".to_owned(),
            };
            let synced = s
                .last_sync_at
                .map(|t| format!(" · last written {}", rota_types::display::ago_text(t, now)))
                .unwrap_or_default();
            (s.target, format!("{state}{synced}"), s.last_error)
        })
    };
    view! {
        <section class="group" aria-labelledby="handoff-title" id="handoff">
            <h4 id="handoff-title" class="group-title">"Hand-off and switching"</h4>
            <label class="toggle-row" for="handoff-toggle">
                <span class="toggle-text">
                    <span class="toggle-title">{format!("Hand off to {tool}")}</span>
                    <span class="muted">{format!("Writes the active account into {tool}'s own login on every switch, so {tool} uses the pool without the gateway.")}</span>
                    {restart_note.map(|n| view! { <span class="muted" id="handoff-restart">{n}</span> })}
                </span>
                <input type="checkbox" role="switch" id="handoff-toggle" class="toggle"
                    disabled=move || busy.get() || status.with(Option::is_none)
                    prop:checked=move || status.with(|s| s.as_ref().is_some_and(|s| s.enabled))
                    on:change=move |e| set_handoff(event_target_checked(&e), false) />
            </label>
            {move || status.get().filter(|s| s.enabled).and_then(|_| target_text()).map(|(target, state, error)| view! {
                <div class="handoff-target" id="handoff-target">
                    <code>{target}</code>
                    <span class="muted">{state}</span>
                    {error.map(|e| view! { <span class="field-error">{e}</span> })}
                </div>
            })}
            {move || foreign.get().map(|message| view! {
                <div class="callout warning" id="handoff-foreign" role="alert">
                    <strong>{format!("{tool} is signed in to an account Rota does not know.")}</strong>
                    <span>{message}</span>
                    <div class="confirm-actions">
                        <button class="button" on:click=move |_| { foreign.set(None); set_handoff(false, false); }>"Leave it"</button>
                        <button class="button danger" id="handoff-force" on:click=move |_| set_handoff(true, true)>"Replace that login"</button>
                    </div>
                </div>
            })}
            <label class="toggle-row" for="proactive-toggle">
                <span class="toggle-text">
                    <span class="toggle-title">"Switch before the limit"</span>
                    <span class="muted">"When the active account passes 95 % of a window, switch to the account with the most headroom (weekly limits weigh first)."</span>
                </span>
                <input type="checkbox" role="switch" id="proactive-toggle" class="toggle"
                    disabled=move || status.with(Option::is_none)
                    prop:checked=move || status.with(|s| s.as_ref().is_some_and(|s| s.proactive))
                    on:change=move |e| set_proactive(event_target_checked(&e)) />
            </label>
            {(provider == ProviderId::Anthropic).then(|| view! {
                <label class="toggle-row" for="clients-toggle">
                    <span class="toggle-text">
                        <span class="toggle-title">"Serve other clients"</span>
                        <span class="muted">"Off: the gateway's Anthropic route serves only Claude Code and refuses other apps with a clear error. On: any app may use it, but Anthropic bills subscription traffic it takes for a third-party app's as paid extra usage, not your plan."</span>
                        {move || status.with(|s| s.as_ref().and_then(|s| s.clients) == Some(AnthropicClients::Any)).then(|| view! {
                            <span class="field-error" id="clients-risk">"Other apps' requests may be billed as extra usage."</span>
                        })}
                    </span>
                    <input type="checkbox" role="switch" id="clients-toggle" class="toggle"
                        disabled=move || status.with(Option::is_none)
                        prop:checked=move || status.with(|s| s.as_ref().and_then(|s| s.clients) == Some(AnthropicClients::Any))
                        on:change=move |e| set_clients(event_target_checked(&e)) />
                </label>
            })}
            {(provider == ProviderId::OpenAi).then(|| view! { <AutoRedeemToggle /> })}
        </section>
    }
}

/// The opt-in automatic reset-credit redeem (`[providers.openai] auto_redeem` in config.toml,
/// the same line `rota auth auto-redeem` writes).
#[component]
fn AutoRedeemToggle() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let status = RwSignal::new(None::<AutoRedeemStatus>);
    spawn_local(async move {
        match ipc::call::<AutoRedeemGetCmd>(&Empty {}).await {
            Ok(s) => status.set(Some(s)),
            Err(e) => ui.notify(e.message),
        }
    });
    let set = move |enabled: bool| {
        spawn_local(async move {
            match ipc::call::<AutoRedeemSetCmd>(&AutoRedeemSetRequest { enabled }).await {
                Ok(s) => status.set(Some(s)),
                Err(e) => {
                    ui.notify(e.message);
                    // Show the setting as it really is.
                    if let Ok(s) = ipc::call::<AutoRedeemGetCmd>(&Empty {}).await {
                        status.set(Some(s));
                    }
                }
            }
        });
    };
    view! {
        <label class="toggle-row" for="auto-redeem-toggle">
            <span class="toggle-text">
                <span class="toggle-title">"Redeem a reset credit when every account is exhausted"</span>
                <span class="muted">"Once per exhaustion, on the credit that expires first; the request that finds the pool dry still gets its 429, the next one is served."</span>
                {move || status.get().filter(|s| s.from_env).map(|_| view! {
                    <span class="muted" id="auto-redeem-env">"Set by ROTA_OPENAI_AUTO_REDEEM; unset it to change it here."</span>
                })}
            </span>
            <input type="checkbox" role="switch" id="auto-redeem-toggle" class="toggle"
                disabled=move || status.with(|s| s.as_ref().is_none_or(|s| s.from_env))
                prop:checked=move || status.with(|s| s.as_ref().is_some_and(|s| s.enabled))
                on:change=move |e| set(event_target_checked(&e)) />
        </label>
    }
}
