//! Shared test plumbing: a rota-mock server, a file-backed store in a temp dir, providers
//! pointed at the mock, and accounts seeded on both sides.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;
use std::sync::Arc;

use rota_core::{NewLogin, Ulid};
use rota_mock::{AccountInfo, MockConfig, MockHandle, MockServer, NewAccount};
use rota_providers::{Providers, ProvidersConfig, TokenManager};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::DEFAULT_NAMESPACE;

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

pub use rota_mock::seed::{identity_of, secrets_of as bundle_of};

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

/// The `code#state` on the Anthropic paste page.
pub fn auth_code_on_page(html: &str) -> String {
    rota_mock::auth_code_on_page(html).expect("auth code on page")
}

/// A real provider body from `tests/fixtures` (published by users of other tools), through the
/// run-time `CARGO_MANIFEST_DIR`: a shared target dir can hold a binary built in another clone.
pub fn fixture(name: &str) -> String {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("tests/fixtures");
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}
