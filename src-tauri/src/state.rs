//! Where Rota keeps its data and what the shell knows at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rota_providers::{Providers, ProvidersConfig, TokenManager, UsageService};
use rota_store::{PoolStore, StoreConfig, StoreError};
use rota_types::command::{AppLink, LinkKind, SecretBackendInfo};

use crate::gateway::HostedGateway;
use crate::login::Logins;
use crate::settings::Settings;

/// Default port of the local gateway (interfaces.md §1).
pub const DEFAULT_GATEWAY_PORT: u16 = 4141;

const REPOSITORY_URL: &str = "https://github.com/rota-app/rota";

/// What the commands share: paths, the gateway port, the account store and the services built
/// on it (one of each per process: the token manager's single flight works per instance).
#[derive(Debug, Clone)]
pub struct AppState {
    /// `$ROTA_HOME`, else the platform data dir + `rota`.
    pub data_dir: PathBuf,
    pub gateway_port: u16,
    /// The shared pool store (state file + vault), the same one the CLI and gateway use.
    pub store: Arc<PoolStore>,
    /// Provider endpoints and HTTP client (upstream URLs from the environment).
    pub providers: Arc<Providers>,
    /// Refreshes tokens (shared by the usage service and the hosted gateway).
    pub tokens: Arc<TokenManager>,
    /// Usage fetching and background polling.
    pub usage: Arc<UsageService>,
    /// Login flows in progress (`begin_login` … `complete_login` / `cancel_login`).
    pub logins: Arc<Logins>,
    /// App settings (usage polling, notifications).
    pub settings: Arc<Settings>,
    /// Wakes the usage poller to re-plan (store changed, polling switched on).
    pub poll_wake: Arc<tokio::sync::Notify>,
    /// The local gateway the app hosts (started by `run()`; stays `Starting` in tests).
    pub gateway: Arc<HostedGateway>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("ROTA_GATEWAY_PORT must be a port number (0–65535), got {0:?}")]
    BadPort(String),
    #[error("cannot open the account store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up the providers: {0}")]
    Providers(String),
}

impl AppState {
    /// Reads `ROTA_HOME`, `ROTA_SECRET_STORE` and `ROTA_GATEWAY_PORT` and opens the store
    /// (creating the data directory when needed).
    pub fn from_env() -> Result<Self, StateError> {
        let config = StoreConfig::from_env()?;
        let gateway_port = match std::env::var("ROTA_GATEWAY_PORT") {
            Ok(v) => v.trim().parse().map_err(|_| StateError::BadPort(v))?,
            Err(_) => DEFAULT_GATEWAY_PORT,
        };
        Self::new(config, gateway_port)
    }

    /// Opens the store described by `config` (probing the keychain unless the mode is `file`);
    /// provider URLs come from the environment (`ROTA_PROVIDERS_MOCK_BASE`, `ROTA_*_BASE`).
    pub fn new(config: StoreConfig, gateway_port: u16) -> Result<Self, StateError> {
        Self::with_providers(config, gateway_port, ProvidersConfig::from_env())
    }

    /// Like [`AppState::new`] with explicit provider endpoints (tests point them at rota-mock).
    pub fn with_providers(
        config: StoreConfig,
        gateway_port: u16,
        providers: ProvidersConfig,
    ) -> Result<Self, StateError> {
        let data_dir = config.data_dir.clone();
        let store = Arc::new(PoolStore::open(config)?);
        for recovery in store.take_recoveries() {
            tracing::warn!(%recovery, "the account store restored a file from its backup");
        }
        let providers =
            Arc::new(Providers::new(providers).map_err(|e| StateError::Providers(e.to_string()))?);
        let tokens = Arc::new(TokenManager::new(store.clone(), providers.clone()));
        let usage = Arc::new(UsageService::new(tokens.clone()));
        let settings = Arc::new(Settings::load(data_dir.join(crate::settings::FILE_NAME)));
        usage.set_enabled(settings.get().usage_polling);
        Ok(Self {
            data_dir,
            gateway_port,
            store,
            providers,
            tokens,
            usage,
            logins: Arc::new(Logins::default()),
            settings,
            poll_wake: Arc::new(tokio::sync::Notify::new()),
            gateway: Arc::new(HostedGateway::default()),
        })
    }

    /// The secret backend in use, with the plaintext-fallback warning when there is one.
    pub fn secret_backend(&self) -> SecretBackendInfo {
        let report = self.store.backend();
        SecretBackendInfo {
            label: report.label().to_owned(),
            warning: report.warning(),
        }
    }

    /// The gateway's bound address while it runs, else the configured one.
    pub fn gateway_url(&self) -> String {
        match self.gateway.status().address {
            Some(addr) => format!("http://{addr}"),
            None => format!("http://127.0.0.1:{}", self.gateway_port),
        }
    }

    /// The data dir as the user reads it: the home directory shortened to `~`.
    pub fn data_dir_display(&self) -> String {
        shorten_home(&self.data_dir, dirs::home_dir().as_deref())
    }

    pub fn ui_prefs_path(&self) -> PathBuf {
        self.data_dir.join("ui-prefs.json")
    }
}

fn shorten_home(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_owned(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// The app's own links, the only URLs the shell will open on the webview's behalf.
pub fn links() -> Vec<AppLink> {
    [
        (
            LinkKind::Repository,
            "Source code",
            REPOSITORY_URL.to_owned(),
        ),
        (
            LinkKind::Documentation,
            "Documentation",
            format!("{REPOSITORY_URL}#readme"),
        ),
        (
            LinkKind::Community,
            "Community chat",
            format!("{REPOSITORY_URL}/discussions"),
        ),
        (
            LinkKind::Issues,
            "Report a problem",
            format!("{REPOSITORY_URL}/issues"),
        ),
    ]
    .into_iter()
    .map(|(kind, label, url)| AppLink {
        kind,
        label: label.to_owned(),
        url,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_shortened() {
        let home = Path::new("/home/ann");
        assert_eq!(
            shorten_home(Path::new("/home/ann/.local/share/rota"), Some(home)),
            "~/.local/share/rota"
        );
        assert_eq!(shorten_home(Path::new("/home/ann"), Some(home)), "~");
        assert_eq!(
            shorten_home(Path::new("/srv/rota"), Some(home)),
            "/srv/rota"
        );
        assert_eq!(
            shorten_home(Path::new("/home/annex/rota"), Some(home)),
            "/home/annex/rota"
        );
    }

    #[test]
    fn every_link_kind_has_one_https_link() {
        let links = links();
        for kind in [
            LinkKind::Repository,
            LinkKind::Documentation,
            LinkKind::Community,
            LinkKind::Issues,
        ] {
            let matching: Vec<_> = links.iter().filter(|l| l.kind == kind).collect();
            assert_eq!(matching.len(), 1, "{kind:?}");
            assert!(matching[0].url.starts_with("https://"));
        }
    }
}
