//! Tauri commands: one-line adapters from a `rota-types` request to the code that answers it.
//! Each takes one argument named `request` and returns its response or an `ApiError`.

use rota_types::command::{
    AccountRequest, AppInfo, Empty, GatewayStatusResponse, ListProvidersResponse, OpenLinkRequest,
    PoolRequest, RenameRecordRequest, UiPrefs, UsageRequest,
};
use rota_types::{
    AccountSummary, ApiError, ErrorCode, PoolSnapshot, RemoveAccountResponse, SetActiveResponse,
    SuccessResponse, SwitchReason, UsageResponse,
};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::{AppState, accounts, prefs, state};

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
    Ok(accounts::list_providers(&state.store.load()?))
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn snapshot(
    request: PoolRequest,
    state: State<'_, AppState>,
) -> Result<PoolSnapshot, ApiError> {
    accounts::snapshot(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn get_accounts(
    request: PoolRequest,
    state: State<'_, AppState>,
) -> Result<Vec<AccountSummary>, ApiError> {
    accounts::get_accounts(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn set_active(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<SetActiveResponse, ApiError> {
    accounts::set_active(&state.store, &request, SwitchReason::ManualApp)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn remove_record(
    request: AccountRequest,
    state: State<'_, AppState>,
) -> Result<RemoveAccountResponse, ApiError> {
    accounts::remove_record(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn rename_record(
    request: RenameRecordRequest,
    state: State<'_, AppState>,
) -> Result<SuccessResponse, ApiError> {
    accounts::rename_record(&state.store, &request)
}

// Off the main thread: the store may wait for its lock (another process is writing).
#[tauri::command(async)]
pub fn usage(request: UsageRequest, state: State<'_, AppState>) -> Result<UsageResponse, ApiError> {
    accounts::usage(&state.store, request)
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
