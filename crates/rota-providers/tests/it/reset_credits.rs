//! OpenAI reset credits against strict rota-mock: listing, a redeem that clears both windows
//! and lands in the switch log, `nothing_to_reset` keeping the credit, and a redeem interrupted
//! after the call repeated with the same request id (the provider redeems once).

#![allow(clippy::float_cmp)] // windows cleared to exactly 0 by the mock

use crate::common::*;
use rota_core::PendingRedeem;
use rota_mock::{NewAccount, ResetCredit, Usage, Window};
use rota_providers::reset_credits;
use rota_types::{ProviderId, RedeemCode, SwitchReason};

const P: ProviderId = ProviderId::OpenAi;

fn used_with_credits(mock: &rota_mock::MockHandle, n: usize) -> NewAccount {
    let now = mock.now();
    let mut usage = Usage::windows(Window::new(100.0, 3_600), Window::new(64.0, 5 * 86_400));
    // Soonest expiry last, to see the sort.
    usage.reset_credits = (0..n)
        .map(|i| {
            let days_earlier = i64::try_from(i).unwrap();
            ResetCredit::new(format!("rc_{i}"), now + (30 - days_earlier) * 86_400)
        })
        .chain([
            ResetCredit::new("rc_expired", now - 10),
            ResetCredit {
                redeemed_by: Some("old".into()),
                ..ResetCredit::new("rc_spent", now + 86_400)
            },
        ])
        .collect();
    NewAccount::new(P).usage(usage)
}

fn spent(mock: &rota_mock::MockHandle, id: &str) -> usize {
    mock.account(id)
        .unwrap()
        .usage
        .reset_credits
        .iter()
        .filter(|c| c.redeemed_by.is_some() && c.redeemed_by.as_deref() != Some("old"))
        .count()
}

#[tokio::test]
async fn a_redeem_clears_both_windows_once_and_is_logged() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (info, id) = seed(&mock, &store, used_with_credits(&mock, 2), |b| b);
    // Cooling down on its exhausted 5-hour window.
    store
        .mutate(|txn| {
            txn.state.record_outcome(
                P,
                id,
                &rota_core::Outcome::RateLimited(rota_core::RateLimitSignal {
                    resets_at: vec![rota_store::now_ms() + 3_600_000],
                    ..Default::default()
                }),
                &rota_core::CooldownPolicy::default(),
                rota_store::now_ms(),
            )?;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();

    let auth = tm.access(P, id).await.unwrap();
    let available = reset_credits::list(&providers, &auth, rota_store::now_ms())
        .await
        .unwrap();
    let ids: Vec<_> = available.credits.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["rc_1", "rc_0"],
        "available only, soonest expiry first"
    );

    let r = reset_credits::redeem(&tm, id).await.unwrap();
    assert_eq!(r.code, RedeemCode::Reset);
    assert!(!r.coalesced);
    assert_eq!(r.remaining, Some(1));
    let acct = mock.account(&info.id).unwrap();
    assert_eq!(acct.usage.five_hour.unwrap().utilization, 0.0);
    assert_eq!(acct.usage.seven_day.unwrap().utilization, 0.0);
    assert!(
        acct.usage.reset_credits[1].redeemed_by.is_some(),
        "the soonest-expiring credit was spent"
    );
    let state = store.load().unwrap();
    let rec = state.record(P, id).unwrap();
    assert!(rec.pending_redeem.is_none());
    assert_eq!(rec.last_redeem.as_ref().unwrap().code, RedeemCode::Reset);
    assert!(
        !rec.is_cooling(rota_store::now_ms()),
        "the windows are clear: the cooldown ends"
    );
    assert_eq!(
        rec.reset_credits.as_ref().map(|c| c.credits.len()),
        Some(1),
        "the count left is recorded"
    );
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason, SwitchReason::ResetCredit);
    assert_eq!(last.to, id.to_string());

    // Asked again: nothing is used any more, the last credit is kept.
    let r = reset_credits::redeem(&tm, id).await.unwrap();
    assert_eq!(r.code, RedeemCode::NothingToReset);
    assert_eq!(r.remaining, Some(1));
    assert_eq!(spent(&mock, &info.id), 1);
}

#[tokio::test]
async fn an_interrupted_redeem_is_repeated_with_its_request_id() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (info, id) = seed(&mock, &store, used_with_credits(&mock, 2), |b| b);
    // A process persisted its intent, the provider redeemed, then the process died before
    // recording the answer.
    let intent = PendingRedeem {
        credit_id: "rc_1".into(),
        request_id: "0f0e0d0c-0000-4000-8000-000000000001".into(),
        started_at: rota_store::now_ms(),
    };
    store
        .mutate(|txn| {
            txn.state.begin_redeem(P, id, intent.clone())?;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    let auth = tm.access(P, id).await.unwrap();
    assert_eq!(
        reset_credits::consume(&providers, &auth, &intent.credit_id, &intent.request_id)
            .await
            .unwrap(),
        RedeemCode::Reset
    );
    // The retry repeats the same request: answered, no second credit spent.
    let r = reset_credits::redeem(&tm, id).await.unwrap();
    assert_eq!(r.code, RedeemCode::AlreadyRedeemed);
    assert_eq!(spent(&mock, &info.id), 1);
    let consumes: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/consume"))
        .filter_map(|r| r.body)
        .collect();
    assert_eq!(consumes.len(), 2);
    assert!(
        consumes.iter().all(|b| b.contains(&intent.request_id)),
        "{consumes:?}"
    );
    assert!(
        store
            .load()
            .unwrap()
            .record(P, id)
            .unwrap()
            .pending_redeem
            .is_none()
    );
}

#[tokio::test]
async fn no_credit_is_a_clear_answer() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let (_, id) = seed(&mock, &store, NewAccount::new(P), |b| b);
    let r = reset_credits::redeem(&tm, id).await.unwrap();
    assert_eq!(r.code, RedeemCode::NoCredit);
    assert_eq!(count_requests(&mock, "/consume"), 0);
}
