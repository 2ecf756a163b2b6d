//! The control API over HTTP (as another process uses it) and the request log.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use crate::common::*;
use rota_mock::{AccountInfo, LoggedRequest, MockUrls};
use rota_types::ProviderId;
use serde_json::{Value, json};

#[tokio::test]
async fn accounts_usage_scripts_over_http() {
    let t = start().await;
    let urls: MockUrls = t
        .http
        .get(t.url("/_mock/urls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(urls.anthropic, format!("{}/anthropic", t.mock.base_url()));
    assert_eq!(urls.github, format!("{}/github", t.mock.base_url()));

    let r = t
        .http
        .post(t.url("/_mock/accounts"))
        .json(
            &json!({"provider": "anthropic", "email": "x@example.com", "label": "Work",
                      "usage": {"five_hour": {"utilization": 55.0, "resets_in_seconds": 900}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let a: AccountInfo = r.json().await.unwrap();
    assert_eq!(a.provider, ProviderId::Anthropic);
    assert_eq!(a.email, "x@example.com");
    assert!(a.access_token.starts_with("sk-ant-oat01-"));
    let reset = a.usage.five_hour.unwrap().resets_at.unwrap();
    assert!((reset - (t.mock.now() + 900)).abs() <= 2);
    let r = t.message(&a.access_token, false).await;
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-utilization").as_deref(),
        Some("0.55")
    );

    // Usage replaced over HTTP.
    let r = t
        .http
        .put(t.url(&format!("/_mock/accounts/{}/usage", a.id)))
        .json(&json!({"five_hour": {"utilization": 100.0, "resets_in_seconds": 60}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.message(&a.access_token, false).await.status(), 429);
    t.http
        .put(t.url(&format!("/_mock/accounts/{}/usage", a.id)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    // Scripts over HTTP, addressed by access token.
    let r = t
        .http
        .post(t.url(&format!("/_mock/accounts/{}/script", a.access_token)))
        .json(&json!({"behavior": {"kind": "rate_limit_retry_after", "seconds": 42}, "times": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(t.message(&a.access_token, false).await.status(), 429);
    assert_eq!(t.message(&a.access_token, false).await.status(), 429);
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);
    t.http
        .post(t.url(&format!("/_mock/accounts/{}/script", a.id)))
        .json(&json!({"behavior": {"kind": "overloaded"}, "sticky": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(t.message(&a.access_token, false).await.status(), 529);
    let r = t
        .http
        .delete(t.url(&format!("/_mock/accounts/{}/script", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);

    // Expire over HTTP.
    let r = t
        .http
        .post(t.url(&format!("/_mock/accounts/{}/expire", a.id)))
        .json(&json!({"what": "access"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.message(&a.access_token, false).await.status(), 401);

    // Unknown account and bad bodies.
    let r = t
        .http
        .get(t.url("/_mock/accounts/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unknown_account"
    );
    let r = t
        .http
        .post(t.url("/_mock/accounts/anthropic-1/script"))
        .json(&json!({"behavior": {"kind": "no_such_kind"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());

    let list: Vec<AccountInfo> = t
        .http
        .get(t.url("/_mock/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn login_plans_devices_clock_demo_and_reset_over_http() {
    let t = start().await;
    // The next device login of OpenAI is denied.
    let r = t
        .http
        .post(t.url("/_mock/login/openai"))
        .json(&json!({"deny": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
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
    let uc = v["user_code"].as_str().unwrap();
    let devices: Vec<Value> = t
        .http
        .get(t.url("/_mock/devices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(devices[0]["state"], "pending");
    let r = t
        .http
        .post(t.url(&format!("/_mock/devices/{uc}/approve")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "denied");
    let r = t
        .http
        .post(t.url(&format!("/_mock/devices/{uc}/approve")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    let before = t.mock.now();
    let v: Value = t
        .http
        .post(t.url("/_mock/clock"))
        .json(&json!({"advance_seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["now"].as_i64().unwrap() >= before + 3600);

    let demo: Vec<AccountInfo> = t
        .http
        .post(t.url("/_mock/demo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(demo.len(), 9);
    for p in ProviderId::ALL {
        assert_eq!(demo.iter().filter(|a| a.provider == p).count(), 3);
    }
    let cooling = demo.iter().find(|a| {
        a.provider == ProviderId::Anthropic && a.usage.five_hour.unwrap().utilization >= 100.0
    });
    assert!(cooling.is_some(), "one account is cooling down");

    let r = t.http.post(t.url("/_mock/reset")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(t.mock.accounts().is_empty());
    assert!(t.mock.now() < before + 3600);
}

#[tokio::test]
async fn request_log_records_credentials_headers_and_outcomes() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(&a.id, rota_mock::Behavior::ServerError)
        .unwrap();
    t.message(&a.access_token, false).await;
    t.message(&a.access_token, false).await;
    let r = t
        .http
        .post(t.anthropic("/v1/messages"))
        .header("x-api-key", "local-key")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Control calls are not logged.
    t.http.get(t.url("/_mock/accounts")).send().await.unwrap();

    let log: Vec<LoggedRequest> = t
        .http
        .get(t.url("/_mock/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 3);
    let first = &log[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/anthropic/v1/messages");
    assert_eq!(first.query.as_deref(), Some("beta=true"));
    assert_eq!(first.provider, Some(ProviderId::Anthropic));
    let cred = first.credential.as_ref().unwrap();
    assert_eq!(cred.scheme, "bearer");
    assert_eq!(cred.value, a.access_token);
    assert_eq!(first.account.as_deref(), Some(a.id.as_str()));
    assert_eq!(first.status, 500);
    assert_eq!(first.behavior.as_deref(), Some("server_error"));
    assert!(first.headers["anthropic-beta"].contains(BETA));
    assert_eq!(first.headers["anthropic-version"], "2023-06-01");
    assert!(first.body_len > 0);
    assert!(first.body.as_ref().unwrap().contains("claude-sonnet-4-5"));
    assert!(first.time_ms > 0);
    assert_eq!(log[1].status, 200);
    assert!(log[1].seq > first.seq);
    let third = &log[2];
    assert_eq!(third.credential.as_ref().unwrap().scheme, "x-api-key");
    assert_eq!(third.credential.as_ref().unwrap().value, "local-key");
    assert_eq!(third.account, None);
    assert_eq!(third.status, 401);

    // In-process view is the same; clearing works over HTTP.
    assert_eq!(t.mock.requests().len(), 3);
    let r = t.http.delete(t.url("/_mock/log")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(t.mock.requests().is_empty());
}

#[tokio::test]
async fn log_capacity_drops_the_oldest() {
    let t = start_with(rota_mock::MockConfig {
        log_capacity: 2,
        ..Default::default()
    })
    .await;
    let a = t.account(ProviderId::Anthropic);
    for _ in 0..3 {
        t.message(&a.access_token, false).await;
    }
    let log = t.mock.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].seq, 2);
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let t = start().await;
    let r = t.http.get(t.anthropic("/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found_error"
    );
}
