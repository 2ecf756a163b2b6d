//! GitHub Copilot: device flow, Copilot token, quota, chat completions.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

mod common;

use common::*;
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

    let r = t.chat(&a.access_token, true).await;
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
