//! The autopilot long-running hosts (the desktop app, `rota serve`) run: on every pool change
//! from any process, and on a timer (a dwell time ends, usage ages without a write), it
//! (a) switches proactively where a provider's toggle is on — one locked mutation, reason
//! `proactive`, into the switch log — and (b) syncs every enabled hand-off target, so a switch
//! reaches the tool's file whoever made it (gateway rotation, tray, CLI, another process).
//!
//! Several hosts may run it at once: the proactive decision is re-made under the store lock
//! (the dwell time stops a second switch) and sync is idempotent under the hand-off lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use rota_core::ProactivePolicy;
use rota_store::{PoolStore, Watcher};
use rota_types::{DEFAULT_NAMESPACE, ProviderId, SwitchLogEntry, UnixMs};

use crate::error::HandoffError;
use crate::sync::{SyncOutcome, sync};

/// How the autopilot decides and how often it looks.
#[derive(Debug, Clone, PartialEq)]
pub struct AutopilotConfig {
    /// Thresholds of the proactive switch; whether it runs is each provider's toggle.
    pub policy: ProactivePolicy,
    /// How often the store is polled for other processes' writes.
    pub watch_interval: Duration,
    /// Re-evaluation without a change (a dwell time ends while nothing is written).
    pub tick: Duration,
}

impl Default for AutopilotConfig {
    fn default() -> Self {
        Self {
            policy: ProactivePolicy::default(),
            watch_interval: rota_store::DEFAULT_WATCH_INTERVAL,
            tick: Duration::from_secs(30),
        }
    }
}

impl AutopilotConfig {
    /// Defaults, then the config file's `[proactive]` section, then the environment
    /// (`rota_config::Config::load`), plus `ROTA_AUTOPILOT_TICK_MS`.
    pub fn load() -> Result<Self, rota_config::ConfigError> {
        Ok(Self::from_config(&rota_config::Config::load()?))
    }

    /// Defaults with the thresholds a loaded config sets (the file's `[proactive]` section with
    /// the environment over it: rota-config is the one place they are parsed), and the tick
    /// from `ROTA_AUTOPILOT_TICK_MS`.
    #[must_use]
    pub fn from_config(config: &rota_config::Config) -> Self {
        let mut c = Self::default();
        if let Some(ms) = std::env::var(rota_config::env::AUTOPILOT_TICK_MS)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
        {
            c.tick = Duration::from_millis(ms);
        }
        let p = &config.proactive;
        if let Some(t) = p.threshold {
            c.policy.threshold = t;
        }
        if let Some(h) = p.hysteresis.filter(|h| *h >= 0.0) {
            c.policy.hysteresis = h;
        }
        let ms = |s: u64| {
            i64::try_from(s)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
        };
        if let Some(s) = p.min_dwell_secs {
            c.policy.min_dwell_ms = ms(s);
        }
        if let Some(s) = p.max_usage_age_secs.filter(|s| *s > 0) {
            c.policy.max_usage_age_ms = ms(s);
        }
        c
    }
}

/// What the autopilot did; hosts turn these into notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutopilotEvent {
    /// A proactive switch (also in the switch log, with its detail).
    Switched(SwitchLogEntry),
    /// A hand-off target was rewritten with the provider's active account.
    HandedOff {
        provider: ProviderId,
        record_id: String,
        /// Set when newer tokens the tool had refreshed were adopted first.
        adopted: Option<String>,
        target: String,
    },
    /// A hand-off failed (reported once per distinct message until it succeeds again).
    HandoffFailed {
        provider: ProviderId,
        message: String,
    },
}

/// One pass: proactive switches, then hand-off syncs. Synchronous (file locks, fsync); hosts
/// with an async runtime run it on a blocking thread.
pub fn run_once(store: &PoolStore, config: &AutopilotConfig, now: UnixMs) -> Vec<AutopilotEvent> {
    let mut events = Vec::new();
    let state = match store.load() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "autopilot cannot read the store");
            return events;
        }
    };
    // Decide on a lock-free read; lock (and write) only when a switch is due.
    if state.proactive_pending(DEFAULT_NAMESPACE, &config.policy, now) {
        match store.mutate(|txn| {
            Ok::<_, rota_store::StoreError>(txn.state.apply_proactive_all(
                DEFAULT_NAMESPACE,
                &config.policy,
                now,
            ))
        }) {
            Ok(switched) => {
                for entry in switched {
                    tracing::info!(provider = %entry.provider_id, to = %entry.to, "proactive switch");
                    events.push(AutopilotEvent::Switched(entry));
                }
            }
            Err(e) => tracing::warn!(error = %e, "proactive switch failed"),
        }
    }
    let enabled: Vec<ProviderId> = state
        .settings
        .iter()
        .filter(|(_, s)| s.handoff.enabled)
        .map(|(p, _)| *p)
        .collect();
    for provider in enabled {
        match sync(store, provider, false, now) {
            Ok(SyncOutcome::Written {
                record_id,
                adopted,
                target,
                ..
            }) => {
                events.push(AutopilotEvent::HandedOff {
                    provider,
                    record_id: record_id.to_string(),
                    adopted: adopted.map(|a| a.to_string()),
                    target,
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%provider, error = %e, "hand-off failed");
                events.push(AutopilotEvent::HandoffFailed {
                    provider,
                    message: e.to_string(),
                });
            }
        }
    }
    events
}

/// A running autopilot; dropping it (or [`Autopilot::stop`]) stops the thread and the watcher.
#[derive(Debug)]
pub struct Autopilot {
    wake: Option<SyncSender<Wake>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: Watcher,
}

enum Wake {
    Changed,
    Stop,
}

impl Autopilot {
    /// Starts the autopilot on its own thread: one pass at once, then one per store change
    /// (any process) and per `config.tick`. `on_event` runs on that thread for every
    /// [`AutopilotEvent`] (repeated identical failures are reported once).
    pub fn spawn(
        store: Arc<PoolStore>,
        config: AutopilotConfig,
        on_event: impl Fn(AutopilotEvent) + Send + 'static,
    ) -> Result<Self, HandoffError> {
        let (tx, rx) = mpsc::sync_channel::<Wake>(1);
        let watch_tx = tx.clone();
        let watcher = store.watch(config.watch_interval, move |_| {
            // A pass is already queued when the channel is full: coalesce.
            match watch_tx.try_send(Wake::Changed) {
                Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        })?;
        let thread = std::thread::Builder::new()
            .name("rota-autopilot".to_owned())
            .spawn(move || {
                let mut failures: BTreeMap<ProviderId, String> = BTreeMap::new();
                loop {
                    for event in run_once(&store, &config, rota_store::now_ms()) {
                        match &event {
                            AutopilotEvent::HandoffFailed { provider, message } => {
                                if failures.get(provider) == Some(message) {
                                    continue;
                                }
                                failures.insert(*provider, message.clone());
                            }
                            AutopilotEvent::HandedOff { provider, .. } => {
                                failures.remove(provider);
                            }
                            AutopilotEvent::Switched(_) => {}
                        }
                        on_event(event);
                    }
                    match rx.recv_timeout(config.tick) {
                        Ok(Wake::Changed) | Err(RecvTimeoutError::Timeout) => {}
                        Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(|e| HandoffError::io("cannot start the autopilot thread", "", e))?;
        Ok(Self {
            wake: Some(tx),
            thread: Some(thread),
            _watcher: watcher,
        })
    }

    /// Stops and waits for the current pass to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.wake.take() {
            // Blocks at most until the running pass takes the queued wake-up.
            let _ = tx.send(Wake::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Autopilot {
    fn drop(&mut self) {
        self.shutdown();
    }
}
