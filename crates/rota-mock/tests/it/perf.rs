//! Throughput of the hot path (`/v1/messages`, small, non-streaming) and of small SSE streams.
//! Ignored by default (timing depends on the machine); run in release:
//! `cargo test -p rota-mock --release --test perf -- --ignored --nocapture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rota_mock::{MockConfig, MockServer, NewAccount};
use rota_types::ProviderId;

async fn run(stream: bool, seconds: u64, concurrency: usize) -> f64 {
    let mock = MockServer::start(MockConfig {
        log_capacity: 1_000,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let a = mock.add_account(NewAccount::new(ProviderId::Anthropic));
    let url = format!("{}/v1/messages", mock.provider_base(ProviderId::Anthropic));
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5", "max_tokens": 16, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default(); // see crate::common::install_crypto_provider
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, token, done) = (
            client.clone(),
            url.clone(),
            body.clone(),
            a.access_token.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("anthropic-beta", "oauth-2025-04-20")
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[allow(clippy::print_stdout)] // the measurement is the output
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run in release with --ignored"]
async fn hot_path_throughput() {
    let json = run(false, 3, 64).await;
    let sse = run(true, 3, 64).await;
    println!(
        "non-streaming: {json:.0} req/s; streaming: {sse:.0} req/s (client and server share the cores)"
    );
    assert!(json > 2_000.0, "{json}");
}
