//! Anthropic against rota-mock over real HTTP: paste and loopback logins, refresh (single use,
//! permanent and transient failures), usage, unified headers, classification, request shaping.
#![allow(clippy::float_cmp)] // usage values are compared exactly: they come from exact JSON and header numbers

use std::time::Duration;

use crate::common::*;
use rota_core::Outcome;
use rota_mock::{Behavior, LimitWindow, LoginPlan, NewAccount, Scope, ScriptStep, Usage, Window};
use rota_providers::anthropic::{self, LoopbackLogin, PasteLogin};
use rota_providers::{LoginFailure, ProviderError, UpstreamAuth, shape_request};
use rota_types::{ProviderId, ProviderUsage, WindowKind};

const P: ProviderId = ProviderId::Anthropic;

#[tokio::test]
async fn paste_login_with_code_hash_state_and_with_the_redirect_url() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let known = mock.add_account(NewAccount::new(P).email("ada@example.com").plan("max"));
    for form in ["code#state", "url"] {
        mock.next_login(
            P,
            LoginPlan {
                account: Some(known.id.clone()),
                deny: false,
            },
        );
        let login = PasteLogin::begin(&providers).unwrap();
        assert!(login.url.contains("code=true"));
        assert!(login.url.contains("code_challenge_method=S256"));
        let page = reqwest::get(&login.url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let shown = auth_code_on_page(&page);
        let pasted = if form == "url" {
            let (code, state) = shown.split_once('#').unwrap();
            format!("https://platform.claude.com/oauth/code/callback?code={code}&state={state}")
        } else {
            format!("  {shown}\n")
        };
        let r = login.complete(&providers, &pasted).await.unwrap();
        assert_eq!(r.identity.email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            r.identity.account_id.as_deref(),
            Some(known.account_uuid.as_str())
        );
        assert_eq!(r.identity.plan.as_deref(), Some("max"));
        let now_info = mock.account(&known.id).unwrap();
        assert_eq!(r.secrets.access_token.expose(), now_info.access_token);
        assert_eq!(
            r.secrets.refresh_token.as_ref().unwrap().expose(),
            now_info.refresh_token.unwrap()
        );
        assert!(r.secrets.expires_at.unwrap() > rota_store::now_ms() + 7 * 3_600_000);
    }
    // The login result goes straight into the store.
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    mock.next_login(P, LoginPlan::default());
    let login = PasteLogin::begin(&providers).unwrap();
    let page = reqwest::get(&login.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = login
        .complete(&providers, &auth_code_on_page(&page))
        .await
        .unwrap();
    let up = store
        .upsert_account(P, "default", r.new_login(), r.secrets.clone(), 1)
        .unwrap();
    assert_eq!(store.credentials(up.id).unwrap().unwrap(), r.secrets);
}

#[tokio::test]
async fn paste_login_refuses_a_wrong_state_and_reports_denial() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let login = PasteLogin::begin(&providers).unwrap();
    let page = reqwest::get(&login.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (code, _) = auth_code_on_page(&page)
        .split_once('#')
        .map(|(c, s)| (c.to_owned(), s.to_owned()))
        .unwrap();
    let err = login
        .complete(&providers, &format!("{code}#not-the-state"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::StateMismatch)),
        "{err}"
    );
    // Nothing was exchanged.
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 0);
    let err = login
        .complete(&providers, "https://x/callback?error=access_denied&state=s")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Login(_, LoginFailure::Denied(_))),
        "{err}"
    );
    let err = login.complete(&providers, "   ").await.unwrap_err();
    assert!(matches!(
        err,
        ProviderError::Login(_, LoginFailure::BadPaste)
    ));
}

#[tokio::test]
async fn loopback_login_end_to_end_and_denied() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let login = LoopbackLogin::begin(&providers, &[0]).await.unwrap();
    assert!(
        login
            .url
            .contains(&format!("localhost%3A{}%2Fcallback", login.port()))
    );
    let url = login.url.clone();
    let browser = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    let r = login
        .complete(&providers, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(browser.await.unwrap(), 200, "the browser sees our page");
    assert!(r.identity.email.is_some());

    mock.next_login(
        P,
        LoginPlan {
            account: None,
            deny: true,
        },
    );
    let login = LoopbackLogin::begin(&providers, &[0]).await.unwrap();
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
async fn refresh_happens_only_near_expiry_and_persists_the_new_pair() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);

    let (_, fresh_id) = seed(&mock, &store, NewAccount::new(P), |b| b);
    let auth = tm.access(P, fresh_id).await.unwrap();
    assert_eq!(
        count_requests(&mock, "/v1/oauth/token"),
        0,
        "far from expiry: no refresh"
    );
    assert_eq!(auth.secrets, store.credentials(fresh_id).unwrap().unwrap());

    let (info, id) = seed(&mock, &store, NewAccount::new(P), expired);
    let before = store.credentials(id).unwrap().unwrap();
    let auth = tm.access(P, id).await.unwrap();
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
    let now_info = mock.account(&info.id).unwrap();
    assert_eq!(auth.secrets.access_token.expose(), now_info.access_token);
    assert_ne!(auth.secrets.refresh_token, before.refresh_token);
    assert_eq!(
        store.credentials(id).unwrap().unwrap(),
        auth.secrets,
        "persisted before use"
    );
    // The refreshed token works upstream.
    assert!(
        providers
            .fetch_usage(P, &auth, rota_store::now_ms())
            .await
            .is_ok()
    );

    // Concurrent callers in one process: one refresh.
    let (_, id2) = seed(&mock, &store, NewAccount::new(P), expired);
    mock.clear_requests();
    let calls = (0..6).map(|_| tm.access(P, id2));
    let results = futures_util::future::join_all(calls).await;
    let first = results[0].as_ref().unwrap().secrets.clone();
    for r in &results {
        assert_eq!(r.as_ref().unwrap().secrets, first);
    }
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1, "single flight");

    // A 401 with the tokens we used: refresh; with tokens someone already replaced: no network.
    mock.clear_requests();
    let used = store.credentials(id2).unwrap().unwrap();
    let again = tm.after_unauthorized(P, id2, &used).await.unwrap();
    assert_ne!(again.secrets, used);
    let stale = tm.after_unauthorized(P, id2, &used).await.unwrap();
    assert_eq!(stale.secrets, again.secrets);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
}

/// Credentials a caller already holds (the gateway's in-memory view): used as they are while
/// far from expiry, refreshed through the same locked re-read when due.
#[tokio::test]
async fn held_credentials_are_refreshed_only_when_due_and_through_the_store() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let now = rota_store::now_ms();

    // Far from expiry: the held copy comes back untouched, with no file or network read.
    let (_, id) = seed(&mock, &store, NewAccount::new(P), |b| b);
    let held = tm.access_at(P, id, now).await.unwrap();
    let mut other = held.clone();
    other.record_id = "not-read-from-the-store".into();
    let got = tm.refresh_if_due(P, id, other.clone(), now).await.unwrap();
    assert_eq!(got, other);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 0);

    // Due: refreshed once and persisted before use.
    let (info, id) = seed(&mock, &store, NewAccount::new(P), expired);
    let held = tm.access_at(P, id, now - 7_200_000).await.unwrap();
    let got = tm.refresh_if_due(P, id, held.clone(), now).await.unwrap();
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
    assert_eq!(
        got.secrets.access_token.expose(),
        mock.account(&info.id).unwrap().access_token
    );
    assert_eq!(store.credentials(id).unwrap().unwrap(), got.secrets);

    // Due, but the store already holds a newer pair (another process refreshed): that pair,
    // without a network call.
    let again = tm.refresh_if_due(P, id, held, now).await.unwrap();
    assert_eq!(again.secrets, got.secrets);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
}

#[tokio::test]
async fn permanent_refresh_failure_marks_needs_reauth_and_keeps_tokens_byte_for_byte() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);

    // invalid_grant (refresh token expired at the provider) and 404 not_found_error.
    let (a, id_a) = seed(&mock, &store, NewAccount::new(P), expired);
    mock.expire(&a.id, rota_mock::ExpireWhat::Refresh).unwrap();
    let (b, id_b) = seed(&mock, &store, NewAccount::new(P), expired);
    mock.script(
        &b.id,
        ScriptStep::once(Behavior::Status {
            status: 404,
            body: Some(serde_json::json!({"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})),
            headers: std::collections::BTreeMap::default(),
        })
        .scope(Scope::Token),
    )
    .unwrap();
    for (id, code) in [(id_a, "invalid_grant"), (id_b, "not_found_error")] {
        let vault_before = std::fs::read(&store.paths().vault).unwrap();
        let stored_before = store.credentials(id).unwrap().unwrap();
        let err = tm.access(P, id).await.unwrap_err();
        match &err {
            ProviderError::ReauthRequired { code: c, .. } => assert_eq!(c, code),
            other => panic!("expected ReauthRequired, got {other}"),
        }
        assert_eq!(
            std::fs::read(&store.paths().vault).unwrap(),
            vault_before,
            "vault bytes untouched"
        );
        assert_eq!(store.credentials(id).unwrap().unwrap(), stored_before);
        let state = store.load().unwrap();
        assert!(state.record(P, id).unwrap().health.needs_reauth);
        assert!(
            !err.to_string().contains("sk-ant"),
            "no token in the error: {err}"
        );
    }
}

#[tokio::test]
async fn transient_refresh_failure_backs_off_with_tokens_untouched_then_retries() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (a, id) = seed(&mock, &store, NewAccount::new(P), expired);
    mock.script(
        &a.id,
        ScriptStep::once(Behavior::ServerError).scope(Scope::Token),
    )
    .unwrap();
    let before = store.credentials(id).unwrap().unwrap();
    let now = rota_store::now_ms();
    let err = tm.access_at(P, id, now).await.unwrap_err();
    let ProviderError::RefreshBackoff { retry_at, .. } = err else {
        panic!("expected a back-off, got {err}");
    };
    assert!(retry_at >= now + 30_000);
    assert_eq!(
        store.credentials(id).unwrap().unwrap(),
        before,
        "tokens untouched"
    );
    assert!(
        !store
            .load()
            .unwrap()
            .record(P, id)
            .unwrap()
            .health
            .needs_reauth
    );
    // Inside the back-off: no request.
    assert!(tm.access_at(P, id, now + 1_000).await.is_err());
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
    // Later: retried, and it works (the refresh token was never spent).
    let auth = tm.access_at(P, id, retry_at + 1).await.unwrap();
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 2);
    assert_ne!(auth.secrets, before);
    assert_eq!(store.credentials(id).unwrap().unwrap(), auth.secrets);
}

#[tokio::test]
async fn usage_from_the_endpoint() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let usage = Usage {
        seven_day_sonnet: Some(Window::new(7.5, 90_000)),
        seven_day_opus: Some(Window::new(1.0, 90_000)),
        ..Usage::windows(Window::new(42.0, 3_600), Window::new(64.0, 200_000))
    };
    let (_, id) = seed(&mock, &store, NewAccount::new(P).usage(usage), |b| b);
    let auth = tm.access(P, id).await.unwrap();
    let now = rota_store::now_ms();
    let snap = providers.fetch_usage(P, &auth, now).await.unwrap();
    assert_eq!(snap.fetched_at, now);
    assert!(matches!(snap.usage, ProviderUsage::Anthropic(_)));
    let w = |key: &str| snap.window(key).unwrap_or_else(|| panic!("{key}"));
    assert_eq!(w("five_hour").utilization, 42.0);
    let reset = w("five_hour").resets_at.unwrap();
    assert!((reset - (now + 3_600_000)).abs() < 5_000, "reset {reset}");
    assert_eq!(w("seven_day").utilization, 64.0);
    assert_eq!(w("seven_day:sonnet").utilization, 7.5);
    assert_eq!(w("seven_day:sonnet").label, "7-Day (Sonnet)");
    assert_eq!(w("seven_day:opus").utilization, 1.0);
    // The poll went out as Claude Code (strict rota-mock answers 429 to anything else).
    let poll = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/api/oauth/usage"))
        .unwrap();
    assert_eq!(
        poll.headers["user-agent"],
        "claude-cli/2.1.330 (external, cli)"
    );
}

#[tokio::test]
async fn usage_lists_every_limits_window_including_a_model_cap() {
    use rota_types::Severity::{Critical, Normal, Warning};
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let usage = Usage {
        limits_only: true,
        ..Usage::windows(Window::new(80.0, 3_600), Window::new(43.0, 200_000))
    }
    .scoped("Fable", Window::new(100.0, 200_000));
    let (_, id) = seed(&mock, &store, NewAccount::new(P).usage(usage), |b| b);
    let auth = tm.access(P, id).await.unwrap();
    let snap = providers
        .fetch_usage(P, &auth, rota_store::now_ms())
        .await
        .unwrap();
    let got: Vec<(&str, &str, f64, rota_types::Severity)> = snap
        .windows
        .iter()
        .map(|w| (w.key.as_str(), w.label.as_str(), w.utilization, w.severity))
        .collect();
    assert_eq!(
        got,
        [
            ("five_hour", "5-Hour", 80.0, Warning),
            ("seven_day", "7-Day (All Models)", 43.0, Normal),
            ("seven_day:fable", "7-Day (Fable)", 100.0, Critical),
        ]
    );
    // Fable at 100 % does not make the account look exhausted; it blocks Fable only.
    assert_eq!(snap.status, Some(rota_types::LimitStatus::AllowedWarning));
    assert!(snap.exhausted_scope_for("claude-fable-4-5").is_some());
    assert!(snap.exhausted_scope_for("claude-opus-4-8").is_none());
}

#[tokio::test]
async fn strict_mock_refuses_a_usage_poll_that_is_not_claude_code() {
    let mock = mock().await;
    let info = mock.add_account(NewAccount::new(P));
    let resp = reqwest::Client::new()
        .get(format!("{}/anthropic/api/oauth/usage", mock.base_url()))
        .bearer_auth(&info.access_token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .header("user-agent", "rota/0.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: serde_json::Value = resp.json().await.unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(&fixture("anthropic_usage_429_body.json")).unwrap();
    assert_eq!(body["error"], fixture["error"]);
}

/// A Messages request as Claude Code sends it (strict rota-mock refuses other clients).
async fn messages(providers: &rota_providers::Providers, token: &str) -> reqwest::Response {
    let mut inbound = http::HeaderMap::new();
    inbound.insert(
        "user-agent",
        rota_mock::claude_code::USER_AGENT.parse().unwrap(),
    );
    inbound.insert("x-api-key", "rota-local".parse().unwrap());
    inbound.insert("anthropic-version", "2023-06-01".parse().unwrap());
    inbound.insert("anthropic-beta", "claude-code-20250219".parse().unwrap());
    inbound.insert("content-type", "application/json".parse().unwrap());
    let secret = rota_core::Secret::new(token);
    let shaped = shape_request(
        P,
        &providers.config,
        &inbound,
        "/v1/messages?beta=true",
        UpstreamAuth {
            bearer: &secret,
            account_id: None,
            api_base: None,
            copilot_ide: false,
        },
    )
    .unwrap();
    providers
        .http()
        .post(&shaped.url)
        .headers(shaped.headers)
        .body(rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hi", false).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn shaped_requests_pass_and_responses_classify() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P).usage(Usage::windows(
        Window::new(50.0, 3_600),
        Window::new(20.0, 100_000),
    )));
    let resp = messages(&providers, &info.access_token).await;
    let now = rota_store::now_ms();
    assert_eq!(resp.status(), 200);
    let last = mock.requests().pop().unwrap();
    assert_eq!(last.query.as_deref(), Some("beta=true"));
    assert_eq!(last.headers["anthropic-version"], "2023-06-01");
    assert!(last.headers["anthropic-beta"].contains("claude-code-20250219"));
    assert!(!last.headers.contains_key("x-api-key"));
    let headers = resp.headers().clone();
    assert_eq!(
        anthropic::classify(200, &headers, b"", now),
        Outcome::Success { status: 200 }
    );
    let snap = anthropic::usage_from_headers(&headers, now, None).unwrap();
    assert_eq!(snap.window("five_hour").unwrap().utilization, 50.0);
    assert_eq!(snap.window("seven_day").unwrap().utilization, 20.0);

    let cases: Vec<(Behavior, &str)> = vec![
        (
            Behavior::RateLimit {
                reset_in_seconds: 3_000,
                window: LimitWindow::FiveHour,
            },
            "quota-5h",
        ),
        (
            Behavior::RateLimit {
                reset_in_seconds: 90_000,
                window: LimitWindow::SevenDay,
            },
            "quota-7d",
        ),
        (
            Behavior::ModelCap {
                reset_in_seconds: 4_000,
            },
            "model-cap",
        ),
        (
            Behavior::RateLimitRetryAfter { seconds: 120 },
            "retry-after",
        ),
        (Behavior::RateLimitNoReset, "no-reset"),
        (Behavior::RateLimitTransient, "transient"),
        (Behavior::ExtraUsageRequired, "gate"),
        (Behavior::Overloaded, "overloaded"),
        (Behavior::Unauthorized, "401"),
        (Behavior::ServerError, "500"),
    ];
    for (b, name) in cases {
        mock.push_behavior(&info.id, b).unwrap();
        let resp = messages(&providers, &info.access_token).await;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        let now = rota_store::now_ms();
        let got = anthropic::classify(status, &h, &body, now);
        let near = |t: i64, secs: i64| (t - (now + secs * 1000)).abs() < 5_000;
        match (name, &got) {
            ("quota-5h", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.iter().any(|t| near(*t, 3_000)), "{s:?}");
                assert_eq!(s.window, Some(WindowKind::FiveHour));
            }
            ("quota-7d", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.iter().any(|t| near(*t, 90_000)), "{s:?}");
                assert_eq!(s.window, Some(WindowKind::SevenDay));
            }
            ("model-cap", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.iter().any(|t| near(*t, 4_000)), "{s:?}");
            }
            ("retry-after", Outcome::RateLimited(s)) => {
                assert!(s.resets_at.is_empty());
                assert_eq!(s.retry_after_ms, Some(120_000));
            }
            ("no-reset", Outcome::RateLimited(s)) => {
                assert!(
                    s.resets_at.is_empty() && s.retry_after_ms.is_none(),
                    "{s:?}"
                );
            }
            ("transient", Outcome::Overloaded { status: 429 })
            | ("gate", Outcome::FeatureGated)
            | ("overloaded", Outcome::Overloaded { status: 529 })
            | ("401", Outcome::AuthFailed)
            | ("500", Outcome::OtherError { status: 500 }) => {}
            _ => panic!("{name}: unexpected {got:?}"),
        }
    }
}

#[test]
fn recorded_usage_shapes_parse() {
    let now = 1_700_000_000_000;
    // A full answer with unknown keys, nulls and limits[] of kinds the parser does not know.
    let full = serde_json::json!({
        "five_hour": {"utilization": 12.0, "resets_at": "2025-11-04T04:59:59.943648+00:00"},
        "seven_day": {"utilization": 31.5, "resets_at": "2025-11-06T03:59:59.943679+00:00"},
        "seven_day_oauth_apps": null,
        "seven_day_opus": {"utilization": 0.0, "resets_at": null},
        "seven_day_sonnet": null,
        "iguana_necktie": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null},
        "limits": [
            {"kind": "weekly_scoped", "group": "weekly", "percent": 8, "severity": "normal", "resets_at": "2025-11-06T03:59:59Z", "scope": {"model": {"display_name": "Sonnet"}}, "is_active": true},
            {"kind": "future_window", "percent": 99}
        ],
        "new_thing": {"x": [1, 2, 3]}
    });
    let s = anthropic::parse_usage(&full, now);
    assert_eq!(s.window("five_hour").unwrap().utilization, 12.0);
    assert_eq!(
        s.window("five_hour").unwrap().resets_at,
        Some(1_762_232_399_943)
    );
    assert_eq!(s.window("seven_day").unwrap().utilization, 31.5);
    assert_eq!(s.window("seven_day:sonnet").unwrap().utilization, 8.0);
    assert_eq!(s.window("seven_day:opus").unwrap().utilization, 0.0);
    assert_eq!(s.windows.len(), 4, "{:?}", s.windows);
    assert_eq!(s.fetched_at, now);
    // Nulls everywhere and odd values: no windows, no panic.
    let odd = serde_json::json!({"five_hour": null, "seven_day": {"utilization": null}, "seven_day_sonnet": "x", "limits": "nope"});
    assert!(anthropic::parse_usage(&odd, now).windows.is_empty());
    assert!(
        anthropic::parse_usage(&serde_json::json!([]), now)
            .windows
            .is_empty()
    );
}

#[test]
fn unified_headers_keep_the_model_windows_of_the_last_fetch() {
    let mut h = http::HeaderMap::new();
    h.insert(
        "anthropic-ratelimit-unified-status",
        "allowed_warning".parse().unwrap(),
    );
    h.insert(
        "anthropic-ratelimit-unified-5h-utilization",
        "0.87".parse().unwrap(),
    );
    h.insert(
        "anthropic-ratelimit-unified-5h-reset",
        "1700003600".parse().unwrap(),
    );
    let prev = anthropic::parse_usage(
        &serde_json::json!({"seven_day": {"utilization": 30}, "seven_day_sonnet": {"utilization": 9}}),
        1,
    );
    let s = anthropic::usage_from_headers(&h, 2, Some(&prev)).unwrap();
    assert!((s.window("five_hour").unwrap().utilization - 87.0).abs() < 1e-9);
    assert_eq!(
        s.window("five_hour").unwrap().resets_at,
        Some(1_700_003_600_000)
    );
    assert_eq!(s.window("seven_day").unwrap().utilization, 30.0);
    assert_eq!(s.window("seven_day:sonnet").unwrap().utilization, 9.0);
    assert_eq!(s.status, Some(rota_types::LimitStatus::AllowedWarning));
    assert!(anthropic::usage_from_headers(&http::HeaderMap::new(), 2, None).is_none());

    // A rejection while 5h and 7d are allowed is one model's cap: the account stays allowed,
    // and a 429 with it names the model.
    let mut cap = http::HeaderMap::new();
    for (k, v) in [
        ("status", "rejected"),
        ("5h-status", "allowed"),
        ("5h-utilization", "0.2"),
        ("7d-status", "allowed"),
        ("7d-utilization", "0.3"),
        ("representative-claim", "seven_day_fable"),
        ("reset", "1700600000"),
    ] {
        cap.insert(
            http::HeaderName::try_from(format!("anthropic-ratelimit-unified-{k}")).unwrap(),
            v.parse().unwrap(),
        );
    }
    let s = anthropic::usage_from_headers(&cap, 3, None).unwrap();
    assert_eq!(s.status, Some(rota_types::LimitStatus::Allowed));
    let signal = anthropic::rate_limit_signal(&cap, 3);
    assert_eq!(signal.model.as_deref(), Some("Fable"));
    assert_eq!(signal.resets_at, vec![1_700_600_000_000]);
}

/// The plan-limits-only outcomes, from strict rota-mock's answers: a third-party app's request
/// is the third-party-billing 400; a used-up plan served from extra usage is a success that
/// says it is using overage, with the plan window's reset. Claude Code's own answers stay
/// plain successes.
#[tokio::test]
async fn extra_usage_answers_classify_for_the_guard() {
    let mock = mock().await;
    let providers = providers(mock.base_url());
    let info = mock.add_account(NewAccount::new(P));
    let resp = providers
        .http()
        .post(format!("{}/v1/messages", providers.config.anthropic.api_base))
        .bearer_auth(&info.access_token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .header("user-agent", "opencode/1.18.33 ai-sdk/anthropic")
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        anthropic::classify(status, &h, &body, rota_store::now_ms()),
        Outcome::ExtraUsageBilled
    );
    // An ordinary 400 stays one.
    assert_eq!(
        anthropic::classify(
            400,
            &http::HeaderMap::new(),
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#,
            0
        ),
        Outcome::OtherError { status: 400 }
    );

    let mut usage = Usage::windows(Window::new(100.0, 600), Window::new(30.0, 100_000));
    usage.extra_usage.is_enabled = true;
    let over = mock.add_account(NewAccount::new(P).usage(usage));
    let resp = messages(&providers, &over.access_token).await;
    let now = rota_store::now_ms();
    assert_eq!(resp.status(), 200);
    assert!(anthropic::is_using_overage(resp.headers()));
    match anthropic::classify(200, resp.headers(), b"", now) {
        Outcome::UsingExtraUsage {
            status: 200,
            resets_at: Some(t),
        } => assert!((t - (now + 600_000)).abs() < 5_000, "{t}"),
        other => panic!("{other:?}"),
    }
    let plain = messages(&providers, &info.access_token).await;
    assert!(!anthropic::is_using_overage(plain.headers()));
    assert_eq!(
        anthropic::classify(200, plain.headers(), b"", now),
        Outcome::Success { status: 200 }
    );
}
