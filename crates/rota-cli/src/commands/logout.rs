//! `rota auth logout [provider] [account | --all]`: remove one account (and its secrets) or all
//! of a provider's accounts.

use rota_store::{PoolStore, now_ms};
use rota_types::{DEFAULT_NAMESPACE, ErrorCode, ProviderId, RemoveAccountResponse};

use super::{accounts, open_store};
use crate::cli::LogoutArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{
    account_error, parse_provider, picker_label, require_accounts, require_any, select_provider,
    stdin_is_terminal,
};

const USAGE: &str = "rota auth logout <provider> [<account> | --all [--yes]]";

/// What to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    All,
    One(String),
}

pub fn run(args: LogoutArgs, out: &Output) -> Result<(), CliError> {
    if args.provider.is_none()
        && args.account.is_none()
        && !args.all
        && !out.json
        && stdin_is_terminal()
    {
        return interactive();
    }
    let provider = args.provider.ok_or_else(|| {
        CliError::usage(
            "missing <provider> (anthropic, github-copilot or openai)",
            USAGE,
        )
    })?;
    let provider = parse_provider(&provider, USAGE)?;
    let store = open_store()?;
    let target = match (args.account, args.all) {
        (Some(account), _) => Target::One(account),
        (None, true) => {
            // Every account costs a browser login to get back: ask, or take --yes.
            if !args.yes {
                let state = store.load()?;
                require_accounts(&state, provider)?;
                let n = state.count(provider, DEFAULT_NAMESPACE);
                if out.json || !stdin_is_terminal() {
                    return Err(CliError::usage(
                        format!(
                            "--all removes {} of {}; add --yes to confirm",
                            accounts(n),
                            provider.display_name()
                        ),
                        USAGE,
                    ));
                }
                if !confirm_all(provider, n)? {
                    return Err(CliError::Cancelled);
                }
            }
            Target::All
        }
        (None, false) => {
            // One account leaves nothing to choose; with several the caller must say which.
            let state = store.load()?;
            require_accounts(&state, provider)?;
            let n = state.count(provider, DEFAULT_NAMESPACE);
            if n > 1 {
                return Err(CliError::usage(
                    format!(
                        "missing <account> or --all: {} has {}",
                        provider.as_str(),
                        accounts(n)
                    ),
                    USAGE,
                ));
            }
            Target::One(state.ordered_ids(provider, DEFAULT_NAMESPACE)[0].to_string())
        }
    };
    let (removed, remaining, handoff) = remove(&store, provider, &target)?;
    let handed_off = super::handoff_line(&handoff);
    if out.json {
        out.print_json(&RemoveAccountResponse {
            success: true,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        });
    } else {
        out.print(&format!(
            "{}\n",
            message(&target, removed, remaining, provider)
        ));
        if let Some(line) = handed_off {
            out.print(&format!("{line}\n"));
        }
    }
    Ok(())
}

/// Removes the target; returns (accounts removed, accounts remaining, the hand-off after).
fn remove(
    store: &PoolStore,
    provider: ProviderId,
    target: &Target,
) -> Result<(usize, usize, rota_ops::Handoff), CliError> {
    match target {
        Target::All => {
            let gone = rota_ops::remove_all(store, provider, DEFAULT_NAMESPACE)?;
            if gone.is_empty() {
                return Err(CliError::failed(
                    ErrorCode::NotFound,
                    format!("no {} accounts configured", provider.display_name()),
                ));
            }
            Ok((gone.len(), 0, rota_ops::Handoff::Unchanged))
        }
        Target::One(query) => {
            require_accounts(&store.load()?, provider)?;
            let removed = rota_ops::remove(store, &rota_ops::Target::typed(provider, query))
                .map_err(|e| account_error(e, provider))?;
            Ok((1, removed.removed.remaining, removed.handoff))
        }
    }
}

fn message(target: &Target, removed: usize, remaining: usize, provider: ProviderId) -> String {
    match target {
        Target::All => format!(
            "Removed all {} ({}).",
            accounts(removed),
            provider.display_name()
        ),
        Target::One(_) => format!("Account removed. {} remaining.", accounts(remaining)),
    }
}

/// `Remove all 4 Anthropic accounts? Each needs a new login to come back.` — No by default.
fn confirm_all(provider: ProviderId, n: usize) -> Result<bool, CliError> {
    Ok(cliclack::confirm(format!(
        "Remove all {} of {}? Each needs a new sign-in to come back.",
        accounts(n),
        provider.display_name()
    ))
    .initial_value(false)
    .interact()?)
}

fn interactive() -> Result<(), CliError> {
    let store = open_store()?;
    let state = store.load()?;
    require_any(&state)?;
    cliclack::intro("Remove credential")?;
    let provider = select_provider(&state)?;
    require_accounts(&state, provider)?;
    let list = state.get_accounts(provider, DEFAULT_NAMESPACE, now_ms());
    let now = now_ms();
    let target = if list.len() > 1 {
        // The cursor starts on the first account; "all" is last and asks again.
        let mut select = cliclack::select("Remove which account?");
        for a in &list {
            select = select.item(Target::One(a.id.clone()), picker_label(a, now), "");
        }
        select = select.item(
            Target::All,
            format!("Remove all accounts ({})", accounts(list.len())),
            "",
        );
        let chosen = select.interact()?;
        if chosen == Target::All && !confirm_all(provider, list.len())? {
            cliclack::outro_cancel("Nothing removed")?;
            return Ok(());
        }
        chosen
    } else {
        Target::One(list[0].id.clone())
    };
    let (removed, remaining, handoff) = remove(&store, provider, &target)?;
    cliclack::log::step(message(&target, removed, remaining, provider))?;
    if let Some(line) = super::handoff_line(&handoff) {
        cliclack::log::step(line)?;
    }
    cliclack::outro("Done")?;
    Ok(())
}
