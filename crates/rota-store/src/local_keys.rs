//! Local keys: the credential a coding tool presents to Rota's gateway, one per connection
//! (`claude-code`, `codex`, `opencode`, `sdk`).
//!
//! A key is created once and kept in the vault under `local-key:<connection>`, so it lives in
//! the secret backend (sealed with the keychain's key, or the 0600 file backend) and is the same
//! after every restart of the app or `rota serve`. Revoking one connection's key leaves the
//! others working. The gateway's per-start token in `api.json` is separate (for programs).

use rota_core::Secret;

use crate::error::{Result, StoreError};
use crate::secret::{SecretBundle, Vault};
use crate::store::{Store, StoreState};

/// Vault id prefix of local keys (account ids are ULIDs, which never contain `:`).
pub const LOCAL_KEY_PREFIX: &str = "local-key:";

/// The vault id of `connection`'s key.
#[must_use]
pub fn local_key_id(connection: &str) -> String {
    format!("{LOCAL_KEY_PREFIX}{connection}")
}

/// Every local key in a vault: `(connection, key)`.
pub fn local_keys(vault: &Vault) -> impl Iterator<Item = (&str, &Secret)> {
    vault
        .iter()
        .filter_map(|(id, b)| Some((id.strip_prefix(LOCAL_KEY_PREFIX)?, &b.access_token)))
}

/// A connection name: lower-case ASCII letters, digits and `-`, 1 to 40 characters.
fn check_name(connection: &str) -> Result<()> {
    let ok = !connection.is_empty()
        && connection.len() <= 40
        && connection
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "{connection:?} is not a connection name (lower-case letters, digits and '-')"
        )))
    }
}

/// `rota_` and 256 random bits in hex: recognisable in a config file, never guessable.
fn generate() -> Result<Secret> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| StoreError::Keychain(format!("no OS randomness for a local key: {e}")))?;
    let mut key = String::with_capacity(5 + 64);
    key.push_str("rota_");
    for b in raw {
        use std::fmt::Write as _;
        let _ = write!(key, "{b:02x}");
    }
    Ok(Secret::new(key))
}

impl<S: StoreState> Store<S> {
    /// `connection`'s key, created (under the store lock, so two processes agree on one) when
    /// it has none.
    pub fn local_key(&self, connection: &str) -> Result<Secret> {
        check_name(connection)?;
        let id = local_key_id(connection);
        if let Some(b) = self.load_vault()?.get(&id) {
            return Ok(b.access_token.clone());
        }
        self.mutate(|txn| {
            if let Some(b) = txn.vault()?.get(&id) {
                return Ok(b.access_token.clone());
            }
            let key = generate()?;
            txn.vault_mut()?
                .insert(id, SecretBundle::new(key.expose().to_owned()));
            Ok(key)
        })
    }

    /// `connection`'s key if it has one (no key is created).
    pub fn existing_local_key(&self, connection: &str) -> Result<Option<Secret>> {
        check_name(connection)?;
        Ok(self
            .load_vault()?
            .get(&local_key_id(connection))
            .map(|b| b.access_token.clone()))
    }

    /// Deletes `connection`'s key: the gateway refuses it from its next request on. Returns
    /// whether there was one.
    pub fn revoke_local_key(&self, connection: &str) -> Result<bool> {
        check_name(connection)?;
        let id = local_key_id(connection);
        if !self.load_vault()?.contains(&id) {
            return Ok(false);
        }
        self.mutate(|txn| Ok(txn.vault_mut()?.remove(&id).is_some()))
    }

    /// The connections that have a key, sorted.
    pub fn local_key_names(&self) -> Result<Vec<String>> {
        Ok(local_keys(&self.load_vault()?)
            .map(|(c, _)| c.to_owned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("claude-code").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("Claude").is_err());
        assert!(check_name("a:b").is_err());
    }

    #[test]
    fn keys_are_distinct_and_prefixed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("rota_"));
        assert_eq!(a.expose().len(), 69);
    }
}
