//! Shared test helpers: a small state type and child-process plumbing.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rota_store::{SecretBundle, SecretStoreMode, Store, StoreConfig, StoreError, StoreState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestState {
    pub generation: u64,
    pub counter: u64,
    pub items: Vec<String>,
    #[serde(default)]
    pub successes: std::collections::BTreeMap<String, u64>,
}

impl StoreState for TestState {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

pub type TestStore = Store<TestState>;

pub fn file_config(dir: &Path) -> StoreConfig {
    StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)
}

pub fn open_file_store(dir: &Path) -> TestStore {
    Store::open(file_config(dir)).expect("open store")
}

pub fn open_arc(dir: &Path) -> Arc<TestStore> {
    Arc::new(open_file_store(dir))
}

/// Re-runs this test binary with only the `#[ignore]`d helper test `name`, with extra env.
pub fn spawn_helper(name: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn helper")
}

/// The helper's argument, when this process is a helper run.
pub fn helper_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub const SHORT: Duration = Duration::from_millis(300);

/// `tests/fixtures`, through the run-time `CARGO_MANIFEST_DIR` first: it names this clone even
/// when a shared target dir holds a test binary compiled in another one.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/fixtures")
}

/// Canary secrets: none may ever appear in logs, errors or files other than the vault.
pub const CANARY_ACCESS: &str = "CANARY-ACCESS-5f1d2c";
pub const CANARY_REFRESH: &str = "CANARY-REFRESH-9a8b7c";
pub const CANARY_ID: &str = "CANARY-IDTOKEN-3e4f5a";

/// Puts `bundle` into the vault under `id`.
pub fn seed_account(store: &TestStore, id: &str, bundle: &SecretBundle) {
    store
        .mutate(|txn| {
            txn.vault_mut()?.insert(id, bundle.clone());
            Ok::<_, StoreError>(())
        })
        .unwrap();
}
