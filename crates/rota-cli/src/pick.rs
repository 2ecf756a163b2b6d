//! Choosing a provider and an account: from arguments (wire id; account by id, id prefix or
//! unambiguous label) or, when interactive, through clack-style prompts on the terminal.

use std::io::IsTerminal;

use rota_core::{AccountRef, PoolState, Ulid};
use rota_types::display::percent;
use rota_types::{AccountSummary, ApiError, DEFAULT_NAMESPACE, ErrorCode, ProviderId};

use crate::error::CliError;

/// Prompts are allowed only on a terminal; scripts and pipes never see one.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// A provider from its wire id or an alias (`claude`, `codex`, `copilot`…); anything else is a
/// usage error (exit 2) with the nearest name when it looks like a typo, coded `not_found` in
/// `--json` as on every surface.
pub fn parse_provider(s: &str, usage: &'static str) -> Result<ProviderId, CliError> {
    s.parse().map_err(|e: rota_types::UnknownProvider| {
        CliError::usage(e.to_string(), usage).with_code(ApiError::from(e).code)
    })
}

/// Providers that have accounts, alphabetically by display name.
pub fn configured(state: &PoolState) -> Vec<ProviderId> {
    ProviderId::ALL
        .into_iter()
        .filter(|p| state.count(*p, DEFAULT_NAMESPACE) > 0)
        .collect()
}

/// The provider must have accounts for switch/logout/rename.
pub fn require_accounts(state: &PoolState, provider: ProviderId) -> Result<(), CliError> {
    if state.count(provider, DEFAULT_NAMESPACE) == 0 {
        return Err(CliError::failed(
            ErrorCode::NotFound,
            format!("no {} accounts configured", provider.display_name()),
        ));
    }
    Ok(())
}

/// An account by id, id prefix (4+ characters) or label; an ambiguous label lists the matches
/// (rota-core's [`PoolState::find`], the rule every account command resolves with).
pub fn resolve_account(
    state: &PoolState,
    provider: ProviderId,
    query: &str,
) -> Result<Ulid, CliError> {
    require_accounts(state, provider)?;
    state
        .find(
            provider,
            DEFAULT_NAMESPACE,
            &AccountRef::Query(query.trim().to_owned()),
        )
        .map_err(|e| account_error(e.into(), provider))
}

/// An operation's error about an account the user typed, with the hint on how to name one.
pub fn account_error(e: ApiError, provider: ProviderId) -> CliError {
    if e.code == ErrorCode::NotFound {
        return CliError::failed(
            ErrorCode::NotFound,
            format!(
                "{} (give an id, an id prefix or a label; `rota auth usage {} --cached` lists them)",
                e.message,
                provider.as_str()
            ),
        );
    }
    CliError::Failed(e)
}

/// `Account 1 (work@example.com)`: the label, and the e-mail when the label is something else.
pub fn account_name(a: &AccountSummary) -> String {
    match &a.identity.email {
        Some(email) if !email.eq_ignore_ascii_case(&a.label) => format!("{} ({email})", a.label),
        _ => a.label.clone(),
    }
}

/// A picker row: the account's name and its hint on the same line, so every row shows its
/// usage (cliclack shows an item's own hint only while the cursor is on it).
pub fn picker_label(a: &AccountSummary, now: i64) -> String {
    let active = if a.is_active { " (active)" } else { "" };
    format!("{}{active} · {}", account_name(a), account_hint(a, now))
}

/// The picker hint: `5h: 42%` (the fullest window), request counts, cooldown, re-login.
pub fn account_hint(a: &AccountSummary, now: i64) -> String {
    let mut parts = Vec::new();
    if let Some(usage) = &a.usage {
        if let Some(w) = usage
            .account_windows()
            .max_by(|x, y| x.utilization.total_cmp(&y.utilization))
        {
            parts.push(format!(
                "{}: {}%",
                w.kind.short_label(),
                percent(w.utilization)
            ));
        }
        // A model's used-up cap: the account does not serve that model now.
        for w in usage
            .windows
            .iter()
            .filter(|w| w.model.is_some() && w.is_exhausted())
        {
            parts.push(format!(
                "{}: {}%",
                w.model.as_deref().unwrap_or_default(),
                percent(w.utilization)
            ));
        }
    }
    let requests = a.health.success_count + a.health.failure_count;
    parts.push(format!(
        "{requests} request{}",
        if requests == 1 { "" } else { "s" }
    ));
    if let Some(until) = a.health.cooldown_until
        && let Some(left) = rota_types::display::remaining_text(until, now)
    {
        parts.push(format!("cooling down {left}"));
    }
    if a.health.needs_reauth {
        parts.push("needs re-login".to_owned());
    }
    parts.join(", ")
}

/// An interactive flow needs something to choose from; checked before the first prompt line.
pub fn require_any(state: &PoolState) -> Result<(), CliError> {
    if configured(state).is_empty() {
        return Err(CliError::failed(
            ErrorCode::NotFound,
            "no accounts configured (add one with `rota auth import`)",
        ));
    }
    Ok(())
}

/// `◆ Select provider` over the providers that have accounts, `Anthropic (oauth)`.
pub fn select_provider(state: &PoolState) -> Result<ProviderId, CliError> {
    require_any(state)?;
    let providers = configured(state);
    let mut select = cliclack::select("Select provider");
    for p in providers {
        // No hint: the seed's transcript shows the bare `Anthropic (oauth)`.
        select = select.item(
            p,
            format!("{} ({})", p.display_name(), p.info().auth_type),
            "",
        );
    }
    Ok(select.interact()?)
}
