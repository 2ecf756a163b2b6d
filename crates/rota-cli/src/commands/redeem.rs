//! `rota auth redeem <provider> [account]`: redeems one OpenAI rate-limit reset credit on the
//! account (the active one by default). Safe to run twice or from two processes at once: one
//! request id per intent, one redeem per account at a time (rota-providers' `reset_credits`).

use std::sync::Arc;

use rota_providers::{Providers, ProvidersConfig, TokenManager};
use rota_types::{DEFAULT_NAMESPACE, ErrorCode, ProviderId, RedeemCode};

use super::open_store;
use crate::cli::RedeemArgs;
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
    let providers = Providers::new(ProvidersConfig::from_env())
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
