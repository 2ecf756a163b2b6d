//! `rota auth usage` live: 8 Anthropic accounts whose usage endpoint answers after 200 ms, the
//! real `rota` binary (its process start, store, runtime and parallel fetch), against one
//! fetch's latency. Goal: at most 1.3 latencies of fetching.
//!
//! `cargo run -p rota-cli --release --example bench_usage` (builds the release `rota` first).

#![allow(clippy::print_stdout)] // a benchmark prints its figures

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rota_core::NewLogin;
use rota_mock::{Behavior, MockConfig, MockServer, NewAccount, Scope, ScriptStep};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig, now_ms};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

const ACCOUNTS: usize = 8;
const LATENCY_MS: u64 = 200;
const ROUNDS: usize = 7;

fn rota_binary() -> PathBuf {
    // examples/ sits next to the binary in the target directory.
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    dir.join(format!("rota{}", std::env::consts::EXE_SUFFIX))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rota = rota_binary();
    if !rota.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "rota-cli", "--release", "--bin", "rota"])
            .status()?;
        if !status.success() {
            return Err("building the rota binary failed".into());
        }
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mock = runtime.block_on(MockServer::start(MockConfig::default()))?;
    let tmp = tempfile::tempdir()?;
    let home = tmp.path().join("rota-home");
    let store = PoolStore::open(StoreConfig::new(&home).with_secret_store(SecretStoreMode::File))?;
    for i in 0..ACCOUNTS {
        let info = mock
            .add_account(NewAccount::new(ProviderId::Anthropic).email(format!("u{i}@example.com")));
        mock.script(
            &info.id,
            ScriptStep::sticky(Behavior::Latency { ms: LATENCY_MS }).scope(Scope::Usage),
        )?;
        let secrets = SecretBundle::new(info.access_token.clone())
            .with_refresh(info.refresh_token.clone().unwrap_or_default())
            .with_expiry(info.expires_at.unwrap_or_default() * 1000);
        let login = NewLogin {
            identity: AccountIdentity {
                account_id: Some(info.account_uuid.clone()),
                email: Some(info.email.clone()),
                ..AccountIdentity::default()
            },
            label: None,
        };
        store.upsert_account(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            login,
            secrets,
            now_ms(),
        )?;
    }
    let run = |args: &[&str]| -> Result<Duration, Box<dyn std::error::Error>> {
        let start = Instant::now();
        let out = Command::new(&rota)
            .args(args)
            .env("ROTA_HOME", &home)
            .env("ROTA_SECRET_STORE", "file")
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
            .stdin(Stdio::null())
            .output()?;
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || text.contains("fetch failed") {
            return Err(format!("rota failed: {out:?}").into());
        }
        Ok(took)
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut live = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..ROUNDS {
        live.push(run(&["auth", "usage"])?);
        cached.push(run(&["auth", "usage", "--cached"])?);
    }
    let live = median(live);
    let cached = median(cached);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let fetch = live.saturating_sub(cached);
    println!(
        "rota auth usage, {ACCOUNTS} accounts x {LATENCY_MS} ms latency: median {:.0} ms wall \
         ({:.0} ms for --cached, so the fetch part is {:.0} ms = {:.2} latencies; whole command = \
         {:.2} latencies; sequential would be {} ms; {ROUNDS} rounds)",
        ms(live),
        ms(cached),
        ms(fetch),
        ms(fetch) / LATENCY_MS as f64,
        ms(live) / LATENCY_MS as f64,
        LATENCY_MS * ACCOUNTS as u64,
    );
    runtime.block_on(mock.shutdown());
    Ok(())
}
