//! `rota auth import <claude-code|codex|opencode> [--path P]`: adds (or updates) the accounts
//! found in another tool's login file; the file itself is only read.

use std::fmt::Write as _;

use rota_store::import::ImportSource;
use rota_types::{AccountSummary, ProviderId};

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
    let store = open_store()?;
    let imported =
        rota_ops::import_accounts(&store, source, args.path.as_deref()).map_err(|e| {
            // The path as the user wrote it elsewhere (`~/…`), not expanded.
            let path = args.path.clone().or_else(|| source.default_path());
            let message = match path {
                Some(p) => e.message.replace(&p.display().to_string(), &tilde(&p)),
                None => e.message,
            };
            CliError::failed(e.code, message)
        })?;
    let handed_off: Vec<String> = imported
        .handoffs
        .iter()
        .filter_map(super::handoff_line)
        .collect();
    let path = &imported.path;
    let providers: Vec<ProviderId> = imported.accounts.iter().map(|(p, _, _)| *p).collect();
    let skipped = &imported.response.skipped;
    let imported: Vec<(AccountSummary, bool)> = imported
        .accounts
        .into_iter()
        .map(|(_, a, created)| (a, created))
        .collect();
    if out.json {
        let list: Vec<&AccountSummary> = imported.iter().map(|(a, _)| a).collect();
        out.print_json(&list);
        return Ok(());
    }
    let mut text = format!(
        "Imported {} from {}:\n",
        accounts(imported.len()),
        tilde(path)
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
    for s in skipped {
        let _ = writeln!(text, "  skipped {s}");
    }
    for line in handed_off {
        let _ = writeln!(text, "{line}");
    }
    out.print(&text);
    Ok(())
}
