//! The opt-in automatic reset-credit redeem over real sockets against strict rota-mock: when
//! every OpenAI account is exhausted the gateway redeems one credit — the one that expires
//! first — exactly once (the mock's request log counts one consume) however many requests
//! and gateways race; never with the setting off or while an account can still serve. The
//! request that found the pool dry gets its 429; the next one is served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rota_core::Ulid;
use rota_gateway::{GatewayConfig, GatewayHandle};
use rota_mock::{MockConfig, MockHandle, MockServer, NewAccount, ResetCredit, Usage, Window};
use rota_providers::{Providers, ProvidersConfig, TokenManager};
use rota_store::PoolStore;
use rota_types::{ProviderId, RedeemCode, SwitchReason};
use serde_json::json;

use crate::common::{file_store, start_gateway};

const DAY: i64 = 86_400;

struct Env {
    mock: MockHandle,
    dir: tempfile::TempDir,
    store: Arc<PoolStore>,
    /// (mock account email, store id, the soonest credit's id)
    accounts: Vec<(String, Ulid, String)>,
}

/// OpenAI accounts at the mock and in the store; `exhausted[i]` puts account i's 5-hour
/// window at 100 %. Account i holds two credits expiring in `expiry_days[i]` and 20 days; the
/// store knows them as the usage poll would record them.
async fn env(exhausted: &[bool], expiry_days: &[i64]) -> Env {
    env_with(exhausted, expiry_days, true).await
}

/// [`env`]; `record` false leaves the credits unknown to the store (no usage poll yet).
async fn env_with(exhausted: &[bool], expiry_days: &[i64], record: bool) -> Env {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir.path().join("store"));
    let now = mock.now();
    let mut accounts = Vec::new();
    for (i, (dry, days)) in exhausted.iter().zip(expiry_days).enumerate() {
        let pct = if *dry { 100.0 } else { 10.0 };
        let mut usage = Usage::windows(Window::new(pct, 3_600), Window::new(50.0, 5 * DAY));
        let soonest = format!("rc_{i}_soon");
        usage.reset_credits = vec![
            ResetCredit::new(soonest.clone(), now + days * DAY),
            ResetCredit::new(format!("rc_{i}_late"), now + 20 * DAY),
        ];
        let email = format!("o{i}@example.com");
        let info = mock.add_account(
            NewAccount::new(ProviderId::OpenAi)
                .email(&email)
                .usage(usage),
        );
        let id = rota_mock::seed::store_account(&store, &info);
        accounts.push((email, id, soonest));
    }
    let tokens = TokenManager::new(
        store.clone(),
        Arc::new(Providers::new(ProvidersConfig::with_mock_base(mock.base_url())).unwrap()),
    );
    for (_, id, _) in accounts.iter().filter(|_| record) {
        rota_providers::reset_credits::refresh_recorded(&tokens, *id, rota_store::now_ms()).await;
        assert_eq!(
            store
                .load()
                .unwrap()
                .record(ProviderId::OpenAi, *id)
                .unwrap()
                .reset_credits
                .as_ref()
                .map(|c| c.credits.len()),
            Some(2)
        );
    }
    mock.clear_requests();
    Env {
        mock,
        dir,
        store,
        accounts,
    }
}

impl Env {
    /// A gateway over the store (its own `PoolStore`, as another process would open it)
    /// that reads the setting from `config.toml` in the test directory.
    async fn gateway(&self, name: &str) -> (GatewayHandle, String) {
        let data = self.dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut config = GatewayConfig::new(&data).with_port(0);
        config.flush_interval = Duration::from_millis(100);
        config.auto_redeem.file = Some(self.config_file());
        let store = file_store(&self.dir.path().join("store"));
        let gw = start_gateway(config, store, self.mock.base_url()).await;
        let token = gw.gateway().token().to_owned();
        (gw, token)
    }

    fn config_file(&self) -> std::path::PathBuf {
        self.dir.path().join("config.toml")
    }

    fn set_auto_redeem(&self, on: bool) {
        let source = rota_config::AutoRedeemSource {
            file: Some(self.config_file()),
            env: None,
        };
        rota_providers::reset_credits::set_auto_redeem(&source, on).unwrap();
    }

    fn consumes(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/rate-limit-reset-credits/consume"))
            .count()
    }

    fn redeems_logged(&self) -> Vec<rota_types::SwitchLogEntry> {
        self.store
            .load()
            .unwrap()
            .switch_log
            .iter()
            .filter(|e| e.reason == SwitchReason::ResetCredit)
            .cloned()
            .collect()
    }

    fn spent(&self) -> Vec<String> {
        self.mock
            .accounts()
            .iter()
            .flat_map(|a| a.usage.reset_credits.iter())
            .filter(|c| c.redeemed_by.is_some())
            .map(|c| c.id.clone())
            .collect()
    }
}

async fn request(gw: &GatewayHandle, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/openai/responses", gw.base_url()))
        .bearer_auth(token)
        .header("user-agent", "codex_cli_rs/0.50.0")
        .json(&json!({"model": "gpt-5-codex", "stream": true, "input": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `n` requests at once through each gateway; their statuses.
async fn burst(gws: &[(GatewayHandle, String)], n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for (gw, token) in gws {
        for _ in 0..n {
            let (url, token) = (gw.base_url(), token.clone());
            tasks.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/openai/responses"))
                    .bearer_auth(token)
                    .header("user-agent", "codex_cli_rs/0.50.0")
                    .json(&json!({"model": "gpt-5-codex", "stream": true, "input": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_pool_redeems_the_soonest_credit_once_across_racing_requests_and_gateways() {
    // Account 1's credit expires first.
    let e = env(&[true, true], &[3, 1]).await;
    e.set_auto_redeem(true);
    let gws = vec![e.gateway("gw-a").await, e.gateway("gw-b").await];
    let statuses = burst(&gws, 4).await;
    assert!(statuses.contains(&429), "the pool was dry: {statuses:?}");
    wait_for("the automatic redeem", || !e.redeems_logged().is_empty()).await;
    // More requests while the redeem lands, through both gateways: nothing more is spent.
    let _ = burst(&gws, 3).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(e.consumes(), 1, "one consume at the provider");
    assert_eq!(
        e.spent(),
        vec![e.accounts[1].2.clone()],
        "the soonest-expiring credit"
    );
    let logged = e.redeems_logged();
    assert_eq!(logged.len(), 1, "{logged:?}");
    let detail = logged[0].detail.clone().unwrap();
    assert_eq!(detail.redeem, Some(RedeemCode::Reset));
    assert!(detail.automatic);
    assert_eq!(logged[0].to, e.accounts[1].1.to_string());
    assert_eq!(
        logged[0].reason_text(),
        "reset credit redeemed: both windows reset (automatic)"
    );
    // The redeemed account serves again.
    assert_eq!(request(&gws[0].0, &gws[0].1).await, 200);
    assert_eq!(request(&gws[1].0, &gws[1].1).await, 200);
    assert_eq!(e.consumes(), 1);
    for (gw, _) in gws {
        gw.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_redeemed_with_the_setting_off_or_while_an_account_can_serve() {
    // Off (the default: no config file at all), pool dry.
    let e = env(&[true, true], &[3, 1]).await;
    let gw = e.gateway("gw").await;
    let statuses = burst(std::slice::from_ref(&gw), 4).await;
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(e.consumes(), 0);
    assert!(e.redeems_logged().is_empty());
    // Explicitly off in the file: the same.
    e.set_auto_redeem(false);
    let _ = burst(std::slice::from_ref(&gw), 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(e.consumes(), 0);
    // Turned on while the gateway runs: the next dry request redeems (no restart needed).
    e.set_auto_redeem(true);
    assert_eq!(request(&gw.0, &gw.1).await, 429);
    wait_for("the automatic redeem", || e.consumes() == 1).await;
    gw.0.shutdown().await;

    // On, but account 1 still has quota: every request is served, nothing is redeemed.
    let e = env(&[true, false], &[1, 1]).await;
    e.set_auto_redeem(true);
    let gw = e.gateway("gw").await;
    let statuses = burst(std::slice::from_ref(&gw), 4).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(e.consumes(), 0);
    assert!(e.redeems_logged().is_empty());
    gw.0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_never_fetched_are_fetched_when_the_pool_runs_dry() {
    let e = env_with(&[true, true], &[3, 1], false).await;
    e.set_auto_redeem(true);
    let gw = e.gateway("gw").await;
    let _ = burst(std::slice::from_ref(&gw), 4).await;
    wait_for("the automatic redeem", || e.consumes() == 1).await;
    let _ = burst(std::slice::from_ref(&gw), 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(e.consumes(), 1);
    assert_eq!(
        e.spent(),
        vec![e.accounts[1].2.clone()],
        "the soonest-expiring credit"
    );
    gw.0.shutdown().await;
}
