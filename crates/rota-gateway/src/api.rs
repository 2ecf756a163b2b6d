//! `/auth/*` and `/healthz` (docs/interfaces.md §1). Handlers are thin: parse → one store call
//! off the async threads → the rota-types response. Every switch made here is logged
//! `manual:api`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use rota_core::{PoolState, parse_id};
use rota_types::api::namespace_or_default;
use rota_types::{
    HealthzResponse, ProviderId, RecoveriesResponse, RecoveryNotice, RedeemRequest, RedeemResponse,
    RemoveAccountRequest, RemoveAccountResponse, RenameRequest, SetActiveRequest,
    SetActiveResponse, SuccessResponse, SwitchReason, UsageResponse,
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

fn record_id(raw: &str) -> Result<rota_core::Ulid, HttpError> {
    if raw.trim().is_empty() {
        return Err(HttpError::bad_request("recordID must not be empty"));
    }
    Ok(parse_id(raw)?)
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
    let state: PoolState = blocking(move || Ok(store.load()?)).await?;
    Ok(Json(state.usage_response(&ns, rota_store::now_ms())))
}

pub(crate) async fn snapshot(
    State(gw): State<Gateway>,
    Path(provider): Path<String>,
) -> Result<Json<rota_types::PoolSnapshot>, HttpError> {
    let provider = ProviderId::from_wire(&provider).map_err(rota_types::ApiError::from)?;
    let store = gw.shared.store.clone();
    let ns = gw.shared.config.namespace.clone();
    let state: PoolState = blocking(move || Ok(store.load()?)).await?;
    Ok(Json(state.snapshot(provider, &ns, rota_store::now_ms())))
}

pub(crate) async fn set_active(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<SetActiveRequest>,
) -> Result<Json<SetActiveResponse>, HttpError> {
    let id = record_id(&req.record_id)?;
    let ns = namespace_or_default(req.namespace.as_deref()).to_owned();
    let provider = req.provider_id;
    let store = gw.shared.store.clone();
    let (switched, usage) = blocking(move || {
        let now = rota_store::now_ms();
        let switched = store.set_active(provider, &ns, id, SwitchReason::ManualApi, now)?;
        // The cached snapshot (no network call): the API answers at once.
        let usage = if provider == ProviderId::Anthropic {
            store
                .load()?
                .record(provider, id)
                .and_then(rota_core::Record::anthropic_usage)
        } else {
            None
        };
        Ok((switched, usage))
    })
    .await?;
    if let Some(entry) = switched {
        gw.emit(GatewayEvent::Switched(entry));
    }
    Ok(Json(SetActiveResponse {
        success: true,
        anthropic_usage: usage,
    }))
}

pub(crate) async fn remove_account(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<RemoveAccountRequest>,
) -> Result<Json<RemoveAccountResponse>, HttpError> {
    let id = record_id(&req.record_id)?;
    let provider = req.provider_id;
    let ns = namespace_or_default(req.namespace.as_deref()).to_owned();
    let store = gw.shared.store.clone();
    let removed =
        blocking(move || Ok(store.remove_record(provider, &ns, id, rota_store::now_ms())?)).await?;
    if let Some(entry) = removed.switched {
        gw.emit(GatewayEvent::Switched(entry));
    }
    Ok(Json(RemoveAccountResponse {
        success: true,
        remaining: u32::try_from(removed.remaining).unwrap_or(u32::MAX),
    }))
}

pub(crate) async fn rename_account(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<Json<SuccessResponse>, HttpError> {
    let id = record_id(&req.record_id)?;
    let provider = req.provider_id;
    let ns = namespace_or_default(req.namespace.as_deref()).to_owned();
    let store = gw.shared.store.clone();
    blocking(move || {
        if let Some(label) = req.label {
            return Ok(store.rename(provider, &ns, id, &label, rota_store::now_ms())?);
        }
        // Nothing to change, but the account must exist (the label is the only editable field
        // so far).
        let state = store.load()?;
        if state.record(provider, id).is_none_or(|r| r.namespace != ns) {
            return Err(HttpError::not_found(format!("no {provider} account {id}")));
        }
        Ok(())
    })
    .await?;
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
    let provider = match query.provider_id.as_deref() {
        None => None,
        Some(p) => Some(ProviderId::from_wire(p).map_err(rota_types::ApiError::from)?),
    };
    let limit = query.limit.map_or(usize::MAX, |n| n as usize);
    let store = gw.shared.store.clone();
    let state: PoolState = blocking(move || Ok(store.load()?)).await?;
    Ok(Json(state.history(provider, limit)))
}

/// `POST /auth/redeem`: one OpenAI reset credit on an account (the active one without
/// `recordID`) — the operation `rota auth redeem` and the app run, with the same codes.
pub(crate) async fn redeem(
    State(gw): State<Gateway>,
    ApiJson(req): ApiJson<RedeemRequest>,
) -> Result<Json<RedeemResponse>, HttpError> {
    let id = req.record_id.as_deref().map(record_id).transpose()?;
    let ns = namespace_or_default(req.namespace.as_deref()).to_owned();
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
