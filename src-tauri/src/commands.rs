//! Tauri commands: one-line adapters from a `rota-types` request to the code that answers it.
//! Each takes one argument named `request` and returns its response or an `ApiError`.

use std::sync::Arc;

use rota_types::command::{
    AccountRequest, AnthropicClientsSetRequest, AppInfo, AppSettings, AutoRedeemSetRequest,
    BeginLoginRequest, CompleteLoginRequest, Empty, FlowRequest, GatewayStatusResponse,
    HandoffSetRequest, ImportAccountsRequest, ImportAccountsResponse, ListProvidersResponse,
    LoginStarted, OpenLinkRequest, PoolRequest, ProactiveSetRequest, RenameRequest, SessionRequest,
    SwitchCaveatResponse, SwitchLogItem, SwitchLogRequest, UiPrefs, UsageRequest,
};
use rota_types::handoff::HandoffStatus;
use rota_types::{
    AccountSummary, ApiError, ConnectionChanged, ConnectionRequest, ConnectionTestResult,
    ConnectionView, ErrorCode, Event, LoginProgress, PoolSnapshot, ProviderId,
    RemoveAccountResponse, SessionDetail, SessionSummary, SetActiveResponse, SuccessResponse,
    SwitchReason, UsageResponse,
};
use rota_types::{AutoRedeemStatus, RecoveriesResponse, RecoveryNotice, RedeemResponse};
use tauri::{AppHandle, Emitter, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::login::Progress;
use crate::{AppState, MAIN_WINDOW, prefs, state};

#[tauri::command]
pub fn app_info(request: Empty, state: State<'_, AppState>) -> Result<AppInfo, ApiError> {
    let Empty {} = request;
    Ok(AppInfo {
        name: "Rota".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir_display(),
        gateway_url: state.gateway_url(),
        links: state::links(),
        secret_backend: state.secret_backend(),
    })
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn list_providers(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<ListProvidersResponse, ApiError> {
    let Empty {} = request;
    Ok(rota_ops::list_providers(&state.store.load()?))
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn snapshot(
    request: PoolRequest,
    state: State<'_, AppState>,
) -> Result<PoolSnapshot, ApiError> {
    rota_ops::snapshot(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn get_accounts(
    request: PoolRequest,
    state: State<'_, AppState>,
) -> Result<Vec<AccountSummary>, ApiError> {
    rota_ops::get_accounts(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn set_active(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<SetActiveResponse, ApiError> {
    let target = rota_ops::Target::from_request(&request)?;
    Ok(rota_ops::set_active(&state.store, &target, SwitchReason::ManualApp)?.response)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn remove_record(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<RemoveAccountResponse, ApiError> {
    let target = rota_ops::Target::from_request(&request)?;
    Ok(rota_ops::remove(&state.store, &target)?.response)
}

// Off the main thread: reading the store may wait for its lock.
#[tauri::command(async)]
pub fn switch_caveat(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<SwitchCaveatResponse, ApiError> {
    rota_ops::switch_caveat(&state.store, &rota_ops::Target::from_request(&request)?)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn rename_record(
    request: RenameRequest,
    state: State<'_, AppState>,
) -> Result<SuccessResponse, ApiError> {
    let target = rota_ops::Target::from_rename(&request)?;
    rota_ops::rename(&state.store, &target, request.label.as_deref())?;
    Ok(SuccessResponse::OK)
}

/// Cached usage, or fetched live first (in parallel) with `refresh: true`; a failed fetch keeps
/// the last value with its age.
#[tauri::command]
pub async fn usage(
    request: UsageRequest,
    state: State<'_, AppState>,
) -> Result<UsageResponse, ApiError> {
    if request.refresh {
        state
            .usage
            .fetch(None, rota_store::now_ms())
            .await
            .map_err(ApiError::from)?;
    }
    let store = state.store.clone();
    blocking(move || rota_ops::usage(&store, rota_types::DEFAULT_NAMESPACE)).await
}

/// Runs store work on the blocking pool (it may wait for another process's lock).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("task failed: {e}")))?
}

#[tauri::command]
pub fn sessions(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<Vec<SessionSummary>, ApiError> {
    let Empty {} = request;
    Ok(state.gateway.sessions())
}

#[tauri::command]
pub fn session_detail(
    request: SessionRequest,
    state: State<'_, AppState>,
) -> Result<SessionDetail, ApiError> {
    state
        .gateway
        .session_detail(&request.session_id)
        .ok_or_else(|| ApiError::not_found(format!("no session {:?}", request.session_id)))
}

/// `login-progress` events to the main window.
fn progress<R: Runtime>(app: &AppHandle<R>) -> Progress {
    let app = app.clone();
    Arc::new(move |flow_id: &str, state| {
        let event = LoginProgress {
            flow_id: flow_id.to_owned(),
            state,
        };
        if let Err(e) = app.emit_to(MAIN_WINDOW, LoginProgress::NAME, event) {
            tracing::warn!("could not emit {}: {e}", LoginProgress::NAME);
        }
    })
}

/// Opens a sign-in page the app itself built (never a URL from the webview).
fn open_page<R: Runtime>(app: &AppHandle<R>, url: &str) -> Result<(), ApiError> {
    // Tests and headless runs set ROTA_NO_BROWSER, as for `rota auth login`.
    if std::env::var_os(rota_config::env::NO_BROWSER).is_some() {
        return Ok(());
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| ApiError::new(ErrorCode::Os, format!("could not open the browser: {e}")))
}

#[tauri::command]
pub async fn begin_login<R: Runtime>(
    request: BeginLoginRequest,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<LoginStarted, ApiError> {
    let started = state
        .logins
        .begin(
            state.providers.clone(),
            state.store.clone(),
            request,
            progress(&app),
        )
        .await?;
    if let Ok(page) = state.logins.page(&started.flow_id)
        && let Err(e) = open_page(&app, &page)
    {
        // The dialog shows the link anyway.
        tracing::warn!("{}", e.message);
    }
    Ok(started)
}

#[tauri::command]
pub async fn complete_login<R: Runtime>(
    request: CompleteLoginRequest,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<AccountSummary, ApiError> {
    state
        .logins
        .complete(
            &state.providers,
            &state.store,
            &request.flow_id,
            &request.code,
            &progress(&app),
        )
        .await
}

#[tauri::command]
pub fn open_login_page<R: Runtime>(
    request: FlowRequest,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Empty, ApiError> {
    let page = state.logins.page(&request.flow_id)?;
    open_page(&app, &page)?;
    Ok(Empty {})
}

#[tauri::command]
pub fn cancel_login<R: Runtime>(
    request: FlowRequest,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Empty, ApiError> {
    state.logins.cancel(&request.flow_id, &progress(&app));
    Ok(Empty {})
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn import_accounts(
    request: ImportAccountsRequest,
    state: State<'_, AppState>,
) -> Result<ImportAccountsResponse, ApiError> {
    let source = rota_ops::parse_import_source(&request.source)?;
    let path = request
        .path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(std::path::Path::new);
    Ok(rota_ops::import_accounts(&state.store, source, path)?.response)
}

#[tauri::command]
pub fn settings_get(request: Empty, state: State<'_, AppState>) -> Result<AppSettings, ApiError> {
    let Empty {} = request;
    Ok(state.settings.get())
}

#[tauri::command]
pub fn settings_set(
    request: AppSettings,
    state: State<'_, AppState>,
) -> Result<AppSettings, ApiError> {
    let saved = state.settings.set(request)?;
    state.usage.set_enabled(saved.usage_polling);
    // The poller re-plans at once (polling back on → due accounts are fetched now).
    state.poll_wake.notify_one();
    Ok(saved)
}

#[tauri::command]
pub fn ui_prefs_get<R: Runtime>(
    request: Empty,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<UiPrefs, ApiError> {
    let Empty {} = request;
    prefs::get(&app, &state.ui_prefs_path()).map_err(Into::into)
}

#[tauri::command]
pub fn ui_prefs_set<R: Runtime>(
    request: UiPrefs,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<UiPrefs, ApiError> {
    prefs::set(&app, &state.ui_prefs_path(), &request).map_err(Into::into)
}

#[tauri::command]
pub fn open_link<R: Runtime>(
    request: OpenLinkRequest,
    app: AppHandle<R>,
) -> Result<Empty, ApiError> {
    let link = state::links()
        .into_iter()
        .find(|l| l.kind == request.kind)
        .ok_or_else(|| ApiError::not_found(format!("no link of kind {:?}", request.kind)))?;
    app.opener()
        .open_url(&link.url, None::<&str>)
        .map_err(|e| ApiError::new(ErrorCode::Os, format!("could not open {}: {e}", link.url)))?;
    Ok(Empty {})
}

#[tauri::command]
pub fn gateway_status(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<GatewayStatusResponse, ApiError> {
    let Empty {} = request;
    Ok(state.gateway.status())
}

/// Hand-off, proactive and (Anthropic) client settings of a provider, as Provider Detail shows
/// them: the client setting in force, the config's default when the user has not chosen.
fn provider_status(state: &AppState, provider: ProviderId) -> Result<HandoffStatus, ApiError> {
    let mut status = rota_handoff::status(&state.store, provider, rota_store::now_ms())?;
    if provider == ProviderId::Anthropic {
        status.clients = Some(rota_providers::anthropic_clients(
            &state.store.load()?,
            &state.providers.config,
        ));
    }
    Ok(status)
}

// Off the main thread: a store mutation.
#[tauri::command(async)]
pub fn anthropic_clients_set(
    request: AnthropicClientsSetRequest,
    state: State<'_, AppState>,
) -> Result<HandoffStatus, ApiError> {
    rota_providers::set_anthropic_clients(&state.store, request.clients)?;
    crate::connections::follow_clients(&state);
    provider_status(&state, ProviderId::Anthropic)
}

// Off the main thread: reads the tool's login file and may wait for the store's lock.
#[tauri::command(async)]
pub fn handoff_status(
    request: PoolRequest,
    state: State<'_, AppState>,
) -> Result<HandoffStatus, ApiError> {
    let provider = rota_ops::parse_provider(&request.provider_id)?;
    provider_status(&state, provider)
}

// Off the main thread: writes the tool's login file (fsync) under its lock.
#[tauri::command(async)]
pub fn handoff_set(
    request: HandoffSetRequest,
    state: State<'_, AppState>,
) -> Result<HandoffStatus, ApiError> {
    let provider = rota_ops::parse_provider(&request.provider_id)?;
    rota_handoff::set_handoff(&state.store, provider, request.enabled, None, None)?;
    if request.enabled {
        // Hand the active account over now rather than at the next switch; a refusal (a login
        // Rota does not know) is the answer, with the toggle left on for a forced retry.
        rota_handoff::sync(&state.store, provider, request.force, rota_store::now_ms())?;
    }
    provider_status(&state, provider)
}

// Off the main thread: a store mutation.
#[tauri::command(async)]
pub fn proactive_set(
    request: ProactiveSetRequest,
    state: State<'_, AppState>,
) -> Result<HandoffStatus, ApiError> {
    let provider = rota_ops::parse_provider(&request.provider_id)?;
    rota_handoff::set_proactive(&state.store, provider, request.enabled)?;
    provider_status(&state, provider)
}

/// One reset credit on the account: the redeem `rota auth redeem` and `POST /auth/redeem` run.
#[tauri::command]
pub async fn redeem_reset_credit(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<RedeemResponse, ApiError> {
    let provider = rota_ops::parse_provider(&request.provider_id)?;
    let id = rota_ops::parse_record(&request.record_id)?;
    let ns = rota_ops::parse_namespace(request.namespace.as_deref())?;
    rota_providers::reset_credits::redeem_account(&state.tokens, provider, &ns, Some(id))
        .await
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

// Off the main thread: reads config.toml.
#[tauri::command(async)]
pub fn auto_redeem_get(request: Empty) -> Result<AutoRedeemStatus, ApiError> {
    let Empty {} = request;
    let source = rota_config::AutoRedeemSource::process()
        .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
    rota_providers::reset_credits::auto_redeem_status(&source)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

// Off the main thread: writes config.toml.
#[tauri::command(async)]
pub fn auto_redeem_set(request: AutoRedeemSetRequest) -> Result<AutoRedeemStatus, ApiError> {
    let source = rota_config::AutoRedeemSource::process()
        .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
    rota_providers::reset_credits::set_auto_redeem(&source, request.enabled)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn switch_log(
    request: SwitchLogRequest,
    state: State<'_, AppState>,
) -> Result<Vec<SwitchLogItem>, ApiError> {
    rota_ops::switch_log(&state.store, &request)
}

// Off the main thread: acknowledging takes the store lock.
#[tauri::command(async)]
pub fn recoveries(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<RecoveriesResponse, ApiError> {
    let Empty {} = request;
    Ok(RecoveriesResponse {
        recoveries: state
            .store
            .pending_recoveries()
            .iter()
            .map(RecoveryNotice::from)
            .collect(),
    })
}

#[tauri::command(async)]
pub fn acknowledge_recoveries(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<RecoveriesResponse, ApiError> {
    let Empty {} = request;
    Ok(RecoveriesResponse {
        recoveries: state
            .store
            .acknowledge_recoveries()?
            .iter()
            .map(RecoveryNotice::from)
            .collect(),
    })
}

// Off the main thread: reads the tools' config files and the vault.
#[tauri::command(async)]
pub fn list_connections(
    request: Empty,
    state: State<'_, AppState>,
) -> Result<Vec<ConnectionView>, ApiError> {
    let Empty {} = request;
    crate::connections::list(&state)
}

// Off the main thread: writes the tool's file (fsync) and may create its key under the lock.
#[tauri::command(async)]
pub fn connect_tool(
    request: ConnectionRequest,
    state: State<'_, AppState>,
) -> Result<ConnectionChanged, ApiError> {
    crate::connections::connect(&state, &request.connection)
}

// Off the main thread: restores the tool's file and revokes its key.
#[tauri::command(async)]
pub fn undo_connection(
    request: ConnectionRequest,
    state: State<'_, AppState>,
) -> Result<ConnectionChanged, ApiError> {
    crate::connections::undo(&state, &request.connection)
}

#[tauri::command]
pub async fn test_connection(
    request: ConnectionRequest,
    state: State<'_, AppState>,
) -> Result<ConnectionTestResult, ApiError> {
    crate::connections::test(&state, &request.connection).await
}
