//! `rota auth list`: where the store is, how secrets are kept, and the providers with their
//! account counts. Needs no secrets, so it never opens the vault or the keychain.

use std::fmt::Write as _;

use rota_types::DEFAULT_NAMESPACE;
use rota_types::command::ListProvidersResponse;

use super::{open_store_for_reading, warn_recoveries};
use crate::error::CliError;
use crate::output::{Output, tilde};
use crate::pick::configured;

pub fn run(out: &Output) -> Result<(), CliError> {
    let store = open_store_for_reading()?;
    let state = store.load()?;
    warn_recoveries(&store);
    let providers = configured(&state);
    if out.json {
        // The Tauri `list_providers` shape, restricted to the providers that have accounts.
        let listing = ListProvidersResponse {
            providers: providers
                .iter()
                .map(|p| state.provider_listing(*p, DEFAULT_NAMESPACE, rota_store::now_ms()))
                .collect(),
        };
        out.print_json(&listing);
        return Ok(());
    }
    let backend = store.backend();
    let mut text = String::new();
    let bar = out.dim("│");
    let _ = writeln!(
        text,
        "{}  Credentials {}",
        out.dim("┌"),
        out.dim(&tilde(&store.paths().dir))
    );
    let _ = writeln!(text, "{bar}  Secrets: {}", backend.label());
    if let Some(warning) = backend.warning() {
        let _ = writeln!(text, "{}  warning: {warning}", out.yellow("▲"));
    }
    let _ = writeln!(text, "{bar}");
    let mut total = 0;
    for p in &providers {
        let n = state.count(*p, DEFAULT_NAMESPACE);
        total += n;
        let count = if n > 1 {
            format!(" ({n} accounts)")
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "{}  {} {}{count}",
            out.green("●"),
            out.bold(p.display_name()),
            out.dim(&p.info().auth_type),
        );
    }
    if !providers.is_empty() {
        let _ = writeln!(text, "{bar}");
    }
    let _ = writeln!(
        text,
        "{}  {total} credential{}",
        out.dim("└"),
        if total == 1 { "" } else { "s" }
    );
    out.print(&text);
    Ok(())
}
