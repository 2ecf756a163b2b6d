//! The rotating proxy (docs/rules.md §4): one client request → one or more upstream attempts
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
use futures_util::StreamExt;
use hyper::body::Frame;
use rota_core::{Action, NoCandidate, Outcome, PoolState, Ulid};
use rota_providers::{AccountAuth, shape_request};
use rota_types::{ProviderId, SessionUpdated, UnixMs};

use crate::sessions::{NewRequest, RequestRef, UsageTap};
use crate::upstream::{BodyStream, OnceBody};
use crate::view::Snapshot;
use crate::{Gateway, GatewayConfig, GatewayEvent, Shared};

/// Bytes of an error body read to classify it (429 texts, error codes).
const ERROR_PREFIX_BYTES: usize = 64 * 1024;

/// The longest back-off before retrying an overloaded answer on the same account.
const MAX_OVERLOAD_WAIT: Duration = Duration::from_secs(2);

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

/// The provider accepted the request and sent no response headers within the bound. Not
/// replayed on another account: the provider may still be working on it (and billing it).
fn no_upstream_headers(waited: Duration) -> Response {
    proxy_error(
        StatusCode::GATEWAY_TIMEOUT,
        "api_error",
        "upstream_timeout",
        &format!(
            "the provider sent no response within {} s (gateway.upstream_header_timeout_secs in config.toml)",
            waited.as_secs()
        ),
    )
}

fn no_candidate(nc: &NoCandidate, now: UnixMs, offset_minutes: i32) -> Response {
    let message = nc.message(offset_minutes);
    let mut resp = match nc {
        NoCandidate::AllCoolingDown { cause, .. } => {
            // Refused logins are no rate limit: a client must not read them as one.
            let mut r = if *cause == rota_core::CoolingCause::Refused {
                proxy_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "all_accounts_need_login",
                    &format!("{message}; log in again with `rota auth login` or the Rota app"),
                )
            } else {
                proxy_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "all_accounts_rate_limited",
                    &message,
                )
            };
            let secs = nc.retry_after_ms(now).unwrap_or(0).saturating_add(999) / 1000;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            r
        }
        NoCandidate::ModelCapped { .. } => {
            let mut r = proxy_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "model_limit_reached",
                &message,
            );
            if let Some(ms) = nc.retry_after_ms(now) {
                let secs = ms.saturating_add(999) / 1000;
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            r
        }
        NoCandidate::PlanLimitsUsedUp { .. } => {
            let mut r = proxy_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "plan_limits_reached",
                &message,
            );
            if let Some(ms) = nc.retry_after_ms(now) {
                let secs = ms.saturating_add(999) / 1000;
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
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

/// A 401 on a token refreshed for this very request is the request's fault, not the account's
/// (rota-core's [`Outcome::RefusedAfterRefresh`]).
fn after_fresh_token(outcome: Outcome, fresh: bool) -> Outcome {
    match outcome {
        Outcome::AuthFailed if fresh => Outcome::RefusedAfterRefresh,
        other => other,
    }
}

/// What a counter-only outcome asks for. rota-core's `record_outcome` decides the same (the
/// `counter_only_actions_match_core` test pins it); computing it here spares cloning the pool
/// on every request.
fn counter_only_action(outcome: &Outcome) -> Action {
    match outcome {
        Outcome::Success { .. } | Outcome::UsingExtraUsage { .. } => Action::Done,
        Outcome::NetworkError { first: true } => Action::RetrySame,
        Outcome::NetworkError { first: false }
        | Outcome::RateLimited(_)
        | Outcome::QuotaExhausted { .. }
        | Outcome::AuthFailed => Action::TryNext,
        Outcome::FeatureGated
        | Outcome::Overloaded { .. }
        | Outcome::OtherError { .. }
        | Outcome::RefusedAfterRefresh
        | Outcome::ExtraUsageBilled => Action::ReturnToClient,
    }
}

/// Whether the plan-limits-only guard applies to this provider's requests.
fn guarded(shared: &Shared, provider: ProviderId) -> bool {
    provider == ProviderId::Anthropic && shared.providers.config.anthropic.plan_limits_only
}

/// The guard's outcome, or the ordinary one when the guard is off.
fn guard_outcome(shared: &Shared, provider: ProviderId, outcome: Outcome) -> Outcome {
    if guarded(shared, provider) {
        outcome
    } else {
        outcome.unguarded()
    }
}

/// The refusal of a client the Anthropic route does not serve: a 403 `permission_error`
/// (clients do not retry it) naming the setting, how to change it, and why it exists.
fn client_refused(user_agent: Option<&str>) -> Response {
    let who = user_agent.map_or_else(
        || "a request without a User-Agent".to_owned(),
        |ua| format!("User-Agent {:?}", ua.chars().take(80).collect::<String>()),
    );
    let mut r = proxy_error(
        StatusCode::FORBIDDEN,
        "permission_error",
        "client_not_allowed",
        &format!(
            "Rota's Anthropic route serves only Claude Code ({who} is another client): Anthropic \
             bills subscription traffic it identifies as a third-party app's as paid extra usage, \
             not the plan. To serve other clients anyway, at that risk: `rota auth clients \
             anthropic any`, the \"Serve other clients\" switch on the Anthropic page of the Rota \
             app, or [providers.anthropic] clients = \"any\" in config.toml \
             (ROTA_ANTHROPIC_CLIENTS=any)."
        ),
    );
    r.headers_mut()
        .insert("x-should-retry", HeaderValue::from_static("false"));
    r
}

/// What the client gets instead of Anthropic's third-party-billing 400 (the guard): what
/// happened, that it was not retried elsewhere, and what to do.
fn billed_as_extra_usage(upstream_message: Option<&str>) -> Response {
    let said = upstream_message
        .map(|m| {
            format!(
                " (Anthropic: \"{}\")",
                m.chars().take(300).collect::<String>()
            )
        })
        .unwrap_or_default();
    let mut r = proxy_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "third_party_billing",
        &format!(
            "Anthropic took this request for a third-party app's and bills such traffic as paid \
             extra usage, not the plan{said}. Rota did not retry it on another account (each \
             would be billed the same) and marked the account. Send Anthropic requests from \
             Claude Code itself, or use hand-off mode (`rota auth handoff anthropic on`); \
             [providers.anthropic] plan_limits_only = false turns this guard off."
        ),
    );
    r.headers_mut()
        .insert("x-should-retry", HeaderValue::from_static("false"));
    r
}

/// Store writes a request started; its response waits for them (so whoever sees the answer
/// also sees the cooldown or switch on disk), but the replay does not.
pub(crate) type PendingWrites = Vec<tokio::task::JoinHandle<()>>;

/// Applies an outcome: batched when it only changes counters; otherwise applied to the
/// in-memory view at once (this and concurrent requests skip a cooling account immediately)
/// and written through the locked store in the background, overlapping the replay. Returns
/// what to do with the request.
fn record(
    gw: &Gateway,
    state: &PoolState,
    provider: ProviderId,
    id: Ulid,
    outcome: &Outcome,
    now: UnixMs,
    pending: &mut PendingWrites,
) -> Action {
    let shared = &gw.shared;
    let record = state.record(provider, id);
    if record.is_some_and(|r| outcome.is_counter_only(r)) {
        let key = id.to_string();
        match outcome {
            Outcome::Success { status } => shared.counters.record_success(&key, Some(*status)),
            Outcome::Overloaded { status } | Outcome::OtherError { status } => {
                shared.counters.record_failure(&key, Some(*status));
            }
            Outcome::FeatureGated => shared.counters.record_failure(&key, Some(429)),
            _ => shared.counters.record_failure(&key, None),
        }
        return counter_only_action(outcome);
    }
    let policy = shared.config.cooldown;
    let (seq, provisional) = shared
        .view
        .apply_outcome(provider, id, outcome, &policy, now);
    let action = match &provisional {
        Ok(effect) => effect.action,
        // The account vanished (removed by another process): move on.
        Err(_) => match outcome {
            Outcome::Success { .. } => Action::Done,
            Outcome::RateLimited(_) | Outcome::AuthFailed => Action::TryNext,
            _ => Action::ReturnToClient,
        },
    };
    let gw = gw.clone();
    let o = outcome.clone();
    // One request's outcomes land in the order they happened (as the view applied them): two
    // writes on parallel blocking threads could otherwise swap, and a 429 on the account
    // rotated to, written first, would find it not yet active and log no switch for it.
    let previous = pending.pop();
    let write = move || {
        let shared = &gw.shared;
        let result = shared.store.mutate(|txn| {
            txn.state
                .record_outcome(provider, id, &o, &policy, now)
                .map_err(rota_store::StoreError::from)
        });
        match result {
            Ok(effect) => {
                if let Some(entry) = effect.switched {
                    tracing::info!(provider = %provider, from = ?entry.from, to = %entry.to, reason = %entry.reason, "switched account");
                    gw.emit(GatewayEvent::Switched(entry));
                }
            }
            Err(e) => {
                tracing::error!(provider = %provider, account = %id, error = %e, "cannot record an upstream outcome");
            }
        }
        // The durable version replaces the provisional one.
        shared.view.settle(seq);
        if let Err(e) = shared.view.reload() {
            tracing::warn!(error = %e, "cannot re-read the pool");
        }
    };
    pending.push(match previous {
        None => tokio::task::spawn_blocking(write),
        Some(previous) => tokio::spawn(async move {
            let _ = previous.await;
            let _ = tokio::task::spawn_blocking(write).await;
        }),
    });
    action
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
    // Taken out and put back rather than cloned: this runs on every answer.
    let queued = pending.remove(&(provider, id));
    let prev = queued
        .as_ref()
        .or_else(|| state.record(provider, id).and_then(|r| r.usage.as_ref()));
    if let Some(snapshot) = adapter.usage_from_headers(headers, now, prev) {
        pending.insert((provider, id), snapshot);
    } else if let Some(q) = queued {
        pending.insert((provider, id), q);
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
    // Our own write: read it back now rather than in the next request.
    if let Err(e) = shared.view.reload() {
        tracing::warn!(error = %e, "cannot re-read the pool");
    }
}

/// Reads up to `max` bytes of the body (for classification); the rest stays in the stream.
async fn read_prefix(mut stream: BodyStream, max: usize) -> (Bytes, BodyStream) {
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

/// Why a request body could not be read.
enum BodyError {
    Read,
    /// Nothing arrived for the idle timeout (a slow-body client holding a connection).
    Idle,
}

/// Buffers the request body up to `limit` bytes (replayable). A longer body comes back as the
/// buffered part plus the unread rest, to be forwarded once without rotation (docs/rules.md
/// §4).
async fn buffer_body(
    body: Body,
    limit: usize,
    idle: Duration,
) -> Result<(Bytes, Option<OnceBody>), BodyError> {
    let mut stream = body.into_data_stream();
    // A small body arrives as one chunk: it is kept as is, copied only when a second follows.
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(BodyError::Idle),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|_| BodyError::Read)?,
        };
        if first.is_none() && buf.is_empty() {
            if chunk.len() > limit {
                return Ok((chunk, Some(Box::pin(stream))));
            }
            first = Some(chunk);
            continue;
        }
        if let Some(f) = first.take() {
            buf.extend_from_slice(&f);
        }
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            return Ok((buf.freeze(), Some(Box::pin(stream))));
        }
    }
    Ok((first.unwrap_or_else(|| buf.freeze()), None))
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
    fn finish(mut self) {
        self.record();
    }

    /// Records the usage read so far (once). Also runs on drop: with a `content-length` the
    /// server stops polling the body after its last byte, so the end-of-stream branch may never
    /// run; a client that aborts drops it too (tokens already spent still count).
    fn record(&mut self) {
        let tap = std::mem::replace(&mut self.tap, UsageTap::off());
        if let Some(usage) = tap.finish() {
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

impl Drop for StreamEnd {
    fn drop(&mut self) {
        self.record();
    }
}

/// The client's response: upstream status and headers (minus hop-by-hop), the prefix already
/// read, then the rest of the upstream body chunk by chunk as it arrives.
fn respond(
    status: u16,
    mut upstream_headers: HeaderMap,
    prefix: Bytes,
    remaining: BodyStream,
    idle: Duration,
    mut end: StreamEnd,
) -> Response {
    if !prefix.is_empty() {
        end.tap.feed(&prefix);
    }
    let body = Body::new(Forwarded {
        prefix: (!prefix.is_empty()).then_some(prefix),
        upstream: Some(remaining),
        end: Some(end),
        idle,
        idle_timer: None,
    });
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for name in HOP_BY_HOP {
        upstream_headers.remove(*name);
    }
    *resp.headers_mut() = upstream_headers;
    resp
}

/// The body forwarded to the client: the prefix, then each upstream chunk as it arrives, each
/// wait bounded by the idle timeout. A plain state machine rather than stream combinators: it
/// is polled for every response, and arms a timer only while the upstream is actually silent.
struct Forwarded {
    prefix: Option<Bytes>,
    /// `None` once the upstream ended, failed or went idle.
    upstream: Option<BodyStream>,
    end: Option<StreamEnd>,
    idle: Duration,
    idle_timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Forwarded {
    /// The upstream is done with: usage is recorded, and a failure becomes the last chunk.
    fn stop(&mut self, failure: Option<&str>) -> Option<Result<Frame<Bytes>, std::io::Error>> {
        self.upstream = None;
        self.idle_timer = None;
        let sse = self.end.as_ref().is_some_and(|e| e.sse);
        if let Some(end) = self.end.take() {
            end.finish();
        }
        failure.map(|message| sse_error_or_abort(sse, message).map(Frame::data))
    }
}

impl hyper::body::Body for Forwarded {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        match upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.idle_timer = None;
                if let Some(end) = this.end.as_mut() {
                    end.tap.feed(&chunk);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(this.stop(None)),
            Poll::Ready(Some(Err(e))) => {
                // Committed: the stream ends, nothing is replayed.
                tracing::warn!(error = %e, "upstream stream failed after the first byte");
                Poll::Ready(this.stop(Some("the upstream connection failed mid-stream")))
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .idle_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                tracing::warn!("upstream stream idle for too long; ending it");
                let message = format!(
                    "the upstream stream went idle (nothing for {} s) and was ended (gateway.stream_idle_timeout_secs in config.toml)",
                    idle.as_secs()
                );
                Poll::Ready(this.stop(Some(&message)))
            }
        }
    }
}

/// An account's identity and secrets from the view, refreshed first when they expire within
/// the skew ([`rota_providers::TokenManager::access_at`] without its file reads; the refresh
/// itself still locks the account and re-reads, docs/rules.md §3).
async fn account_auth(
    shared: &Shared,
    snap: &Snapshot,
    provider: ProviderId,
    id: Ulid,
    now: UnixMs,
) -> Result<AccountAuth, rota_providers::ProviderError> {
    let key = id.to_string();
    let cached = snap.state.record(provider, id).and_then(|r| {
        snap.vault.get(&key).map(|secrets| AccountAuth {
            record_id: key.clone(),
            identity: r.identity.clone(),
            secrets: secrets.clone(),
        })
    });
    let Some(mut auth) = cached else {
        // Not in the view (just added elsewhere): the store decides.
        return shared.tokens.access_at(provider, id, now).await;
    };
    let skew = i64::try_from(shared.providers.config.refresh_skew_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if auth.secrets.credentials().needs_refresh(now, skew) {
        let loaded = auth.secrets.clone();
        auth.secrets = shared.tokens.refresh_at(provider, id, &loaded, now).await?;
    }
    Ok(auth)
}

/// How long to wait before retrying an overloaded answer on the same account, or `None` when
/// the retries are used up or the provider asks for a longer pause than we hold a request for.
fn overload_delay(config: &GatewayConfig, attempt: u32, headers: &HeaderMap) -> Option<Duration> {
    if attempt >= config.overload_retries {
        return None;
    }
    let ours = config
        .overload_backoff
        .saturating_mul(1 << attempt.min(8))
        .min(MAX_OVERLOAD_WAIT);
    let theirs = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    match theirs {
        Some(t) if t > MAX_OVERLOAD_WAIT => None,
        Some(t) => Some(ours.max(t)),
        None => Some(ours),
    }
}

/// `ANY /{provider}/{*path}`.
pub(crate) async fn forward(State(gw): State<Gateway>, req: Request) -> Response {
    let mut pending = PendingWrites::new();
    let resp = forward_attempts(&gw, req, &mut pending).await;
    for write in pending {
        let _ = write.await;
    }
    resp
}

// One loop that reads top to bottom like the outcome table of docs/rules.md §4; splitting it
// would scatter the per-request replay state (tried, refreshed, network retries).
#[allow(clippy::too_many_lines)]
async fn forward_attempts(gw: &Gateway, req: Request, pending: &mut PendingWrites) -> Response {
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
    if provider == ProviderId::Anthropic {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let allowed = match shared.view.current() {
            Ok(snap) => rota_providers::anthropic_clients(&snap.state, &shared.providers.config)
                .allows(user_agent),
            Err(_) => shared.providers.config.anthropic.clients.allows(user_agent),
        };
        if !allowed {
            tracing::warn!(
                user_agent = user_agent.unwrap_or(""),
                "refused a client the Anthropic route does not serve (providers.anthropic.clients)"
            );
            return client_refused(user_agent);
        }
    }
    let (body, mut once) = match buffer_body(
        body,
        shared.config.max_proxy_body_bytes,
        shared.config.header_read_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(BodyError::Read) => {
            return proxy_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_input",
                "the request body could not be read",
            );
        }
        Err(BodyError::Idle) => {
            return proxy_error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "timeout",
                "the request body stopped arriving",
            );
        }
    };

    let peek = crate::sessions::BodyPeek::of(&body);
    let now = rota_store::now_ms();
    let connection = parts
        .extensions
        .get::<crate::security::Caller>()
        .and_then(|c| c.connection())
        .map(str::to_owned);
    if let Some(c) = &connection {
        shared.connection_seen(c, now);
    }
    // The request's model: an account whose cap for it is used up is skipped for this request
    // (model-scoped limits), while it keeps serving other models.
    let model = peek.model();
    let rref = shared
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .begin(NewRequest {
            provider,
            explicit_id: crate::sessions::explicit_session_id(&parts.headers, &peek),
            client: crate::sessions::client_name(&parts.headers),
            connection,
            model: model.clone(),
            method: parts.method.to_string(),
            path: sub_path,
            at: now,
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
    // Accounts whose token was refreshed for this request: a 401 on it again is not theirs.
    let mut fresh_token: HashSet<Ulid> = HashSet::new();
    let mut overload_attempts = 0u32;

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
        let snap = match shared.view.current() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the pool");
                answered(None, 500, rotations, false);
                return proxy_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    "internal",
                    "the gateway cannot read its account pool",
                );
            }
        };
        let state = &snap.state;
        let (id, auth) = match same.take() {
            Some((id, auth)) => (id, auth),
            None => match state.pick_candidate_guarded(
                provider,
                &ns,
                &tried,
                model.as_deref(),
                guarded(&shared, provider),
                now,
            ) {
                Ok(id) => (id, None),
                Err(nc) => {
                    if matches!(&nc, NoCandidate::AllCoolingDown { cause, .. } if *cause != rota_core::CoolingCause::Refused)
                    {
                        crate::auto_redeem::pool_dry(&shared, state, provider, &ns, now);
                    }
                    let resp = no_candidate(&nc, now, shared.config.utc_offset_minutes);
                    answered(None, resp.status().as_u16(), rotations, false);
                    return resp;
                }
            },
        };
        let auth = match auth {
            Some(a) => a,
            None => match account_auth(&shared, &snap, provider, id, now).await {
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
        let credential = match shared
            .providers
            .upstream_credential(provider, &auth, now)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(provider = %provider, account = %id, error = %e, "no Copilot token; trying the next account");
                tried.push(id);
                continue;
            }
        };
        let upstream = match shape_request(
            provider,
            &shared.providers.config,
            &parts.headers,
            &path_and_query,
            credential.as_auth(),
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
        let client = crate::upstream::Upstream::current(&shared.upstream);
        let sending = client.send(
            parts.method.clone(),
            &upstream.url,
            upstream.headers,
            body.clone(),
            once.take(),
        );
        let Ok(sent) = tokio::time::timeout(shared.config.upstream_header_timeout, sending).await
        else {
            tracing::warn!(provider = %provider, account = %id, "no response headers from the provider in time");
            answered(Some(id), 504, rotations, false);
            return no_upstream_headers(shared.config.upstream_header_timeout);
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let first = network_failed.insert(id);
                tracing::warn!(provider = %provider, account = %id, first, error = %e, "upstream unreachable before headers");
                let action = record(
                    gw,
                    state,
                    provider,
                    id,
                    &Outcome::NetworkError { first },
                    now,
                    pending,
                );
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
        // The header map is read here and moved to the client, never copied.
        let (head, stream) = resp;
        let status = head.status.as_u16();
        let headers = head.headers;
        note_usage(&shared, state, provider, id, &headers, now);

        if status == 401 && replayable && refreshed.insert(id) {
            // Refresh once (single flight) and replay once on the same account. For Copilot
            // this drops the exchanged Copilot token, so the replay exchanges a fresh one.
            drop(stream);
            match shared
                .tokens
                .after_unauthorized(provider, id, &auth.secrets)
                .await
            {
                Ok(fresh) => {
                    fresh_token.insert(id);
                    same = Some((id, Some(fresh)));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(provider = %provider, account = %id, error = %e, "refresh after 401 failed");
                    let action =
                        record(gw, state, provider, id, &Outcome::AuthFailed, now, pending);
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
            let outcome = if provider == ProviderId::Anthropic {
                guard_outcome(
                    &shared,
                    provider,
                    shared
                        .providers
                        .classify(provider, status, &headers, &[], now),
                )
            } else {
                Outcome::Success { status }
            };
            if matches!(outcome, Outcome::UsingExtraUsage { .. }) {
                tracing::warn!(provider = %provider, account = %id, "the account's plan limits are used up and it is drawing on paid extra usage; skipping it until its plan window resets (providers.anthropic.plan_limits_only)");
            }
            record(gw, state, provider, id, &outcome, now, pending);
            answered(Some(id), status, rotations, true);
            return respond(status, headers, Bytes::new(), stream, idle, end);
        }
        let (prefix, remaining) = read_prefix(stream, ERROR_PREFIX_BYTES).await;
        let mut outcome = guard_outcome(
            &shared,
            provider,
            after_fresh_token(
                shared
                    .providers
                    .classify(provider, status, &headers, &prefix, now),
                fresh_token.contains(&id),
            ),
        );
        // A model's cap whose claim names no model: it is this request's model.
        if let Outcome::RateLimited(signal) = &mut outcome
            && signal.model.as_deref() == Some("")
        {
            signal.model.clone_from(&model);
        }
        let action = record(gw, state, provider, id, &outcome, now, pending);
        if outcome == Outcome::ExtraUsageBilled {
            // The guard: never replayed (every account would be billed the same); the client
            // gets what happened and what to do instead of the bare 400.
            tracing::warn!(provider = %provider, account = %id, "Anthropic billed a request as a third-party app's extra usage; not retried (providers.anthropic.plan_limits_only)");
            drop(remaining);
            answered(Some(id), status, rotations, false);
            return billed_as_extra_usage(rota_providers::error_message(&prefix).as_deref());
        }
        // Overloaded (529/503, Anthropic's "temporarily limiting"): the provider, not the
        // account, so a short back-off on the same account; never a cooldown or a rotation
        // (docs/rules.md §4). Bounded: then the client gets the answer.
        if matches!(outcome, Outcome::Overloaded { .. })
            && replayable
            && let Some(delay) = overload_delay(&shared.config, overload_attempts, &headers)
        {
            overload_attempts += 1;
            drop(remaining);
            tracing::info!(provider = %provider, account = %id, status, delay_ms = delay.as_millis(), "provider overloaded; retrying the same account");
            tokio::time::sleep(delay).await;
            same = Some((id, Some(auth)));
            continue;
        }
        match action {
            // The account's cooldown is recorded either way; without a replayable body the
            // client gets this answer.
            Action::TryNext | Action::RetrySame if !replayable => {
                answered(Some(id), status, rotations, false);
                return respond(status, headers, prefix, remaining, idle, end);
            }
            Action::TryNext => {
                tried.push(id);
                rotations += 1;
            }
            Action::RetrySame => same = Some((id, Some(auth))),
            Action::Done | Action::ReturnToClient => {
                answered(Some(id), status, rotations, false);
                let headers =
                    with_retry_after(&outcome, headers, &shared.config, overload_attempts);
                return respond(status, headers, prefix, remaining, idle, end);
            }
        }
    }
}

/// A transient overload (529/503, a "temporarily limiting" 429) the gateway stopped retrying
/// reaches the client with a `retry-after` when the provider sent none, so the client backs
/// off (the gateway's next back-off, 1–60 s) instead of retrying at once or giving up.
fn with_retry_after(
    outcome: &Outcome,
    mut headers: HeaderMap,
    config: &GatewayConfig,
    attempts: u32,
) -> HeaderMap {
    if matches!(outcome, Outcome::Overloaded { .. }) && !headers.contains_key(header::RETRY_AFTER) {
        let next = config
            .overload_backoff
            .saturating_mul(1_u32.checked_shl(attempts).unwrap_or(u32::MAX));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(next.as_secs().clamp(1, 60)),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_core::{CooldownPolicy, NewLogin, RateLimitSignal};
    use rota_types::{AccountIdentity, DEFAULT_NAMESPACE};

    #[test]
    fn counter_only_actions_match_core() {
        let mut state = PoolState::default();
        let id = state
            .upsert(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                NewLogin {
                    identity: AccountIdentity::default(),
                    label: None,
                },
                Ulid::from_parts(1, 1),
                1_000,
            )
            .unwrap()
            .id;
        let outcomes = [
            Outcome::Success { status: 200 },
            Outcome::FeatureGated,
            Outcome::Overloaded { status: 529 },
            Outcome::OtherError { status: 400 },
            Outcome::NetworkError { first: true },
            Outcome::NetworkError { first: false },
            Outcome::RateLimited(RateLimitSignal::default()),
            Outcome::QuotaExhausted { resets_at: None },
            Outcome::AuthFailed,
            Outcome::RefusedAfterRefresh,
            Outcome::ExtraUsageBilled,
            Outcome::UsingExtraUsage {
                status: 200,
                resets_at: Some(9_000_000),
            },
        ];
        for o in outcomes {
            let mut scratch = state.clone();
            let core = scratch
                .record_outcome(
                    ProviderId::Anthropic,
                    id,
                    &o,
                    &CooldownPolicy::default(),
                    2_000,
                )
                .unwrap()
                .action;
            assert_eq!(counter_only_action(&o), core, "{o:?}");
        }
    }

    #[test]
    fn overload_delay_is_bounded() {
        let mut c = GatewayConfig::new("/nonexistent");
        c.overload_retries = 2;
        c.overload_backoff = Duration::from_millis(100);
        let none = HeaderMap::new();
        assert_eq!(
            overload_delay(&c, 0, &none),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            overload_delay(&c, 1, &none),
            Some(Duration::from_millis(200))
        );
        assert_eq!(overload_delay(&c, 2, &none), None);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(overload_delay(&c, 0, &h), Some(Duration::from_secs(1)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(
            overload_delay(&c, 0, &h),
            None,
            "a long pause is the client's call"
        );
    }
}
