//! Every account operation, defined once: validate the request, change the pool through the
//! store (one locked transaction), sync the hand-off target after a switch, answer a typed
//! [`ApiError`]. The Tauri commands, the HTTP API (`/auth/*`), the `rota` CLI and the tray call
//! these and only translate — so an operation behaves and fails alike on every surface
//! (`src-tauri/tests/it/ipc.rs` runs each with good and bad input over IPC, HTTP and the CLI).
//!
//! Wire requests name an account by its exact id ([`Target::from_request`]); the CLI also by
//! what a person types, an id prefix or a label ([`Target::typed`]), resolved under the store's
//! lock. Nothing returned carries a secret.

use rota_core::{AccountRef, PoolState, Removed, Ulid};
use rota_store::import::{self, ImportSource};
use rota_store::{PoolStore, Switch, now_ms};
use rota_types::command::{
    AccountRequest, ImportAccountsResponse, ListProvidersResponse, MAX_ID_CHARS, PoolRequest,
    SwitchCaveatResponse, SwitchLogItem, SwitchLogRequest,
};
use rota_types::{
    AccountSummary, ApiError, DEFAULT_NAMESPACE, ErrorCode, HandoffTool, MAX_LABEL_CHARS,
    PoolSnapshot, ProviderId, RemoveAccountResponse, RenameRequest, SetActiveResponse,
    SwitchReason, UsageResponse,
};

/// A provider id from the wire: `invalid_input` when empty or overlong, `not_found` when it
/// names no provider ([`ProviderId::from_wire`]: the one rule on every surface).
pub fn parse_provider(s: &str) -> Result<ProviderId, ApiError> {
    check_len("providerID", s)?;
    Ok(ProviderId::from_wire(s.trim())?)
}

/// A record id from the wire: a ULID, else `invalid_input`.
pub fn parse_record(s: &str) -> Result<Ulid, ApiError> {
    check_len("recordID", s)?;
    Ok(rota_core::parse_id(s)?)
}

/// A namespace from the wire; absent or empty means the default one.
pub fn parse_namespace(ns: Option<&str>) -> Result<String, ApiError> {
    match ns.map(str::trim) {
        None | Some("") => Ok(DEFAULT_NAMESPACE.to_owned()),
        Some(ns) => {
            check_len("namespace", ns)?;
            if ns.chars().any(char::is_control) {
                return Err(ApiError::invalid_input(
                    "namespace must not contain control characters",
                ));
            }
            Ok(ns.to_owned())
        }
    }
}

fn check_len(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid_input(format!("{field} is empty")));
    }
    if value.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::invalid_input(format!(
            "{field} is longer than {MAX_ID_CHARS} characters"
        )));
    }
    Ok(())
}

/// The account an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: ProviderId,
    pub namespace: String,
    pub account: AccountRef,
}

impl Target {
    /// From a wire request (IPC, HTTP): provider, exact record id, namespace.
    pub fn from_request(request: &AccountRequest) -> Result<Self, ApiError> {
        Self::from_wire(
            &request.provider_id,
            &request.record_id,
            request.namespace.as_deref(),
        )
    }

    /// The account a rename request names (the same fields as [`AccountRequest`]).
    pub fn from_rename(request: &RenameRequest) -> Result<Self, ApiError> {
        Self::from_wire(
            &request.provider_id,
            &request.record_id,
            request.namespace.as_deref(),
        )
    }

    fn from_wire(provider: &str, record: &str, namespace: Option<&str>) -> Result<Self, ApiError> {
        Ok(Self {
            provider: parse_provider(provider)?,
            account: AccountRef::Id(parse_record(record)?),
            namespace: parse_namespace(namespace)?,
        })
    }

    /// From what a person typed (the CLI, the default namespace): an id, an id prefix of 4+
    /// characters or a label.
    pub fn typed(provider: ProviderId, query: &str) -> Self {
        Self {
            provider,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            account: AccountRef::Query(query.trim().to_owned()),
        }
    }
}

/// Supported providers, alphabetical by display name, with their account counts.
pub fn list_providers(state: &PoolState) -> ListProvidersResponse {
    let now = now_ms();
    let mut providers: Vec<_> = ProviderId::ALL
        .iter()
        .map(|p| state.provider_listing(*p, DEFAULT_NAMESPACE, now))
        .collect();
    providers.sort_by(|a, b| a.info.display_name.cmp(&b.info.display_name));
    ListProvidersResponse { providers }
}

/// One provider's pool: order, active account, accounts with usage and health.
pub fn snapshot(store: &PoolStore, request: &PoolRequest) -> Result<PoolSnapshot, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    Ok(store.load()?.snapshot(provider, &ns, now_ms()))
}

/// One provider's accounts in rotation order.
pub fn get_accounts(
    store: &PoolStore,
    request: &PoolRequest,
) -> Result<Vec<AccountSummary>, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    Ok(store.load()?.get_accounts(provider, &ns, now_ms()))
}

/// Usage of every provider with accounts in `namespace`, as the store has it.
pub fn usage(store: &PoolStore, namespace: &str) -> Result<UsageResponse, ApiError> {
    Ok(store.load()?.usage_response(namespace, now_ms()))
}

/// What the hand-off did after a switch or a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// Off for the provider, or the target already held the account.
    Unchanged,
    /// The tool's login now holds the active account.
    Written {
        tool: HandoffTool,
        /// The file written (or `keychain:<service>` on macOS).
        target: String,
    },
    /// The pool changed, but the tool's login could not follow; the error says why (no secret).
    Failed(String),
}

impl Handoff {
    /// Makes the provider's hand-off target hold its active account now, rather than at the
    /// next autopilot tick, so a tool started right after the change already has it (every
    /// operation here that changes the active account calls it; so does a completed login).
    pub fn sync(store: &PoolStore, provider: ProviderId) -> Self {
        let now = now_ms();
        match rota_handoff::sync(store, provider, false, now) {
            Ok(rota_handoff::SyncOutcome::Written { tool, target, .. }) => {
                Self::Written { tool, target }
            }
            Ok(_) => Self::Unchanged,
            Err(e) => {
                tracing::warn!(%provider, "hand-off after a pool change failed: {e}");
                Self::Failed(e.to_string())
            }
        }
    }
}

/// A switch: the answer every surface gives, and what happened around it.
#[derive(Debug, Clone)]
pub struct Switched {
    pub response: SetActiveResponse,
    pub switch: Switch,
    pub handoff: Handoff,
}

impl Switched {
    /// `Account 2 is cooling down for 12m; until then requests go to Account 1.` when the new
    /// account cannot serve yet: the switch stands, but is not made in silence.
    #[must_use]
    pub fn caveat_text(&self, provider: ProviderId) -> Option<String> {
        let now = now_ms();
        self.switch.caveat.as_ref().map(|c| c.text(provider, now))
    }
}

/// Makes an account the active one (`reason` names the surface: `manual:app`, `manual:api`…).
pub fn set_active(
    store: &PoolStore,
    target: &Target,
    reason: SwitchReason,
) -> Result<Switched, ApiError> {
    let switch = store.set_active(
        target.provider,
        &target.namespace,
        target.account.clone(),
        reason,
        now_ms(),
    )?;
    let handoff = Handoff::sync(store, target.provider);
    Ok(Switched {
        response: SetActiveResponse {
            success: true,
            anthropic_usage: switch.record.anthropic_usage(),
        },
        switch,
        handoff,
    })
}

/// What switching to the account would mean when it cannot serve now (rota-core's
/// [`PoolState::serving_caveat`]); asked before a switch.
pub fn switch_caveat(store: &PoolStore, target: &Target) -> Result<SwitchCaveatResponse, ApiError> {
    let state = store.load()?;
    let id = state.find(target.provider, &target.namespace, &target.account)?;
    let now = now_ms();
    Ok(SwitchCaveatResponse {
        text: state
            .serving_caveat(target.provider, &target.namespace, id, now)
            .map(|c| c.text(target.provider, now)),
    })
}

/// A removal: the answer, the removed record (labels for messages) and the hand-off after it.
#[derive(Debug, Clone)]
pub struct RemovedAccount {
    pub response: RemoveAccountResponse,
    pub removed: Removed,
    pub handoff: Handoff,
}

/// Removes one account and its secrets; when it was active the next one takes over (and the
/// tool's login follows).
pub fn remove(store: &PoolStore, target: &Target) -> Result<RemovedAccount, ApiError> {
    let removed = store.remove_record(
        target.provider,
        &target.namespace,
        target.account.clone(),
        now_ms(),
    )?;
    let handoff = if removed.switched.is_some() {
        Handoff::sync(store, target.provider)
    } else {
        Handoff::Unchanged
    };
    Ok(RemovedAccount {
        response: RemoveAccountResponse {
            success: true,
            remaining: u32::try_from(removed.remaining).unwrap_or(u32::MAX),
        },
        removed,
        handoff,
    })
}

/// Removes every account of a provider's namespace and their secrets; returns their labels.
pub fn remove_all(
    store: &PoolStore,
    provider: ProviderId,
    namespace: &str,
) -> Result<Vec<String>, ApiError> {
    let gone = store.remove_all(provider, namespace, now_ms())?;
    Ok(gone.into_iter().map(|r| r.label).collect())
}

/// A rename: the account and its label before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub id: Ulid,
    pub old: String,
    pub new: String,
}

/// Renames an account. `None` changes nothing but still requires the account to exist (the
/// HTTP API allows an empty change).
pub fn rename(
    store: &PoolStore,
    target: &Target,
    label: Option<&str>,
) -> Result<Renamed, ApiError> {
    let Some(label) = label else {
        let state = store.load()?;
        let id = state.find(target.provider, &target.namespace, &target.account)?;
        let old = state
            .record(target.provider, id)
            .map(|r| r.label.clone())
            .unwrap_or_default();
        return Ok(Renamed {
            id,
            new: old.clone(),
            old,
        });
    };
    // Cap before any work on it; rota-core checks the exact rules (trim, 1–64, no controls).
    if label.len() > MAX_LABEL_CHARS * 4 {
        return Err(ApiError::invalid_input(format!(
            "label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    let new = rota_core::validate_label(label)?;
    let (id, old) = store.rename(
        target.provider,
        &target.namespace,
        target.account.clone(),
        &new,
        now_ms(),
    )?;
    Ok(Renamed { id, old, new })
}

/// The switch log, newest first, with labels ([`PoolState::history`]); `provider` as on the
/// wire, optional.
pub fn switch_log(
    store: &PoolStore,
    request: &SwitchLogRequest,
) -> Result<Vec<SwitchLogItem>, ApiError> {
    let provider = request
        .provider_id
        .as_deref()
        .map(parse_provider)
        .transpose()?;
    let limit = request.limit.map_or(usize::MAX, |n| n as usize);
    Ok(store.load()?.history(provider, limit))
}

/// An import source's name from the wire (`claude-code`, `codex`, `opencode`).
pub fn parse_import_source(s: &str) -> Result<ImportSource, ApiError> {
    ImportSource::parse(s.trim()).ok_or_else(|| {
        let known: Vec<_> = ImportSource::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::invalid_input(format!(
            "unknown import source {s:?}; expected one of {}",
            known.join(", ")
        ))
    })
}

/// An import: the answer, each imported account (created or updated) and the hand-offs after.
#[derive(Debug, Clone)]
pub struct Imported {
    pub response: ImportAccountsResponse,
    /// Each imported account as listed now, and whether it is new.
    pub accounts: Vec<(ProviderId, AccountSummary, bool)>,
    pub handoffs: Vec<Handoff>,
    pub path: std::path::PathBuf,
}

/// Imports a tool's login file (read only) into the pool; the file's default location unless
/// `path` is given. Each imported account becomes active, as a login would.
pub fn import_accounts(
    store: &PoolStore,
    source: ImportSource,
    path: Option<&std::path::Path>,
) -> Result<Imported, ApiError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => source.default_path().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Os,
                "no home directory to find the login file in; choose the file",
            )
        })?,
    };
    let report = import::import_file(source, &path)?;
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.entry, s.reason))
        .collect();
    if report.accounts.is_empty() {
        let mut message = format!("no importable account in {}", path.display());
        for s in &skipped {
            message.push_str("; skipped ");
            message.push_str(s);
        }
        return Err(ApiError::not_found(message));
    }
    let providers: Vec<_> = report.accounts.iter().map(|a| a.provider).collect();
    let now = now_ms();
    let upserted = store.import_accounts(report.accounts, now)?;
    let mut synced = providers.clone();
    synced.sort();
    synced.dedup();
    let handoffs = synced
        .into_iter()
        .map(|p| Handoff::sync(store, p))
        .collect();
    let state = store.load()?;
    let accounts: Vec<_> = upserted
        .iter()
        .zip(&providers)
        .filter_map(|(u, p)| {
            state
                .get_accounts(*p, DEFAULT_NAMESPACE, now)
                .into_iter()
                .find(|a| a.id == u.id.to_string())
                .map(|a| (*p, a, u.created))
        })
        .collect();
    Ok(Imported {
        response: ImportAccountsResponse {
            imported: accounts.iter().map(|(_, a, _)| a.label.clone()).collect(),
            skipped,
        },
        accounts,
        handoffs,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_strictly() {
        assert_eq!(parse_provider("anthropic").unwrap(), ProviderId::Anthropic);
        assert_eq!(
            parse_provider("github-copilot").unwrap(),
            ProviderId::GithubCopilot
        );
        for bad in ["", "  ", &"a".repeat(500)] {
            assert_eq!(
                parse_provider(bad).unwrap_err().code,
                ErrorCode::InvalidInput,
                "{bad}"
            );
        }
        // A well-formed name that is no provider is not found, as over HTTP.
        for unknown in ["Anthropic", "bogus", "claude"] {
            assert_eq!(
                parse_provider(unknown).unwrap_err().code,
                ErrorCode::NotFound,
                "{unknown}"
            );
        }
    }

    #[test]
    fn record_ids_and_namespaces_are_checked() {
        assert!(parse_record("01JD0000000000000000000000").is_ok());
        for bad in ["", "nope", "../../etc", &"0".repeat(100)] {
            assert_eq!(parse_record(bad).unwrap_err().code, ErrorCode::InvalidInput);
        }
        assert_eq!(parse_namespace(None).unwrap(), "default");
        assert_eq!(parse_namespace(Some("")).unwrap(), "default");
        assert_eq!(parse_namespace(Some("work")).unwrap(), "work");
        assert!(parse_namespace(Some("a\nb")).is_err());
        assert!(parse_namespace(Some(&"n".repeat(65))).is_err());
    }

    #[test]
    fn provider_listing_is_alphabetical_with_counts() {
        let listing = list_providers(&PoolState::default());
        let names: Vec<_> = listing
            .providers
            .iter()
            .map(|p| p.info.display_name.as_str())
            .collect();
        assert_eq!(names, ["Anthropic", "GitHub Copilot", "OpenAI"]);
        assert!(listing.providers.iter().all(|p| p.account_count == 0));
    }
}
