//! Local keys through a real gateway socket against rota-mock: any connection's key from the
//! vault is accepted in `Authorization: Bearer` or `x-api-key`; the session names the
//! connection; a key created while the gateway runs works at once; revoking one key refuses it
//! from the next request on while another connection's key keeps working; `api.json`'s token
//! still works for programs.

use std::time::Duration;

use crate::common::{add_account, file_store, start_gateway};
use rota_gateway::GatewayConfig;
use rota_mock::{MockConfig, MockServer};
use rota_types::ProviderId;

/// Claude Code's request body (strict rota-mock takes only Claude Code's requests on OAuth).
fn body() -> serde_json::Value {
    rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hi", false)
}

#[tokio::test]
async fn connection_keys_are_accepted_attributed_and_revoked_one_at_a_time() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    add_account(&mock, &store, ProviderId::Anthropic, "a@example.com");
    let claude = store.local_key("claude-code").unwrap();
    let gw = start_gateway(
        GatewayConfig::new(dir.path()).with_port(0),
        store.clone(),
        mock.base_url(),
    )
    .await;
    let url = format!("{}/anthropic/v1/messages", gw.base_url());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let send = |header: &'static str, value: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let v = if header == "authorization" {
                format!("Bearer {value}")
            } else {
                value
            };
            client
                .post(&url)
                .header(header, v)
                .header("anthropic-version", "2023-06-01")
                .header("user-agent", "claude-cli/2.1.330 (external, cli)")
                .json(&body())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert_eq!(send("authorization", claude.expose().to_owned()).await, 200);
    assert_eq!(send("x-api-key", claude.expose().to_owned()).await, 200);
    let sessions = gw.gateway().sessions();
    assert!(
        sessions
            .iter()
            .any(|s| s.connection.as_deref() == Some("claude-code")),
        "{sessions:?}"
    );

    // A key made while the gateway runs (another process's `rota connect`) works at once.
    let codex = store.local_key("codex").unwrap();
    assert_eq!(send("authorization", codex.expose().to_owned()).await, 200);
    // A wrong key is refused and never reaches the mock.
    let before = mock.requests().len();
    assert_eq!(send("authorization", "rota_wrong".to_owned()).await, 401);
    assert_eq!(mock.requests().len(), before);

    // Revoking one connection's key: refused from the next request on, the other still works.
    assert!(store.revoke_local_key("claude-code").unwrap());
    assert_eq!(send("authorization", claude.expose().to_owned()).await, 401);
    assert_eq!(send("authorization", codex.expose().to_owned()).await, 200);

    // Programs keep `api.json`'s per-run token; their sessions name no connection.
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("api.json")).unwrap()).unwrap();
    let token = api["token"].as_str().unwrap().to_owned();
    assert_eq!(send("authorization", token).await, 200);

    // The gateway notes when it last saw each connection (read by `rota connect --list`).
    gw.gateway().flush();
    let seen = rota_gateway::read_connections_seen(dir.path());
    assert!(
        seen.contains_key("claude-code") && seen.contains_key("codex"),
        "{seen:?}"
    );
    assert!(!seen.contains_key("sdk"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    gw.shutdown().await;
}
