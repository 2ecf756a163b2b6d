//! Settings → Connections and the main window's Connect buttons: the same steps as `rota
//! connect` (rota-connect for the files, the store for the keys), and *Test*, which sends
//! rota-connect's free probe through the app's own gateway with the tool's key.

use std::time::Instant;

use rota_connect::{Endpoint, Tool, Undone};
use rota_types::{ApiError, ConnectionChanged, ConnectionTestResult, ConnectionView, ErrorCode};

use crate::AppState;

fn tool(name: &str) -> Result<Tool, ApiError> {
    Tool::parse(name).ok_or_else(|| {
        ApiError::invalid_input(format!(
            "unknown tool {name:?}: claude-code, codex or opencode"
        ))
    })
}

fn view(state: &AppState, tool: Tool) -> Result<ConnectionView, ApiError> {
    let key = state.store.existing_local_key(tool.name())?;
    let seen = rota_gateway::read_connections_seen(&state.data_dir);
    Ok(rota_connect::view(
        tool,
        &state.data_dir,
        &state.gateway_url(),
        key.as_ref(),
        seen.get(tool.name()).copied(),
    ))
}

/// Where the app's gateway is and whether its Anthropic route serves other clients (as `rota
/// connect`: opencode's Anthropic provider goes through Rota exactly then), with `key`.
fn endpoint(state: &AppState, key: rota_store::Secret) -> Result<Endpoint, ApiError> {
    Ok(Endpoint {
        base_url: state.gateway_url(),
        key,
        anthropic_for_other_clients: rota_providers::anthropic_clients(
            &state.store.load()?,
            &state.providers.config,
        ) == rota_types::AnthropicClients::Any,
    })
}

/// After the Anthropic client setting changed: opencode, when connected to this app's
/// gateway, routes its Anthropic provider accordingly. A failure is logged; the setting stands.
pub fn follow_clients(state: &AppState) {
    let result = (|| -> Result<_, ApiError> {
        let Some(key) = state.store.existing_local_key(Tool::Opencode.name())? else {
            return Ok(None);
        };
        Ok(rota_connect::follow(
            Tool::Opencode,
            &state.data_dir,
            &endpoint(state, key)?,
        )?)
    })();
    match result {
        Ok(Some(done)) if !done.unchanged => {
            tracing::info!("opencode's settings follow the Anthropic client setting");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("opencode's settings could not follow the client setting: {e}"),
    }
}

pub fn list(state: &AppState) -> Result<Vec<ConnectionView>, ApiError> {
    Tool::ALL.into_iter().map(|t| view(state, t)).collect()
}

pub fn connect(state: &AppState, name: &str) -> Result<ConnectionChanged, ApiError> {
    let tool = tool(name)?;
    let endpoint = endpoint(state, state.store.local_key(tool.name())?)?;
    let done = rota_connect::connect(tool, &state.data_dir, &endpoint)?;
    let mut message = if done.unchanged {
        format!("{} already goes through Rota.", tool.display_name())
    } else {
        format!(
            "{} now goes through Rota from its next start (its settings: {}).",
            tool.display_name(),
            done.path.display()
        )
    };
    for note in &done.notes {
        message.push(' ');
        message.push_str(note);
    }
    Ok(ConnectionChanged {
        message,
        connection: view(state, tool)?,
    })
}

pub fn undo(state: &AppState, name: &str) -> Result<ConnectionChanged, ApiError> {
    let tool = tool(name)?;
    let done = rota_connect::undo(tool, &state.data_dir)?;
    state.store.revoke_local_key(tool.name())?;
    let message = match done {
        Undone::Restored { path, .. } => format!(
            "{} is back as it was before Rota ({}); its key is revoked.",
            tool.display_name(),
            path.display()
        ),
        Undone::RemovedSettings { path } => format!(
            "{} was edited since Rota connected it: Rota's settings were taken out of {}, your \
             edits kept; its key is revoked.",
            tool.display_name(),
            path.display()
        ),
        Undone::NothingToUndo { .. } => {
            format!("Rota had not connected {}.", tool.display_name())
        }
    };
    Ok(ConnectionChanged {
        message,
        connection: view(state, tool)?,
    })
}

/// Sends the tool's free probe to the app's gateway with the tool's key.
pub async fn test(state: &AppState, name: &str) -> Result<ConnectionTestResult, ApiError> {
    let tool = tool(name)?;
    let Some(key) = state.store.existing_local_key(tool.name())? else {
        return Ok(ConnectionTestResult {
            ok: false,
            message: format!("{} has no key yet: Connect it first.", tool.display_name()),
        });
    };
    let probe = rota_connect::probe(tool);
    let url = format!("{}{}", state.gateway_url(), probe.path);
    // Plain HTTP on loopback: no TLS, and never through a proxy the environment names.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let method = reqwest::Method::from_bytes(probe.method.as_bytes())
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let mut req = client
        .request(method, &url)
        .bearer_auth(key.expose())
        .timeout(std::time::Duration::from_secs(30));
    for (k, v) in probe.headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = probe.body {
        req = req.body(body);
    }
    let started = Instant::now();
    let (ok, message) = match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            rota_connect::describe_probe(tool, status, &body, ms)
        }
        Err(e) if e.is_connect() => (
            false,
            format!(
                "Rota's gateway is not running at {}: {} cannot reach it.",
                state.gateway_url(),
                tool.display_name()
            ),
        ),
        Err(e) => (false, format!("The test request failed: {e}")),
    };
    Ok(ConnectionTestResult { ok, message })
}
