//! Secret values as the vault holds them: rota-core's [`Secret`] (redacted in `Debug`, never
//! `Serialize`) grouped per account.
//!
//! Reading a value needs an explicit [`Secret::expose`]; writing it to disk happens only inside
//! the vault codec ([`crate::vault`]), which converts to a private wire struct.

use std::collections::BTreeMap;
use std::fmt;

use rota_core::{Credentials, Secret};
use rota_types::UnixMs;

/// Bundle extra set on a GitHub Copilot login whose GitHub token the Copilot API takes directly
/// (opencode's own GitHub app: `copilot_internal/v2/token` answers 404 for it).
pub const COPILOT_DIRECT: &str = "copilot_direct";

/// One account's credentials: what the vault stores per record id.
///
/// `extras` holds provider-specific secret material (`id_token` for OpenAI, a Copilot
/// `enterprise_url`, …) by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBundle {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Expiry of the access token, unix milliseconds.
    pub expires_at: Option<UnixMs>,
    pub extras: BTreeMap<String, Secret>,
}

impl SecretBundle {
    #[must_use]
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            access_token: Secret::new(access_token),
            refresh_token: None,
            expires_at: None,
            extras: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with_refresh(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(Secret::new(refresh_token));
        self
    }

    #[must_use]
    pub fn with_expiry(mut self, expires_at: UnixMs) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    #[must_use]
    pub fn with_extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extras.insert(name.into(), Secret::new(value));
        self
    }

    /// The provider extra `name` (e.g. `id_token`), if present.
    #[must_use]
    pub fn extra(&self, name: &str) -> Option<&Secret> {
        self.extras.get(name)
    }

    /// rota-core's view (access, refresh, expiry), e.g. for `needs_refresh`.
    #[must_use]
    pub fn credentials(&self) -> Credentials {
        Credentials {
            access: self.access_token.clone(),
            refresh: self.refresh_token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// Every account's secrets, keyed by record id. `Debug` lists the ids only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vault {
    entries: BTreeMap<String, SecretBundle>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("ids", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vault {
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&SecretBundle> {
        self.entries.get(id)
    }

    /// Inserts or replaces an account's secrets; returns the previous ones.
    pub fn insert(&mut self, id: impl Into<String>, bundle: SecretBundle) -> Option<SecretBundle> {
        self.entries.insert(id.into(), bundle)
    }

    pub fn remove(&mut self, id: &str) -> Option<SecretBundle> {
        self.entries.remove(id)
    }

    /// Keeps only the ids for which `keep` is true (e.g. ids still present in the pool).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }

    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretBundle)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<Credentials> for SecretBundle {
    fn from(c: Credentials) -> Self {
        Self {
            access_token: c.access,
            refresh_token: c.refresh,
            expires_at: c.expires_at,
            extras: BTreeMap::new(),
        }
    }
}
