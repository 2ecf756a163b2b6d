//! Codex hand-off writes a login Codex 0.171 uses as a ChatGPT login: it takes the login type
//! from `auth_mode` first, then from a non-null `OPENAI_API_KEY`, so a file left by an API-key
//! login (or our own tokens under `auth_mode: "apikey"`) would make Codex ignore the tokens.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rota_core::{NewLogin, Ulid};
use rota_handoff::{SyncOutcome, set_handoff, sync};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, HandoffTool, ProviderId};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000_000;
const O: ProviderId = ProviderId::OpenAi;

fn jwt(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.sig", part(&json!({"alg": "RS256"})), part(claims))
}

fn chatgpt_login(label: &str) -> SecretBundle {
    let id_token = jwt(&json!({
        "email": format!("{label}@example.com"),
        "https://api.openai.com/auth": {"chatgpt_account_id": format!("acct-{label}"), "chatgpt_plan_type": "plus"}
    }));
    SecretBundle::new(jwt(&json!({"exp": NOW / 1000 + 3600, "sub": label})))
        .with_refresh(format!("rt_{label}"))
        .with_extra("id_token", id_token)
        .with_expiry(NOW + 3_600_000)
}

fn setup(dir: &Path, target: &Path) -> (PoolStore, Ulid) {
    let store =
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap();
    let id = store
        .upsert_account(
            O,
            DEFAULT_NAMESPACE,
            NewLogin {
                identity: AccountIdentity {
                    account_id: Some("acct-a".into()),
                    ..AccountIdentity::default()
                },
                label: Some("a".into()),
            },
            chatgpt_login("a"),
            NOW,
        )
        .unwrap()
        .id;
    set_handoff(
        &store,
        O,
        true,
        Some(HandoffTool::Codex),
        Some(Some(target.to_owned())),
    )
    .unwrap();
    (store, id)
}

/// The login type Codex 0.171 resolves from an `auth.json`, as `codex login status` reports it
/// (checked with the 0.171.0 binary): `auth_mode` when present, else API key when
/// `OPENAI_API_KEY` is non-null — even next to ChatGPT tokens — else ChatGPT when tokens exist.
fn codex_login_type(v: &Value) -> &str {
    if let Some(mode) = v.get("auth_mode").and_then(Value::as_str) {
        return mode;
    }
    if v.get("OPENAI_API_KEY").is_some_and(|k| !k.is_null()) {
        return "apikey";
    }
    if v.get("tokens").is_some_and(|t| !t.is_null()) {
        return "chatgpt";
    }
    "none"
}

#[test]
fn handoff_over_an_api_key_login_yields_a_chatgpt_login_keeping_other_fields() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(".codex/auth.json");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(
        &target,
        serde_json::to_vec(&json!({
            "auth_mode": "apikey",
            "OPENAI_API_KEY": "sk-proj-stale",
            "agent_identity": null,
            "some_future_field": {"kept": true},
        }))
        .unwrap(),
    )
    .unwrap();
    let (store, id) = setup(&dir.path().join("rota"), &target);
    assert!(matches!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == id
    ));
    let v: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(v["auth_mode"], "chatgpt");
    assert_eq!(v["OPENAI_API_KEY"], Value::Null, "the stale key is cleared");
    assert_eq!(codex_login_type(&v), "chatgpt");
    assert_eq!(v["tokens"]["refresh_token"], "rt_a");
    assert_eq!(v["tokens"]["account_id"], "acct-a");
    assert_eq!(v["some_future_field"], json!({"kept": true}));
    assert!(
        !String::from_utf8(std::fs::read(&target).unwrap())
            .unwrap()
            .contains("sk-proj-stale")
    );
}

#[test]
fn our_tokens_under_an_api_key_mode_are_rewritten_then_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(".codex/auth.json");
    let (store, id) = setup(&dir.path().join("rota"), &target);
    // First hand-off writes the ChatGPT login.
    assert!(matches!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Written { .. }
    ));
    // Something (an API-key login attempt, an older tool) drops the mode and adds a key while
    // keeping our tokens: Codex would now use the key.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("auth_mode");
    v["OPENAI_API_KEY"] = json!("sk-proj-other");
    std::fs::write(&target, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(codex_login_type(&v), "apikey");
    assert!(matches!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == id
    ));
    let v: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(codex_login_type(&v), "chatgpt");
    assert_eq!(v["OPENAI_API_KEY"], Value::Null);
    // Now current: nothing to write.
    assert_eq!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Current { record_id: id }
    );
}
