//! `rota auth switch [provider] [account]`: make another account the active one.

use rota_store::now_ms;
use rota_types::{DEFAULT_NAMESPACE, SwitchReason};

use super::open_store;
use crate::cli::SwitchArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{
    account_error, parse_provider, picker_label, require_accounts, require_any, select_provider,
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
    require_accounts(&store.load()?, provider)?;
    let switched = rota_ops::set_active(
        &store,
        &rota_ops::Target::typed(provider, &account),
        SwitchReason::ManualCli,
    )
    .map_err(|e| account_error(e, provider))?;
    // The switch stands (the user asked for it), but not in silence: say who serves meanwhile.
    if let Some(caveat) = switched.caveat_text(provider) {
        super::eprintln_safe(&format!("warning: {caveat}"));
    }
    let label = &switched.switch.record.label;
    if out.json {
        out.print_json(&switched.response);
    } else if switched.switch.entry.is_some() {
        out.print(&format!(
            "Switched {} to {}.\n",
            provider.display_name(),
            out.bold(label)
        ));
    } else {
        out.print(&format!(
            "{} is already the active {} account.\n",
            out.bold(label),
            provider.display_name()
        ));
    }
    if let Some(line) = super::handoff_line(&switched.handoff).filter(|_| !out.json) {
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
    let switched = rota_ops::set_active(
        &store,
        &rota_ops::Target::typed(provider, &chosen),
        SwitchReason::ManualCli,
    )?;
    let label = &switched.switch.record.label;
    if switched.switch.entry.is_some() {
        cliclack::log::step(format!("Switched to {label}"))?;
    } else {
        cliclack::log::step(format!("{label} is already active"))?;
    }
    if let Some(line) = super::handoff_line(&switched.handoff) {
        cliclack::log::step(line)?;
    }
    cliclack::outro("Done")?;
    Ok(())
}
