//! docs/rules.md §1 for the store: canary tokens never reach the logs (at trace level), through
//! a recovery that quotes a damaged vault, a batch flush and a refresh. Its own test binary: it
//! captures the process's log output, which other tests running beside it would share.

#[path = "it/common.rs"]
mod common;

use std::fs;
use std::sync::Arc;

use common::{CANARY_ACCESS, CANARY_ID, CANARY_REFRESH, open_file_store, seed_account};
use rota_store::{SecretBundle, StoreError};

/// Collects log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn canary_tokens_never_reach_the_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let tmp = tempfile::tempdir().unwrap();
        let store = open_file_store(tmp.path());
        let bundle = SecretBundle::new(CANARY_ACCESS).with_refresh(CANARY_REFRESH);
        seed_account(&store, "a", &bundle);
        seed_account(
            &store,
            "b",
            &bundle.clone().with_extra("id_token", CANARY_ID),
        );
        // Damage the vault so that its parse error would quote a token (`expires_at` must be a
        // number) and recovery logs a warning about it.
        let text = fs::read_to_string(&store.paths().vault).unwrap();
        fs::write(
            &store.paths().vault,
            text.replace("refresh_token", "expires_at"),
        )
        .unwrap();
        let recovered = open_file_store(tmp.path());
        assert_eq!(recovered.pending_recoveries().len(), 1);
        // A batch flush and a refresh log nothing secret either.
        let _ = recovered.refresh_secrets("a", &bundle, |_| {
            Ok::<_, StoreError>(SecretBundle::new(CANARY_ACCESS).with_refresh(CANARY_REFRESH))
        });
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("repaired a data file"),
        "the recovery is logged: {text}"
    );
    for canary in [CANARY_ACCESS, CANARY_REFRESH, CANARY_ID] {
        assert!(!text.contains(canary), "{canary} in the logs: {text}");
    }
}
