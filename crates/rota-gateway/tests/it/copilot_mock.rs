//! GitHub Copilot through the gateway against strict rota-mock over sockets: IDE headers on an
//! exchanged token, GitHub tokens that cannot be exchanged (opencode's app) used directly,
//! imported opencode logins, 402 `quota_exceeded` rotating with a cooldown until the quota's
//! reset, passive quota snapshots.

use std::time::Duration;

use rota_core::{CooldownKind, Ulid};
use rota_mock::{AccountInfo, MockConfig, NewAccount, Quota, Usage};
use rota_providers::{AccountAuth, Providers, ProvidersConfig};
use rota_types::{DEFAULT_NAMESPACE, ProviderId, ProviderUsage, SwitchReason};
use serde_json::json;

use crate::common::Rig;

const P: ProviderId = ProviderId::GithubCopilot;

struct Env(Rig);

impl std::ops::Deref for Env {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

async fn env(mock_config: MockConfig) -> Env {
    Env(Rig::start(P, 0, mock_config, None, |_| {}, |_| {}).await)
}

impl Env {
    fn add(&self, new: NewAccount) -> (AccountInfo, Ulid) {
        let info = self.mock.add_account(new);
        let id = rota_mock::seed::store_account(&self.store, &info);
        (info, id)
    }

    /// A chat completion as opencode sends it: no IDE headers.
    async fn chat(&self) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!(
                "{}/github-copilot/chat/completions",
                self.gw.base_url()
            ))
            .bearer_auth(&self.token)
            .header("user-agent", "opencode/1.18.33")
            .json(&json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    }

    fn upstream(&self, suffix: &str) -> Vec<rota_mock::LoggedRequest> {
        self.mock
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }
}

#[tokio::test]
async fn an_exchanged_token_goes_out_with_the_ide_headers() {
    let e = env(MockConfig::default()).await;
    let _ = e.add(NewAccount::new(P));
    let resp = e.chat().await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("choices"), "{text}");
    let sent = e.upstream("/chat/completions");
    assert_eq!(sent.len(), 1);
    let h = &sent[0].headers;
    assert_eq!(h["editor-version"], "vscode/1.104.1");
    assert_eq!(h["editor-plugin-version"], "copilot-chat/0.31.0");
    assert_eq!(h["copilot-integration-id"], "vscode-chat");
    assert_eq!(
        h["user-agent"], "opencode/1.18.33",
        "the client's headers pass"
    );
    assert!(
        h["authorization"].starts_with("Bearer tid="),
        "the exchanged token"
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn an_imported_opencode_copilot_login_serves_requests_with_its_github_token() {
    let e = env(MockConfig::default()).await;
    let info = e.mock.add_account(NewAccount::new(P).copilot_direct());
    // opencode's own GitHub app: the GitHub token in both fields, `expires: 0`.
    let file = e.dir.path().join("opencode-auth.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"github-copilot": {
            "type": "oauth", "refresh": info.access_token, "access": info.access_token, "expires": 0,
        }}))
        .unwrap(),
    )
    .unwrap();
    let report =
        rota_store::import::import_file(rota_store::import::ImportSource::Opencode, &file).unwrap();
    e.store
        .import_accounts(report.accounts, rota_store::now_ms())
        .unwrap();
    for _ in 0..2 {
        let resp = e.chat().await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    assert!(
        e.upstream("/copilot_internal/v2/token").is_empty(),
        "never exchanged"
    );
    let sent = e.upstream("/chat/completions");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {}", info.access_token)
    );
    assert!(!sent[0].headers.contains_key("editor-version"));
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn a_github_token_the_exchange_refuses_is_used_directly_and_remembered() {
    let e = env(MockConfig::default()).await;
    // Stored as a plain GitHub login (no marker): the exchange answers 404 once.
    let (info, _) = e.add(NewAccount::new(P).copilot_direct());
    for _ in 0..3 {
        assert_eq!(e.chat().await.status(), 200);
    }
    let exchanges = e.upstream("/copilot_internal/v2/token");
    assert_eq!(exchanges.len(), 1, "the 404 is remembered");
    assert_eq!(exchanges[0].status, 404);
    let sent = e.upstream("/chat/completions");
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {}", info.access_token))
    );
    e.0.gw.shutdown().await;
}

/// Stores a live usage fetch of the account (as the poller would).
async fn poll_usage(e: &Env, id: Ulid) {
    let providers = Providers::new(ProvidersConfig::with_mock_base(e.mock.base_url())).unwrap();
    let state = e.store.load().unwrap();
    let record = state.record(P, id).unwrap();
    let auth = AccountAuth {
        record_id: id.to_string(),
        identity: record.identity.clone(),
        secrets: e.store.credentials(id).unwrap().unwrap(),
    };
    let snapshot = providers
        .fetch_usage(P, &auth, rota_store::now_ms())
        .await
        .unwrap();
    e.store
        .mutate(|txn| {
            txn.state.record_usage(P, id, snapshot)?;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_402_out_of_quota_cools_the_account_until_its_reset_and_rotates() {
    let e = env(MockConfig::default()).await;
    let (_, fresh) = e.add(NewAccount::new(P).email("fresh@example.com"));
    let (_, dry) = e.add(NewAccount::new(P).email("dry@example.com").usage(Usage {
        premium_interactions: Quota::limited(300, 0),
        quota_reset_date: Some("2031-03-01".into()),
        ..Usage::default()
    }));
    poll_usage(&e, dry).await;
    let now = rota_store::now_ms();
    assert_eq!(
        e.store.load().unwrap().active_id(P, DEFAULT_NAMESPACE, now),
        Some(dry),
        "the newest login is active"
    );
    let resp = e.chat().await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "the next account answered: {text}");
    let sent = e.upstream("/chat/completions");
    assert_eq!(
        sent.iter().map(|r| r.status).collect::<Vec<_>>(),
        [402, 200]
    );
    let state = e.store.load().unwrap();
    let r = state.record(P, dry).unwrap();
    // 2031-03-01T00:00:00Z, the quota reset the account reported.
    assert_eq!(r.health.cooldown_until, Some(1_930_089_600_000));
    assert_eq!(r.cooldown_kind, Some(CooldownKind::Quota));
    assert_eq!(r.health.last_status_code, Some(402));
    assert_eq!(state.active_id(P, DEFAULT_NAMESPACE, now), Some(fresh));
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason, SwitchReason::QuotaExhausted);
    assert_eq!(last.to, fresh.to_string());

    // Every account out of quota: the client hears so from the gateway, not a raw 402.
    e.store
        .mutate(|txn| {
            txn.state.record_outcome(
                P,
                fresh,
                &rota_core::Outcome::QuotaExhausted { resets_at: None },
                &rota_core::CooldownPolicy::default(),
                rota_store::now_ms(),
            )?;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = e.upstream("/chat/completions").len();
    let resp = e.chat().await;
    assert_eq!(resp.status(), 429);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("github-copilot accounts"),
        "{body}"
    );
    assert_eq!(
        e.upstream("/chat/completions").len(),
        before,
        "nothing sent"
    );
    e.0.gw.shutdown().await;
}

#[tokio::test]
async fn quota_snapshot_headers_update_the_accounts_usage() {
    let e = env(MockConfig {
        usage_per_request: 1.0,
        ..MockConfig::default()
    })
    .await;
    let (_, id) = e.add(NewAccount::new(P).usage(Usage {
        premium_interactions: Quota::limited(300, 151),
        quota_reset_date: Some("2031-03-01".into()),
        ..Usage::default()
    }));
    assert_eq!(e.chat().await.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let usage = loop {
        let state = e.store.load().unwrap();
        if let Some(u) = state.record(P, id).and_then(|r| r.usage.clone()) {
            break u;
        }
        assert!(std::time::Instant::now() < deadline, "no usage written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let premium = usage
        .windows
        .iter()
        .find(|w| w.kind == rota_types::WindowKind::Premium)
        .cloned()
        .unwrap_or_else(|| panic!("{usage:?}"));
    let ProviderUsage::GithubCopilot(c) = usage.usage else {
        panic!("{usage:?}")
    };
    assert!((premium.utilization - 50.0).abs() < 0.1, "{premium:?}");
    assert_eq!(premium.resets_at, Some(1_930_089_600_000));
    assert_eq!(c.entitlement, Some(300));
    e.0.gw.shutdown().await;
}
