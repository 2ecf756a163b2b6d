//! Tauri commands: one-line adapters from a `rota-types` request to the code that answers it.
//! Each takes one argument named `request` and returns its response or an `ApiError`.

use rota_types::command::{
    AppInfo, Empty, ListProvidersResponse, OpenLinkRequest, ProviderListing, UiPrefs,
};
use rota_types::{ApiError, ErrorCode, ProviderId};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use crate::{AppState, prefs, state};

#[tauri::command]
pub fn app_info(request: Empty, state: State<'_, AppState>) -> Result<AppInfo, ApiError> {
    let Empty {} = request;
    Ok(AppInfo {
        name: "Rota".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir_display(),
        gateway_url: state.gateway_url(),
        links: state::links(),
    })
}

#[tauri::command]
pub fn list_providers(request: Empty) -> Result<ListProvidersResponse, ApiError> {
    let Empty {} = request;
    // No account store yet in this shell: every supported provider, none connected.
    let providers = ProviderId::ALL
        .iter()
        .map(|p| ProviderListing {
            info: p.info(),
            account_count: 0,
        })
        .collect();
    Ok(ListProvidersResponse { providers })
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
