//! The rotating proxy (reliability.md §4): one client request → one or more upstream attempts
//! on the pool's accounts → one response streamed back unbuffered.
//!
//! Replays happen only before the response is committed: an attempt's status and headers are
//! read first, and for error statuses a small body prefix (for classification); nothing has
//! gone to the client yet. Once a success (or a pass-through error) is chosen the response
//! head is sent and the body chunks are forwarded as they arrive; a later upstream failure
//! just ends the stream. When the client goes away axum drops the body stream, which drops
//! the upstream response and closes its connection (cancellation without a task of our own).
//!
//! Session affinity: candidates come from rota-core with the active account first, so every
//! request of every session goes to the active account while it is usable; the prompt cache
//! of a session is lost only when the pool itself rotates. (Pinning sessions to different
//! accounts would spread cache misses and make "the active account" meaningless to the user.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use rota_core::{Action, NoCandidate, Outcome, PoolState, Ulid};
use rota_providers::copilot::Copilot;
use rota_providers::{AccountAuth, UpstreamAuth, shape_request};
use rota_types::{ProviderId, SessionUpdated, UnixMs};

use crate::sessions::{NewRequest, RequestRef, UsageTap};
use crate::{Gateway, GatewayEvent, Shared};

/// Bytes of an error body read to classify it (429 texts, error codes).
const ERROR_PREFIX_BYTES: usize = 64 * 1024;

/// Response headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// An error the gateway itself answers on a proxy route, in a shape every SDK reads
/// (`error.message`; Anthropic's `type: error` envelope; our `error.code`).
fn proxy_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "type": "error",
        "error": { "type": kind, "code": code, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

fn no_candidate(nc: &NoCandidate, now: UnixMs, offset_minutes: i32) -> Response {
    let message = nc.message(offset_minutes);
    let mut resp = match nc {
        NoCandidate::AllCoolingDown { .. } => {
            let mut r = proxy_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "all_accounts_rate_limited",
                &message,
            );
            let secs = nc.retry_after_ms(now).unwrap_or(0).saturating_add(999) / 1000;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            r
        }
        NoCandidate::NoAccounts { .. } => proxy_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "no_accounts",
            &format!("{message}; log in with `rota` or the Rota app first"),
        ),
        NoCandidate::Exhausted { .. } => proxy_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            "all_accounts_failed",
            &message,
        ),
    };
    let should_retry = nc.should_retry(now);
    resp.headers_mut().insert(
        "x-should-retry",
        HeaderValue::from_static(if should_retry { "true" } else { "false" }),
    );
    resp
}

async fn load_state(shared: &Shared) -> Option<PoolState> {
    let store = shared.store.clone();
    match tokio::task::spawn_blocking(move || store.load()).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the pool");
            None
        }
        Err(_) => None,
    }
}

/// Applies an outcome: batched when it only changes counters, written at once otherwise
/// (cooldowns, rotations). Returns what to do with the request.
async fn record(
    gw: &Gateway,
    state: &PoolState,
    provider: ProviderId,
    id: Ulid,
    outcome: &Outcome,
    now: UnixMs,
) -> Action {
    let shared = &gw.shared;
    let record = state.record(provider, id);
    let counter_only = record.is_some_and(|r| outcome.is_counter_only(r));
    if counter_only {
        let key = id.to_string();
        match outcome {
            Outcome::Success { status } => shared.counters.record_success(&key, Some(*status)),
            Outcome::Overloaded { status } | Outcome::OtherError { status } => {
                shared.counters.record_failure(&key, Some(*status));
            }
            Outcome::FeatureGated => shared.counters.record_failure(&key, Some(429)),
            _ => shared.counters.record_failure(&key, None),
        }
        // The action is a pure function of the outcome; compute it on a scratch copy.
        let mut scratch = state.clone();
        return scratch
            .record_outcome(provider, id, outcome, &shared.config.cooldown, now)
            .map_or(Action::TryNext, |e| e.action);
    }
    let store = shared.store.clone();
    let policy = shared.config.cooldown;
    let o = outcome.clone();
    let result = tokio::task::spawn_blocking(move || {
        store.mutate(|txn| {
            txn.state
                .record_outcome(provider, id, &o, &policy, now)
                .map_err(rota_store::StoreError::from)
        })
    })
    .await;
    if let Ok(Ok(effect)) = result {
        if let Some(entry) = effect.switched {
            tracing::info!(provider = %provider, from = ?entry.from, to = %entry.to, reason = %entry.reason, "switched account");
            gw.emit(GatewayEvent::Switched(entry));
        }
        effect.action
    } else {
        tracing::error!(provider = %provider, account = %id, "cannot record an upstream outcome");
        match outcome {
            Outcome::Success { .. } => Action::Done,
            Outcome::RateLimited(_) | Outcome::AuthFailed => Action::TryNext,
            _ => Action::ReturnToClient,
        }
    }
}

/// Queues a usage snapshot from rate-limit headers (written by the periodic flush).
fn note_usage(
    shared: &Shared,
    state: &PoolState,
    provider: ProviderId,
    id: Ulid,
    headers: &HeaderMap,
    now: UnixMs,
) {
    let adapter = shared.providers.adapter(provider);
    let mut pending = shared
        .usage_pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let prev = pending
        .get(&(provider, id))
        .cloned()
        .or_else(|| state.record(provider, id).and_then(|r| r.usage.clone()));
    if let Some(snapshot) = adapter.usage_from_headers(headers, now, prev.as_ref()) {
        pending.insert((provider, id), snapshot);
    }
}

/// Writes the coalesced usage snapshots (one mutation for all of them).
pub(crate) fn flush_usage(shared: &Shared) {
    let batch = std::mem::take(
        &mut *shared
            .usage_pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    if batch.is_empty() {
        return;
    }
    let result = shared.store.mutate(|txn| {
        for ((provider, id), snapshot) in batch {
            // A removed account is fine to skip.
            let _ = txn.state.record_usage(provider, id, snapshot);
        }
        Ok::<_, rota_store::StoreError>(())
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot write usage snapshots");
    }
}

/// The upstream credential of an account: its access token, or for Copilot the exchanged
/// Copilot token and API base.
async fn upstream_credential(
    shared: &Shared,
    provider: ProviderId,
    auth: &AccountAuth,
    now: UnixMs,
) -> Result<(rota_core::Secret, Option<String>), ()> {
    if provider == ProviderId::GithubCopilot {
        let t = Copilot::api_token(&shared.providers, auth, now)
            .await
            .map_err(|_| ())?;
        return Ok((t.token, t.api_base));
    }
    Ok((auth.secrets.access_token.clone(), None))
}

/// Reads up to `max` bytes of the body (for classification); the rest stays in the stream.
async fn read_prefix(resp: reqwest::Response, max: usize) -> (Bytes, BodyStream) {
    let mut stream: BodyStream = Box::pin(resp.bytes_stream());
    let mut prefix = Vec::new();
    while prefix.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(_)) | None => {
                return (Bytes::from(prefix), Box::pin(futures_util::stream::empty()));
            }
        }
    }
    (Bytes::from(prefix), stream)
}

type BodyStream = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The rest of a request body over the replay bound, streamed to the one attempt.
type OnceBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

/// Buffers the request body up to `limit` bytes (replayable). A longer body comes back as the
/// buffered part plus the unread rest, to be forwarded once without rotation (reliability.md
/// §4).
async fn buffer_body(body: Body, limit: usize) -> Result<(Bytes, Option<OnceBody>), ()> {
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ())?;
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            return Ok((buf.freeze(), Some(Box::pin(stream))));
        }
    }
    Ok((buf.freeze(), None))
}

/// What happens when the streamed body ends.
struct StreamEnd {
    gw: Gateway,
    rref: RequestRef,
    tap: UsageTap,
    /// The response is an SSE stream (a mid-stream failure becomes an `event: error`).
    sse: bool,
}

/// The last chunk after a mid-stream failure: on SSE an `error` event (the blank lines end a
/// half-sent event first) so SDKs raise a clear error; otherwise an aborted body.
fn sse_error_or_abort(sse: bool, message: &str) -> Result<Bytes, std::io::Error> {
    if !sse {
        return Err(std::io::Error::other(message.to_owned()));
    }
    let data = serde_json::json!({
        "type": "error",
        "error": { "type": "api_error", "message": message },
    });
    Ok(Bytes::from(format!("\n\nevent: error\ndata: {data}\n\n")))
}

impl StreamEnd {
    fn finish(self) {
        if let Some(usage) = self.tap.finish() {
            self.gw
                .shared
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add_usage(&self.rref, &usage);
            self.gw.emit(GatewayEvent::SessionUpdated(SessionUpdated {
                session_id: self.rref.session_id.clone(),
            }));
        }
    }
}

/// The client's response: upstream status and headers (minus hop-by-hop), the prefix already
/// read, then the rest of the upstream body chunk by chunk as it arrives.
fn respond(
    status: u16,
    upstream_headers: &HeaderMap,
    prefix: Bytes,
    remaining: BodyStream,
    idle: Duration,
    mut end: StreamEnd,
) -> Response {
    if !prefix.is_empty() {
        end.tap.feed(&prefix);
    }
    let prefix_stream = futures_util::stream::iter(
        (!prefix.is_empty()).then(|| Ok::<Bytes, std::io::Error>(prefix)),
    );
    let forwarded = futures_util::stream::unfold(Some((remaining, end)), move |st| async move {
        let (mut upstream, mut end) = st?;
        match tokio::time::timeout(idle, upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                end.tap.feed(&chunk);
                Some((Ok(chunk), Some((upstream, end))))
            }
            Ok(None) => {
                end.finish();
                None
            }
            Ok(Some(Err(e))) => {
                // Committed: the stream ends, nothing is replayed.
                tracing::warn!(error = %e, "upstream stream failed after the first byte");
                let sse = end.sse;
                end.finish();
                Some((
                    sse_error_or_abort(sse, "the upstream connection failed mid-stream"),
                    None,
                ))
            }
            Err(_) => {
                tracing::warn!("upstream stream idle for too long; ending it");
                let sse = end.sse;
                end.finish();
                Some((
                    sse_error_or_abort(sse, "the upstream stream went idle"),
                    None,
                ))
            }
        }
    });
    let body = Body::from_stream(prefix_stream.chain(forwarded));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = resp.headers_mut();
    for (name, value) in upstream_headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    resp
}

/// `ANY /{provider}/{*path}`.
// One loop that reads top to bottom like the outcome table of reliability.md §4; splitting it
// would scatter the per-request replay state (tried, refreshed, network retries).
#[allow(clippy::too_many_lines)]
pub(crate) async fn forward(State(gw): State<Gateway>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Some((provider, sub_path)) = crate::security::proxy_route(parts.uri.path()) else {
        return proxy_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "not_found",
            "no such route",
        );
    };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{sub_path}?{q}"),
        None => sub_path.to_owned(),
    };
    let sub_path = sub_path.to_owned();
    let shared = gw.shared.clone();
    let Ok((body, mut once)) = buffer_body(body, shared.config.max_proxy_body_bytes).await else {
        return proxy_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_input",
            "the request body could not be read",
        );
    };

    let rref = shared
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .begin(NewRequest {
            provider,
            explicit_id: crate::sessions::explicit_session_id(&parts.headers, &body),
            client: crate::sessions::client_name(&parts.headers),
            model: crate::sessions::request_model(&body),
            method: parts.method.to_string(),
            path: sub_path,
            at: rota_store::now_ms(),
        });
    gw.emit(GatewayEvent::SessionUpdated(SessionUpdated {
        session_id: rref.session_id.clone(),
    }));

    let ns = shared.config.namespace.clone();
    let mut tried: Vec<Ulid> = Vec::new();
    let mut rotations = 0u32;
    let mut same: Option<(Ulid, Option<AccountAuth>)> = None;
    let mut network_failed: HashSet<Ulid> = HashSet::new();
    let mut refreshed: HashSet<Ulid> = HashSet::new();

    let answered = |record_id: Option<Ulid>, status: u16, rotations: u32, streamed: bool| {
        shared
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .answered(
                &rref,
                record_id.map(|i| i.to_string()),
                status,
                rotations,
                streamed,
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
    };

    loop {
        let now = rota_store::now_ms();
        let Some(state) = load_state(&shared).await else {
            answered(None, 500, rotations, false);
            return proxy_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "internal",
                "the gateway cannot read its account pool",
            );
        };
        let (id, auth) = match same.take() {
            Some((id, auth)) => (id, auth),
            None => match state.pick_next_candidate(provider, &ns, &tried, now) {
                Ok(id) => (id, None),
                Err(nc) => {
                    let resp = no_candidate(&nc, now, shared.config.utc_offset_minutes);
                    answered(None, resp.status().as_u16(), rotations, false);
                    return resp;
                }
            },
        };
        let auth = match auth {
            Some(a) => a,
            None => match shared.tokens.access(provider, id).await {
                Ok(a) => a,
                Err(e) => {
                    // No usable credential (refresh refused or unavailable): the account is
                    // skipped for this request; a refused refresh already set needsReauth.
                    tracing::warn!(provider = %provider, account = %id, error = %e, "no usable credential; trying the next account");
                    tried.push(id);
                    continue;
                }
            },
        };
        let Ok((bearer, api_base)) = upstream_credential(&shared, provider, &auth, now).await
        else {
            tracing::warn!(provider = %provider, account = %id, "no Copilot token; trying the next account");
            tried.push(id);
            continue;
        };
        let account_id = if provider == ProviderId::OpenAi {
            rota_providers::openai::account_id(&auth)
        } else {
            None
        };
        let upstream = match shape_request(
            provider,
            &shared.providers.config,
            &parts.headers,
            &path_and_query,
            UpstreamAuth {
                bearer: &bearer,
                account_id: account_id.as_deref(),
                api_base: api_base.as_deref(),
            },
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "cannot shape the request");
                answered(Some(id), 400, rotations, false);
                return proxy_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "invalid_input",
                    "the request cannot be forwarded (invalid header value)",
                );
            }
        };
        // A body over the replay bound streams once: this attempt is the only one.
        let replayable = once.is_none();
        let request_body = match once.take() {
            Some(rest) => reqwest::Body::wrap_stream(
                futures_util::stream::iter([Ok::<Bytes, axum::Error>(body.clone())]).chain(rest),
            ),
            None => reqwest::Body::from(body.clone()),
        };
        let sent = shared
            .client
            .request(parts.method.clone(), &upstream.url)
            .headers(upstream.headers)
            .body(request_body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let first = network_failed.insert(id);
                tracing::warn!(provider = %provider, account = %id, first, error = %e, "upstream unreachable before headers");
                let action = record(
                    &gw,
                    &state,
                    provider,
                    id,
                    &Outcome::NetworkError { first },
                    now,
                )
                .await;
                if !replayable {
                    answered(Some(id), 502, rotations, false);
                    return proxy_error(
                        StatusCode::BAD_GATEWAY,
                        "api_error",
                        "upstream_unreachable",
                        "the provider could not be reached (the request was too large to retry)",
                    );
                }
                if action == Action::RetrySame {
                    same = Some((id, Some(auth)));
                } else {
                    tried.push(id);
                }
                continue;
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        note_usage(&shared, &state, provider, id, &headers, now);

        if status == 401 && replayable && refreshed.insert(id) {
            // Refresh once (single flight) and replay once on the same account.
            drop(resp);
            match shared
                .tokens
                .after_unauthorized(provider, id, &auth.secrets)
                .await
            {
                Ok(fresh) => {
                    same = Some((id, Some(fresh)));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(provider = %provider, account = %id, error = %e, "refresh after 401 failed");
                    let action = record(&gw, &state, provider, id, &Outcome::AuthFailed, now).await;
                    if action == Action::TryNext {
                        tried.push(id);
                        rotations += 1;
                        continue;
                    }
                    answered(Some(id), 401, rotations, false);
                    return proxy_error(
                        StatusCode::UNAUTHORIZED,
                        "authentication_error",
                        "unauthorized",
                        "the account's login was refused; log in again",
                    );
                }
            }
        }

        let end = StreamEnd {
            gw: gw.clone(),
            rref: rref.clone(),
            tap: UsageTap::new(&headers),
            sse: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream")),
        };
        let idle = shared.config.stream_idle_timeout;
        if (200..400).contains(&status) {
            record(&gw, &state, provider, id, &Outcome::Success { status }, now).await;
            answered(Some(id), status, rotations, true);
            return respond(
                status,
                &headers,
                Bytes::new(),
                Box::pin(resp.bytes_stream()),
                idle,
                end,
            );
        }
        let (prefix, remaining) = read_prefix(resp, ERROR_PREFIX_BYTES).await;
        let outcome = shared
            .providers
            .classify(provider, status, &headers, &prefix, now);
        match record(&gw, &state, provider, id, &outcome, now).await {
            // The account's cooldown is recorded either way; without a replayable body the
            // client gets this answer.
            Action::TryNext | Action::RetrySame if !replayable => {
                answered(Some(id), status, rotations, false);
                return respond(status, &headers, prefix, remaining, idle, end);
            }
            Action::TryNext => {
                tried.push(id);
                rotations += 1;
            }
            Action::RetrySame => same = Some((id, Some(auth))),
            Action::Done | Action::ReturnToClient => {
                answered(Some(id), status, rotations, false);
                return respond(status, &headers, prefix, remaining, idle, end);
            }
        }
    }
}
