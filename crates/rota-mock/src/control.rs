//! The control API under `/_mock` (JSON): the HTTP face of [`crate::MockHandle`].

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rota_types::ProviderId;
use serde::Deserialize;
use serde_json::json;

use crate::model::{DeviceState, ExpireWhat, LoginPlan, NewAccount, ScriptStep, Usage};
use crate::state::{MockError, Shared};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/urls", get(urls))
        .route("/accounts", get(list_accounts).post(add_account))
        .route("/accounts/{key}", get(get_account))
        .route("/accounts/{key}/usage", put(set_usage))
        .route("/accounts/{key}/script", post(script).delete(clear_script))
        .route("/accounts/{key}/expire", post(expire))
        .route("/login/{provider}", post(next_login))
        .route("/devices", get(devices))
        .route("/devices/{code}/{action}", post(device_action))
        .route("/log", get(log).delete(clear_log))
        .route("/reset", post(reset))
        .route("/clock", post(clock))
        .route("/demo", post(demo))
}

impl IntoResponse for MockError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            MockError::UnknownAccount(_) => (StatusCode::NOT_FOUND, "unknown_account"),
            MockError::UnknownDeviceCode(_) => (StatusCode::NOT_FOUND, "unknown_device_code"),
            MockError::DeviceNotPending(_) => (StatusCode::CONFLICT, "device_not_pending"),
            MockError::WrongProvider { .. } => (StatusCode::BAD_REQUEST, "wrong_provider"),
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

fn bad(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "bad_request", "message": message}})),
    )
        .into_response()
}

async fn urls(State(s): State<Arc<Shared>>) -> Response {
    Json(s.urls.clone()).into_response()
}

async fn list_accounts(State(s): State<Arc<Shared>>) -> Response {
    Json(s.accounts()).into_response()
}

async fn add_account(State(s): State<Arc<Shared>>, Json(new): Json<NewAccount>) -> Response {
    (StatusCode::CREATED, Json(s.add_account(new))).into_response()
}

async fn get_account(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    s.account(&key).map(Json).into_response()
}

async fn set_usage(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(u): Json<Usage>,
) -> Response {
    s.set_usage(&key, u).map(Json).into_response()
}

async fn script(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(step): Json<ScriptStep>,
) -> Response {
    s.script(&key, step)
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

async fn clear_script(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    s.clear_script(&key)
        .map(|()| StatusCode::NO_CONTENT)
        .into_response()
}

#[derive(Deserialize, Default)]
struct ExpireBody {
    #[serde(default)]
    what: ExpireWhat,
}

async fn expire(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    body: Option<Json<ExpireBody>>,
) -> Response {
    let what = body.map(|b| b.0.what).unwrap_or_default();
    s.expire(&key, what).map(Json).into_response()
}

async fn next_login(
    State(s): State<Arc<Shared>>,
    Path(provider): Path<String>,
    Json(plan): Json<LoginPlan>,
) -> Response {
    let Some(p) = ProviderId::parse(&provider) else {
        return bad("unknown provider (anthropic, openai, github-copilot)");
    };
    s.push_login(p, plan);
    StatusCode::NO_CONTENT.into_response()
}

async fn devices(State(s): State<Arc<Shared>>) -> Response {
    Json(s.devices()).into_response()
}

#[derive(Deserialize, Default)]
struct DeviceBody {
    #[serde(default)]
    account: Option<String>,
}

async fn device_action(
    State(s): State<Arc<Shared>>,
    Path((code, action)): Path<(String, String)>,
    body: Option<Json<DeviceBody>>,
) -> Response {
    let state = match action.as_str() {
        "approve" => DeviceState::Approved,
        "deny" => DeviceState::Denied,
        "expire" => DeviceState::Expired,
        _ => return bad("action must be approve, deny or expire"),
    };
    let account = body.and_then(|b| b.0.account);
    s.device_action(&code, state, account.as_deref())
        .map(Json)
        .into_response()
}

async fn log(State(s): State<Arc<Shared>>) -> Response {
    Json(s.log()).into_response()
}

async fn clear_log(State(s): State<Arc<Shared>>) -> Response {
    s.clear_log();
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(s): State<Arc<Shared>>) -> Response {
    s.reset();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct ClockBody {
    advance_seconds: i64,
}

async fn clock(State(s): State<Arc<Shared>>, Json(b): Json<ClockBody>) -> Response {
    s.advance_clock(b.advance_seconds);
    Json(json!({"now": s.now()})).into_response()
}

async fn demo(State(s): State<Arc<Shared>>) -> Response {
    Json(crate::seed_demo(&s)).into_response()
}
