//! App settings (`settings.json` in the data directory): background usage polling and desktop
//! notifications. Behaviour, not looks, so not in the UI-preferences store; no secrets.
//!
//! A file that does not parse is never overwritten silently: the app starts from defaults, says
//! so in the log, and the first change moves the bad file aside before writing.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rota_types::command::AppSettings;
use rota_types::{ApiError, ErrorCode};

pub const FILE_NAME: &str = "settings.json";

#[derive(Debug)]
pub struct Settings {
    path: PathBuf,
    current: Mutex<AppSettings>,
    /// The file on disk did not parse (kept until the next write moves it aside).
    unreadable: Mutex<bool>,
}

impl Settings {
    /// Reads `path`; missing → defaults (`usage_polling` as the config file says);
    /// unreadable → defaults and a warning.
    pub fn load(path: PathBuf, polling_default: bool) -> Self {
        let defaults = AppSettings {
            usage_polling: polling_default,
            ..AppSettings::default()
        };
        let (current, unreadable) = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<AppSettings>(&bytes) {
                Ok(s) => (s, false),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "settings file unreadable ({e}); using defaults");
                    (defaults, true)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (defaults, false),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the settings file ({e}); using defaults");
                (defaults, true)
            }
        };
        Self {
            path,
            current: Mutex::new(current),
            unreadable: Mutex::new(unreadable),
        }
    }

    pub fn get(&self) -> AppSettings {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the new settings durably, then keeps them.
    pub fn set(&self, new: AppSettings) -> Result<AppSettings, ApiError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut unreadable = self
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *unreadable {
            let aside = rota_store::quarantine(&self.path).map_err(|e| store_error(&e))?;
            tracing::warn!(path = %self.path.display(), moved_to = %aside.display(), "unreadable settings file moved aside");
            *unreadable = false;
        }
        let json = serde_json::to_vec_pretty(&new)
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        rota_store::write_durably(&self.path, &json).map_err(|e| store_error(&e))?;
        *current = new;
        Ok(new)
    }
}

fn store_error(e: &rota_store::StoreError) -> ApiError {
    ApiError::new(ErrorCode::Os, format!("could not save the settings: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_set_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let s = Settings::load(path.clone(), true);
        assert_eq!(s.get(), AppSettings::default());
        assert!(
            !Settings::load(path.clone(), false).get().usage_polling,
            "config says off"
        );
        let off = AppSettings {
            usage_polling: false,
            notifications: true,
        };
        s.set(off).unwrap();
        assert_eq!(
            Settings::load(path, true).get(),
            off,
            "the saved choice wins"
        );
    }

    #[test]
    fn an_unreadable_file_is_kept_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{ not json").unwrap();
        let s = Settings::load(path.clone(), true);
        assert_eq!(s.get(), AppSettings::default());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{ not json",
            "left alone on load"
        );
        s.set(AppSettings::default()).unwrap();
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("settings.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "moved aside once, under the store's suffix");
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{ not json");
        assert_eq!(Settings::load(path, true).get(), AppSettings::default());
    }
}
