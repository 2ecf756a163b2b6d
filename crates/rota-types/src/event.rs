//! Events the app emits to the UI, each declared once with its name and payload.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ProviderId;
use crate::switch::SwitchReason;

/// An event: its name on the Tauri event bus and its payload type (the type itself).
pub trait Event: Serialize + DeserializeOwned {
    const NAME: &'static str;
}

/// Any mutation of a provider's pool, from any process (app, CLI, gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolChanged {
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
}

impl Event for PoolChanged {
    const NAME: &'static str = "pool-changed";
}

/// New usage for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageUpdated {
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    #[serde(rename = "recordID")]
    pub record_id: String,
}

impl Event for UsageUpdated {
    const NAME: &'static str = "usage-updated";
}

/// The active account changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switched {
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    pub from: Option<String>,
    pub to: String,
    pub reason: SwitchReason,
}

impl Event for Switched {
    const NAME: &'static str = "switched";
}

impl From<&crate::switch::SwitchLogEntry> for Switched {
    fn from(e: &crate::switch::SwitchLogEntry) -> Self {
        Self {
            provider_id: e.provider_id,
            from: e.from.clone(),
            to: e.to.clone(),
            reason: e.reason,
        }
    }
}

/// A gateway session got new traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUpdated {
    #[serde(rename = "sessionID")]
    pub session_id: String,
}

impl Event for SessionUpdated {
    const NAME: &'static str = "session-updated";
}

/// Where a login flow is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "status",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum LoginState {
    /// The flow started; nothing to show yet.
    Started,
    /// The browser was sent to `authorizeUrl`; waiting for the pasted `code#state` or the
    /// loopback callback.
    AwaitingCode {
        authorize_url: String,
    },
    /// Device flow: the user enters `userCode` at `verificationUri`.
    AwaitingUser {
        user_code: String,
        verification_uri: String,
    },
    /// Exchanging the code for tokens.
    Exchanging,
    /// The account was added or updated.
    Succeeded {
        #[serde(rename = "recordID")]
        record_id: String,
        label: String,
    },
    Failed {
        message: String,
    },
    Cancelled,
}

/// Progress of a login flow started by `begin_login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginProgress {
    #[serde(rename = "flowID")]
    pub flow_id: String,
    pub state: LoginState,
}

impl Event for LoginProgress {
    const NAME: &'static str = "login-progress";
}

/// Names of all events, for listeners and a uniqueness test.
pub const EVENT_NAMES: &[&str] = &[
    PoolChanged::NAME,
    UsageUpdated::NAME,
    Switched::NAME,
    SessionUpdated::NAME,
    LoginProgress::NAME,
];
