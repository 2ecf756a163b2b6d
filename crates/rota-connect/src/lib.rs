//! Connections: a coding tool's own config file pointed at Rota's gateway with the tool's
//! stable local key (the vault's `local-key:<tool>`, see rota-store), so the tool's plain
//! command goes through Rota in every new shell and after every restart.
//!
//! One module per tool knows its file (where it is, how it parses, which keys Rota sets);
//! this module does the rest the same way for all of them:
//!
//! - **connect**: read the file (a file that does not parse is refused with the reason and left
//!   alone), keep a copy of its bytes as it was before Rota's first change
//!   (`<data dir>/connections/<tool>.orig`, 0600) with a manifest (`<tool>.json`: the path,
//!   whether the file existed, the hash of what Rota wrote, the values Rota replaced), set
//!   Rota's keys keeping every other key, write atomically (temp file, fsync, rename; a
//!   symlinked file is written through its link).
//! - **undo**: when the file is still exactly what Rota wrote, the original bytes come back
//!   byte for byte (or the file is removed when there was none); when it was edited since,
//!   only Rota's keys are taken out (the values they replaced put back) and the edits stay.
//! - **state**: connected to this Rota, pointing elsewhere, changed by hand, or not connected.
//!
//! No network. Keys appear only in the tool's file (the credential it holds) and in the vault.
//!
//! Modules: `claude` (Claude Code's `settings.json` `env`, and the JSON path helpers), `codex`
//! (Codex CLI's `config.toml` model provider, edited with `toml_edit`), `opencode` (its provider
//! options; Anthropic only when the gateway serves other clients), `files` (the shared steps
//! above); [`env_lines`] for `rota env`. The tools' files: docs/connect.md.

mod claude;
mod codex;
mod files;
mod opencode;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rota_store::Secret;
use serde::{Deserialize, Serialize};

pub use files::ConnectError;

/// A tool Rota can connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    ClaudeCode,
    Codex,
    Opencode,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::ClaudeCode, Tool::Codex, Tool::Opencode];

    /// The connection name (also the local key's name and the CLI argument).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Codex => "codex",
            Self::Opencode => "opencode",
        }
    }

    #[must_use]
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "Claude Code",
            Self::Codex => "Codex CLI",
            Self::Opencode => "opencode",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s || (s == "claude" && *t == Self::ClaudeCode))
    }

    /// The tool's user config file, honouring its own variables (`CLAUDE_CONFIG_DIR`,
    /// `CODEX_HOME`, `OPENCODE_CONFIG` / `XDG_CONFIG_HOME`).
    pub fn config_path(self) -> Result<PathBuf, ConnectError> {
        let home = || dirs::home_dir().ok_or(ConnectError::NoHome);
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(match self {
            Self::ClaudeCode => var("CLAUDE_CONFIG_DIR")
                .map_or_else(
                    || home().map(|h| h.join(".claude")),
                    |d| Ok(PathBuf::from(d)),
                )?
                .join("settings.json"),
            Self::Codex => var("CODEX_HOME")
                .map_or_else(
                    || home().map(|h| h.join(".codex")),
                    |d| Ok(PathBuf::from(d)),
                )?
                .join("config.toml"),
            Self::Opencode => match var("OPENCODE_CONFIG") {
                Some(p) => PathBuf::from(p),
                None => var("XDG_CONFIG_HOME")
                    .map_or_else(
                        || home().map(|h| h.join(".config")),
                        |d| Ok(PathBuf::from(d)),
                    )?
                    .join("opencode")
                    .join("opencode.json"),
            },
        })
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a connection points the tool at.
#[derive(Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:<port>` of the gateway.
    pub base_url: String,
    /// The tool's local key.
    pub key: Secret,
    /// Whether the gateway's Anthropic route serves clients other than Claude Code (decides
    /// whether opencode's Anthropic provider is routed through Rota).
    pub anthropic_for_other_clients: bool,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field(
                "anthropic_for_other_clients",
                &self.anthropic_for_other_clients,
            )
            .finish_non_exhaustive()
    }
}

/// `http://127.0.0.1:<port>`.
#[must_use]
pub fn gateway_base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// One setting as the tool's file holds it: a dotted path (`env.ANTHROPIC_BASE_URL`) and its
/// value (`None`: absent).
pub(crate) type Settings = BTreeMap<String, Option<String>>;

/// Where a tool's file points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ConnectionState {
    /// The file sends the tool through this Rota with its current key.
    Connected,
    /// Not connected, and no Rota settings in the file.
    NotConnected,
    /// The file points the tool at another address (another gateway, another port, the
    /// provider itself) — not set by Rota.
    Elsewhere { url: String },
    /// Rota connected it, and the file was edited since so that it no longer goes through
    /// this Rota (`url`: where it points now, if anywhere).
    ChangedByHand { url: Option<String> },
    /// Points at this Rota with a key that is not the connection's current one (revoked).
    StaleKey,
    /// The file does not parse.
    Unreadable { reason: String },
}

impl ConnectionState {
    /// One line for people.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Connected => "connected to this Rota".to_owned(),
            Self::NotConnected => "not connected".to_owned(),
            Self::Elsewhere { url } => format!("pointing elsewhere ({url})"),
            Self::ChangedByHand { url: Some(url) } => {
                format!("changed by hand since Rota connected it (now {url})")
            }
            Self::ChangedByHand { url: None } => {
                "changed by hand since Rota connected it (Rota's settings removed)".to_owned()
            }
            Self::StaleKey => "points at this Rota with a revoked key (connect again)".to_owned(),
            Self::Unreadable { reason } => format!("file cannot be read: {reason}"),
        }
    }
}

/// What `connect` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub tool: Tool,
    pub path: PathBuf,
    /// Nothing was written: the file already held exactly these settings.
    pub unchanged: bool,
    /// The copy of the file as it was before Rota first changed it (`None`: there was no
    /// file).
    pub backup: Option<PathBuf>,
    /// Tool-specific facts worth a line (which providers go through Rota, …).
    pub notes: Vec<String>,
}

/// What `undo` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The file is byte for byte what it was before Rota's first change (or removed again).
    Restored { path: PathBuf, removed: bool },
    /// The file had been edited since: only Rota's settings were taken out.
    RemovedSettings { path: PathBuf },
    /// Rota had not connected this tool.
    NothingToUndo { path: PathBuf },
}

/// One row of `rota connect --list` and Settings → Connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub tool: Tool,
    pub path: PathBuf,
    pub state: ConnectionState,
    /// Whether the connection has a local key in the vault.
    pub has_key: bool,
}

/// Connects `tool`: writes `endpoint` into its config file (see the module docs).
pub fn connect(
    tool: Tool,
    data_dir: &Path,
    endpoint: &Endpoint,
) -> Result<Connected, ConnectError> {
    files::connect(tool, &tool.config_path()?, data_dir, endpoint)
}

/// Writes `tool`'s settings again when its file sends it through this Rota (`endpoint`'s
/// address and key), so a change of what it should route reaches it: opencode's Anthropic
/// provider follows the gateway's client setting. `None` when the tool is not connected here
/// (nothing is written then).
pub fn follow(
    tool: Tool,
    data_dir: &Path,
    endpoint: &Endpoint,
) -> Result<Option<Connected>, ConnectError> {
    match state(tool, data_dir, &endpoint.base_url, Some(&endpoint.key))? {
        ConnectionState::Connected => connect(tool, data_dir, endpoint).map(Some),
        _ => Ok(None),
    }
}

/// Undoes `tool`'s connection (see the module docs).
pub fn undo(tool: Tool, data_dir: &Path) -> Result<Undone, ConnectError> {
    files::undo(tool, &tool.config_path()?, data_dir)
}

/// Where `tool`'s file points, compared with `endpoint` (`None`: the connection has no key).
pub fn state(
    tool: Tool,
    data_dir: &Path,
    base_url: &str,
    key: Option<&Secret>,
) -> Result<ConnectionState, ConnectError> {
    Ok(files::state(
        tool,
        &tool.config_path()?,
        data_dir,
        base_url,
        key,
    ))
}

/// Shell lines that point SDKs and tools started from that shell at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    PowerShell,
}

impl Shell {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bash" | "sh" => Some(Self::Bash),
            "zsh" => Some(Self::Zsh),
            "fish" => Some(Self::Fish),
            "powershell" | "pwsh" => Some(Self::PowerShell),
            _ => None,
        }
    }

    /// The user's shell from `$SHELL` (bash when unknown).
    #[must_use]
    pub fn from_env() -> Self {
        std::env::var("SHELL")
            .ok()
            .and_then(|s| {
                Path::new(&s)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(Self::parse)
            })
            .unwrap_or(Self::Bash)
    }

    fn line(self, name: &str, value: &str) -> String {
        match self {
            Self::Bash | Self::Zsh => format!("export {name}='{}'", value.replace('\'', r"'\''")),
            Self::Fish => format!(
                "set -gx {name} '{}'",
                value.replace('\\', r"\\").replace('\'', r"\'")
            ),
            Self::PowerShell => format!("$env:{name} = '{}'", value.replace('\'', "''")),
        }
    }
}

/// The variables the official SDKs (and Claude Code, Codex with `OPENAI_BASE_URL`) read, for
/// the `sdk` connection's key: Anthropic's `ANTHROPIC_BASE_URL` + `ANTHROPIC_AUTH_TOKEN`
/// (sent as `Authorization: Bearer`), OpenAI's `OPENAI_BASE_URL` + `OPENAI_API_KEY`.
#[must_use]
pub fn env_lines(shell: Shell, base_url: &str, key: &Secret) -> Vec<String> {
    [
        ("ANTHROPIC_BASE_URL", format!("{base_url}/anthropic")),
        ("ANTHROPIC_AUTH_TOKEN", key.expose().to_owned()),
        ("OPENAI_BASE_URL", format!("{base_url}/openai")),
        ("OPENAI_API_KEY", key.expose().to_owned()),
    ]
    .iter()
    .map(|(k, v)| shell.line(k, v))
    .collect()
}

/// The connection name of `rota env`'s key.
pub const SDK_CONNECTION: &str = "sdk";

/// `tool`'s row for the UI (`key`: the connection's current key; `last_seen` from the
/// gateways' note).
pub fn view(
    tool: Tool,
    data_dir: &Path,
    base_url: &str,
    key: Option<&Secret>,
    last_seen: Option<rota_types::UnixMs>,
) -> rota_types::ConnectionView {
    use rota_types::ConnectionStateKind as K;
    let (state, path) = match tool.config_path() {
        Ok(path) => (
            files::state(tool, &path, data_dir, base_url, key),
            tilde(&path),
        ),
        Err(e) => (
            ConnectionState::Unreadable {
                reason: e.to_string(),
            },
            String::new(),
        ),
    };
    let kind = match &state {
        ConnectionState::Connected => K::Connected,
        ConnectionState::NotConnected => K::NotConnected,
        ConnectionState::Elsewhere { .. } => K::Elsewhere,
        ConnectionState::ChangedByHand { .. } => K::ChangedByHand,
        ConnectionState::StaleKey => K::StaleKey,
        ConnectionState::Unreadable { .. } => K::Unreadable,
    };
    rota_types::ConnectionView {
        connection: tool.name().to_owned(),
        display_name: tool.display_name().to_owned(),
        path,
        state: kind,
        state_text: state.describe(),
        last_seen,
    }
}

/// `~/…` for paths under the home directory.
fn tilde(path: &Path) -> String {
    match dirs::home_dir().and_then(|h| path.strip_prefix(h).ok().map(Path::to_owned)) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// A request through the gateway that checks a connection end to end (its key, the route, an
/// account's credential upstream) and costs the account nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub method: &'static str,
    /// Path on the gateway (`/anthropic/v1/messages/count_tokens`).
    pub path: &'static str,
    pub body: Option<&'static str>,
    /// Headers the tool itself would send (besides the key).
    pub headers: &'static [(&'static str, &'static str)],
    /// What is sent and why it is free, for the result's wording.
    pub what: &'static str,
}

/// The free request for `tool`: Anthropic's token count (runs no model, not billed, no usage
/// window moves) for Claude Code; the ChatGPT backend's model list for Codex CLI and opencode
/// (a listing, no model runs). Claude Code's User-Agent is sent because the gateway's Anthropic
/// route may serve Claude Code only.
#[must_use]
pub fn probe(tool: Tool) -> Probe {
    match tool {
        Tool::ClaudeCode => Probe {
            method: "POST",
            path: "/anthropic/v1/messages/count_tokens",
            body: Some(
                r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Rota connection test"}]}"#,
            ),
            headers: &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
                ("user-agent", "claude-cli/2.1.330 (external, cli)"),
            ],
            what: "a token count (Anthropic's count_tokens runs no model and is not billed)",
        },
        Tool::Codex | Tool::Opencode => Probe {
            method: "GET",
            path: "/openai/models?client_version=0.171.0",
            body: None,
            headers: &[("accept", "application/json")],
            what: "the model list (the ChatGPT backend's listing runs no model)",
        },
    }
}

/// The probe's answer in words (`body`: the gateway's answer, to tell its own refusal of the
/// key from the provider's).
#[must_use]
pub fn describe_probe(tool: Tool, status: u16, body: &str, elapsed_ms: u64) -> (bool, String) {
    let what = probe(tool).what;
    let name = tool.display_name();
    match status {
        200..=299 => (
            true,
            format!("{name} works through Rota: the gateway answered {what} in {elapsed_ms} ms."),
        ),
        401 if body.contains("local key") => (
            false,
            format!(
                "The gateway refused {name}'s key: it was revoked or never issued. Connect \
                 {name} again."
            ),
        ),
        429 => (
            false,
            format!("{name}'s key works, but every account answered 429 (rate-limited) to {what}."),
        ),
        _ => (
            false,
            format!("{name}'s key works, but the provider answered {what} with status {status}."),
        ),
    }
}
