//! OpenAI rate-limit reset credits under `/openai/backend-api/wham/`: the list
//! (`GET rate-limit-reset-credits`) and the single-use redeem (`POST …/consume`
//! `{credit_id, redeem_request_id}` → `{code}`), idempotent per `redeem_request_id`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use rota_types::ProviderId;
use serde_json::{Value, json};

use crate::model::Scope;
use crate::respond::{self, tag};
use crate::state::{Admitted, Shared};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/backend-api/wham/rate-limit-reset-credits", get(list))
        .route(
            "/backend-api/wham/rate-limit-reset-credits/consume",
            post(consume),
        )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    respond::json(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
    )
}

#[allow(clippy::result_large_err)] // the error is the finished response
fn admit(s: &Shared, headers: &HeaderMap) -> Result<Admitted, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    s.admit(ProviderId::OpenAi, token, Scope::Usage)
        .map_err(|_| {
            error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Could not validate your token.",
            )
        })
}

async fn list(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let a = match admit(&s, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = s.now();
    let credits: Vec<Value> = a
        .usage
        .reset_credits
        .iter()
        .map(|c| {
            let status = if c.redeemed_by.is_some() {
                "redeemed"
            } else if c.expires_at <= now {
                "expired"
            } else {
                "available"
            };
            json!({
                "id": c.id,
                "reset_type": "rate_limit_reset",
                "status": status,
                "granted_at": crate::util::iso(c.granted_at),
                "expires_at": crate::util::iso(c.expires_at),
            })
        })
        .collect();
    let available = credits
        .iter()
        .filter(|c| c["status"] == "available")
        .count();
    tag(
        respond::json(
            StatusCode::OK,
            &json!({"credits": credits, "available_count": available}),
        ),
        Some(&a.account),
        None,
    )
}

async fn consume(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let a = match admit(&s, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty());
    let (Some(credit_id), Some(request_id)) = (field("credit_id"), field("redeem_request_id"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "credit_id and redeem_request_id are required",
        );
    };
    let code = match s.consume_reset_credit(&a.account, credit_id, request_id) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::NOT_FOUND, "not_found", &e.to_string()),
    };
    tag(
        respond::json(
            StatusCode::OK,
            &json!({"code": code, "windows_reset": code == "reset"}),
        ),
        Some(&a.account),
        None,
    )
}
