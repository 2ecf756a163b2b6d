//! The store bound to rota-core's `PoolState`: pool operations commit with their secrets, pool
//! errors keep their edge codes, counters batch into health, and several processes running
//! core's operations on one data directory lose nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rota_core::{NewLogin, PoolState, Ulid};
use rota_store::{BatchedCounters, PoolStore, SecretBundle, Store, StoreError};
use rota_types::{
    AccountIdentity, ApiError, DEFAULT_NAMESPACE, ErrorCode, ProviderId, SwitchReason,
};

const NS: &str = DEFAULT_NAMESPACE;
const A: ProviderId = ProviderId::Anthropic;

fn open(dir: &Path) -> PoolStore {
    Store::open(crate::common::file_config(dir)).unwrap()
}

fn login(email: &str) -> NewLogin {
    NewLogin {
        identity: AccountIdentity {
            email: Some(email.to_owned()),
            ..AccountIdentity::default()
        },
        label: None,
    }
}

fn add(store: &PoolStore, email: &str, now: i64) -> Ulid {
    store
        .upsert_account(
            A,
            NS,
            login(email),
            SecretBundle::new(format!("tok-{email}")),
            now,
        )
        .unwrap()
        .id
}

#[test]
fn pool_operations_commit_with_their_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let a = add(&store, "a@example.com", 1000);
    let b = add(&store, "b@example.com", 2000);
    let c = add(&store, "c@example.com", 3000);
    // Same identity again: updated, not duplicated; new secrets replace the old.
    let again = store
        .upsert_account(
            A,
            NS,
            login("A@example.com"),
            SecretBundle::new("tok-a2"),
            4000,
        )
        .unwrap();
    assert_eq!((again.id, again.created), (a, false));
    assert_eq!(
        store.credentials(a).unwrap().unwrap().access_token.expose(),
        "tok-a2"
    );

    let state = store.load().unwrap();
    assert_eq!(
        state.pool(A).unwrap().ordered_ids(NS),
        [a, c, b],
        "newest login first"
    );
    assert_eq!(state.generation, 4);

    let switched = store
        .set_active(A, NS, b, SwitchReason::ManualCli, 5000)
        .unwrap();
    assert_eq!(switched.entry.unwrap().to, b.to_string());
    assert_eq!(store.load().unwrap().pool(A).unwrap().active[NS], b);
    assert_eq!(
        store.load().unwrap().switch_log.len(),
        5,
        "a, b, c, a again, b"
    );

    let removed = store
        .remove_record(A, rota_types::DEFAULT_NAMESPACE, b, 6000)
        .unwrap();
    assert_eq!(removed.remaining, 2);
    assert!(
        store.credentials(b).unwrap().is_none(),
        "secrets removed in the same transaction"
    );
    store
        .rename(A, rota_types::DEFAULT_NAMESPACE, c, "Work", 7000)
        .unwrap();
    assert_eq!(store.load().unwrap().record(A, c).unwrap().label, "Work");

    let gone = store.remove_all(A, NS, rota_store::now_ms()).unwrap();
    assert_eq!(gone.len(), 2);
    assert!(store.load_vault().unwrap().is_empty());
    assert!(store.load().unwrap().pool(A).is_none());
}

#[test]
fn pool_errors_keep_their_codes_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    add(&store, "a@example.com", 1);
    let before = std::fs::read(&store.paths().state).unwrap();
    let unknown = Ulid::from_parts(1, 1);
    let err = store
        .set_active(A, NS, unknown, SwitchReason::ManualApi, 2)
        .unwrap_err();
    assert!(matches!(err, StoreError::Pool(_)), "{err}");
    let api: ApiError = err.into();
    assert_eq!(api.code, ErrorCode::NotFound);
    let err = store
        .rename(A, rota_types::DEFAULT_NAMESPACE, unknown, "x", 2)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let id = store.load().unwrap().pool(A).unwrap().records[0].id;
    assert_eq!(
        store
            .rename(A, rota_types::DEFAULT_NAMESPACE, id, "   ", 2)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        std::fs::read(&store.paths().state).unwrap(),
        before,
        "nothing written"
    );
}

#[test]
fn batched_counters_land_in_record_health() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open(tmp.path()));
    let a = add(&store, "a@example.com", 1);
    let counters = BatchedCounters::for_pool(Arc::clone(&store), Duration::from_hours(1));
    for _ in 0..50 {
        counters.record_success(&a.to_string(), Some(200));
    }
    counters.record_failure(&a.to_string(), Some(429));
    counters.record_success("01ARZ3NDEKTSV4RRFFQ69G5FAV", None); // removed meanwhile: ignored
    let generation = store.load().unwrap().generation;
    counters.flush().unwrap();
    let state = store.load().unwrap();
    assert_eq!(state.generation, generation + 1);
    let health = &state.record(A, a).unwrap().health;
    assert_eq!((health.success_count, health.failure_count), (50, 1));
    assert_eq!(health.last_status_code, Some(429));
}

#[test]
fn the_state_file_is_rota_cores_pool_state() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    add(&store, "a@example.com", 1);
    let on_disk: PoolState =
        serde_json::from_slice(&std::fs::read(&store.paths().state).unwrap()).unwrap();
    assert_eq!(on_disk, store.load().unwrap());
    assert_eq!(on_disk.generation, 1);
}

// ------------------------------------------------------------------ processes

const DIR_ENV: &str = "ROTA_TEST_POOL_DIR";
const WORKER_ENV: &str = "ROTA_TEST_POOL_WORKER";
const WORKERS: usize = 4;
const LOGINS: usize = 10;

#[test]
#[ignore = "helper: a process running core's operations"]
fn pool_worker() {
    let (Some(dir), Some(w)) = (
        crate::common::helper_env(DIR_ENV),
        crate::common::helper_env(WORKER_ENV),
    ) else {
        return;
    };
    let store = open(Path::new(&dir));
    for i in 0..LOGINS {
        let id = add(&store, &format!("w{w}-{i}@example.com"), 1);
        store
            .set_active(A, NS, id, SwitchReason::ManualCli, 2)
            .unwrap();
        if i % 3 == 2 {
            store
                .remove_record(A, rota_types::DEFAULT_NAMESPACE, id, 3)
                .unwrap();
        }
    }
}

#[test]
fn processes_running_pool_operations_at_once_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let mut children: Vec<_> = (0..WORKERS)
        .map(|w| {
            crate::common::spawn_helper(
                "pool::pool_worker",
                &[
                    (DIR_ENV, tmp.path().display().to_string()),
                    (WORKER_ENV, w.to_string()),
                ],
            )
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "a worker failed");
    }
    let state = store.load().unwrap();
    let pool = state.pool(A).unwrap();
    let emails: BTreeSet<_> = pool
        .records
        .iter()
        .map(|r| r.identity.email.clone().unwrap())
        .collect();
    let expected: BTreeSet<_> = (0..WORKERS)
        .flat_map(|w| {
            (0..LOGINS)
                .filter(|i| i % 3 != 2)
                .map(move |i| format!("w{w}-{i}@example.com"))
        })
        .collect();
    assert_eq!(emails, expected, "accounts lost or resurrected");
    assert_eq!(pool.records.len(), expected.len(), "duplicates");
    let vault = store.load_vault().unwrap();
    let vault_ids: BTreeSet<_> = vault.ids().map(str::to_owned).collect();
    let record_ids: BTreeSet<_> = pool.records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        vault_ids, record_ids,
        "every record has its secret, no orphan"
    );
    // upsert + set_active + (every third) remove: one generation each.
    let mutations = WORKERS * (LOGINS * 2 + LOGINS / 3);
    assert_eq!(state.generation, mutations as u64);
}
