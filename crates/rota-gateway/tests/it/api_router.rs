//! The local API through `Router` + `oneshot` (no sockets): every status path, and that a
//! refused request ran no handler.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rota_core::{NewLogin, Ulid};
use rota_gateway::{Gateway, GatewayConfig};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId, SwitchReason};
use serde_json::{Value, json};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:4141";

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<PoolStore>,
    gw: Gateway,
    a: Ulid,
    b: Ulid,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        PoolStore::open(StoreConfig::new(dir.path()).with_secret_store(SecretStoreMode::File))
            .unwrap(),
    );
    let mut ids = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let login = NewLogin {
            identity: AccountIdentity {
                account_id: Some(email.to_owned()),
                email: Some(email.to_owned()),
                organization: None,
                plan: Some("max".to_owned()),
            },
            label: None,
        };
        let up = store
            .upsert_account(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                login,
                SecretBundle::new(format!("tok-{email}")),
                rota_store::now_ms(),
            )
            .unwrap();
        ids.push(up.id);
    }
    let providers =
        Arc::new(Providers::new(ProvidersConfig::with_mock_base("http://127.0.0.1:9")).unwrap());
    let gw = Gateway::new(
        GatewayConfig::new(dir.path()).with_port(4141),
        store.clone(),
        providers,
    )
    .unwrap();
    Env {
        _dir: dir,
        store,
        gw,
        a: ids[0],
        b: ids[1],
    }
}

fn req(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
}

async fn send(gw: &Gateway, r: Request<Body>) -> (StatusCode, Value) {
    let resp = gw.router().oneshot(r).await.unwrap();
    let status = resp.status();
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "no CORS headers ever"
    );
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, v)
}

fn authed(e: &Env, method: &str, uri: &str) -> axum::http::request::Builder {
    req(method, uri).header("authorization", format!("Bearer {}", e.gw.token()))
}

fn json_req(e: &Env, method: &str, uri: &str, body: &Value) -> Request<Body> {
    authed(e, method, uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn healthz_needs_no_token_but_checks_host() {
    let e = env();
    let (s, v) = send(&e.gw, req("GET", "/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ok"], true);
    let (s, v) = send(
        &e.gw,
        Request::builder()
            .uri("/healthz")
            .header("host", "evil.example:4141")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(code(&v), "forbidden");
}

#[tokio::test]
async fn usage_and_snapshot_ok() {
    let e = env();
    let (s, v) = send(
        &e.gw,
        authed(&e, "GET", "/auth/usage")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["anthropic"]["accounts"].as_array().unwrap().len(), 2);
    let (s, v) = send(
        &e.gw,
        authed(&e, "GET", "/auth/snapshot/anthropic")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["activeID"], e.b.to_string());
    assert_eq!(v["orderedIDs"].as_array().unwrap().len(), 2);
    let (s, v) = send(
        &e.gw,
        authed(&e, "GET", "/auth/snapshot/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "not_found");
}

#[tokio::test]
async fn set_active_switches_and_logs_manual_api() {
    let e = env();
    let mut events = e.gw.subscribe();
    let body = json!({"providerID": "anthropic", "recordID": e.a.to_string()});
    let (s, v) = send(&e.gw, json_req(&e, "POST", "/auth/active", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    let state = e.store.load().unwrap();
    assert_eq!(
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(e.a)
    );
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason.as_str(), "manual:api");
    assert!(matches!(
        events.try_recv().unwrap(),
        rota_gateway::GatewayEvent::Switched(_)
    ));
}

#[tokio::test]
async fn remove_and_rename_ok() {
    let e = env();
    let body = json!({"providerID": "anthropic", "recordID": e.a.to_string(), "label": "Work"});
    let (s, v) = send(&e.gw, json_req(&e, "PATCH", "/auth/account", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let state = e.store.load().unwrap();
    assert_eq!(
        state.record(ProviderId::Anthropic, e.a).unwrap().label,
        "Work"
    );
    let body = json!({"providerID": "anthropic", "recordID": e.a.to_string()});
    let (s, v) = send(&e.gw, json_req(&e, "DELETE", "/auth/account", &body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"success": true, "remaining": 1}));
    // The removal is in the history under the name it had, b stays active.
    let state = e.store.load().unwrap();
    let row = state.switch_log.back().unwrap();
    assert_eq!(
        (row.reason, row.names_one_account(), row.to.clone()),
        (SwitchReason::Removed, true, e.a.to_string())
    );
    assert_eq!(
        state.history_label(ProviderId::Anthropic, &row.to),
        "Work (removed)"
    );
    assert_eq!(
        state.active_id(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            rota_store::now_ms()
        ),
        Some(e.b)
    );
    // GET /auth/log shows it as people read it: the account named once, and why.
    let get = |uri: &str| authed(&e, "GET", uri).body(Body::empty()).unwrap();
    let (s, v) = send(&e.gw, get("/auth/log?providerID=anthropic&limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["from"], Value::Null);
    assert_eq!(v[0]["to"], "Work (removed)");
    assert_eq!(v[0]["reason"], "removed");
    assert_eq!(v[0]["reasonText"], "account removed");
    assert_eq!(v.as_array().unwrap().len(), 1);
    // Without a filter: the two logins before it too, newest first.
    let (_, all) = send(&e.gw, get("/auth/log")).await;
    let reasons: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["removed", "login", "login"]);
    // An unknown provider is 404 here as on every route (and over IPC).
    let (s, v) = send(&e.gw, get("/auth/log?providerID=bogus")).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    for bad in ["/auth/log?limit=-1", "/auth/log?color=red"] {
        let (s, v) = send(&e.gw, get(bad)).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_input"),
            "{bad}: {v}"
        );
    }
    // Gone now: 404.
    let (s, v) = send(&e.gw, json_req(&e, "DELETE", "/auth/account", &body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(code(&v), "not_found");
}

#[tokio::test]
async fn bad_input_is_400_or_404() {
    let e = env();
    let cases: Vec<(Body, StatusCode, &str)> = vec![
        (
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            Body::from(json!({"providerID": "anthropic", "recordID": 7}).to_string()),
            StatusCode::BAD_REQUEST,
            "wrong type",
        ),
        (
            Body::from(json!({"providerID": "anthropic", "recordID": ""}).to_string()),
            StatusCode::BAD_REQUEST,
            "empty id",
        ),
        (
            Body::from(json!({"providerID": "anthropic", "recordID": "xyz"}).to_string()),
            StatusCode::BAD_REQUEST,
            "not an id",
        ),
        (
            Body::from(json!({"providerID": "anthropic"}).to_string()),
            StatusCode::BAD_REQUEST,
            "missing field",
        ),
        (
            Body::from(
                json!({"providerID": "nope", "recordID": Ulid::new().to_string()}).to_string(),
            ),
            StatusCode::NOT_FOUND,
            "unknown provider",
        ),
        (
            Body::from(
                json!({"providerID": "anthropic", "recordID": Ulid::new().to_string()}).to_string(),
            ),
            StatusCode::NOT_FOUND,
            "unknown record",
        ),
    ];
    for (body, want, what) in cases {
        let r = authed(&e, "POST", "/auth/active")
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let (s, v) = send(&e.gw, r).await;
        assert_eq!(s, want, "{what}: {v}");
        let expected = if want == StatusCode::NOT_FOUND {
            "not_found"
        } else {
            "invalid_input"
        };
        assert_eq!(code(&v), expected, "{what}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Nothing changed.
    let state = e.store.load().unwrap();
    assert_eq!(
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(e.b)
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let e = env();
    let big = format!(
        "{{\"providerID\":\"anthropic\",\"recordID\":\"{}\",\"label\":\"{}\"}}",
        e.a,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = authed(&e, "PATCH", "/auth/account")
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let (s, v) = send(&e.gw, r).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&v), "invalid_input");
}

/// Refusals by the guard: status, code, and no handler ran.
#[tokio::test]
async fn refusals_run_no_handler() {
    let e = env();
    let active = json!({"providerID": "anthropic", "recordID": e.a.to_string()}).to_string();
    let token = e.gw.token().to_owned();
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            req("GET", "/auth/usage").body(Body::empty()).unwrap(),
            StatusCode::UNAUTHORIZED,
            "no token",
        ),
        (
            req("GET", "/auth/usage")
                .header("authorization", "Bearer wrong")
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "wrong token",
        ),
        (
            req("GET", "/auth/usage")
                .header("x-api-key", &token)
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "x-api-key is for proxy routes only",
        ),
        (
            Request::builder()
                .uri("/auth/usage")
                .header("host", "attacker.example:4141")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "forged host",
        ),
        (
            Request::builder()
                .uri("/auth/usage")
                .header("host", "127.0.0.1:9999")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "wrong port in host",
        ),
        (
            authed(&e, "GET", "/auth/usage")
                .header("origin", "http://127.0.0.1:4141")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "any origin",
        ),
        (
            authed(&e, "OPTIONS", "/auth/active")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "options",
        ),
        (
            authed(&e, "POST", "/auth/active")
                .header("content-type", "text/plain")
                .body(Body::from(active.clone()))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "wrong content type",
        ),
        (
            authed(&e, "DELETE", "/auth/account")
                .body(Body::from(active.clone()))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing content type",
        ),
        (
            req("POST", "/anthropic/v1/messages")
                .header("x-api-key", "wrong")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "proxy with wrong key",
        ),
    ];
    for (r, want, what) in cases {
        let before = e.gw.admitted_requests();
        let (s, v) = send(&e.gw, r).await;
        assert_eq!(s, want, "{what}: {v}");
        assert!(v["error"]["code"].is_string(), "{what}: {v}");
        assert_eq!(e.gw.admitted_requests(), before, "{what}: a handler ran");
        assert!(
            !v.to_string().contains(&token),
            "{what}: token echoed in the answer"
        );
    }
    // Nothing changed.
    let state = e.store.load().unwrap();
    assert_eq!(
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(e.b)
    );
}

#[tokio::test]
async fn claude_code_head_probe_is_answered_without_token() {
    let e = env();
    for uri in ["/anthropic", "/anthropic/"] {
        let (s, _) = send(&e.gw, req("HEAD", uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let e = env();
    let (s, v) = send(
        &e.gw,
        authed(&e, "GET", "/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "not_found");
}

#[tokio::test]
async fn store_recoveries_are_an_api_field_until_acknowledged() {
    let e = env();
    let get = |e: &Env| {
        authed(e, "GET", "/auth/recoveries")
            .body(Body::empty())
            .unwrap()
    };
    let (s, v) = send(&e.gw, get(&e)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"recoveries": []}));
    // A damaged vault, found by the next reader: restored from its backup and reported.
    std::fs::write(&e.store.paths().vault, "{garbage").unwrap();
    assert_eq!(
        e.store.load_vault().unwrap().len(),
        1,
        "the .bak is one write behind"
    );
    let (s, v) = send(&e.gw, get(&e)).await;
    assert_eq!(s, StatusCode::OK);
    let notices = v["recoveries"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{v}");
    assert_eq!(notices[0]["kind"], "restoredFromBackup");
    assert!(notices[0]["file"].as_str().unwrap().ends_with("vault.json"));
    assert!(
        notices[0]["message"]
            .as_str()
            .unwrap()
            .contains("one change behind"),
        "{v}"
    );
    // Still there on the next call; gone once acknowledged.
    assert_eq!(send(&e.gw, get(&e)).await.1, v);
    let (s, acked) = send(
        &e.gw,
        json_req(&e, "POST", "/auth/recoveries/ack", &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{acked}");
    assert_eq!(acked, v);
    assert_eq!(send(&e.gw, get(&e)).await.1, json!({"recoveries": []}));
    // The token is required like every /auth route.
    let (s, _) = send(
        &e.gw,
        req("GET", "/auth/recoveries").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn redeem_refuses_bad_input_with_the_edge_codes() {
    let e = env();
    let cases = [
        (
            json!({"providerID": "openai", "recordID": ""}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"providerID": "openai", "recordID": "xyz"}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"recordID": e.a.to_string()}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"providerID": "nope"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // Reset credits are OpenAI's only.
        (
            json!({"providerID": "anthropic", "recordID": e.a.to_string()}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        // An Anthropic account id is no OpenAI account; no OpenAI account is active.
        (
            json!({"providerID": "openai", "recordID": e.a.to_string()}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"providerID": "openai"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (body, status, want) in cases {
        let (got, v) = send(&e.gw, json_req(&e, "POST", "/auth/redeem", &body)).await;
        assert_eq!((got, code(&v)), (status, want), "{body} → {v}");
    }
    // Nothing was written.
    assert!(
        e.store
            .load()
            .unwrap()
            .switch_log
            .iter()
            .all(|l| l.reason != rota_types::SwitchReason::ResetCredit)
    );
}
