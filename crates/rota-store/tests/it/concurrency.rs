//! Several real processes mutate one data directory at once; the result equals the sequential
//! model, nothing lost or resurrected, and lock-free readers always see a whole state.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{TestState, open_file_store, spawn_helper};
use rota_store::{SecretBundle, StoreError};

const DIR_ENV: &str = "ROTA_TEST_CONC_DIR";
const WORKER_ENV: &str = "ROTA_TEST_CONC_WORKER";
const WORKERS: usize = 4;
const STEPS: usize = 25;

/// Worker `w`, step `i`: add item `w{w}-{i}` with a secret; every fifth step also removes the
/// previous item and its secret.
fn step(state: &mut TestState, vault: &mut rota_store::Vault, w: usize, i: usize) {
    let id = format!("w{w}-{i}");
    state.counter += 1;
    state.items.push(id.clone());
    vault.insert(id.clone(), SecretBundle::new(format!("tok-{id}")));
    if i % 5 == 4 {
        let prev = format!("w{w}-{}", i - 1);
        state.items.retain(|x| *x != prev);
        vault.remove(&prev);
    }
}

#[test]
#[ignore = "helper: run in child processes by the concurrency test"]
fn conc_child() {
    let (Some(dir), Some(w)) = (
        crate::common::helper_env(DIR_ENV),
        crate::common::helper_env(WORKER_ENV),
    ) else {
        return;
    };
    let w: usize = w.parse().unwrap();
    let store = open_file_store(Path::new(&dir));
    for i in 0..STEPS {
        store
            .mutate(|txn| {
                let mut vault = txn.vault_mut()?.clone();
                step(&mut txn.state, &mut vault, w, i);
                *txn.vault_mut()? = vault;
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}

#[test]
fn four_processes_mutating_at_once_equal_the_sequential_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = open_file_store(dir);

    let children: Vec<_> = (0..WORKERS)
        .map(|w| {
            spawn_helper(
                "concurrency::conc_child",
                &[
                    (DIR_ENV, dir.display().to_string()),
                    (WORKER_ENV, w.to_string()),
                ],
            )
        })
        .collect();

    // Meanwhile, lock-free reads always parse and generations never go back.
    let mut last_generation = 0;
    let mut reads = 0;
    let mut children = children;
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        let state = store.load().expect("a reader saw a partial state");
        assert!(state.generation >= last_generation);
        last_generation = state.generation;
        reads += 1;
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a worker failed");
    }

    // The sequential model.
    let mut model = TestState::default();
    let mut model_vault = rota_store::Vault::default();
    for w in 0..WORKERS {
        for i in 0..STEPS {
            step(&mut model, &mut model_vault, w, i);
        }
    }
    let state = store.load().unwrap();
    assert_eq!(state.counter, (WORKERS * STEPS) as u64, "lost increments");
    assert_eq!(state.generation, (WORKERS * STEPS) as u64);
    let got: BTreeSet<_> = state.items.iter().cloned().collect();
    let want: BTreeSet<_> = model.items.iter().cloned().collect();
    assert_eq!(got, want, "items lost or resurrected");
    assert_eq!(state.items.len(), got.len(), "duplicated items");
    let vault = store.load_vault().unwrap();
    let vault_ids: BTreeSet<_> = vault.ids().map(str::to_owned).collect();
    let model_ids: BTreeSet<_> = model_vault.ids().map(str::to_owned).collect();
    assert_eq!(vault_ids, model_ids, "secrets lost or resurrected");
    assert!(reads > 0);
}
