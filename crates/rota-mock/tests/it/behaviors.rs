//! Each scripted behaviour, over real HTTP.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use std::time::{Duration, Instant};

use crate::common::*;
use futures_util::StreamExt as _;
use rota_mock::{Behavior, LimitWindow, MockConfig, Scope, ScriptStep};
use rota_types::ProviderId;
use serde_json::{Value, json};

async fn one(t: &T, b: Behavior) -> reqwest::Response {
    let a = t.account(ProviderId::Anthropic);
    t.mock.push_behavior(&a.id, b).unwrap();
    let r = t.message(&a.access_token, false).await;
    // The behaviour was one-shot: the next request is normal.
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);
    r
}

#[tokio::test]
async fn rate_limit_with_unified_resets() {
    let t = start().await;
    let r = one(
        &t,
        Behavior::RateLimit {
            reset_in_seconds: 7_200,
            window: LimitWindow::SevenDay,
        },
    )
    .await;
    let now = t.mock.now();
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-status").as_deref(),
        Some("allowed")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-representative-claim").as_deref(),
        Some("seven_day")
    );
    let reset: i64 = header(&r, "anthropic-ratelimit-unified-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!((reset - (now + 7_200)).abs() <= 2);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-reset").unwrap(),
        reset.to_string()
    );
    assert_eq!(header(&r, "retry-after").as_deref(), Some("7200"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn rate_limit_retry_after_only_and_without_reset() {
    let t = start().await;
    let r = one(&t, Behavior::RateLimitRetryAfter { seconds: 3_456 }).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3456"));
    assert!(header(&r, "anthropic-ratelimit-unified-status").is_none());
    assert!(header(&r, "anthropic-ratelimit-unified-reset").is_none());

    let r = one(&t, Behavior::RateLimitNoReset).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").is_none());
    assert!(header(&r, "anthropic-ratelimit-unified-reset").is_none());
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "rate_limit_error"
    );
}

#[tokio::test]
async fn non_quota_429s_carry_their_messages() {
    let t = start().await;
    let r = one(&t, Behavior::RateLimitTransient).await;
    assert_eq!(r.status(), 429);
    let m = r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(m.contains("temporarily limiting requests"), "{m}");

    let r = one(&t, Behavior::ExtraUsageRequired).await;
    assert_eq!(r.status(), 429);
    let m = r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(m, "Extra usage is required for long context requests.");

    let r = one(
        &t,
        Behavior::ModelCap {
            reset_in_seconds: 100,
        },
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-status").as_deref(),
        Some("allowed")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-status").as_deref(),
        Some("allowed")
    );
}

#[tokio::test]
async fn usage_limit_reached_on_openai() {
    let t = start().await;
    let a = t.account(ProviderId::OpenAi);
    t.mock
        .push_behavior(
            &a.id,
            Behavior::UsageLimitReached {
                resets_in_seconds: 1_234,
            },
        )
        .unwrap();
    let r = t.codex(&a).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "x-codex-primary-used-percent").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "usage_limit_reached");
    assert_eq!(v["error"]["resets_in_seconds"], 1_234);
    assert_eq!(v["error"]["plan_type"], "plus");
    assert_eq!(t.codex(&a).await.status(), 200);
}

#[tokio::test]
async fn unauthorized_server_error_overloaded_and_custom_status() {
    let t = start().await;
    let r = one(&t, Behavior::Unauthorized).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    let r = one(&t, Behavior::ServerError).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "api_error"
    );
    let r = one(&t, Behavior::Overloaded).await;
    assert_eq!(r.status(), 529);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "overloaded_error"
    );
    let r = one(
        &t,
        Behavior::Status {
            status: 418,
            body: Some(json!({"teapot": true})),
            headers: [("x-custom".to_owned(), "1".to_owned())].into(),
        },
    )
    .await;
    assert_eq!(r.status(), 418);
    assert_eq!(header(&r, "x-custom").as_deref(), Some("1"));
    assert_eq!(r.json::<Value>().await.unwrap()["teapot"], true);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let t = start().await;
    let started = Instant::now();
    let r = one(&t, Behavior::Latency { ms: 300 }).await;
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn slow_stream_paces_events() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(&a.id, Behavior::SlowStream { delay_ms: 30 })
        .unwrap();
    let started = Instant::now();
    let r = t.message(&a.access_token, true).await;
    let events = sse(&r.text().await.unwrap());
    // n events, n-1 gaps of 30 ms.
    assert!(started.elapsed() >= Duration::from_millis(30 * (events.len() as u64 - 1)));
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn stalled_stream_sends_headers_and_some_bytes_then_nothing() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(
            &a.id,
            Behavior::Stall {
                after_bytes: 40,
                for_ms: None,
            },
        )
        .unwrap();
    let r = t.message(&a.access_token, true).await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut got = Vec::new();
    let res = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
    })
    .await;
    assert!(res.is_err(), "the stream must not finish");
    assert_eq!(got.len(), 40);
    assert!(got.starts_with(b"event: message_start"));
    assert_eq!(
        t.mock.requests().last().unwrap().behavior.as_deref(),
        Some("stall")
    );
}

#[tokio::test]
async fn stall_with_duration_then_cuts() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(
            &a.id,
            Behavior::Stall {
                after_bytes: 10,
                for_ms: Some(200),
            },
        )
        .unwrap();
    let started = Instant::now();
    let r = t.message(&a.access_token, true).await;
    assert!(r.bytes().await.is_err(), "cut after the stall");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn cut_stream_ends_with_an_error_after_n_bytes() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(&a.id, Behavior::Cut { after_bytes: 100 })
        .unwrap();
    let r = t.message(&a.access_token, true).await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut got = 0;
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        if let Ok(c) = chunk {
            got += c.len();
        } else {
            failed = true;
            break;
        }
    }
    assert!(failed, "the body ends with an error, not a clean end");
    assert_eq!(got, 100);
}

#[tokio::test]
async fn sticky_behaviour_repeats_and_queue_goes_first() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock.set_sticky(&a.id, Behavior::ServerError).unwrap();
    t.mock
        .script(&a.id, ScriptStep::once(Behavior::Overloaded).times(2))
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(t.message(&a.access_token, false).await.status().as_u16());
    }
    assert_eq!(statuses, [529, 529, 500, 500]);
    t.mock.clear_script(&a.id).unwrap();
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);
}

#[tokio::test]
async fn scopes_select_endpoints() {
    let t = start().await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .script(
            &a.id,
            ScriptStep::once(Behavior::RateLimitRetryAfter { seconds: 300 }).scope(Scope::Usage),
        )
        .unwrap();
    t.mock
        .script(
            &a.id,
            ScriptStep::once(Behavior::ServerError).scope(Scope::Token),
        )
        .unwrap();
    // The API is unaffected.
    assert_eq!(t.message(&a.access_token, false).await.status(), 200);
    let usage = t
        .http
        .get(t.anthropic("/api/oauth/usage"))
        .bearer_auth(&a.access_token)
        .header("anthropic-beta", BETA)
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 429);
    assert_eq!(header(&usage, "retry-after").as_deref(), Some("300"));
    // A scripted token failure does not consume the refresh token.
    let refresh = || {
        t.http
            .post(t.anthropic("/v1/oauth/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": a.refresh_token, "client_id": ANTHROPIC_CLIENT}))
            .send()
    };
    assert_eq!(refresh().await.unwrap().status(), 500);
    assert_eq!(refresh().await.unwrap().status(), 200);
}

#[tokio::test]
async fn behaviours_follow_the_account_across_refreshes_and_default_delay_applies() {
    let t = start_with(MockConfig {
        stream_chunk_delay_ms: 5,
        ..MockConfig::default()
    })
    .await;
    let a = t.account(ProviderId::Anthropic);
    t.mock
        .push_behavior(&a.access_token, Behavior::ServerError)
        .unwrap();
    let r = t
        .http
        .post(t.anthropic("/v1/oauth/token"))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": a.refresh_token, "client_id": ANTHROPIC_CLIENT}))
        .send()
        .await
        .unwrap();
    let new_access = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.message(&new_access, true).await.status(), 500);
    let r = t.message(&new_access, true).await;
    assert_eq!(
        sse(&r.text().await.unwrap()).last().unwrap().0,
        "message_stop"
    );
}
