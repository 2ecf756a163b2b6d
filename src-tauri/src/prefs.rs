//! UI preferences (last Settings tab) in tauri-plugin-store. Never accounts or tokens.
//!
//! The plugin silently starts empty when its file does not parse and would later overwrite it,
//! so the file is checked first: an unreadable one is moved aside (never overwritten) and the
//! caller is told once; the next read starts from defaults.

use std::path::Path;

use rota_types::command::UiPrefs;
use rota_types::{ApiError, ErrorCode};
use serde_json::Value;
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;

const LAST_TAB: &str = "lastTab";

#[derive(Debug, thiserror::Error)]
pub enum PrefsError {
    #[error(
        "UI preferences in {path} were unreadable ({reason}); kept as {moved_to} and reset to defaults"
    )]
    Unreadable {
        path: String,
        reason: String,
        moved_to: String,
    },
    #[error("could not move the unreadable UI preferences file {path} aside: {source}")]
    Quarantine {
        path: String,
        source: rota_store::StoreError,
    },
    #[error("UI preferences store: {0}")]
    Store(#[from] tauri_plugin_store::Error),
}

impl From<PrefsError> for ApiError {
    fn from(e: PrefsError) -> Self {
        let code = match e {
            PrefsError::Unreadable { .. } => ErrorCode::Unreadable,
            PrefsError::Quarantine { .. } | PrefsError::Store(_) => ErrorCode::Os,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Reads the preferences; a value this version does not know falls back to its default.
pub fn get<R: Runtime>(app: &AppHandle<R>, path: &Path) -> Result<UiPrefs, PrefsError> {
    check_file(path)?;
    let store = app.store(path)?;
    let last_tab = store
        .get(LAST_TAB)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    Ok(UiPrefs { last_tab })
}

/// Writes the preferences and saves at once (the plugin's autosave debounce can lose the last
/// write when the app is killed).
pub fn set<R: Runtime>(
    app: &AppHandle<R>,
    path: &Path,
    prefs: &UiPrefs,
) -> Result<UiPrefs, PrefsError> {
    check_file(path)?;
    let store = app.store(path)?;
    store.set(
        LAST_TAB,
        serde_json::to_value(prefs.last_tab).expect("enum serialises"),
    );
    store.save()?;
    Ok(prefs.clone())
}

fn check_file(path: &Path) -> Result<(), PrefsError> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(()); // missing: defaults
    };
    let reason = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(_)) => return Ok(()),
        Ok(_) => "not a JSON object".to_owned(),
        Err(e) => format!("invalid JSON: {e}"),
    };
    let moved = rota_store::quarantine(path).map_err(|source| PrefsError::Quarantine {
        path: path.display().to_string(),
        source,
    })?;
    tracing::warn!(path = %path.display(), moved_to = %moved.display(), "unreadable UI preferences moved aside");
    Err(PrefsError::Unreadable {
        path: path.display().to_string(),
        reason,
        moved_to: moved.display().to_string(),
    })
}
