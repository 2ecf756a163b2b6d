//! Parallel usage fetch: 8 Anthropic accounts whose usage endpoint answers after 200 ms take
//! about one latency, not eight.
//!
//! `cargo run -p rota-providers --release --example bench_usage`

#![allow(clippy::print_stdout)] // a benchmark prints its figures

use std::sync::Arc;
use std::time::{Duration, Instant};

use rota_core::NewLogin;
use rota_mock::{Behavior, MockConfig, MockServer, NewAccount, Scope, ScriptStep};
use rota_providers::{FetchStatus, Providers, ProvidersConfig, TokenManager, UsageService};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, ProviderId};

const ACCOUNTS: usize = 8;
const LATENCY_MS: u64 = 200;
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig::default()).await?;
    let tmp = tempfile::tempdir()?;
    let store = Arc::new(PoolStore::open(
        StoreConfig::new(tmp.path()).with_secret_store(SecretStoreMode::File),
    )?);
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
            "default",
            login,
            secrets,
            rota_store::now_ms(),
        )?;
    }
    let providers = Arc::new(Providers::new(ProvidersConfig::with_mock_base(
        mock.base_url(),
    ))?);
    let service = UsageService::new(Arc::new(TokenManager::new(store.clone(), providers)));

    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let results = service.fetch(None, rota_store::now_ms()).await?;
        let took = start.elapsed();
        assert_eq!(results.len(), ACCOUNTS);
        assert!(
            results.iter().all(|r| r.status == FetchStatus::Fresh),
            "{results:?}"
        );
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    let sequential = Duration::from_millis(LATENCY_MS * ACCOUNTS as u64);
    println!(
        "usage fetch of {ACCOUNTS} accounts with {LATENCY_MS} ms latency each: median {:.0} ms \
         (min {:.0} ms, max {:.0} ms over {ROUNDS} rounds; sequential would be {} ms) = {:.2} latencies",
        median.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        sequential.as_millis(),
        median.as_secs_f64() * 1000.0 / LATENCY_MS as f64,
    );
    mock.shutdown().await;
    Ok(())
}
