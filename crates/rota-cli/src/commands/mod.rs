//! One module per `rota auth` subcommand (and `rota serve`), and the store opening they share.

mod clients;
mod connect;
mod handoff;
mod import;
mod list;
mod log;
mod login;
mod logout;
mod recovery;
mod redeem;
mod rename;
mod serve;
mod switch;
mod usage;

use rota_store::{PoolStore, StoreConfig};

use crate::cli::{AuthCommand, Cli, Command};
use crate::error::CliError;
use crate::output::Output;

pub fn run(cli: Cli, out: &Output) -> Result<(), CliError> {
    let auth = match cli.command {
        Command::Auth(auth) => auth,
        Command::Serve(args) => return serve::run(&args),
        Command::Connect(args) => return connect::run(&args, out),
        Command::Env(args) => return connect::env(&args, out),
    };
    match auth {
        AuthCommand::List(_) => list::run(out),
        AuthCommand::Usage(args) => usage::run(&args, out, &crate::LiveUsage::from_env()),
        AuthCommand::Login(args) => login::run(&args, out),
        AuthCommand::Switch(args) => switch::run(args, out),
        AuthCommand::Logout(args) => logout::run(args, out),
        AuthCommand::Rename(args) => rename::run(&args, out),
        AuthCommand::Import(args) => import::run(&args, out),
        AuthCommand::Handoff(args) => handoff::run(&args, out),
        AuthCommand::Proactive(args) => handoff::proactive(&args, out),
        AuthCommand::Clients(args) => clients::run(&args, out),
        AuthCommand::Log(args) => log::run(&args, out),
        AuthCommand::Recovery(args) => recovery::run(&args, out),
        AuthCommand::Redeem(args) => redeem::run(&args, out),
        AuthCommand::AutoRedeem(args) => redeem::auto(&args, out),
    }
}

/// `config.toml` with the environment over it, as every command reads it: a malformed variable
/// is a usage error (exit 2), a malformed file a failure (exit 1) naming the file.
fn load_config(usage: &'static str) -> Result<rota_config::Config, CliError> {
    rota_config::Config::load().map_err(|e| match e {
        rota_config::ConfigError::Env { .. } => CliError::usage(e.to_string(), usage),
        e => CliError::failed(rota_types::ErrorCode::InvalidInput, e.to_string()),
    })
}

/// The providers' URLs and values: defaults, `config.toml`'s `[providers.*]`, the environment.
fn providers_config(usage: &'static str) -> Result<rota_providers::ProvidersConfig, CliError> {
    Ok(rota_providers::ProvidersConfig::from_settings(
        &load_config(usage)?,
    ))
}

/// The store for commands that change it: [`PoolStore::open`] creates the data directory and
/// checks both files first.
fn open_store() -> Result<PoolStore, CliError> {
    let store = PoolStore::open(StoreConfig::from_env()?)?;
    warn_recoveries(&store);
    Ok(store)
}

/// The store for reading: no keychain round trip when the files tell the backend
/// ([`PoolStore::open_quick`]), so `rota auth list` starts fast.
fn open_store_for_reading() -> Result<PoolStore, CliError> {
    Ok(PoolStore::open_quick(StoreConfig::from_env()?)?)
}

/// What the store repaired (any process, any time) is a warning on stderr on every command
/// until the user acknowledges it; printed once per run.
fn warn_recoveries(store: &PoolStore) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let pending = store.pending_recoveries();
    if pending.is_empty() || WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    for recovery in &pending {
        eprintln_safe(&format!("warning: {recovery}"));
    }
    eprintln_safe("warning: run `rota auth recovery --ack` once you have checked your accounts");
}

/// After a command changed the active account: brings the provider's hand-off target up to
/// date. Returns the line to show when the target was rewritten; the switch itself already
/// succeeded, so a failure is a warning on stderr, not an error.
/// The line the CLI prints after a pool change moved the tool's login (`None`: nothing moved).
fn handoff_line(handoff: &rota_ops::Handoff) -> Option<String> {
    match handoff {
        rota_ops::Handoff::Unchanged => None,
        rota_ops::Handoff::Written { tool, target } => {
            let note = tool
                .restart_note()
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            Some(format!(
                "Handed off to {} ({}).{note}",
                tool.display_name(),
                crate::output::tilde(std::path::Path::new(target))
            ))
        }
        rota_ops::Handoff::Failed(e) => {
            eprintln_safe(&format!("warning: hand-off failed: {e}"));
            None
        }
    }
}

fn eprintln_safe(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `1 account` / `3 accounts`.
fn accounts(n: usize) -> String {
    if n == 1 {
        "1 account".to_owned()
    } else {
        format!("{n} accounts")
    }
}
