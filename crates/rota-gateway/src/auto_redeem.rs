//! The opt-in automatic reset-credit redeem, run where a pool is seen running dry: the
//! attempt loop that finds no OpenAI account to serve a request (both the app and
//! `rota serve` host this gateway). The request still gets its 429 — the redeem is a slow
//! provider call and stays out of its path — and the next request finds the account usable
//! again. Whether a redeem is due is rota-core's decision ([`rota_core::AutoRedeem`]), made
//! again and recorded under the store lock by rota-providers, so racing requests, a second
//! gateway process or a restart redeem once per exhaustion.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rota_core::{AutoRedeem, PoolState};
use rota_types::{ProviderId, UnixMs};

use crate::Shared;

/// The pool of `provider` in `ns` had no account for a request at `now` (`state` is what the
/// request saw). Starts one background redeem when one is due and the setting is on.
pub(crate) fn pool_dry(
    shared: &Arc<Shared>,
    state: &PoolState,
    provider: ProviderId,
    ns: &str,
    now: UnixMs,
) {
    if provider != ProviderId::OpenAi
        || !matches!(
            state.auto_redeem_decision(provider, ns, now),
            AutoRedeem::Redeem { .. }
        )
    {
        return;
    }
    // One at a time in this process; the store decides across processes.
    if shared.auto_redeeming.swap(true, Ordering::AcqRel) {
        return;
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
            Ok(true) => {
                match rota_providers::reset_credits::auto_redeem(&shared.tokens, &ns).await {
                    // The answer is in the store (the switch log, a cleared cooldown): serve
                    // from it at once rather than at the watcher's next look.
                    Ok(Some(_)) => {
                        if let Err(e) = shared.view.reload() {
                            tracing::warn!(error = %e, "cannot re-read the pool after a redeem");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "automatic reset-credit redeem failed"),
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the auto_redeem setting"),
        }
    });
}

struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.auto_redeeming.store(false, Ordering::Release);
    }
}
