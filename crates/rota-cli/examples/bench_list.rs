//! Median wall time of `rota auth list` on 3 providers × 5 accounts (target: ≤ 20 ms).
//!
//! `cargo run -p rota-cli --release --example bench_list [-- RUNS]`. Builds the `rota` binary
//! of the same profile first (cargo builds examples without the crate's binaries), seeds a
//! temporary store through `rota-store`, then times the real process end to end: start-up,
//! store open, state read, output. Measured twice: `ROTA_SECRET_STORE=file`, and the default
//! `auto` (which on a machine without a keychain also pays for the failing probe).
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rota_core::NewLogin;
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig, now_ms};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(51);
    let rota = build_rota();
    for mode in ["file", "auto"] {
        let home = tempfile::tempdir().expect("tempdir");
        seed(home.path(), mode);
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| time_list(&rota, home.path(), mode))
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "rota auth list, 3 providers x 5 accounts, ROTA_SECRET_STORE={mode}: median {:.2} ms, min {:.2} ms, max {:.2} ms ({runs} runs)",
            ms(median),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `rota` binary next to this example (`target/<profile>/rota`), built if needed.
fn build_rota() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/bench_list")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-q", "-p", "rota-cli", "--bin", "rota"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build of rota failed");
    let rota = profile_dir.join("rota");
    assert!(rota.exists(), "{} missing", rota.display());
    rota
}

fn seed(dir: &Path, mode: &str) {
    let store = PoolStore::open(
        StoreConfig::new(dir).with_secret_store(mode.parse::<SecretStoreMode>().expect("mode")),
    )
    .expect("open store");
    for provider in ProviderId::ALL {
        for n in 1..=5 {
            let login = NewLogin {
                identity: AccountIdentity {
                    account_id: Some(format!("{provider}-{n}")),
                    email: Some(format!("user{n}@{provider}.example")),
                    ..AccountIdentity::default()
                },
                label: None,
            };
            store
                .upsert_account(
                    provider,
                    DEFAULT_NAMESPACE,
                    login,
                    SecretBundle::new(format!("bench-token-{provider}-{n}")),
                    now_ms(),
                )
                .expect("seed account");
        }
    }
}

fn time_list(rota: &Path, home: &Path, mode: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new(rota)
        .args(["auth", "list"])
        .env("ROTA_HOME", home)
        .env("ROTA_SECRET_STORE", mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run rota");
    let elapsed = start.elapsed();
    assert!(status.success(), "rota auth list failed");
    elapsed
}
