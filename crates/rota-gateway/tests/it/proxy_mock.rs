//! The proxy over real sockets against rota-mock: rotation on each 429 variant, streaming
//! pass-through, no replay after the first byte, all accounts cooling, 401 refresh + replay,
//! 529 without rotation, client disconnect cancelling upstream, sessions and passive usage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rota_core::Ulid;
use rota_gateway::GatewayConfig;
use rota_mock::{AccountInfo, Behavior, LimitWindow, MockConfig};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};
use serde_json::json;

use crate::common::{Rig, add_account};

struct Env(Rig);

impl std::ops::Deref for Env {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

/// Adds an account of another provider at the mock and in the store.
fn seed(e: &Env, provider: ProviderId, email: &str) -> (AccountInfo, Ulid) {
    add_account(&e.mock, &e.store, provider, email)
}

async fn env_with(n: usize, mock_config: MockConfig, upstream: Option<&str>) -> Env {
    env_full(n, mock_config, upstream, |_| {}).await
}

async fn env_full(
    n: usize,
    mock_config: MockConfig,
    upstream: Option<&str>,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Env {
    let rig = Rig::start(
        ProviderId::Anthropic,
        n,
        mock_config,
        upstream,
        tweak,
        |_| {},
    )
    .await;
    // The gateway tells local clients where it listens and with which token, privately.
    let api = rig.api_json();
    assert_eq!(api["port"], rig.gw.addr().port());
    assert_eq!(rig.token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(rig.dir.path().join("api.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    Env(rig)
}

async fn env(n: usize) -> Env {
    env_with(n, MockConfig::default(), None).await
}

/// A client that speaks as Claude Code (the Anthropic route serves only Claude Code by
/// default, and strict rota-mock takes only its requests on OAuth).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(rota_mock::claude_code::USER_AGENT)
        .build()
        .unwrap()
}

/// Claude Code's request body (its system prompt) with a session id.
fn message_body(stream: bool) -> serde_json::Value {
    let mut body = rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hello", stream);
    body["metadata"] = json!({"user_id": "{\"device_id\":\"d\",\"account_uuid\":\"u\",\"session_id\":\"sess-1\"}"});
    body
}

impl Env {
    fn active(&self) -> Ulid {
        self.store
            .load()
            .unwrap()
            .active_id(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                rota_store::now_ms(),
            )
            .unwrap()
    }

    fn email_of(&self, id: Ulid) -> String {
        self.accounts
            .iter()
            .find(|(_, i)| *i == id)
            .unwrap()
            .0
            .email
            .clone()
    }

    fn messages_requests(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/v1/messages"))
            .count()
    }

    fn post(&self, stream: bool) -> reqwest::RequestBuilder {
        client()
            .post(format!(
                "{}/anthropic/v1/messages?beta=true",
                self.gw.base_url()
            ))
            .header("x-api-key", &self.token)
            .header("anthropic-version", "2023-06-01")
            .header("user-agent", "claude-cli/2.1.197 (external, cli)")
            .json(&message_body(stream))
    }
}

#[tokio::test]
async fn rotation_on_429_for_each_header_variant() {
    let variants = [
        (
            Behavior::RateLimit {
                reset_in_seconds: 900,
                window: LimitWindow::FiveHour,
            },
            "rate_limited:five_hour",
        ),
        (
            Behavior::RateLimit {
                reset_in_seconds: 900,
                window: LimitWindow::SevenDay,
            },
            "rate_limited:seven_day",
        ),
        (
            Behavior::RateLimitRetryAfter { seconds: 120 },
            "rate_limited",
        ),
        (Behavior::RateLimitNoReset, "rate_limited"),
        (
            Behavior::UsageLimitReached {
                resets_in_seconds: 900,
            },
            "rate_limited",
        ),
    ];
    for (behavior, reason_prefix) in variants {
        let e = env(2).await;
        let first = e.active();
        e.mock
            .push_behavior(&e.email_of(first), behavior.clone())
            .unwrap();
        let resp = e.post(false).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{behavior:?}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "message", "{behavior:?}: one clean answer");
        assert_eq!(e.messages_requests(), 2, "{behavior:?}: replayed once");
        let state = e.store.load().unwrap();
        let now = rota_store::now_ms();
        let second = state
            .active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, now)
            .unwrap();
        assert_ne!(second, first, "{behavior:?}: rotated");
        let rec = state.record(ProviderId::Anthropic, first).unwrap();
        assert!(rec.is_cooling(now), "{behavior:?}: cooling down");
        let log = state.switch_log.back().unwrap();
        assert_eq!(log.from.as_deref(), Some(first.to_string().as_str()));
        assert_eq!(log.to, second.to_string());
        assert!(
            log.reason.as_str().starts_with(reason_prefix),
            "{behavior:?}: reason {}",
            log.reason
        );
        e.0.gw.shutdown().await;
    }
}

/// Replaces the random parts of a mock answer (message id, request id) so two answers compare.
fn normalise(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("msg_01") {
        out.push_str(&rest[..i + 6]);
        out.push_str("<id>");
        rest = &rest[i + 6 + 22..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn streaming_passes_through_byte_for_byte_and_incrementally() {
    let e = env(1).await;
    let (info, _) = &e.accounts[0];
    // The direct answer from the mock.
    e.mock
        .push_behavior(&info.email, Behavior::SlowStream { delay_ms: 120 })
        .unwrap();
    let direct = client()
        .post(format!(
            "{}/v1/messages",
            e.mock.provider_base(ProviderId::Anthropic)
        ))
        .bearer_auth(&info.access_token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .header("anthropic-version", "2023-06-01")
        .json(&message_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let direct = direct.text().await.unwrap();

    e.mock
        .push_behavior(&info.email, Behavior::SlowStream { delay_ms: 120 })
        .unwrap();
    let started = Instant::now();
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut chunks = resp.bytes_stream();
    let mut got = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(c) = chunks.next().await {
        got.extend_from_slice(&c.unwrap());
        arrivals.push(started.elapsed());
    }
    let got = String::from_utf8(got).unwrap();
    assert_eq!(normalise(&got), normalise(&direct), "byte-for-byte");
    assert!(!got.contains(&info.access_token), "no upstream credential");
    // Upstream saw the account's credential, never the local token.
    for r in e.mock.requests() {
        assert!(!r.headers.contains_key("x-api-key"), "{:?}", r.path);
        let auth = r.headers.get("authorization").cloned().unwrap_or_default();
        assert!(!auth.contains(&e.token), "local token forwarded");
    }
    assert!(
        e.mock
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/v1/messages") && r.query.as_deref() == Some("beta=true")),
        "query string kept"
    );
    assert!(arrivals.len() > 3, "several chunks: {arrivals:?}");
    let first = arrivals[0];
    let last = *arrivals.last().unwrap();
    assert!(
        last.saturating_sub(first) >= Duration::from_millis(400),
        "chunks arrive as the upstream sends them, not at the end: {arrivals:?}"
    );

    // The session got the request, the account and the tokens of the stream.
    let sessions = e.gw.gateway().sessions();
    let s = sessions
        .iter()
        .find(|s| s.session_id.ends_with("sess-1"))
        .expect("session by metadata.user_id");
    assert_eq!(s.request_count, 1);
    assert_eq!(s.model.as_deref(), Some("claude-sonnet-4-5"));
    assert!(
        s.usage.input_tokens > 0 && s.usage.output_tokens > 1,
        "{s:?}"
    );
    let detail = e.gw.gateway().session_detail(&s.session_id).unwrap();
    assert_eq!(detail.requests.len(), 1);
    assert_eq!(detail.requests[0].status, 200);
    assert_eq!(
        detail.requests[0].record_id.as_deref(),
        Some(e.accounts[0].1.to_string().as_str())
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn failure_after_first_byte_is_not_replayed() {
    let e = env(2).await;
    let active = e.active();
    e.mock
        .push_behavior(&e.email_of(active), Behavior::Cut { after_bytes: 60 })
        .unwrap();
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    // The 60 bytes that were sent, then an SSE error event the SDKs raise.
    let (sent, tail) = body.split_at(60);
    assert!(sent.starts_with("event: message_start"), "{body}");
    assert!(
        tail.starts_with("\n\nevent: error\ndata: ") && tail.contains("mid-stream"),
        "{tail}"
    );
    assert_eq!(
        e.messages_requests(),
        1,
        "never replayed after the first byte"
    );
    assert_eq!(e.active(), active);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn all_cooling_answers_429_with_retry_after_and_no_retry() {
    let e = env(2).await;
    for (info, _) in &e.accounts {
        e.mock
            .set_sticky(
                &info.email,
                Behavior::RateLimit {
                    reset_in_seconds: 3600,
                    window: LimitWindow::FiveHour,
                },
            )
            .unwrap();
    }
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(e.messages_requests(), 2, "each account tried once");
    let retry: i64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3601).contains(&retry), "{retry}");
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let v: serde_json::Value = resp.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("all 2 anthropic accounts are rate-limited until"),
        "{msg}"
    );
    // The next request fails fast without touching upstream.
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(e.messages_requests(), 2);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_replays() {
    let e = env(2).await;
    let active = e.active();
    e.mock
        .push_behavior(&e.email_of(active), Behavior::Unauthorized)
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(e.messages_requests(), 2);
    let refreshes = e
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/oauth/token"))
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(e.active(), active, "no rotation after a successful refresh");
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn overloaded_is_retried_on_the_same_account_then_succeeds() {
    let e = env_full(2, MockConfig::default(), None, |c| {
        c.overload_backoff = Duration::from_millis(20);
    })
    .await;
    let active = e.active();
    let switches = e.store.load().unwrap().switch_log.len();
    e.mock
        .push_behavior(&e.email_of(active), Behavior::Overloaded)
        .unwrap();
    let started = Instant::now();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(20), "backed off");
    let calls: Vec<_> = e
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
        .collect();
    assert_eq!(calls.len(), 2, "one retry");
    let account = |r: &rota_mock::LoggedRequest| r.headers.get("authorization").cloned();
    assert_eq!(account(&calls[0]), account(&calls[1]), "the same account");
    assert_eq!(e.active(), active, "no rotation");
    let state = e.store.load().unwrap();
    let rec = state.record(ProviderId::Anthropic, active).unwrap();
    assert!(!rec.is_cooling(rota_store::now_ms()), "no cooldown");
    assert_eq!(state.switch_log.len(), switches, "no switch");
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn overloaded_retries_are_bounded_and_never_rotate() {
    let e = env_full(2, MockConfig::default(), None, |c| {
        c.overload_retries = 2;
        c.overload_backoff = Duration::from_millis(10);
    })
    .await;
    let active = e.active();
    e.mock
        .script(
            &e.email_of(active),
            rota_mock::ScriptStep {
                times: 10,
                ..rota_mock::ScriptStep::once(Behavior::Overloaded)
            },
        )
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(
        resp.status(),
        529,
        "the provider's answer after the retries"
    );
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(e.messages_requests(), 3, "first try + 2 retries");
    assert_eq!(e.active(), active);
    let state = e.store.load().unwrap();
    assert!(
        !state
            .record(ProviderId::Anthropic, active)
            .unwrap()
            .is_cooling(rota_store::now_ms())
    );

    // Fail fast when configured so.
    let e = env_full(2, MockConfig::default(), None, |c| c.overload_retries = 0).await;
    let active = e.active();
    e.mock
        .push_behavior(&e.email_of(active), Behavior::Overloaded)
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 529);
    assert_eq!(e.messages_requests(), 1);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn other_4xx_pass_through_unchanged() {
    let e = env(2).await;
    let active = e.active();
    e.mock
        .push_behavior(
            &e.email_of(active),
            Behavior::Status {
                status: 400,
                body: Some(json!({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})),
                headers: std::collections::BTreeMap::default(),
            },
        )
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "bad");
    assert_eq!(e.messages_requests(), 1);
    assert_eq!(e.active(), active);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn passive_usage_from_response_headers_reaches_the_store() {
    let e = env(1).await;
    let id = e.accounts[0].1;
    assert!(
        e.store
            .load()
            .unwrap()
            .record(ProviderId::Anthropic, id)
            .unwrap()
            .usage
            .is_none()
    );
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = e.store.load().unwrap();
        if state
            .record(ProviderId::Anthropic, id)
            .unwrap()
            .usage
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "usage snapshot not written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_stream_in_flight_finish_then_stops_listening() {
    let e = env(1).await;
    let (info, _) = &e.accounts[0];
    e.mock
        .push_behavior(&info.email, Behavior::SlowStream { delay_ms: 100 })
        .unwrap();
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let addr = e.gw.addr();
    let reader = tokio::spawn(async move {
        let mut body = Vec::new();
        let mut s = resp.bytes_stream();
        while let Some(c) = s.next().await {
            body.extend_from_slice(&c.expect("the stream is not cut by the shutdown"));
        }
        String::from_utf8(body).unwrap()
    });
    // The stream is still running (several chunks 100 ms apart) when the stop comes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!reader.is_finished());
    let started = Instant::now();
    e.0.gw.shutdown().await;
    let body = reader.await.unwrap();
    assert!(body.contains("message_stop"), "the whole stream: {body}");
    assert!(
        started.elapsed() < rota_gateway::SHUTDOWN_GRACE,
        "the shutdown waited for the stream, not for the grace period"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after the shutdown"
    );
}

/// An upstream that streams forever and records when its body is dropped (the connection to
/// it closed).
async fn endless_upstream(dropped: Arc<AtomicBool>) -> (String, tokio::task::JoinHandle<()>) {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let app = axum::Router::new().route(
        "/anthropic/v1/messages",
        axum::routing::post(move || {
            let dropped = dropped.clone();
            async move {
                let flag = Flag(dropped);
                let stream = futures_util::stream::unfold(flag, |flag| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                            b"event: ping\ndata: {}\n\n",
                        )),
                        flag,
                    ))
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(axum::body::Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    serve_upstream(app).await
}

/// Serves `app` as a stand-in upstream on a free loopback port: its base URL and task.
async fn serve_upstream(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (upstream, task) = endless_upstream(dropped.clone()).await;
    let e = env_with(1, MockConfig::default(), Some(&upstream)).await;
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut s = resp.bytes_stream();
    let first = s.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "upstream still streaming after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    e.0.gw.shutdown().await;
    task.abort();
}

#[tokio::test]
async fn openai_route_rotates_on_usage_limit_and_reads_codex_headers() {
    let e = env(0).await;
    let (_, first) = seed(&e, ProviderId::OpenAi, "o1@example.com");
    let (_, second) = seed(&e, ProviderId::OpenAi, "o2@example.com");
    let active = |e: &Env| {
        e.store
            .load()
            .unwrap()
            .active_id(ProviderId::OpenAi, DEFAULT_NAMESPACE, rota_store::now_ms())
            .unwrap()
    };
    assert_eq!(active(&e), second);
    e.mock
        .push_behavior(
            "o2@example.com",
            Behavior::UsageLimitReached {
                resets_in_seconds: 1200,
            },
        )
        .unwrap();
    let resp = client()
        .post(format!("{}/openai/responses", e.gw.base_url()))
        .bearer_auth(&e.token)
        .header("session_id", "codex-sess")
        .header("user-agent", "codex_cli_rs/0.50.0")
        .json(&json!({"model": "gpt-5-codex", "stream": true, "input": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("response.completed"), "{text}");
    assert_eq!(active(&e), first, "rotated to the other OpenAI account");
    let calls: Vec<_> = e
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/codex/responses"))
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.headers.contains_key("chatgpt-account-id"))
    );
    let sessions = e.gw.gateway().sessions();
    assert!(
        sessions
            .iter()
            .any(|s| s.session_id == "openai:codex-sess" && s.rotations == 1)
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn copilot_route_uses_the_exchanged_token() {
    let e = env(0).await;
    let _ = seed(&e, ProviderId::GithubCopilot, "gh@example.com");
    let resp = client()
        .post(format!(
            "{}/github-copilot/chat/completions",
            e.gw.base_url()
        ))
        .bearer_auth(&e.token)
        .json(&json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("choices"), "{text}");
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_refreshed_before_forwarding() {
    let e = env(1).await;
    let (_, id) = e.accounts[0].clone();
    // Make the stored token look expired: the gateway refreshes it first.
    let stored = e.store.credentials(id).unwrap().unwrap();
    e.store
        .mutate(|txn| {
            txn.vault_mut()?.insert(
                id.to_string(),
                stored.with_expiry(rota_store::now_ms() - 3_600_000),
            );
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let refreshes = e
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/oauth/token"))
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(e.messages_requests(), 1);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn body_over_the_replay_bound_is_forwarded_once_without_rotation() {
    let e = env_full(2, MockConfig::default(), None, |c| {
        c.max_proxy_body_bytes = 1024;
    })
    .await;
    let big =
        rota_mock::claude_code::messages_body("claude-sonnet-4-5", &"y".repeat(64 * 1024), false);
    let send = || {
        client()
            .post(format!("{}/anthropic/v1/messages", e.gw.base_url()))
            .header("x-api-key", &e.token)
            .json(&big)
            .send()
    };
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 200, "a large body still goes through");
    let _ = resp.bytes().await.unwrap();
    let active = e.active();
    e.mock
        .push_behavior(&e.email_of(active), Behavior::RateLimitNoReset)
        .unwrap();
    let resp = send().await.unwrap();
    assert_eq!(
        resp.status(),
        429,
        "not replayable: the client gets the 429"
    );
    assert_eq!(e.messages_requests(), 2, "one upstream request each");
    let state = e.store.load().unwrap();
    assert!(
        state
            .record(ProviderId::Anthropic, active)
            .unwrap()
            .is_cooling(rota_store::now_ms()),
        "the cooldown is still recorded"
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn copilot_401_exchanges_a_fresh_copilot_token_once_and_replays() {
    let e = env(0).await;
    let _ = seed(&e, ProviderId::GithubCopilot, "gh@example.com");
    let send = || {
        client()
            .post(format!(
                "{}/github-copilot/chat/completions",
                e.gw.base_url()
            ))
            .bearer_auth(&e.token)
            .json(&json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    let count = |e: &Env, suffix: &str| {
        e.mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    };
    assert_eq!(count(&e, "/copilot_internal/v2/token"), 1);
    // The cached Copilot token is refused once: a new exchange, then the replay.
    e.mock
        .push_behavior("gh@example.com", Behavior::Unauthorized)
        .unwrap();
    let resp = send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        count(&e, "/copilot_internal/v2/token"),
        2,
        "re-exchanged once"
    );
    assert_eq!(count(&e, "/chat/completions"), 3, "replayed once");
    let tokens: Vec<_> = e
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.headers.get("authorization").cloned())
        .collect();
    assert_eq!(tokens[0], tokens[1], "the refused token was the cached one");
    assert_ne!(tokens[1], tokens[2], "the replay used the fresh token");

    // Refused again right after the fresh exchange: no endless loop, and not the account's
    // fault (a token issued a moment ago): the client gets the provider's 401, the account
    // is neither marked for a new login nor cooled (docs/reliability.md §6).
    e.mock
        .script(
            "gh@example.com",
            rota_mock::ScriptStep {
                times: 5,
                ..rota_mock::ScriptStep::once(Behavior::Unauthorized)
            },
        )
        .unwrap();
    let before = count(&e, "/chat/completions");
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        count(&e, "/chat/completions") - before,
        2,
        "one replay only"
    );
    let state = e.store.load().unwrap();
    let rec = &state.providers[&ProviderId::GithubCopilot].records[0];
    assert!(!rec.health.needs_reauth);
    assert!(!rec.is_cooling(rota_store::now_ms()));
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn a_switch_by_another_writer_is_used_by_the_next_request() {
    let e = env(2).await;
    let active = e.active();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let other = e
        .accounts
        .iter()
        .map(|a| a.1)
        .find(|i| *i != active)
        .unwrap();
    // Written through the files, as `rota auth switch` in another process does.
    e.store
        .set_active(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            other,
            rota_types::SwitchReason::ManualCli,
            rota_store::now_ms(),
        )
        .unwrap();
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let last = e
        .mock
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/v1/messages"))
        .unwrap();
    let info = &e.accounts.iter().find(|a| a.1 == other).unwrap().0;
    assert_eq!(
        last.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {}", info.access_token).as_str())
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn success_counters_are_batched_not_written_per_request() {
    let e = env_full(1, MockConfig::default(), None, |c| {
        c.flush_interval = Duration::from_hours(1);
    })
    .await;
    let id = e.accounts[0].1;
    let generation = |e: &Env| e.store.load().unwrap().generation;
    let before = generation(&e);
    for _ in 0..20 {
        let resp = e.post(false).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
    }
    assert_eq!(generation(&e), before, "no store write per request");
    e.gw.gateway().flush();
    let state = e.store.load().unwrap();
    assert_eq!(
        state
            .record(ProviderId::Anthropic, id)
            .unwrap()
            .health
            .success_count,
        20
    );
    e.0.gw.shutdown().await;
}

/// Reads from a raw connection until it closes or `limit` passes; returns what came.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn connections_over_the_cap_get_a_clear_503() {
    use tokio::io::AsyncWriteExt;
    let e = env_full(1, MockConfig::default(), None, |c| c.max_connections = 2).await;
    let addr = e.gw.addr();
    let held1 = tokio::net::TcpStream::connect(addr).await.unwrap();
    let held2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Let the accept loop take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third
        .write_all(
            format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                addr.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("the refused connection is closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many open connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // A freed slot serves again.
    drop(held1);
    drop(held2);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = e.post(false).send().await.unwrap();
        if resp.status() == 200 {
            break;
        }
        assert_eq!(resp.status(), 503);
        assert!(Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn slow_headers_and_stalled_bodies_are_cut() {
    use tokio::io::AsyncWriteExt;
    let e = env_full(1, MockConfig::default(), None, |c| {
        c.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = e.gw.addr();
    // Slowloris: headers that never end.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("a connection with unfinished headers is closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    // An idle keep-alive connection is closed after the same time.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "idle connection closed"
    );
    // A body that stops arriving: 408, nothing forwarded.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-api-key: {}\r\nuser-agent: claude-cli/2.1.330 (external, cli)\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"model\":",
                addr.port(),
                e.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(e.messages_requests(), 0);
    e.0.gw.shutdown().await;
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn serves_ipv6_loopback_when_available() {
    if !ipv6_loopback() {
        eprintln!("no IPv6 loopback here; only the fallback test applies");
        return;
    }
    let e = env(1).await;
    let addrs = e.gw.addrs().to_vec();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert!(addrs[1].is_ipv6());
    let resp = client()
        .post(format!(
            "http://[::1]:{}/anthropic/v1/messages",
            addrs[1].port()
        ))
        .header("x-api-key", &e.token)
        .json(&message_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn a_taken_ipv6_port_does_not_fail_the_start() {
    if !ipv6_loopback() {
        return;
    }
    // A port taken on [::1] but free on 127.0.0.1.
    let (held, port) = loop {
        let l = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break (l, port);
        }
    };
    let e = env_full(1, MockConfig::default(), None, |c| c.port = port).await;
    assert_eq!(e.gw.addr().port(), port);
    assert_eq!(e.gw.addrs().len(), 1, "IPv4 only");
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    e.0.gw.shutdown().await;
    drop(held);
}

#[tokio::test]
async fn a_json_answer_with_content_length_reports_its_tokens_to_the_session() {
    let e = env(1).await;
    let resp = e.post(false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let input = body["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 0, "{body}");
    // The body is complete on the client's side; the session learns its tokens right after.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = e.gw.gateway().sessions();
        if let Some(s) = s.first()
            && s.usage.input_tokens == input
        {
            assert_eq!(
                s.usage.output_tokens,
                body["usage"]["output_tokens"].as_u64().unwrap()
            );
            break;
        }
        assert!(Instant::now() < deadline, "no tokens in the session: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An upstream that reads a request and never answers; `closed` turns true when the gateway
/// closes the connection to it.
async fn silent_upstream(closed: Arc<AtomicBool>) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        closed.store(true, Ordering::SeqCst);
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn client_gone_before_the_answer_cancels_the_upstream_request() {
    let closed = Arc::new(AtomicBool::new(false));
    let (upstream, task) = silent_upstream(closed.clone()).await;
    let e = env_with(1, MockConfig::default(), Some(&upstream)).await;
    // The client gives up while the upstream is still thinking (no response head yet).
    let gave_up = tokio::time::timeout(Duration::from_millis(300), e.post(false).send()).await;
    assert!(gave_up.is_err(), "the upstream never answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !closed.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the upstream request outlived the client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    e.0.gw.shutdown().await;
    task.abort();
}

/// The server sends proxy paths straight to the proxy handler (no router); the guard must
/// still refuse there exactly as behind the router, and nothing reaches the upstream.
#[tokio::test]
async fn the_guard_refuses_on_proxy_paths_over_sockets() {
    let e = env(1).await;
    let url = format!("{}/anthropic/v1/messages", e.gw.base_url());
    let port = e.gw.addr().port();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (client().post(&url).json(&message_body(false)), 401),
        (
            client()
                .post(&url)
                .header("x-api-key", "wrong")
                .json(&message_body(false)),
            401,
        ),
        (
            client()
                .post(&url)
                .header("x-api-key", &e.token)
                .header("origin", "https://evil.example")
                .json(&message_body(false)),
            403,
        ),
        (
            client()
                .post(&url)
                .header("x-api-key", &e.token)
                .header("host", format!("evil.example:{port}"))
                .json(&message_body(false)),
            403,
        ),
        (
            client()
                .request(reqwest::Method::OPTIONS, &url)
                .header("x-api-key", &e.token),
            405,
        ),
        (client().head(format!("{}/anthropic", e.gw.base_url())), 200),
    ];
    for (i, (req, status)) in cases.into_iter().enumerate() {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "case {i}");
    }
    assert_eq!(
        e.messages_requests(),
        0,
        "nothing refused reached the upstream"
    );
    // `/anthropic/` is not a proxy route for the router; it stays a 404, not a forward.
    let resp = client()
        .post(format!("{}/anthropic/", e.gw.base_url()))
        .header("x-api-key", &e.token)
        .json(&message_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = e.post(false).send().await.unwrap();
    assert!(resp.status().is_success());
    assert_eq!(e.messages_requests(), 1);
}

/// An upstream stream that sends one event and then nothing: the gateway ends it after
/// `stream_idle_timeout` with an SSE error event (and the first event passed through at once).
#[tokio::test]
async fn a_silent_stream_is_ended_after_the_idle_timeout() {
    let app = axum::Router::new().route(
        "/anthropic/v1/messages",
        axum::routing::post(|| async {
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
                bytes::Bytes::from_static(b"event: ping\ndata: {}\n\n"),
            )]);
            let stream = first.chain(futures_util::stream::pending());
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(stream))
                .unwrap()
        }),
    );
    let (upstream, task) = serve_upstream(app).await;
    let e = env_full(1, MockConfig::default(), Some(&upstream), |c| {
        c.stream_idle_timeout = Duration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let resp = e.post(true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let took = started.elapsed();
    assert!(body.starts_with("event: ping\ndata: {}\n\n"), "{body}");
    assert!(
        body.contains("\n\nevent: error\ndata: ") && body.contains("went idle"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    e.0.gw.shutdown().await;
    task.abort();
}

/// The mock account (email) that answered a gateway response.
fn served_by(e: &Env, resp: &reqwest::Response) -> String {
    let mock_id = resp
        .headers()
        .get("x-rota-mock-account")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (info, _) = e
        .accounts
        .iter()
        .find(|(info, _)| info.id == mock_id)
        .unwrap_or_else(|| panic!("no account answered: {mock_id:?}"));
    info.email.clone()
}

impl Env {
    fn post_model(&self, model: &str) -> reqwest::RequestBuilder {
        let mut body = message_body(false);
        body["model"] = json!(model);
        self.post(false).json(&body)
    }
}

#[tokio::test]
async fn a_used_up_model_window_sends_that_model_elsewhere_and_keeps_the_account_for_others() {
    let e = env(2).await;
    let active = e.active();
    let active_email = e.email_of(active);
    let other_email = e
        .accounts
        .iter()
        .map(|(i, _)| i.email.clone())
        .find(|m| *m != active_email)
        .unwrap();
    // The active account's Fable window is at 100 % (the gateway has not polled it yet).
    e.mock
        .set_usage(
            &active_email,
            rota_mock::Usage::windows(
                rota_mock::Window::new(20.0, 3_600),
                rota_mock::Window::new(30.0, 300_000),
            )
            .scoped("Fable", rota_mock::Window::new(100.0, 300_000)),
        )
        .unwrap();

    let switches = e.store.load().unwrap().switch_log.len();
    // A Fable request: the active account answers the model's 429, the other account serves it.
    let resp = e.post_model("claude-fable-4-5").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&e, &resp), other_email);
    assert_eq!(e.messages_requests(), 2, "one 429, one replay");
    let state = e.store.load().unwrap();
    let now = rota_store::now_ms();
    let rec = state.record(ProviderId::Anthropic, active).unwrap();
    assert!(!rec.is_cooling(now), "the account is not cooling down");
    assert!(rec.model_blocked_until("claude-fable-4-5", now).is_some());
    assert_eq!(
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, now),
        Some(active),
        "the active account stays"
    );
    assert_eq!(state.switch_log.len(), switches, "no switch");

    // The next Fable request goes straight to the other account; other models stay on the
    // active one.
    e.mock.clear_requests();
    let resp = e.post_model("claude-fable-4-5").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&e, &resp), other_email);
    assert_eq!(e.messages_requests(), 1, "no 429 this time");
    let resp = e.post_model("claude-opus-4-8").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&e, &resp), active_email);

    // When every account's Fable window is used up, a Fable request gets one clear 429 that
    // names the model; other models are still served.
    e.mock
        .set_usage(
            &other_email,
            rota_mock::Usage::default().scoped("Fable", rota_mock::Window::new(100.0, 300_000)),
        )
        .unwrap();
    let resp = e.post_model("claude-fable-4-5").send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_limit_reached", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("claude-fable-4-5") && msg.contains("other models are still served"),
        "{msg}"
    );
    let resp = e.post_model("claude-sonnet-4-5").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn a_polled_model_window_at_100_percent_routes_without_a_429() {
    let e = env(2).await;
    let active = e.active();
    let active_email = e.email_of(active);
    let now = rota_store::now_ms();
    // The usage poll said: Fable used up on the active account.
    e.store
        .mutate(|txn| -> rota_store::Result<bool> {
            Ok(txn.state.record_usage(
                ProviderId::Anthropic,
                active,
                rota_types::UsageSnapshot {
                    fetched_at: now,
                    status: Some(rota_types::LimitStatus::Allowed),
                    windows: vec![
                        rota_types::UsageWindow::new(
                            rota_types::WindowKind::FiveHour,
                            10.0,
                            Some(now + 3_600_000),
                        ),
                        rota_types::UsageWindow::scoped(
                            rota_types::WindowKind::SevenDay,
                            "Fable",
                            100.0,
                            Some(now + 86_400_000),
                        )
                        .with_severity(rota_types::Severity::Critical),
                    ],
                    usage: rota_types::ProviderUsage::Anthropic(
                        rota_types::AnthropicExtra::default(),
                    ),
                },
            )?)
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = e.post_model("claude-fable-4-5").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_ne!(served_by(&e, &resp), active_email);
    assert_eq!(
        e.messages_requests(),
        1,
        "no request went to the capped account"
    );
    let resp = e.post_model("claude-opus-4-8").send().await.unwrap();
    assert_eq!(served_by(&e, &resp), active_email);
    e.0.gw.shutdown().await;
}
