//! OpenAI (Codex OAuth): login, JWT identity, single-use refresh, device flow, usage, responses.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use crate::common::*;
use rota_mock::{DeviceState, NewAccount, Usage, Window};
use rota_types::ProviderId;
use serde_json::{Value, json};

const REDIRECT: &str = "http://localhost:1455/auth/callback";

async fn login_code(t: &T) -> String {
    let r = t
        .http
        .get(t.openai("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", OPENAI_CLIENT),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile email offline_access"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("state", "xyz"),
            ("originator", "codex_cli_rs"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(header(&r, "location").unwrap().starts_with(REDIRECT));
    let pairs = location_query(&r);
    assert_eq!(q(&pairs, "state"), Some("xyz"));
    q(&pairs, "code").unwrap().to_owned()
}

async fn token(t: &T, form: &[(&str, &str)]) -> reqwest::Response {
    t.http
        .post(t.openai("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browser_login_issues_jwts_with_the_auth_claim() {
    let t = start().await;
    let code = login_code(&t).await;
    let bad = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", OPENAI_CLIENT),
            (
                "code_verifier",
                "wrong-wrong-wrong-wrong-wrong-wrong-wrong-wrong",
            ),
        ],
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let code = login_code(&t).await;
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", OPENAI_CLIENT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = jwt_payload(v["id_token"].as_str().unwrap());
    let header_json = jwt_payload(&format!(
        "x.{}",
        v["id_token"].as_str().unwrap().split('.').next().unwrap()
    ));
    assert_eq!(header_json["alg"], "RS256");
    assert!(id["email"].as_str().unwrap().contains('@'));
    let auth = &id["https://api.openai.com/auth"];
    assert_eq!(auth["chatgpt_plan_type"], "plus");
    let account = t.mock.account(v["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        auth["chatgpt_account_id"],
        account.chatgpt_account_id.clone().unwrap().as_str()
    );
    assert_eq!(auth["chatgpt_user_id"], account.account_uuid.as_str());
    assert!(v["refresh_token"].is_string());
    assert_eq!(v["expires_in"], 3_600);
}

#[tokio::test]
async fn exchange_must_be_form_encoded() {
    let t = start().await;
    let code = login_code(&t).await;
    let r = t
        .http
        .post(t.openai("/oauth/token"))
        .json(&json!({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": OPENAI_CLIENT, "code_verifier": VERIFIER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn refresh_is_single_use() {
    let t = start().await;
    let a = t.account(ProviderId::OpenAi);
    let rt = a.refresh_token.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", OPENAI_CLIENT),
    ];
    let r = token(&t, &form).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["id_token"].is_string());
    let r = token(&t, &form).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "refresh_token_reused"
    );
    // The old access token is rejected; the new one works.
    assert_eq!(t.codex(&a).await.status(), 401);
    let fresh = t.mock.account(&a.id).unwrap();
    assert_eq!(fresh.access_token, v["access_token"].as_str().unwrap());
    assert_eq!(t.codex(&fresh).await.status(), 200);
    // Expired and unknown refresh tokens.
    t.mock
        .expire(&a.id, rota_mock::ExpireWhat::Refresh)
        .unwrap();
    let latest = fresh.refresh_token.unwrap();
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &latest),
            ("client_id", OPENAI_CLIENT),
        ],
    )
    .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "refresh_token_expired"
    );
    let r = token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt_nope"),
            ("client_id", OPENAI_CLIENT),
        ],
    )
    .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "refresh_token_invalidated"
    );
}

#[tokio::test]
async fn device_flow_pending_then_approved_then_exchange() {
    let t = start().await;
    let r = t
        .http
        .post(t.openai("/api/accounts/deviceauth/usercode"))
        .json(&json!({"client_id": OPENAI_CLIENT}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["device_auth_id"].as_str().unwrap().to_owned();
    let user_code = v["user_code"].as_str().unwrap().to_owned();
    assert_eq!(v["interval"], "5");
    let poll = || {
        t.http
            .post(t.openai("/api/accounts/deviceauth/token"))
            .json(&json!({"device_auth_id": id, "user_code": user_code}))
            .send()
    };
    assert_eq!(poll().await.unwrap().status(), 403);
    let wrong = t
        .http
        .post(t.openai("/api/accounts/deviceauth/token"))
        .json(&json!({"device_auth_id": id, "user_code": "WRONG-0000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let target = t
        .mock
        .add_account(NewAccount::new(ProviderId::OpenAi).email("dev@example.com"));
    let d = t.mock.approve_device(&user_code, Some(&target.id)).unwrap();
    assert_eq!(d.state, DeviceState::Approved);
    let r = poll().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let code = v["authorization_code"].as_str().unwrap();
    let verifier = v["code_verifier"].as_str().unwrap();
    let redirect = t.openai("/deviceauth/callback");
    let r = token(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("client_id", OPENAI_CLIENT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(
        jwt_payload(tokens["id_token"].as_str().unwrap())["email"],
        "dev@example.com"
    );
}

#[tokio::test]
async fn device_flow_expiry_and_denial() {
    let t = start().await;
    let t = &t;
    let start_code = || async move {
        let v: Value = t
            .http
            .post(t.openai("/api/accounts/deviceauth/usercode"))
            .json(&json!({"client_id": OPENAI_CLIENT}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["device_auth_id"].as_str().unwrap().to_owned(),
            v["user_code"].as_str().unwrap().to_owned(),
        )
    };
    let poll = |id: String, uc: String| async move {
        t.http
            .post(t.openai("/api/accounts/deviceauth/token"))
            .json(&json!({"device_auth_id": id, "user_code": uc}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let (id, uc) = start_code().await;
    t.mock.advance_clock(901);
    assert_eq!(poll(id, uc.clone()).await, 410);
    assert!(t.mock.approve_device(&uc, None).is_err());
    let (id, uc) = start_code().await;
    t.mock.deny_device(&uc).unwrap();
    assert_eq!(poll(id, uc).await, 400);
}

#[tokio::test]
async fn wham_usage_shape_and_swapped_windows() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::OpenAi).usage(Usage::windows(
            Window::new(30.0, 1_000),
            Window::new(60.0, 100_000),
        )));
    let get = |a: &rota_mock::AccountInfo| {
        t.http
            .get(t.openai("/backend-api/wham/usage"))
            .bearer_auth(&a.access_token)
            .header("ChatGPT-Account-Id", a.chatgpt_account_id.clone().unwrap())
            .send()
    };
    let v: Value = get(&a).await.unwrap().json().await.unwrap();
    assert_eq!(v["plan_type"], "plus");
    assert_eq!(v["rate_limit"]["allowed"], true);
    assert_eq!(v["rate_limit"]["limit_reached"], false);
    let p = &v["rate_limit"]["primary_window"];
    assert_eq!(p["used_percent"], 30.0);
    assert_eq!(p["limit_window_seconds"], 18_000);
    assert!((p["reset_after_seconds"].as_i64().unwrap() - 1_000).abs() <= 2);
    assert!(p["reset_at"].is_i64());
    assert_eq!(
        v["rate_limit"]["secondary_window"]["limit_window_seconds"],
        604_800
    );
    assert!(v["credits"].is_object());

    t.mock
        .set_usage(
            &a.id,
            Usage {
                swap_windows: true,
                ..Usage::windows(Window::new(30.0, 1_000), Window::new(60.0, 100_000))
            },
        )
        .unwrap();
    let v: Value = get(&a).await.unwrap().json().await.unwrap();
    assert_eq!(
        v["rate_limit"]["primary_window"]["limit_window_seconds"],
        604_800
    );
    assert_eq!(v["rate_limit"]["primary_window"]["used_percent"], 60.0);

    // The account header is required and must match.
    let r = t
        .http
        .get(t.openai("/backend-api/wham/usage"))
        .bearer_auth(&a.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .http
        .get(t.openai("/backend-api/wham/usage"))
        .bearer_auth(&a.access_token)
        .header("ChatGPT-Account-Id", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn codex_responses_stream_with_codex_headers() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::OpenAi).usage(Usage::windows(
            Window::new(12.0, 600),
            Window::new(40.0, 90_000),
        )));
    let r = t.codex(&a).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-codex-primary-used-percent").as_deref(),
        Some("12")
    );
    assert_eq!(
        header(&r, "x-codex-primary-window-minutes").as_deref(),
        Some("300")
    );
    assert_eq!(
        header(&r, "x-codex-secondary-used-percent").as_deref(),
        Some("40")
    );
    assert_eq!(
        header(&r, "x-codex-secondary-window-minutes").as_deref(),
        Some("10080")
    );
    assert!(header(&r, "x-codex-primary-reset-at").is_some());
    assert!(header(&r, "x-codex-secondary-reset-after-seconds").is_some());
    let events = sse(&r.text().await.unwrap());
    assert_eq!(events[0].0, "response.created");
    let last = events.last().unwrap();
    assert_eq!(last.0, "response.completed");
    let usage = &last.1["response"]["usage"];
    assert!(usage["input_tokens"].as_u64().unwrap() > 0);
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    assert!(
        events
            .iter()
            .any(|(n, _)| n == "response.output_text.delta")
    );
    let seqs: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));

    // Non-streaming is refused like the real backend.
    let r = t
        .http
        .post(t.openai("/backend-api/codex/responses"))
        .bearer_auth(&a.access_token)
        .header("ChatGPT-Account-Id", a.chatgpt_account_id.clone().unwrap())
        .json(&json!({"model": "gpt-5-codex", "stream": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // An exhausted window answers usage_limit_reached.
    t.mock
        .set_usage(
            &a.id,
            Usage::windows(Window::new(100.0, 500), Window::new(40.0, 90_000)),
        )
        .unwrap();
    let r = t.codex(&a).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "usage_limit_reached");
    assert!((v["error"]["resets_in_seconds"].as_i64().unwrap() - 500).abs() <= 2);
}
