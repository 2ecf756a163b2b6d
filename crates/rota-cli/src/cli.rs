//! The clap command tree (docs/interfaces.md §2).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Pool several AI subscription accounts per provider.
#[derive(Debug, Parser)]
#[command(name = "rota", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the accounts of each provider.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Run the gateway and the local HTTP API headless until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Point a coding tool (claude-code, codex, opencode) at Rota's gateway with a key of its
    /// own that survives restarts; --undo puts its file back; --list shows every connection.
    Connect(ConnectArgs),
    /// Print the shell lines that point SDKs and tools at Rota's gateway (with the `sdk`
    /// connection's key).
    Env(EnvArgs),
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// `claude-code`, `codex` or `opencode` (`sdk` with --revoke: the key `rota env` prints).
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    pub tool: Option<String>,
    /// Put the tool's file back as it was (byte for byte unless edited since) and revoke the
    /// connection's key.
    #[arg(long, conflicts_with = "revoke")]
    pub undo: bool,
    /// Revoke the connection's key only (the gateway refuses it from the next request on);
    /// the other connections keep working.
    #[arg(long)]
    pub revoke: bool,
    /// Every connection: where its file points, its key, when the gateway last saw it.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The shell to print for (default: from $SHELL).
    #[arg(long, value_parser = ["bash", "zsh", "fish", "powershell"])]
    pub shell: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (default: `ROTA_GATEWAY_PORT`, else config.toml's `[gateway] port`,
    /// else 4141; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Providers with their account counts, where the store is and how secrets are kept.
    #[command(visible_alias = "ls")]
    List(JsonFlag),
    /// Per account: active, cooldown, needs re-login, request counts and the usage windows.
    Usage(UsageArgs),
    /// Make another account the active one (interactive without arguments).
    Switch(SwitchArgs),
    /// Remove one account or all of a provider's accounts (interactive without arguments).
    Logout(LogoutArgs),
    /// Give an account another label.
    Rename(RenameArgs),
    /// Import the login of another tool (never modifies its file).
    Import(ImportArgs),
    /// Log in to a provider account in the terminal; the new login becomes the active one.
    Login(LoginArgs),
    /// Write the active account into Claude Code's, Codex CLI's or opencode's own login file on
    /// every switch (on|off|status).
    Handoff(HandoffArgs),
    /// Switch before the limit: leave an account at 95 % of any window for the one with the
    /// most headroom (on|off|status; runs in the app and `rota serve`).
    Proactive(ProactiveArgs),
    /// Which clients the gateway's Anthropic route serves: claude-code (default) or any
    /// (Anthropic bills other clients' subscription traffic as paid extra usage).
    Clients(ClientsArgs),
    /// The switch history: when, from which account to which, and why.
    Log(LogArgs),
    /// What the store repaired after a crash or a damaged file (every command warns until
    /// acknowledged with `--ack`).
    Recovery(RecoveryArgs),
    /// Redeem one OpenAI rate-limit reset credit on an account (the active one by default):
    /// both windows are cleared. Safe to repeat; never redeems twice for one request.
    Redeem(RedeemArgs),
    /// Redeem an OpenAI reset credit on its own when every OpenAI account is exhausted (once
    /// per exhaustion; on|off|status; runs in the app and `rota serve`).
    AutoRedeem(AutoRedeemArgs),
}

#[derive(Debug, Args)]
pub struct AutoRedeemArgs {
    #[arg(value_enum, default_value = "status")]
    pub action: Toggle,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    /// Mark the reported recoveries as seen: no more warnings about them.
    #[arg(long)]
    pub ack: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RedeemArgs {
    /// `openai`.
    pub provider: String,
    /// Account id, id prefix (4+ characters) or label; the active account when omitted.
    pub account: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    On,
    Off,
    Status,
}

#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: String,
    /// Turn hand-off on or off, or show where it writes and what the target holds.
    #[arg(value_enum, default_value = "status")]
    pub action: Toggle,
    /// The login file to write instead of the tool's usual location.
    #[arg(long, value_name = "PATH")]
    pub target: Option<PathBuf>,
    /// The tool to hand off to (default: Claude Code for anthropic, Codex CLI for openai,
    /// opencode for github-copilot).
    #[arg(long, value_enum)]
    pub tool: Option<ImportFrom>,
    /// Overwrite a login in the target that is not one of Rota's accounts.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ProactiveArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: String,
    #[arg(value_enum, default_value = "status")]
    pub action: Toggle,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientsArgs {
    /// `anthropic` (the only provider with this setting).
    pub provider: String,
    #[arg(value_enum, default_value = "status")]
    pub action: ClientsAction,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientsAction {
    /// Serve only Claude Code (its User-Agent).
    ClaudeCode,
    /// Serve any client (their requests may be billed as paid extra usage).
    Any,
    Status,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this provider.
    pub provider: Option<String>,
    /// Show the last N switches.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print the result as JSON (the HTTP API's shapes).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this provider (`anthropic`, `openai`, `github-copilot`).
    pub provider: Option<String>,
    /// Show the stored values without fetching (no network).
    #[arg(long)]
    pub cached: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: Option<String>,
    /// Account id, id prefix (4+ characters) or label.
    pub account: Option<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: Option<String>,
    /// Account id, id prefix (4+ characters) or label.
    #[arg(conflicts_with = "all")]
    pub account: Option<String>,
    /// Remove every account of the provider (asks first on a terminal).
    #[arg(long)]
    pub all: bool,
    /// With --all: remove without asking (for scripts).
    #[arg(long, short = 'y', requires = "all")]
    pub yes: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: String,
    /// Account id, id prefix (4+ characters) or label.
    pub account: String,
    /// The new label.
    pub label: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Whose login to import.
    pub source: ImportFrom,
    /// The login file (default: the tool's usual location).
    #[arg(long)]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// `anthropic`, `openai` or `github-copilot`.
    pub provider: String,
    /// OpenAI: use the device-code flow instead of the browser and loopback callback.
    #[arg(long)]
    pub device: bool,
    /// GitHub Copilot: a GitHub Enterprise domain (e.g. `ghe.example.com`).
    #[arg(long, value_name = "DOMAIN")]
    pub enterprise: Option<String>,
    /// Anthropic: the `code#state` (or the redirect URL) the authorize page shows, for scripts.
    // Codes are base64url: one in 64 starts with `-`, which must not read as a flag.
    #[arg(long, value_name = "CODE#STATE", allow_hyphen_values = true)]
    pub code: Option<String>,
    /// Do not try to open a browser; only print the URL.
    #[arg(long)]
    pub no_browser: bool,
    /// Give up waiting for the browser or the device approval after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub timeout: u64,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// The tools whose logins can be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFrom {
    /// `~/.claude/.credentials.json`
    ClaudeCode,
    /// `~/.codex/auth.json`
    Codex,
    /// `~/.local/share/opencode/auth.json`
    Opencode,
}

impl Cli {
    /// Whether `--json` was given (errors are then printed as JSON too).
    #[must_use]
    pub fn json(&self) -> bool {
        let auth = match &self.command {
            Command::Auth(auth) => auth,
            Command::Connect(c) => return c.json.json,
            Command::Serve(_) | Command::Env(_) => return false,
        };
        match auth {
            AuthCommand::List(j) => j.json,
            AuthCommand::Usage(a) => a.json.json,
            AuthCommand::Switch(a) => a.json.json,
            AuthCommand::Logout(a) => a.json.json,
            AuthCommand::Rename(a) => a.json.json,
            AuthCommand::Import(a) => a.json.json,
            AuthCommand::Login(a) => a.json.json,
            AuthCommand::Handoff(a) => a.json.json,
            AuthCommand::Proactive(a) => a.json.json,
            AuthCommand::Clients(a) => a.json.json,
            AuthCommand::Log(a) => a.json.json,
            AuthCommand::Recovery(a) => a.json.json,
            AuthCommand::Redeem(a) => a.json.json,
            AuthCommand::AutoRedeem(a) => a.json.json,
        }
    }
}
