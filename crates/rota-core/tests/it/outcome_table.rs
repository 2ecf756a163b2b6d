//! The rotation table of docs/rules.md §4 as one `check(input, expect)` table.
//!
//! Each case starts from a pool of three accounts (order `[a, b, c]`, `a` active), optionally
//! applies earlier outcomes, then applies one outcome to `a` and checks the request action, the
//! cooldown, the order, the active account and the switch reason.

use rota_core::{Action, CooldownPolicy, NewLogin, Outcome, PoolState, RateLimitSignal, Ulid};
use rota_types::{ProviderId, SwitchReason, WindowKind};

const P: ProviderId = ProviderId::Anthropic;
const NS: &str = "default";
const T0: i64 = 1_800_000_000_000;
const S: i64 = 1_000;
const MIN: i64 = 60 * S;

fn id(c: char) -> Ulid {
    Ulid::from_parts(1, u128::from(c))
}

fn pool() -> PoolState {
    let mut s = PoolState::default();
    for c in ['c', 'b', 'a'] {
        s.upsert(P, NS, NewLogin::default(), id(c), T0 - MIN)
            .unwrap();
    }
    assert_eq!(s.ordered_ids(P, NS), vec![id('a'), id('b'), id('c')]);
    s
}

struct Case {
    name: &'static str,
    /// Outcomes applied to `a` first, each at `(offset from T0, outcome)`.
    before: Vec<(i64, Outcome)>,
    outcome: Outcome,
    /// When the checked outcome happens, relative to T0.
    at: i64,
}

#[derive(Debug, PartialEq)]
struct Expect {
    action: Action,
    /// `a`'s cooldown end relative to T0 (None: not cooling).
    cooldown: Option<i64>,
    order: &'static str,
    active: char,
    reason: Option<SwitchReason>,
    needs_reauth: bool,
    success: u64,
    failure: u64,
    status: Option<u16>,
}

fn check(case: Case, expect: Expect) {
    let policy = CooldownPolicy::default();
    let mut s = pool();
    for (at, o) in &case.before {
        s.record_outcome(P, id('a'), o, &policy, T0 + at).unwrap();
        // Keep `a` in front and active between steps so each step sees the same pool shape.
        s.set_active(P, NS, id('a'), SwitchReason::ManualCli, T0 + at)
            .unwrap();
    }
    let now = T0 + case.at;
    let effect = s
        .record_outcome(P, id('a'), &case.outcome, &policy, now)
        .unwrap();
    let r = s.record(P, id('a')).unwrap();
    let order: String = s
        .ordered_ids(P, NS)
        .iter()
        .map(|x| ['a', 'b', 'c'].into_iter().find(|c| id(*c) == *x).unwrap())
        .collect();
    let active = s.active_id(P, NS, now).unwrap();
    let got = Expect {
        action: effect.action,
        cooldown: r.health.cooldown_until.filter(|u| *u > now).map(|u| u - T0),
        order: Box::leak(order.into_boxed_str()),
        active: ['a', 'b', 'c']
            .into_iter()
            .find(|c| id(*c) == active)
            .unwrap(),
        reason: effect.switched.as_ref().map(|e| e.reason),
        needs_reauth: r.health.needs_reauth,
        success: r.health.success_count,
        failure: r.health.failure_count,
        status: r.health.last_status_code,
    };
    assert_eq!(got, expect, "case: {}", case.name);
    assert_eq!(
        effect.cooldown_until.map(|u| u - T0),
        expect.cooldown,
        "case: {}",
        case.name
    );
    if let Some(e) = effect.switched {
        assert_eq!(s.switch_log.back(), Some(&e), "case: {}", case.name);
        assert_eq!(e.from, Some(id('a').to_string()));
    }
}

fn limited(resets: &[i64], retry_after: Option<i64>, window: Option<WindowKind>) -> Outcome {
    Outcome::RateLimited(RateLimitSignal {
        resets_at: resets.iter().map(|r| T0 + r).collect(),
        retry_after_ms: retry_after,
        window,
        model: None,
    })
}

fn rotated(cooldown: Option<i64>, reason: SwitchReason, failure: u64) -> Expect {
    Expect {
        action: Action::TryNext,
        cooldown,
        order: "bca",
        active: 'b',
        reason: Some(reason),
        needs_reauth: false,
        success: 0,
        failure,
        status: Some(429),
    }
}

fn stayed(action: Action, status: Option<u16>) -> Expect {
    Expect {
        action,
        cooldown: None,
        order: "abc",
        active: 'a',
        reason: None,
        needs_reauth: false,
        success: 0,
        failure: 1,
        status,
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one table: a row per rule reads better than split tests
fn outcome_table() {
    let case = |name, before, outcome, at| Case {
        name,
        before,
        outcome,
        at,
    };

    check(
        case(
            "success counts, nothing moves",
            vec![],
            Outcome::Success { status: 200 },
            0,
        ),
        Expect {
            action: Action::Done,
            failure: 0,
            success: 1,
            status: Some(200),
            ..stayed(Action::Done, None)
        },
    );
    check(
        case(
            "429 with a 5h reset: cooldown until it, rotate",
            vec![],
            limited(&[2 * 3600 * S], None, Some(WindowKind::FiveHour)),
            0,
        ),
        rotated(Some(2 * 3600 * S), SwitchReason::RateLimitedFiveHour, 1),
    );
    check(
        case(
            "several exhausted windows: the latest reset",
            vec![],
            limited(
                &[3600 * S, 3 * 86_400 * S, 7200 * S],
                Some(30 * S),
                Some(WindowKind::SevenDay),
            ),
            0,
        ),
        rotated(Some(3 * 86_400 * S), SwitchReason::RateLimitedSevenDay, 1),
    );
    check(
        case(
            "provider reset beats retry-after",
            vec![],
            limited(&[10 * MIN], Some(5 * S), None),
            0,
        ),
        rotated(Some(10 * MIN), SwitchReason::RateLimited, 1),
    );
    check(
        case(
            "no reset: retry-after",
            vec![],
            limited(&[], Some(90 * S), None),
            0,
        ),
        rotated(Some(90 * S), SwitchReason::RateLimited, 1),
    );
    check(
        case(
            "a reset in the past is no reset",
            vec![],
            limited(&[-S], Some(90 * S), None),
            0,
        ),
        rotated(Some(90 * S), SwitchReason::RateLimited, 1),
    );
    check(
        case(
            "nothing at all: default 30 s",
            vec![],
            limited(&[], None, None),
            0,
        ),
        rotated(Some(30 * S), SwitchReason::RateLimited, 1),
    );
    check(
        case(
            "default grows on repeats",
            vec![
                (0, limited(&[], None, None)),
                (40 * S, limited(&[], None, None)),
            ],
            limited(&[], None, None),
            2 * MIN,
        ),
        rotated(Some(2 * MIN + 120 * S), SwitchReason::RateLimited, 3),
    );
    check(
        case(
            "default growth is capped",
            (0..12)
                .map(|i| (i * 20 * MIN, limited(&[], None, None)))
                .collect(),
            limited(&[], None, None),
            300 * MIN,
        ),
        rotated(Some(310 * MIN), SwitchReason::RateLimited, 13),
    );
    check(
        case(
            "a success resets the repeat counter",
            vec![
                (0, limited(&[], None, None)),
                (40 * S, limited(&[], None, None)),
                (3 * MIN, Outcome::Success { status: 200 }),
            ],
            limited(&[], None, None),
            4 * MIN,
        ),
        Expect {
            success: 1,
            ..rotated(Some(4 * MIN + 30 * S), SwitchReason::RateLimited, 3)
        },
    );
    check(
        case(
            "never shortened by a later shorter signal",
            vec![(
                0,
                limited(&[5 * 3600 * S], None, Some(WindowKind::FiveHour)),
            )],
            limited(&[], Some(10 * S), None),
            MIN,
        ),
        rotated(Some(5 * 3600 * S), SwitchReason::RateLimited, 2),
    );
    check(
        case(
            "a later longer signal extends",
            vec![(0, limited(&[], Some(60 * S), None))],
            limited(&[86_400 * S], None, Some(WindowKind::SevenDay)),
            10 * S,
        ),
        rotated(Some(86_400 * S), SwitchReason::RateLimitedSevenDay, 2),
    );
    check(
        case(
            "feature gate 429: no cooldown, returned as is",
            vec![],
            Outcome::FeatureGated,
            0,
        ),
        stayed(Action::ReturnToClient, Some(429)),
    );
    check(
        case(
            "529 overloaded: no rotation",
            vec![],
            Outcome::Overloaded { status: 529 },
            0,
        ),
        stayed(Action::ReturnToClient, Some(529)),
    );
    check(
        case(
            "503: no rotation",
            vec![],
            Outcome::Overloaded { status: 503 },
            0,
        ),
        stayed(Action::ReturnToClient, Some(503)),
    );
    check(
        case(
            "other 4xx: passed through",
            vec![],
            Outcome::OtherError { status: 400 },
            0,
        ),
        stayed(Action::ReturnToClient, Some(400)),
    );
    check(
        case(
            "network error, first: retry the same account",
            vec![],
            Outcome::NetworkError { first: true },
            0,
        ),
        stayed(Action::RetrySame, None),
    );
    check(
        case(
            "network error again: next candidate, no cooldown, no reorder",
            vec![],
            Outcome::NetworkError { first: false },
            0,
        ),
        stayed(Action::TryNext, None),
    );
    check(
        case(
            "401 after refresh: needsReauth, 5 min, rotate",
            vec![],
            Outcome::AuthFailed,
            0,
        ),
        Expect {
            needs_reauth: true,
            status: Some(401),
            ..rotated(Some(5 * MIN), SwitchReason::AuthFailed, 1)
        },
    );
    check(
        case(
            "401 right after a successful refresh: the request's fault, passed on, no mark",
            vec![],
            Outcome::RefusedAfterRefresh,
            0,
        ),
        stayed(Action::ReturnToClient, Some(401)),
    );
    check(
        case(
            "auth cooldown does not shorten a rate-limit cooldown",
            vec![(0, limited(&[3600 * S], None, Some(WindowKind::FiveHour)))],
            Outcome::AuthFailed,
            MIN,
        ),
        Expect {
            needs_reauth: true,
            status: Some(401),
            ..rotated(Some(3600 * S), SwitchReason::AuthFailed, 2)
        },
    );
    check(
        case(
            "a success clears needsReauth and the auth cooldown",
            vec![(0, Outcome::AuthFailed)],
            Outcome::Success { status: 200 },
            MIN,
        ),
        Expect {
            action: Action::Done,
            success: 1,
            failure: 1,
            status: Some(200),
            ..stayed(Action::Done, None)
        },
    );
    check(
        case(
            "a success keeps a rate-limit cooldown",
            vec![(0, limited(&[3600 * S], None, None))],
            Outcome::Success { status: 200 },
            MIN,
        ),
        Expect {
            action: Action::Done,
            success: 1,
            failure: 1,
            status: Some(200),
            cooldown: Some(3600 * S),
            ..stayed(Action::Done, None)
        },
    );
}

#[test]
fn rotation_skips_cooling_accounts_and_only_the_active_one_moves_the_active() {
    let policy = CooldownPolicy::default();
    let mut s = pool();
    // b is cooling and next in line: a's 429 skips it and makes c active; order [b, c, a].
    s.record_outcome(P, id('b'), &limited(&[3600 * S], None, None), &policy, T0)
        .unwrap();
    for x in ['c', 'b', 'a'] {
        s.set_active(P, NS, id(x), SwitchReason::ManualCli, T0)
            .unwrap();
    }
    assert_eq!(s.ordered_ids(P, NS), vec![id('a'), id('b'), id('c')]);
    let e = s
        .record_outcome(P, id('a'), &limited(&[], None, None), &policy, T0)
        .unwrap();
    assert_eq!(s.active_id(P, NS, T0), Some(id('c')));
    assert_eq!(e.switched.unwrap().to, id('c').to_string());
    assert_eq!(s.ordered_ids(P, NS), vec![id('b'), id('c'), id('a')]);
    // A late 429 of a request that ran on b (not active) moves b back but keeps c active.
    let e = s
        .record_outcome(P, id('b'), &limited(&[], None, None), &policy, T0)
        .unwrap();
    assert_eq!(e.switched, None);
    assert_eq!(s.active_id(P, NS, T0), Some(id('c')));
    assert_eq!(s.ordered_ids(P, NS), vec![id('c'), id('a'), id('b')]);
}

#[test]
fn single_account_429_stays_active_and_fails_fast() {
    let policy = CooldownPolicy::default();
    let mut s = PoolState::default();
    s.upsert(P, NS, NewLogin::default(), id('a'), T0).unwrap();
    let e = s
        .record_outcome(P, id('a'), &limited(&[MIN], None, None), &policy, T0)
        .unwrap();
    assert_eq!((e.action, e.switched), (Action::TryNext, None));
    assert_eq!(s.active_id(P, NS, T0), Some(id('a')));
    let err = s.pick_next_candidate(P, NS, &[id('a')], T0).unwrap_err();
    assert_eq!(err.retry_after_ms(T0), Some(MIN));
    assert!(
        err.to_string()
            .starts_with("the only anthropic account is rate-limited until")
    );
}

#[test]
fn default_cooldown_schedule() {
    let p = CooldownPolicy::default();
    let got: Vec<i64> = (0..7).map(|s| p.default_for(s) / S).collect();
    assert_eq!(got, vec![30, 60, 120, 240, 480, 600, 600]);
    assert_eq!(p.default_for(u32::MAX), 600 * S);
    let odd = CooldownPolicy {
        default_ms: 60 * S,
        max_default_ms: 10 * S,
        auth_ms: 0,
    };
    assert_eq!(odd.default_for(3), 60 * S);
}

/// Copilot's 402 `quota_exceeded` carries no reset: the account cools down until the reset its
/// own signal names, else the reset date its last usage reported, else the first of next month
/// (UTC); it rotates with its own switch reason and is never shortened.
#[test]
fn quota_exhausted_cools_until_the_quota_reset() {
    use rota_types::{CopilotUsage, ProviderUsage, UsageSnapshot, UsageWindow};
    const C: ProviderId = ProviderId::GithubCopilot;
    let policy = CooldownPolicy::default();
    let fresh = || {
        let mut s = PoolState::default();
        for c in ['b', 'a'] {
            s.upsert(C, NS, NewLogin::default(), id(c), T0 - MIN)
                .unwrap();
        }
        s
    };
    let quota = |resets_at| Outcome::QuotaExhausted { resets_at };
    // 2027-02-01T00:00:00Z: T0 is 2027-01-15T08:00Z.
    let next_month = T0 + 1_440_000_000;

    // Nothing known: the first of next month.
    let mut s = fresh();
    let effect = s
        .record_outcome(C, id('a'), &quota(None), &policy, T0)
        .unwrap();
    assert_eq!(effect.action, Action::TryNext);
    assert_eq!(effect.cooldown_until, Some(next_month));
    let r = s.record(C, id('a')).unwrap();
    assert_eq!(r.cooldown_kind, Some(rota_core::CooldownKind::Quota));
    assert_eq!(r.health.last_status_code, Some(402));
    assert_eq!(
        effect.switched.map(|e| (e.reason, e.to)),
        Some((SwitchReason::QuotaExhausted, id('b').to_string()))
    );
    assert_eq!(s.active_id(C, NS, T0), Some(id('b')));

    // December rolls over into January of the next year.
    let mut s = fresh();
    let december = 1_827_619_200_000; // 2027-12-01T00:00:00Z
    let effect = s
        .record_outcome(C, id('a'), &quota(None), &policy, december)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(1_830_297_600_000)); // 2028-01-01

    // The reset date of the account's last usage (copilot_internal/user or the quota headers).
    let mut s = fresh();
    let reset = T0 + 10 * 86_400 * S;
    s.record_usage(
        C,
        id('a'),
        UsageSnapshot {
            fetched_at: T0 - MIN,
            status: None,
            windows: vec![UsageWindow::new(WindowKind::Premium, 100.0, Some(reset))],
            usage: ProviderUsage::GithubCopilot(CopilotUsage::default()),
        },
    )
    .unwrap();
    let effect = s
        .record_outcome(C, id('a'), &quota(None), &policy, T0)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(reset));
    // A reset in the outcome itself wins; one in the past is ignored.
    let mut s = fresh();
    let effect = s
        .record_outcome(C, id('a'), &quota(Some(T0 + 3 * 86_400 * S)), &policy, T0)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(T0 + 3 * 86_400 * S));
    let mut s = fresh();
    let effect = s
        .record_outcome(C, id('a'), &quota(Some(T0 - S)), &policy, T0)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(next_month));
    // A longer cooldown already running is kept.
    let mut s = fresh();
    s.record_outcome(
        C,
        id('a'),
        &limited(&[90 * 86_400 * S], None, None),
        &policy,
        T0,
    )
    .unwrap();
    let effect = s
        .record_outcome(C, id('a'), &quota(None), &policy, T0)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(T0 + 90 * 86_400 * S));
}

/// Copilot's session (5-hour) and weekly 429s, their wait parsed from the message into a reset.
#[test]
fn copilot_session_and_weekly_limits_rotate_with_their_window() {
    check(
        Case {
            name: "user_global_rate_limited: retry after 840 s",
            before: vec![],
            outcome: limited(&[840 * S], Some(2 * S), Some(WindowKind::FiveHour)),
            at: 0,
        },
        rotated(Some(840 * S), SwitchReason::RateLimitedFiveHour, 1),
    );
    check(
        Case {
            name: "user_weekly_rate_limited",
            before: vec![],
            outcome: limited(&[2 * 86_400 * S], None, Some(WindowKind::SevenDay)),
            at: 0,
        },
        rotated(Some(2 * 86_400 * S), SwitchReason::RateLimitedSevenDay, 1),
    );
}

/// The request column alone ([`Outcome::action`], what the gateway asks for outcomes it only
/// counts) answers what [`PoolState::record_outcome`] answers, for every outcome, and
/// [`Outcome::last_status`] (what its batched counters record) is the status it leaves.
#[test]
fn counter_only_actions_match_record_outcome() {
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
            resets_at: Some(T0 + 60 * MIN),
        },
    ];
    for o in outcomes {
        let mut s = pool();
        let recorded = s
            .record_outcome(P, id('a'), &o, &CooldownPolicy::default(), T0)
            .unwrap()
            .action;
        assert_eq!(o.action(), recorded, "{o:?}");
        // The batched counters leave the same last status (none before: a fresh pool).
        let last = s.record(P, id('a')).unwrap().health.last_status_code;
        assert_eq!(o.last_status(), last, "{o:?}");
    }
}

/// What one request's own history does to an answer's outcome before the table applies.
#[test]
fn request_context_shapes_the_outcome() {
    // A 401 on a token refreshed for this request is the request's fault: no re-login mark.
    assert_eq!(
        Outcome::AuthFailed.on_fresh_token(),
        Outcome::RefusedAfterRefresh
    );
    assert_eq!(
        Outcome::OtherError { status: 400 }.on_fresh_token(),
        Outcome::OtherError { status: 400 }
    );
    // The guard off: a third-party-billing 400 and an overage success are ordinary answers.
    let overage = Outcome::UsingExtraUsage {
        status: 200,
        resets_at: None,
    };
    assert_eq!(overage.clone().under_guard(true), overage);
    assert_eq!(overage.under_guard(false), Outcome::Success { status: 200 });
    assert_eq!(
        Outcome::ExtraUsageBilled.under_guard(true),
        Outcome::ExtraUsageBilled
    );
    assert_eq!(
        Outcome::ExtraUsageBilled.under_guard(false),
        Outcome::OtherError { status: 400 }
    );
    // A model cap whose claim names no model caps the request's model; a named one stays.
    let unnamed = Outcome::RateLimited(RateLimitSignal {
        model: Some(String::new()),
        ..RateLimitSignal::default()
    });
    let for_fable = |o: Outcome| match o.for_model(Some("claude-fable-4-5")) {
        Outcome::RateLimited(s) => s.model,
        other => panic!("not a 429: {other:?}"),
    };
    assert_eq!(
        for_fable(unnamed.clone()).as_deref(),
        Some("claude-fable-4-5")
    );
    assert_eq!(
        for_fable(Outcome::RateLimited(RateLimitSignal {
            model: Some("Fable".into()),
            ..RateLimitSignal::default()
        }))
        .as_deref(),
        Some("Fable")
    );
    assert_eq!(
        for_fable(Outcome::RateLimited(RateLimitSignal::default())),
        None,
        "an account-wide 429 stays account-wide"
    );
    match unnamed.for_model(None) {
        Outcome::RateLimited(s) => assert_eq!(s.model, None, "no model known: the account's"),
        other => panic!("not a 429: {other:?}"),
    }
}

/// An account removed mid-request is never retried: a success is done, a refusal moves on,
/// anything else is the client's answer.
#[test]
fn vanished_account_is_never_retried() {
    let mut gone = pool();
    gone.remove_record(P, id('a'), T0).unwrap();
    for (o, expect) in [
        (Outcome::Success { status: 200 }, Action::Done),
        (
            Outcome::RateLimited(RateLimitSignal::default()),
            Action::TryNext,
        ),
        (Outcome::AuthFailed, Action::TryNext),
        (
            Outcome::NetworkError { first: true },
            Action::ReturnToClient,
        ),
        (Outcome::Overloaded { status: 529 }, Action::ReturnToClient),
    ] {
        assert!(
            gone.record_outcome(P, id('a'), &o, &CooldownPolicy::default(), T0)
                .is_err(),
            "the account is gone"
        );
        assert_eq!(o.action_without_account(), expect, "{o:?}");
    }
}

/// An overloaded provider: a doubling back-off on the same account, capped, as often as
/// configured; a provider's longer `retry-after` ends the retries (the client's call).
#[test]
fn overload_back_off_is_bounded() {
    use std::time::Duration;

    use rota_core::{MAX_OVERLOAD_WAIT, OverloadPolicy};

    let ms = Duration::from_millis;
    let p = OverloadPolicy {
        retries: 2,
        backoff: ms(100),
    };
    assert_eq!(p.delay(0, None), Some(ms(100)));
    assert_eq!(p.delay(1, None), Some(ms(200)));
    assert_eq!(p.delay(2, None), None, "retries used up");
    assert_eq!(
        p.delay(0, Some(ms(1_000))),
        Some(ms(1_000)),
        "theirs when longer"
    );
    assert_eq!(p.delay(1, Some(ms(50))), Some(ms(200)), "ours when longer");
    assert_eq!(p.delay(0, Some(MAX_OVERLOAD_WAIT)), Some(MAX_OVERLOAD_WAIT));
    assert_eq!(
        p.delay(0, Some(ms(30_000))),
        None,
        "a long pause is the client's call"
    );
    let slow = OverloadPolicy {
        retries: 9,
        backoff: ms(1_500),
    };
    assert_eq!(slow.delay(3, None), Some(MAX_OVERLOAD_WAIT), "capped");
    assert_eq!(
        OverloadPolicy { retries: 0, ..p }.delay(0, None),
        None,
        "0 = fail fast"
    );
    // The client's retry-after: the next back-off in whole seconds, 1 to 60.
    assert_eq!(p.client_retry_after_secs(2), 1);
    assert_eq!(slow.client_retry_after_secs(2), 6);
    assert_eq!(slow.client_retry_after_secs(40), 60);
}
