//! `rota connect <tool> [--undo | --revoke]`, `rota connect --list`, `rota env [--shell S]`:
//! a coding tool's own config file pointed at the gateway with the connection's stable local
//! key (rota-connect does the files, rota-store keeps the keys).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use rota_connect::{ConnectionState, Endpoint, SDK_CONNECTION, Shell, Tool, Undone};
use rota_store::PoolStore;

use serde::Serialize;

use super::open_store;
use super::serve::DEFAULT_PORT;
use crate::cli::{ConnectArgs, EnvArgs};
use crate::error::CliError;
use crate::output::{Output, tilde};

const USAGE: &str =
    "rota connect <claude-code|codex|opencode> [--undo | --revoke] | rota connect --list";

/// The gateway's port as `rota serve` and the app pick it (`ROTA_GATEWAY_PORT`, config.toml,
/// 4141).
fn gateway_port() -> Result<u16, CliError> {
    let settings = super::load_config(USAGE)?;
    Ok(settings.gateway.port.unwrap_or(DEFAULT_PORT))
}

/// Whether something listens on the gateway's port (a quick loopback connect).
fn gateway_listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Where the gateway is (`ROTA_GATEWAY_PORT` / config) and whether its Anthropic route serves
/// other clients: opencode's Anthropic provider goes through Rota exactly then
/// (`rota auth clients`), with `key`.
fn endpoint(store: &PoolStore, key: rota_store::Secret) -> Result<Endpoint, CliError> {
    Ok(Endpoint {
        base_url: rota_connect::gateway_base_url(gateway_port()?),
        key,
        anthropic_for_other_clients: rota_providers::anthropic_clients(
            &store.load()?,
            &super::providers_config(USAGE)?,
        ) == rota_types::AnthropicClients::Any,
    })
}

/// After `rota auth clients` changed the setting: opencode, when connected to this Rota,
/// routes its Anthropic provider accordingly. Returns the line to print, if anything changed.
pub fn follow_clients(store: &PoolStore) -> Result<Option<String>, CliError> {
    let Some(key) = store.existing_local_key(Tool::Opencode.name())? else {
        return Ok(None);
    };
    let done = rota_connect::follow(Tool::Opencode, &store.paths().dir, &endpoint(store, key)?)
        .map_err(connect_error)?;
    Ok(done.filter(|d| !d.unchanged).map(|d| {
        format!(
            "opencode's settings follow ({}): {}",
            tilde(&d.path),
            d.notes.join(" ")
        )
    }))
}

fn connect_error(e: rota_connect::ConnectError) -> CliError {
    CliError::Failed(e.into())
}

fn parse_tool(name: &str) -> Result<Tool, CliError> {
    Tool::parse(name).ok_or_else(|| {
        CliError::usage(
            format!("unknown tool {name:?}: use claude-code, codex or opencode"),
            USAGE,
        )
    })
}

pub fn run(args: &ConnectArgs, out: &Output) -> Result<(), CliError> {
    if args.list {
        return list(out);
    }
    let name = args.tool.as_deref().unwrap_or_default();
    if args.revoke {
        return revoke(name, out);
    }
    let tool = parse_tool(name)?;
    let store = open_store()?;
    let data_dir = store.paths().dir.clone();
    if args.undo {
        return undo(tool, &store, &data_dir, out);
    }
    let port = gateway_port()?;
    let endpoint = endpoint(&store, store.local_key(tool.name())?)?;
    let base_url = endpoint.base_url.clone();
    let done = rota_connect::connect(tool, &data_dir, &endpoint).map_err(connect_error)?;
    if out.json {
        out.print_json(&ConnectJson {
            tool: tool.name(),
            path: done.path.display().to_string(),
            changed: !done.unchanged,
            backup: done.backup.as_ref().map(|p| p.display().to_string()),
            gateway: base_url,
            notes: done.notes,
        });
        return Ok(());
    }
    let mut text = if done.unchanged {
        format!(
            "{} already goes through Rota ({}).\n",
            out.bold(tool.display_name()),
            tilde(&done.path)
        )
    } else {
        format!(
            "{} {} now goes through Rota at {base_url} with a key of its own ({}).\n",
            out.green("✓"),
            out.bold(tool.display_name()),
            tilde(&done.path)
        )
    };
    if let Some(b) = &done.backup {
        let _ = writeln!(text, "  The file as it was is kept in {}.", tilde(b));
    }
    for note in &done.notes {
        let _ = writeln!(text, "  {note}");
    }
    let _ = writeln!(text, "  Undo with `rota connect {} --undo`.", tool.name());
    if !gateway_listening(port) {
        let _ = writeln!(
            text,
            "  {} nothing listens on port {port} yet: start the Rota app or `rota serve`.",
            out.yellow("!")
        );
    }
    out.print(&text);
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectJson {
    tool: &'static str,
    path: String,
    changed: bool,
    backup: Option<String>,
    gateway: String,
    notes: Vec<String>,
}

fn undo(tool: Tool, store: &PoolStore, data_dir: &Path, out: &Output) -> Result<(), CliError> {
    let done = rota_connect::undo(tool, data_dir).map_err(connect_error)?;
    let revoked = store.revoke_local_key(tool.name())?;
    let line = match &done {
        Undone::Restored {
            path,
            removed: false,
        } => format!("Restored {} as it was before Rota.", tilde(path)),
        Undone::Restored {
            path,
            removed: true,
        } => format!("Removed {} (Rota had created it).", tilde(path)),
        Undone::RemovedSettings { path } => format!(
            "{} was edited since Rota connected it: took out Rota's settings, kept your edits.",
            tilde(path)
        ),
        Undone::NothingToUndo { path } => {
            format!(
                "Rota had not connected {} ({}).",
                tool.display_name(),
                tilde(path)
            )
        }
    };
    if out.json {
        out.print_json(&serde_json::json!({
            "tool": tool.name(),
            "undone": !matches!(done, Undone::NothingToUndo { .. }),
            "keyRevoked": revoked,
        }));
    } else {
        let key = if revoked {
            format!(" {}'s key is revoked.", tool.display_name())
        } else {
            String::new()
        };
        out.print(&format!("{line}{key}\n"));
    }
    Ok(())
}

fn revoke(name: &str, out: &Output) -> Result<(), CliError> {
    if name != SDK_CONNECTION {
        parse_tool(name)?;
    }
    let store = open_store()?;
    let revoked = store.revoke_local_key(name)?;
    if out.json {
        out.print_json(&serde_json::json!({ "connection": name, "keyRevoked": revoked }));
    } else if revoked {
        out.print(&format!(
            "Revoked {name}'s key: the gateway refuses it from the next request on; other connections keep working.\n"
        ));
    } else {
        out.print(&format!("{name} has no key.\n"));
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRow {
    connection: String,
    path: Option<String>,
    state: Option<ConnectionState>,
    has_key: bool,
    last_seen: Option<rota_types::UnixMs>,
}

fn list(out: &Output) -> Result<(), CliError> {
    let store = open_store()?;
    let data_dir = store.paths().dir.clone();
    let base_url = rota_connect::gateway_base_url(gateway_port()?);
    let seen = rota_gateway::read_connections_seen(&data_dir);
    let mut rows = Vec::new();
    for tool in Tool::ALL {
        let key = store.existing_local_key(tool.name())?;
        let state =
            rota_connect::state(tool, &data_dir, &base_url, key.as_ref()).map_err(connect_error)?;
        rows.push(ListRow {
            connection: tool.name().to_owned(),
            path: tool.config_path().ok().map(|p| p.display().to_string()),
            state: Some(state),
            has_key: key.is_some(),
            last_seen: seen.get(tool.name()).copied(),
        });
    }
    let sdk_key = store.existing_local_key(SDK_CONNECTION)?;
    rows.push(ListRow {
        connection: SDK_CONNECTION.to_owned(),
        path: None,
        state: None,
        has_key: sdk_key.is_some(),
        last_seen: seen.get(SDK_CONNECTION).copied(),
    });
    if out.json {
        out.print_json(&rows);
        return Ok(());
    }
    let now = rota_store::now_ms();
    let mut text = format!("Gateway: {base_url}\n");
    for row in &rows {
        let state = match (&row.state, row.has_key) {
            (Some(ConnectionState::Connected), _) => out.green("connected to this Rota"),
            (Some(s), _) => s.describe(),
            (None, true) => "key issued (`rota env`)".to_owned(),
            (None, false) => "no key".to_owned(),
        };
        let seen = row.last_seen.map_or_else(
            || "never seen".to_owned(),
            |at| format!("last request {}", ago(now - at)),
        );
        let path = row
            .path
            .as_deref()
            .map(|p| format!("  {}", out.dim(&tilde(Path::new(p)))))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "  {:<12} {state} · {seen}{path}",
            out.bold(&row.connection)
        );
    }
    out.print(&text);
    Ok(())
}

fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// `rota env`: the lines on stdout (so `eval "$(rota env)"` works), a note on stderr.
pub fn env(args: &EnvArgs, _out: &Output) -> Result<(), CliError> {
    let shell = args
        .shell
        .as_deref()
        .and_then(Shell::parse)
        .unwrap_or_else(Shell::from_env);
    let store = open_store()?;
    let key = store.local_key(SDK_CONNECTION)?;
    let base_url = rota_connect::gateway_base_url(gateway_port()?);
    let mut stdout = std::io::stdout().lock();
    for line in rota_connect::env_lines(shell, &base_url, &key) {
        let _ = writeln!(stdout, "{line}");
    }
    drop(stdout);
    let _ = writeln!(
        std::io::stderr().lock(),
        "# The `sdk` connection's key (revoke: rota connect sdk --revoke). For Claude Code, Codex \
         CLI and opencode prefer `rota connect <tool>`: their files, a key each."
    );
    Ok(())
}

/// `rota serve`'s start-up lines after the address: per tool, connected or the one command
/// that connects it (naming the port when the gateway runs on another than the configured one,
/// which `rota connect` would write), then `rota env` for SDKs.
pub fn start_lines(store: &PoolStore, data_dir: &Path, port: u16, configured: u16) -> Vec<String> {
    let base_url = rota_connect::gateway_base_url(port);
    let prefix = if port == configured {
        String::new()
    } else {
        format!("{}={port} ", rota_config::env::GATEWAY_PORT)
    };
    let mut lines = Vec::new();
    for tool in Tool::ALL {
        let key = store.existing_local_key(tool.name()).ok().flatten();
        let state = rota_connect::state(tool, data_dir, &base_url, key.as_ref());
        lines.push(match state {
            Ok(ConnectionState::Connected) => {
                format!(
                    "{}: connected (rota connect {} --undo to stop)",
                    tool.display_name(),
                    tool.name()
                )
            }
            Ok(s) => format!(
                "{}: {} — connect it in one step: {prefix}rota connect {}",
                tool.display_name(),
                s.describe(),
                tool.name()
            ),
            Err(e) => format!("{}: {e}", tool.display_name()),
        });
    }
    lines.push(format!(
        "SDKs and other tools: eval \"$({prefix}rota env)\""
    ));
    lines
}
