//! The account commands' work, without Tauri: validate the request, call the store (whose pool
//! rules live in rota-core), shape the answer. Every failure is an [`ApiError`]; nothing panics
//! and nothing returned carries a token.

use rota_core::{PoolState, Ulid};
use rota_store::import::{self, ImportSource};
use rota_store::{PoolStore, now_ms};
use rota_types::command::{
    AccountRequest, ImportAccountsRequest, ImportAccountsResponse, ListProvidersResponse,
    MAX_ID_CHARS, PoolRequest, RenameRecordRequest, SwitchCaveatResponse, SwitchLogItem,
    SwitchLogRequest,
};
use rota_types::{
    AccountSummary, ApiError, DEFAULT_NAMESPACE, ErrorCode, MAX_LABEL_CHARS, PoolSnapshot,
    ProviderId, RemoveAccountResponse, SetActiveResponse, SuccessResponse, SwitchReason,
    UsageResponse,
};

/// A provider id from the wire: `not_found` when unknown, as over HTTP.
pub fn parse_provider(s: &str) -> Result<ProviderId, ApiError> {
    check_len("providerID", s)?;
    Ok(ProviderId::from_wire(s.trim())?)
}

/// A record id from the wire: a ULID.
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

pub fn snapshot(store: &PoolStore, request: &PoolRequest) -> Result<PoolSnapshot, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    Ok(store.load()?.snapshot(provider, &ns, now_ms()))
}

pub fn get_accounts(
    store: &PoolStore,
    request: &PoolRequest,
) -> Result<Vec<AccountSummary>, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    Ok(store.load()?.get_accounts(provider, &ns, now_ms()))
}

/// Switches the active account (`reason` names the surface: `manual:app`, `manual:tray`).
pub fn set_active(
    store: &PoolStore,
    request: &AccountRequest,
    reason: SwitchReason,
) -> Result<SetActiveResponse, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let id = parse_record(&request.record_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    store.set_active(provider, &ns, id, reason, now_ms())?;
    let anthropic_usage = store
        .load()?
        .record(provider, id)
        .and_then(rota_core::Record::anthropic_usage);
    Ok(SetActiveResponse {
        success: true,
        anthropic_usage,
    })
}

/// What switching to the account would mean when it cannot serve now (rota-core's
/// [`PoolState::serving_caveat`], the words the tray and the CLI use too).
pub fn switch_caveat(
    store: &PoolStore,
    request: &AccountRequest,
) -> Result<SwitchCaveatResponse, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let id = parse_record(&request.record_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    let state = store.load()?;
    if state.record(provider, id).is_none_or(|r| r.namespace != ns) {
        return Err(ApiError::not_found(format!(
            "no {} account {id}",
            provider.display_name()
        )));
    }
    let now = now_ms();
    Ok(SwitchCaveatResponse {
        text: state
            .serving_caveat(provider, &ns, id, now)
            .map(|c| c.text(provider, now)),
    })
}

pub fn remove_record(
    store: &PoolStore,
    request: &AccountRequest,
) -> Result<RemoveAccountResponse, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let id = parse_record(&request.record_id)?;
    let ns = parse_namespace(request.namespace.as_deref())?;
    let removed = store.remove_record(provider, &ns, id, now_ms())?;
    Ok(RemoveAccountResponse {
        success: true,
        remaining: u32::try_from(removed.remaining).unwrap_or(u32::MAX),
    })
}

pub fn rename_record(
    store: &PoolStore,
    request: &RenameRecordRequest,
) -> Result<SuccessResponse, ApiError> {
    let provider = parse_provider(&request.provider_id)?;
    let id = parse_record(&request.record_id)?;
    // Cap before any work on it; rota-core checks the exact rules (trim, 1–64, no controls).
    if request.label.len() > MAX_LABEL_CHARS * 4 {
        return Err(ApiError::invalid_input(format!(
            "label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    let ns = parse_namespace(request.namespace.as_deref())?;
    store.rename(provider, &ns, id, &request.label, now_ms())?;
    Ok(SuccessResponse::OK)
}

/// Usage of every provider with accounts as the store has it (after a live fetch when the
/// command asked for one).
pub fn cached_usage(store: &PoolStore) -> Result<UsageResponse, ApiError> {
    Ok(store.load()?.usage_response(DEFAULT_NAMESPACE, now_ms()))
}

/// Imports a tool's login file (read only) into the pool.
pub fn import_accounts(
    store: &PoolStore,
    request: &ImportAccountsRequest,
) -> Result<ImportAccountsResponse, ApiError> {
    let source = ImportSource::parse(request.source.trim()).ok_or_else(|| {
        let known: Vec<_> = ImportSource::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::invalid_input(format!(
            "unknown import source {:?}; expected one of {}",
            request.source,
            known.join(", ")
        ))
    })?;
    let path = match request.path.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => source.default_path().ok_or_else(|| {
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
    let state = store.load()?;
    let imported = upserted
        .iter()
        .zip(&providers)
        .filter_map(|(u, p)| state.record(*p, u.id).map(|r| r.label.clone()))
        .collect();
    Ok(ImportAccountsResponse { imported, skipped })
}

/// The switch log, newest first, with labels ([`PoolState::history`]).
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
