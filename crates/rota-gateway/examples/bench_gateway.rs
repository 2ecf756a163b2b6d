//! Added latency and throughput of the gateway against rota-mock: the same small Messages
//! requests sent directly to the mock and through the gateway, at 64 concurrent connections.
//!
//! `cargo run -p rota-gateway --release --example bench_gateway [requests]`
#![allow(clippy::print_stdout)] // printing the figures is the point of a benchmark

use std::sync::Arc;
use std::time::{Duration, Instant};

use rota_core::NewLogin;
use rota_gateway::{Gateway, GatewayConfig};
use rota_mock::{MockConfig, MockServer, NewAccount};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

const CONCURRENCY: usize = 64;

struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i]
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

async fn run(url: String, headers: reqwest::header::HeaderMap, total: usize) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": "x".repeat(8 * 1024)}],
    })
    .to_string();
    let per_worker = total / CONCURRENCY;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, headers, body) =
            (client.clone(), url.clone(), headers.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .headers(headers.clone())
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let _ = resp.bytes().await.unwrap();
                out.push(t.elapsed());
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(6400);
    let mock = MockServer::start(MockConfig {
        usage_per_request: 0.0,
        log_capacity: 16,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        PoolStore::open(StoreConfig::new(dir.path()).with_secret_store(SecretStoreMode::File))
            .unwrap(),
    );
    let info = mock.add_account(NewAccount::new(ProviderId::Anthropic).email("bench@example.com"));
    let mut bundle = SecretBundle::new(info.access_token.clone());
    if let Some(e) = info.expires_at {
        bundle = bundle.with_expiry(e * 1000);
    }
    store
        .upsert_account(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            NewLogin {
                identity: AccountIdentity {
                    account_id: Some(info.account_uuid.clone()),
                    email: Some(info.email.clone()),
                    organization: None,
                    plan: None,
                },
                label: None,
            },
            bundle,
            rota_store::now_ms(),
        )
        .unwrap();
    let providers =
        Arc::new(Providers::new(ProvidersConfig::with_mock_base(mock.base_url())).unwrap());
    let gw = Gateway::start(
        GatewayConfig::new(dir.path()).with_port(0),
        store,
        providers,
    )
    .await
    .unwrap();

    let mut direct_h = reqwest::header::HeaderMap::new();
    direct_h.insert(
        "authorization",
        format!("Bearer {}", info.access_token).parse().unwrap(),
    );
    direct_h.insert("anthropic-beta", "oauth-2025-04-20".parse().unwrap());
    direct_h.insert("anthropic-version", "2023-06-01".parse().unwrap());
    let mut gw_h = reqwest::header::HeaderMap::new();
    gw_h.insert("x-api-key", gw.gateway().token().parse().unwrap());
    gw_h.insert("anthropic-version", "2023-06-01".parse().unwrap());
    let direct_url = format!("{}/v1/messages", mock.provider_base(ProviderId::Anthropic));
    let gw_url = format!("{}/anthropic/v1/messages?beta=true", gw.base_url());

    // Warm up connections and caches.
    let _ = run(direct_url.clone(), direct_h.clone(), CONCURRENCY * 4).await;
    let _ = run(gw_url.clone(), gw_h.clone(), CONCURRENCY * 4).await;

    let direct = run(direct_url, direct_h, total).await;
    let via = run(gw_url, gw_h, total).await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} requests (8 KiB bodies), {CONCURRENCY} concurrent connections",
        direct.latencies.len()
    );
    println!(
        "direct:  p50 {:.2} ms  p99 {:.2} ms  {:.0} req/s",
        ms(direct.pct(0.5)),
        ms(direct.pct(0.99)),
        direct.rps()
    );
    println!(
        "gateway: p50 {:.2} ms  p99 {:.2} ms  {:.0} req/s",
        ms(via.pct(0.5)),
        ms(via.pct(0.99)),
        via.rps()
    );
    println!(
        "added:   p50 {:.2} ms  p99 {:.2} ms  throughput {:.0}% of direct",
        ms(via.pct(0.5).saturating_sub(direct.pct(0.5))),
        ms(via.pct(0.99).saturating_sub(direct.pct(0.99))),
        100.0 * via.rps() / direct.rps()
    );
    gw.shutdown().await;
}
