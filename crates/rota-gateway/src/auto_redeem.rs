//! The opt-in automatic reset-credit redeem, run where a pool is seen running dry: the
//! attempt loop that finds no OpenAI account to serve a request (both the app and
//! `rota serve` host this gateway). The request still gets its 429 — the redeem is a slow
//! provider call and stays out of its path — and the next request finds the account usable
//! again. Whether a redeem is due is rota-core's decision ([`rota_core::AutoRedeem`]), made
//! again and recorded under the store lock by rota-providers, so racing requests, a second
//! gateway process or a restart redeem once per exhaustion.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rota_core::{AutoRedeem, AutoRedeemSkip, PoolState};
use rota_types::{ProviderId, UnixMs};

use crate::Shared;

/// How often a process fetches the credits of exhausted accounts it has never seen.
const CREDITS_FETCH_INTERVAL_MS: UnixMs = 60_000;

/// The pool of `provider` in `ns` had no account for a request at `now` (`state` is what the
/// request saw). Starts one background redeem when one is due and the setting is on.
pub(crate) fn pool_dry(
    shared: &Arc<Shared>,
    state: &PoolState,
    provider: ProviderId,
    ns: &str,
    now: UnixMs,
) {
    if provider != ProviderId::OpenAi {
        return;
    }
    let fetch_first = match state.auto_redeem_decision(provider, ns, now) {
        AutoRedeem::Redeem { .. } => Vec::new(),
        // Credits never fetched: fetch them first, at most once a minute per process (a
        // failing fetch must not cost a provider call per dry request).
        AutoRedeem::Skip(AutoRedeemSkip::CreditsUnknown) => {
            let last = shared.credits_fetched_at.load(Ordering::Acquire);
            if now.saturating_sub(last) < CREDITS_FETCH_INTERVAL_MS {
                return;
            }
            state.credits_unknown(provider, ns, now)
        }
        AutoRedeem::Skip(_) => return,
    };
    // One at a time in this process; the store decides across processes.
    if shared.auto_redeeming.swap(true, Ordering::AcqRel) {
        return;
    }
    if !fetch_first.is_empty() {
        shared.credits_fetched_at.store(now, Ordering::Release);
    }
    let shared = shared.clone();
    let ns = ns.to_owned();
    tokio::spawn(async move {
        // Cleared however the task ends (a panic included), so a later dry pool is seen.
        let _running = Running(shared.clone());
        let source = shared.config.auto_redeem.clone();
        let enabled = tokio::task::spawn_blocking(move || source.enabled())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match enabled {
            Ok(true) => run(&shared, &ns, &fetch_first).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the auto_redeem setting"),
        }
    });
}

/// The redeem. The request that saw the pool dry writes its own 429's cooldown after this
/// starts, so the store may not show the pool dry yet: asked again a moment later.
async fn run(shared: &Arc<Shared>, ns: &str, fetch_first: &[rota_core::Ulid]) {
    let mut fetch = fetch_first;
    for _ in 0..SETTLE_TRIES {
        match rota_providers::reset_credits::auto_redeem(&shared.tokens, ns, fetch).await {
            // The answer is in the store (the switch log, a cleared cooldown): serve from it
            // at once rather than at the watcher's next look.
            Ok(Ok(_)) => {
                if let Err(e) = shared.view.reload() {
                    tracing::warn!(error = %e, "cannot re-read the pool after a redeem");
                }
                return;
            }
            Ok(Err(AutoRedeemSkip::NotExhausted)) => {
                fetch = &[];
                tokio::time::sleep(SETTLE_WAIT).await;
            }
            Ok(Err(_)) => return,
            Err(e) => {
                tracing::warn!(error = %e, "automatic reset-credit redeem failed");
                return;
            }
        }
    }
}

/// How often and how long [`run`] waits for the dry pool's last cooldown to be written.
const SETTLE_TRIES: usize = 5;
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.auto_redeeming.store(false, Ordering::Release);
    }
}
