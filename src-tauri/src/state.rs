//! Where Rota keeps its data and what the shell knows at start.

use std::path::{Path, PathBuf};

use rota_types::command::{AppLink, LinkKind};

/// Default port of the local gateway (interfaces.md §1).
pub const DEFAULT_GATEWAY_PORT: u16 = 4141;

const REPOSITORY_URL: &str = "https://github.com/rota-app/rota";

/// Shared, immutable facts for the commands.
#[derive(Debug, Clone)]
pub struct AppState {
    /// `$ROTA_HOME`, else the platform data dir + `rota`.
    pub data_dir: PathBuf,
    pub gateway_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no data directory: set ROTA_HOME or HOME")]
    NoDataDir,
    #[error("ROTA_GATEWAY_PORT must be a port number (0–65535), got {0:?}")]
    BadPort(String),
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AppState {
    /// Reads `ROTA_HOME` and `ROTA_GATEWAY_PORT`, creating the data directory when needed.
    pub fn from_env() -> Result<Self, StateError> {
        let data_dir = match std::env::var_os("ROTA_HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home),
            None => dirs::data_dir().ok_or(StateError::NoDataDir)?.join("rota"),
        };
        let gateway_port = match std::env::var("ROTA_GATEWAY_PORT") {
            Ok(v) => v.trim().parse().map_err(|_| StateError::BadPort(v))?,
            Err(_) => DEFAULT_GATEWAY_PORT,
        };
        Self::new(data_dir, gateway_port)
    }

    pub fn new(data_dir: PathBuf, gateway_port: u16) -> Result<Self, StateError> {
        std::fs::create_dir_all(&data_dir).map_err(|source| StateError::CreateDir {
            path: data_dir.clone(),
            source,
        })?;
        Ok(Self {
            data_dir,
            gateway_port,
        })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
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
