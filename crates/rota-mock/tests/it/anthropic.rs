//! Anthropic OAuth, usage and Messages API over real HTTP.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use crate::common::*;
use rota_mock::{MockConfig, NewAccount, Usage, Window};
use rota_types::ProviderId;
use serde_json::{Value, json};

const SCOPE: &str = "org:create_api_key user:profile user:inference";

async fn authorize(t: &T, redirect_uri: &str, state: &str, extra: &str) -> reqwest::Response {
    let url = format!(
        "{}?code=true&client_id={ANTHROPIC_CLIENT}&response_type=code&redirect_uri={}&scope={}&code_challenge={CHALLENGE}&code_challenge_method=S256&state={state}{extra}",
        t.anthropic("/oauth/authorize"),
        urlencode(redirect_uri),
        urlencode(SCOPE),
    );
    t.http.get(url).send().await.unwrap()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn exchange(
    t: &T,
    code: &str,
    state: &str,
    redirect_uri: &str,
    verifier: &str,
) -> reqwest::Response {
    t.http
        .post(t.anthropic("/v1/oauth/token"))
        .json(&json!({
            "grant_type": "authorization_code", "code": code, "state": state,
            "client_id": ANTHROPIC_CLIENT, "redirect_uri": redirect_uri, "code_verifier": verifier,
        }))
        .send()
        .await
        .unwrap()
}

async fn refresh(t: &T, token: &str) -> reqwest::Response {
    t.http
        .post(t.anthropic("/v1/oauth/token"))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": token, "client_id": ANTHROPIC_CLIENT}))
        .send()
        .await
        .unwrap()
}

async fn loopback_code(t: &T, state: &str) -> String {
    let r = authorize(t, LOOPBACK, state, "").await;
    assert_eq!(r.status(), 302);
    assert!(header(&r, "location").unwrap().starts_with(LOOPBACK));
    let pairs = location_query(&r);
    assert_eq!(q(&pairs, "state"), Some(state));
    q(&pairs, "code").expect("code").to_owned()
}

#[tokio::test]
async fn loopback_login_with_pkce_issues_real_shaped_tokens() {
    let t = start().await;
    let code = loopback_code(&t, "st-1").await;
    let r = exchange(&t, &code, "st-1", LOOPBACK, VERIFIER).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["access_token"]
            .as_str()
            .unwrap()
            .starts_with("sk-ant-oat01-")
    );
    assert!(
        v["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("sk-ant-ort01-")
    );
    assert_eq!(v["expires_in"], 28_800);
    assert!(v["account"]["uuid"].is_string());
    assert!(
        v["account"]["email_address"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert!(v["organization"]["uuid"].is_string());
    assert!(v["organization"]["name"].is_string());
    // The new account exists in the mock with these tokens.
    let a = t.mock.account(v["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(a.provider, ProviderId::Anthropic);
    assert_eq!(a.email, v["account"]["email_address"]);
    // The code is single use.
    let again = exchange(&t, &code, "st-1", LOOPBACK, VERIFIER).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn wrong_verifier_redirect_or_state_is_rejected() {
    let t = start().await;
    for (verifier, redirect, state) in [
        (
            "not-the-verifier-not-the-verifier-not-the-verifier",
            LOOPBACK,
            "s",
        ),
        (VERIFIER, "http://localhost:1/other", "s"),
        (VERIFIER, LOOPBACK, "another-state"),
    ] {
        let code = loopback_code(&t, "s").await;
        let r = exchange(&t, &code, state, redirect, verifier).await;
        assert_eq!(r.status(), 400, "{verifier} {redirect} {state}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_grant");
    }
    // A form-encoded body is refused: the endpoint takes JSON.
    let code = loopback_code(&t, "s").await;
    let r = t
        .http
        .post(t.anthropic("/v1/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", ANTHROPIC_CLIENT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn paste_flow_shows_code_and_state_and_deny_answers_access_denied() {
    let t = start().await;
    let paste = "https://platform.claude.com/oauth/code/callback";
    let r = authorize(&t, paste, "pst", "").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let shown = page
        .split("<code id=\"auth-code\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("code shown");
    let (code, state) = shown.split_once('#').expect("code#state");
    assert_eq!(state, "pst");
    let r = exchange(&t, code, state, paste, VERIFIER).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    let r = authorize(&t, LOOPBACK, "d", "&deny=1").await;
    assert_eq!(r.status(), 302);
    let pairs = location_query(&r);
    assert_eq!(q(&pairs, "error"), Some("access_denied"));
    assert_eq!(q(&pairs, "code"), None);

    // Bad client id and missing PKCE are refused on the page.
    let r = t
        .http
        .get(format!("{}?client_id=nope&response_type=code&redirect_uri={LOOPBACK}&code_challenge=x&code_challenge_method=S256", t.anthropic("/oauth/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn login_can_target_an_existing_account() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::Anthropic).email("me@example.com"));
    let r = authorize(&t, LOOPBACK, "s", "&mock_account=me%40example.com").await;
    let code = q(&location_query(&r), "code").unwrap().to_owned();
    let v: Value = exchange(&t, &code, "s", LOOPBACK, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["account"]["uuid"], a.account_uuid.as_str());
    assert_eq!(t.mock.accounts().len(), 1);
}

#[tokio::test]
async fn refresh_tokens_are_single_use_and_revoke_the_old_access_token() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    let old_refresh = a.refresh_token.clone().unwrap();
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);

    let r = refresh(&t, &old_refresh).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let new_access = v["access_token"].as_str().unwrap().to_owned();
    let new_refresh = v["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_access, a.access_token);
    assert_ne!(new_refresh, old_refresh);

    // Reuse of the old refresh token fails permanently.
    let r = refresh(&t, &old_refresh).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // The old access token stopped working; the new one works.
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    assert_eq!(t.message(&new_access, false).await.status(), 200);
    // The new refresh token works once.
    assert_eq!(refresh(&t, &new_refresh).await.status(), 200);
    assert_eq!(refresh(&t, &new_refresh).await.status(), 400);
    // Wrong client id.
    let latest = t.mock.account(&a.id).unwrap().refresh_token.unwrap();
    let r = t
        .http
        .post(t.anthropic("/v1/oauth/token"))
        .json(
            &json!({"grant_type": "refresh_token", "refresh_token": latest, "client_id": "other"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_win() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    let rt = a.refresh_token.unwrap();
    let mut set = Vec::new();
    for _ in 0..8 {
        set.push(refresh(&t, &rt));
    }
    let results = futures_util::future::join_all(set).await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock.expire(&a.id, rota_mock::ExpireWhat::Both).unwrap();
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    let r = refresh(&t, a.refresh_token.as_deref().unwrap()).await;
    assert_eq!(r.status(), 400);

    // Access tokens also expire with time (8 h).
    let b = t.account(ProviderId::Anthropic);
    assert_eq!(t.message(&b.access_token, false).await.status(), 200);
    t.mock.advance_clock(28_801);
    assert_eq!(t.message(&b.access_token, false).await.status(), 401);
}

#[tokio::test]
async fn api_requires_bearer_and_the_oauth_beta() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    let body = json!({"model": "m", "max_tokens": 1, "messages": []});
    let no_beta = t
        .http
        .post(t.anthropic("/v1/messages"))
        .bearer_auth(&a.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_beta.status(), 401);
    let api_key = t
        .http
        .post(t.anthropic("/v1/messages"))
        .header("x-api-key", &a.access_token)
        .header("anthropic-beta", BETA)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(api_key.status(), 401);
    let unknown = t.message("sk-ant-oat01-unknown", false).await;
    assert_eq!(unknown.status(), 401);
    let usage = t
        .http
        .get(t.anthropic("/api/oauth/usage"))
        .bearer_auth(&a.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 401);
}

#[tokio::test]
async fn usage_and_profile_shapes() {
    let t = start().await;
    let a = t.mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("u@example.com")
            .usage(Usage {
                seven_day_sonnet: Some(Window::new(5.0, 100_000)),
                ..Usage::windows(Window::new(42.5, 3_600), Window::new(17.0, 200_000))
            }),
    );
    let r = t
        .http
        .get(t.anthropic("/api/oauth/usage"))
        .bearer_auth(&a.access_token)
        .header("anthropic-beta", BETA)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["five_hour"]["utilization"], 42.5);
    let reset = v["five_hour"]["resets_at"].as_str().unwrap();
    let parsed = chrono_like_parse(reset);
    assert!((parsed - (t.mock.now() + 3_600)).abs() <= 2, "{reset}");
    assert_eq!(v["seven_day"]["utilization"], 17.0);
    assert_eq!(v["seven_day_sonnet"]["utilization"], 5.0);
    assert!(v["seven_day_opus"].is_null());
    assert!(v.as_object().unwrap().contains_key("seven_day_opus"));
    assert_eq!(v["extra_usage"]["is_enabled"], false);
    assert!(
        v.as_object().unwrap().contains_key("iguana_necktie"),
        "an unknown key is present"
    );
    // `limits[]` as the real service words it (2026-07): session, weekly_all, weekly_scoped.
    assert_eq!(v["limits"][0]["kind"], "session");
    assert_eq!(v["limits"][0]["percent"], 42.5);
    assert_eq!(v["limits"][0]["severity"], "normal");
    assert_eq!(v["limits"][1]["kind"], "weekly_all");
    assert_eq!(v["limits"].as_array().unwrap().len(), 2);

    let p: Value = t
        .http
        .get(t.anthropic("/api/oauth/profile"))
        .bearer_auth(&a.access_token)
        .header("anthropic-beta", BETA)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["account"]["email"], "u@example.com");
    assert_eq!(p["account"]["uuid"], a.account_uuid.as_str());
    assert_eq!(
        p["organization"]["uuid"],
        a.organization_uuid.unwrap().as_str()
    );
}

#[tokio::test]
async fn scoped_windows_come_as_weekly_scoped_limits_and_cap_their_model() {
    let t = start().await;
    let a = t.mock.add_account(
        NewAccount::new(ProviderId::Anthropic).usage(
            Usage {
                limits_only: true,
                ..Usage::windows(Window::new(80.0, 3_600), Window::new(43.0, 200_000))
            }
            .scoped("Fable", Window::new(100.0, 200_000)),
        ),
    );
    let v: Value = t
        .http
        .get(t.anthropic("/api/oauth/usage"))
        .bearer_auth(&a.access_token)
        .header("anthropic-beta", BETA)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("five_hour").is_none(), "limits[] only: {v}");
    let limits = v["limits"].as_array().unwrap();
    assert_eq!(limits.len(), 3);
    assert_eq!(limits[0]["severity"], "warning");
    assert_eq!(limits[2]["kind"], "weekly_scoped");
    assert_eq!(limits[2]["scope"]["model"]["display_name"], "Fable");
    assert_eq!(limits[2]["severity"], "critical");

    // A Fable request: 429 naming the Fable window while 5h and 7d stay allowed.
    let fable = |model: &'static str| t.message_with(&a.access_token, model, false);
    let r = fable("claude-fable-4-5").await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-representative-claim").as_deref(),
        Some("seven_day_fable")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-status").as_deref(),
        Some("allowed")
    );
    // Other models are served.
    assert_eq!(fable("claude-opus-4-8").await.status(), 200);
}

#[tokio::test]
async fn strict_mode_refuses_what_the_real_service_refuses_and_can_be_turned_off() {
    for strict in [true, false] {
        let t = start_with(MockConfig {
            strict,
            ..MockConfig::default()
        })
        .await;
        let a = t.account(ProviderId::Anthropic);
        let other = reqwest::Client::builder()
            .user_agent("rota/0.1.0")
            .build()
            .unwrap();
        let usage = other
            .get(t.anthropic("/api/oauth/usage"))
            .bearer_auth(&a.access_token)
            .header("anthropic-beta", BETA)
            .send()
            .await
            .unwrap();
        let refresh = other
            .post(t.anthropic("/v1/oauth/token"))
            .json(&serde_json::json!({"grant_type": "refresh_token",
                "refresh_token": a.refresh_token, "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e"}))
            .send()
            .await
            .unwrap();
        if strict {
            assert_eq!(usage.status(), 429);
            let body: Value = usage.json().await.unwrap();
            assert_eq!(
                body["error"]["message"],
                "Rate limited. Please try again later."
            );
            assert_eq!(refresh.status(), 429);
        } else {
            assert_eq!(usage.status(), 200);
            assert_eq!(refresh.status(), 200);
        }
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (no chrono in the tests).
fn chrono_like_parse(s: &str) -> i64 {
    let (date, time) = s.split_once('T').unwrap();
    assert!(time.ends_with("+00:00"), "{s}");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<i64> = time[..8].split(':').map(|x| x.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

#[tokio::test]
async fn messages_non_streaming_with_unified_headers() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::Anthropic).usage(Usage::windows(
            Window::new(85.0, 1_000),
            Window::new(20.0, 50_000),
        )));
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 200);
    let now = t.mock.now();
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("allowed_warning")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-status").as_deref(),
        Some("allowed_warning")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-utilization").as_deref(),
        Some("0.85")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-status").as_deref(),
        Some("allowed")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-utilization").as_deref(),
        Some("0.2")
    );
    let reset5: i64 = header(&r, "anthropic-ratelimit-unified-5h-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((reset5 - (now + 1_000)).abs() <= 2);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-representative-claim").as_deref(),
        Some("five_hour")
    );
    assert_eq!(
        header(&r, "x-rota-mock-account").as_deref(),
        Some(a.id.as_str())
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["content"][0]["type"], "text");
    for k in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    ] {
        assert!(v["usage"][k].as_u64().unwrap() > 0, "{k}");
    }
    assert_eq!(t.mock.account(&a.id).unwrap().api_requests, 1);
}

#[tokio::test]
async fn messages_stream_events_in_order_with_usage() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    let r = t.message(&a.access_token, true).await;
    assert_eq!(r.status(), 200);
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("allowed")
    );
    let events = sse(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert!(names.contains(&"content_block_delta"));
    let n = names.len();
    assert_eq!(
        &names[n - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "data.type equals the event name"
        );
    }
    let start = &events[0].1["message"]["usage"];
    for k in [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
    ] {
        assert!(start[k].is_u64(), "{k}");
    }
    let delta = &events[n - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 1);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, MockConfig::default().reply_text);
}

#[tokio::test]
async fn exhausted_window_answers_quota_429_until_it_resets() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::Anthropic).usage(Usage::windows(
            Window::new(100.0, 600),
            Window::new(50.0, 100_000),
        )));
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-representative-claim").as_deref(),
        Some("five_hour")
    );
    let retry: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((598..=600).contains(&retry), "{retry}");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "rate_limit_error"
    );
    // After the reset the window rolls over.
    t.mock.advance_clock(601);
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-utilization").as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn usage_per_request_moves_the_windows() {
    let t = start_with(MockConfig {
        usage_per_request: 10.0,
        ..MockConfig::default()
    })
    .await;
    let a = t.account(ProviderId::Anthropic);
    for _ in 0..3 {
        assert_eq!(t.message(&a.access_token, false).await.status(), 200);
    }
    let u = t.mock.account(&a.id).unwrap().usage;
    assert!((u.five_hour.unwrap().utilization - 30.0).abs() < 1e-9);
}

/// Strict mode's Messages rules: a third-party app's OAuth request gets the third-party-billing
/// 400; Claude Code's User-Agent with another system prompt gets the credential 400 (Haiku
/// excepted); with strict off both go through.
#[tokio::test]
async fn strict_mode_refuses_third_party_apps_and_foreign_system_prompts() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    let send = |ua: &'static str, body: Value| {
        t.http
            .post(t.anthropic("/v1/messages"))
            .bearer_auth(&a.access_token)
            .header("anthropic-beta", BETA)
            .header("user-agent", ua)
            .json(&body)
            .send()
    };
    let opencode_body = json!({"model": "claude-sonnet-4-5", "max_tokens": 5,
        "system": "You are opencode, an interactive CLI tool.",
        "messages": [{"role": "user", "content": "hi"}]});
    let r = send("opencode/1.2.3 ai-sdk/anthropic", opencode_body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Third-party apps now draw from your extra usage, not your plan limits."),
        "{v}"
    );
    // Claude Code's User-Agent, another system prompt.
    let r = send(CLAUDE_CODE_UA, opencode_body.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        rota_mock::claude_code::CREDENTIAL_ONLY_FOR_CLAUDE_CODE
    );
    let mut haiku = opencode_body.clone();
    haiku["model"] = json!("claude-haiku-4-5");
    assert_eq!(send(CLAUDE_CODE_UA, haiku).await.unwrap().status(), 200);
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);

    let lax = start_with(MockConfig {
        strict: false,
        ..MockConfig::default()
    })
    .await;
    let b = lax.account(ProviderId::Anthropic);
    let r = lax
        .http
        .post(lax.anthropic("/v1/messages"))
        .bearer_auth(&b.access_token)
        .header("anthropic-beta", BETA)
        .header("user-agent", "opencode/1.2.3")
        .json(&opencode_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Strict mode: an account whose 5-hour window is used up and whose extra usage is enabled is
/// served from extra usage, and the headers say so the way Claude Code reads them (unified
/// status `rejected`, overage status `allowed`); with extra usage off it is the 429.
#[tokio::test]
async fn strict_mode_serves_a_used_up_plan_from_extra_usage_with_overage_headers() {
    let t = start().await;
    let mut usage = Usage::windows(Window::new(100.0, 600), Window::new(50.0, 100_000));
    usage.extra_usage.is_enabled = true;
    usage.extra_usage.utilization = Some(12.5);
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::Anthropic).usage(usage));
    let r = t.message(&a.access_token, false).await;
    assert_eq!(r.status(), 200);
    let h = |n: &str| header(&r, &format!("anthropic-ratelimit-unified-{n}"));
    assert_eq!(h("status").as_deref(), Some("rejected"));
    assert_eq!(h("5h-status").as_deref(), Some("rejected"));
    assert_eq!(h("overage-status").as_deref(), Some("allowed"));
    assert_eq!(h("overage-utilization").as_deref(), Some("0.125"));
    let now = t.mock.now();
    let overage_reset: i64 = h("overage-reset").unwrap().parse().unwrap();
    assert!(overage_reset > now + 29 * 24 * 3600, "{overage_reset}");
    let plan_reset: i64 = h("reset").unwrap().parse().unwrap();
    assert!(
        (now + 590..=now + 601).contains(&plan_reset),
        "{plan_reset}"
    );

    let off = t
        .mock
        .add_account(NewAccount::new(ProviderId::Anthropic).usage(Usage::windows(
            Window::new(100.0, 600),
            Window::new(50.0, 100_000),
        )));
    let r = t.message(&off.access_token, false).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-overage-status").as_deref(),
        Some("rejected")
    );
}
