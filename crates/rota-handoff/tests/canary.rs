//! docs/rules.md §1 for hand-off: canary tokens never reach logs (at trace level), errors,
//! `Debug` output, statuses, autopilot events or the state file, across writes, adoption,
//! refusal, missing secrets and the refresh gate.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rota_core::NewLogin;
use rota_handoff::{AutopilotConfig, refresh_gate, run_once, set_handoff, status, sync};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, HandoffTool, ProviderId, SwitchReason};
use serde_json::json;

const CANARY: &str = "CANARY7f3a";
const A: ProviderId = ProviderId::Anthropic;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bundle(tag: &str, exp: i64) -> SecretBundle {
    SecretBundle::new(format!("sk-ant-oat01-{CANARY}-{tag}"))
        .with_refresh(format!("sk-ant-ort01-{CANARY}-{tag}"))
        .with_expiry(exp)
}

fn write(path: &Path, access: &str, refresh: &str, exp: i64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let v = json!({"claudeAiOauth": {"accessToken": access, "refreshToken": refresh, "expiresAt": exp}});
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn tokens_never_reach_logs_errors_statuses_or_state() {
    let logs = Buf::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let now = rota_store::now_ms();
    let tmp = tempfile::tempdir().unwrap();
    let store = PoolStore::open(
        StoreConfig::new(tmp.path().join("home")).with_secret_store(SecretStoreMode::File),
    )
    .unwrap();
    let add = |label: &str, secrets: SecretBundle| {
        store
            .upsert_account(
                A,
                DEFAULT_NAMESPACE,
                NewLogin {
                    identity: AccountIdentity {
                        email: Some(format!("{label}@example.com")),
                        ..AccountIdentity::default()
                    },
                    label: None,
                },
                secrets,
                now - 3_600_000,
            )
            .unwrap()
            .id
    };
    let b = add("b", bundle("b", now + 3_600_000));
    let a = add("a", bundle("a", now + 3_600_000));
    let target = tmp.path().join(".claude/.credentials.json");
    let mut shown: Vec<String> = Vec::new();

    // A foreign login: refused.
    write(
        &target,
        &format!("sk-ant-oat01-{CANARY}-x"),
        &format!("sk-ant-ort01-{CANARY}-x"),
        now,
    );
    set_handoff(
        &store,
        A,
        true,
        Some(HandoffTool::ClaudeCode),
        Some(Some(target.clone())),
    )
    .unwrap();
    let err = sync(&store, A, false, now).unwrap_err();
    shown.push(format!("{err} {err:?}"));
    shown.push(format!("{:?}", rota_types::ApiError::from(err)));
    // Forced, then the tool refreshes, then a switch adopts and writes.
    shown.push(format!("{:?}", sync(&store, A, true, now).unwrap()));
    write(
        &target,
        &format!("sk-ant-oat01-{CANARY}-a2"),
        &format!("sk-ant-ort01-{CANARY}-a2"),
        now + 7_200_000,
    );
    let current = store.credentials(a).unwrap().unwrap();
    shown.push(format!(
        "{:?}",
        refresh_gate(&store, A, a, &current, now).unwrap()
    ));
    store
        .set_active(A, DEFAULT_NAMESPACE, b, SwitchReason::ManualCli, now)
        .unwrap();
    shown.push(format!(
        "{:?}",
        run_once(&store, &AutopilotConfig::default(), now)
    ));
    let st = status(&store, A, now).unwrap();
    shown.push(format!("{st:?} {}", serde_json::to_string(&st).unwrap()));
    // An unreadable file and a missing secret.
    std::fs::write(
        &target,
        format!("{{\"claudeAiOauth\": {{\"accessToken\": \"{CANARY}"),
    )
    .unwrap();
    shown.push(sync(&store, A, false, now).unwrap_err().to_string());
    add("c", SecretBundle::new(format!("sk-ant-oat01-{CANARY}-c")));
    std::fs::remove_file(&target).unwrap();
    shown.push(sync(&store, A, false, now).unwrap_err().to_string());
    shown.push(format!("{:?}", status(&store, A, now).unwrap()));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("handed off"),
        "the flows logged something: {logs}"
    );
    let state = std::fs::read_to_string(tmp.path().join("home/state.json")).unwrap();
    for (what, text) in [
        ("logs", &logs),
        ("state", &state),
        ("shown", &shown.join("\n")),
    ] {
        assert!(
            !text.contains(CANARY),
            "a token reached the {what}:\n{text}"
        );
    }
}
