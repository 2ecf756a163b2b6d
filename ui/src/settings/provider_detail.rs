//! Provider Detail: a provider's accounts in rotation order with their badges, request counts
//! and usage bars; *Switch* on inactive accounts; **X** → confirmation → removed. Re-read on
//! every `pool-changed`; when the last account goes, the view stays with an *Add account*
//! button, so the way back in is where the user is.

use leptos::prelude::*;
use rota_types::command::{
    RedeemResetCreditCmd, RemoveRecordCmd, RenameRecordCmd, RenameRequest, SettingsTab, UsageCmd,
    UsageRequest,
};
use rota_types::{AccountSummary, ProviderId, RedeemResponse, UnixMs};

use super::ProviderBadge;
use super::account_row::AccountRow;
use super::add_account::AddAccountDialog;
use super::handoff::HandoffSection;
use crate::components::confirm::{AskFirst, ConfirmSwitch, Question};
use crate::ipc::{self, now_ms};
use crate::state::{Switcher, Ui, account_request, pool_accounts};

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
fn ProviderDetail(provider: ProviderId) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let info = provider.info();
    let accounts = pool_accounts(ui, move || Some(provider));
    // "Now" for the countdowns; ticks once a second only while a cooldown is visible.
    let now = RwSignal::new(now_ms());
    let pending_removal = RwSignal::new(None::<AccountSummary>);
    // Its last account was removed while this view was open.
    let emptied = RwSignal::new(false);
    let adding = RwSignal::new(false);
    // The account "Log in again" renews (`None`: a plain Add account).
    let renewing = RwSignal::new(None::<AccountSummary>);
    // The account whose label is being edited.
    let renaming = RwSignal::new(None::<String>);

    // Every answer: the countdowns restart from now, and the last account going (here or
    // elsewhere) leaves the view with the way back in (Add account) rather than vanishing
    // under the user.
    Effect::new(move |had_accounts: Option<bool>| {
        accounts.with(|list| {
            let Some(list) = list else {
                return false;
            };
            now.set(now_ms());
            if had_accounts == Some(true) && list.is_empty() {
                emptied.set(true);
            }
            !list.is_empty()
        })
    });

    // The 1-s timer exists only while some shown account is cooling down.
    let timer = StoredValue::new(None::<leptos::prelude::IntervalHandle>);
    Effect::new(move |_| {
        let needed = accounts.with(|a| any_cooling(a, now.get()));
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

    let switcher = Switcher::new(ui);
    // "Switched to …", shown after a switch from here for a moment; the new active card is
    // scrolled to once the list has re-rendered.
    Effect::new(move |_| {
        if switcher.switched().is_some() {
            set_timeout(
                move || switcher.clear_switched(),
                std::time::Duration::from_secs(6),
            );
        }
    });
    Effect::new(move |_| {
        accounts.track();
        if untrack(|| switcher.switched()).is_some() {
            scroll_active_into_view();
        }
    });

    let remove = Action::new_local(move |account: &AccountSummary| {
        let account = account.clone();
        async move {
            let result = ipc::call::<RemoveRecordCmd>(&account_request(provider, &account)).await;
            pending_removal.set(None);
            match result {
                Ok(_) => ui.pool_changed(),
                Err(e) => ui.notify(format!("Could not remove {}: {}", account.label, e.message)),
            }
        }
    });

    // OpenAI reset credits: the account waiting for the user's confirmation, and the redeem
    // (its answer in words, shown until the next one).
    let pending_redeem = RwSignal::new(None::<AccountSummary>);
    let redeem = Action::new_local(move |account: &AccountSummary| {
        let account = account.clone();
        async move {
            let request = account_request(provider, &account);
            let text = match ipc::call::<RedeemResetCreditCmd>(&request).await {
                Ok(result) => {
                    // The windows and the credit count as the provider now reports them.
                    if let Err(e) = ipc::call::<UsageCmd>(&UsageRequest { refresh: true }).await {
                        ui.notify(format!("Could not refresh usage: {}", e.message));
                    }
                    Some(redeem_text(&account.label, &result))
                }
                Err(e) => {
                    ui.notify(format!(
                        "Could not redeem a reset credit on {}: {}",
                        account.label, e.message
                    ));
                    None
                }
            };
            ui.pool_changed();
            text
        }
    });
    let redeeming = redeem.pending();
    let redeemed = redeem.value();
    let confirm_redeem = move |account: AccountSummary| {
        pending_redeem.set(None);
        if redeeming.get_untracked() {
            return;
        }
        redeem.clear();
        redeem.dispatch_local(account);
    };

    let rename_action = Action::new_local(move |(account, label): &(AccountSummary, String)| {
        let (account, label) = (account.clone(), label.clone());
        async move {
            let request = RenameRequest {
                provider_id: provider.as_str().to_owned(),
                record_id: account.id.clone(),
                label: Some(label),
                namespace: None,
            };
            match ipc::call::<RenameRecordCmd>(&request).await {
                Ok(_) => ui.pool_changed(),
                Err(e) => ui.notify(format!("Could not rename {}: {}", account.label, e.message)),
            }
        }
    });
    let rename = move |account: AccountSummary, label: String| {
        renaming.set(None);
        if label.trim() != account.label {
            rename_action.dispatch_local((account, label));
        }
    };
    let refresh = Action::new_local(move |(): &()| async move {
        if let Err(e) = ipc::call::<UsageCmd>(&UsageRequest { refresh: true }).await {
            ui.notify(format!("Could not refresh usage: {}", e.message));
        }
        ui.pool_changed();
    });
    let refreshing = refresh.pending();

    let empty_name = info.display_name.clone();
    let gateway_path = info.gateway_path.clone();
    let rows = move || {
        accounts.get().unwrap_or_default().into_iter().map(move |account| view! {
            <AccountRow
                account=account
                provider=provider
                now=now.read_only()
                renaming=renaming
                switching=Signal::derive(move || switcher.busy())
                redeeming=redeeming.into()
                on_switch=Callback::new(move |a| switcher.switch(provider, a))
                on_remove=Callback::new(move |a| pending_removal.set(Some(a)))
                on_rename=Callback::new(move |(a, label)| rename(a, label))
                on_relogin=Callback::new(move |a| { renewing.set(Some(a)); adding.set(true); })
                on_redeem=Callback::new(move |a| pending_redeem.set(Some(a)))
            />
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
                        <button class="button small ghost" id="refresh-usage" disabled=move || refreshing.get() on:click=move |_| { refresh.dispatch_local(()); }>
                            {move || if refreshing.get() { "Refreshing…" } else { "Refresh usage" }}
                        </button>
                        <button class="button small primary" id="add-account-button" on:click=move |_| { renewing.set(None); adding.set(true); }>"Add account"</button>
                    </div>
                </div>
                {move || switcher.switched().map(|label| view! {
                    <p class="switch-status" id="switch-status" role="status">{format!("Switched to {label}. New requests use it.")}</p>
                })}
                {move || redeemed.get().flatten().map(|text| view! {
                    <p class="switch-status" id="redeem-status" role="status">{text}</p>
                })}
                <Show
                    when=move || accounts.with(|a| a.is_some_and(|a| !a.is_empty()))
                    fallback=move || {
                        let name = empty_name.clone();
                        view! {
                            <Show when=move || accounts.with(|a| a.is_some())>
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

            <AskFirst pending=pending_removal question=remove_question on_ok=Callback::new(move |a| { remove.dispatch_local(a); }) />
            <ConfirmSwitch switcher=switcher />
            <AskFirst pending=pending_redeem question=redeem_question on_ok=Callback::new(confirm_redeem) />
            <Show when=move || adding.get()>
                <AddAccountDialog provider=provider open=adding renew=renewing.get_untracked() />
            </Show>
        </div>
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

/// The question before removing an account.
fn remove_question(account: &AccountSummary) -> Question {
    Question {
        id: "confirm-remove",
        title: format!("Remove {}?", account.label),
        text: "Rota forgets this account and deletes its stored tokens. The account itself stays \
               untouched at the provider; you can add it again later."
            .to_owned(),
        cancel: "Cancel",
        ok: "Remove",
        ok_class: "button danger",
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

/// The question before spending a reset credit: which account, how many it has, what a
/// redeem does and that it uses one.
fn redeem_question(account: &AccountSummary) -> Question {
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
    Question {
        id: "confirm-redeem",
        title: format!("Redeem a reset credit on {}?", account.label),
        text,
        cancel: "Cancel",
        ok: "Redeem one credit",
        ok_class: "button primary",
    }
}
