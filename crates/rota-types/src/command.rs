//! Every Tauri command, declared once: its name, request type and response type.
//!
//! `src-tauri` registers a handler per name (its build script declares the permissions from
//! [`COMMAND_NAMES`]), and `ui/src/ipc.rs` calls them through [`Command`], so a renamed command
//! or a changed shape fails to compile or fails a test instead of failing at run time.
//! Each command takes one argument named `request` and answers its response or an
//! [`ApiError`](crate::ApiError).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::UnixMs;
use crate::account::{AccountSummary, PoolSnapshot};
// One request family per shape: the HTTP API's account requests are the commands' too.
pub use crate::api::{AccountRequest, RenameRequest};
use crate::api::{RemoveAccountResponse, SetActiveResponse, SuccessResponse, UsageResponse};
use crate::connection::{
    ConnectionChanged, ConnectionRequest, ConnectionTestResult, ConnectionView,
};
use crate::handoff::HandoffStatus;
use crate::provider::{ProviderId, ProviderInfo};
use crate::recovery::RecoveriesResponse;
use crate::reset_credits::{AutoRedeemStatus, RedeemResponse};
use crate::session::{SessionDetail, SessionSummary};
use crate::switch::SwitchReason;

/// A Tauri command: the IPC name and the request/response shapes.
pub trait Command {
    const NAME: &'static str;
    type Request: Serialize + DeserializeOwned;
    type Response: Serialize + DeserializeOwned;
}

macro_rules! commands {
    ($( $(#[$doc:meta])* $ty:ident = $name:literal : $req:ty => $resp:ty; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $ty {}
            impl Command for $ty {
                const NAME: &'static str = $name;
                type Request = $req;
                type Response = $resp;
            }
        )*
        /// The names of all commands, for the app manifest and the handler-list test.
        pub const COMMAND_NAMES: &[&str] = &[$($name),*];
    };
}

commands! {
    /// Version, data directory, gateway address and links for the About tab and empty state.
    AppInfoCmd = "app_info": Empty => AppInfo;
    /// Supported providers (alphabetical) with their account counts (connected = has accounts).
    ListProvidersCmd = "list_providers": Empty => ListProvidersResponse;
    /// A provider pool: `{records, orderedIDs, activeID}` (no secrets).
    SnapshotCmd = "snapshot": PoolRequest => PoolSnapshot;
    /// A provider's accounts in rotation order, exactly one `isActive` when non-empty.
    GetAccountsCmd = "get_accounts": PoolRequest => Vec<AccountSummary>;
    /// Makes an account active (switch reason `manual:app`); unknown id → `not_found`.
    SetActiveCmd = "set_active": AccountRequest => SetActiveResponse;
    /// Removes one account and its secrets; `remaining` counts the provider's accounts left.
    RemoveRecordCmd = "remove_record": AccountRequest => RemoveAccountResponse;
    /// Asked before a switch by hand: why the account cannot serve now and who serves
    /// meanwhile (the gateway's own choice), or no text when it can serve. Unknown account →
    /// `not_found`.
    SwitchCaveatCmd = "switch_caveat": AccountRequest => SwitchCaveatResponse;
    /// Renames an account (label trimmed, 1–64 characters, no control characters).
    RenameRecordCmd = "rename_record": RenameRequest => SuccessResponse;
    /// Every provider with accounts, its accounts and their last usage: as cached in the store,
    /// or fetched from the providers first (in parallel) with `refresh: true`. A failed fetch
    /// keeps the last good value with its age.
    UsageCmd = "usage": UsageRequest => UsageResponse;
    /// UI preferences (kept in tauri-plugin-store, never accounts or tokens).
    UiPrefsGetCmd = "ui_prefs_get": Empty => UiPrefs;
    UiPrefsSetCmd = "ui_prefs_set": UiPrefs => UiPrefs;
    /// Opens one of the app's own links in the user's browser (only known links, never a URL
    /// from the webview).
    OpenLinkCmd = "open_link": OpenLinkRequest => Empty;
    /// Whether the app's local gateway runs: its bound address, or why it could not start.
    GatewayStatusCmd = "gateway_status": Empty => GatewayStatusResponse;
    /// Gateway sessions, most recent first (empty while the gateway is not running).
    SessionsCmd = "sessions": Empty => Vec<SessionSummary>;
    /// One session with its recent requests; unknown id → `not_found`.
    SessionDetailCmd = "session_detail": SessionRequest => SessionDetail;
    /// Starts a provider's login flow; progress arrives as `login-progress` events.
    BeginLoginCmd = "begin_login": BeginLoginRequest => LoginStarted;
    /// Finishes a paste flow (Anthropic) with the pasted `code#state` or redirect URL. A wrong
    /// code answers `invalid_input` and the flow stays open for another try.
    CompleteLoginCmd = "complete_login": CompleteLoginRequest => AccountSummary;
    /// Opens a flow's sign-in page (authorize or device-verification URL) in the browser again.
    OpenLoginPageCmd = "open_login_page": FlowRequest => Empty;
    /// Ends a flow (closes its loopback listener, stops polling). Unknown ids are fine.
    CancelLoginCmd = "cancel_login": FlowRequest => Empty;
    /// Imports the accounts of a tool's own login file (Claude Code, Codex CLI, opencode).
    ImportAccountsCmd = "import_accounts": ImportAccountsRequest => ImportAccountsResponse;
    /// Hand-off and proactive-switch status of a provider (Provider Detail).
    HandoffStatusCmd = "handoff_status": PoolRequest => HandoffStatus;
    /// Turns hand-off on (writing the active account into the tool's login at once) or off.
    HandoffSetCmd = "handoff_set": HandoffSetRequest => HandoffStatus;
    /// Turns proactive switching before the limit on or off.
    ProactiveSetCmd = "proactive_set": ProactiveSetRequest => HandoffStatus;
    /// Which clients the gateway's Anthropic route serves (`rota auth clients`).
    AnthropicClientsSetCmd = "anthropic_clients_set": AnthropicClientsSetRequest => HandoffStatus;
    /// The switch log, newest first, with account labels and why each switch happened.
    SwitchLogCmd = "switch_log": SwitchLogRequest => Vec<SwitchLogItem>;
    /// App settings (background usage polling, notifications).
    SettingsGetCmd = "settings_get": Empty => AppSettings;
    SettingsSetCmd = "settings_set": AppSettings => AppSettings;
    /// What the store repaired after a crash or a damaged file and the user has not yet
    /// acknowledged (any process's repairs).
    RecoveriesCmd = "recoveries": Empty => RecoveriesResponse;
    /// The user has seen them: no surface reports them any more. Answers the acknowledged ones.
    AcknowledgeRecoveriesCmd = "acknowledge_recoveries": Empty => RecoveriesResponse;
    /// Claude Code, Codex CLI and opencode: where each one's config points, last request seen.
    ListConnectionsCmd = "list_connections": Empty => Vec<ConnectionView>;
    /// Points a tool's config at this Rota with its stable key (what `rota connect` does).
    ConnectToolCmd = "connect_tool": ConnectionRequest => ConnectionChanged;
    /// Puts a tool's config back as it was and revokes its key (`rota connect --undo`).
    UndoConnectionCmd = "undo_connection": ConnectionRequest => ConnectionChanged;
    /// Sends a request that costs the account nothing through the gateway with the tool's key
    /// and says what came back.
    TestConnectionCmd = "test_connection": ConnectionRequest => ConnectionTestResult;
    /// Redeems one OpenAI reset credit on the account (what `rota auth redeem` does): the
    /// provider's answer, `reset` … `no_credit`; non-OpenAI → `invalid_input`.
    RedeemResetCreditCmd = "redeem_reset_credit": AccountRequest => RedeemResponse;
    /// The automatic reset-credit redeem setting.
    AutoRedeemGetCmd = "auto_redeem_get": Empty => AutoRedeemStatus;
    /// Turns it on or off in `config.toml`; `conflict` when `ROTA_OPENAI_AUTO_REDEEM` decides.
    AutoRedeemSetCmd = "auto_redeem_set": AutoRedeemSetRequest => AutoRedeemStatus;
}

/// `auto_redeem_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoRedeemSetRequest {
    pub enabled: bool,
}

/// `session_detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    #[serde(rename = "sessionID")]
    pub session_id: String,
}

/// How a login runs where the provider offers a choice (OpenAI: browser with a loopback
/// callback, or a device code for machines without a browser).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// The provider's usual flow: Anthropic paste, OpenAI browser + loopback, GitHub device.
    #[default]
    Default,
    /// Device code (OpenAI; GitHub always uses it).
    Device,
}

/// `begin_login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeginLoginRequest {
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    #[serde(default)]
    pub method: LoginMethod,
}

/// What the dialog shows for a started flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum LoginPrompt {
    /// Open `authorizeUrl`, sign in, paste the `code#state` the page shows (Anthropic).
    Paste { authorize_url: String },
    /// Open `authorizeUrl` in a browser on this machine; the callback arrives on `port`.
    Browser { authorize_url: String, port: u16 },
    /// Enter `userCode` at `verificationUri`.
    Device {
        user_code: String,
        verification_uri: String,
    },
}

/// `begin_login`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginStarted {
    #[serde(rename = "flowID")]
    pub flow_id: String,
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    pub prompt: LoginPrompt,
    /// A notice to show before the user signs in (Anthropic's policy, docs/product.md §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Seconds the flow waits before giving up.
    pub expires_in_secs: u64,
}

/// `complete_login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteLoginRequest {
    #[serde(rename = "flowID")]
    pub flow_id: String,
    /// `code#state` or the redirect URL (a secret: never logged).
    pub code: String,
}

/// `cancel_login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRequest {
    #[serde(rename = "flowID")]
    pub flow_id: String,
}

/// `import_accounts`: a tool name (`claude-code`, `codex`, `opencode`) and optionally its
/// file (else the tool's default location).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportAccountsRequest {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportAccountsResponse {
    /// Labels of the accounts added or updated.
    pub imported: Vec<String>,
    /// Entries that were not imported, with why.
    pub skipped: Vec<String>,
}

/// App behaviour the user can change (kept in the data directory beside the state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSettings {
    /// Background usage polling (docs/product.md §6, §9); manual refreshes work when it is off.
    pub usage_polling: bool,
    /// Desktop notifications for automatic switches, exhausted pools and re-logins.
    pub notifications: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            usage_polling: true,
            notifications: true,
        }
    }
}

/// The state of the app's local gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayState {
    /// Launched, not bound yet.
    Starting,
    Running,
    /// Could not start (e.g. the port is in use); `message` says why.
    Failed,
    Stopped,
}

/// `gateway_status`: `{state, address?, message?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatusResponse {
    pub state: GatewayState,
    /// `127.0.0.1:<port>` while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Why the gateway is not running (failed), for the header's tooltip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A request or response without fields (`{}` on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub name: String,
    pub version: String,
    /// Where accounts, state and the vault live (home shortened to `~`).
    pub data_dir: String,
    /// Base address of the local gateway, e.g. `http://127.0.0.1:4141`: the bound one while it
    /// runs, else the configured one.
    pub gateway_url: String,
    pub links: Vec<AppLink>,
    /// Where secrets are kept, for Settings → About.
    pub secret_backend: SecretBackendInfo,
}

/// The secret backend in use and, for the plaintext fallback, the warning to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretBackendInfo {
    /// E.g. `OS keychain (encrypted vault)` or `plaintext file (0600)`.
    pub label: String,
    /// Set when `auto` found no working keychain and fell back to the plaintext file.
    #[serde(default)]
    pub warning: Option<String>,
}

/// Longest provider id, record id or namespace a command accepts (characters).
pub const MAX_ID_CHARS: usize = 64;

/// A provider pool to read (`snapshot`, `get_accounts`). The provider is a string so an unknown
/// one is answered with `invalid_input` by the command rather than a deserialisation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `switch_caveat`: `Account 2 is cooling down for 12m; until then requests go to Account 1.`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchCaveatResponse {
    /// `null` when the account can serve a request now.
    pub text: Option<String>,
}

/// `usage`: cached values; `refresh` is reserved for the live fetch (see [`UsageCmd`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    #[serde(default)]
    pub refresh: bool,
}

/// The app's own links; the webview names one by kind and the shell opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Repository,
    Documentation,
    Community,
    Issues,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppLink {
    pub kind: LinkKind,
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenLinkRequest {
    pub kind: LinkKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListProvidersResponse {
    pub providers: Vec<ProviderListing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderListing {
    #[serde(flatten)]
    pub info: ProviderInfo,
    pub account_count: u32,
    /// The active account's label (`null` without accounts).
    #[serde(default)]
    pub active_label: Option<String>,
    /// Accounts waiting for a new sign-in.
    #[serde(default)]
    pub needs_reauth: u32,
    /// Accounts cooling down after a limit.
    #[serde(default)]
    pub cooling_down: u32,
}

/// Tabs of the Settings dialog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingsTab {
    #[default]
    Providers,
    ProviderDetail,
    /// Switch history.
    History,
    /// Which coding tools go through this Rota (Connect, Undo, Test).
    Connections,
    About,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UiPrefs {
    /// The Settings tab shown when the dialog opens.
    #[serde(default)]
    pub last_tab: SettingsTab,
}

/// `handoff_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffSetRequest {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub enabled: bool,
    /// Overwrite a login in the tool's file that Rota does not know (asked for explicitly).
    #[serde(default)]
    pub force: bool,
}

/// `proactive_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProactiveSetRequest {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub enabled: bool,
}

/// `anthropic_clients_set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnthropicClientsSetRequest {
    pub clients: crate::AnthropicClients,
}

/// `switch_log`: one provider's or every provider's switches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchLogRequest {
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One switch as the history view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchLogItem {
    pub at: UnixMs,
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    /// Label of the account switched away from (`null` when there was none, and in a row about
    /// one account such as a removal; "removed account" when it is gone).
    pub from: Option<String>,
    pub to: String,
    pub reason: SwitchReason,
    /// `rate limited (5-hour)`, `proactive (5-hour at 96 %)`, `manual (tray)`, …
    pub reason_text: String,
}
