//! Live updates: the store is watched, and every change — from this app, the `rota` CLI, the
//! gateway or any other process — becomes a `pool-changed {providerID}` event for the main
//! window and a rebuilt tray menu.

use std::sync::Mutex;
use std::time::Duration;

use rota_core::PoolState;
use rota_types::{Event, PoolChanged, ProviderId};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::{AppState, MAIN_WINDOW, tray};

/// How often the store's state file is checked (a metadata read; cheap). Well under the one
/// second within which another process's change must show.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Keeps the watcher thread alive for the app's lifetime.
struct LiveWatcher {
    _watcher: Mutex<rota_store::Watcher>,
}

/// The providers whose pool differs between two states; every provider when the old state is
/// unknown (cannot tell what changed).
pub fn changed_providers(before: Option<&PoolState>, after: Option<&PoolState>) -> Vec<ProviderId> {
    match (before, after) {
        (Some(a), Some(b)) => ProviderId::ALL
            .into_iter()
            .filter(|p| a.providers.get(p) != b.providers.get(p))
            .collect(),
        _ => ProviderId::ALL.to_vec(),
    }
}

/// Starts watching the store; events go to the main window, the tray is rebuilt.
pub fn start<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let store = app.state::<AppState>().store.clone();
    let mut last = store.load().ok();
    let handle = app.clone();
    let watch_store = store.clone();
    let watcher = store
        .watch(WATCH_INTERVAL, move |_generation| {
            let now = watch_store.load().ok();
            let changed = changed_providers(last.as_ref(), now.as_ref());
            if now.is_some() {
                last = now;
            }
            for provider_id in changed {
                if let Err(e) =
                    handle.emit_to(MAIN_WINDOW, PoolChanged::NAME, PoolChanged { provider_id })
                {
                    tracing::warn!("could not emit {}: {e}", PoolChanged::NAME);
                }
            }
            tray::refresh(&handle);
        })
        .map_err(|e| tauri::Error::Io(std::io::Error::other(e.to_string())))?;
    app.manage(LiveWatcher {
        _watcher: Mutex::new(watcher),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_before_means_every_provider() {
        let s = PoolState::default();
        assert_eq!(changed_providers(None, Some(&s)), ProviderId::ALL.to_vec());
        assert_eq!(changed_providers(Some(&s), None), ProviderId::ALL.to_vec());
        assert!(changed_providers(Some(&s), Some(&s)).is_empty());
    }
}
