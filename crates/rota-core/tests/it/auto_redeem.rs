//! The automatic reset-credit redeem's decision: only when every account is exhausted, the
//! credit that expires first, once per exhaustion (recorded before the call, kept across a
//! reload of the state), again for a later exhaustion.

use rota_core::{
    AutoRedeem, AutoRedeemSkip, CooldownPolicy, NewLogin, Outcome, PendingRedeem, PoolState,
    RateLimitSignal, Ulid,
};
use rota_types::{ProviderId, ResetCredit, ResetCredits};

const P: ProviderId = ProviderId::OpenAi;
const NS: &str = "default";
const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn pool(n: u64) -> (PoolState, Vec<Ulid>) {
    let mut s = PoolState::default();
    let ids: Vec<Ulid> = (1..=n).map(|i| Ulid::from_parts(i, 1)).collect();
    for id in &ids {
        s.upsert(P, NS, NewLogin::default(), *id, T0).unwrap();
    }
    (s, ids)
}

fn credits(s: &mut PoolState, id: Ulid, expiries: &[i64]) {
    s.record_reset_credits(
        P,
        id,
        ResetCredits {
            credits: expiries
                .iter()
                .enumerate()
                .map(|(i, at)| ResetCredit {
                    id: format!("rc_{id}_{i}"),
                    expires_at: Some(*at),
                })
                .collect(),
            fetched_at: T0,
        },
    )
    .unwrap();
}

fn limit(s: &mut PoolState, id: Ulid, at: i64) {
    s.record_outcome(
        P,
        id,
        &Outcome::RateLimited(RateLimitSignal {
            resets_at: vec![at + 5 * HOUR],
            ..RateLimitSignal::default()
        }),
        &CooldownPolicy::default(),
        at,
    )
    .unwrap();
}

#[test]
fn nothing_while_any_account_can_serve() {
    let (mut s, ids) = pool(2);
    credits(&mut s, ids[0], &[T0 + DAY]);
    credits(&mut s, ids[1], &[T0 + DAY]);
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0),
        AutoRedeem::Skip(AutoRedeemSkip::NotExhausted)
    );
    limit(&mut s, ids[0], T0);
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 1),
        AutoRedeem::Skip(AutoRedeemSkip::NotExhausted)
    );
    assert_eq!(
        PoolState::default().auto_redeem_decision(P, NS, T0),
        AutoRedeem::Skip(AutoRedeemSkip::NoAccounts)
    );
}

#[test]
fn a_dry_pool_redeems_the_credit_that_expires_first_once_per_exhaustion() {
    let (mut s, ids) = pool(3);
    credits(&mut s, ids[0], &[T0 + 3 * DAY]);
    credits(&mut s, ids[1], &[T0 + DAY, T0 + 5 * DAY]);
    // ids[2] has no credit.
    limit(&mut s, ids[0], T0);
    limit(&mut s, ids[1], T0 + 10);
    limit(&mut s, ids[2], T0 + 20);
    let due = s.auto_redeem_decision(P, NS, T0 + 30);
    assert_eq!(
        due,
        AutoRedeem::Redeem {
            record: ids[1],
            credit_id: format!("rc_{}_0", ids[1]),
            episode: T0 + 20,
        }
    );
    // The first caller records the episode; every later one (another process reading the
    // state file, a restart) skips it.
    assert_eq!(s.begin_auto_redeem(P, NS, T0 + 30), due);
    let reloaded: PoolState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(
        reloaded.auto_redeem_decision(P, NS, T0 + 40),
        AutoRedeem::Skip(AutoRedeemSkip::AlreadyRedeemed)
    );
    let mut again = reloaded.clone();
    assert_eq!(
        again.begin_auto_redeem(P, NS, T0 + 40),
        AutoRedeem::Skip(AutoRedeemSkip::AlreadyRedeemed)
    );
    assert_eq!(again, reloaded, "a skip writes nothing");

    // The credit cleared ids[1]'s windows; later it runs dry again: a new exhaustion.
    s.finish_redeem(P, ids[1], "", rota_types::RedeemCode::Reset, true, T0 + 50)
        .unwrap();
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 60),
        AutoRedeem::Skip(AutoRedeemSkip::NotExhausted)
    );
    credits(&mut s, ids[1], &[T0 + 5 * DAY]);
    limit(&mut s, ids[1], T0 + HOUR);
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + HOUR + 1),
        AutoRedeem::Redeem {
            record: ids[0],
            credit_id: format!("rc_{}_0", ids[0]),
            episode: T0 + HOUR,
        }
    );
}

#[test]
fn no_redeem_without_a_usable_credit_or_while_one_is_pending() {
    let (mut s, ids) = pool(2);
    limit(&mut s, ids[0], T0);
    limit(&mut s, ids[1], T0);
    // Never fetched: fetch first.
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 1),
        AutoRedeem::Skip(AutoRedeemSkip::CreditsUnknown)
    );
    assert_eq!(s.credits_unknown(P, NS, T0 + 1), ids);
    credits(&mut s, ids[1], &[]);
    assert_eq!(s.credits_unknown(P, NS, T0 + 1), [ids[0]]);
    // An expired credit is no credit.
    credits(&mut s, ids[0], &[T0 - 1]);
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 1),
        AutoRedeem::Skip(AutoRedeemSkip::NoCredit)
    );
    credits(&mut s, ids[1], &[T0 + DAY]);
    s.begin_redeem(
        P,
        ids[1],
        PendingRedeem {
            credit_id: "x".into(),
            request_id: "r".into(),
            started_at: T0,
        },
    )
    .unwrap();
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 1),
        AutoRedeem::Skip(AutoRedeemSkip::RedeemPending)
    );
}

#[test]
fn accounts_that_need_a_login_are_not_exhausted() {
    let (mut s, ids) = pool(1);
    credits(&mut s, ids[0], &[T0 + DAY]);
    s.record_outcome(
        P,
        ids[0],
        &Outcome::AuthFailed,
        &CooldownPolicy::default(),
        T0,
    )
    .unwrap();
    assert_eq!(
        s.auto_redeem_decision(P, NS, T0 + 1),
        AutoRedeem::Skip(AutoRedeemSkip::NotExhausted)
    );
}
