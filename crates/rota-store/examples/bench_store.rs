//! `cargo run -p rota-store --release --example bench_store [-- --iterations N --accounts N]`
//!
//! Times a persisted `setActive` (lock, read state from disk, rota-core's `set_active`, write
//! temp + fsync + rename + fsync dir) on a pool of 1,000 accounts and prints the median.
//! Goal: median ≤ 5 ms.
#![allow(clippy::print_stdout)] // printing the figures is this program's purpose

use std::time::{Duration, Instant};

use rota_core::{PoolState, ProviderPool, Record, Ulid};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, Store, StoreConfig, StoreError};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId, SwitchReason};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), StoreError> {
    let accounts = arg("--accounts", 1000);
    let iterations = arg("--iterations", 200);
    let dir = std::env::temp_dir().join(format!("rota-bench-store-{}", std::process::id()));
    let store: PoolStore =
        Store::open(StoreConfig::new(&dir).with_secret_store(SecretStoreMode::File))?;
    let now = rota_store::now_ms();

    let ids = fill_pool(&store, accounts, now)?;
    let state_size = std::fs::metadata(&store.paths().state).map_or(0, |m| m.len());

    let mut times: Vec<Duration> = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let id = ids[(i * 7919) % ids.len()];
        let start = Instant::now();
        store.set_active(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            id,
            SwitchReason::ManualCli,
            now,
        )?;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    // The same work without IO: parse state.json, set_active, serialise.
    let bytes = std::fs::read(&store.paths().state).map_err(|e| StoreError::Io {
        action: "cannot read",
        path: store.paths().state.clone(),
        source: e,
    })?;
    let mut cpu: Vec<Duration> = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let id = ids[(i * 7919) % ids.len()];
        let start = Instant::now();
        let mut state: PoolState = serde_json::from_slice(&bytes).expect("state parses");
        let parsed = start.elapsed();
        state
            .set_active(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                id,
                SwitchReason::ManualCli,
                now,
            )
            .expect("known id");
        let applied = start.elapsed();
        let out = serde_json::to_vec(&state).expect("serialises");
        std::hint::black_box(out);
        cpu.push(start.elapsed());
        if i == 0 {
            println!(
                "first run without IO: parse {:.2} ms, set_active {:.2} ms, serialise {:.2} ms",
                ms(parsed),
                ms(applied.saturating_sub(parsed)),
                ms(start.elapsed().saturating_sub(applied))
            );
        }
    }
    cpu.sort();
    println!(
        "without IO (parse + set_active + serialise): median {:.2} ms",
        ms(cpu[cpu.len() / 2])
    );
    let median = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    println!(
        "store setActive persisted (fsync), {accounts} accounts, state.json {} KiB, {iterations} runs: \
         median {:.2} ms, p95 {:.2} ms, min {:.2} ms, max {:.2} ms (goal: median <= 5 ms)",
        state_size / 1024,
        ms(median),
        ms(p95),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A pool of `accounts` Anthropic accounts, with secrets, written in one mutation.
fn fill_pool(store: &PoolStore, accounts: usize, now: i64) -> Result<Vec<Ulid>, StoreError> {
    let ids: Vec<_> = (0..accounts)
        .map(|_| rota_store::new_record_id(now))
        .collect::<Result<_, _>>()?;
    store.mutate(|txn| {
        let mut pool = ProviderPool::default();
        for (i, id) in ids.iter().enumerate() {
            pool.records.push(Record {
                id: *id,
                namespace: DEFAULT_NAMESPACE.to_owned(),
                label: format!("user{i}@example.com"),
                identity: AccountIdentity {
                    account_id: Some(format!("acct-{i}")),
                    email: Some(format!("user{i}@example.com")),
                    organization: None,
                    plan: Some("max".to_owned()),
                },
                created_at: now,
                updated_at: now,
                health: rota_types::AccountHealth::default(),
                cooldown_kind: None,
                rate_limit_streak: 0,
                usage: None,
                usage_history: Vec::new(),
                pending_redeem: None,
                last_redeem: None,
                model_limits: std::collections::BTreeMap::new(),
                reset_credits: None,
                extra_usage: None,
            });
            txn.vault_mut()?.insert(
                id.to_string(),
                SecretBundle::new(format!("access-{i}")).with_refresh(format!("refresh-{i}")),
            );
        }
        pool.order.insert(DEFAULT_NAMESPACE.to_owned(), ids.clone());
        txn.state = PoolState::default();
        txn.state.providers.insert(ProviderId::Anthropic, pool);
        Ok::<_, StoreError>(())
    })?;
    Ok(ids)
}
