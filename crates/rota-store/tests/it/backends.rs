//! One story, every backend: the same contract runs against the plaintext file backend, the
//! sealed vault with an in-process key store, and the sealed vault with the real OS keychain
//! (Secret Service started by the test in its own D-Bus session). Plus fail-closed, fallback,
//! timeout and undecryptable-vault behaviour.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{TestState, TestStore};
use rota_store::{
    KeyStore, OsKeychain, RefreshOutcome, Secret, SecretBackendKind, SecretBundle, SecretStoreMode,
    Store, StoreConfig, StoreError, VAULT_KEY_ITEM,
};
use rota_types::ErrorCode;

const CANARY_ACCESS: &str = "CANARY-BACKEND-ACCESS-77aa";
const CANARY_REFRESH: &str = "CANARY-BACKEND-REFRESH-88bb";

// ------------------------------------------------------------------ test key stores

/// An in-process key store (shared between store instances, like a keychain).
#[derive(Debug, Default)]
struct MemKeyStore {
    items: Mutex<HashMap<String, String>>,
}

impl KeyStore for MemKeyStore {
    fn get(&self, name: &str) -> rota_store::Result<Option<Secret>> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .get(name)
            .map(|v| Secret::new(v.clone())))
    }
    fn set(&self, name: &str, value: &Secret) -> rota_store::Result<()> {
        self.items
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.expose().to_owned());
        Ok(())
    }
    fn delete(&self, name: &str) -> rota_store::Result<()> {
        self.items.lock().unwrap().remove(name);
        Ok(())
    }
}

/// A keychain that is not there.
#[derive(Debug)]
struct BrokenKeyStore;

impl KeyStore for BrokenKeyStore {
    fn get(&self, _: &str) -> rota_store::Result<Option<Secret>> {
        Err(StoreError::Keychain("no Secret Service".into()))
    }
    fn set(&self, _: &str, _: &Secret) -> rota_store::Result<()> {
        Err(StoreError::Keychain("no Secret Service".into()))
    }
    fn delete(&self, _: &str) -> rota_store::Result<()> {
        Err(StoreError::Keychain("no Secret Service".into()))
    }
}

/// keyring 3 without backend features: writes "succeed", a new handle reads nothing.
#[derive(Debug)]
struct ForgetfulKeyStore;

impl KeyStore for ForgetfulKeyStore {
    fn get(&self, _: &str) -> rota_store::Result<Option<Secret>> {
        Ok(None)
    }
    fn set(&self, _: &str, _: &Secret) -> rota_store::Result<()> {
        Ok(())
    }
    fn delete(&self, _: &str) -> rota_store::Result<()> {
        Ok(())
    }
}

// ------------------------------------------------------------------ the contract

fn seed(store: &TestStore, id: &str, bundle: SecretBundle) {
    store
        .mutate(|txn| {
            txn.state.items.push(id.to_owned());
            txn.vault_mut()?.insert(id, bundle);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

fn canary_bundle(n: u32) -> SecretBundle {
    SecretBundle::new(format!("{CANARY_ACCESS}-{n}"))
        .with_refresh(format!("{CANARY_REFRESH}-{n}"))
        .with_expiry(1_790_000_000_000 + i64::from(n))
        .with_extra("id_token", format!("CANARY-BACKEND-IDTOKEN-{n}"))
}

fn contains(path: &Path, needle: &str) -> bool {
    fs::read(path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
}

/// What every secret backend must do.
fn contract(config: &dyn Fn() -> StoreConfig, kind: SecretBackendKind) {
    let store: TestStore = Store::open(config()).unwrap();
    assert_eq!(store.backend().kind, kind);
    assert!(!store.backend().plaintext_fallback);
    for n in 0..3 {
        seed(&store, &format!("acct-{n}"), canary_bundle(n));
    }

    // Another instance (another process) reads the same secrets.
    let other: TestStore = Store::open(config()).unwrap();
    let vault = other.load_vault().unwrap();
    assert_eq!(vault.len(), 3);
    assert_eq!(vault.get("acct-1"), Some(&canary_bundle(1)));

    // Update and remove, then read back from disk.
    other
        .mutate(|txn| {
            let v = txn.vault_mut()?;
            v.insert(
                "acct-0",
                SecretBundle::new("new-access").with_refresh("new-refresh"),
            );
            v.remove("acct-2");
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let vault = store.load_vault().unwrap();
    assert_eq!(vault.ids().collect::<Vec<_>>(), ["acct-0", "acct-1"]);
    assert_eq!(
        vault.get("acct-0").unwrap().access_token.expose(),
        "new-access"
    );

    // The refresh protocol works on every backend.
    let loaded = store.secrets("acct-1").unwrap().unwrap();
    let outcome = store
        .refresh_secrets("acct-1", &loaded, |_| {
            Ok::<_, StoreError>(SecretBundle::new("refreshed").with_refresh("r2"))
        })
        .unwrap();
    assert!(matches!(outcome, RefreshOutcome::Refreshed(_)));
    assert_eq!(
        other
            .secrets("acct-1")
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "refreshed"
    );

    // Secrets never reach the state file; a sealed vault does not show them either.
    let paths = store.paths().clone();
    for file in [paths.state.clone(), paths.dir.join("state.json.bak")] {
        assert!(
            !contains(&file, "CANARY-BACKEND"),
            "{} holds a token",
            file.display()
        );
    }
    let vault_files = [paths.vault.clone(), paths.dir.join("vault.json.bak")];
    match kind {
        SecretBackendKind::Keychain => {
            for file in &vault_files {
                assert!(file.exists());
                for plain in ["CANARY-BACKEND", "new-refresh", "refreshed"] {
                    assert!(!contains(file, plain), "{} is not sealed", file.display());
                }
            }
        }
        SecretBackendKind::File => {
            assert!(contains(&paths.vault, "new-refresh"), "plaintext vault");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(&paths.vault).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
    }

    // An unreadable vault is quarantined and its backup restored.
    let before_last_write = {
        let bak = fs::read(paths.dir.join("vault.json.bak")).unwrap();
        fs::write(&paths.vault, b"\0\0\0\0").unwrap();
        bak
    };
    let reopened: TestStore = Store::open(config()).unwrap();
    assert_eq!(reopened.pending_recoveries().len(), 1);
    assert_eq!(fs::read(&paths.vault).unwrap(), before_last_write);
    assert!(reopened.load_vault().unwrap().contains("acct-0"));
    let _: TestState = reopened.load().unwrap();
}

fn file_config(dir: &Path) -> StoreConfig {
    StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)
}

fn sealed_config(dir: &Path, keys: &Arc<MemKeyStore>) -> StoreConfig {
    StoreConfig::new(dir)
        .with_secret_store(SecretStoreMode::Keychain)
        .with_key_store(Arc::clone(keys) as Arc<dyn KeyStore>)
}

#[test]
fn contract_file_backend() {
    let tmp = tempfile::tempdir().unwrap();
    contract(&|| file_config(tmp.path()), SecretBackendKind::File);
}

#[test]
fn contract_sealed_vault_with_an_in_process_key_store() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemKeyStore::default());
    contract(
        &|| sealed_config(tmp.path(), &keys),
        SecretBackendKind::Keychain,
    );
    assert!(
        keys.items.lock().unwrap().contains_key(VAULT_KEY_ITEM),
        "one key item"
    );
    assert_eq!(
        keys.items.lock().unwrap().len(),
        1,
        "probe items are deleted"
    );
}

// ------------------------------------------------------------------ sealed vault failures

fn sealed_store_with_secret(dir: &Path, keys: &Arc<MemKeyStore>) -> (Vec<u8>, Vec<u8>) {
    let store: TestStore = Store::open(sealed_config(dir, keys)).unwrap();
    seed(&store, "a", canary_bundle(1));
    seed(&store, "b", canary_bundle(2));
    let paths = store.paths();
    (
        fs::read(&paths.vault).unwrap(),
        fs::read(paths.dir.join("vault.json.bak")).unwrap(),
    )
}

fn assert_untouched(dir: &Path, vault: &[u8], bak: &[u8]) {
    assert_eq!(
        fs::read(dir.join("vault.json")).unwrap(),
        vault,
        "vault overwritten"
    );
    assert_eq!(
        fs::read(dir.join("vault.json.bak")).unwrap(),
        bak,
        "backup overwritten"
    );
    let aside = fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt")
        })
        .count();
    assert_eq!(
        aside, 0,
        "an undecryptable vault is not 'corrupt': nothing moved"
    );
}

#[test]
fn a_vault_sealed_with_another_key_is_an_error_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemKeyStore::default());
    let (vault, bak) = sealed_store_with_secret(tmp.path(), &keys);
    // Another 32-byte key in the keychain.
    keys.items
        .lock()
        .unwrap()
        .insert(VAULT_KEY_ITEM.into(), "A".repeat(43) + "=");
    let err = Store::<TestState>::open(sealed_config(tmp.path(), &keys)).unwrap_err();
    assert!(
        matches!(err, StoreError::VaultUndecryptable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    assert_eq!(err.code(), ErrorCode::Unreadable);
    assert_untouched(tmp.path(), &vault, &bak);
}

#[test]
fn a_sealed_vault_whose_key_is_gone_is_an_error_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemKeyStore::default());
    let (vault, bak) = sealed_store_with_secret(tmp.path(), &keys);
    keys.items.lock().unwrap().clear();
    let err = Store::<TestState>::open(sealed_config(tmp.path(), &keys)).unwrap_err();
    assert!(
        matches!(err, StoreError::VaultUndecryptable { .. }),
        "{err}"
    );
    assert_untouched(tmp.path(), &vault, &bak);
    // `auto` falling back to the file cannot read it either, and says why.
    let config = StoreConfig::new(tmp.path()).with_key_store(Arc::new(ForgetfulKeyStore));
    let err = Store::<TestState>::open(config).unwrap_err();
    assert!(
        matches!(err, StoreError::VaultUndecryptable { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("keychain holding its key is not available"),
        "{err}"
    );
    assert_untouched(tmp.path(), &vault, &bak);
    // The file backend cannot read it either, and says so.
    let err = Store::<TestState>::open(file_config(tmp.path())).unwrap_err();
    assert!(
        matches!(err, StoreError::VaultUndecryptable { .. }),
        "{err}"
    );
    assert_untouched(tmp.path(), &vault, &bak);
}

#[test]
fn damaged_ciphertext_is_restored_from_a_backup_that_decrypts() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemKeyStore::default());
    let (vault, _) = sealed_store_with_secret(tmp.path(), &keys);
    let mut text = String::from_utf8(vault).unwrap();
    let pos = text.find("\"ciphertext\": \"").unwrap() + 20;
    let flipped = if &text[pos..=pos] == "A" { "B" } else { "A" };
    text.replace_range(pos..=pos, flipped);
    fs::write(tmp.path().join("vault.json"), &text).unwrap();
    let store: TestStore = Store::open(sealed_config(tmp.path(), &keys)).unwrap();
    assert_eq!(store.pending_recoveries().len(), 1);
    assert!(store.load_vault().unwrap().contains("a"));
}

#[test]
fn a_plaintext_vault_is_sealed_when_the_keychain_backend_takes_over() {
    let tmp = tempfile::tempdir().unwrap();
    let plain: TestStore = Store::open(file_config(tmp.path())).unwrap();
    seed(&plain, "a", canary_bundle(1));
    seed(&plain, "b", canary_bundle(2));
    let keys = Arc::new(MemKeyStore::default());
    let sealed: TestStore = Store::open(sealed_config(tmp.path(), &keys)).unwrap();
    assert_eq!(
        sealed.load_vault().unwrap().len(),
        2,
        "reads the plaintext vault"
    );
    seed(&sealed, "c", canary_bundle(3));
    for name in ["vault.json", "vault.json.bak"] {
        assert!(
            !contains(&tmp.path().join(name), "CANARY-BACKEND"),
            "{name} still plaintext"
        );
    }
    assert_eq!(sealed.load_vault().unwrap().len(), 3);
}

// ------------------------------------------------------------------ choice of backend

#[test]
fn keychain_mode_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    for broken in [
        Arc::new(BrokenKeyStore) as Arc<dyn KeyStore>,
        Arc::new(ForgetfulKeyStore),
    ] {
        let config = StoreConfig::new(tmp.path())
            .with_secret_store(SecretStoreMode::Keychain)
            .with_key_store(broken);
        let err = Store::<TestState>::open(config).unwrap_err();
        assert!(matches!(err, StoreError::Keychain(_)), "{err}");
        assert!(
            err.to_string().contains("secret_store = \"keychain\""),
            "{err}"
        );
    }
    assert!(!tmp.path().join("vault.json").exists());
}

#[test]
fn auto_mode_falls_back_to_the_file_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(tmp.path()).with_key_store(Arc::new(ForgetfulKeyStore));
    assert_eq!(
        config.secret_store,
        SecretStoreMode::Auto,
        "auto is the default"
    );
    let store: TestStore = Store::open(config).unwrap();
    let report = store.backend();
    assert_eq!(report.kind, SecretBackendKind::File);
    assert!(report.plaintext_fallback);
    let warning = report.warning().expect("a warning to display");
    assert!(warning.contains("plaintext"), "{warning}");
    assert!(
        warning.contains("vanished"),
        "names the probe failure: {warning}"
    );
    // …and it works.
    seed(&store, "a", canary_bundle(1));
    assert!(store.load_vault().unwrap().contains("a"));

    let keys = Arc::new(MemKeyStore::default());
    let config = StoreConfig::new(tempfile::tempdir().unwrap().path())
        .with_key_store(Arc::clone(&keys) as Arc<dyn KeyStore>);
    let store: TestStore = Store::open(config).unwrap();
    assert_eq!(store.backend().kind, SecretBackendKind::Keychain);
    assert_eq!(store.backend().warning(), None);
}

#[test]
fn secret_store_mode_parses_the_config_values() {
    assert_eq!("keychain".parse(), Ok(SecretStoreMode::Keychain));
    assert_eq!("file".parse(), Ok(SecretStoreMode::File));
    assert_eq!("auto".parse(), Ok(SecretStoreMode::Auto));
    assert!(
        "vault"
            .parse::<SecretStoreMode>()
            .unwrap_err()
            .contains("keychain")
    );
}

// ------------------------------------------------------------------ the real OS keychain

const INNER_ENV: &str = "ROTA_TEST_KEYCHAIN_DIR";
const INNER_OK: &str = "KEYCHAIN-INNER-OK";

#[cfg(target_os = "linux")] // only the Secret Service test starts programs
fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs `inner` (an ignored test of this binary) with `envs`, returning its success and output.
fn run_inner(program: &mut Command, inner: &str) -> (bool, String) {
    let out = program
        .args([
            "--ignored",
            "--exact",
            inner,
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[cfg(target_os = "linux")]
#[test]
fn keychain_backend_under_a_real_secret_service() {
    let (Some(dbus_run_session), Some(_)) = (
        find_program("dbus-run-session"),
        find_program("gnome-keyring-daemon"),
    ) else {
        panic!(
            "the keychain test needs `dbus-run-session` (Debian package `dbus-daemon`) and \
             `gnome-keyring-daemon` (package `gnome-keyring`): apt-get install dbus-daemon gnome-keyring"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let xdg = tmp.path().join("xdg");
    fs::create_dir_all(&xdg).unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = "printf '%s' rota-test-keyring | gnome-keyring-daemon --unlock --components=secrets \
                  --daemonize >/dev/null || exit 97; exec \"$0\" \"$@\"";
    let mut cmd = Command::new(dbus_run_session);
    cmd.args(["--", "sh", "-c", script])
        .arg(&exe)
        .env("XDG_DATA_HOME", &xdg)
        .env("XDG_RUNTIME_DIR", &xdg)
        .env(INNER_ENV, tmp.path().join("data"));
    let (ok, output) = run_inner(&mut cmd, "backends::keychain_inner");
    assert!(
        ok && output.contains(INNER_OK),
        "keychain test failed under Secret Service:\n{output}"
    );
}

#[test]
#[ignore = "helper: runs inside dbus-run-session with gnome-keyring (see the test above)"]
fn keychain_inner() {
    let Some(dir) = crate::common::helper_env(INNER_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let config = || {
        let mut c = StoreConfig::new(&dir).with_secret_store(SecretStoreMode::Keychain);
        c.keychain_service = "rota-test".into();
        c
    };
    contract(&config, SecretBackendKind::Keychain);
    // The key is one item of the real keychain, readable through a fresh handle.
    let os = OsKeychain::new("rota-test", Duration::from_secs(5));
    assert!(
        os.get(VAULT_KEY_ITEM).unwrap().is_some(),
        "vault key item missing"
    );
    // `auto` picks the keychain when it works.
    let mut auto = config();
    auto.secret_store = SecretStoreMode::Auto;
    let store: TestStore = Store::open(auto).unwrap();
    assert_eq!(store.backend().kind, SecretBackendKind::Keychain);
    assert_eq!(store.load_vault().unwrap().len(), 2);
    println!("\n{INNER_OK}");
}

const NO_BUS_ENV: &str = "ROTA_TEST_NO_BUS_DIR";

#[test]
fn without_a_secret_service_auto_falls_back_and_keychain_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", tmp.path().join("no-bus").display()),
    )
    .env(NO_BUS_ENV, tmp.path().join("data"));
    let (ok, output) = run_inner(&mut cmd, "backends::no_bus_inner");
    assert!(ok && output.contains(INNER_OK), "{output}");
}

#[test]
#[ignore = "helper: runs with DBUS_SESSION_BUS_ADDRESS pointing nowhere"]
fn no_bus_inner() {
    let Some(dir) = crate::common::helper_env(NO_BUS_ENV) else {
        return;
    };
    let store: TestStore = Store::open(StoreConfig::new(&dir)).unwrap();
    assert_eq!(store.backend().kind, SecretBackendKind::File);
    assert!(store.backend().plaintext_fallback);
    assert!(store.backend().warning().unwrap().contains("plaintext"));
    let err = Store::<TestState>::open(
        StoreConfig::new(&dir).with_secret_store(SecretStoreMode::Keychain),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Keychain(_)), "{err}");
    println!("\n{INNER_OK}");
}

const HUNG_ENV: &str = "ROTA_TEST_HUNG_BUS_DIR";

#[cfg(unix)]
#[test]
fn a_keychain_that_never_answers_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("hung-bus");
    // Accepts connections (kernel backlog) and never answers a byte.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", socket.display()),
    )
    .env(HUNG_ENV, tmp.path().join("data"));
    let (ok, output) = run_inner(&mut cmd, "backends::hung_bus_inner");
    assert!(ok && output.contains(INNER_OK), "{output}");
}

#[test]
#[ignore = "helper: runs with DBUS_SESSION_BUS_ADDRESS pointing at a silent socket"]
fn hung_bus_inner() {
    let Some(dir) = crate::common::helper_env(HUNG_ENV) else {
        return;
    };
    let mut config = StoreConfig::new(&dir).with_secret_store(SecretStoreMode::Keychain);
    config.keychain_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = Store::<TestState>::open(config.clone()).unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    config.secret_store = SecretStoreMode::Auto;
    let store: TestStore = Store::open(config).unwrap();
    assert!(store.backend().plaintext_fallback);
    println!("\n{INNER_OK}");
    // The stuck keychain thread must not keep the process alive.
    std::process::exit(0);
}

// ------------------------------------------------------------------ open_quick

/// Counts every keychain call, to prove a read needs none.
#[derive(Debug, Default)]
struct CountingKeyStore {
    inner: MemKeyStore,
    calls: std::sync::atomic::AtomicUsize,
}

impl CountingKeyStore {
    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl KeyStore for CountingKeyStore {
    fn get(&self, name: &str) -> rota_store::Result<Option<Secret>> {
        self.count();
        self.inner.get(name)
    }
    fn set(&self, name: &str, value: &Secret) -> rota_store::Result<()> {
        self.count();
        self.inner.set(name, value)
    }
    fn delete(&self, name: &str) -> rota_store::Result<()> {
        self.count();
        self.inner.delete(name)
    }
}

#[test]
fn open_quick_reads_a_sealed_store_without_the_keychain() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Arc::new(CountingKeyStore::default());
    let auto =
        || StoreConfig::new(tmp.path()).with_key_store(Arc::clone(&keys) as Arc<dyn KeyStore>);
    let store: TestStore = Store::open(auto()).unwrap();
    seed(&store, "acct-1", canary_bundle(1));
    drop(store);

    let before = keys.calls();
    let quick: TestStore = Store::open_quick(auto()).unwrap();
    assert_eq!(quick.backend().kind, SecretBackendKind::Keychain);
    assert_eq!(quick.backend().warning(), None);
    let state: TestState = quick.load().unwrap();
    assert_eq!(state.items, vec!["acct-1".to_owned()]);
    assert_eq!(
        keys.calls(),
        before,
        "no probe and no key read for a listing"
    );
    // Secrets are still there when asked for: one key read.
    assert!(quick.load_vault().unwrap().contains("acct-1"));
    assert_eq!(keys.calls(), before + 1);
}

#[test]
fn open_quick_probes_when_the_files_cannot_tell() {
    // auto + a plaintext vault: whether that is the fallback depends on the keychain, so probe.
    let tmp = tempfile::tempdir().unwrap();
    let store: TestStore = Store::open(file_config(tmp.path())).unwrap();
    seed(&store, "a", canary_bundle(2));
    let config = StoreConfig::new(tmp.path()).with_key_store(Arc::new(ForgetfulKeyStore));
    let quick: TestStore = Store::open_quick(config).unwrap();
    assert!(quick.backend().plaintext_fallback);
    assert!(quick.backend().warning().unwrap().contains("vanished"));
    // An explicit mode needs no probe and no directory.
    let missing = tmp.path().join("not-created");
    let quick: TestStore =
        Store::open_quick(StoreConfig::new(&missing).with_secret_store(SecretStoreMode::File))
            .unwrap();
    assert_eq!(quick.backend().kind, SecretBackendKind::File);
    assert_eq!(quick.load().unwrap().items, Vec::<String>::new());
    assert!(!missing.exists(), "reading created nothing");
}
