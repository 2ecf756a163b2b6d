//! OpenAI against rota-mock: loopback login (ports, fallback, `/cancel`, state, denial), device
//! flow, single-use refresh, `wham/usage` with swapped windows, `x-codex-*` headers,
//! classification.
#![allow(clippy::float_cmp)] // usage values are compared exactly: they come from exact JSON and header numbers

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use crate::common::*;
use rota_core::Outcome;
use rota_mock::{Behavior, LimitWindow, LoginPlan, MockConfig, NewAccount, Usage, Window};
use rota_providers::openai::{self, BrowserLogin, DeviceLogin};
use rota_providers::{
    LoginFailure, ProviderError, Providers, ProvidersConfig, UpstreamAuth, shape_request,
};
use rota_types::{ProviderId, ProviderUsage, WindowKind};

const P: ProviderId = ProviderId::OpenAi;

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn with_ports(base: &str, ports: Vec<u16>) -> Providers {
    let mut c = ProvidersConfig::with_mock_base(base);
    c.openai.callback_ports = ports;
    Providers::new(c).unwrap()
}

#[tokio::test]
async fn browser_login_end_to_end_with_identity_from_the_id_token() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let known = mock.add_account(NewAccount::new(P).email("ada@example.org").plan("pro"));
    mock.next_login(
        P,
        LoginPlan {
            account: Some(known.id.clone()),
            deny: false,
        },
    );
    let login = BrowserLogin::begin(&providers).await.unwrap();
    for p in [
        "id_token_add_organizations=true",
        "codex_cli_simplified_flow=true",
        "originator=",
        "code_challenge_method=S256",
        "offline_access",
    ] {
        assert!(login.url.contains(p), "{p} in {}", login.url);
    }
    assert!(
        login
            .url
            .contains(&format!("localhost%3A{}%2Fauth%2Fcallback", login.port()))
    );
    let url = login.url.clone();
    let browser = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    let r = login
        .complete(&providers, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(browser.await.unwrap(), 200);
    assert_eq!(r.identity.email.as_deref(), Some("ada@example.org"));
    assert_eq!(r.identity.account_id, known.chatgpt_account_id);
    assert_eq!(r.identity.plan.as_deref(), Some("pro"));
    assert!(r.secrets.extra("id_token").is_some());
    assert!(r.secrets.refresh_token.is_some());
    // The exchange was form-encoded.
    let token_req = mock
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth/token"))
        .unwrap();
    assert!(token_req.headers["content-type"].starts_with("application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn callback_with_a_wrong_state_or_a_denial_fails() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let login = BrowserLogin::begin(&providers).await.unwrap();
    let port = login.port();
    let waiter = tokio::spawn(async move {
        let p = providers;
        login.complete(&p, Duration::from_secs(10)).await
    });
    let status = reqwest::get(format!(
        "http://127.0.0.1:{port}/auth/callback?code=abc&state=forged"
    ))
    .await
    .unwrap()
    .status();
    assert_eq!(status, 400);
    let err = waiter.await.unwrap().unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::StateMismatch)),
        "{err}"
    );
    assert_eq!(
        count_requests(&mock, "/oauth/token"),
        0,
        "a forged callback is never exchanged"
    );

    let providers = self::providers(mock.base_url());
    mock.next_login(
        P,
        LoginPlan {
            account: None,
            deny: true,
        },
    );
    let login = BrowserLogin::begin(&providers).await.unwrap();
    let url = login.url.clone();
    tokio::spawn(async move { reqwest::get(url).await });
    let err = login
        .complete(&providers, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Denied(_))),
        "{err}"
    );
}

#[tokio::test]
async fn a_busy_port_falls_back_and_cancel_frees_ours() {
    let mock = mock().await;
    // A foreign program holds the first port: the login falls back to the second.
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let fallback = free_port();
    let p = with_ports(mock.base_url(), vec![busy_port, fallback]);
    let login = BrowserLogin::begin(&p).await.unwrap();
    assert_eq!(login.port(), fallback);
    assert!(login.url.contains(&format!("localhost%3A{fallback}")));
    drop(login);
    drop(busy);

    // Our own earlier login holds the port: a second instance asks it to /cancel and takes it.
    let port = free_port();
    let first = BrowserLogin::begin(&with_ports(mock.base_url(), vec![port]))
        .await
        .unwrap();
    assert_eq!(first.port(), port);
    let p1 = with_ports(mock.base_url(), vec![port]);
    let first_wait =
        tokio::spawn(async move { first.complete(&p1, Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = BrowserLogin::begin(&with_ports(mock.base_url(), vec![port]))
        .await
        .unwrap();
    assert_eq!(second.port(), port, "the port was freed by /cancel");
    let err = first_wait.await.unwrap().unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Cancelled)),
        "{err}"
    );
    // And the second login works on it.
    let p2 = with_ports(mock.base_url(), vec![port]);
    let url = second.url.clone();
    tokio::spawn(async move { reqwest::get(url).await });
    second.complete(&p2, Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn device_flow_approved_and_expired() {
    let mock = mock_with(MockConfig {
        device_interval_secs: 1,
        ..MockConfig::default()
    })
    .await;
    let providers = providers(mock.base_url());
    let login = DeviceLogin::begin(&providers).await.unwrap();
    assert!(login.verification_url.ends_with("/codex/device"));
    assert_eq!(login.interval, Duration::from_secs(1));
    let code = login.user_code.clone();
    let info = mock.add_account(NewAccount::new(P).email("dev@example.org"));
    let approve = {
        let id = info.id.clone();
        let m = mock.urls().control.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1_200)).await;
            reqwest::Client::new()
                .post(format!("{m}/devices/{code}/approve"))
                .json(&serde_json::json!({"account": id}))
                .send()
                .await
                .unwrap()
        })
    };
    let r = login
        .wait(&providers, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(approve.await.unwrap().status().is_success());
    assert_eq!(r.identity.email.as_deref(), Some("dev@example.org"));
    assert!(r.secrets.refresh_token.is_some());

    let login = DeviceLogin::begin(&providers).await.unwrap();
    mock.expire_device(&login.user_code).unwrap();
    let err = login
        .wait(&providers, Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Expired)),
        "{err}"
    );
    let login = DeviceLogin::begin(&providers).await.unwrap();
    mock.deny_device(&login.user_code).unwrap();
    let err = login
        .wait(&providers, Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Denied(_))),
        "{err}"
    );
}

#[tokio::test]
async fn refresh_single_use_and_reuse_is_permanent() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (info, id) = seed(&mock, &store, NewAccount::new(P), expired);
    let auth = tm.access(P, id).await.unwrap();
    assert_eq!(
        auth.secrets.access_token.expose(),
        mock.account(&info.id).unwrap().access_token
    );
    assert!(auth.secrets.extra("id_token").is_some(), "extras kept");
    let usage = providers.fetch_usage(P, &auth, rota_store::now_ms()).await;
    assert!(usage.is_ok(), "{usage:?}");

    // A second store entry still holding the spent refresh token: refresh_token_reused.
    let (info2, id2) = seed(&mock, &store, NewAccount::new(P), expired);
    let stale = store.credentials(id2).unwrap().unwrap();
    let a = tm.access(P, id2).await.unwrap();
    assert_ne!(a.secrets, stale);
    // Put the spent pair back (as a stale copy elsewhere would) and refresh again.
    store
        .mutate(|txn| {
            txn.vault_mut()?.insert(id2.to_string(), stale.clone());
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    let vault_before = std::fs::read(&store.paths().vault).unwrap();
    let err = tm.access(P, id2).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::ReauthRequired { code, .. } if code == "refresh_token_reused"),
        "{err}"
    );
    assert_eq!(std::fs::read(&store.paths().vault).unwrap(), vault_before);
    assert!(
        store
            .load()
            .unwrap()
            .record(P, id2)
            .unwrap()
            .health
            .needs_reauth
    );
    let _ = info2;
}

#[tokio::test]
async fn usage_windows_are_classified_by_length_even_when_swapped() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    for swap in [false, true] {
        let usage = Usage {
            swap_windows: swap,
            ..Usage::windows(Window::new(42.0, 3_600), Window::new(64.0, 300_000))
        };
        let (_, id) = seed(&mock, &store, NewAccount::new(P).usage(usage), |b| b);
        let auth = tm.access(P, id).await.unwrap();
        let snap = providers
            .fetch_usage(P, &auth, rota_store::now_ms())
            .await
            .unwrap();
        assert!(matches!(snap.usage, ProviderUsage::OpenAi(_)));
        let five = snap.window("five_hour").unwrap();
        assert_eq!(five.utilization, 42.0, "swap={swap}");
        assert_eq!(five.window_minutes, Some(300));
        let week = snap.window("seven_day").unwrap();
        assert_eq!(week.utilization, 64.0, "swap={swap}");
        assert_eq!(week.window_minutes, Some(10_080));
    }
    // A per-model window (Spark) arrives in `additional_rate_limits[]`.
    let usage = Usage::windows(Window::new(10.0, 3_600), Window::new(20.0, 300_000))
        .scoped("GPT-5.3-Codex-Spark", Window::new(100.0, 300_000));
    let (_, id) = seed(&mock, &store, NewAccount::new(P).usage(usage), |b| b);
    let auth = tm.access(P, id).await.unwrap();
    let snap = providers
        .fetch_usage(P, &auth, rota_store::now_ms())
        .await
        .unwrap();
    let spark = snap.window("seven_day:gpt-5.3-codex-spark").unwrap();
    assert_eq!(spark.label, "7-Day (GPT-5.3-Codex-Spark)");
    assert_eq!(spark.utilization, 100.0);
    assert_eq!(snap.status, Some(rota_types::LimitStatus::Allowed));
}

#[test]
fn recorded_wham_shapes_parse() {
    let now = 1_700_000_000_000;
    let swapped = serde_json::json!({
        "plan_type": "plus",
        "rate_limit": {
            "allowed": true, "limit_reached": false,
            "primary_window": {"used_percent": 9, "limit_window_seconds": 604_800, "reset_after_seconds": 100, "reset_at": 1_700_000_100},
            "secondary_window": {"used_percent": 55.5, "limit_window_seconds": 18000, "reset_after_seconds": 50},
            "extra": null
        },
        "credits": {"has_credits": false, "balance": null},
        "unknown": [1]
    });
    let s = openai::parse_usage(&swapped, now);
    assert_eq!(s.window("five_hour").unwrap().utilization, 55.5);
    assert_eq!(s.window("five_hour").unwrap().resets_at, Some(now + 50_000));
    assert_eq!(s.window("seven_day").unwrap().utilization, 9.0);
    assert_eq!(
        s.window("seven_day").unwrap().resets_at,
        Some(1_700_000_100_000)
    );
    assert_eq!(s.windows[0].key, "five_hour", "short window first");
    let nulls = serde_json::json!({"rate_limit": {"primary_window": null, "secondary_window": {"used_percent": null}}});
    assert!(openai::parse_usage(&nulls, now).windows.is_empty());
    let reached = serde_json::json!({"rate_limit": {"limit_reached": true}});
    assert_eq!(
        openai::parse_usage(&reached, now).status,
        Some(rota_types::LimitStatus::Rejected)
    );
}

#[tokio::test]
async fn codex_responses_classify_and_update_usage() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P).usage(Usage::windows(
        Window::new(30.0, 3_600),
        Window::new(70.0, 300_000),
    )));
    let send = || async {
        let token = rota_core::Secret::new(info.access_token.clone());
        let mut inbound = http::HeaderMap::new();
        inbound.insert("authorization", "Bearer rota-local".parse().unwrap());
        inbound.insert("content-type", "application/json".parse().unwrap());
        let shaped = shape_request(
            P,
            &providers.config,
            &inbound,
            "/responses",
            UpstreamAuth {
                bearer: &token,
                account_id: info.chatgpt_account_id.as_deref(),
                api_base: None,
                copilot_ide: false,
            },
        )
        .unwrap();
        providers
            .http()
            .post(&shaped.url)
            .headers(shaped.headers)
            .body(r#"{"model":"gpt-5","input":"hi","stream":true}"#)
            .send()
            .await
            .unwrap()
    };
    let resp = send().await;
    assert_eq!(resp.status(), 200);
    let now = rota_store::now_ms();
    let snap = openai::usage_from_headers(resp.headers(), now, None).unwrap();
    assert_eq!(snap.window("five_hour").unwrap().utilization, 30.0);
    assert_eq!(snap.window("seven_day").unwrap().utilization, 70.0);

    let cases: Vec<(Behavior, &str)> = vec![
        (
            Behavior::RateLimit {
                reset_in_seconds: 2_000,
                window: LimitWindow::FiveHour,
            },
            "quota",
        ),
        (
            Behavior::UsageLimitReached {
                resets_in_seconds: 900,
            },
            "quota-body",
        ),
        (Behavior::RateLimitRetryAfter { seconds: 30 }, "retry-after"),
        (Behavior::RateLimitTransient, "transient"),
        (Behavior::ExtraUsageRequired, "gate"),
        (Behavior::Overloaded, "overloaded"),
        (Behavior::Unauthorized, "401"),
    ];
    for (b, name) in cases {
        mock.push_behavior(&info.id, b).unwrap();
        let resp = send().await;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        let now = rota_store::now_ms();
        let got = openai::classify(status, &h, &body, now);
        let near = |t: i64, secs: i64| (t - (now + secs * 1000)).abs() < 5_000;
        match (name, &got) {
            ("quota", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.iter().any(|t| near(*t, 2_000)), "{s:?}");
                assert_eq!(s.window, Some(WindowKind::FiveHour));
            }
            ("quota-body", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.iter().any(|t| near(*t, 900)), "{s:?}");
            }
            ("retry-after", Outcome::RateLimited(s)) => assert_eq!(s.retry_after_ms, Some(30_000)),
            ("transient", Outcome::Overloaded { status: 429 })
            | ("gate", Outcome::FeatureGated)
            | ("overloaded", Outcome::Overloaded { status: 503 })
            | ("401", Outcome::AuthFailed) => {}
            _ => panic!("{name}: unexpected {got:?}"),
        }
    }
}

#[tokio::test]
async fn upstream_credential_carries_the_account_id() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (info, id) = seed(&mock, &store, NewAccount::new(P), |b| b);
    let auth = tm.access(P, id).await.unwrap();
    let cred = providers
        .upstream_credential(P, &auth, rota_store::now_ms())
        .await
        .unwrap();
    assert_eq!(cred.account_id, info.chatgpt_account_id);
    assert_eq!(cred.bearer.expose(), info.access_token);
    // Without the identity, the id_token's claim gives it.
    let mut bare = auth.clone();
    bare.identity.account_id = None;
    assert_eq!(openai::account_id(&bare), info.chatgpt_account_id);
}
