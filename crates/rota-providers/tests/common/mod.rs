//! Shared test plumbing: a rota-mock server, a file-backed store in a temp dir, providers
//! pointed at the mock, and accounts seeded on both sides.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::sync::Arc;

use rota_core::{NewLogin, Ulid};
use rota_mock::{AccountInfo, MockConfig, MockHandle, MockServer, NewAccount};
use rota_providers::{Providers, ProvidersConfig, TokenManager};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

pub async fn mock() -> MockHandle {
    mock_with(MockConfig::default()).await
}

pub async fn mock_with(config: MockConfig) -> MockHandle {
    MockServer::start(config).await.expect("start mock")
}

pub fn open_store(dir: &Path) -> Arc<PoolStore> {
    Arc::new(
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File))
            .expect("open store"),
    )
}

pub fn providers(mock_base: &str) -> Arc<Providers> {
    Arc::new(Providers::new(ProvidersConfig::with_mock_base(mock_base)).expect("providers"))
}

pub fn tokens(store: &Arc<PoolStore>, providers: &Arc<Providers>) -> Arc<TokenManager> {
    Arc::new(TokenManager::new(store.clone(), providers.clone()))
}

/// The mock account's current tokens as a bundle (expiry from the mock, in ms).
pub fn bundle_of(info: &AccountInfo) -> SecretBundle {
    let mut b = SecretBundle::new(info.access_token.clone());
    if let Some(r) = &info.refresh_token {
        b = b.with_refresh(r.clone());
    }
    if let Some(e) = info.expires_at {
        b = b.with_expiry(e * 1000);
    }
    if let Some(id) = &info.id_token {
        b = b.with_extra("id_token", id.clone());
    }
    b
}

pub fn identity_of(info: &AccountInfo) -> AccountIdentity {
    AccountIdentity {
        account_id: Some(match info.provider {
            ProviderId::OpenAi => info.chatgpt_account_id.clone().unwrap_or_default(),
            ProviderId::GithubCopilot => info.github_login.clone().unwrap_or_default(),
            ProviderId::Anthropic => info.account_uuid.clone(),
        }),
        email: Some(info.email.clone()),
        organization: None,
        plan: Some(info.plan.clone()),
    }
}

/// Creates an account at the mock and stores it (with `bundle`, or its current tokens).
pub fn seed(
    mock: &MockHandle,
    store: &PoolStore,
    new: NewAccount,
    bundle: impl FnOnce(SecretBundle) -> SecretBundle,
) -> (AccountInfo, Ulid) {
    let info = mock.add_account(new);
    let login = NewLogin {
        identity: identity_of(&info),
        label: None,
    };
    let up = store
        .upsert_account(
            info.provider,
            DEFAULT_NAMESPACE,
            login,
            bundle(bundle_of(&info)),
            rota_store::now_ms(),
        )
        .expect("upsert");
    (info, up.id)
}

/// Expired an hour ago (so a refresh is due).
pub fn expired(b: SecretBundle) -> SecretBundle {
    b.with_expiry(rota_store::now_ms() - 3_600_000)
}

/// Requests of the mock log whose path ends with `suffix`.
pub fn count_requests(mock: &MockHandle, suffix: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with(suffix))
        .count()
}

/// The text of `<code id="auth-code">…</code>` on the Anthropic paste page.
pub fn auth_code_on_page(html: &str) -> String {
    let start = html.find("id=\"auth-code\">").expect("auth code on page") + 15;
    let end = html[start..].find("</code>").unwrap() + start;
    html[start..end].to_owned()
}
