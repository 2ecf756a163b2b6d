//! Secret values as the vault holds them: redacted in `Debug`, never `Serialize`.
//!
//! Reading the value needs an explicit [`SecretString::expose`]; writing it to disk happens only
//! inside the vault codec ([`crate::vault`]), which converts to a private wire struct.

use std::collections::BTreeMap;
use std::fmt;

/// A token or other credential string. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent or persisted.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// One account's credentials: what the vault stores per record id.
///
/// `extras` holds provider-specific secret material (`id_token` for OpenAI, a Copilot
/// `enterprise_url`, …) by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBundle {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Expiry of the access token, unix milliseconds.
    pub expires_at_ms: Option<i64>,
    pub extras: BTreeMap<String, SecretString>,
}

impl SecretBundle {
    #[must_use]
    pub fn new(access_token: impl Into<SecretString>) -> Self {
        Self {
            access_token: access_token.into(),
            refresh_token: None,
            expires_at_ms: None,
            extras: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with_refresh(mut self, refresh_token: impl Into<SecretString>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    #[must_use]
    pub fn with_expiry_ms(mut self, expires_at_ms: i64) -> Self {
        self.expires_at_ms = Some(expires_at_ms);
        self
    }

    #[must_use]
    pub fn with_extra(mut self, name: impl Into<String>, value: impl Into<SecretString>) -> Self {
        self.extras.insert(name.into(), value.into());
        self
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
