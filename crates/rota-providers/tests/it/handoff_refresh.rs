//! docs/rules.md §3.6 in the `TokenManager`: an account handed off to Claude Code is refreshed by
//! Claude Code, not by Rota. Valid tokens the tool holds are left to it (no token request even
//! inside the refresh skew), tokens the tool refreshed are adopted (no token request), and only
//! an expired, unchanged copy is refreshed by Rota, which then writes the new pair to the tool.

use std::path::Path;

use crate::common::*;
use rota_handoff::SyncOutcome;
use rota_mock::NewAccount;
use rota_store::PoolStore;
use rota_types::{HandoffTool, ProviderId};
use serde_json::{Value, json};

const P: ProviderId = ProviderId::Anthropic;

fn hand_off(store: &PoolStore, target: &Path) {
    rota_handoff::set_handoff(
        store,
        P,
        true,
        Some(HandoffTool::ClaudeCode),
        Some(Some(target.to_owned())),
    )
    .unwrap();
    assert!(matches!(
        rota_handoff::sync(store, P, false, rota_store::now_ms()).unwrap(),
        SyncOutcome::Written { .. }
    ));
}

fn read(target: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(target).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_tokens_in_the_tool_are_left_to_it() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(&tmp.path().join("home"));
    // Expires in two minutes: inside the refresh skew, so without hand-off Rota would refresh.
    let (_, id) = seed(&mock, &store, NewAccount::new(P), |b| {
        b.with_expiry(rota_store::now_ms() + 120_000)
    });
    let target = tmp.path().join(".claude/.credentials.json");
    hand_off(&store, &target);
    let before = store.credentials(id).unwrap().unwrap();
    mock.clear_requests();
    let tm = tokens(&store, &providers(mock.base_url()));
    let auth = tm.access(P, id).await.unwrap();
    assert_eq!(auth.secrets, before);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_the_tool_refreshed_are_adopted_without_a_request() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(&tmp.path().join("home"));
    let (_, id) = seed(&mock, &store, NewAccount::new(P), expired);
    let target = tmp.path().join(".claude/.credentials.json");
    hand_off(&store, &target);
    // Claude Code refreshed meanwhile.
    let mut v = read(&target);
    let later = rota_store::now_ms() + 8 * 3_600_000;
    v["claudeAiOauth"]["accessToken"] = json!("sk-ant-oat01-tool");
    v["claudeAiOauth"]["refreshToken"] = json!("sk-ant-ort01-tool");
    v["claudeAiOauth"]["expiresAt"] = json!(later);
    std::fs::write(&target, serde_json::to_vec(&v).unwrap()).unwrap();
    mock.clear_requests();
    let tm = tokens(&store, &providers(mock.base_url()));
    let auth = tm.access(P, id).await.unwrap();
    assert_eq!(auth.secrets.access_token.expose(), "sk-ant-oat01-tool");
    assert_eq!(auth.secrets.expires_at, Some(later));
    assert_eq!(store.credentials(id).unwrap().unwrap(), auth.secrets);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_unchanged_copy_is_refreshed_and_handed_back() {
    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(&tmp.path().join("home"));
    let (_, id) = seed(&mock, &store, NewAccount::new(P), expired);
    let target = tmp.path().join(".claude/.credentials.json");
    hand_off(&store, &target);
    let before = store.credentials(id).unwrap().unwrap();
    mock.clear_requests();
    let tm = tokens(&store, &providers(mock.base_url()));
    let auth = tm.access(P, id).await.unwrap();
    assert_ne!(auth.secrets, before);
    assert_eq!(count_requests(&mock, "/v1/oauth/token"), 1);
    // The tool got the new pair (its copy held the refresh token just spent).
    let v = read(&target);
    assert_eq!(
        v["claudeAiOauth"]["refreshToken"],
        auth.secrets.refresh_token.as_ref().unwrap().expose()
    );
    assert_eq!(
        v["claudeAiOauth"]["accessToken"],
        auth.secrets.access_token.expose()
    );
}
