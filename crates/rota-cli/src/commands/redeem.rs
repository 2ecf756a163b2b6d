//! `rota auth redeem <provider> [account]`: redeems one OpenAI rate-limit reset credit on the
//! account (the active one by default). Safe to run twice or from two processes at once: one
//! request id per intent, one redeem per account at a time (rota-providers' `reset_credits`).

use std::sync::Arc;

use rota_providers::{Providers, TokenManager};
use rota_types::{DEFAULT_NAMESPACE, ErrorCode, ProviderId, RedeemCode};

use super::open_store;
use crate::cli::{AutoRedeemArgs, RedeemArgs, Toggle};
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{parse_provider, resolve_account};

const USAGE: &str = "rota auth redeem openai [account]";

pub fn run(args: &RedeemArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    if provider != ProviderId::OpenAi {
        return Err(CliError::usage(
            format!("{provider} has no reset credits; only openai does"),
            USAGE,
        ));
    }
    let store = Arc::new(open_store()?);
    let state = store.load()?;
    let id = match &args.account {
        Some(a) => Some(resolve_account(&state, provider, a)?),
        None => None,
    };
    let providers = Providers::new(super::providers_config(USAGE)?)
        .map_err(|e| CliError::failed(e.code(), e.to_string()))?;
    let tokens = TokenManager::new(store, Arc::new(providers));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(ErrorCode::Os, format!("cannot start the runtime: {e}")))?;
    let result = runtime
        .block_on(rota_providers::reset_credits::redeem_account(
            &tokens,
            provider,
            DEFAULT_NAMESPACE,
            id,
        ))
        .map_err(|e| CliError::failed(e.code(), e.to_string()))?;
    let label = rota_core::parse_id(&result.record_id)
        .ok()
        .and_then(|id| state.record(provider, id))
        .map_or_else(|| result.record_id.clone(), |r| r.label.clone());
    if out.json {
        out.print_json(&result);
        return Ok(());
    }
    let left = result
        .remaining
        .map(|n| format!(" {n} left."))
        .unwrap_or_default();
    let also = if result.coalesced {
        " (another redeem of this account had just finished)"
    } else {
        ""
    };
    out.print(&format!(
        "{}: {}{also}.{left}\n",
        out.bold(&label),
        result.code.text()
    ));
    if result.code == RedeemCode::NoCredit {
        return Err(CliError::failed(
            ErrorCode::NotFound,
            format!("{label} has no reset credit"),
        ));
    }
    Ok(())
}

/// `rota auth auto-redeem [on|off|status]`: the setting in `config.toml` (the app's toggle
/// writes the same line); running gateways read it when a pool runs dry.
pub fn auto(args: &AutoRedeemArgs, out: &Output) -> Result<(), CliError> {
    let source = rota_config::AutoRedeemSource::process()
        .map_err(|e| CliError::failed(ErrorCode::InvalidInput, e.to_string()))?;
    let failed = |e: rota_providers::ProviderError| CliError::failed(e.code(), e.to_string());
    let status = match args.action {
        Toggle::Status => rota_providers::reset_credits::auto_redeem_status(&source),
        Toggle::On | Toggle::Off => {
            rota_providers::reset_credits::set_auto_redeem(&source, args.action == Toggle::On)
        }
    }
    .map_err(failed)?;
    if out.json {
        out.print_json(&status);
        return Ok(());
    }
    let text = if status.enabled {
        "Automatic reset-credit redeem is on: when every OpenAI account is exhausted, Rota \
         redeems the reset credit that expires first on its account, once per exhaustion \
         (while the app or `rota serve` runs)."
    } else {
        "Automatic reset-credit redeem is off: credits are redeemed only with \
         `rota auth redeem openai` or the app."
    };
    let origin = if status.from_env {
        format!(" (set by {})", rota_config::env::OPENAI_AUTO_REDEEM)
    } else {
        String::new()
    };
    out.print(&format!("{text}{origin}\n"));
    Ok(())
}
