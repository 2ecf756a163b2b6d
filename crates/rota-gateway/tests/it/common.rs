//! Set-up shared by the gateway's socket tests: a store with its secrets in the vault file,
//! accounts known to both rota-mock and the store, a gateway on a free loopback port.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use rota_core::Ulid;
use rota_gateway::{Gateway, GatewayConfig, GatewayHandle};
use rota_mock::seed::store_account;
use rota_mock::{AccountInfo, MockHandle, NewAccount};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::{PoolStore, SecretStoreMode, StoreConfig};
use rota_types::ProviderId;

/// A store at `dir` whose secrets live in the vault file (tests never touch the keychain).
pub fn file_store(dir: &Path) -> Arc<PoolStore> {
    Arc::new(
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap(),
    )
}

/// An account of `provider` at the mock, stored as a login would: it becomes the active one.
pub fn add_account(
    mock: &MockHandle,
    store: &PoolStore,
    provider: ProviderId,
    email: &str,
) -> (AccountInfo, Ulid) {
    let info = mock.add_account(NewAccount::new(provider).email(email));
    let id = store_account(store, &info);
    (info, id)
}

/// A gateway over `store` whose providers all live at `upstream` (rota-mock or a stand-in).
pub async fn start_gateway(
    config: GatewayConfig,
    store: Arc<PoolStore>,
    upstream: &str,
) -> GatewayHandle {
    let providers = Arc::new(Providers::new(ProvidersConfig::with_mock_base(upstream)).unwrap());
    Gateway::start(config, store, providers).await.unwrap()
}
