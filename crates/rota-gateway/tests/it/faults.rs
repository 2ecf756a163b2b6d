//! Upstream and client faults over real sockets: an upstream that never sends its response
//! headers, a stream that goes silent, `/auth/*` bodies that never arrive, `Expect:
//! 100-continue` with a huge length, `..` segments and odd methods on proxy paths, and a 401
//! that persists after a fresh token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rota_gateway::GatewayConfig;
use rota_mock::{MockConfig, MockHandle};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::Rig;

struct Env(Rig);

impl std::ops::Deref for Env {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

/// `n` Anthropic accounts (known to rota-mock, which also serves as the upstream unless
/// `upstream` names a stand-in), a gateway on a free port with `tweak` applied.
async fn env(
    n: usize,
    mock_config: MockConfig,
    upstream: Option<&str>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Env {
    Env(Rig::start(
        ProviderId::Anthropic,
        n,
        mock_config,
        upstream,
        tweak,
        |_| {},
    )
    .await)
}

/// Claude Code's request body (the Anthropic route and strict rota-mock take only Claude
/// Code's requests).
fn body(stream: bool) -> serde_json::Value {
    rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hello", stream)
}

impl Env {
    fn post(&self, stream: bool) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(format!("{}/anthropic/v1/messages", self.gw.base_url()))
            .header("user-agent", rota_mock::claude_code::USER_AGENT)
            .header("x-api-key", &self.token)
            .header("anthropic-version", "2023-06-01")
            .json(&body(stream))
    }

    fn messages_requests(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/v1/messages"))
            .count()
    }

    /// Sends raw bytes on a new connection and reads until the gateway closes it or `limit`.
    async fn raw(&self, request: &str, limit: Duration) -> (String, Duration) {
        let mut conn = tokio::net::TcpStream::connect(self.gw.addr())
            .await
            .unwrap();
        conn.write_all(request.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            conn.read(&mut buf),
        )
        .await
        {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    }
}

/// An upstream that accepts a request and never answers; counts the connections it got.
async fn headerless_upstream(hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            hits.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// An upstream that answers with SSE headers and one event, then sends nothing more.
async fn stalling_stream_upstream(closed: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 8192];
        let _ = conn.read(&mut buf).await;
        let event = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
            event.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        closed.store(true, Ordering::SeqCst);
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_upstream_that_never_sends_headers_gets_a_504_within_the_bound() {
    let hits = Arc::new(AtomicUsize::new(0));
    let upstream = headerless_upstream(hits.clone()).await;
    let e = env(2, MockConfig::default(), Some(&upstream), |c| {
        c.upstream_header_timeout = Duration::from_millis(600);
    })
    .await;
    let started = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(10), e.post(false).send())
        .await
        .expect("the gateway answers instead of waiting forever")
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert!(waited >= Duration::from_millis(550), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_timeout", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("upstream_header_timeout_secs"),
        "says what to change: {message}"
    );
    // Not replayed on the other account: the provider may still be working on it.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let state = e.store.load().unwrap();
    for (_, id) in &e.accounts {
        assert!(
            !state
                .record(ProviderId::Anthropic, *id)
                .unwrap()
                .is_cooling(rota_store::now_ms()),
            "a slow provider is not the account's fault"
        );
    }
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn a_silent_stream_ends_after_the_configured_idle_time_with_an_error_event() {
    let closed = Arc::new(AtomicBool::new(false));
    let upstream = stalling_stream_upstream(closed.clone()).await;
    // Configured the way a user does: config.toml's value through rota-config.
    let settings = rota_config::Config::parse("[gateway]\nstream_idle_timeout_secs = 1\n").unwrap();
    let e = env(1, MockConfig::default(), Some(&upstream), |c| {
        *c = c.clone().with_settings(&settings);
    })
    .await;
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    let mut text = String::new();
    let mut s = resp.bytes_stream();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), s.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let waited = started.elapsed();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("stream_idle_timeout_secs"), "{text}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !closed.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the upstream connection is closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    e.0.gw.shutdown().await;
}

#[test]
fn config_and_env_reach_the_gateway_timeouts() {
    let mut settings = rota_config::Config::parse(
        "[gateway]\nupstream_header_timeout_secs = 42\nstream_idle_timeout_secs = 7\n",
    )
    .unwrap();
    let c = GatewayConfig::new("/tmp").with_settings(&settings);
    assert_eq!(c.upstream_header_timeout, Duration::from_secs(42));
    assert_eq!(c.stream_idle_timeout, Duration::from_secs(7));
    settings
        .apply_env(|k| (k == "ROTA_UPSTREAM_HEADER_TIMEOUT_SECS").then(|| "9".to_owned()))
        .unwrap();
    let c = GatewayConfig::new("/tmp").with_settings(&settings);
    assert_eq!(c.upstream_header_timeout, Duration::from_secs(9));
    let _ = DEFAULT_NAMESPACE;
}

fn token_requests(mock: &MockHandle) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.contains("oauth/token"))
        .count()
}

/// The hostile-testing case: a request the provider refuses with 401 whatever the token (here
/// a non-UTF-8 `anthropic-beta` value, so the provider cannot see the OAuth beta). One refresh
/// and one replay, then the provider's answer; no account is marked or cooled, no rotation.
#[tokio::test]
async fn a_401_right_after_a_fresh_token_is_the_requests_fault_not_the_pools() {
    let e = env(3, MockConfig::default(), None, |_| {}).await;
    let before_tokens = token_requests(&e.mock);
    let resp = e
        .post(false)
        .header(
            "anthropic-beta",
            reqwest::header::HeaderValue::from_bytes(b"fine-2025,\xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 401, "{text}");
    assert!(
        !text.contains("rate-limited") && !text.contains("rate_limit"),
        "the provider's answer, not a rate limit: {text}"
    );
    assert_eq!(e.messages_requests(), 2, "the request and one replay");
    assert_eq!(token_requests(&e.mock) - before_tokens, 1, "one refresh");
    // Written through: the store shows no account marked and none cooling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = e.store.load().unwrap();
    let now = rota_store::now_ms();
    for (_, id) in &e.accounts {
        let r = state.record(ProviderId::Anthropic, *id).unwrap();
        assert!(!r.health.needs_reauth, "{id} marked for re-login");
        assert!(!r.is_cooling(now), "{id} cooling");
    }
    // And the next ordinary request works on the same active account.
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    e.0.gw.shutdown().await;
}

/// A transient 429 ("temporarily limiting requests") that outlasts the gateway's short
/// retries reaches the client with a `retry-after`, so it backs off instead of guessing.
#[tokio::test]
async fn a_transient_429_passed_on_carries_retry_after() {
    let e = env(2, MockConfig::default(), None, |c| {
        c.overload_retries = 1;
        c.overload_backoff = Duration::from_millis(50);
    })
    .await;
    for i in 0..2 {
        e.mock
            .set_sticky(
                &format!("user{i}@example.com"),
                rota_mock::Behavior::RateLimitTransient,
            )
            .unwrap();
    }
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(matches!(retry_after, Some(1..=60)), "{retry_after:?}");
    e.0.gw.shutdown().await;
}

/// A token holder that declares a body and never sends it is cut after the header timeout,
/// so such connections cannot fill the connection cap; a connection is free again after it.
#[tokio::test]
async fn auth_bodies_that_never_arrive_are_cut_and_free_their_slot() {
    let e = env(1, MockConfig::default(), None, |c| {
        c.header_read_timeout = Duration::from_millis(500);
        c.max_connections = 2;
    })
    .await;
    let port = e.gw.addr().port();
    let request = format!(
        "POST /auth/active HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"provid",
        e.token
    );
    let (first, second) = tokio::join!(
        e.raw(&request, Duration::from_secs(10)),
        e.raw(&request, Duration::from_secs(10))
    );
    for (answer, took) in [first, second] {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    // The slots are free: an ordinary API call works.
    let resp = reqwest::Client::new()
        .get(format!("{}/auth/usage", e.gw.base_url()))
        .bearer_auth(&e.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    e.0.gw.shutdown().await;
}

/// `Expect: 100-continue` with a huge declared length gets a 413 and never `100 Continue`,
/// on `/auth/*` and on proxy paths; an acceptable one still gets its `100 Continue`.
#[tokio::test]
async fn oversized_bodies_are_refused_without_100_continue() {
    let e = env(1, MockConfig::default(), None, |_| {}).await;
    let port = e.gw.addr().port();
    for (path, auth) in [
        ("/auth/active", format!("Authorization: Bearer {}", e.token)),
        ("/anthropic/v1/messages", format!("x-api-key: {}", e.token)),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 10737418240\r\n\r\n"
        );
        let (answer, _) = e.raw(&request, Duration::from_secs(5)).await;
        assert!(!answer.contains("100 Continue"), "{path}: {answer}");
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
    }
    assert_eq!(e.messages_requests(), 0);
    // A small body with the same header is still welcome.
    let mut conn = tokio::net::TcpStream::connect(e.gw.addr()).await.unwrap();
    conn.write_all(
        format!(
            "POST /auth/active HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n",
            e.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    e.0.gw.shutdown().await;
}

/// `..` segments (plain or encoded) and TRACE/odd methods never reach the upstream with the
/// account's token.
#[tokio::test]
async fn climbing_paths_and_odd_methods_are_refused_before_the_upstream() {
    let e = env(1, MockConfig::default(), None, |_| {}).await;
    let port = e.gw.addr().port();
    for (method, path, status) in [
        ("POST", "/anthropic/../x", 400),
        ("POST", "/anthropic/v1/../../admin", 400),
        ("GET", "/anthropic/%2e%2e/x", 400),
        ("GET", "/anthropic/v1%2f..%2fx", 400),
        ("POST", "/anthropic/./v1/messages", 400),
        ("TRACE", "/anthropic/v1/messages", 405),
        ("CONNECT", "/anthropic/v1/messages", 405),
        ("PROPFIND", "/anthropic/v1/messages", 405),
        ("TRACE", "/openai/responses", 405),
    ] {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            e.token
        );
        let (answer, _) = e.raw(&request, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {answer}"
        );
    }
    assert!(
        e.mock.requests().is_empty(),
        "nothing reached the upstream: {:?}",
        e.mock.requests()
    );
    // The ordinary path still works.
    assert_eq!(e.post(false).send().await.unwrap().status(), 200);
    e.0.gw.shutdown().await;
}
