//! `rota auth usage [provider] [--cached]`: per account its state, counters and usage windows
//! with reset times. A live [`UsageSource`] fetches every account in parallel first (spinner on
//! a terminal); then the store's snapshots are rendered with their age, and a failed fetch says
//! which value is shown instead.

use std::fmt::Write as _;

use std::sync::Arc;

use rota_store::{PoolStore, now_ms};
use rota_types::display::{age_text, percent, remaining_text, reset_text};
use rota_types::{AccountSummary, DEFAULT_NAMESPACE, ProviderId, UnixMs, UsageResponse};

use super::{accounts, eprintln_safe, open_store, open_store_for_reading, warn_recoveries};
use crate::cli::UsageArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{account_name, configured, parse_provider};
use crate::usage_source::{FetchOutcome, FetchedUsage, UsageSource};

const USAGE: &str = "rota auth usage [provider] [--cached] [--json]";

pub fn run(args: &UsageArgs, out: &Output, source: &dyn UsageSource) -> Result<(), CliError> {
    let only = args
        .provider
        .as_deref()
        .map(|p| parse_provider(p, USAGE))
        .transpose()?;
    let live = source.is_live() && !args.cached;
    let store = Arc::new(if live {
        open_store()?
    } else {
        open_store_for_reading()?
    });
    let mut state = store.load()?;
    warn_recoveries(&store);
    let providers: Vec<ProviderId> = configured(&state)
        .into_iter()
        .filter(|p| only.is_none_or(|o| o == *p))
        .collect();
    let mut fetched = Vec::new();
    if live && !providers.is_empty() {
        match refresh(&store, only, source, out) {
            Ok(results) => fetched = results,
            // The network part failed as a whole: show the cache, say so.
            Err(e) => eprintln_safe(&format!(
                "warning: could not fetch usage ({e}); showing the cached values"
            )),
        }
        state = store.load()?;
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
            render_account(&mut text, out, a, now, &fetched);
        }
    }
    out.print(&text);
    Ok(())
}

/// Fetches through a live source (which records fresh values in the store) behind a spinner
/// when a person is watching.
fn refresh(
    store: &Arc<PoolStore>,
    only: Option<ProviderId>,
    source: &dyn UsageSource,
    out: &Output,
) -> Result<Vec<FetchedUsage>, String> {
    let spinner = (!out.json && crate::pick::stdin_is_terminal()).then(|| {
        let s = cliclack::spinner();
        s.start("Fetching usage…");
        s
    });
    let results = source.fetch(store, only);
    if let Some(s) = spinner {
        match &results {
            Ok(r) => {
                let failed = r
                    .iter()
                    .filter(|f| f.outcome != FetchOutcome::Fresh)
                    .count();
                if failed == 0 {
                    s.stop("Usage fetched");
                } else {
                    s.stop(format!("Usage fetched ({failed} of {} failed)", r.len()));
                }
            }
            Err(_) => s.error("Could not fetch usage"),
        }
    }
    results
}

/// The plan-limits-only guard's mark (Anthropic) while it stands: the flag after the account's
/// name and the line that says what happened.
fn extra_usage_mark(out: &Output, a: &AccountSummary, now: UnixMs) -> Option<(String, String)> {
    let m = a.extra_usage.filter(|m| m.is_current(now))?;
    let flag = out.red(match m.kind {
        rota_types::ExtraUsageKind::ThirdPartyBilling => "billed as extra usage",
        rota_types::ExtraUsageKind::Overage => "plan limits used up",
    });
    let line = format!(
        "      extra usage  {} ({})\n",
        m.text(),
        rota_types::display::ago_text(m.at, now)
    );
    Some((flag, line))
}

/// The flags after an account's name: active, cooling down, needs re-login, the guard's mark.
fn account_flags(
    out: &Output,
    a: &AccountSummary,
    now: UnixMs,
    mark: Option<String>,
) -> Vec<String> {
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
    flags.extend(mark);
    flags
}

fn render_account(
    text: &mut String,
    out: &Output,
    a: &AccountSummary,
    now: UnixMs,
    fetched: &[FetchedUsage],
) {
    let mark = extra_usage_mark(out, a, now);
    let flags = account_flags(out, a, now, mark.as_ref().map(|(flag, _)| flag.clone()));
    let _ = writeln!(
        text,
        "  {} {}  {}",
        if a.is_active { "●" } else { "○" },
        out.bold(&account_name(a)),
        flags.join(" · ")
    );
    if let Some((_, line)) = mark {
        text.push_str(&line);
    }
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
            // Every window the provider reports, the model-scoped ones included.
            let width = usage
                .windows
                .iter()
                .map(|w| w.label.chars().count())
                .max()
                .unwrap_or(0);
            for w in &usage.windows {
                let used = format!("{:>3}% used", percent(w.utilization));
                let _ = writeln!(
                    text,
                    "      {:<width$}  {}{}",
                    w.label,
                    out.usage_color(w.utilization, &used),
                    w.resets_at
                        .map(|at| format!("  {}", reset_text(at, now)))
                        .unwrap_or_default(),
                );
            }
            let _ = writeln!(text, "      {}", out.dim(&age_text(usage.fetched_at, now)));
            // From the account's recent usage points: when a window runs out at this rate.
            if let Some(e) = a.exhaustion {
                let when = remaining_text(e.at, now)
                    .map_or_else(|| "now".to_owned(), |left| format!("in {left}"));
                let _ = writeln!(
                    text,
                    "      {}",
                    out.yellow(&format!(
                        "at this rate the {} limit is reached {when}",
                        e.window.short_label()
                    ))
                );
            }
        }
        None => {
            let _ = writeln!(text, "      {}", out.dim("no usage fetched yet"));
        }
    }
    render_reset_credits(text, a, now);
    if let Some(f) = fetched.iter().find(|f| f.record_id == a.id) {
        let cached = a.usage.as_ref().map_or_else(
            || "no cached value".to_owned(),
            |u| {
                format!(
                    "showing the value from {}",
                    age_text(u.fetched_at, now).trim_start_matches("updated ")
                )
            },
        );
        let line = match &f.outcome {
            FetchOutcome::Fresh => None,
            FetchOutcome::Failed(e) => Some(format!("fetch failed ({e}); {cached}")),
            FetchOutcome::BackedOff { until } => Some(format!(
                "rate-limited{}; {cached}",
                remaining_text(*until, now)
                    .map(|left| format!(" for {left}"))
                    .unwrap_or_default()
            )),
            FetchOutcome::NeedsReauth => Some(format!(
                "needs re-login (rota auth login {}); {cached}",
                f.provider
            )),
        };
        if let Some(line) = line {
            let _ = writeln!(text, "      {}", out.yellow(&line));
        }
    }
}

/// OpenAI: banked reset credits (`rota auth redeem`), shown when there are any.
fn render_reset_credits(text: &mut String, a: &AccountSummary, now: UnixMs) {
    let Some(c) = a.reset_credits.as_ref().filter(|c| !c.credits.is_empty()) else {
        return;
    };
    let expiry = c
        .next()
        .and_then(|n| n.expires_at)
        .and_then(|at| remaining_text(at, now))
        .map(|left| format!(" · next expires in {left}"))
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "      reset credits  {}{expiry} (rota auth redeem)",
        c.credits.len()
    );
}
