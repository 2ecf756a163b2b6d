//! Loaders never panic (docs/rules.md §7): damaged state files, vault files and login files of
//! every shape end in a value or a typed error, and an unreadable data file is never overwritten.

use std::fs;

use rota_store::import::{self, ImportSource};
use rota_store::{PoolStore, SecretBundle, Store, StoreError};

/// Random damage to `good`: truncation, byte flips, garbage, or random bytes.
fn damaged(rng: &mut fastrand::Rng, good: &[u8]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    match rng.u8(0..4) {
        0 => bytes.truncate(rng.usize(0..=good.len())),
        1 => {
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(0..bytes.len());
                bytes[i] = rng.u8(..);
            }
        }
        2 => {
            let i = rng.usize(0..=bytes.len());
            let junk: Vec<u8> = (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect();
            bytes.splice(i..i, junk);
        }
        _ => bytes = (0..rng.usize(0..256)).map(|_| rng.u8(..)).collect(),
    }
    bytes
}

#[test]
fn damaged_state_and_vault_files_never_panic_and_are_never_overwritten() {
    let proto = tempfile::tempdir().unwrap();
    let store: PoolStore = Store::open(crate::common::file_config(proto.path())).unwrap();
    store
        .upsert_account(
            rota_types::ProviderId::Anthropic,
            rota_types::DEFAULT_NAMESPACE,
            rota_core::NewLogin::default(),
            SecretBundle::new("a")
                .with_refresh("r")
                .with_extra("id_token", "i"),
            1,
        )
        .unwrap();
    let good_state = fs::read(&store.paths().state).unwrap();
    let good_vault = fs::read(&store.paths().vault).unwrap();

    let mut rng = fastrand::Rng::with_seed(7);
    for case in 0..150 {
        let tmp = tempfile::tempdir().unwrap();
        let (file, good) = if case % 2 == 0 {
            ("state.json", &good_state)
        } else {
            ("vault.json", &good_vault)
        };
        fs::write(tmp.path().join("state.json"), &good_state).unwrap();
        fs::write(tmp.path().join("vault.json"), &good_vault).unwrap();
        let bad = damaged(&mut rng, good);
        fs::write(tmp.path().join(file), &bad).unwrap();
        match Store::<rota_core::PoolState>::open(crate::common::file_config(tmp.path())) {
            Ok(store) => {
                // Either the damage still parses, or it was moved aside (no backup here).
                let _ = store.load().unwrap();
                let _ = store.load_vault().unwrap();
            }
            Err(StoreError::Corrupt { quarantined_to, .. }) => {
                assert_eq!(fs::read(&quarantined_to).unwrap(), bad, "case {case}");
            }
            Err(e) => panic!("case {case}: unexpected error {e}"),
        }
    }
}

#[test]
fn damaged_login_files_never_panic() {
    let dir = crate::common::fixtures_dir();
    let mut rng = fastrand::Rng::with_seed(11);
    for entry in fs::read_dir(&dir).unwrap() {
        let good = fs::read(entry.unwrap().path()).unwrap();
        for _ in 0..100 {
            let bad = damaged(&mut rng, &good);
            for source in ImportSource::ALL {
                let _ = import::parse(source, &bad);
            }
        }
    }
}
