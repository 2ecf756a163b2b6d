//! Provider Detail's hand-off and switching settings: hand-off into the provider's own tool,
//! switching before the limit, Anthropic's other-clients guard and OpenAI's automatic redeem.

use leptos::prelude::*;
use rota_types::command::{
    AnthropicClientsSetCmd, AnthropicClientsSetRequest, AutoRedeemGetCmd, AutoRedeemSetCmd,
    AutoRedeemSetRequest, HandoffSetCmd, HandoffSetRequest, HandoffStatusCmd, PoolRequest,
    ProactiveSetCmd, ProactiveSetRequest,
};
use rota_types::handoff::{HandoffStatus, HandoffTool, TargetState};
use rota_types::{AnthropicClients, ProviderId};

use crate::components::confirm::{AskFirst, Question};
use crate::components::toggle::ToggleRow;
use crate::ipc::{self, now_ms};
use crate::state::{Fetched, Ui, fetched, fetched_on};

/// Hand-off (the active account written into the official tool's login) and proactive
/// switching, per provider.
#[component]
pub fn HandoffSection(provider: ProviderId) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let status = fetched(ui, move || {
        ui.pool_version.track();
        let request = PoolRequest {
            provider_id: provider.as_str().to_owned(),
            namespace: None,
        };
        async move { ipc::call::<HandoffStatusCmd>(&request).await }
    });
    // The tool's file holds a login Rota does not know: offer to replace it, once asked.
    let foreign = RwSignal::new(None::<String>);
    // (enabled, force: replace a login Rota does not know)
    let handoff = Action::new_local(move |&(enabled, force): &(bool, bool)| async move {
        let request = HandoffSetRequest {
            provider_id: provider.as_str().to_owned(),
            enabled,
            force,
        };
        match ipc::call::<HandoffSetCmd>(&request).await {
            Ok(s) => {
                foreign.set(None);
                status.set(s);
            }
            Err(e) if e.code == rota_types::ErrorCode::Conflict => foreign.set(Some(e.message)),
            Err(e) => ui.notify(e.message),
        }
        ui.pool_changed();
    });
    let set_handoff = move |enabled: bool, force: bool| {
        handoff.dispatch_local((enabled, force));
    };
    let busy = handoff.pending();
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
            <ToggleRow
                id="handoff-toggle"
                title=format!("Hand off to {tool}")
                hint=format!("Writes the active account into {tool}'s own login on every switch, so {tool} uses the pool without the gateway.")
                checked=move || status.with(|s| s.is_some_and(|s| s.enabled))
                disabled=move || busy.get() || status.with(|s| s.is_none())
                on_change=move |on| set_handoff(on, false)
            >
                {restart_note.map(|n| view! { <span class="muted" id="handoff-restart">{n}</span> })}
            </ToggleRow>
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
            <ProactiveToggle provider=provider status=status />
            {(provider == ProviderId::Anthropic).then(|| view! { <ClientsToggle status=status /> })}
            {(provider == ProviderId::OpenAi).then(|| view! { <AutoRedeemToggle /> })}
        </section>
    }
}

/// Switching before the limit (the autopilot's proactive switch) for this provider.
#[component]
fn ProactiveToggle(provider: ProviderId, status: Fetched<HandoffStatus>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let proactive = Action::new_local(move |&enabled: &bool| {
        let request = ProactiveSetRequest {
            provider_id: provider.as_str().to_owned(),
            enabled,
        };
        status.save::<ProactiveSetCmd>(ui, request)
    });
    view! {
        <ToggleRow
            id="proactive-toggle"
            title="Switch before the limit"
            hint="When the active account passes 95 % of a window, switch to the account with the most headroom (weekly limits weigh first)."
            checked=move || status.with(|s| s.is_some_and(|s| s.proactive))
            disabled=move || status.with(|s| s.is_none())
            on_change=move |on| { proactive.dispatch_local(on); }
        />
    }
}

/// Anthropic's guard: the gateway's route serves Claude Code only, or any client (billed as
/// extra usage). Turning it on may cost money, so it asks first; turning it off does not.
#[component]
fn ClientsToggle(status: Fetched<HandoffStatus>) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let clients = Action::new_local(move |&any: &bool| {
        let clients = if any {
            AnthropicClients::Any
        } else {
            AnthropicClients::ClaudeCode
        };
        status.save::<AnthropicClientsSetCmd>(ui, AnthropicClientsSetRequest { clients })
    });
    let asking = RwSignal::new(None::<bool>);
    let any = move || status.with(|s| s.and_then(|s| s.clients) == Some(AnthropicClients::Any));
    view! {
        <ToggleRow
            id="clients-toggle"
            title="Serve other clients"
            hint="Off: the gateway's Anthropic route serves only Claude Code and refuses other apps with a clear error. On: any app may use it, but Anthropic bills subscription traffic it takes for a third-party app's as paid extra usage, not your plan."
            checked=any
            disabled=move || status.with(|s| s.is_none())
            on_change=move |on| {
                if on {
                    asking.set(Some(true));
                } else {
                    clients.dispatch_local(false);
                }
            }
        >
            {move || any().then(|| view! {
                <span class="field-error" id="clients-risk">"Other apps' requests may be billed as extra usage."</span>
            })}
        </ToggleRow>
        <AskFirst
            pending=asking
            question=|_| Question {
                id: "confirm-clients",
                title: "Serve apps other than Claude Code?".to_owned(),
                text: "Anthropic bills the subscription traffic it takes for a third-party app's as paid extra usage, not as your plan: requests other apps send through Rota's Anthropic route may cost money. Claude Code is served either way, and you can turn this off at any time.".to_owned(),
                cancel: "Claude Code only",
                ok: "Serve other apps",
                ok_class: "button danger",
            }
            on_ok=Callback::new(move |_| {
                asking.set(None);
                clients.dispatch_local(true);
            })
        />
    }
}

/// The opt-in automatic reset-credit redeem (`[providers.openai] auto_redeem` in config.toml,
/// the same line `rota auth auto-redeem` writes).
#[component]
fn AutoRedeemToggle() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let status = fetched_on::<AutoRedeemGetCmd>(ui, None);
    let set = Action::new_local(move |&enabled: &bool| async move {
        let request = AutoRedeemSetRequest { enabled };
        if !status.save::<AutoRedeemSetCmd>(ui, request).await {
            // Show the setting as it really is.
            status.refetch();
        }
    });
    view! {
        <ToggleRow
            id="auto-redeem-toggle"
            title="Redeem a reset credit when every account is exhausted"
            hint="Once per exhaustion, on the credit that expires first; the request that finds the pool dry still gets its 429, the next one is served."
            checked=move || status.with(|s| s.is_some_and(|s| s.enabled))
            disabled=move || status.with(|s| s.is_none_or(|s| s.from_env))
            on_change=move |on| { set.dispatch_local(on); }
        >
            {move || status.get().filter(|s| s.from_env).map(|_| view! {
                <span class="muted" id="auto-redeem-env">"Set by ROTA_OPENAI_AUTO_REDEEM; unset it to change it here."</span>
            })}
        </ToggleRow>
    }
}
