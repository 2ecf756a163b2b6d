//! `demo_seed <rota-home> <mock-state.json>`: stores the accounts a `rota-mock --demo` server
//! created (its `--state-out` file) in the Rota store at `<rota-home>`, as a login would: the
//! identity the provider reports and the account's current tokens, through `rota-store`'s API.
//! `cargo xtask demo` runs it before starting the app.
//!
//! Per provider the last account stored becomes active; it is the one whose window is full, so
//! the first request through the gateway meets a 429 and rotates (a cooldown to show).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rota_mock::AccountInfo;
use rota_store::{PoolStore, SecretStoreMode, StoreConfig, now_ms};
use rota_types::DEFAULT_NAMESPACE;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [home, state] = args.as_slice() else {
        bail!("usage: demo_seed <rota-home> <mock-state.json>");
    };
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state).with_context(|| format!("reading {state}"))?)?;
    let mut accounts: Vec<AccountInfo> =
        serde_json::from_value(state["accounts"].clone()).context("mock state: accounts")?;
    // Fullest window last: it ends up active.
    accounts.sort_by(|a, b| fullness(a).total_cmp(&fullness(b)));

    // File secrets: demo tokens never reach the user's keychain.
    let store = PoolStore::open(
        StoreConfig::new(PathBuf::from(home)).with_secret_store(SecretStoreMode::File),
    )?;
    for info in &accounts {
        store.upsert_account(
            info.provider,
            DEFAULT_NAMESPACE,
            rota_mock::seed::login_of(info),
            rota_mock::seed::secrets_of(info),
            now_ms(),
        )?;
    }
    eprintln!("stored {} demo accounts in {home}", accounts.len());
    Ok(())
}

/// How used the account is (its largest window), for the order of the logins.
fn fullness(info: &AccountInfo) -> f64 {
    let u = &info.usage;
    let windows = [u.five_hour, u.seven_day]
        .into_iter()
        .flatten()
        .map(|w| w.utilization);
    let q = &u.premium_interactions;
    let premium = (!q.unlimited && q.entitlement > 0)
        .then(|| 100.0 * (1.0 - q.remaining as f64 / q.entitlement as f64));
    windows.chain(premium).fold(0.0, f64::max)
}
