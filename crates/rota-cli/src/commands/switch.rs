//! `rota auth switch [provider] [account]`: make another account the active one.

use rota_store::now_ms;
use rota_types::{DEFAULT_NAMESPACE, SetActiveResponse, SwitchReason};

use super::open_store;
use crate::cli::SwitchArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{
    parse_provider, picker_label, require_accounts, require_any, resolve_account, select_provider,
    stdin_is_terminal,
};

const USAGE: &str = "rota auth switch <provider> <account>";

pub fn run(args: SwitchArgs, out: &Output) -> Result<(), CliError> {
    if args.provider.is_none() && args.account.is_none() && !out.json && stdin_is_terminal() {
        return interactive();
    }
    let provider = args.provider.ok_or_else(|| {
        CliError::usage(
            "missing <provider> (anthropic, github-copilot or openai)",
            USAGE,
        )
    })?;
    let provider = parse_provider(&provider, USAGE)?;
    let account = args.account.ok_or_else(|| {
        CliError::usage("missing <account> (an id, an id prefix or a label)", USAGE)
    })?;
    let store = open_store()?;
    let now = now_ms();
    // Resolve and switch in one locked transaction, so a concurrent rename or removal cannot
    // slip between the two.
    let (switched, record, caveat) = store.mutate(|txn| -> Result<_, CliError> {
        let id = resolve_account(&txn.state, provider, &account)?;
        let caveat = txn
            .state
            .serving_caveat(provider, DEFAULT_NAMESPACE, id, now);
        let switched = txn.state.set_active(
            provider,
            DEFAULT_NAMESPACE,
            id,
            SwitchReason::ManualCli,
            now,
        )?;
        let record = txn
            .state
            .record(provider, id)
            .cloned()
            .expect("the account was just resolved under the lock");
        Ok((switched, record, caveat))
    })?;
    // The switch stands (the user asked for it), but not in silence: say who serves meanwhile.
    if let Some(caveat) = caveat {
        super::eprintln_safe(&format!("warning: {}", caveat.text(provider, now)));
    }
    let handed_off = super::handoff_after_switch(&store, provider);
    if out.json {
        out.print_json(&SetActiveResponse {
            success: true,
            anthropic_usage: record.anthropic_usage(),
        });
    } else if switched.is_some() {
        out.print(&format!(
            "Switched {} to {}.\n",
            provider.display_name(),
            out.bold(&record.label)
        ));
    } else {
        out.print(&format!(
            "{} is already the active {} account.\n",
            out.bold(&record.label),
            provider.display_name()
        ));
    }
    if let Some(line) = handed_off.filter(|_| !out.json) {
        out.print(&format!("{line}\n"));
    }
    Ok(())
}

fn interactive() -> Result<(), CliError> {
    let store = open_store()?;
    let state = store.load()?;
    require_any(&state)?;
    cliclack::intro("Switch account")?;
    let provider = select_provider(&state)?;
    require_accounts(&state, provider)?;
    let now = now_ms();
    let accounts = state.get_accounts(provider, DEFAULT_NAMESPACE, now);
    if accounts.len() < 2 {
        cliclack::log::warning("Only one account configured for this provider")?;
        cliclack::outro("Done")?;
        return Ok(());
    }
    let mut select = cliclack::select("Select account");
    let mut initial = None;
    for a in &accounts {
        if a.is_active {
            initial = Some(a.id.clone());
        }
        select = select.item(a.id.clone(), picker_label(a, now), "");
    }
    if let Some(id) = initial {
        select = select.initial_value(id);
    }
    let chosen: String = select.interact()?;
    let now = now_ms();
    if let Some(caveat) = accounts
        .iter()
        .find(|a| a.id == chosen)
        .and_then(|a| rota_core::parse_id(&a.id).ok())
        .and_then(|id| state.serving_caveat(provider, DEFAULT_NAMESPACE, id, now))
    {
        let go = cliclack::confirm(format!("{} Switch anyway?", caveat.text(provider, now)))
            .initial_value(false)
            .interact()?;
        if !go {
            cliclack::outro_cancel("Nothing changed")?;
            return Ok(());
        }
    }
    let (switched, label) = store.mutate(|txn| -> Result<_, CliError> {
        let id = resolve_account(&txn.state, provider, &chosen)?;
        let switched = txn.state.set_active(
            provider,
            DEFAULT_NAMESPACE,
            id,
            SwitchReason::ManualCli,
            now,
        )?;
        let label = txn
            .state
            .record(provider, id)
            .map(|r| r.label.clone())
            .unwrap_or_default();
        Ok((switched, label))
    })?;
    if switched.is_some() {
        cliclack::log::step(format!("Switched to {label}"))?;
    } else {
        cliclack::log::step(format!("{label} is already active"))?;
    }
    if let Some(line) = super::handoff_after_switch(&store, provider) {
        cliclack::log::step(line)?;
    }
    cliclack::outro("Done")?;
    Ok(())
}
