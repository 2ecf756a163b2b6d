//! Live updates: the store is watched, and every change — from this app, the `rota` CLI, the
//! gateway or any other process — becomes events for the main window (`pool-changed`,
//! `usage-updated`, `switched`), desktop notifications (automatic switches, an exhausted pool,
//! a refused login) and a rebuilt tray menu. Also here: the background usage poller and the
//! forwarding of gateway session updates.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use rota_core::PoolState;
use rota_gateway::GatewayEvent;
use rota_store::now_ms;
use rota_types::{
    DEFAULT_NAMESPACE, Event, PoolChanged, ProviderId, SessionUpdated, Switched, UsageUpdated,
};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;

use crate::{AppState, MAIN_WINDOW, notify, tray};

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
            if let (Some(before), Some(after)) = (last.as_ref(), now.as_ref()) {
                announce(&handle, before, after);
            }
            if now.is_some() {
                last = now;
            }
            for provider_id in changed {
                emit(&handle, PoolChanged { provider_id });
            }
            tray::refresh(&handle);
            // A new account or a cleared cooldown may be due for a usage fetch.
            handle.state::<AppState>().poll_wake.notify_one();
        })
        .map_err(|e| tauri::Error::Io(std::io::Error::other(e.to_string())))?;
    app.manage(LiveWatcher {
        _watcher: Mutex::new(watcher),
    });
    Ok(())
}

fn emit<R: Runtime, E: Event + Clone>(app: &AppHandle<R>, event: E) {
    if let Err(e) = app.emit_to(MAIN_WINDOW, E::NAME, event) {
        tracing::warn!("could not emit {}: {e}", E::NAME);
    }
}

/// Records whose usage snapshot changed (fetched by anyone, or read from gateway headers).
pub fn usage_changes(before: &PoolState, after: &PoolState) -> Vec<UsageUpdated> {
    let mut out = Vec::new();
    for (provider, pool) in &after.providers {
        for r in &pool.records {
            let old = before
                .providers
                .get(provider)
                .and_then(|p| p.record(r.id))
                .and_then(|b| b.usage.as_ref());
            if r.usage.is_some() && r.usage.as_ref() != old {
                out.push(UsageUpdated {
                    provider_id: *provider,
                    record_id: r.id.to_string(),
                });
            }
        }
    }
    out
}

/// `usage-updated` and `switched` events and notifications for one change of the store.
fn announce<R: Runtime>(app: &AppHandle<R>, before: &PoolState, after: &PoolState) {
    for e in usage_changes(before, after) {
        emit(app, e);
    }
    let changes = notify::changes(before, after, now_ms());
    for entry in &changes.switched {
        emit(app, Switched::from(entry));
    }
    for n in &changes.notices {
        notify_user(app, n);
    }
}

/// Keeps the autopilot thread alive for the app's lifetime.
struct HostedAutopilot {
    _autopilot: Mutex<rota_handoff::Autopilot>,
}

/// Proactive switching and hand-off for switches made by anyone (the gateway's rotations, the
/// CLI, the tray) while the app runs. Proactive switches reach the user through the switch log
/// (a `switched` event and a notification); failed hand-offs are notified here.
pub fn start_autopilot<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let state = app.state::<AppState>();
    let (store, config) = (
        state.store.clone(),
        rota_handoff::AutopilotConfig::from_config(&state.config),
    );
    let handle = app.clone();
    let autopilot = rota_handoff::Autopilot::spawn(store, config, move |event| match event {
        rota_handoff::AutopilotEvent::HandoffFailed { provider, message } => {
            notify_user(
                &handle,
                &notify::Notice {
                    title: format!("{}: hand-off failed", provider.info().display_name),
                    body: message,
                },
            );
        }
        rota_handoff::AutopilotEvent::HandedOff {
            provider, target, ..
        } => tracing::info!(%provider, %target, "handed off"),
        rota_handoff::AutopilotEvent::Switched(_) => {}
    })
    .map_err(|e| tauri::Error::Io(std::io::Error::other(e.to_string())))?;
    app.manage(HostedAutopilot {
        _autopilot: Mutex::new(autopilot),
    });
    Ok(())
}

/// A desktop notification, when the user wants them.
pub(crate) fn notify_user<R: Runtime>(app: &AppHandle<R>, n: &notify::Notice) {
    if !app.state::<AppState>().settings.get().notifications {
        return;
    }
    // No notification daemon (a bare session) is not worth more than a log line.
    if let Err(e) = app
        .notification()
        .builder()
        .title(&n.title)
        .body(&n.body)
        .show()
    {
        tracing::info!(title = %n.title, "notification not shown: {e}");
    }
}

/// Bounds of the poller's sleep: often enough to notice a clock jump, rarely enough to cost
/// nothing when idle (the schedule itself comes from the usage service's policy).
const POLL_MIN_SLEEP: Duration = Duration::from_secs(5);
const POLL_MAX_SLEEP: Duration = Duration::from_mins(5);

/// Background usage polling (adaptive, per the usage service's policy; off by setting). Results
/// reach the UI through the store watcher as `usage-updated`.
pub fn start_usage_poller<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let (usage, store, wake) = (
        state.usage.clone(),
        state.store.clone(),
        state.poll_wake.clone(),
    );
    tauri::async_runtime::spawn(async move {
        loop {
            let now = now_ms();
            if usage.is_enabled()
                && let Err(e) = usage.poll_due(now).await
            {
                tracing::warn!("usage poll failed: {e}");
            }
            let now = now_ms();
            let next = match store.load() {
                Ok(s) if usage.is_enabled() => s
                    .providers
                    .iter()
                    .flat_map(|(p, pool)| {
                        pool.records_in(DEFAULT_NAMESPACE)
                            .map(|r| usage.next_poll(&s, *p, r.id, now))
                            .collect::<Vec<_>>()
                    })
                    .min(),
                _ => None,
            };
            let sleep = next.map_or(POLL_MAX_SLEEP, |at| {
                Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
                    .clamp(POLL_MIN_SLEEP, POLL_MAX_SLEEP)
            });
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = wake.notified() => {
                    // Coalesce bursts of store changes (our own writes wake us too).
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    });
}

/// How often session updates reach the UI at most (a busy tool sends many requests a second).
const SESSION_EVENT_INTERVAL: Duration = Duration::from_millis(250);

/// Forwards gateway events: `session-updated` per session, coalesced.
pub fn forward_gateway_events<R: Runtime>(
    app: &AppHandle<R>,
    mut events: tokio::sync::broadcast::Receiver<GatewayEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let mut pending = HashSet::new();
            match events.recv().await {
                Ok(GatewayEvent::SessionUpdated(s)) => {
                    pending.insert(s.session_id);
                }
                Ok(GatewayEvent::Switched(_)) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            tokio::time::sleep(SESSION_EVENT_INTERVAL).await;
            loop {
                match events.try_recv() {
                    Ok(GatewayEvent::SessionUpdated(s)) => {
                        pending.insert(s.session_id);
                    }
                    Ok(GatewayEvent::Switched(_))
                    | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            for session_id in pending {
                emit(&app, SessionUpdated { session_id });
            }
        }
    });
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
