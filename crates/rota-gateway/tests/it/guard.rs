//! The plan-limits-only guard and the Anthropic client setting over real sockets against
//! strict rota-mock: a third-party-billing 400 is not replayed, an overage answer moves the
//! account aside, no request goes out to an account without plan limits left, and only Claude
//! Code is served unless the setting says otherwise.

use rota_core::Ulid;
use rota_mock::{AccountInfo, MockConfig, Usage, Window};
use rota_providers::ProvidersConfig;
use rota_store::PoolStore;
use rota_types::{
    AnthropicClients, AnthropicExtra, DEFAULT_NAMESPACE, ExtraUsageKind, ProviderId, ProviderUsage,
    SwitchReason, UsageSnapshot, UsageWindow, WindowKind,
};
use serde_json::Value;

use crate::common::Rig;

const P: ProviderId = ProviderId::Anthropic;
const OPENCODE_UA: &str = "opencode/1.18.33 ai-sdk/anthropic/2.0.0";

struct Env(Rig);

impl std::ops::Deref for Env {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

async fn env(n: usize, tweak: impl FnOnce(&mut ProvidersConfig)) -> Env {
    let rig = Rig::start(P, n, MockConfig::default(), None, |_| {}, tweak).await;
    assert!(
        rig.mock.config().strict,
        "the tests run against strict mode"
    );
    Env(rig)
}

impl Env {
    fn post(&self, user_agent: &str) -> reqwest::RequestBuilder {
        reqwest::Client::builder()
            .user_agent(user_agent)
            .build()
            .unwrap()
            .post(format!(
                "{}/anthropic/v1/messages?beta=true",
                self.gw.base_url()
            ))
            .header("x-api-key", &self.token)
            .header("anthropic-version", "2023-06-01")
            .json(&rota_mock::claude_code::messages_body(
                "claude-sonnet-4-5",
                "hello",
                false,
            ))
    }

    fn claude_code(&self) -> reqwest::RequestBuilder {
        self.post(rota_mock::claude_code::USER_AGENT)
    }

    fn upstream_messages(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/v1/messages"))
            .count()
    }

    fn active(&self) -> Ulid {
        self.store
            .load()
            .unwrap()
            .active_id(P, DEFAULT_NAMESPACE, rota_store::now_ms())
            .unwrap()
    }

    fn summary(&self, id: Ulid) -> rota_types::AccountSummary {
        let state = self.store.load().unwrap();
        state.record(P, id).unwrap().summary(false)
    }

    fn served_by(&self, resp: &reqwest::Response) -> Ulid {
        let mock_id = resp.headers()["x-rota-mock-account"].to_str().unwrap();
        self.accounts
            .iter()
            .find(|(info, _)| info.id == mock_id)
            .unwrap()
            .1
    }

    /// The account's plan limits used up (5-hour window at 100 %) with extra usage on, at the
    /// mock (so a request there is served from extra usage).
    fn exhaust_at_mock(&self, info: &AccountInfo) {
        let mut usage = Usage::windows(Window::new(100.0, 3_600), Window::new(40.0, 200_000));
        usage.extra_usage.is_enabled = true;
        self.mock.set_usage(&info.id, usage).unwrap();
    }
}

async fn error_of(resp: reqwest::Response) -> Value {
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic's error shape: {v}");
    v["error"].clone()
}

#[tokio::test]
async fn a_third_party_billing_answer_is_not_replayed_and_marks_the_account() {
    // The route serves any client here, so a third-party app's request reaches Anthropic.
    let e = env(2, |c| c.anthropic.clients = AnthropicClients::Any).await;
    let active = e.active();
    let resp = e.post(OPENCODE_UA).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let err = error_of(resp).await;
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "third_party_billing");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("paid extra usage"), "{msg}");
    assert!(msg.contains("did not retry it on another account"), "{msg}");
    assert!(
        msg.contains("Third-party apps now draw from your extra usage"),
        "{msg}"
    );
    assert!(msg.contains("plan_limits_only"), "{msg}");
    assert_eq!(
        e.upstream_messages(),
        1,
        "never replayed on the other account"
    );
    assert_eq!(e.active(), active, "no rotation");
    let mark = e
        .summary(active)
        .extra_usage
        .expect("the account is marked");
    assert_eq!(mark.kind, ExtraUsageKind::ThirdPartyBilling);
    let wire = serde_json::to_value(e.summary(active)).unwrap();
    assert_eq!(wire["extraUsage"]["kind"], "third_party_billing");
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn without_the_guard_the_third_party_billing_answer_passes_through() {
    let e = env(2, |c| {
        c.anthropic.clients = AnthropicClients::Any;
        c.anthropic.plan_limits_only = false;
    })
    .await;
    let active = e.active();
    let resp = e.post(OPENCODE_UA).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let err = error_of(resp).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Third-party apps now draw from your extra usage"),
        "Anthropic's own answer: {err}"
    );
    assert_eq!(e.upstream_messages(), 1);
    assert_eq!(e.summary(active).extra_usage, None);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn an_overage_answer_marks_the_account_and_the_next_request_goes_elsewhere() {
    let e = env(2, |_| {}).await;
    let (first_info, first) = e.accounts[1].clone();
    let (_, second) = e.accounts[0].clone();
    assert_eq!(e.active(), first);
    e.exhaust_at_mock(&first_info);
    let resp = e.claude_code().send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "already billed: the answer goes to the client"
    );
    assert_eq!(e.served_by(&resp), first);
    assert_eq!(
        resp.headers()["anthropic-ratelimit-unified-overage-status"],
        "allowed"
    );
    let _ = resp.text().await.unwrap();
    let summary = e.summary(first);
    let mark = summary.extra_usage.expect("marked");
    assert_eq!(mark.kind, ExtraUsageKind::Overage);
    let now = rota_store::now_ms();
    assert!(
        (mark.until - (now + 3_600_000)).abs() < 10_000,
        "until the 5-hour reset"
    );
    assert!(summary.health.cooldown_until.is_some_and(|t| t > now));
    assert_eq!(e.active(), second, "moved aside");
    let state = e.store.load().unwrap();
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason, SwitchReason::ExtraUsage);
    assert_eq!(last.to, second.to_string());

    let resp = e.claude_code().send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(e.served_by(&resp), second);
    assert_eq!(e.upstream_messages(), 2);
    e.0.gw.shutdown().await;
}

/// Writes a used-up 5-hour window into the store's last usage of `id` (as a poll would).
fn used_up_in_store(store: &PoolStore, id: Ulid, resets_at: i64) {
    store
        .mutate(|txn| {
            let usage = UsageSnapshot {
                fetched_at: rota_store::now_ms(),
                status: None,
                windows: vec![
                    UsageWindow::new(WindowKind::FiveHour, 100.0, Some(resets_at)),
                    UsageWindow::new(WindowKind::SevenDay, 40.0, Some(resets_at + 86_400_000)),
                ],
                usage: ProviderUsage::Anthropic(AnthropicExtra {
                    extra_usage_enabled: Some(true),
                }),
            };
            txn.state
                .record_usage(P, id, usage)
                .map_err(rota_store::StoreError::from)
        })
        .unwrap();
}

#[tokio::test]
async fn no_account_with_plan_limits_left_is_a_clear_429_and_no_upstream_call() {
    let e = env(2, |_| {}).await;
    let now = rota_store::now_ms();
    for (i, (info, id)) in e.accounts.iter().enumerate() {
        e.exhaust_at_mock(info);
        used_up_in_store(
            &e.store,
            *id,
            now + 3_600_000 * (i64::try_from(i).unwrap() + 1),
        );
    }
    let resp = e.claude_code().send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3_590..=3_601).contains(&retry),
        "the soonest reset: {retry}"
    );
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let err = error_of(resp).await;
    assert_eq!(err["type"], "rate_limit_error");
    assert_eq!(err["code"], "plan_limits_reached");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("plan limits of every anthropic account"),
        "{msg}"
    );
    assert!(msg.contains("until"), "{msg}");
    assert!(msg.contains("plan_limits_only"), "{msg}");
    assert_eq!(
        e.upstream_messages(),
        0,
        "never a silent spill into extra usage"
    );
    e.0.gw.shutdown().await;

    // With the guard off the request goes out (and is billed as extra usage): the old way.
    let e = env(1, |c| c.anthropic.plan_limits_only = false).await;
    let (info, id) = e.accounts[0].clone();
    e.exhaust_at_mock(&info);
    used_up_in_store(&e.store, id, now + 3_600_000);
    let resp = e.claude_code().send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(e.upstream_messages(), 1);
    assert_eq!(e.summary(id).extra_usage, None);
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn another_client_is_refused_naming_the_setting_unless_any_is_chosen() {
    let e = env(1, |_| {}).await;
    let resp = e.post(OPENCODE_UA).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let err = error_of(resp).await;
    assert_eq!(err["type"], "permission_error");
    assert_eq!(err["code"], "client_not_allowed");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("serves only Claude Code"), "{msg}");
    assert!(msg.contains("opencode/1.18.33"), "{msg}");
    assert!(msg.contains("paid extra usage"), "{msg}");
    assert!(msg.contains("rota auth clients anthropic any"), "{msg}");
    assert!(msg.contains("clients = \"any\""), "{msg}");
    assert_eq!(e.upstream_messages(), 0);
    // Claude Code passes.
    assert_eq!(e.claude_code().send().await.unwrap().status(), 200);

    // The user's choice in the store (`rota auth clients`, the app) opens the route at once.
    e.store
        .mutate(|txn| {
            txn.state
                .update_settings(P, |s| s.clients = Some(AnthropicClients::Any));
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    let resp = e.post(OPENCODE_UA).send().await.unwrap();
    // It reaches Anthropic, which bills it as a third-party app's (the guard says so).
    assert_eq!(resp.status(), 400);
    assert_eq!(error_of(resp).await["code"], "third_party_billing");
    assert_eq!(e.upstream_messages(), 2);
    e.0.gw.shutdown().await;

    // `clients = "any"` in the config does the same.
    let e = env(1, |c| c.anthropic.clients = AnthropicClients::Any).await;
    let resp = e.post(OPENCODE_UA).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(e.upstream_messages(), 1);
    e.0.gw.shutdown().await;
}
