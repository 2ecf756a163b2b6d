//! Secret backends: where the vault's protection comes from.
//!
//! - `keychain`: the vault is sealed (XChaCha20-Poly1305); its 32-byte key is one item in the OS
//!   keychain (Secret Service, macOS Keychain, Windows Credential Manager). Fails closed.
//! - `file`: the vault is a plaintext, owner-only (0600) file.
//! - `auto`: probe the keychain (write, read, delete a throwaway item); fall back to `file` and
//!   report it ([`BackendReport::plaintext_fallback`]).
//!
//! Every keychain call runs on its own thread and is abandoned after a timeout, so a hung Secret
//! Service cannot hang Rota.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use rota_core::Secret;

/// The `secret_store` configuration switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStoreMode {
    Keychain,
    File,
    #[default]
    Auto,
}

impl FromStr for SecretStoreMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "keychain" => Ok(Self::Keychain),
            "file" => Ok(Self::File),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "secret_store must be \"keychain\", \"file\" or \"auto\", not {other:?}"
            )),
        }
    }
}

/// The backend actually in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretBackendKind {
    /// Sealed vault, key in the OS keychain.
    Keychain,
    /// Plaintext owner-only vault file.
    File,
}

/// What the UI (Settings → About) and `rota auth list` display about secret storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendReport {
    pub requested: SecretStoreMode,
    pub kind: SecretBackendKind,
    /// `auto` wanted the keychain but it did not work: secrets are in a plaintext file.
    pub plaintext_fallback: bool,
    /// Why the keychain probe failed (for the warning), when it did.
    pub probe_error: Option<String>,
}

impl BackendReport {
    /// What to show as the secret backend in lists and Settings → About.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self.kind {
            SecretBackendKind::Keychain => "OS keychain (encrypted vault)",
            SecretBackendKind::File => "plaintext file (0600)",
        }
    }

    /// The warning line to show, if any.
    #[must_use]
    pub fn warning(&self) -> Option<String> {
        if self.plaintext_fallback {
            Some(format!(
                "no working OS keychain ({}); secrets are stored in a plaintext owner-only file",
                self.probe_error.as_deref().unwrap_or("probe failed")
            ))
        } else {
            None
        }
    }
}

/// A place to keep small named secrets: the OS keychain in production.
///
/// Deliberately minimal: no listing, no attributes; the store keeps exactly one item (the vault
/// key) plus a throwaway probe item. Implementations must not log values.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// `Ok(None)` when the item does not exist.
    fn get(&self, name: &str) -> Result<Option<Secret>>;
    fn set(&self, name: &str, value: &Secret) -> Result<()>;
    /// Deleting a missing item is not an error.
    fn delete(&self, name: &str) -> Result<()>;
}

/// Writes, reads back (through a fresh handle) and deletes a throwaway item.
pub fn probe(store: &dyn KeyStore) -> Result<()> {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd)
        .map_err(|e| StoreError::Keychain(format!("no OS randomness: {e}")))?;
    let name = format!("probe-{}", u64::from_le_bytes(rnd));
    let value = Secret::new(format!(
        "rota-probe-{}",
        u64::from_le_bytes(rnd).rotate_left(7)
    ));
    store.set(&name, &value)?;
    let back = store.get(&name);
    let _ = store.delete(&name);
    match back? {
        Some(v) if v == value => Ok(()),
        Some(_) => Err(StoreError::Keychain(
            "probe item read back different".to_owned(),
        )),
        None => Err(StoreError::Keychain(
            "probe item vanished after writing (an in-memory keychain?)".to_owned(),
        )),
    }
}

/// Runs `f` on its own thread; gives up after `timeout` (the thread is left to finish alone).
fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("rota-keychain".to_owned())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Keychain(format!("cannot start keychain thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Keychain(format!(
            "{what} did not answer within {:.1} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// The OS keychain through the `keyring` crate, items under one service name.
#[derive(Debug, Clone)]
pub struct OsKeychain {
    service: Arc<str>,
    timeout: Duration,
}

/// Default keychain service name of Rota's items.
pub const DEFAULT_KEYCHAIN_SERVICE: &str = "rota";
/// Default timeout of one keychain call.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl OsKeychain {
    #[must_use]
    pub fn new(service: &str, timeout: Duration) -> Self {
        Self {
            service: service.into(),
            timeout,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
mod os {
    use super::{OsKeychain, Result, Secret, StoreError, with_timeout};

    fn describe(e: &keyring::Error) -> String {
        // Never format BadEncoding's payload: it would be the secret's bytes.
        match e {
            keyring::Error::PlatformFailure(inner) => format!("platform failure: {inner}"),
            keyring::Error::NoStorageAccess(inner) => format!("no storage access: {inner}"),
            keyring::Error::NoEntry => "no such item".to_owned(),
            keyring::Error::BadEncoding(_) => "item is not UTF-8".to_owned(),
            keyring::Error::TooLong(attr, len) => format!("{attr} longer than {len}"),
            keyring::Error::Invalid(attr, why) => format!("invalid {attr}: {why}"),
            keyring::Error::Ambiguous(_) => "ambiguous item (several matches)".to_owned(),
            _ => "keychain error".to_owned(),
        }
    }

    fn entry(service: &str, name: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(service, name).map_err(|e| StoreError::Keychain(describe(&e)))
    }

    impl super::KeyStore for OsKeychain {
        fn get(&self, name: &str) -> Result<Option<Secret>> {
            let (service, name) = (self.service.clone(), name.to_owned());
            with_timeout(self.timeout, "the keychain (read)", move || {
                match entry(&service, &name)?.get_password() {
                    Ok(v) => Ok(Some(Secret::new(v))),
                    Err(keyring::Error::NoEntry) => Ok(None),
                    Err(e) => Err(StoreError::Keychain(describe(&e))),
                }
            })
        }

        fn set(&self, name: &str, value: &Secret) -> Result<()> {
            let (service, name, value) = (self.service.clone(), name.to_owned(), value.clone());
            with_timeout(self.timeout, "the keychain (write)", move || {
                entry(&service, &name)?
                    .set_password(value.expose())
                    .map_err(|e| StoreError::Keychain(describe(&e)))
            })
        }

        fn delete(&self, name: &str) -> Result<()> {
            let (service, name) = (self.service.clone(), name.to_owned());
            with_timeout(self.timeout, "the keychain (delete)", move || match entry(
                &service, &name,
            )?
            .delete_credential()
            {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(StoreError::Keychain(describe(&e))),
            })
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
impl KeyStore for OsKeychain {
    fn get(&self, _name: &str) -> Result<Option<Secret>> {
        Err(StoreError::Keychain(
            "no keychain support on this platform".to_owned(),
        ))
    }
    fn set(&self, _name: &str, _value: &Secret) -> Result<()> {
        Err(StoreError::Keychain(
            "no keychain support on this platform".to_owned(),
        ))
    }
    fn delete(&self, _name: &str) -> Result<()> {
        Err(StoreError::Keychain(
            "no keychain support on this platform".to_owned(),
        ))
    }
}
