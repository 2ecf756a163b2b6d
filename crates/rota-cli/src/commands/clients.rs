//! `rota auth clients anthropic [claude-code|any|status]`: which clients the gateway's
//! Anthropic route serves. The choice is kept in the store, so the app's and `rota serve`'s
//! gateway use it at their next request; without one, config.toml / `ROTA_ANTHROPIC_CLIENTS`
//! decide (default: Claude Code only).

use rota_types::{AnthropicClients, ProviderId};

use super::{open_store, open_store_for_reading, providers_config};
use crate::cli::{ClientsAction, ClientsArgs};
use crate::error::CliError;
use crate::output::Output;
use crate::pick::parse_provider;

const USAGE: &str = "rota auth clients anthropic [claude-code|any|status]";

pub fn run(args: &ClientsArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    if provider != ProviderId::Anthropic {
        return Err(CliError::usage(
            format!(
                "only the Anthropic route limits its clients ({} serves any client)",
                provider.display_name()
            ),
            USAGE,
        ));
    }
    let config = providers_config(USAGE)?;
    let mut followed = None;
    let (clients, chosen) = match args.action {
        ClientsAction::Status => {
            let state = open_store_for_reading()?.load()?;
            (
                rota_providers::anthropic_clients(&state, &config),
                rota_providers::anthropic_clients_chosen(&state),
            )
        }
        ClientsAction::ClaudeCode | ClientsAction::Any => {
            let c = if args.action == ClientsAction::Any {
                AnthropicClients::Any
            } else {
                AnthropicClients::ClaudeCode
            };
            let store = open_store()?;
            rota_providers::set_anthropic_clients(&store, c)?;
            followed = super::connect::follow_clients(&store)?;
            (c, true)
        }
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "providerID": provider,
            "clients": clients,
            "source": if chosen { "setting" } else { "config" },
            "planLimitsOnly": config.anthropic.plan_limits_only,
        }));
        return Ok(());
    }
    let guard = if config.anthropic.plan_limits_only {
        "The plan-limits-only guard is on: a request Anthropic bills as extra usage is not retried on another account, and the account is marked."
    } else {
        "The plan-limits-only guard is off (providers.anthropic.plan_limits_only = false)."
    };
    let text = match clients {
        AnthropicClients::ClaudeCode => format!(
            "The Anthropic route serves only Claude Code{}; other clients get a clear refusal.\n\
             To serve them anyway: `rota auth clients anthropic any` (Anthropic bills \
             subscription traffic it takes for a third-party app's as paid extra usage).\n{guard}\n",
            if chosen { "" } else { " (config default)" }
        ),
        AnthropicClients::Any => format!(
            "The Anthropic route serves any client{}.\n{} Anthropic bills subscription traffic it \
             takes for a third-party app's as paid extra usage, not the plan. Back to Claude Code \
             only: `rota auth clients anthropic claude-code`.\n{guard}\n",
            if chosen { "" } else { " (config)" },
            out.yellow("Risk:")
        ),
    };
    out.print(&text);
    if let Some(line) = followed {
        out.print(&format!("{line}\n"));
    }
    Ok(())
}
