//! Fault injection (docs/rules.md §7): a child process performs numbered mutations and prints
//! each acknowledged one; it is killed (`SIGKILL`) at random moments, or aborts at fixed points between
//! write, fsync, backup and rename. Afterwards every file parses and no acknowledged mutation is
//! lost.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use crate::common::{TestState, file_config, open_file_store, spawn_helper};
use rota_store::import::{ImportSource, ImportedAccount};
use rota_store::{PoolStore, SecretBundle, Store, StoreError};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

const DIR_ENV: &str = "ROTA_TEST_CRASH_DIR";

/// Helper run in a child: mutates until killed.
#[test]
#[ignore = "helper: run in a child process by the crash tests"]
fn crash_child() {
    let Some(dir) = crate::common::helper_env(DIR_ENV) else {
        return;
    };
    let store = open_file_store(Path::new(&dir));
    for _ in 0..100_000 {
        let n = numbered_mutation(&store);
        println!("ACK {n}");
    }
}

/// Mutation number `counter`: item `m<n>` with its secret.
fn numbered_mutation(store: &crate::common::TestStore) -> u64 {
    store
        .mutate(|txn| {
            let n = txn.state.counter;
            txn.vault_mut()?.insert(
                format!("m{n}"),
                SecretBundle::new(format!("access-{n}")).with_refresh(format!("refresh-{n}")),
            );
            txn.state.items.push(format!("m{n}"));
            txn.state.counter += 1;
            Ok::<_, StoreError>(n)
        })
        .expect("mutation")
}

/// Opens the store as a new process would, and checks the invariants.
fn verify(dir: &Path, acked: &[u64]) -> u64 {
    let store = open_file_store(dir); // fails if any file is unreadable without a good backup
    assert!(
        store.pending_recoveries().is_empty(),
        "a crash corrupted a file"
    );
    let state: TestState = store.load().unwrap();
    let expected: Vec<String> = (0..state.counter).map(|n| format!("m{n}")).collect();
    assert_eq!(
        state.items, expected,
        "items must be exactly m0..m(counter-1)"
    );
    assert_eq!(
        state.generation, state.counter,
        "one generation per mutation"
    );
    for n in acked {
        assert!(
            *n < state.counter,
            "acknowledged mutation {n} lost (counter {})",
            state.counter
        );
    }
    let vault = store.load_vault().unwrap();
    for item in &state.items {
        let secret = vault
            .get(item)
            .unwrap_or_else(|| panic!("secret of {item} missing"));
        assert_eq!(
            secret.access_token.expose(),
            format!("access-{}", &item[1..])
        );
    }
    state.counter
}

/// A later writer cleans the temp files killed writers left behind, and leaves none itself.
fn assert_a_later_writer_leaves_no_temp_files(dir: &Path) {
    numbered_mutation(&open_file_store(dir));
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "stale temp files: {leftovers:?}");
}

fn run_child(dir: &Path, envs: &[(&str, String)], kill_after: Option<Duration>) -> Vec<u64> {
    let mut all_envs = vec![(DIR_ENV, dir.display().to_string())];
    all_envs.extend(envs.iter().cloned());
    let mut child = spawn_helper("crash::crash_child", &all_envs);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints `test crash_child ... ` before the first line without a newline.
            if let Some(pos) = line.rfind("ACK ") {
                let _ = tx.send(line[pos + 4..].parse::<u64>().unwrap());
            }
        }
    });
    if let Some(delay) = kill_after {
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL on Unix
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    if kill_after.is_none() {
        assert!(
            !status.success(),
            "the fail point should have aborted the child"
        );
    }
    rx.try_iter().collect()
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_mutation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let start = Instant::now();
    let mut rng = fastrand::Rng::with_seed(0x5eed_u64 ^ u64::from(std::process::id()));
    let mut total_acked = 0;
    for _round in 0..40 {
        let delay = Duration::from_millis(rng.u64(5..120));
        let acked = run_child(dir, &[], Some(delay));
        total_acked += acked.len();
        verify(dir, &acked);
    }
    let final_count = verify(dir, &[]);
    assert!(
        total_acked > 40,
        "children should have acknowledged mutations ({total_acked})"
    );
    assert!(final_count as usize >= total_acked);
    assert_a_later_writer_leaves_no_temp_files(dir);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn abort_between_write_fsync_backup_and_rename_keeps_files_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A mutation that changes secrets writes three files: the pending state, the vault, the
    // state. Hit n of a point lands in mutation (n - 1) / 3, in write (n - 1) % 3.
    for point in [
        "after_write",
        "after_fsync",
        "after_bak",
        "after_rename",
        "after_dir_fsync",
    ] {
        for hit in 1..=6 {
            let before = verify(dir, &[]);
            let acked = run_child(
                dir,
                &[("ROTA_STORE_FAILPOINT", format!("{point}:{hit}"))],
                None,
            );
            assert_eq!(acked.len() as u64, (hit - 1) / 3, "{point}:{hit}");
            let after = verify(dir, &acked);
            let write = (hit - 1) % 3;
            // Once the vault is renamed into place the commit is complete: the next opener
            // puts the pending state in place. Before that it never happened.
            let vault_in_place =
                write == 2 || (write == 1 && matches!(point, "after_rename" | "after_dir_fsync"));
            assert_eq!(
                after,
                before + acked.len() as u64 + u64::from(vault_in_place),
                "{point}:{hit}: old or new pool, decided by the vault's rename"
            );
        }
    }
    // Between the vault and the state write: the new pool, finished by the next opener.
    for hit in [1, 3] {
        let before = verify(dir, &[]);
        let acked = run_child(
            dir,
            &[("ROTA_STORE_FAILPOINT", format!("after_commit_vault:{hit}"))],
            None,
        );
        assert_eq!(acked.len() as u64, hit - 1);
        assert_eq!(
            verify(dir, &acked),
            before + hit,
            "after_commit_vault:{hit}"
        );
    }
    // Killed after pointing `.bak` at the current state but before the rename: `.bak` and
    // `state.json` are then one inode, and the next writer's backup step must still clean up.
    run_child(
        dir,
        &[("ROTA_STORE_FAILPOINT", "after_bak:3".to_owned())],
        None,
    );
    assert_a_later_writer_leaves_no_temp_files(dir);
    verify(dir, &[]);
}

// ------------------------------------------------------------ pool: logout, import, re-login

const POOL_DIR_ENV: &str = "ROTA_TEST_POOL_CRASH_DIR";

/// The pool as the user sees it: (e-mail, plan) of every account. The plan names the login
/// generation, and the secrets carry it too, so a record paired with another login's tokens
/// shows up in [`verify_pool`].
type Model = BTreeSet<(String, String)>;

fn pool_model(store: &PoolStore) -> Model {
    let state = store.load().unwrap();
    state
        .pool(ProviderId::Anthropic)
        .map(|p| {
            p.records
                .iter()
                .map(|r| {
                    (
                        r.identity.email.clone().unwrap_or_default(),
                        r.identity.plan.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn login(email: &str, plan: &str) -> ImportedAccount {
    ImportedAccount {
        source: ImportSource::ClaudeCode,
        provider: ProviderId::Anthropic,
        namespace: DEFAULT_NAMESPACE.to_owned(),
        identity: AccountIdentity {
            email: Some(email.to_owned()),
            plan: Some(plan.to_owned()),
            ..AccountIdentity::default()
        },
        label: None,
        secrets: SecretBundle::new(format!("access-{email}-{plan}"))
            .with_refresh(format!("refresh-{email}-{plan}")),
    }
}

/// One user operation chosen at random: login, import, re-login (new tokens for an existing
/// account), logout of one account, or `logout --all` when the pool is large.
fn pool_step(store: &PoolStore, rng: &mut fastrand::Rng) {
    let now = rota_store::now_ms();
    let state = store.load().unwrap();
    let records: Vec<_> = state
        .pool(ProviderId::Anthropic)
        .map(|p| p.records.clone())
        .unwrap_or_default();
    let fresh = format!("u{}@example.com", rng.u32(..));
    if records.len() >= 6 {
        store
            .remove_all(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                rota_store::now_ms(),
            )
            .unwrap();
        return;
    }
    match (rng.u8(0..4), records.is_empty()) {
        (0, _) | (2 | 3, true) => {
            let account = login(&fresh, "p0");
            let login = account.login();
            store
                .upsert_account(
                    ProviderId::Anthropic,
                    DEFAULT_NAMESPACE,
                    login,
                    account.secrets,
                    now,
                )
                .unwrap();
        }
        (1, _) => {
            store
                .import_accounts(vec![login(&fresh, "p0")], now)
                .unwrap();
        }
        (2, false) => {
            let r = &records[rng.usize(0..records.len())];
            let email = r.identity.email.clone().unwrap();
            let n: u32 = r.identity.plan.as_deref().unwrap()[1..].parse().unwrap();
            store
                .import_accounts(vec![login(&email, &format!("p{}", n + 1))], now)
                .unwrap();
        }
        _ => {
            let r = &records[rng.usize(0..records.len())];
            store
                .remove_record(
                    ProviderId::Anthropic,
                    rota_types::DEFAULT_NAMESPACE,
                    r.id,
                    now,
                )
                .unwrap();
        }
    }
}

fn model_line(model: &Model) -> String {
    model
        .iter()
        .map(|(e, p)| format!("{e}:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_model(line: &str) -> Model {
    line.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (e, p) = s.split_once(':').unwrap();
            (e.to_owned(), p.to_owned())
        })
        .collect()
}

/// Helper run in a child: user operations on the pool until killed; prints the pool after each.
#[test]
#[ignore = "helper: run in a child process by the crash tests"]
fn pool_crash_child() {
    let Some(dir) = crate::common::helper_env(POOL_DIR_ENV) else {
        return;
    };
    let store: PoolStore = Store::open(file_config(Path::new(&dir))).expect("open");
    let mut rng = fastrand::Rng::new();
    for _ in 0..100_000 {
        pool_step(&store, &mut rng);
        println!("POOL [{}]", model_line(&pool_model(&store)));
    }
}

/// Opens as the next process would and checks the model: every account has exactly its own
/// login's secrets, no secret is orphaned, nothing needed a recovery, and the pool is the last
/// acknowledged one or one operation further.
fn verify_pool(dir: &Path, last_acked: &Model) -> Model {
    let store: PoolStore = Store::open(file_config(dir)).expect("open after a crash");
    assert!(
        store.pending_recoveries().is_empty(),
        "a crash needed a recovery: {:?}",
        store.pending_recoveries()
    );
    let state = store.load().unwrap();
    let vault = store.load_vault().unwrap();
    let mut ids = BTreeSet::new();
    for r in state
        .pool(ProviderId::Anthropic)
        .map(|p| p.records.clone())
        .unwrap_or_default()
    {
        let id = r.id.to_string();
        let email = r.identity.email.clone().unwrap();
        let plan = r.identity.plan.clone().unwrap();
        let secret = vault
            .get(&id)
            .unwrap_or_else(|| panic!("account {email} is listed without its secret"));
        assert_eq!(
            secret.access_token.expose(),
            format!("access-{email}-{plan}"),
            "account {email} ({plan}) holds another login's tokens"
        );
        assert!(!r.health.needs_reauth, "{email} marked for re-login");
        ids.insert(id);
    }
    let orphans: Vec<_> = vault.ids().filter(|id| !ids.contains(*id)).collect();
    assert!(orphans.is_empty(), "orphaned secrets: {orphans:?}");
    let model = pool_model(&store);
    assert!(
        one_step(last_acked, &model),
        "the pool is neither the last acknowledged one nor one operation further:\n  acked: {last_acked:?}\n  found: {model:?}"
    );
    model
}

/// Whether `b` is `a` or `a` after one operation (add, remove, new plan, remove all).
fn one_step(a: &Model, b: &Model) -> bool {
    let added: Vec<_> = b.difference(a).collect();
    let removed: Vec<_> = a.difference(b).collect();
    match (added.len(), removed.len()) {
        (0 | 1, 0) | (0, 1) => true,
        (0, _) => b.is_empty(),
        (1, 1) => added[0].0 == removed[0].0,
        _ => false,
    }
}

fn run_pool_child(
    dir: &Path,
    envs: &[(&str, String)],
    kill_after: Option<Duration>,
) -> Option<Model> {
    let mut all_envs = vec![(POOL_DIR_ENV, dir.display().to_string())];
    all_envs.extend(envs.iter().cloned());
    let mut child = spawn_helper("crash::pool_crash_child", &all_envs);
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(pos) = line.rfind("POOL [")
                && let Some(end) = line[pos..].find(']')
            {
                last = Some(parse_model(&line[pos + 6..pos + end]));
            }
        }
        last
    });
    if let Some(delay) = kill_after {
        std::thread::sleep(delay);
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    if kill_after.is_none() {
        assert!(
            !status.success(),
            "the fail point should have aborted the child"
        );
    }
    reader.join().unwrap()
}

#[test]
fn killed_logout_import_and_relogin_leave_the_old_or_the_new_pool_with_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut model = verify_pool(dir, &Model::new());
    let mut acked_ops = 0;
    // Fixed points: every write step of the first few operations.
    for point in [
        "after_write",
        "after_bak",
        "after_rename",
        "after_dir_fsync",
        "after_commit_vault",
    ] {
        for hit in 1..=7 {
            if let Some(acked) = run_pool_child(
                dir,
                &[("ROTA_STORE_FAILPOINT", format!("{point}:{hit}"))],
                None,
            ) {
                acked_ops += 1;
                model = acked;
            }
            model = verify_pool(dir, &model);
        }
    }
    // SIGKILL at random moments.
    let mut rng = fastrand::Rng::with_seed(0x10_6041 ^ u64::from(std::process::id()));
    for _round in 0..30 {
        let delay = Duration::from_millis(rng.u64(10..120));
        if let Some(acked) = run_pool_child(dir, &[], Some(delay)) {
            acked_ops += 1;
            model = acked;
        }
        model = verify_pool(dir, &model);
    }
    assert!(
        acked_ops > 20,
        "children should have acknowledged operations ({acked_ops})"
    );
}
