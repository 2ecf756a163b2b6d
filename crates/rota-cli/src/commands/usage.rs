//! `rota auth usage [provider]`: per account its state, counters and usage windows with reset
//! times. Renders the store's cached snapshots with their age; a live [`UsageSource`] (from
//! `rota-providers`, later) refreshes them first.

use std::fmt::Write as _;

use rota_core::PoolState;
use rota_store::{PoolStore, now_ms};
use rota_types::display::{age_text, percent, remaining_text, reset_text};
use rota_types::{AccountSummary, DEFAULT_NAMESPACE, ProviderId, UnixMs, UsageResponse};

use super::{accounts, open_store_for_reading, warn_recoveries};
use crate::cli::UsageArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{account_name, configured, parse_provider};
use crate::usage_source::{FetchedUsage, UsageSource};

pub fn run(args: &UsageArgs, out: &Output, source: &dyn UsageSource) -> Result<(), CliError> {
    let only = args.provider.as_deref().map(parse_provider).transpose()?;
    let store = open_store_for_reading()?;
    let mut state = store.load()?;
    warn_recoveries(&store);
    let providers: Vec<ProviderId> = configured(&state)
        .into_iter()
        .filter(|p| only.is_none_or(|o| o == *p))
        .collect();
    let mut failures = Vec::new();
    if source.is_live() && !providers.is_empty() {
        let (next, failed) = refresh(&store, &state, &providers, source, out)?;
        state = next;
        failures = failed;
    }
    let now = now_ms();
    if out.json {
        let mut response: UsageResponse = state.usage_response(DEFAULT_NAMESPACE, now);
        response.retain(|p, _| providers.contains(p));
        out.print_json(&response);
        return Ok(());
    }
    if providers.is_empty() {
        out.print(&match only {
            Some(p) => format!("No {} accounts configured.\n", p.display_name()),
            None => "No accounts configured.\n".to_owned(),
        });
        return Ok(());
    }
    let mut text = String::new();
    for (i, p) in providers.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let list = state.get_accounts(*p, DEFAULT_NAMESPACE, now);
        let _ = writeln!(
            text,
            "{} {}",
            out.bold(p.display_name()),
            out.dim(&format!("({})", accounts(list.len())))
        );
        for a in &list {
            render_account(&mut text, out, a, now, &failures);
        }
    }
    out.print(&text);
    Ok(())
}

/// Fetches through a live source, records what arrived, and returns the state to show plus
/// the failed fetches (those accounts show their cached value with its age).
fn refresh(
    store: &PoolStore,
    state: &PoolState,
    providers: &[ProviderId],
    source: &dyn UsageSource,
    out: &Output,
) -> Result<(PoolState, Vec<FetchedUsage>), CliError> {
    let now = now_ms();
    let wanted: Vec<(ProviderId, Vec<AccountSummary>)> = providers
        .iter()
        .map(|p| (*p, state.get_accounts(*p, DEFAULT_NAMESPACE, now)))
        .collect();
    let spinner = (!out.json && crate::pick::stdin_is_terminal()).then(|| {
        let s = cliclack::spinner();
        s.start("Fetching usage…");
        s
    });
    let results = source.fetch(&wanted);
    if let Some(s) = spinner {
        s.stop("Usage fetched");
    }
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.result.is_ok());
    if !ok.is_empty() {
        store.mutate(|txn| -> Result<(), CliError> {
            for r in ok {
                if let (Ok(id), Ok(snapshot)) = (rota_core::parse_id(&r.record_id), r.result) {
                    // An account removed meanwhile is simply skipped.
                    let _ = txn.state.record_usage(r.provider, id, snapshot);
                }
            }
            Ok(())
        })?;
    }
    Ok((store.load()?, failed))
}

fn render_account(
    text: &mut String,
    out: &Output,
    a: &AccountSummary,
    now: UnixMs,
    failures: &[FetchedUsage],
) {
    let mut flags = Vec::new();
    if a.is_active {
        flags.push(out.green("active"));
    } else {
        flags.push(out.dim("inactive"));
    }
    if let Some(until) = a.health.cooldown_until
        && let Some(left) = remaining_text(until, now)
    {
        flags.push(out.yellow(&format!("cooling down {left}")));
    }
    if a.health.needs_reauth {
        flags.push(out.red("needs re-login"));
    }
    let _ = writeln!(
        text,
        "  {} {}  {}",
        if a.is_active { "●" } else { "○" },
        out.bold(&account_name(a)),
        flags.join(" · ")
    );
    let _ = writeln!(
        text,
        "      requests  {} ok · {} failed{}",
        a.health.success_count,
        a.health.failure_count,
        a.health
            .last_status_code
            .map(|c| format!(" · last status {c}"))
            .unwrap_or_default()
    );
    match &a.usage {
        Some(usage) => {
            let windows = usage.usage.windows();
            let width = windows
                .iter()
                .map(|(k, _)| k.short_label().len())
                .max()
                .unwrap_or(0);
            for (kind, w) in windows {
                let used = format!("{:>3}% used", percent(w.utilization));
                let _ = writeln!(
                    text,
                    "      {:<width$}  {}{}",
                    kind.short_label(),
                    out.usage_color(w.utilization, &used),
                    w.resets_at
                        .map(|at| format!("  {}", reset_text(at, now)))
                        .unwrap_or_default(),
                );
            }
            let _ = writeln!(text, "      {}", out.dim(&age_text(usage.fetched_at, now)));
        }
        None => {
            let _ = writeln!(text, "      {}", out.dim("no usage fetched yet"));
        }
    }
    if let Some(f) = failures.iter().find(|f| f.record_id == a.id)
        && let Err(e) = &f.result
    {
        let _ = writeln!(
            text,
            "      {}",
            out.yellow(&format!("fetch failed ({e}); showing the cached value"))
        );
    }
}
