//! Wire types shared by every Rota surface: the desktop app's IPC, the UI (wasm32), the local
//! HTTP API and `rota … --json`. One definition per shape, so the surfaces cannot drift; plus the
//! pure display helpers (percent, colour, reset and age text) the CLI and the UI share.
//!
//! Boundaries: this crate depends on `serde` only and must compile to `wasm32-unknown-unknown`.
//! It holds no IO, no clocks and never a secret: a type that could carry a token does not belong
//! here. Field names on the wire are camelCase with the seed's spellings (`providerID`, …).
//! Times on the wire are unix milliseconds ([`UnixMs`]), like the seed's `cooldownUntil`.

pub mod account;
pub mod api;
pub mod command;
pub mod connection;
pub mod display;
pub mod error;
pub mod event;
pub mod handoff;
pub mod provider;
pub mod recovery;
pub mod reset_credits;
pub mod session;
pub mod switch;
pub mod usage;

/// A point in time on the wire: milliseconds since the unix epoch (UTC).
pub type UnixMs = i64;

pub use account::{
    AccountHealth, AccountIdentity, AccountSummary, AnthropicClients, ExhaustionEstimate,
    ExtraUsageKind, ExtraUsageMark, PoolSnapshot, is_claude_code_user_agent,
};
pub use api::{
    AccountRequest, DEFAULT_NAMESPACE, HealthzResponse, HttpErrorBody, MAX_LABEL_CHARS,
    ProviderUsageEntry, RemoveAccountResponse, RenameRequest, SetActiveResponse, SuccessResponse,
    UsageResponse,
};
pub use command::{COMMAND_NAMES, Command};
pub use connection::{
    ConnectionChanged, ConnectionRequest, ConnectionStateKind, ConnectionTestResult, ConnectionView,
};
pub use error::{ApiError, ErrorCode};
pub use event::{
    Event, LoginProgress, LoginState, PoolChanged, SessionUpdated, Switched, UsageUpdated,
};
pub use handoff::{HandoffStatus, HandoffTool, TargetState};
pub use provider::{ProviderId, ProviderInfo, UnknownProvider};
pub use recovery::{RecoveriesResponse, RecoveryKind, RecoveryNotice};
pub use reset_credits::{
    AutoRedeemStatus, RedeemCode, RedeemRequest, RedeemResponse, ResetCredit, ResetCredits,
};
pub use session::{SessionDetail, SessionRequest, SessionSummary, TokenUsage, context_window};
pub use switch::{SwitchDetail, SwitchLogEntry, SwitchReason};
pub use usage::{
    AnthropicExtra, AnthropicUsage, CopilotUsage, LegacyWindow, LimitStatus, OpenAiUsage,
    ProviderUsage, Severity, UsageSnapshot, UsageWindow, WindowKind, model_matches, sort_windows,
};
