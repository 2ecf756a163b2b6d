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
//!
//! One attempt reads: pick ([`Attempts::next_candidate`]) → credential (rota-providers) →
//! send → classify (the provider's adapter, then [`Attempts::error_outcome`]) → record and
//! decide (rota-core's table, [`outcome::record`], [`Attempts::after_answer`]) → stream the
//! answer or replay. Every answer the gateway gives itself is a [`ProxyError`].

mod attempt;
mod error;
mod outcome;
mod stream;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rota_core::{Action, CoolingCause, NoCandidate, Outcome, PoolState, Ulid};
use rota_providers::{AccountAuth, UpstreamCredential, shape_request};
use rota_types::{ProviderId, SessionUpdated, UnixMs};

use crate::sessions::{NewRequest, RequestRef};
use crate::upstream::{BodyStream, OnceBody};
use crate::view::Snapshot;
use crate::{Gateway, GatewayEvent, Shared};
use attempt::{Attempts, Next};
pub(crate) use error::ProxyError;
pub(crate) use outcome::{PendingWrites, flush_usage};
use outcome::{note_usage, record};
use stream::{BodyError, StreamEnd, buffer_body, read_prefix, respond};

/// Bytes of an error body read to classify it (429 texts, error codes).
const ERROR_PREFIX_BYTES: usize = 64 * 1024;

/// `ANY /{provider}/{*path}`.
pub(crate) async fn forward(State(gw): State<Gateway>, req: Request) -> Response {
    let mut pending = PendingWrites::new();
    let resp = forward_attempts(&gw, req, &mut pending).await;
    for write in pending {
        let _ = write.await;
    }
    resp
}

/// Whether the plan-limits-only guard applies to this provider's requests.
fn guarded(shared: &Shared, provider: ProviderId) -> bool {
    provider == ProviderId::Anthropic && shared.providers.config.anthropic.plan_limits_only
}

/// The Anthropic route serves only the clients its setting allows (the pool's choice, else
/// the config's when the pool cannot be read).
fn admit_client(shared: &Shared, provider: ProviderId, parts: &Parts) -> Result<(), ProxyError> {
    if provider != ProviderId::Anthropic {
        return Ok(());
    }
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let allowed = match shared.view.current() {
        Ok(snap) => rota_providers::anthropic_clients(&snap.state, &shared.providers.config)
            .allows(user_agent),
        Err(_) => shared.providers.config.anthropic.clients.allows(user_agent),
    };
    if allowed {
        return Ok(());
    }
    tracing::warn!(
        user_agent = user_agent.unwrap_or(""),
        "refused a client the Anthropic route does not serve (providers.anthropic.clients)"
    );
    Err(ProxyError::ClientRefused {
        user_agent: user_agent.map(str::to_owned),
    })
}

/// The account's credential for an attempt: the one held from the last attempt (a replay),
/// else the view's, refreshed first when due (the refresh itself locks the account and re-reads
/// it, docs/rules.md §3); then what goes on the wire. `None` when the account has none usable:
/// it is skipped for this request (a refused refresh already set `needsReauth`).
async fn credential(
    shared: &Shared,
    snap: &Snapshot,
    provider: ProviderId,
    id: Ulid,
    kept: Option<AccountAuth>,
    now: UnixMs,
) -> Option<(AccountAuth, UpstreamCredential)> {
    let auth = match kept {
        Some(auth) => Ok(auth),
        None => match snap.auth(provider, id) {
            Some(auth) => shared.tokens.refresh_if_due(provider, id, auth, now).await,
            // Not in the view (just added elsewhere): the store decides.
            None => shared.tokens.access_at(provider, id, now).await,
        },
    };
    let auth = auth
        .inspect_err(|e| tracing::warn!(provider = %provider, account = %id, error = %e, "no usable credential; trying the next account"))
        .ok()?;
    let credential = shared
        .providers
        .upstream_credential(provider, &auth, now)
        .await
        .inspect_err(|e| tracing::warn!(provider = %provider, account = %id, error = %e, "no Copilot token; trying the next account"))
        .ok()?;
    Some((auth, credential))
}

/// What one turn of the loop leaves.
enum Step {
    /// Another attempt.
    Replay,
    /// The client's response.
    Answer(Response),
}

/// One client request: read, logged as a session's request, and its attempts so far.
struct Exchange<'a> {
    gw: &'a Gateway,
    shared: &'a Shared,
    provider: ProviderId,
    parts: Parts,
    path_and_query: String,
    body: Bytes,
    /// The unread rest of a body over the replay bound, sent once with the first attempt.
    once: Option<OnceBody>,
    /// The request's model: an account whose cap for it is used up is skipped for this
    /// request (model-scoped limits), while it keeps serving other models.
    model: Option<String>,
    plan_limits_only: bool,
    rref: RequestRef,
    started: Instant,
    attempts: Attempts,
}

/// The rotation table of docs/rules.md §4, one attempt per turn of the loop.
async fn forward_attempts(gw: &Gateway, req: Request, pending: &mut PendingWrites) -> Response {
    let mut exchange = match Exchange::open(gw, req).await {
        Ok(x) => x,
        Err(refused) => return refused.into_response(),
    };
    loop {
        match exchange.attempt(pending).await {
            Step::Replay => {}
            Step::Answer(resp) => return resp,
        }
    }
}

impl<'a> Exchange<'a> {
    /// Routes, admits and reads the request, and opens its session entry.
    async fn open(gw: &'a Gateway, req: Request) -> Result<Self, ProxyError> {
        let started = Instant::now();
        let shared = &*gw.shared;
        let (parts, body) = req.into_parts();
        let (provider, sub_path) =
            crate::security::proxy_route(parts.uri.path()).ok_or(ProxyError::NoRoute)?;
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{sub_path}?{q}"),
            None => sub_path.to_owned(),
        };
        let sub_path = sub_path.to_owned();
        admit_client(shared, provider, &parts)?;
        let (body, once) = buffer_body(
            body,
            shared.config.max_proxy_body_bytes,
            shared.config.header_read_timeout,
        )
        .await
        .map_err(|e| match e {
            BodyError::Read => ProxyError::BodyUnreadable,
            BodyError::Idle => ProxyError::BodyIdle,
        })?;

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
        Ok(Self {
            gw,
            shared,
            provider,
            parts,
            path_and_query,
            body,
            attempts: Attempts::new(once.is_none()),
            once,
            model,
            plan_limits_only: guarded(shared, provider),
            rref,
            started,
        })
    }

    /// One attempt: pick → credential → send, then [`Exchange::on_answer`].
    async fn attempt(&mut self, pending: &mut PendingWrites) -> Step {
        let (shared, provider) = (self.shared, self.provider);
        let now = rota_store::now_ms();
        let snap = match shared.view.current() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the pool");
                return self.fail(None, ProxyError::PoolUnreadable);
            }
        };
        let state = &snap.state;
        let ns = &shared.config.namespace;
        let model = self.model.as_deref();
        let (id, kept) = match self.attempts.next_candidate(
            state,
            provider,
            ns,
            model,
            self.plan_limits_only,
            now,
        ) {
            Ok(next) => next,
            Err(reason) => {
                if matches!(&reason, NoCandidate::AllCoolingDown { cause, .. } if *cause != CoolingCause::Refused)
                {
                    crate::auto_redeem::pool_dry(&self.gw.shared, state, provider, ns, now);
                }
                let utc_offset_minutes = shared.config.utc_offset_minutes;
                let error = ProxyError::NoCandidate {
                    reason,
                    now,
                    utc_offset_minutes,
                };
                return self.fail(None, error);
            }
        };
        let Some((auth, credential)) = credential(shared, &snap, provider, id, kept, now).await
        else {
            self.attempts.skip(id);
            return Step::Replay;
        };
        let Ok(upstream) = shape_request(
            provider,
            &shared.providers.config,
            &self.parts.headers,
            &self.path_and_query,
            credential.as_auth(),
        )
        .inspect_err(
            |e| tracing::warn!(provider = %provider, error = %e, "cannot shape the request"),
        ) else {
            return self.fail(Some(id), ProxyError::CannotShape);
        };
        let client = crate::upstream::Upstream::current(&shared.upstream);
        let sending = client.send(
            self.parts.method.clone(),
            &upstream.url,
            upstream.headers,
            self.body.clone(),
            self.once.take(),
        );
        let waited = shared.config.upstream_header_timeout;
        let Ok(sent) = tokio::time::timeout(waited, sending).await else {
            tracing::warn!(provider = %provider, account = %id, "no response headers from the provider in time");
            return self.fail(Some(id), ProxyError::NoUpstreamHeaders { waited });
        };
        match sent {
            Ok(answer) => self.on_answer(state, id, auth, answer, now, pending).await,
            Err(e) => {
                let outcome = self.attempts.network_failure(id);
                tracing::warn!(provider = %provider, account = %id, ?outcome, error = %e, "upstream unreachable before headers");
                let action = record(self.gw, state, provider, id, &outcome, now, pending);
                if !self.attempts.replayable() {
                    return self.fail(Some(id), ProxyError::UpstreamUnreachable);
                }
                self.attempts.after_network_failure(action, id, auth);
                Step::Replay
            }
        }
    }

    /// An answer's head arrived: refresh after a 401, else classify, record and decide; a
    /// success is committed and streamed at once.
    async fn on_answer(
        &mut self,
        state: &PoolState,
        id: Ulid,
        auth: AccountAuth,
        (head, stream): (axum::http::response::Parts, BodyStream),
        now: UnixMs,
        pending: &mut PendingWrites,
    ) -> Step {
        let (gw, shared, provider) = (self.gw, self.shared, self.provider);
        // The header map is read here and moved to the client, never copied.
        let status = head.status.as_u16();
        let headers = head.headers;
        note_usage(shared, state, provider, id, &headers, now);

        // A 401: refresh once (single flight) and replay once on the same account. For Copilot
        // this drops the exchanged Copilot token, so the replay exchanges a fresh one.
        if self.attempts.refresh_first(id, status) {
            drop(stream);
            match shared
                .tokens
                .after_unauthorized(provider, id, &auth.secrets)
                .await
            {
                Ok(fresh) => self.attempts.replay_with_fresh(id, fresh),
                Err(e) => {
                    tracing::warn!(provider = %provider, account = %id, error = %e, "refresh after 401 failed");
                    let action =
                        record(gw, state, provider, id, &Outcome::AuthFailed, now, pending);
                    if action != Action::TryNext {
                        return self.fail(Some(id), ProxyError::LoginRefused);
                    }
                    self.attempts.rotate(id);
                }
            }
            return Step::Replay;
        }

        let end = StreamEnd::new(gw, &self.rref, &headers);
        let idle = shared.config.stream_idle_timeout;
        if (200..400).contains(&status) {
            let outcome = if provider == ProviderId::Anthropic {
                shared
                    .providers
                    .classify(provider, status, &headers, &[], now)
                    .under_guard(self.plan_limits_only)
            } else {
                Outcome::Success { status }
            };
            if matches!(outcome, Outcome::UsingExtraUsage { .. }) {
                tracing::warn!(provider = %provider, account = %id, "the account's plan limits are used up and it is drawing on paid extra usage; skipping it until its plan window resets (providers.anthropic.plan_limits_only)");
            }
            record(gw, state, provider, id, &outcome, now, pending);
            self.answered(Some(id), status, true);
            return Step::Answer(respond(status, headers, Bytes::new(), stream, idle, end));
        }
        let (prefix, remaining) = read_prefix(stream, ERROR_PREFIX_BYTES).await;
        let classified = shared
            .providers
            .classify(provider, status, &headers, &prefix, now);
        let outcome = self.attempts.error_outcome(
            id,
            classified,
            self.plan_limits_only,
            self.model.as_deref(),
        );
        let action = record(gw, state, provider, id, &outcome, now, pending);
        if outcome == Outcome::ExtraUsageBilled {
            // The guard: never replayed (every account would be billed the same); the client
            // gets what happened and what to do instead of the bare 400.
            tracing::warn!(provider = %provider, account = %id, "Anthropic billed a request as a third-party app's extra usage; not retried (providers.anthropic.plan_limits_only)");
            drop(remaining);
            let upstream_message = rota_providers::error_message(&prefix);
            self.answered(Some(id), status, false);
            return Step::Answer(
                ProxyError::BilledAsExtraUsage { upstream_message }.into_response(),
            );
        }
        match self
            .attempts
            .after_answer(&outcome, action, id, auth, &shared.config, &headers)
        {
            Next::Replay => Step::Replay,
            Next::ReplayAfter(delay) => {
                // Overloaded (529/503, Anthropic's "temporarily limiting"): the provider, not
                // the account; a short back-off on the same account, bounded.
                drop(remaining);
                tracing::info!(provider = %provider, account = %id, status, delay_ms = delay.as_millis(), "provider overloaded; retrying the same account");
                tokio::time::sleep(delay).await;
                Step::Replay
            }
            Next::Answer => {
                self.answered(Some(id), status, false);
                let headers = self
                    .attempts
                    .with_retry_after(&outcome, headers, &shared.config);
                Step::Answer(respond(status, headers, prefix, remaining, idle, end))
            }
        }
    }

    /// Logs the answer in the request's session.
    fn answered(&self, account: Option<Ulid>, status: u16, streamed: bool) {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .answered(
                &self.rref,
                account.map(|i| i.to_string()),
                status,
                self.attempts.rotations(),
                streamed,
                u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
    }

    /// The gateway's own answer, logged.
    fn fail(&self, account: Option<Ulid>, error: ProxyError) -> Step {
        self.answered(account, error.status().as_u16(), false);
        Step::Answer(error.into_response())
    }
}
