//! Local keys in the vault: created once, the same from every later open of the store (a
//! restart), one per connection, revoked one at a time, and never in the state file.

use rota_store::{PoolStore, SecretStoreMode, StoreConfig};

fn open(dir: &std::path::Path) -> PoolStore {
    PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap()
}

#[test]
fn keys_survive_reopening_and_are_revoked_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).local_key("claude-code").unwrap();
    let codex = open(dir.path()).local_key("codex").unwrap();
    assert_ne!(first, codex);
    // Another process (a new open) gets the same key, not a new one.
    assert_eq!(open(dir.path()).local_key("claude-code").unwrap(), first);
    assert_eq!(
        open(dir.path()).local_key_names().unwrap(),
        vec!["claude-code".to_owned(), "codex".to_owned()]
    );
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains(first.expose()), "a key in the state file");

    assert!(open(dir.path()).revoke_local_key("claude-code").unwrap());
    assert!(!open(dir.path()).revoke_local_key("claude-code").unwrap());
    let store = open(dir.path());
    assert!(store.existing_local_key("claude-code").unwrap().is_none());
    assert_eq!(store.existing_local_key("codex").unwrap(), Some(codex));
    // A new key after revocation is a different one.
    assert_ne!(store.local_key("claude-code").unwrap(), first);
    assert!(store.local_key("Not A Name").is_err());
}
