//! Connections (Settings → Connections, the main window's empty state): which coding tools
//! send their requests through this Rota. Never holds a key.

use serde::{Deserialize, Serialize};

use crate::UnixMs;

/// Where a tool's config file points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStateKind {
    /// Through this Rota with the connection's current key.
    Connected,
    NotConnected,
    /// At another address Rota did not write.
    Elsewhere,
    /// Rota connected it; the file was edited since and no longer goes through this Rota.
    ChangedByHand,
    /// Points here with a key that was revoked.
    StaleKey,
    /// The file does not parse.
    Unreadable,
}

/// One connection as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    /// `claude-code`, `codex`, `opencode`.
    pub connection: String,
    /// `Claude Code`, `Codex CLI`, `opencode`.
    pub display_name: String,
    /// The tool's config file (home shown as `~`).
    pub path: String,
    pub state: ConnectionStateKind,
    /// The state in words (`connected to this Rota`, `pointing elsewhere (…)`).
    pub state_text: String,
    /// When the gateway last saw a request with this connection's key.
    pub last_seen: Option<UnixMs>,
}

/// `connect_tool`, `undo_connection`, `test_connection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRequest {
    pub connection: String,
}

/// What Connect or Undo did, in words, and the connection afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionChanged {
    pub message: String,
    pub connection: ConnectionView,
}

/// The outcome of *Test*: a free request sent through the gateway with the connection's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestResult {
    pub ok: bool,
    /// What was sent, why it is free, and what came back.
    pub message: String,
}
