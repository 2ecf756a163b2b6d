//! Behind an HTTP proxy named in the environment (`HTTP_PROXY` and friends), the gateway's
//! upstream requests go through that proxy (the reqwest path of `upstream.rs`), still with the
//! account's credential and still rotating on a 429. Its own test binary: the variable is
//! process-wide.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use rota_gateway::GatewayConfig;
use rota_mock::{AccountInfo, Behavior, LimitWindow, MockConfig, MockServer};
use rota_store::PoolStore;
use rota_types::ProviderId;

#[path = "it/common.rs"]
mod common;
use common::{add_account, file_store, start_gateway};

/// What the forward proxy saw: the absolute-form request targets.
type Seen = Arc<Mutex<Vec<String>>>;

/// A minimal forward proxy: records the target, then forwards it (no proxy of its own).
async fn forward(State((seen, client)): State<(Seen, reqwest::Client)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    seen.lock().unwrap().push(parts.uri.to_string());
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut headers = parts.headers.clone();
    headers.remove("proxy-connection");
    let answer = client
        .request(parts.method, parts.uri.to_string())
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut resp = Response::builder().status(answer.status());
    for (k, v) in answer.headers() {
        resp = resp.header(k, v);
    }
    resp.body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

/// A pool of two Anthropic accounts at the mock and in a store at `dir`; the second is active.
fn seed(mock: &rota_mock::MockHandle, dir: &std::path::Path) -> (Arc<PoolStore>, Vec<AccountInfo>) {
    let store = file_store(dir);
    let accounts: Vec<AccountInfo> = ["spare@example.com", "busy@example.com"]
        .into_iter()
        .map(|email| add_account(mock, &store, ProviderId::Anthropic, email).0)
        .collect();
    (store, accounts)
}

#[test]
#[allow(unsafe_code)]
fn with_a_proxy_in_the_environment_upstream_requests_go_through_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    // SAFETY: this binary's only test sets it before starting any runtime or thread of its
    // own; nothing else in the process touches the environment meanwhile.
    unsafe {
        std::env::set_var("HTTP_PROXY", format!("http://{proxy}"));
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let seen: Seen = Arc::default();
        // The process-wide TLS provider Rota's own clients install, for this test's client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let direct = reqwest::Client::builder().no_proxy().build().unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((seen.clone(), direct.clone()));
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (store, accounts) = seed(&mock, dir.path());
        // The last one added is active: its first answer is a quota 429.
        mock.push_behavior(
            "busy@example.com",
            Behavior::RateLimit {
                reset_in_seconds: 900,
                window: LimitWindow::FiveHour,
            },
        )
        .unwrap();
        let gw = start_gateway(
            GatewayConfig::new(dir.path()).with_port(0),
            store.clone(),
            mock.base_url(),
        )
        .await;

        let answer = direct
            .post(format!("{}/anthropic/v1/messages", gw.base_url()))
            .header("x-api-key", gw.gateway().token())
            .header("anthropic-version", "2023-06-01")
            .header("user-agent", rota_mock::claude_code::USER_AGENT)
            .json(&rota_mock::claude_code::messages_body(
                "claude-sonnet-4-5",
                "hello",
                false,
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "one clean answer after the rotation");

        // Both attempts (the 429 and the replay) went through the proxy, to the mock's URL.
        let targets = seen.lock().unwrap().clone();
        let messages: Vec<_> = targets
            .iter()
            .filter(|t| t.contains("/v1/messages"))
            .collect();
        assert_eq!(messages.len(), 2, "{targets:?}");
        let mock_host = mock.addr().to_string();
        assert!(
            messages.iter().all(|t| t.contains(&mock_host)),
            "{targets:?}"
        );
        // And the mock saw the accounts' own credentials, the busy one then the spare.
        let auths: Vec<String> = mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/v1/messages"))
            .map(|r| r.headers.get("authorization").cloned().unwrap_or_default())
            .collect();
        assert_eq!(
            auths,
            vec![
                format!("Bearer {}", accounts[1].access_token),
                format!("Bearer {}", accounts[0].access_token),
            ]
        );
        gw.shutdown().await;
    });
}
