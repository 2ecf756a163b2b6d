//! Set-up shared by the gateway's socket tests: a store with its secrets in the vault file,
//! accounts known to both rota-mock and the store, a gateway on a free loopback port.

// `http_proxy.rs` (a binary of its own) uses a subset.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use rota_core::Ulid;
use rota_gateway::{Gateway, GatewayConfig, GatewayHandle};
use rota_mock::seed::store_account;
use rota_mock::{AccountInfo, MockConfig, MockHandle, MockServer, NewAccount};
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

/// What most gateway tests start from: rota-mock, a file store holding `n` accounts of one
/// provider (oldest first; the last one is active), and a gateway on a free port whose
/// providers live at the mock (or at `upstream`, a stand-in), with `api.json`'s token.
pub struct Rig {
    pub mock: MockHandle,
    pub dir: tempfile::TempDir,
    pub store: Arc<PoolStore>,
    pub gw: GatewayHandle,
    pub token: String,
    pub accounts: Vec<(AccountInfo, Ulid)>,
}

impl Rig {
    /// `gateway` and `providers` adjust the configurations before the gateway starts; the
    /// counters flush every 100 ms so tests see them soon.
    pub async fn start(
        provider: ProviderId,
        n: usize,
        mock_config: MockConfig,
        upstream: Option<&str>,
        gateway: impl FnOnce(&mut GatewayConfig),
        providers: impl FnOnce(&mut ProvidersConfig),
    ) -> Self {
        let mock = MockServer::start(mock_config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        let accounts = (0..n)
            .map(|i| add_account(&mock, &store, provider, &format!("user{i}@example.com")))
            .collect();
        let mut config = GatewayConfig::new(dir.path()).with_port(0);
        config.flush_interval = std::time::Duration::from_millis(100);
        gateway(&mut config);
        let mut providers_config =
            ProvidersConfig::with_mock_base(upstream.unwrap_or(mock.base_url()));
        providers(&mut providers_config);
        let gw = Gateway::start(
            config,
            store.clone(),
            Arc::new(Providers::new(providers_config).unwrap()),
        )
        .await
        .unwrap();
        let token = Self::api_json_of(dir.path())["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            mock,
            dir,
            store,
            gw,
            token,
            accounts,
        }
    }

    /// `api.json` as the gateway wrote it.
    pub fn api_json(&self) -> serde_json::Value {
        Self::api_json_of(self.dir.path())
    }

    fn api_json_of(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap()
    }
}
