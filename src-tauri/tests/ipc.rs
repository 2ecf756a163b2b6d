//! The typed IPC path through Tauri's mock runtime with the app's real configuration and
//! capabilities: commands answer their `rota-types` shapes, errors arrive as `{code, message}`,
//! and only the main window may call them.

use rota_app::{AppState, builder};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{WebviewUrl, WebviewWindowBuilder};

fn request(cmd: &str, body: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(body),
        headers: tauri::http::HeaderMap::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

struct Harness {
    app: tauri::App<tauri::test::MockRuntime>,
    data: tempfile::TempDir,
}

const NOW: i64 = 1_800_000_000_000;
const CANARY: &str = "canary-access-token-ipc";

impl Harness {
    fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = rota_store::StoreConfig::new(data.path().join("rota"))
            .with_secret_store(rota_store::SecretStoreMode::File);
        let state = AppState::new(config, 4242).unwrap();
        let app = builder(mock_builder(), state)
            .build(tauri::generate_context!("tauri.conf.json"))
            .expect("app builds on the mock runtime");
        Self { app, data }
    }

    fn window(&self, label: &str) -> tauri::WebviewWindow<tauri::test::MockRuntime> {
        use tauri::Manager;
        self.app.get_webview_window(label).unwrap_or_else(|| {
            WebviewWindowBuilder::new(&self.app, label, WebviewUrl::default())
                .build()
                .unwrap()
        })
    }

    fn call(&self, label: &str, cmd: &str, request_body: Value) -> Result<Value, Value> {
        let w = self.window(label);
        get_ipc_response(&w, request(cmd, json!({ "request": request_body })))
            .map(|body| body.deserialize::<Value>().unwrap())
    }

    /// The same store the app opened, as another process would open it.
    fn store(&self) -> rota_store::PoolStore {
        rota_store::PoolStore::open(
            rota_store::StoreConfig::new(self.data.path().join("rota"))
                .with_secret_store(rota_store::SecretStoreMode::File),
        )
        .unwrap()
    }

    /// Adds an account (its secret is a canary that must never come back over IPC).
    fn seed(&self, provider: rota_types::ProviderId, email: &str) -> String {
        let login = rota_core::NewLogin {
            identity: rota_types::AccountIdentity {
                email: Some(email.to_owned()),
                ..Default::default()
            },
            label: None,
        };
        let secrets = rota_store::SecretBundle::new(CANARY).with_refresh("canary-refresh");
        self.store()
            .upsert_account(provider, "default", login, secrets, NOW)
            .unwrap()
            .id
            .to_string()
    }
}

#[test]
fn app_info_answers_its_typed_shape() {
    let h = Harness::new();
    let v = h
        .call("main", "app_info", json!({}))
        .expect("app_info succeeds");
    let info: rota_types::command::AppInfo = serde_json::from_value(v).expect("AppInfo shape");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.gateway_url, "http://127.0.0.1:4242");
    assert!(info.data_dir.ends_with("rota"), "{}", info.data_dir);
}

#[test]
fn app_info_names_the_secret_backend() {
    let h = Harness::new();
    let v = h.call("main", "app_info", json!({})).unwrap();
    assert_eq!(
        v["secretBackend"],
        json!({"label": "plaintext file (0600)", "warning": null})
    );
}

#[test]
fn account_commands_work_on_the_real_store() {
    use rota_types::ProviderId::{Anthropic, OpenAi};
    let h = Harness::new();
    let first = h.seed(Anthropic, "first@example.com");
    let second = h.seed(Anthropic, "second@example.com");
    h.seed(OpenAi, "o@example.com");

    let v = h.call("main", "list_providers", json!({})).unwrap();
    let counts: Vec<_> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].clone(), p["accountCount"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (json!("anthropic"), json!(2)),
            (json!("github-copilot"), json!(0)),
            (json!("openai"), json!(1))
        ]
    );

    // The newest login is active and first.
    let snap = h
        .call("main", "snapshot", json!({"providerID": "anthropic"}))
        .unwrap();
    assert_eq!(snap["activeID"], json!(second));
    assert_eq!(snap["orderedIDs"], json!([second, first]));
    let accounts = h
        .call("main", "get_accounts", json!({"providerID": "anthropic"}))
        .unwrap();
    assert_eq!(accounts[0]["label"], json!("second@example.com"));
    assert_eq!(accounts[0]["isActive"], json!(true));

    let v = h
        .call(
            "main",
            "set_active",
            json!({"providerID": "anthropic", "recordID": first}),
        )
        .unwrap();
    assert_eq!(v["success"], json!(true));
    let state = h.store().load().unwrap();
    let entry = state.switch_log.back().unwrap();
    assert_eq!(
        (entry.to.as_str(), entry.reason.as_str()),
        (first.as_str(), "manual:app")
    );

    h.call(
        "main",
        "rename_record",
        json!({"providerID": "anthropic", "recordID": first, "label": "  Work  "}),
    )
    .unwrap();
    let usage = h.call("main", "usage", json!({"refresh": true})).unwrap();
    assert_eq!(usage["anthropic"]["accounts"][0]["label"], json!("Work"));
    assert_eq!(usage["openai"]["accounts"].as_array().unwrap().len(), 1);

    let v = h
        .call(
            "main",
            "remove_record",
            json!({"providerID": "anthropic", "recordID": first}),
        )
        .unwrap();
    assert_eq!(v, json!({"success": true, "remaining": 1}));
    assert!(
        h.store()
            .credentials(first.parse().unwrap())
            .unwrap()
            .is_none()
    );
    let v = h
        .call(
            "main",
            "remove_record",
            json!({"providerID": "anthropic", "recordID": second}),
        )
        .unwrap();
    assert_eq!(v, json!({"success": true, "remaining": 0}));
    assert!(h.store().load().unwrap().pool(Anthropic).is_none());
}

#[test]
fn no_command_answer_carries_a_token() {
    let h = Harness::new();
    let id = h.seed(rota_types::ProviderId::Anthropic, "a@example.com");
    let mut answers = String::new();
    for (cmd, body) in [
        ("list_providers", json!({})),
        ("snapshot", json!({"providerID": "anthropic"})),
        ("get_accounts", json!({"providerID": "anthropic"})),
        ("usage", json!({})),
        ("app_info", json!({})),
        (
            "set_active",
            json!({"providerID": "anthropic", "recordID": id}),
        ),
    ] {
        answers.push_str(&h.call("main", cmd, body).unwrap().to_string());
    }
    assert!(answers.contains("a@example.com"));
    assert!(!answers.contains("canary"), "{answers}");
}

#[test]
fn account_command_errors_are_code_and_message() {
    let h = Harness::new();
    let real = h.seed(rota_types::ProviderId::Anthropic, "a@example.com");
    let unknown = "01JD0000000000000000000000";
    let cases = [
        ("snapshot", json!({"providerID": "bogus"}), "invalid_input"),
        ("get_accounts", json!({"providerID": ""}), "invalid_input"),
        (
            "get_accounts",
            json!({"providerID": "x".repeat(10_000)}),
            "invalid_input",
        ),
        (
            "set_active",
            json!({"providerID": "anthropic", "recordID": unknown}),
            "not_found",
        ),
        (
            "set_active",
            json!({"providerID": "bogus", "recordID": real}),
            "invalid_input",
        ),
        (
            "set_active",
            json!({"providerID": "anthropic", "recordID": "not-a-ulid"}),
            "invalid_input",
        ),
        (
            "set_active",
            json!({"providerID": "openai", "recordID": real}),
            "not_found",
        ),
        (
            "remove_record",
            json!({"providerID": "anthropic", "recordID": unknown}),
            "not_found",
        ),
        (
            "remove_record",
            json!({"providerID": "anthropic", "recordID": real, "namespace": "a\u{7}b"}),
            "invalid_input",
        ),
        (
            "rename_record",
            json!({"providerID": "anthropic", "recordID": real, "label": "   "}),
            "invalid_input",
        ),
        (
            "rename_record",
            json!({"providerID": "anthropic", "recordID": real, "label": "l".repeat(65)}),
            "invalid_input",
        ),
        (
            "rename_record",
            json!({"providerID": "anthropic", "recordID": unknown, "label": "Work"}),
            "not_found",
        ),
    ];
    for (cmd, body, code) in cases {
        let err = h
            .call("main", cmd, body.clone())
            .expect_err(&format!("{cmd} {body}"));
        assert_eq!(err["code"], json!(code), "{cmd} {body}: {err}");
        assert!(
            !err["message"].as_str().unwrap_or_default().is_empty(),
            "{err}"
        );
    }
    // Nothing was changed by the refused calls.
    let state = h.store().load().unwrap();
    let accounts = state.get_accounts(rota_types::ProviderId::Anthropic, "default", NOW);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].label, "a@example.com");
}

#[test]
fn providers_are_listed_alphabetically_and_none_connected() {
    let h = Harness::new();
    let v = h.call("main", "list_providers", json!({})).unwrap();
    let ids: Vec<_> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("anthropic"), json!("github-copilot"), json!("openai")]
    );
    assert!(
        v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["accountCount"] == json!(0))
    );
}

#[test]
fn a_command_error_reaches_the_caller_as_code_and_message() {
    let h = Harness::new();
    let prefs = h.data.path().join("rota/ui-prefs.json");
    std::fs::write(&prefs, b"{\"lastTab\": \"ab").unwrap();

    let err = h
        .call("main", "ui_prefs_get", json!({}))
        .expect_err("corrupt prefs are an error");
    assert_eq!(err["code"], json!("unreadable"), "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("ui-prefs.json") && message.contains("invalid JSON"),
        "{message}"
    );

    // The unreadable file was kept aside, not overwritten, and the next read starts clean.
    let kept: Vec<_> = std::fs::read_dir(h.data.path().join("rota"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("ui-prefs.json.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read(h.data.path().join("rota").join(&kept[0])).unwrap(),
        b"{\"lastTab\": \"ab"
    );
    assert_eq!(
        h.call("main", "ui_prefs_get", json!({})).unwrap(),
        json!({"lastTab": "providers"})
    );
}

#[test]
fn ui_prefs_are_saved_to_disk_at_once() {
    let h = Harness::new();
    let v = h
        .call("main", "ui_prefs_set", json!({"lastTab": "about"}))
        .unwrap();
    assert_eq!(v, json!({"lastTab": "about"}));
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(h.data.path().join("rota/ui-prefs.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["lastTab"], json!("about"));
    assert_eq!(
        h.call("main", "ui_prefs_get", json!({})).unwrap(),
        json!({"lastTab": "about"})
    );
}

#[test]
fn malformed_requests_are_refused() {
    let h = Harness::new();
    let err = h
        .call("main", "ui_prefs_set", json!({"lastTab": "nope"}))
        .unwrap_err();
    assert!(err.to_string().contains("unknown variant"), "{err}");
    let err = h
        .call("main", "open_link", json!({"kind": "javascript:alert(1)"}))
        .unwrap_err();
    assert!(err.to_string().contains("unknown variant"), "{err}");
}

#[test]
fn every_declared_command_is_registered() {
    let h = Harness::new();
    for name in rota_types::COMMAND_NAMES {
        // Wrong arguments are fine here; an unregistered command answers differently.
        let res = h.call("main", name, json!({}));
        if let Err(e) = res {
            let text = e.to_string();
            assert!(
                !text.contains("not found") && !text.contains("not allowed"),
                "{name}: {text}"
            );
        }
    }
}

#[test]
fn only_the_main_window_may_call_commands() {
    let h = Harness::new();
    let err = h
        .call("intruder", "app_info", json!({}))
        .expect_err("other windows are denied");
    assert!(err.to_string().contains("not allowed"), "{err}");
}

#[test]
fn the_webview_gets_no_plugin_commands() {
    let h = Harness::new();
    for cmd in [
        "plugin:store|load",
        "plugin:store|set",
        "plugin:opener|open_url",
    ] {
        let w = h.window("main");
        let err = get_ipc_response(
            &w,
            request(cmd, json!({"path": "x.json", "url": "https://example.com"})),
        )
        .expect_err(cmd);
        assert!(err.to_string().contains("not allowed"), "{cmd}: {err}");
    }
}

#[test]
fn gateway_status_answers_its_typed_shape() {
    // The mock runtime never runs `run()`'s setup, so the gateway stays `starting`.
    let h = Harness::new();
    let v = h
        .call("main", "gateway_status", json!({}))
        .expect("gateway_status succeeds");
    assert_eq!(v, json!({ "state": "starting" }));
    let status: rota_types::command::GatewayStatusResponse =
        serde_json::from_value(v).expect("GatewayStatusResponse shape");
    assert_eq!(status.state, rota_types::command::GatewayState::Starting);
    // Not bound: app_info names the configured address.
    let info = h.call("main", "app_info", json!({})).unwrap();
    assert_eq!(info["gatewayUrl"], "http://127.0.0.1:4242");
}
