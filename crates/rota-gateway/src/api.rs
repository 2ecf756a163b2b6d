//! `/auth/*` and `/healthz` (docs/interfaces.md §1). Handlers are thin: the request → its
//! rota-ops operation off the async threads → the rota-types response. Every switch made here is logged
//! `manual:api`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use rota_types::command::PoolRequest;
use rota_types::{
    AccountRequest, HealthzResponse, ProviderId, RecoveriesResponse, RecoveryNotice, RedeemRequest,
    RedeemResponse, RemoveAccountResponse, RenameRequest, SetActiveResponse, SuccessResponse,
    SwitchReason, UsageResponse,
};
use serde::de::DeserializeOwned;

use crate::error::HttpError;
use crate::{Gateway, GatewayEvent};

/// A JSON body whose every rejection is our `{error:{code,message}}`: 413 over the limit, 400
/// for malformed JSON or wrong types, 404 for a well-formed but unknown `providerID`.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    HttpError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        rota_types::ErrorCode::InvalidInput,
                        "request body is over the 1 MiB limit",
                    )
                } else {
                    HttpError::bad_request("could not read the request body")
                }
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| HttpError::bad_request(format!("malformed JSON: {e}")))?;
        if let Some(p) = value.get("providerID").and_then(serde_json::Value::as_str) {
            ProviderId::from_wire(p).map_err(rota_types::ApiError::from)?;
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| HttpError::bad_request(format!("invalid request: {e}")))
    }
}

/// Runs store IO (file lock, fsync) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| HttpError::internal("store task failed"))?
}

pub(crate) async fn healthz() -> Json<HealthzResponse> {
    Json(HealthzResponse {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

pub(crate) async fn usage(State(gw): State<Gateway>) -> Result<Json<UsageResponse>, HttpError> {
    let store = gw.shared.store.clone();
    let ns = gw.shared.config.namespace.clone();
    blocking(move || Ok(rota_ops::usage(&store, &ns)?))
        .await
        .map(Json)
}

pub(crate) async fn snapshot(
    State(gw): State<Gateway>,
    Path(provider): Path<String>,
) -> Result<Json<rota_types::PoolSnapshot>, HttpError> {
    let store = gw.shared.store.clone();
    let request = PoolRequest {
        provider_id: provider,
        namespace: Some(gw.shared.config.namespace.clone()),
    };
    blocking(move || Ok(rota_ops::snapshot(&store, &request)?))
        .await
        .map(Json)
}

pub(crate) async fn set_active(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<AccountRequest>,
) -> Result<Json<SetActiveResponse>, HttpError> {
    let target = rota_ops::Target::from_request(&req)?;
    let store = gw.shared.store.clone();
    let switched = blocking(move || {
        Ok(rota_ops::set_active(
            &store,
            &target,
            SwitchReason::ManualApi,
        )?)
    })
    .await?;
    if let Some(entry) = switched.switch.entry {
        gw.emit(GatewayEvent::Switched(entry));
    }
    Ok(Json(switched.response))
}

pub(crate) async fn remove_account(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<AccountRequest>,
) -> Result<Json<RemoveAccountResponse>, HttpError> {
    let target = rota_ops::Target::from_request(&req)?;
    let store = gw.shared.store.clone();
    let removed = blocking(move || Ok(rota_ops::remove(&store, &target)?)).await?;
    if let Some(entry) = removed.removed.switched {
        gw.emit(GatewayEvent::Switched(entry));
    }
    Ok(Json(removed.response))
}

pub(crate) async fn rename_account(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<Json<SuccessResponse>, HttpError> {
    let target = rota_ops::Target::from_rename(&req)?;
    let store = gw.shared.store.clone();
    blocking(move || Ok(rota_ops::rename(&store, &target, req.label.as_deref())?)).await?;
    Ok(Json(SuccessResponse::OK))
}

/// `GET /auth/log?providerID=openai&limit=20`: the switch history, newest first, as the app
/// shows it (labels, removals, why). Both parameters are optional.
pub(crate) async fn log(
    State(gw): State<Gateway>,
    query: Result<
        axum::extract::Query<rota_types::command::SwitchLogRequest>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<Vec<rota_types::command::SwitchLogItem>>, HttpError> {
    let axum::extract::Query(query) = query.map_err(|e| HttpError::bad_request(e.body_text()))?;
    let store = gw.shared.store.clone();
    blocking(move || Ok(rota_ops::switch_log(&store, &query)?))
        .await
        .map(Json)
}

/// `POST /auth/redeem`: one OpenAI reset credit on an account (the active one without
/// `recordID`) — the operation `rota auth redeem` and the app run, with the same codes.
pub(crate) async fn redeem(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<RedeemRequest>,
) -> Result<Json<RedeemResponse>, HttpError> {
    let id = req
        .record_id
        .as_deref()
        .map(rota_ops::parse_record)
        .transpose()?;
    let ns = rota_ops::parse_namespace(req.namespace.as_deref())?;
    rota_providers::reset_credits::redeem_account(&gw.shared.tokens, req.provider_id, &ns, id)
        .await
        .map(Json)
        .map_err(|e| rota_types::ApiError::new(e.code(), e.to_string()).into())
}

/// `GET /auth/recoveries`: what the store repaired and the user has not acknowledged.
pub(crate) async fn recoveries(
    State(gw): State<Gateway>,
) -> Result<Json<RecoveriesResponse>, HttpError> {
    let store = gw.shared.store.clone();
    let notices = blocking(move || Ok(store.pending_recoveries())).await?;
    Ok(Json(RecoveriesResponse {
        recoveries: notices.iter().map(RecoveryNotice::from).collect(),
    }))
}

/// `POST /auth/recoveries/ack`: the user has seen them; returns the acknowledged ones.
pub(crate) async fn acknowledge_recoveries(
    State(gw): State<Gateway>,
) -> Result<Json<RecoveriesResponse>, HttpError> {
    let store = gw.shared.store.clone();
    let notices = blocking(move || Ok(store.acknowledge_recoveries()?)).await?;
    Ok(Json(RecoveriesResponse {
        recoveries: notices.iter().map(RecoveryNotice::from).collect(),
    }))
}

pub(crate) async fn not_found() -> HttpError {
    HttpError::not_found("no such route")
}
