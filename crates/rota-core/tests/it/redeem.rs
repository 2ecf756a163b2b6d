//! Reset-credit redeem intents: one request id per intent, resumed after an interruption, a
//! caller that waited takes the finished result, a spent credit ends the rate-limit cooldown.

use rota_core::{
    CooldownPolicy, NewLogin, Outcome, PendingRedeem, PoolState, RateLimitSignal, RedeemPlan, Ulid,
};
use rota_types::{ProviderId, RedeemCode, SwitchReason};

const P: ProviderId = ProviderId::OpenAi;
const NS: &str = "default";
const T0: i64 = 1_800_000_000_000;

fn pool() -> (PoolState, Ulid) {
    let mut s = PoolState::default();
    let id = Ulid::from_parts(1, 1);
    s.upsert(P, NS, NewLogin::default(), id, T0).unwrap();
    (s, id)
}

fn intent(request: &str) -> PendingRedeem {
    PendingRedeem {
        credit_id: "rc_1".into(),
        request_id: request.into(),
        started_at: T0,
    }
}

#[test]
fn an_intent_is_kept_until_answered_and_the_first_one_wins() {
    let (mut s, id) = pool();
    assert_eq!(s.redeem_plan(P, id, T0).unwrap(), RedeemPlan::Fresh);
    let kept = s.begin_redeem(P, id, intent("req-1")).unwrap();
    assert_eq!(kept.request_id, "req-1");
    // A second process that raced to begin gets the first intent back.
    let kept = s.begin_redeem(P, id, intent("req-2")).unwrap();
    assert_eq!(kept.request_id, "req-1");
    assert_eq!(
        s.redeem_plan(P, id, T0 + 5).unwrap(),
        RedeemPlan::Resume(intent("req-1"))
    );
    // Survives a round trip through the state file.
    let s2: PoolState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(
        s2.redeem_plan(P, id, T0 + 5).unwrap(),
        RedeemPlan::Resume(intent("req-1"))
    );
}

#[test]
fn an_answer_closes_the_intent_ends_the_cooldown_and_is_logged_once() {
    let (mut s, id) = pool();
    s.record_outcome(
        P,
        id,
        &Outcome::RateLimited(RateLimitSignal {
            resets_at: vec![T0 + 3_600_000],
            ..RateLimitSignal::default()
        }),
        &CooldownPolicy::default(),
        T0,
    )
    .unwrap();
    assert!(s.record(P, id).unwrap().is_cooling(T0 + 10));
    s.begin_redeem(P, id, intent("req-1")).unwrap();
    let logged = s
        .finish_redeem(P, id, "req-1", RedeemCode::Reset, false, T0 + 10)
        .unwrap();
    assert_eq!(logged.reason, SwitchReason::ResetCredit);
    assert_eq!(
        logged.reason_text(),
        "reset credit redeemed: both windows reset"
    );
    assert_eq!(logged.from.as_deref(), Some(id.to_string().as_str()));
    let r = s.record(P, id).unwrap();
    assert!(r.pending_redeem.is_none());
    assert!(!r.is_cooling(T0 + 10));
    assert_eq!(s.switch_log.back(), Some(&logged));
    // A 429 answered before the redeem landed (a request in flight) is about the cleared
    // windows: no cooldown again.
    s.record_outcome(
        P,
        id,
        &Outcome::RateLimited(RateLimitSignal {
            resets_at: vec![T0 + 3_600_000],
            ..RateLimitSignal::default()
        }),
        &CooldownPolicy::default(),
        T0 + 8,
    )
    .unwrap();
    assert!(!s.record(P, id).unwrap().is_cooling(T0 + 12));
    // A caller asked before that answer takes it; one asked later starts afresh.
    match s.redeem_plan(P, id, T0 + 5).unwrap() {
        RedeemPlan::Coalesced(last) => assert_eq!(last.code, RedeemCode::Reset),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.redeem_plan(P, id, T0 + 11).unwrap(), RedeemPlan::Fresh);
    // Nothing spent: the credit is kept, the answer is still logged (the user asked for it).
    let before = s.switch_log.len();
    s.begin_redeem(P, id, intent("req-2")).unwrap();
    let logged = s
        .finish_redeem(P, id, "req-2", RedeemCode::NothingToReset, true, T0 + 20)
        .unwrap();
    assert_eq!(s.switch_log.len(), before + 1);
    assert_eq!(
        logged.reason_text(),
        "nothing to reset: the reset credit was kept (automatic)"
    );
    assert!(s.record(P, id).unwrap().pending_redeem.is_none());
}
