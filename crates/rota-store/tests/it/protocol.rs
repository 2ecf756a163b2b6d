//! The mutation protocol, recovery from unreadable files, locks, the change watcher, batched
//! counters, the refresh protocol and secret hygiene.

use std::fs;
use std::io::{BufRead, BufReader, Read as _};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::common::{
    CANARY_ACCESS, CANARY_ID, CANARY_REFRESH, SHORT, TestState, TestStore, file_config,
    open_file_store, seed_account, spawn_helper,
};
use rota_store::{
    BatchedCounters, DEFAULT_LOCK_TIMEOUT, RefreshOutcome, SecretBundle, Store, StoreConfig,
    StoreError,
};
use rota_types::{ApiError, ErrorCode};

fn bump(store: &TestStore) -> u64 {
    store
        .mutate(|txn| {
            txn.state.counter += 1;
            Ok::<_, StoreError>(txn.state.counter)
        })
        .unwrap()
}

fn parse_file(path: &Path) -> TestState {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn mutation_persists_bumps_generation_and_keeps_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    assert_eq!(store.load().unwrap(), TestState::default());
    bump(&store);
    bump(&store);
    let paths = store.paths().clone();
    assert_eq!(parse_file(&paths.state).generation, 2);
    assert_eq!(parse_file(&paths.state).counter, 2);
    let bak = paths.dir.join("state.json.bak");
    assert_eq!(
        parse_file(&bak).generation,
        1,
        ".bak holds the previous good copy"
    );
    // A second store instance (another process would do the same) reads it from disk.
    let other = open_file_store(tmp.path());
    assert_eq!(other.load().unwrap().counter, 2);
    // Mutations read from disk, not from a cache: the other instance's write is not lost.
    bump(&other);
    assert_eq!(bump(&store), 4);
}

#[test]
fn failed_mutation_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    bump(&store);
    let before = fs::read(&store.paths().state).unwrap();
    let err = store
        .mutate(|txn| {
            txn.state.counter = 99;
            txn.vault_mut()?.insert("x", SecretBundle::new("t"));
            Err::<(), _>(StoreError::NotFound("x".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
    assert_eq!(fs::read(&store.paths().state).unwrap(), before);
    assert!(store.load_vault().unwrap().is_empty());
}

#[cfg(unix)]
#[test]
fn files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(&tmp.path().join("home"));
    store
        .mutate(|txn| {
            txn.vault_mut()?.insert("a", SecretBundle::new("t"));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.paths().vault), 0o600);
    assert_eq!(mode(&store.paths().state), 0o600);
    assert_eq!(mode(&store.paths().dir), 0o700);
}

// ---------------------------------------------------------------- unreadable files

fn bad_contents(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("garbage", b"{ this is not json".to_vec()),
        ("empty", Vec::new()),
        ("nul-filled", vec![0u8; 4096]),
        ("truncated", good[..good.len() / 2].to_vec()),
    ]
}

fn quarantined_files(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
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

#[test]
fn unreadable_state_at_start_is_quarantined_and_restored_from_bak() {
    let proto = tempfile::tempdir().unwrap();
    let s = open_file_store(proto.path());
    bump(&s);
    bump(&s);
    let good = fs::read(&s.paths().state).unwrap();
    for (kind, bad) in bad_contents(&good) {
        let tmp = tempfile::tempdir().unwrap();
        let store = open_file_store(tmp.path());
        bump(&store);
        bump(&store);
        fs::write(&store.paths().state, &bad).unwrap();
        drop(store);

        let store = open_file_store(tmp.path());
        let recoveries = store.pending_recoveries();
        assert_eq!(recoveries.len(), 1, "{kind}: one recovery reported");
        assert!(recoveries[0].to_string().contains("state.json"), "{kind}");
        let q = quarantined_files(tmp.path(), "state.json");
        assert_eq!(q.len(), 1, "{kind}: moved aside");
        assert_eq!(
            fs::read(&q[0]).unwrap(),
            bad,
            "{kind}: quarantined bytes untouched"
        );
        assert_eq!(
            store.load().unwrap().generation,
            1,
            "{kind}: restored the .bak"
        );
        assert_eq!(
            bump(&store),
            2,
            "{kind}: mutations continue from the backup"
        );
        assert_eq!(fs::read(&q[0]).unwrap(), bad, "{kind}: never overwritten");
    }
}

#[test]
fn unreadable_state_found_by_a_reader_or_writer_later_is_recovered_too() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    bump(&store);
    bump(&store);
    fs::write(&store.paths().state, [0u8; 64]).unwrap();
    assert_eq!(store.load().unwrap().generation, 1);
    assert_eq!(store.pending_recoveries().len(), 1);
    fs::write(&store.paths().state, b"").unwrap();
    assert_eq!(
        bump(&store),
        2,
        "a mutation restores the backup before applying"
    );
    assert_eq!(quarantined_files(tmp.path(), "state.json").len(), 2);
}

#[test]
fn unreadable_state_without_backup_is_moved_aside_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    bump(&store);
    fs::remove_file(tmp.path().join("state.json.bak")).ok();
    fs::write(&store.paths().state, b"{\"generation\": 1, \"coun").unwrap();
    drop(store);
    let err = Store::<TestState>::open(file_config(tmp.path())).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::Unreadable);
    assert!(err.to_string().contains("state.json"), "{err}");
    let q = quarantined_files(tmp.path(), "state.json");
    assert_eq!(fs::read(&q[0]).unwrap(), b"{\"generation\": 1, \"coun");
}

#[test]
fn unreadable_vault_is_quarantined_and_restored_from_bak() {
    for (kind, bad) in bad_contents(b"{\"cipher\":\"none\",\"version\":1,\"entries\":{}}") {
        let tmp = tempfile::tempdir().unwrap();
        let store = open_file_store(tmp.path());
        for id in ["a", "b"] {
            store
                .mutate(|txn| {
                    txn.vault_mut()?
                        .insert(id, SecretBundle::new(format!("tok-{id}")));
                    Ok::<_, StoreError>(())
                })
                .unwrap();
        }
        fs::write(&store.paths().vault, &bad).unwrap();
        drop(store);
        let store = open_file_store(tmp.path());
        assert_eq!(store.pending_recoveries().len(), 1, "{kind}");
        let vault = store.load_vault().unwrap();
        assert!(
            vault.contains("a") && !vault.contains("b"),
            "{kind}: the .bak is restored"
        );
        let q = quarantined_files(tmp.path(), "vault.json");
        assert_eq!(fs::read(&q[0]).unwrap(), bad, "{kind}");
    }
}

// ---------------------------------------------------------------- locks

const LOCK_ENV: &str = "ROTA_TEST_HOLD_LOCK";

#[test]
#[ignore = "helper: holds a lock file in a child process"]
fn hold_lock_child() {
    let Some(path) = crate::common::helper_env(LOCK_ENV) else {
        return;
    };
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    file.lock().unwrap();
    println!("\nLOCKED");
    // Hold until the parent closes our stdin (or kills us).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn hold_lock(path: &Path) -> std::process::Child {
    let mut child = spawn_helper(
        "protocol::hold_lock_child",
        &[(LOCK_ENV, path.display().to_string())],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("LOCKED")),
        "helper did not lock"
    );
    // Keep reading so the helper's harness can print its summary.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

#[test]
fn the_default_lock_timeout_is_five_seconds() {
    assert_eq!(DEFAULT_LOCK_TIMEOUT, Duration::from_secs(5));
    assert_eq!(StoreConfig::new("/x").lock_timeout, DEFAULT_LOCK_TIMEOUT);
}

#[test]
fn a_lock_held_by_another_process_times_out_with_an_error_naming_the_lock_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store: TestStore = Store::open(file_config(tmp.path()).with_lock_timeout(SHORT)).unwrap();
    bump(&store);
    let mut child = hold_lock(&store.paths().lock);

    let start = Instant::now();
    let err = store
        .mutate(|txn| {
            txn.state.counter += 1;
            Ok::<_, StoreError>(())
        })
        .unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&store.paths().lock.display().to_string()),
        "{err}"
    );
    assert!(
        waited >= SHORT && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let api: ApiError = err.into();
    assert_eq!(api.code, ErrorCode::Busy);

    // Readers take no lock.
    assert_eq!(store.load().unwrap().counter, 1);

    drop(child.stdin.take());
    child.wait().unwrap();
    assert_eq!(bump(&store), 2, "works again once the lock is released");
}

// ---------------------------------------------------------------- watcher

const BUMP_ENV: &str = "ROTA_TEST_BUMP_DIR";

#[test]
#[ignore = "helper: one mutation from another process"]
fn bump_child() {
    let Some(dir) = crate::common::helper_env(BUMP_ENV) else {
        return;
    };
    bump(&open_file_store(Path::new(&dir)));
}

#[test]
fn the_watcher_notices_another_process_write_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    bump(&store);
    let (tx, rx) = mpsc::channel();
    let watcher = store
        .watch(Duration::from_millis(50), move |generation| {
            let _ = tx.send((generation, Instant::now()));
        })
        .unwrap();
    let mut child = spawn_helper(
        "protocol::bump_child",
        &[(BUMP_ENV, tmp.path().display().to_string())],
    );
    assert!(child.wait().unwrap().success());
    let written = Instant::now();
    let (generation, seen) = rx
        .recv_timeout(Duration::from_secs(1))
        .expect("change not noticed");
    assert_eq!(generation, 2);
    assert!(seen.duration_since(written) < Duration::from_millis(500));
    drop(watcher);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "no spurious events"
    );
}

// ---------------------------------------------------------------- batched counters

#[test]
fn counters_are_batched_into_few_mutations() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open_file_store(tmp.path()));
    let counters = BatchedCounters::start(
        Arc::clone(&store),
        Duration::from_hours(1),
        |state: &mut TestState, id, delta| {
            *state.successes.entry(id.to_owned()).or_default() += delta.success;
        },
    );
    for _ in 0..1000 {
        counters.record_success("acct", Some(200));
    }
    counters.record_failure("other", Some(500));
    assert_eq!(
        store.load().unwrap().generation,
        0,
        "nothing written per request"
    );
    assert_eq!(counters.flush().unwrap(), 2);
    let state = store.load().unwrap();
    assert_eq!(state.generation, 1, "one mutation for the batch");
    assert_eq!(state.successes["acct"], 1000);
    counters.record_success("acct", None);
    drop(counters); // flushes
    assert_eq!(store.load().unwrap().successes["acct"], 1001);
}

#[test]
fn the_flush_thread_writes_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open_file_store(tmp.path()));
    let counters = BatchedCounters::start(
        Arc::clone(&store),
        Duration::from_millis(50),
        |state: &mut TestState, id, delta| {
            *state.successes.entry(id.to_owned()).or_default() += delta.success;
        },
    );
    counters.record_success("acct", None);
    let start = Instant::now();
    while store.load().unwrap().successes.get("acct") != Some(&1) {
        assert!(start.elapsed() < Duration::from_secs(2), "not flushed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------- refresh protocol

#[test]
fn refresh_skips_the_network_when_another_process_already_refreshed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    let old = SecretBundle::new("a1").with_refresh("r1");
    let newer = SecretBundle::new("a2").with_refresh("r2");
    seed_account(&store, "acct", &newer);
    let outcome = store
        .refresh_secrets("acct", &old, |_| -> Result<SecretBundle, StoreError> {
            panic!("must not refresh")
        })
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::AlreadyRefreshed(newer));
}

#[test]
fn concurrent_refreshes_of_one_account_refresh_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open_file_store(tmp.path()));
    let old = SecretBundle::new("a1").with_refresh("r1");
    seed_account(&store, "acct", &old);
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, old, calls) = (Arc::clone(&store), old.clone(), Arc::clone(&calls));
            std::thread::spawn(move || {
                store
                    .refresh_secrets("acct", &old, |current| {
                        assert_eq!(current.refresh_token.as_ref().unwrap().expose(), "r1");
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50)); // the network
                        Ok::<_, StoreError>(SecretBundle::new("a2").with_refresh("r2"))
                    })
                    .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one refresh");
    for o in &outcomes {
        assert_eq!(o.secrets().refresh_token.as_ref().unwrap().expose(), "r2");
    }
    assert_eq!(
        store
            .secrets("acct")
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "a2"
    );
}

#[test]
fn a_failed_refresh_leaves_tokens_untouched_and_removed_accounts_stay_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    let old = SecretBundle::new("a1").with_refresh("r1");
    seed_account(&store, "acct", &old);
    let err = store
        .refresh_secrets("acct", &old, |_| {
            Err::<SecretBundle, _>(StoreError::NotFound("x".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
    assert_eq!(store.secrets("acct").unwrap(), Some(old.clone()));

    let err = store
        .refresh_secrets("acct", &old, |_| {
            // The account is removed while we are on the network.
            store
                .mutate(|txn| {
                    txn.vault_mut()?.remove("acct");
                    Ok::<_, StoreError>(())
                })
                .unwrap();
            Ok::<_, StoreError>(SecretBundle::new("a2"))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
    assert_eq!(store.secrets("acct").unwrap(), None, "not resurrected");
}

// ---------------------------------------------------------------- secret hygiene

#[test]
fn canary_tokens_never_reach_the_state_file_debug_output_or_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    let bundle = SecretBundle::new(CANARY_ACCESS)
        .with_refresh(CANARY_REFRESH)
        .with_extra("id_token", CANARY_ID)
        .with_expiry(1);
    seed_account(&store, "acct", &bundle);
    bump(&store);

    let mut texts = vec![
        format!("{store:?}"),
        format!("{bundle:?}"),
        format!("{:?}", store.load_vault().unwrap()),
        format!("{:?}", store.secrets("acct").unwrap()),
        format!("{}", bundle.access_token),
        format!("{:?}", RefreshOutcome::Refreshed(bundle.clone())),
    ];
    store
        .mutate(|txn| {
            texts.push(format!("{txn:?}"));
            let vault = txn.vault()?;
            texts.push(format!("{vault:?}"));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    for name in ["state.json", "state.json.bak"] {
        texts.push(String::from_utf8(fs::read(tmp.path().join(name)).unwrap()).unwrap());
    }
    // A vault that does not parse: the error must not quote its content.
    fs::write(
        &store.paths().vault,
        format!("{{\"cipher\":\"none\",\"version\":1,\"entries\":{{\"a\":{{\"access_token\":1,\"refresh_token\":\"{CANARY_REFRESH}\"}}}}}}"),
    )
    .unwrap();
    let _ = fs::remove_file(tmp.path().join("vault.json.bak"));
    let err = store.load_vault().unwrap_err();
    texts.push(err.to_string());
    texts.push(format!("{err:?}"));
    for text in &texts {
        for canary in [CANARY_ACCESS, CANARY_REFRESH, CANARY_ID] {
            assert!(!text.contains(canary), "{canary} leaked into: {text}");
        }
    }
}

#[test]
fn errors_convert_to_api_errors_with_their_code() {
    let cases = [
        (StoreError::NotFound("x".into()), ErrorCode::NotFound),
        (StoreError::Keychain("x".into()), ErrorCode::Os),
        (StoreError::Config("x".into()), ErrorCode::InvalidInput),
        (
            StoreError::VaultUndecryptable {
                path: "/v".into(),
                reason: "r".into(),
            },
            ErrorCode::Unreadable,
        ),
    ];
    for (err, code) in cases {
        let message = err.to_string();
        let api: ApiError = err.into();
        assert_eq!((api.code, api.message), (code, message));
    }
}

const REFRESH_ENV: &str = "ROTA_TEST_REFRESH_DIR";

/// A process that refreshes `acct` if nobody did: the "network" call appends to `calls.log`.
#[test]
#[ignore = "helper: one process of the refresh race"]
fn refresh_child() {
    let Some(dir) = crate::common::helper_env(REFRESH_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let store = open_file_store(dir);
    let loaded = SecretBundle::new("a1").with_refresh("r1"); // what this process loaded earlier
    let lock = store.lock_account("acct").unwrap();
    let current = store.secrets("acct").unwrap().unwrap();
    if current == loaded {
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("calls.log"))
            .unwrap();
        std::io::Write::write_all(&mut log, b"refresh\n").unwrap();
        std::thread::sleep(Duration::from_millis(100)); // the network
        store
            .save_refreshed(&lock, SecretBundle::new("a2").with_refresh("r2"))
            .unwrap();
    }
    drop(lock);
    let now = store.secrets("acct").unwrap().unwrap();
    assert_eq!(now.refresh_token.unwrap().expose(), "r2");
}

#[test]
fn processes_racing_to_refresh_one_account_refresh_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_file_store(tmp.path());
    seed_account(&store, "acct", &SecretBundle::new("a1").with_refresh("r1"));
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            spawn_helper(
                "protocol::refresh_child",
                &[(REFRESH_ENV, tmp.path().display().to_string())],
            )
        })
        .collect();
    for c in &mut children {
        assert!(
            c.wait().unwrap().success(),
            "a process did not end with the new tokens"
        );
    }
    let calls = fs::read_to_string(tmp.path().join("calls.log")).unwrap();
    assert_eq!(calls.lines().count(), 1, "exactly one refresh request");
}
