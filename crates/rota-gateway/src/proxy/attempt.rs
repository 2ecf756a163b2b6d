//! One request's attempts: which account goes next and what an answer makes of the request,
//! the request column of the rotation table (docs/rules.md §4) with the per-request memory it
//! needs (accounts left behind, a refresh or a network retry already spent, overload back-offs).
//! No IO: the loop in the parent module sends, sleeps and records.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use rota_core::{Action, NoCandidate, Outcome, PoolState, Ulid};
use rota_providers::AccountAuth;
use rota_types::{ProviderId, UnixMs};

use crate::GatewayConfig;

/// What the request does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Another attempt ([`Attempts::next_candidate`] says on which account).
    Replay,
    /// Another attempt on the same account after this back-off (the provider is overloaded).
    ReplayAfter(Duration),
    /// The answer goes to the client.
    Answer,
}

/// One request's attempts so far.
#[derive(Debug)]
pub(super) struct Attempts {
    /// The whole body is held, so the request can be sent again; a body over the replay bound
    /// streams once (docs/rules.md §4): its one attempt's answer is the client's.
    replayable: bool,
    /// Accounts this request moved away from.
    tried: Vec<Ulid>,
    /// Moves to another account after an answer (the session's count).
    rotations: u32,
    /// The next attempt goes to this account again, with these credentials when held.
    again: Option<(Ulid, Option<AccountAuth>)>,
    /// Accounts that failed before headers once already: the next failure moves on.
    network_failed: HashSet<Ulid>,
    /// Accounts whose 401 was answered with a refresh (once each).
    refreshed: HashSet<Ulid>,
    /// Accounts whose token was refreshed for this request: a 401 on it again is not theirs.
    fresh_token: HashSet<Ulid>,
    /// Overloaded answers retried so far.
    overloads: u32,
}

impl Attempts {
    pub(super) fn new(replayable: bool) -> Self {
        Self {
            replayable,
            tried: Vec::new(),
            rotations: 0,
            again: None,
            network_failed: HashSet::new(),
            refreshed: HashSet::new(),
            fresh_token: HashSet::new(),
            overloads: 0,
        }
    }

    pub(super) fn rotations(&self) -> u32 {
        self.rotations
    }

    pub(super) fn replayable(&self) -> bool {
        self.replayable
    }

    /// The account of the next attempt: the same one again when the last answer asked for it,
    /// else rota-core's next untried candidate (the active account first) for the request's
    /// model, under the guard when it is on.
    pub(super) fn next_candidate(
        &mut self,
        state: &PoolState,
        provider: ProviderId,
        ns: &str,
        model: Option<&str>,
        plan_limits_only: bool,
        now: UnixMs,
    ) -> Result<(Ulid, Option<AccountAuth>), NoCandidate> {
        if let Some(again) = self.again.take() {
            return Ok(again);
        }
        let id = state.pick_candidate_guarded(
            provider,
            ns,
            &self.tried,
            model,
            plan_limits_only,
            now,
        )?;
        Ok((id, None))
    }

    /// The account has no usable credential (refresh refused or unavailable): skipped for this
    /// request, not counted as a rotation.
    pub(super) fn skip(&mut self, id: Ulid) {
        self.tried.push(id);
    }

    /// The request moves on from the account after its answer.
    pub(super) fn rotate(&mut self, id: Ulid) {
        self.tried.push(id);
        self.rotations += 1;
    }

    /// The outcome of a connect error or reset before headers: the first on this account for
    /// this request, or a repeat.
    pub(super) fn network_failure(&mut self, id: Ulid) -> Outcome {
        Outcome::NetworkError {
            first: self.network_failed.insert(id),
        }
    }

    /// After a network failure with a replayable body: the same account once
    /// ([`Action::RetrySame`]), else the next one.
    pub(super) fn after_network_failure(&mut self, action: Action, id: Ulid, auth: AccountAuth) {
        if action == Action::RetrySame {
            self.again = Some((id, Some(auth)));
        } else {
            self.skip(id);
        }
    }

    /// A 401 is answered with one refresh and a replay on the same account, once per account
    /// and only with a body that can be sent again.
    pub(super) fn refresh_first(&mut self, id: Ulid, status: u16) -> bool {
        status == 401 && self.replayable && self.refreshed.insert(id)
    }

    /// The refresh after a 401 worked: the same account again with the new token.
    pub(super) fn replay_with_fresh(&mut self, id: Ulid, fresh: AccountAuth) {
        self.fresh_token.insert(id);
        self.again = Some((id, Some(fresh)));
    }

    /// The outcome of an error answer in this request's context (rota-core's rules): a 401 on
    /// a token refreshed for it, the guard, a model cap that names no model.
    pub(super) fn error_outcome(
        &self,
        id: Ulid,
        classified: Outcome,
        plan_limits_only: bool,
        model: Option<&str>,
    ) -> Outcome {
        let classified = if self.fresh_token.contains(&id) {
            classified.on_fresh_token()
        } else {
            classified
        };
        classified.under_guard(plan_limits_only).for_model(model)
    }

    /// What the request does after an error answer whose recorded outcome asked for `action`:
    /// an overloaded provider is retried on the same account after a bounded back-off; a
    /// replay happens only with a body that can be sent again.
    pub(super) fn after_answer(
        &mut self,
        outcome: &Outcome,
        action: Action,
        id: Ulid,
        auth: AccountAuth,
        config: &GatewayConfig,
        headers: &HeaderMap,
    ) -> Next {
        if !self.replayable {
            // The account's cooldown is recorded either way; the client gets this answer.
            return Next::Answer;
        }
        if matches!(outcome, Outcome::Overloaded { .. })
            && let Some(delay) = config
                .overload()
                .delay(self.overloads, retry_after(headers))
        {
            self.overloads += 1;
            self.again = Some((id, Some(auth)));
            return Next::ReplayAfter(delay);
        }
        match action {
            Action::TryNext => {
                self.rotate(id);
                Next::Replay
            }
            Action::RetrySame => {
                self.again = Some((id, Some(auth)));
                Next::Replay
            }
            Action::Done | Action::ReturnToClient => Next::Answer,
        }
    }

    /// A transient overload (529/503, a "temporarily limiting" 429) the gateway stopped
    /// retrying reaches the client with a `retry-after` when the provider sent none, so the
    /// client backs off instead of retrying at once or giving up.
    pub(super) fn with_retry_after(
        &self,
        outcome: &Outcome,
        mut headers: HeaderMap,
        config: &GatewayConfig,
    ) -> HeaderMap {
        if matches!(outcome, Outcome::Overloaded { .. })
            && !headers.contains_key(header::RETRY_AFTER)
        {
            let secs = config.overload().client_retry_after_secs(self.overloads);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers
    }
}

/// The provider's `retry-after` in seconds (fractions allowed), when it sent a usable one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ulid = Ulid::from_parts(1, 1);

    fn auth() -> AccountAuth {
        AccountAuth {
            record_id: A.to_string(),
            identity: rota_types::AccountIdentity::default(),
            secrets: rota_store::SecretBundle::new("token"),
        }
    }

    fn config(retries: u32, backoff_ms: u64) -> GatewayConfig {
        let mut c = GatewayConfig::new("/nonexistent");
        c.overload_retries = retries;
        c.overload_backoff = Duration::from_millis(backoff_ms);
        c
    }

    /// An overloaded answer is retried on the same account with a doubling back-off, as often
    /// as configured; a provider asking for a long pause, or a body that cannot be sent again,
    /// gets the client the answer at once.
    #[test]
    fn overload_delay_is_bounded() {
        let c = config(2, 100);
        let overloaded = Outcome::Overloaded { status: 529 };
        let action = overloaded.action();
        let none = HeaderMap::new();
        let mut a = Attempts::new(true);
        let ms = |n| Next::ReplayAfter(Duration::from_millis(n));
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &none),
            ms(100)
        );
        assert_eq!(
            a.next_candidate(
                &PoolState::default(),
                ProviderId::Anthropic,
                "default",
                None,
                false,
                0
            )
            .unwrap()
            .0,
            A,
            "the same account again"
        );
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &none),
            ms(200)
        );
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &none),
            Next::Answer
        );
        // The client is told to wait what the gateway would have waited next.
        let told = a.with_retry_after(&overloaded, HeaderMap::new(), &config(2, 1_000));
        assert_eq!(told[header::RETRY_AFTER], "4");
        assert_eq!(a.rotations(), 0, "an overload is no rotation");

        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        let mut a = Attempts::new(true);
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &h),
            ms(1_000),
            "a short retry-after is honoured"
        );
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        let mut a = Attempts::new(true);
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &h),
            Next::Answer,
            "a long pause is the client's call"
        );
        let mut a = Attempts::new(false);
        assert_eq!(
            a.after_answer(&overloaded, action, A, auth(), &c, &none),
            Next::Answer,
            "a streamed-once body is not sent again"
        );
    }

    /// The per-request memory of the table's request column: a 401 is refreshed once per
    /// account, a 401 on the fresh token is the request's, a network failure is retried once on
    /// the same account, a 429 rotates.
    #[test]
    fn one_request_remembers_what_it_spent() {
        let c = config(2, 100);
        let none = HeaderMap::new();
        let mut a = Attempts::new(true);
        assert!(a.refresh_first(A, 401));
        assert!(
            !a.refresh_first(A, 401),
            "one refresh per account and request"
        );
        assert!(
            !Attempts::new(false).refresh_first(A, 401),
            "no replay without the body"
        );
        assert_eq!(
            a.error_outcome(A, Outcome::AuthFailed, true, None),
            Outcome::AuthFailed
        );
        a.replay_with_fresh(A, auth());
        let (again, kept) = a
            .next_candidate(
                &PoolState::default(),
                ProviderId::Anthropic,
                "default",
                None,
                false,
                0,
            )
            .unwrap();
        assert_eq!(
            (again, kept),
            (A, Some(auth())),
            "the replay goes out with the fresh token"
        );
        assert_eq!(
            a.error_outcome(A, Outcome::AuthFailed, true, None),
            Outcome::RefusedAfterRefresh
        );

        let first = a.network_failure(A);
        assert_eq!(first, Outcome::NetworkError { first: true });
        assert_eq!(a.network_failure(A), Outcome::NetworkError { first: false });

        let limited = Outcome::RateLimited(rota_core::RateLimitSignal::default());
        assert_eq!(
            a.after_answer(&limited, limited.action(), A, auth(), &c, &none),
            Next::Replay
        );
        assert_eq!(a.rotations(), 1);
        let mut one = PoolState::default();
        one.upsert(
            ProviderId::Anthropic,
            "default",
            rota_core::NewLogin::default(),
            A,
            0,
        )
        .unwrap();
        assert!(
            matches!(
                a.next_candidate(&one, ProviderId::Anthropic, "default", None, false, 1),
                Err(NoCandidate::Exhausted { .. })
            ),
            "the account the request rotated away from is not picked again"
        );
    }
}
