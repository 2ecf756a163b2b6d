//! `rota auth log [provider] [--limit N] [--json]`: the switch history, oldest first, the
//! newest at the bottom: time, provider, from → to (labels), and why.

use std::fmt::Write as _;

use rota_core::PoolState;
use rota_types::{SwitchLogEntry, UnixMs};

use super::{open_store_for_reading, warn_recoveries};
use crate::cli::LogArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::parse_provider;

const USAGE: &str = "rota auth log [provider] [--limit N] [--json]";

pub fn run(args: &LogArgs, out: &Output) -> Result<(), CliError> {
    let provider = args
        .provider
        .as_deref()
        .map(|p| parse_provider(p, USAGE))
        .transpose()?;
    let store = open_store_for_reading()?;
    let state = store.load()?;
    warn_recoveries(&store);
    let entries: Vec<&SwitchLogEntry> = state
        .switch_log
        .iter()
        .filter(|e| provider.is_none_or(|p| e.provider_id == p))
        .collect();
    let skip = entries.len().saturating_sub(args.limit);
    let entries = &entries[skip..];
    if out.json {
        out.print_json(&entries);
        return Ok(());
    }
    if entries.is_empty() {
        out.print("No switches yet.\n");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            let from = e
                .from
                .as_deref()
                .map_or_else(|| "—".to_owned(), |id| label(&state, e, id));
            let to = label(&state, e, &e.to);
            // A redeem names one account (`from` = `to`): no arrow.
            let moved = if e.from.as_deref() == Some(e.to.as_str()) {
                to
            } else {
                format!("{from} → {to}")
            };
            [
                time(e.at),
                e.provider_id.display_name().to_owned(),
                moved,
                e.reason_text(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w1, w2) = (width(1), width(2));
    let mut text = String::new();
    for [t, p, moved, why] in &rows {
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
        let _ = writeln!(
            text,
            "{}  {}  {}  {why}",
            out.dim(t),
            pad(p, w1),
            pad(moved, w2)
        );
    }
    out.print(&text);
    Ok(())
}

/// The account's label as the history names it ([`PoolState::history_label`]).
fn label(state: &PoolState, e: &SwitchLogEntry, id: &str) -> String {
    state.history_label(e.provider_id, id)
}

/// Local time, to the minute.
fn time(at: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(at).map_or_else(
        || at.to_string(),
        |t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}
