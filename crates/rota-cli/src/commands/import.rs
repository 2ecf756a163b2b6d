//! `rota auth import <claude-code|codex|opencode> [--path P]`: adds (or updates) the accounts
//! found in another tool's login file; the file itself is only read.

use std::fmt::Write as _;

use rota_store::import::{self, ImportSource};
use rota_store::now_ms;
use rota_types::{AccountSummary, DEFAULT_NAMESPACE, ErrorCode};

use super::{accounts, open_store};
use crate::cli::{ImportArgs, ImportFrom};
use crate::error::CliError;
use crate::output::{Output, tilde};
use crate::pick::account_name;

pub fn run(args: &ImportArgs, out: &Output) -> Result<(), CliError> {
    let source = match args.source {
        ImportFrom::ClaudeCode => ImportSource::ClaudeCode,
        ImportFrom::Codex => ImportSource::Codex,
        ImportFrom::Opencode => ImportSource::Opencode,
    };
    let path = match &args.path {
        Some(p) => p.clone(),
        None => source.default_path().ok_or_else(|| {
            CliError::failed(
                ErrorCode::Os,
                "no home directory to find the login file in; pass --path",
            )
        })?,
    };
    let report = import::import_file(source, &path)?;
    if report.accounts.is_empty() {
        let mut message = format!("no importable account in {}", tilde(&path));
        for s in &report.skipped {
            let _ = write!(message, "; skipped {}: {}", s.entry, s.reason);
        }
        return Err(CliError::failed(ErrorCode::NotFound, message));
    }
    let providers: Vec<_> = report.accounts.iter().map(|a| a.provider).collect();
    let store = open_store()?;
    let now = now_ms();
    let upserted = store.import_accounts(report.accounts, now)?;
    let mut handed_off = Vec::new();
    let mut synced = providers.clone();
    synced.dedup();
    for p in synced {
        handed_off.extend(super::handoff_after_switch(&store, p));
    }
    let state = store.load()?;
    let mut imported: Vec<(AccountSummary, bool)> = Vec::new();
    for (u, provider) in upserted.iter().zip(&providers) {
        if let Some(summary) = state
            .get_accounts(*provider, DEFAULT_NAMESPACE, now)
            .into_iter()
            .find(|a| a.id == u.id.to_string())
        {
            imported.push((summary, u.created));
        }
    }
    if out.json {
        let list: Vec<&AccountSummary> = imported.iter().map(|(a, _)| a).collect();
        out.print_json(&list);
        return Ok(());
    }
    let mut text = format!(
        "Imported {} from {}:\n",
        accounts(imported.len()),
        tilde(&path)
    );
    for ((a, created), provider) in imported.iter().zip(&providers) {
        let _ = writeln!(
            text,
            "  {} {}  {}{}",
            if *created { "+" } else { "~" },
            provider.display_name(),
            out.bold(&account_name(a)),
            match (*created, a.is_active) {
                (true, true) => " (new, active)",
                (true, false) => " (new)",
                (false, true) => " (updated, active)",
                (false, false) => " (updated)",
            }
        );
    }
    for s in &report.skipped {
        let _ = writeln!(text, "  skipped {}: {}", s.entry, s.reason);
    }
    for line in handed_off {
        let _ = writeln!(text, "{line}");
    }
    out.print(&text);
    Ok(())
}
