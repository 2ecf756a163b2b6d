//! docs/rules.md §7 "Refresh race": 8 processes refresh one expired account against the mock's
//! single-use token endpoint. Exactly one token request reaches the mock; every process ends
//! with the same, valid pair.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use rota_mock::{Behavior, NewAccount, Scope, ScriptStep};
use rota_providers::{Providers, ProvidersConfig, TokenManager};
use rota_types::ProviderId;

const P: ProviderId = ProviderId::Anthropic;
const DIR: &str = "ROTA_TEST_RACE_DIR";
const MOCK: &str = "ROTA_TEST_RACE_MOCK";
const ID: &str = "ROTA_TEST_RACE_ID";
const PROCESSES: usize = 8;

/// One racing process: waits for the start signal, then asks for usable credentials.
#[test]
#[ignore = "helper: one process of the refresh race"]
fn race_child() {
    let (Ok(dir), Ok(base), Ok(id)) = (std::env::var(DIR), std::env::var(MOCK), std::env::var(ID))
    else {
        return;
    };
    let dir = Path::new(&dir);
    let id = rota_core::parse_id(&id).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = open_store(&dir.join("home"));
    let providers =
        std::sync::Arc::new(Providers::new(ProvidersConfig::with_mock_base(&base)).unwrap());
    let tm = TokenManager::new(store.clone(), providers.clone());
    // Everyone loads the expired tokens before the start signal.
    let loaded = store.credentials(id).unwrap().unwrap();
    while !dir.join("go").exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let auth = rt.block_on(tm.access(P, id)).expect("credentials");
    assert_ne!(auth.secrets, loaded, "refreshed (by us or another process)");
    // The pair works upstream.
    rt.block_on(providers.fetch_usage(P, &auth, rota_store::now_ms()))
        .expect("the final pair is valid");
    let out = dir.join(format!("result-{}", std::process::id()));
    std::fs::write(
        out,
        format!(
            "{}\n{}",
            auth.secrets.access_token.expose(),
            auth.secrets.refresh_token.as_ref().unwrap().expose()
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_refresh_one_expired_account_once() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(&tmp.path().join("home"));
    let (info, id) = seed(&mock, &store, NewAccount::new(P), expired);
    // Make the one refresh slow so the others really wait on the lock.
    mock.script(
        &info.id,
        ScriptStep::once(Behavior::Latency { ms: 300 }).scope(Scope::Token),
    )
    .unwrap();
    mock.clear_requests();
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for _ in 0..PROCESSES {
        children.push(
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "refresh_race::race_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DIR, tmp.path())
                .env(MOCK, mock.base_url())
                .env(ID, id.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
    }
    // Give every child time to load its (expired) tokens, then start them together.
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::fs::write(tmp.path().join("go"), b"").unwrap();
    let statuses = tokio::task::spawn_blocking(move || {
        children
            .iter_mut()
            .map(|c| c.wait().unwrap().success())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(
        statuses.iter().all(|ok| *ok),
        "every process succeeded: {statuses:?}"
    );

    assert_eq!(
        count_requests(&mock, "/v1/oauth/token"),
        1,
        "exactly one token request reached the mock"
    );
    let results: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("result-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(results.len(), PROCESSES);
    let now = mock.account(&info.id).unwrap();
    let expected = format!("{}\n{}", now.access_token, now.refresh_token.unwrap());
    for r in &results {
        assert_eq!(
            r, &expected,
            "every process ends with the mock's current pair"
        );
    }
    let stored = store.credentials(id).unwrap().unwrap();
    assert_eq!(stored.access_token.expose(), now.access_token);
}
