//! The header's gateway pill: where the local gateway listens, and whether it runs.

use leptos::prelude::*;
use rota_types::command::{GatewayState, GatewayStatusResponse};

use crate::state::Ui;

/// The header's gateway pill: the address with a green dot while the gateway runs; red with the
/// reason in its tooltip when it could not start.
#[component]
pub fn GatewayPill() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let gateway = move || {
        ui.gateway
            .get()
            .and_then(|g| g.address)
            .or_else(|| {
                ui.info
                    .get()
                    .map(|i| i.gateway_url.trim_start_matches("http://").to_owned())
            })
            .unwrap_or_default()
    };
    let gateway_state = move || ui.gateway.get().map_or(GatewayState::Starting, |g| g.state);
    let pill_class = move || {
        let state = match gateway_state() {
            GatewayState::Starting => "starting",
            GatewayState::Running => "running",
            GatewayState::Failed => "failed",
            GatewayState::Stopped => "stopped",
        };
        format!("pill gateway-pill {state}")
    };
    let pill_title = move || match ui.gateway.get() {
        Some(GatewayStatusResponse {
            state: GatewayState::Running,
            ..
        }) => "Rota's local gateway is running at this address".to_owned(),
        Some(GatewayStatusResponse {
            state: GatewayState::Failed,
            message,
            ..
        }) => format!(
            "The gateway is not running: {}",
            message.unwrap_or_else(|| "it could not start".to_owned())
        ),
        Some(GatewayStatusResponse {
            state: GatewayState::Stopped,
            ..
        }) => "The gateway has stopped".to_owned(),
        _ => "The gateway is starting…".to_owned(),
    };
    let pill_state = move || match gateway_state() {
        GatewayState::Running => "",
        GatewayState::Starting => "starting",
        GatewayState::Failed => "not running",
        GatewayState::Stopped => "stopped",
    };

    view! {
        <span class=pill_class id="gateway-pill" title=pill_title>
            <span class="pill-dot" aria-hidden="true"></span>
            <span class="pill-label">"Gateway"</span>
            <code class="pill-value">{gateway}</code>
            <Show when=move || !pill_state().is_empty()>
                <span class="pill-state">{pill_state}</span>
            </Show>
        </span>
    }
}
