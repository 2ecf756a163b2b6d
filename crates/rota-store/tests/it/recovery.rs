//! What a damaged or foreign `state.json`/`vault.json` does to the pool (issue: a file of the
//! wrong shape was read as an empty pool, recoveries were silent, a restored vault re-used spent
//! refresh tokens, a newer format was accepted and rewritten). Shapes as a table.

use std::fs;
use std::path::{Path, PathBuf};

use rota_core::{NewLogin, Ulid};
use rota_store::{PoolStore, RecoveryKind, SecretBundle, Store, StoreError};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ErrorCode, ProviderId};

const A: ProviderId = ProviderId::Anthropic;

fn open(dir: &Path) -> Result<PoolStore, StoreError> {
    Store::open(crate::common::file_config(dir))
}

fn add(store: &PoolStore, email: &str) -> Ulid {
    store
        .upsert_account(
            A,
            DEFAULT_NAMESPACE,
            NewLogin {
                identity: AccountIdentity {
                    email: Some(email.to_owned()),
                    ..AccountIdentity::default()
                },
                label: None,
            },
            SecretBundle::new(format!("tok-{email}")).with_refresh(format!("ref-{email}")),
            rota_store::now_ms(),
        )
        .unwrap()
        .id
}

fn emails(store: &PoolStore) -> Vec<String> {
    let state = store.load().unwrap();
    state
        .pool(A)
        .map(|p| {
            p.records
                .iter()
                .filter_map(|r| r.identity.email.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn quarantined(dir: &Path, name: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.corrupt-"))
        })
        .collect()
}

/// JSON that parses but is not a Rota state.
fn foreign_shapes(vault_json: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty object", b"{}".to_vec()),
        ("array", b"[]".to_vec()),
        ("other object", br#"{"hello":"world"}"#.to_vec()),
        ("null", b"null".to_vec()),
        ("string", br#""state""#.to_vec()),
        ("number", b"42".to_vec()),
        ("version only", br#"{"version":1}"#.to_vec()),
        (
            "no providers",
            br#"{"version":1,"generation":3,"switchLog":[]}"#.to_vec(),
        ),
        ("the vault's JSON", vault_json.to_vec()),
    ]
}

#[test]
fn a_state_file_of_the_wrong_shape_is_unreadable_not_an_empty_pool() {
    let proto = tempfile::tempdir().unwrap();
    let s = open(proto.path()).unwrap();
    add(&s, "a@example.com");
    let vault_json = fs::read(&s.paths().vault).unwrap();
    for (kind, bad) in foreign_shapes(&vault_json) {
        // With a backup: moved aside, the backup restored, and said so.
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path()).unwrap();
        add(&store, "a@example.com");
        add(&store, "b@example.com");
        fs::write(&store.paths().state, &bad).unwrap();
        drop(store);
        let store = open(tmp.path()).unwrap();
        assert_eq!(emails(&store), ["a@example.com"], "{kind}: backup restored");
        let notices = store.pending_recoveries();
        assert_eq!(notices.len(), 1, "{kind}");
        assert_eq!(notices[0].kind, RecoveryKind::RestoredFromBackup, "{kind}");
        assert!(
            notices[0].to_string().contains("not a Rota state file")
                || notices[0].to_string().contains("not JSON")
                || notices[0].to_string().contains("invalid type"),
            "{kind}: {}",
            notices[0]
        );
        assert_eq!(
            fs::read(&quarantined(tmp.path(), "state.json")[0]).unwrap(),
            bad,
            "{kind}"
        );
        // The vault still holds b's secret: it may belong to the account the revert lost, so
        // it is kept while the recovery is unacknowledged.
        assert!(
            store.load_vault().unwrap().len() == 2,
            "{kind}: b's secret kept"
        );

        // Without a backup: the open fails, nothing is overwritten, and every later open
        // reports the loss until acknowledged, instead of passing for an empty pool.
        let tmp = tempfile::tempdir().unwrap();
        let store = open(tmp.path()).unwrap();
        add(&store, "a@example.com");
        fs::remove_file(tmp.path().join("state.json.bak")).ok();
        fs::write(&store.paths().state, &bad).unwrap();
        drop(store);
        let err = open(tmp.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{kind}: {err}");
        assert_eq!(err.code(), ErrorCode::Unreadable);
        let store = open(tmp.path()).unwrap();
        let notices = store.pending_recoveries();
        assert_eq!(notices.len(), 1, "{kind}");
        assert_eq!(notices[0].kind, RecoveryKind::NoBackup, "{kind}");
        assert!(notices[0].to_string().contains("missing"), "{kind}");
        // A mutation does not make the secrets of the lost accounts orphans to clean up.
        add(&store, "c@example.com");
        drop(store);
        let store = open(tmp.path()).unwrap();
        assert_eq!(
            store.load_vault().unwrap().len(),
            2,
            "{kind}: a's secret kept"
        );
        assert_eq!(
            store.pending_recoveries().len(),
            1,
            "{kind}: still reported"
        );
        assert_eq!(store.acknowledge_recoveries().unwrap().len(), 1);
        drop(store);
        let store = open(tmp.path()).unwrap();
        assert!(store.pending_recoveries().is_empty(), "{kind}");
        assert_eq!(
            store.load_vault().unwrap().len(),
            1,
            "{kind}: acknowledged, the lost account's secret is cleaned"
        );
    }
}

#[test]
fn a_restored_vault_marks_accounts_whose_refresh_token_may_be_spent() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let a = add(&store, "a@example.com");
    let b = add(&store, "b@example.com");
    // A refresh of a: the vault's .bak now holds a's spent refresh token.
    let lock = store.lock_account(&a.to_string()).unwrap();
    store
        .save_refreshed(&lock, SecretBundle::new("tok-a2").with_refresh("ref-a2"))
        .unwrap();
    drop(lock);
    fs::write(&store.paths().vault, b"{\"cipher\":\"none\",\"vers").unwrap();
    drop(store);

    let store = open(tmp.path()).unwrap();
    let state = store.load().unwrap();
    for id in [a, b] {
        assert!(
            state.record(A, id).unwrap().health.needs_reauth,
            "{id}: a restored refresh token is not used again silently"
        );
    }
    let notices = store.pending_recoveries();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, RecoveryKind::RestoredFromBackup);
    assert_eq!(notices[0].needs_login.len(), 2);
    let text = notices[0].to_string();
    assert!(
        text.contains("vault.json") && text.contains("new login"),
        "{text}"
    );
    assert!(
        !text.contains("ref-a") && !text.contains("tok-"),
        "no secret in {text}"
    );
    // Every open says it again until acknowledged.
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(store.pending_recoveries().len(), 1);
    store.acknowledge_recoveries().unwrap();
    assert!(open(tmp.path()).unwrap().pending_recoveries().is_empty());
}

#[test]
fn a_lost_vault_marks_every_account_for_a_new_login_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let a = add(&store, "a@example.com");
    fs::remove_file(tmp.path().join("vault.json.bak")).ok();
    fs::write(&store.paths().vault, b"garbage").unwrap();
    drop(store);
    assert!(matches!(open(tmp.path()), Err(StoreError::Corrupt { .. })));
    let store = open(tmp.path()).unwrap();
    assert!(
        store
            .load()
            .unwrap()
            .record(A, a)
            .unwrap()
            .health
            .needs_reauth
    );
    let kinds: Vec<_> = store.pending_recoveries().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [RecoveryKind::NoBackup, RecoveryKind::MissingSecrets]
    );
    // Said once, not on every open.
    drop(store);
    assert_eq!(open(tmp.path()).unwrap().pending_recoveries().len(), 2);
}

#[test]
fn files_of_a_newer_format_are_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    add(&store, "a@example.com");
    add(&store, "b@example.com");
    let mut state: serde_json::Value =
        serde_json::from_slice(&fs::read(&store.paths().state).unwrap()).unwrap();
    state["version"] = serde_json::json!(rota_core::STATE_VERSION + 1);
    state["futureField"] = serde_json::json!({"kept": true});
    let newer = serde_json::to_vec(&state).unwrap();
    fs::write(&store.paths().state, &newer).unwrap();
    let bak = fs::read(tmp.path().join("state.json.bak")).unwrap();
    drop(store);

    let err = open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    assert!(err.to_string().contains("newer version of Rota"), "{err}");
    let store =
        Store::<rota_core::PoolState>::open_quick(crate::common::file_config(tmp.path())).unwrap();
    assert!(matches!(store.load(), Err(StoreError::NewerFormat { .. })));
    assert!(
        store
            .rename(A, rota_types::DEFAULT_NAMESPACE, Ulid::nil(), "x", 1)
            .is_err()
    );
    assert_eq!(fs::read(tmp.path().join("state.json")).unwrap(), newer);
    assert_eq!(fs::read(tmp.path().join("state.json.bak")).unwrap(), bak);
    assert!(quarantined(tmp.path(), "state.json").is_empty());

    // The vault likewise.
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    add(&store, "a@example.com");
    let mut vault: serde_json::Value =
        serde_json::from_slice(&fs::read(&store.paths().vault).unwrap()).unwrap();
    vault["version"] = serde_json::json!(2);
    let newer = serde_json::to_vec(&vault).unwrap();
    fs::write(&store.paths().vault, &newer).unwrap();
    drop(store);
    let err = open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    assert_eq!(fs::read(tmp.path().join("vault.json")).unwrap(), newer);
    assert!(quarantined(tmp.path(), "vault.json").is_empty());
}

#[test]
fn orphaned_secrets_of_an_interrupted_import_are_cleaned_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    add(&store, "a@example.com");
    // What a pre-fix crash between the vault and the state write of an import left behind.
    store
        .mutate(|txn| {
            txn.vault_mut()?
                .insert("01ORPHAN0000000000000000AA", SecretBundle::new("canary"));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(store.load_vault().unwrap().len(), 1);
    store
        .remove_all(A, DEFAULT_NAMESPACE, rota_store::now_ms())
        .unwrap();
    assert!(
        store.load_vault().unwrap().is_empty(),
        "logout --all leaves no secret"
    );
    assert!(
        !fs::read_to_string(&store.paths().vault)
            .unwrap()
            .contains("canary")
    );
}
