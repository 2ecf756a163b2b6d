//! GitHub Copilot: device flow, Copilot token, quota, chat completions.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use crate::common::*;
use rota_mock::{MockConfig, NewAccount, Quota, Usage};
use rota_types::ProviderId;
use serde_json::{Value, json};

const CLIENT: &str = "Ov23li8tweQw6odWQebz";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(t: &T) -> Value {
    let r = t
        .http
        .post(t.github("/login/device/code"))
        .header("Accept", "application/json")
        .json(&json!({"client_id": CLIENT, "scope": "read:user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn poll(t: &T, device_code: &str) -> Value {
    let r = t
        .http
        .post(t.github("/login/oauth/access_token"))
        .header("Accept", "application/json")
        .json(&json!({"client_id": CLIENT, "device_code": device_code, "grant_type": GRANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "GitHub answers device-flow errors with 200"
    );
    r.json().await.unwrap()
}

#[tokio::test]
async fn device_flow_pending_slow_down_then_approved() {
    let t = start_with(MockConfig {
        device_interval_secs: 1,
        ..MockConfig::default()
    })
    .await;
    let d = device_code(&t).await;
    assert_eq!(d["interval"], 1);
    assert_eq!(d["expires_in"], 900);
    assert_eq!(d["verification_uri"], t.github("/login/device").as_str());
    let dc = d["device_code"].as_str().unwrap();
    assert_eq!(poll(&t, dc).await["error"], "authorization_pending");
    // Polled again at once: faster than the interval.
    let v = poll(&t, dc).await;
    assert_eq!(v["error"], "slow_down");
    assert_eq!(v["interval"], 6);
    // The user approves on the verification page.
    let page = t
        .http
        .get(t.github("/login/device"))
        .query(&[("user_code", d["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let v = poll(&t, dc).await;
    let token = v["access_token"].as_str().expect("token after approval");
    assert!(token.starts_with("gho_"));
    assert_eq!(v["token_type"], "bearer");
    assert!(t.mock.account(token).is_ok());
    // A device code is used once.
    assert_eq!(poll(&t, dc).await["error"], "expired_token");
    assert_eq!(poll(&t, "nope").await["error"], "incorrect_device_code");
}

#[tokio::test]
async fn device_flow_expired_and_denied_and_form_replies() {
    let t = start_with(MockConfig {
        device_interval_secs: 0,
        ..MockConfig::default()
    })
    .await;
    let d = device_code(&t).await;
    t.mock.advance_clock(901);
    assert_eq!(
        poll(&t, d["device_code"].as_str().unwrap()).await["error"],
        "expired_token"
    );

    let d = device_code(&t).await;
    t.mock
        .deny_device(d["user_code"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        poll(&t, d["device_code"].as_str().unwrap()).await["error"],
        "access_denied"
    );

    // Without Accept: application/json GitHub answers form-encoded.
    let r = t
        .http
        .post(t.github("/login/device/code"))
        .form(&[("client_id", CLIENT), ("scope", "read:user")])
        .send()
        .await
        .unwrap();
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("device_code=") && text.contains("user_code="),
        "{text}"
    );
}

#[tokio::test]
async fn copilot_token_quota_and_chat() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot).usage(Usage {
            premium_interactions: Quota::limited(300, 120),
            ..Usage::default()
        }));
    let r = t
        .http
        .get(t.github("/copilot_internal/v2/token"))
        .header("Authorization", format!("token {}", a.access_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let copilot = v["token"].as_str().unwrap().to_owned();
    assert!(copilot.starts_with("tid="));
    assert!(v["expires_at"].as_i64().unwrap() > t.mock.now() + 1_000);
    assert!(v["refresh_in"].as_i64().unwrap() > 0);
    assert_eq!(v["endpoints"]["api"], t.github("").as_str());

    let r = t
        .http
        .get(t.github("/copilot_internal/user"))
        .header("Authorization", format!("token {}", a.access_token))
        .send()
        .await
        .unwrap();
    let u: Value = r.json().await.unwrap();
    let p = &u["quota_snapshots"]["premium_interactions"];
    assert_eq!(p["entitlement"], 300);
    assert_eq!(p["remaining"], 120);
    assert_eq!(p["percent_remaining"], 40.0);
    assert_eq!(p["unlimited"], false);
    assert_eq!(u["quota_snapshots"]["chat"]["unlimited"], true);
    assert!(u["quota_snapshots"]["completions"].is_object());
    assert!(u["quota_reset_date"].as_str().unwrap().ends_with("-01"));
    assert_eq!(u["copilot_plan"], "individual_pro");

    let r = t.chat(&copilot, false).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let r = t.chat(&copilot, true).await;
    assert_eq!(r.status(), 200);
    let events = sse(&r.text().await.unwrap());
    assert!(events.last().unwrap().1.is_null(), "ends with [DONE]");
    let chunks = &events[..events.len() - 1];
    assert!(
        chunks
            .iter()
            .all(|(_, c)| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0].1["choices"][0]["delta"]["role"], "assistant");
    let last = &chunks.last().unwrap().1;
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // Bad credentials.
    assert_eq!(t.chat("nope", false).await.status(), 401);
    let r = t
        .http
        .get(t.github("/copilot_internal/user"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An expired Copilot token is refused; the GitHub token can mint a new one.
    t.mock.advance_clock(1_801);
    assert_eq!(t.chat(&copilot, false).await.status(), 401);
}

async fn exchange(t: &T, github_token: &str) -> reqwest::Response {
    t.http
        .get(t.github("/copilot_internal/v2/token"))
        .header("Authorization", format!("token {github_token}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn strict_copilot_needs_ide_headers_on_exchanged_tokens_and_exchanges_only_ide_logins() {
    let t = start().await;
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot));
    let v: Value = exchange(&t, &a.access_token).await.json().await.unwrap();
    let copilot = v["token"].as_str().unwrap().to_owned();
    // An exchanged token without Editor-Version: the Copilot API's plain-text 400.
    let r = t.chat_bare(&copilot).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap().trim(),
        "missing Editor-Version header for IDE auth"
    );
    assert_eq!(t.chat(&copilot, false).await.status(), 200);
    // The GitHub token of an IDE login is not taken directly.
    assert_eq!(t.chat(&a.access_token, false).await.status(), 401);

    // opencode's GitHub app: no exchange (404), the GitHub token works directly without
    // IDE headers.
    let o = t
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot).copilot_direct());
    assert_eq!(exchange(&t, &o.access_token).await.status(), 404);
    let r = t.chat_bare(&o.access_token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-rota-mock-account").as_deref(),
        Some(o.id.as_str())
    );

    // Lenient mode takes anything known.
    let lax = start_with(MockConfig {
        strict: false,
        ..MockConfig::default()
    })
    .await;
    let b = lax
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot));
    assert_eq!(lax.chat_bare(&b.access_token).await.status(), 200);
}

#[tokio::test]
async fn copilot_out_of_quota_answers_402_and_every_answer_carries_quota_snapshots() {
    let t = start_with(MockConfig {
        usage_per_request: 1.0,
        ..MockConfig::default()
    })
    .await;
    let usage = Usage {
        premium_interactions: Quota::limited(300, 2),
        quota_reset_date: Some("2031-03-01".into()),
        ..Usage::default()
    };
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot).usage(usage));
    let v: Value = exchange(&t, &a.access_token).await.json().await.unwrap();
    let copilot = v["token"].as_str().unwrap().to_owned();
    let r = t.chat(&copilot, false).await;
    assert_eq!(r.status(), 200);
    let snap = header(&r, "x-quota-snapshot-premium_interactions").unwrap();
    let q: std::collections::HashMap<String, String> = serde_urlencoded::from_str(&snap).unwrap();
    assert_eq!(q["ent"], "300");
    assert_eq!(q["rem"], format!("{:.1}", 100.0 / 300.0));
    assert_eq!(q["ovPerm"], "false");
    assert_eq!(q["rst"], "2031-03-01T00:00:00Z");
    let chat = header(&r, "x-quota-snapshot-chat").unwrap();
    assert!(chat.starts_with("ent=-1&"), "unlimited: {chat}");
    assert!(header(&r, "x-quota-snapshot-ai_credits").is_none());
    assert_eq!(t.chat(&copilot, false).await.status(), 200);
    // Used up: 402 with Copilot's body and no rate-limit headers.
    let r = t.chat(&copilot, false).await;
    assert_eq!(r.status(), 402);
    assert!(header(&r, "retry-after").is_none());
    let body: Value = r.json().await.unwrap();
    // Copilot's published 402 body, verbatim.
    assert_eq!(
        body,
        json!({"error": {"message": "You have no quota", "code": "quota_exceeded"}})
    );
}

#[tokio::test]
async fn copilot_credits_are_reported_and_spent_when_the_account_has_them() {
    let t = start_with(MockConfig {
        usage_per_request: 1.0,
        ..MockConfig::default()
    })
    .await;
    let usage = Usage {
        credits: Some(Quota::limited(1_500, 1_500)),
        ..Usage::default()
    };
    let a = t
        .mock
        .add_account(NewAccount::new(ProviderId::GithubCopilot).usage(usage));
    let v: Value = exchange(&t, &a.access_token).await.json().await.unwrap();
    let r = t.chat(v["token"].as_str().unwrap(), false).await;
    assert_eq!(r.status(), 200);
    let snap = header(&r, "x-quota-snapshot-ai_credits").unwrap();
    assert!(snap.starts_with("ent=1500&"), "{snap}");
    let u: Value = t
        .http
        .get(t.github("/copilot_internal/user"))
        .header("Authorization", format!("token {}", a.access_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["quota_snapshots"]["ai_credits"]["remaining"], 1_499);
    assert_eq!(u["quota_snapshots"]["ai_credits"]["quota_id"], "ai_credits");
    assert_eq!(
        u["quota_snapshots"]["premium_interactions"]["remaining"], 300,
        "credits are spent instead"
    );
}
