//! The usage service against rota-mock and a real store: parallel fetch of every provider,
//! results recorded with their fetch time, last good value kept on failure, 429 back-off, the
//! off switch, and a refresh + retry after a 401.
#![allow(clippy::float_cmp)] // usage values are compared exactly: they come from exact JSON and header numbers

use std::sync::Arc;

use crate::common::*;
use rota_mock::{Behavior, NewAccount, Scope, ScriptStep, Usage, Window};
use rota_providers::{FetchStatus, UsageService};
use rota_types::{ProviderId, ProviderUsage};

#[tokio::test]
async fn fetches_every_account_records_it_and_keeps_the_last_good_value() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let svc = UsageService::new(tm.clone());
    let u = Usage::windows(Window::new(25.0, 3_600), Window::new(50.0, 300_000));
    let mut ids = Vec::new();
    for p in ProviderId::ALL {
        ids.push(seed(
            &mock,
            &store,
            NewAccount::new(p).usage(u.clone()),
            |b| b,
        ));
    }
    // One Anthropic account is expired: refreshed on the way.
    let expired_one = seed(
        &mock,
        &store,
        NewAccount::new(ProviderId::Anthropic),
        expired,
    );
    let now = rota_store::now_ms();
    let results = svc.fetch(None, now).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(
        results.iter().all(|r| r.status == FetchStatus::Fresh),
        "{results:?}"
    );
    let state = store.load().unwrap();
    for (info, id) in ids.iter().chain([&expired_one]) {
        let rec = state.record(info.provider, *id).unwrap();
        assert_eq!(
            rec.usage.as_ref().unwrap().fetched_at,
            now,
            "{:?}",
            info.provider
        );
    }
    let anth = state.record(ProviderId::Anthropic, ids[0].1).unwrap();
    let snap = anth.usage.as_ref().unwrap();
    assert!(matches!(snap.usage, ProviderUsage::Anthropic(_)));
    assert_eq!(snap.window("five_hour").unwrap().utilization, 25.0);

    // One account.
    let one = svc
        .fetch_account(ProviderId::OpenAi, ids[2].1, now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.provider, one.id, &one.status),
        (ProviderId::OpenAi, ids[2].1, &FetchStatus::Fresh)
    );
    assert!(
        svc.fetch_account(ProviderId::Anthropic, ids[2].1, now)
            .await
            .unwrap()
            .is_none()
    );

    // Only one provider.
    let only = svc.fetch(Some(ProviderId::OpenAi), now + 1).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].provider, ProviderId::OpenAi);

    // A failing fetch keeps (and returns) the last good value with its age.
    let (info, id) = &ids[0];
    mock.script(
        &info.id,
        ScriptStep::once(Behavior::ServerError).scope(Scope::Usage),
    )
    .unwrap();
    let later = now + 10_000;
    let r = svc.fetch(Some(ProviderId::Anthropic), later).await.unwrap();
    let mine = r.iter().find(|r| r.id == *id).unwrap();
    assert!(
        matches!(
            mine.status,
            FetchStatus::Failed {
                transient: true,
                ..
            }
        ),
        "{mine:?}"
    );
    assert_eq!(
        mine.usage.as_ref().unwrap().fetched_at,
        now,
        "cached value, with its age"
    );
    assert_eq!(
        store
            .load()
            .unwrap()
            .record(ProviderId::Anthropic, *id)
            .unwrap()
            .usage
            .as_ref()
            .unwrap()
            .fetched_at,
        now
    );
}

#[tokio::test]
async fn a_429_from_the_usage_endpoint_backs_the_account_off() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let svc = UsageService::new(tokens(&store, &providers));
    let (info, id) = seed(&mock, &store, NewAccount::new(ProviderId::Anthropic), |b| b);
    mock.script(
        &info.id,
        ScriptStep::once(Behavior::RateLimitRetryAfter { seconds: 600 }).scope(Scope::Usage),
    )
    .unwrap();
    let now = rota_store::now_ms();
    let r = svc.fetch(None, now).await.unwrap();
    assert!(matches!(r[0].status, FetchStatus::Failed { .. }), "{r:?}");
    mock.clear_requests();
    let r = svc.fetch(None, now + 60_000).await.unwrap();
    let FetchStatus::BackedOff { until } = r[0].status else {
        panic!("{r:?}")
    };
    assert!(until >= now + 600_000);
    assert_eq!(
        count_requests(&mock, "/api/oauth/usage"),
        0,
        "no request while backed off"
    );
    let state = store.load().unwrap();
    assert!(svc.next_poll(&state, ProviderId::Anthropic, id, now) >= until);
    let r = svc.fetch(None, until + 1).await.unwrap();
    assert_eq!(r[0].status, FetchStatus::Fresh);
}

#[tokio::test]
async fn background_polling_respects_the_off_switch_and_the_schedule() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let svc = UsageService::new(tokens(&store, &providers));
    seed(&mock, &store, NewAccount::new(ProviderId::Anthropic), |b| b);
    let now = rota_store::now_ms();
    svc.set_enabled(false);
    assert!(svc.poll_due(now).await.unwrap().is_empty());
    assert_eq!(count_requests(&mock, "/api/oauth/usage"), 0);
    assert_eq!(
        svc.fetch(None, now).await.unwrap().len(),
        1,
        "explicit fetches still work"
    );
    svc.set_enabled(true);
    assert!(
        svc.poll_due(now + 1_000).await.unwrap().is_empty(),
        "just fetched: not due"
    );
    // No gateway traffic: idle, polled hourly.
    assert!(
        svc.poll_due(now + 16 * 60_000).await.unwrap().is_empty(),
        "idle: not yet"
    );
    assert_eq!(
        svc.poll_due(now + 61 * 60_000).await.unwrap().len(),
        1,
        "idle: hourly"
    );
    // With traffic, the active account is polled every 5 minutes.
    let t = now + 61 * 60_000;
    svc.note_activity(ProviderId::Anthropic, t);
    assert!(svc.poll_due(t + 4 * 60_000).await.unwrap().is_empty());
    assert_eq!(
        svc.poll_due(t + 6 * 60_000).await.unwrap().len(),
        1,
        "active: 5 min"
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let svc = UsageService::new(Arc::clone(&tm));
    let (info, id) = seed(&mock, &store, NewAccount::new(ProviderId::Anthropic), |b| b);
    // The provider revoked the access token early (expiry says it is fine).
    mock.expire(&info.id, rota_mock::ExpireWhat::Access)
        .unwrap();
    let r = svc.fetch(None, rota_store::now_ms()).await.unwrap();
    assert_eq!(r[0].status, FetchStatus::Fresh, "{r:?}");
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
    let stored = store.credentials(id).unwrap().unwrap();
    assert_eq!(
        stored.access_token.expose(),
        mock.account(&info.id).unwrap().access_token
    );
}

#[tokio::test]
async fn a_refused_account_and_an_unreachable_provider_are_not_polled_in_a_loop() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let svc = UsageService::new(tokens(&store, &providers));
    let (info, id) = seed(&mock, &store, NewAccount::new(ProviderId::OpenAi), |b| b);
    // The provider revoked both tokens: the usage call answers 401, the refresh is refused.
    mock.expire(&info.id, rota_mock::ExpireWhat::Both).unwrap();
    let now = rota_store::now_ms();
    let first = svc.poll_due(now).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, FetchStatus::NeedsReauth, "{first:?}");
    assert!(
        store
            .load()
            .unwrap()
            .record(ProviderId::OpenAi, id)
            .unwrap()
            .health
            .needs_reauth,
        "marked for a new login"
    );
    let token_calls = count_requests(&mock, "/oauth/token");
    let usage_calls = count_requests(&mock, "/wham/usage");
    // The poller asks again and again (as a loop woken by store changes would): nothing is
    // sent until the user logs in again.
    for i in 1..=20 {
        assert!(svc.poll_due(now + i * 500).await.unwrap().is_empty());
    }
    assert_eq!(count_requests(&mock, "/oauth/token"), token_calls);
    assert_eq!(count_requests(&mock, "/wham/usage"), usage_calls);

    // A provider that cannot be reached backs off too.
    let down = tempfile::tempdir().unwrap();
    let store2 = open_store(down.path());
    let unreachable = crate::common::providers("http://127.0.0.1:9");
    let svc2 = UsageService::new(tokens(&store2, &unreachable));
    seed(
        &mock,
        &store2,
        NewAccount::new(ProviderId::Anthropic),
        |b| b,
    );
    let r = svc2.poll_due(now).await.unwrap();
    assert!(
        matches!(
            r[0].status,
            FetchStatus::Failed {
                transient: true,
                ..
            }
        ),
        "{r:?}"
    );
    assert!(
        svc2.poll_due(now + 1_000).await.unwrap().is_empty(),
        "backed off after a failure"
    );
}
