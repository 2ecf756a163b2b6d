//! `rota auth handoff <provider> on|off|status` and `rota auth proactive <provider>
//! on|off|status`: the per-provider toggles kept in the store (so the app and `rota serve` see
//! them at once), and where hand-off writes.

use std::fmt::Write as _;

use rota_handoff::{HandoffError, SyncOutcome};
use rota_store::{PoolStore, now_ms};
use rota_types::{HandoffStatus, HandoffTool, ProviderId, TargetState};

use super::{open_store, open_store_for_reading};
use crate::cli::{HandoffArgs, ImportFrom, ProactiveArgs, Toggle};
use crate::error::CliError;
use crate::output::{Output, tilde};
use crate::pick::parse_provider;

const USAGE: &str = "rota auth handoff <provider> [on|off|status] [--target PATH] [--tool T]";

fn tool(t: ImportFrom) -> HandoffTool {
    match t {
        ImportFrom::ClaudeCode => HandoffTool::ClaudeCode,
        ImportFrom::Codex => HandoffTool::Codex,
        ImportFrom::Opencode => HandoffTool::Opencode,
    }
}

fn failed(e: HandoffError) -> CliError {
    CliError::Failed(e.into())
}

fn target_text(s: &HandoffStatus) -> String {
    if s.target.starts_with("keychain:") {
        s.target.clone()
    } else {
        tilde(std::path::Path::new(&s.target))
    }
}

pub fn run(args: &HandoffArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    if args.action == Toggle::Status && (args.target.is_some() || args.tool.is_some()) {
        return Err(CliError::usage(
            "--target and --tool go with `on` or `off`",
            USAGE,
        ));
    }
    match args.action {
        Toggle::Status => {
            let store = open_store_for_reading()?;
            let status = rota_handoff::status(&store, provider, now_ms()).map_err(failed)?;
            print_status(&store, &status, out);
            Ok(())
        }
        Toggle::Off => {
            let store = open_store()?;
            rota_handoff::set_handoff(
                &store,
                provider,
                false,
                args.tool.map(tool),
                args.target.clone().map(Some),
            )
            .map_err(failed)?;
            let status = rota_handoff::status(&store, provider, now_ms()).map_err(failed)?;
            if out.json {
                out.print_json(&status);
            } else {
                out.print(&format!(
                    "Hand-off off for {}. {} is left as it is.\n",
                    provider.display_name(),
                    target_text(&status)
                ));
            }
            Ok(())
        }
        Toggle::On => on(args, provider, out),
    }
}

fn on(args: &HandoffArgs, provider: ProviderId, out: &Output) -> Result<(), CliError> {
    let store = open_store()?;
    let was_enabled = store.load()?.settings_of(provider).handoff.enabled;
    rota_handoff::set_handoff(
        &store,
        provider,
        true,
        args.tool.map(tool),
        args.target.clone().map(Some),
    )
    .map_err(|e| match e {
        HandoffError::Invalid(m) => CliError::usage(m, USAGE),
        e => failed(e),
    })?;
    let outcome = match rota_handoff::sync(&store, provider, args.force, now_ms()) {
        Ok(o) => o,
        Err(e) => {
            // Not on with a target we cannot write: the toggle goes back to what it was.
            if !was_enabled {
                let _ = rota_handoff::set_handoff(&store, provider, false, None, None);
            }
            return Err(failed(e));
        }
    };
    let status = rota_handoff::status(&store, provider, now_ms()).map_err(failed)?;
    if out.json {
        out.print_json(&status);
        return Ok(());
    }
    let label = |id: rota_core::Ulid| {
        store
            .load()
            .ok()
            .and_then(|s| s.record(provider, id).map(|r| r.label.clone()))
            .unwrap_or_else(|| id.to_string())
    };
    let what = match outcome {
        SyncOutcome::Written { record_id, .. } => format!(
            "Wrote {} to it.{}",
            out.bold(&label(record_id)),
            status
                .tool
                .restart_note()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        ),
        SyncOutcome::Current { record_id } => {
            format!("It already holds {}.", out.bold(&label(record_id)))
        }
        SyncOutcome::NoAccount => format!(
            "No {} account yet; the first login will be written.",
            provider.display_name()
        ),
        SyncOutcome::Disabled => String::new(),
    };
    out.print(&format!(
        "Hand-off on: {} → {} ({}). {what}\n",
        provider.display_name(),
        status.tool.display_name(),
        target_text(&status)
    ));
    Ok(())
}

fn print_status(store: &PoolStore, s: &HandoffStatus, out: &Output) {
    if out.json {
        out.print_json(s);
        return;
    }
    let state = store.load().ok();
    let label = |id: &str| {
        state
            .as_ref()
            .and_then(|st| {
                let id = rota_core::parse_id(id).ok()?;
                st.record(s.provider_id, id).map(|r| r.label.clone())
            })
            .unwrap_or_else(|| id.to_owned())
    };
    let holds = match s.state {
        TargetState::Missing => "nothing yet".to_owned(),
        TargetState::Active => format!(
            "the active account ({})",
            label(s.holds_record_id.as_deref().unwrap_or_default())
        ),
        TargetState::OtherAccount => format!(
            "another account ({})",
            label(s.holds_record_id.as_deref().unwrap_or_default())
        ),
        TargetState::Foreign => "a login that is not one of Rota's accounts".to_owned(),
        TargetState::Unreadable => "something Rota cannot read".to_owned(),
    };
    let mut text = format!(
        "{} hand-off: {}\n  Tool:      {}\n  Target:    {}{}\n  Holds:     {holds}\n",
        s.provider_id.display_name(),
        if s.enabled {
            out.green("on")
        } else {
            out.dim("off")
        },
        s.tool.display_name(),
        target_text(s),
        if s.target_overridden { " (set)" } else { "" },
    );
    if let Some(e) = &s.last_error {
        let _ = writeln!(text, "  Error:     {}", out.red(e));
    }
    let _ = writeln!(
        text,
        "  Proactive: {}",
        if s.proactive { "on" } else { "off" }
    );
    out.print(&text);
}

pub fn proactive(args: &ProactiveArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    let enabled = match args.action {
        Toggle::Status => {
            let store = open_store_for_reading()?;
            store.load()?.settings_of(provider).proactive
        }
        Toggle::On | Toggle::Off => {
            let on = args.action == Toggle::On;
            rota_handoff::set_proactive(&open_store()?, provider, on).map_err(failed)?;
            on
        }
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "providerID": provider,
            "proactive": enabled,
        }));
        return Ok(());
    }
    let text = if enabled {
        // The threshold the running autopilot uses: the config file with the environment over it.
        let c = rota_handoff::AutopilotConfig::from_config(&super::load_config(USAGE)?);
        format!(
            "Proactive switching is on for {}: at {} % of any window the account with the most \
             headroom takes over (while the app or `rota serve` runs).\n",
            provider.display_name(),
            c.policy.threshold
        )
    } else {
        format!(
            "Proactive switching is off for {}.\n",
            provider.display_name()
        )
    };
    out.print(&text);
    Ok(())
}
