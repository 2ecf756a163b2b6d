//! Where Rota keeps its data and what the shell knows at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rota_providers::{PollPolicy, Providers, ProvidersConfig, TokenManager, UsageService};
use rota_store::{PoolStore, StoreConfig, StoreError};
use rota_types::command::{AppLink, LinkKind, SecretBackendInfo};

use crate::gateway::HostedGateway;
use crate::login::Logins;
use crate::settings::Settings;

/// Default port of the local gateway (docs/interfaces.md §1).
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
    /// `config.toml` with the environment over it (cooldowns, proactive thresholds, polling).
    pub config: Arc<rota_config::Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `config.toml` or a `ROTA_*` variable does not parse (names the file or the variable).
    #[error("{0}")]
    Config(#[from] rota_config::ConfigError),
    #[error("cannot open the account store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up the providers: {0}")]
    Providers(String),
}

impl AppState {
    /// Reads `config.toml` with the environment over it (`ROTA_GATEWAY_PORT`, upstream URLs,
    /// thresholds, …), `ROTA_HOME` and `ROTA_SECRET_STORE`, and opens the store (creating the
    /// data directory when needed).
    pub fn from_env() -> Result<Self, StateError> {
        let settings = rota_config::Config::load()?;
        let store = StoreConfig::from_env()?;
        let providers = ProvidersConfig::from_settings(&settings);
        Self::with_config(store, settings, providers)
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
        let mut settings = rota_config::Config::default();
        settings.gateway.port = Some(gateway_port);
        Self::with_config(config, settings, providers)
    }

    /// The state for a loaded `config.toml` (port, cooldowns, thresholds, polling).
    pub fn with_config(
        config: StoreConfig,
        settings: rota_config::Config,
        providers: ProvidersConfig,
    ) -> Result<Self, StateError> {
        let gateway_port = settings.gateway.port.unwrap_or(DEFAULT_GATEWAY_PORT);
        let data_dir = config.data_dir.clone();
        let store = Arc::new(PoolStore::open(config)?);
        for recovery in store.pending_recoveries() {
            tracing::warn!(%recovery, "the account store repaired a file; not yet acknowledged");
        }
        let providers =
            Arc::new(Providers::new(providers).map_err(|e| StateError::Providers(e.to_string()))?);
        let tokens = Arc::new(TokenManager::new(store.clone(), providers.clone()));
        let poll = settings
            .polling
            .interval_secs
            .map_or_else(PollPolicy::default, PollPolicy::every);
        let usage = Arc::new(UsageService::with_policy(tokens.clone(), poll));
        // config.toml / ROTA_USAGE_POLLING give the default; the app's own toggle, once used,
        // is remembered in settings.json.
        let app_settings = Arc::new(Settings::load(
            data_dir.join(crate::settings::FILE_NAME),
            settings.polling.enabled != Some(false),
        ));
        usage.set_enabled(app_settings.get().usage_polling);
        Ok(Self {
            data_dir,
            gateway_port,
            store,
            providers,
            tokens,
            usage,
            logins: Arc::new(Logins::default()),
            settings: app_settings,
            poll_wake: Arc::new(tokio::sync::Notify::new()),
            gateway: Arc::new(HostedGateway::default()),
            config: Arc::new(settings),
        })
    }

    /// The hosted gateway's configuration: the port, and `config.toml`'s cooldowns and limits.
    pub fn gateway_config(&self) -> rota_gateway::GatewayConfig {
        rota_gateway::GatewayConfig::new(&self.data_dir)
            .with_port(self.gateway_port)
            .with_settings(&self.config)
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
    fn config_toml_sets_the_port_cooldowns_and_polling() {
        let dir = tempfile::tempdir().unwrap();
        let config = rota_config::Config::parse(
            "[gateway]\nport = 5151\nmax_connections = 32\n[cooldown]\ndefault_secs = 45\nauth_secs = 600\n\
             [polling]\nenabled = false\n",
        )
        .unwrap();
        let state = AppState::with_config(
            StoreConfig::new(dir.path()).with_secret_store(rota_store::SecretStoreMode::File),
            config,
            ProvidersConfig::default(),
        )
        .unwrap();
        assert_eq!(state.gateway_port, 5151);
        assert_eq!(state.gateway_url(), "http://127.0.0.1:5151");
        let gateway = state.gateway_config();
        assert_eq!(gateway.port, 5151);
        assert_eq!(gateway.cooldown.default_ms, 45_000);
        assert_eq!(gateway.cooldown.auth_ms, 600_000);
        assert_eq!(gateway.max_connections, 32);
        assert!(!state.usage.is_enabled(), "polling off by config");
        assert!(!state.settings.get().usage_polling, "and so shown in About");
    }

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
