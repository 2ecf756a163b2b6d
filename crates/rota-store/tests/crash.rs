//! Fault injection (reliability.md §7): a child process performs numbered mutations and prints
//! each acknowledged one; it is killed (`SIGKILL`) at random moments, or aborts at fixed points between
//! write, fsync, backup and rename. Afterwards every file parses and no acknowledged mutation is
//! lost.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestState, open_file_store, spawn_helper};
use rota_store::{SecretBundle, StoreError};

const DIR_ENV: &str = "ROTA_TEST_CRASH_DIR";

/// Helper run in a child: mutates until killed.
#[test]
#[ignore = "helper: run in a child process by the crash tests"]
fn crash_child() {
    let Some(dir) = common::helper_env(DIR_ENV) else {
        return;
    };
    let store = open_file_store(Path::new(&dir));
    for _ in 0..100_000 {
        let n = numbered_mutation(&store);
        println!("ACK {n}");
    }
}

/// Mutation number `counter`: item `m<n>` with its secret.
fn numbered_mutation(store: &common::TestStore) -> u64 {
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
        store.take_recoveries().is_empty(),
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
    let mut child = spawn_helper("crash_child", &all_envs);
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
    // Each mutation writes the vault then the state: odd hits land in the vault write, even
    // hits in the state write.
    for point in [
        "after_write",
        "after_fsync",
        "after_bak",
        "after_rename",
        "after_dir_fsync",
    ] {
        for hit in [1, 2, 5, 6] {
            let acked = run_child(
                dir,
                &[("ROTA_STORE_FAILPOINT", format!("{point}:{hit}"))],
                None,
            );
            assert_eq!(acked.len(), (hit - 1) / 2, "{point}:{hit}");
            verify(dir, &acked);
        }
    }
    // Killed after pointing `.bak` at the current state but before the rename: `.bak` and
    // `state.json` are then one inode, and the next writer's backup step must still clean up.
    run_child(
        dir,
        &[("ROTA_STORE_FAILPOINT", "after_bak:2".to_owned())],
        None,
    );
    assert_a_later_writer_leaves_no_temp_files(dir);
    verify(dir, &[]);
}
