//! What the store repaired after a crash or a damaged file, reported by every surface (CLI
//! warning, app notice, HTTP API field) until the user acknowledges it.

use serde::{Deserialize, Serialize};

use crate::UnixMs;

/// What a recovery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecoveryKind {
    /// An unreadable file was moved aside and its backup (one change behind) restored.
    RestoredFromBackup,
    /// An unreadable file was moved aside with no usable backup: what it held is missing.
    NoBackup,
    /// Accounts had no stored secrets; they were marked as needing a new login.
    MissingSecrets,
}

/// One unacknowledged recovery. Names files and account ids, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryNotice {
    pub kind: RecoveryKind,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined_to: Option<String>,
    pub at: UnixMs,
    /// Account ids marked as needing a new login by this recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_login: Vec<String>,
    /// The sentence to show.
    pub message: String,
}

/// `GET /auth/recoveries` and `POST /auth/recoveries/ack`: the pending (or just acknowledged)
/// recoveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveriesResponse {
    pub recoveries: Vec<RecoveryNotice>,
}
