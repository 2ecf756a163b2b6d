//! Where an attempt's outcome goes: the account's counters (batched) or its health and the
//! pool's order (the in-memory view at once, the store in the background), and the usage its
//! rate-limit headers report. What the outcome means is rota-core's (docs/rules.md §4).

use axum::http::HeaderMap;
use rota_core::{Action, Outcome, PoolState, Ulid};
use rota_types::{ProviderId, UnixMs};

use crate::{Gateway, GatewayEvent, Shared};

/// Store writes a request started; its response waits for them (so whoever sees the answer
/// also sees the cooldown or switch on disk), but the replay does not.
pub(crate) type PendingWrites = Vec<tokio::task::JoinHandle<()>>;

/// Applies an outcome: batched when it only changes counters; otherwise applied to the
/// in-memory view at once (this and concurrent requests skip a cooling account immediately)
/// and written through the locked store in the background, overlapping the replay. Returns
/// what to do with the request.
pub(super) fn record(
    gw: &Gateway,
    state: &PoolState,
    provider: ProviderId,
    id: Ulid,
    outcome: &Outcome,
    now: UnixMs,
    pending: &mut PendingWrites,
) -> Action {
    let shared = &gw.shared;
    let record = state.record(provider, id);
    if record.is_some_and(|r| outcome.is_counter_only(r)) {
        let key = id.to_string();
        if matches!(outcome, Outcome::Success { .. }) {
            shared.counters.record_success(&key, outcome.last_status());
        } else {
            shared.counters.record_failure(&key, outcome.last_status());
        }
        return outcome.action();
    }
    let policy = shared.config.cooldown;
    let (seq, provisional) = shared
        .view
        .apply_outcome(provider, id, outcome, &policy, now);
    let action = match &provisional {
        Ok(effect) => effect.action,
        // The account vanished (removed by another process): move on.
        Err(_) => outcome.action_without_account(),
    };
    let gw = gw.clone();
    let o = outcome.clone();
    // One request's outcomes land in the order they happened (as the view applied them): two
    // writes on parallel blocking threads could otherwise swap, and a 429 on the account
    // rotated to, written first, would find it not yet active and log no switch for it.
    let previous = pending.pop();
    let write = move || {
        let shared = &gw.shared;
        let result = shared.store.mutate(|txn| {
            txn.state
                .record_outcome(provider, id, &o, &policy, now)
                .map_err(rota_store::StoreError::from)
        });
        match result {
            Ok(effect) => {
                if let Some(entry) = effect.switched {
                    tracing::info!(provider = %provider, from = ?entry.from, to = %entry.to, reason = %entry.reason, "switched account");
                    gw.emit(GatewayEvent::Switched(entry));
                }
            }
            Err(e) => {
                tracing::error!(provider = %provider, account = %id, error = %e, "cannot record an upstream outcome");
            }
        }
        // The durable version replaces the provisional one.
        shared.view.settle(seq);
        if let Err(e) = shared.view.reload() {
            tracing::warn!(error = %e, "cannot re-read the pool");
        }
    };
    pending.push(match previous {
        None => tokio::task::spawn_blocking(write),
        Some(previous) => tokio::spawn(async move {
            let _ = previous.await;
            let _ = tokio::task::spawn_blocking(write).await;
        }),
    });
    action
}

/// Queues a usage snapshot from rate-limit headers (written by the periodic flush).
pub(super) fn note_usage(
    shared: &Shared,
    state: &PoolState,
    provider: ProviderId,
    id: Ulid,
    headers: &HeaderMap,
    now: UnixMs,
) {
    let adapter = shared.providers.adapter(provider);
    let mut pending = shared
        .usage_pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Taken out and put back rather than cloned: this runs on every answer.
    let queued = pending.remove(&(provider, id));
    let prev = queued
        .as_ref()
        .or_else(|| state.record(provider, id).and_then(|r| r.usage.as_ref()));
    if let Some(snapshot) = adapter.usage_from_headers(headers, now, prev) {
        pending.insert((provider, id), snapshot);
    } else if let Some(q) = queued {
        pending.insert((provider, id), q);
    }
}

/// Writes the coalesced usage snapshots (one mutation for all of them).
pub(crate) fn flush_usage(shared: &Shared) {
    let batch = std::mem::take(
        &mut *shared
            .usage_pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if batch.is_empty() {
        return;
    }
    let result = shared.store.mutate(|txn| {
        for ((provider, id), snapshot) in batch {
            // A removed account is fine to skip.
            let _ = txn.state.record_usage(provider, id, snapshot);
        }
        Ok::<_, rota_store::StoreError>(())
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot write usage snapshots");
    }
    // Our own write: read it back now rather than in the next request.
    if let Err(e) = shared.view.reload() {
        tracing::warn!(error = %e, "cannot re-read the pool");
    }
}
