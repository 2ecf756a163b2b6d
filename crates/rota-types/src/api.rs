//! Request and response bodies of the local HTTP API (`/auth/*`), reused by the Tauri commands
//! and `rota … --json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::ProviderId;
use crate::account::AccountSummary;
use crate::usage::AnthropicUsage;

/// The namespace every surface uses unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Longest label accepted by rename (characters).
pub const MAX_LABEL_CHARS: usize = 64;

#[allow(clippy::ref_option)] // serde's `skip_serializing_if` passes `&Option<T>`
fn is_default_namespace(ns: &Option<String>) -> bool {
    ns.is_none()
}

/// One account of a provider: `POST /auth/active`, `DELETE /auth/account`, and the commands
/// `set_active`, `remove_record`, `switch_caveat`, `redeem_reset_credit`. The provider is a
/// string so an unknown one is answered `not_found` by the operation (rota-ops), not as a
/// deserialisation failure, on every surface alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    #[serde(rename = "recordID")]
    pub record_id: String,
    #[serde(default, skip_serializing_if = "is_default_namespace")]
    pub namespace: Option<String>,
}

/// `{success: true, anthropicUsage?}`: the usage of the newly active account, Anthropic only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetActiveResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic_usage: Option<AnthropicUsage>,
}

/// `{success: true, remaining: 2}`: accounts left for the provider (namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveAccountResponse {
    pub success: bool,
    pub remaining: u32,
}

/// `PATCH /auth/account` and the `rename_record` command: rename (the only editable field so
/// far); without `label` nothing changes, but the account must exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    #[serde(rename = "recordID")]
    pub record_id: String,
    #[serde(default, skip_serializing_if = "is_default_namespace")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `{success: true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    pub success: bool,
}

impl SuccessResponse {
    pub const OK: Self = Self { success: true };
}

/// One provider's entry of `GET /auth/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderUsageEntry {
    pub accounts: Vec<AccountSummary>,
    /// Usage of the active Anthropic account (the seed's shape), Anthropic only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic_usage: Option<AnthropicUsage>,
}

/// `GET /auth/usage`: `{ "<providerID>": {accounts, anthropicUsage?} }`, only providers with
/// accounts.
pub type UsageResponse = BTreeMap<ProviderId, ProviderUsageEntry>;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthzResponse {
    pub ok: bool,
    pub version: String,
}

/// The HTTP API's error body: `{ "error": { "code": "…", "message": "…" } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpErrorBody {
    pub error: ApiError,
}
