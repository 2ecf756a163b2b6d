//! GitHub Copilot against rota-mock: device flow (pending, `slow_down`, denied, expired,
//! Enterprise domain), Copilot token exchange and cache, premium quota, classification.
#![allow(clippy::float_cmp)] // usage values are compared exactly: they come from exact JSON and header numbers

use std::time::{Duration, Instant};

use crate::common::*;
use rota_core::Outcome;
use rota_mock::{Behavior, MockConfig, NewAccount, Quota, Usage};
use rota_providers::copilot::{self, Copilot, DeviceLogin, DevicePoll};
use rota_providers::{
    AccountAuth, LoginFailure, ProviderError, Providers, ProvidersConfig, UpstreamAuth,
    shape_request,
};
use rota_types::{ProviderId, ProviderUsage, WindowKind};

const P: ProviderId = ProviderId::GithubCopilot;

fn fast_mock() -> MockConfig {
    MockConfig {
        device_interval_secs: 1,
        slow_down_increment_secs: 1,
        ..MockConfig::default()
    }
}

fn fast_providers(base: &str) -> Providers {
    let mut c = ProvidersConfig::with_mock_base(base);
    c.github.slow_down_secs = 1;
    Providers::new(c).unwrap()
}

#[tokio::test]
async fn device_flow_keeps_polling_while_pending_and_honours_slow_down() {
    let mock = mock_with(fast_mock()).await;
    let providers = fast_providers(mock.base_url());
    let mut login = DeviceLogin::begin(&providers).await.unwrap();
    assert_eq!(login.interval, Duration::from_secs(1));
    assert!(login.verification_uri.ends_with("/login/device"));
    // Two polls back to back: pending, then slow_down (polled faster than the interval).
    assert!(matches!(
        login.poll_once(&providers).await.unwrap(),
        DevicePoll::Pending
    ));
    let DevicePoll::SlowDown(raised) = login.poll_once(&providers).await.unwrap() else {
        panic!("expected slow_down");
    };
    // Our step (1 s) or the server's new interval (2 s), whichever is larger.
    assert_eq!(raised, Duration::from_secs(2));
    assert_eq!(login.interval, raised);
    let info = mock.add_account(
        NewAccount::new(P)
            .email("octo@example.net")
            .plan("individual_pro"),
    );
    let code = login.user_code.clone();
    let approve = {
        let m = mock.urls().control.clone();
        let id = info.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            reqwest::Client::new()
                .post(format!("{m}/devices/{code}/approve"))
                .json(&serde_json::json!({"account": id}))
                .send()
                .await
                .unwrap()
        })
    };
    let started = Instant::now();
    let r = login
        .wait(&providers, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(approve.await.unwrap().status().is_success());
    assert!(started.elapsed() >= Duration::from_millis(2_500));
    assert_eq!(r.identity.account_id, info.github_login);
    assert_eq!(r.identity.plan.as_deref(), Some("individual_pro"));
    assert_eq!(
        r.secrets.access_token.expose(),
        mock.account(&info.id).unwrap().access_token
    );
    assert!(
        r.secrets.refresh_token.is_none(),
        "GitHub tokens do not rotate"
    );
    // After the slow_down every poll kept the raised interval: no second slow_down.
    let polls: Vec<i64> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/login/oauth/access_token"))
        .map(|r| r.time_ms)
        .collect();
    for gap in polls.windows(2).skip(1) {
        assert!(gap[1] - gap[0] >= 1_900, "polls {polls:?}");
    }
    let device = mock
        .devices()
        .into_iter()
        .find(|d| d.user_code == login.user_code)
        .unwrap();
    assert_eq!(device.polls as usize, polls.len());
}

#[tokio::test]
async fn device_flow_denied_and_expired() {
    let mock = mock_with(fast_mock()).await;
    let providers = fast_providers(mock.base_url());
    let mut login = DeviceLogin::begin(&providers).await.unwrap();
    mock.deny_device(&login.user_code).unwrap();
    let err = login
        .wait(&providers, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Denied(_))),
        "{err}"
    );
    let mut login = DeviceLogin::begin(&providers).await.unwrap();
    mock.expire_device(&login.user_code).unwrap();
    let err = login
        .wait(&providers, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Expired)),
        "{err}"
    );
}

#[tokio::test]
async fn enterprise_domain_is_kept_with_the_token() {
    let mock = mock_with(fast_mock()).await;
    let mut c = ProvidersConfig::with_mock_base(mock.base_url());
    c.github.domain = "ghe.example.com".into();
    let providers = Providers::new(c).unwrap();
    let mut login = DeviceLogin::begin(&providers).await.unwrap();
    mock.approve_device(&login.user_code, None).unwrap();
    let r = login
        .wait(&providers, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        r.secrets
            .extra(copilot::ENTERPRISE_URL)
            .map(|s| s.expose().to_owned())
            .as_deref(),
        Some("ghe.example.com")
    );
    let ghe = rota_providers::GithubConfig::for_domain("https://ghe.example.com/");
    assert_eq!(ghe.web_base, "https://ghe.example.com");
    assert_eq!(ghe.api_base, "https://api.ghe.example.com");
}

fn auth_of(info: &rota_mock::AccountInfo) -> AccountAuth {
    AccountAuth {
        record_id: info.id.clone(),
        identity: identity_of(info),
        secrets: bundle_of(info),
    }
}

#[tokio::test]
async fn copilot_token_is_cached_and_re_exchanged_before_expiry() {
    // Tokens live 30 min: cached (skew 5 min).
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P));
    let auth = auth_of(&info);
    let now = rota_store::now_ms();
    let t1 = Copilot::api_token(&providers, &auth, now).await.unwrap();
    let t2 = Copilot::api_token(&providers, &auth, now + 60_000)
        .await
        .unwrap();
    assert_eq!(t1.token, t2.token);
    assert_eq!(count_requests(&mock, "/copilot_internal/v2/token"), 1);
    assert!(t1.expires_at > now + 25 * 60_000);
    // Within the skew of its expiry: exchanged again.
    let t3 = Copilot::api_token(&providers, &auth, t1.expires_at - 60_000)
        .await
        .unwrap();
    assert_eq!(count_requests(&mock, "/copilot_internal/v2/token"), 2);
    assert_ne!(t3.token, t1.token);
    // The token works against the API named by the exchange.
    let shaped = shape_request(
        P,
        &providers.config,
        &http::HeaderMap::new(),
        "/chat/completions",
        UpstreamAuth {
            bearer: &t3.token,
            account_id: None,
            api_base: t3.api_base.as_deref(),
            copilot_ide: true,
        },
    )
    .unwrap();
    let resp = providers
        .http()
        .post(&shaped.url)
        .headers(shaped.headers)
        .body(r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A refused GitHub token.
    let mut bad = auth.clone();
    bad.record_id = "other".into();
    bad.secrets.access_token = rota_core::Secret::new("gho_nope");
    let err = Copilot::api_token(&providers, &bad, now).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn premium_quota_usage() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P).usage(Usage {
        premium_interactions: Quota::limited(300, 75),
        quota_reset_date: Some("2026-12-01".into()),
        ..Usage::default()
    }));
    let snap = providers
        .fetch_usage(P, &auth_of(&info), rota_store::now_ms())
        .await
        .unwrap();
    let ProviderUsage::GithubCopilot(u) = &snap.usage else {
        panic!()
    };
    let premium = snap.window("premium").unwrap();
    assert_eq!(premium.utilization, 75.0);
    assert_eq!(premium.resets_at, Some(1_796_083_200_000));
    assert_eq!(u.entitlement, Some(300));
    assert_eq!(u.remaining, Some(75.0));
    assert!(!u.unlimited);

    let unlimited = serde_json::json!({"quota_snapshots": {"premium_interactions": {"unlimited": true, "percent_remaining": 100}}, "new": null});
    let s = copilot::parse_usage(&unlimited, 1);
    assert!(s.windows.is_empty());
    assert!(
        copilot::parse_usage(&serde_json::json!({"quota_snapshots": null}), 1)
            .windows
            .is_empty()
    );
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn copilot_responses_classify() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P));
    let token = Copilot::api_token(&providers, &auth_of(&info), rota_store::now_ms())
        .await
        .unwrap()
        .token;
    let status_429 = |code: &str, message: &str| Behavior::Status {
        status: 429,
        body: Some(serde_json::json!({"error": {"message": message, "code": code}})),
        headers: std::collections::BTreeMap::new(),
    };
    let cases: Vec<(Behavior, &str)> = vec![
        (
            Behavior::RateLimit {
                reset_in_seconds: 600,
                window: rota_mock::LimitWindow::FiveHour,
            },
            "quota",
        ),
        (Behavior::RateLimitNoReset, "no-reset"),
        (Behavior::ExtraUsageRequired, "premium"),
        (
            Behavior::Status {
                status: 402,
                body: Some(
                    serde_json::from_slice(&fixture("copilot_402_quota_exceeded_body.json"))
                        .unwrap(),
                ),
                headers: std::collections::BTreeMap::new(),
            },
            "402",
        ),
        (
            status_429(
                "user_global_rate_limited:pro",
                "Sorry, you've exceeded your 5 hour session limits. Please retry after 840 seconds.",
            ),
            "session",
        ),
        (
            status_429(
                "user_weekly_rate_limited:pro_plus",
                "You've reached your weekly rate limit. Please retry after 172800 seconds.",
            ),
            "weekly",
        ),
        (Behavior::Overloaded, "overloaded"),
        (Behavior::Unauthorized, "401"),
    ];
    for (b, name) in cases {
        mock.push_behavior(&info.id, b).unwrap();
        let resp = providers
            .http()
            .post(format!("{}/chat/completions", mock.urls().github))
            .bearer_auth(token.expose())
            .header("Editor-Version", "vscode/1.104.1")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        let now = rota_store::now_ms();
        let got = copilot::classify(status, &h, &body, now);
        let near = |s: &rota_core::RateLimitSignal, secs: i64| {
            s.resets_at
                .iter()
                .any(|t| (t - (now + secs * 1000)).abs() < 5_000)
        };
        match (name, &got) {
            ("quota", Outcome::RateLimited(s)) => {
                assert!(near(s, 600), "{s:?}");
                assert_eq!(s.retry_after_ms, Some(600_000));
            }
            ("no-reset", Outcome::RateLimited(s)) => assert!(s.resets_at.is_empty()),
            ("session", Outcome::RateLimited(s)) => {
                assert!(near(s, 840), "{s:?}");
                assert_eq!(s.window, Some(WindowKind::FiveHour));
            }
            ("weekly", Outcome::RateLimited(s)) => {
                assert!(near(s, 172_800), "{s:?}");
                assert_eq!(s.window, Some(WindowKind::SevenDay));
            }
            ("premium" | "402", Outcome::QuotaExhausted { resets_at: None })
            | ("overloaded", Outcome::Overloaded { status: 503 })
            | ("401", Outcome::AuthFailed) => {}
            _ => panic!("{name}: unexpected {got:?}"),
        }
    }
}

#[tokio::test]
async fn upstream_credential_and_a_401_re_exchanges_the_copilot_token() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (_, id) = seed(&mock, &store, NewAccount::new(P), |b| b);
    let auth = tm.access(P, id).await.unwrap();
    let now = rota_store::now_ms();
    let c1 = providers.upstream_credential(P, &auth, now).await.unwrap();
    assert_eq!(c1.api_base.as_deref(), Some(mock.urls().github.as_str()));
    let c2 = providers.upstream_credential(P, &auth, now).await.unwrap();
    assert_eq!(c1, c2, "cached");
    assert_eq!(count_requests(&mock, "/copilot_internal/v2/token"), 1);
    // The Copilot API said 401: the GitHub token stays, the Copilot token is re-exchanged.
    let again = tm.after_unauthorized(P, id, &auth.secrets).await.unwrap();
    assert_eq!(again.secrets, auth.secrets);
    let c3 = providers.upstream_credential(P, &again, now).await.unwrap();
    assert_ne!(c3.bearer, c1.bearer);
    assert_eq!(count_requests(&mock, "/copilot_internal/v2/token"), 2);
    assert_eq!(count_requests(&mock, "/login/oauth/access_token"), 0);
}

#[test]
fn the_published_copilot_user_body_parses_to_its_premium_quota() {
    let v: serde_json::Value =
        serde_json::from_slice(&fixture("copilot_user_chadonsom_api_md.json")).unwrap();
    let s = copilot::parse_usage(&v, 7);
    assert_eq!(s.fetched_at, 7);
    let ProviderUsage::GithubCopilot(c) = &s.usage else {
        panic!("{s:?}")
    };
    assert!(
        !c.credits,
        "no credits quota reported: premium interactions"
    );
    assert!(
        !c.unlimited,
        "chat/completions are unlimited, premium is not"
    );
    assert_eq!(c.entitlement, Some(1500));
    assert_eq!(c.remaining, Some(1054.0));
    let w = s.windows[0].clone();
    assert!((w.utilization - 29.72).abs() < 1e-9, "{w:?}");
    // quota_reset_date_utc 2026-03-01T00:00:00.000Z
    assert_eq!(w.resets_at, Some(1_772_323_200_000));
    assert_eq!(s.status, Some(rota_types::LimitStatus::Allowed));
    assert_eq!(s.windows[0].kind, WindowKind::Premium);
    assert_eq!(s.windows[0].label, "Premium Requests (monthly)");

    // The same account once billed in AI credits: the credits quota is shown.
    let mut credits = v.clone();
    credits["quota_snapshots"]["ai_credits"] = serde_json::json!({
        "entitlement": 1500, "remaining": 1200, "percent_remaining": 80.0,
        "unlimited": false, "quota_id": "ai_credits"
    });
    let s = copilot::parse_usage(&credits, 7);
    let ProviderUsage::GithubCopilot(c) = &s.usage else {
        panic!("{s:?}")
    };
    assert!(c.credits);
    assert_eq!(c.remaining, Some(1200.0));
    assert!((s.windows[0].utilization - 20.0).abs() < 1e-9);
    assert_eq!(s.windows[0].kind, WindowKind::Credits);
    assert_eq!(s.windows[0].label, "AI Credits (monthly)");
}

#[test]
fn quota_snapshot_headers_parse_as_vs_code_reads_them() {
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-quota-snapshot-premium_interactions",
        "ent=300&ov=0.0&ovPerm=false&rem=12.5&rst=2026-07-01T00%3A00%3A00Z"
            .parse()
            .unwrap(),
    );
    h.insert(
        "x-quota-snapshot-chat",
        "ent=-1&ov=0.0&ovPerm=false&rem=100.0&rst=2026-07-01T00%3A00%3A00Z"
            .parse()
            .unwrap(),
    );
    let s = copilot::usage_from_quota_headers(&h, 5).unwrap();
    assert_eq!(s.fetched_at, 5);
    let ProviderUsage::GithubCopilot(c) = &s.usage else {
        panic!("{s:?}")
    };
    assert_eq!(c.entitlement, Some(300));
    assert_eq!(c.remaining, Some(37.5));
    assert!(!c.credits && !c.unlimited);
    let w = s.windows[0].clone();
    assert_eq!(w.utilization, 87.5);
    assert_eq!(w.resets_at, Some(1_782_864_000_000));
    assert_eq!(s.status, Some(rota_types::LimitStatus::AllowedWarning));
    // premium_models comes before premium_interactions; credits before both.
    h.insert(
        "x-quota-snapshot-premium_models",
        "ent=300&rem=50&rst=2026-07-01T00%3A00%3A00Z"
            .parse()
            .unwrap(),
    );
    let s = copilot::usage_from_quota_headers(&h, 5).unwrap();
    assert_eq!(s.windows[0].utilization, 50.0);
    h.insert(
        "x-quota-snapshot-ai_credits",
        "ent=7000&rem=0.0&rst=2026-07-01T00%3A00%3A00Z"
            .parse()
            .unwrap(),
    );
    let s = copilot::usage_from_quota_headers(&h, 5).unwrap();
    assert_eq!(s.windows[0].kind, WindowKind::Credits);
    assert_eq!(s.status, Some(rota_types::LimitStatus::Rejected));
    // Nothing usable: no update.
    assert!(copilot::usage_from_quota_headers(&http::HeaderMap::new(), 5).is_none());
    let mut junk = http::HeaderMap::new();
    junk.insert(
        "x-quota-snapshot-premium_interactions",
        "ent=300".parse().unwrap(),
    );
    assert!(copilot::usage_from_quota_headers(&junk, 5).is_none());
}

#[tokio::test]
async fn a_token_the_exchange_answers_404_for_is_used_directly_without_ide_headers() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P).copilot_direct());
    let auth = auth_of(&info);
    let now = rota_store::now_ms();
    let c = providers.upstream_credential(P, &auth, now).await.unwrap();
    assert_eq!(c.bearer.expose(), info.access_token);
    assert!(!c.copilot_ide);
    let again = providers.upstream_credential(P, &auth, now).await.unwrap();
    assert_eq!(again, c);
    assert_eq!(
        count_requests(&mock, "/copilot_internal/v2/token"),
        1,
        "remembered"
    );
    let shaped = shape_request(
        P,
        &providers.config,
        &http::HeaderMap::new(),
        "/chat/completions",
        c.as_auth(),
    )
    .unwrap();
    assert!(shaped.headers.get("editor-version").is_none());
    let resp = providers
        .http()
        .post(&shaped.url)
        .headers(shaped.headers)
        .body(r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // An exchanged token goes out with the IDE headers (strict rota-mock refuses it otherwise).
    let ide = mock.add_account(NewAccount::new(P));
    let c = providers
        .upstream_credential(P, &auth_of(&ide), now)
        .await
        .unwrap();
    assert!(c.copilot_ide);
    let shaped = shape_request(
        P,
        &providers.config,
        &http::HeaderMap::new(),
        "/chat/completions",
        c.as_auth(),
    )
    .unwrap();
    let resp = providers
        .http()
        .post(&shaped.url)
        .headers(shaped.headers)
        .body(r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
