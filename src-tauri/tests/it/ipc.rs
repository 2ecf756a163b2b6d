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
        Self::with_providers(rota_providers::ProvidersConfig::default())
    }

    /// The app with every provider endpoint on a rota-mock server.
    fn with_mock(mock: &Mock) -> Self {
        Self::with_providers(rota_providers::ProvidersConfig::with_mock_base(
            mock.handle.base_url(),
        ))
    }

    fn with_providers(providers: rota_providers::ProvidersConfig) -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = rota_store::StoreConfig::new(data.path().join("rota"))
            .with_secret_store(rota_store::SecretStoreMode::File);
        let state = AppState::with_providers(config, 4242, providers).unwrap();
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
fn switch_caveat_says_who_serves_meanwhile() {
    use rota_types::ProviderId::Anthropic;
    let h = Harness::new();
    let first = h.seed(Anthropic, "first@example.com");
    h.seed(Anthropic, "second@example.com");
    // Before a switch: a usable account has no caveat; one that needs a new login says who
    // serves meanwhile; an unknown one is not found.
    let caveat = |id: &str| {
        h.call(
            "main",
            "switch_caveat",
            json!({"providerID": "anthropic", "recordID": id}),
        )
    };
    assert_eq!(caveat(&first).unwrap(), json!({"text": null}));
    h.store()
        .mutate(|txn| {
            let id = first.parse().unwrap();
            let r = txn.state.providers.get_mut(&Anthropic).unwrap();
            let r = r.records.iter_mut().find(|r| r.id == id).unwrap();
            r.health.needs_reauth = true;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    assert_eq!(
        caveat(&first).unwrap()["text"],
        json!(
            "first@example.com needs a new sign-in (`rota auth login anthropic`); until then \
             requests go to second@example.com."
        )
    );
    let unknown = caveat("01JD0000000000000000000009").unwrap_err();
    assert_eq!(unknown["code"], json!("not_found"));
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
        ("snapshot", json!({"providerID": "bogus"}), "not_found"),
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
            "not_found",
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

// ---- login flows, sessions and settings against a real rota-mock server ----

/// rota-mock on its own runtime (device codes approve themselves after 200 ms).
struct Mock {
    _runtime: tokio::runtime::Runtime,
    handle: rota_mock::MockHandle,
}

impl Mock {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime
            .block_on(rota_mock::MockServer::start(rota_mock::MockConfig {
                device_interval_secs: 1,
                device_auto_approve_after_ms: Some(200),
                ..rota_mock::MockConfig::default()
            }))
            .unwrap();
        Self {
            _runtime: runtime,
            handle,
        }
    }
}

/// A plain HTTP/1.1 GET on loopback (the mock's sign-in page).
fn get_page(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `code#state` from the mock's authorize page, as a user copies it.
fn code_from_page(url: &str) -> String {
    rota_mock::auth_code_on_page(&get_page(url)).expect("code on the page")
}

/// Every `login-progress` state of one flow, in order.
fn collect_progress(
    h: &Harness,
) -> std::sync::Arc<std::sync::Mutex<Vec<rota_types::LoginProgress>>> {
    use rota_types::Event as _;
    use tauri::Listener as _;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    h.app.listen_any(rota_types::LoginProgress::NAME, move |e| {
        sink.lock()
            .unwrap()
            .push(serde_json::from_str(e.payload()).unwrap());
    });
    seen
}

fn wait_for_state(
    seen: &std::sync::Mutex<Vec<rota_types::LoginProgress>>,
    flow: &str,
    pred: impl Fn(&rota_types::LoginState) -> bool,
) -> rota_types::LoginState {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(p) = seen
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.flow_id == flow && pred(&p.state))
        {
            return p.state.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such progress for {flow}: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn anthropic_paste_login_adds_the_account_and_a_wrong_code_can_be_retried() {
    use rota_types::LoginState;
    let mock = Mock::start();
    let h = Harness::with_mock(&mock);
    let seen = collect_progress(&h);
    let started: rota_types::command::LoginStarted = serde_json::from_value(
        h.call("main", "begin_login", json!({"providerID": "anthropic"}))
            .expect("begin_login"),
    )
    .unwrap();
    assert!(
        started.notice.as_deref().unwrap().contains("Claude Code"),
        "the policy notice comes with the flow"
    );
    let rota_types::command::LoginPrompt::Paste { authorize_url } = &started.prompt else {
        panic!("anthropic pastes a code: {:?}", started.prompt);
    };
    assert!(
        authorize_url.contains("/oauth/authorize?"),
        "{authorize_url}"
    );
    let flow = started.flow_id.clone();

    // A code with the wrong state is refused; the flow stays open.
    let err = h
        .call(
            "main",
            "complete_login",
            json!({"flowID": flow, "code": "abc#not-the-state"}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input", "{err}");
    assert!(
        h.store().load().unwrap().providers.is_empty(),
        "nothing saved"
    );

    let code = code_from_page(authorize_url);
    let account: rota_types::AccountSummary = serde_json::from_value(
        h.call(
            "main",
            "complete_login",
            json!({"flowID": flow, "code": code}),
        )
        .expect("complete_login"),
    )
    .unwrap();
    assert!(account.is_active, "the new login is active");
    let stored =
        h.store()
            .load()
            .unwrap()
            .get_accounts(rota_types::ProviderId::Anthropic, "default", NOW);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, account.id);
    let LoginState::Succeeded { record_id, .. } =
        wait_for_state(&seen, &flow, |s| matches!(s, LoginState::Succeeded { .. }))
    else {
        unreachable!()
    };
    assert_eq!(record_id, account.id);
    // The flow is over: pasting again is an unknown flow.
    let err = h
        .call(
            "main",
            "complete_login",
            json!({"flowID": flow, "code": code}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
    let answered = serde_json::to_string(&account).unwrap();
    assert!(
        !answered.contains("access") && !answered.contains("refresh"),
        "{answered}"
    );
}

#[test]
fn github_device_login_finishes_in_the_background() {
    use rota_types::LoginState;
    let mock = Mock::start();
    let h = Harness::with_mock(&mock);
    let seen = collect_progress(&h);
    let started: rota_types::command::LoginStarted = serde_json::from_value(
        h.call(
            "main",
            "begin_login",
            json!({"providerID": "github-copilot"}),
        )
        .expect("begin_login"),
    )
    .unwrap();
    let rota_types::command::LoginPrompt::Device { user_code, .. } = &started.prompt else {
        panic!("github uses a device code: {:?}", started.prompt);
    };
    assert!(!user_code.is_empty());
    let state = wait_for_state(&seen, &started.flow_id, |s| {
        matches!(s, LoginState::Succeeded { .. } | LoginState::Failed { .. })
    });
    assert!(matches!(state, LoginState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        h.store()
            .load()
            .unwrap()
            .count(rota_types::ProviderId::GithubCopilot, "default"),
        1
    );
}

#[test]
fn cancelling_a_browser_login_closes_its_callback_port() {
    use rota_types::LoginState;
    let mock = Mock::start();
    let h = Harness::with_mock(&mock);
    let seen = collect_progress(&h);
    let started: rota_types::command::LoginStarted = serde_json::from_value(
        h.call("main", "begin_login", json!({"providerID": "openai"}))
            .expect("begin_login"),
    )
    .unwrap();
    let rota_types::command::LoginPrompt::Browser { port, .. } = started.prompt else {
        panic!("openai defaults to the browser: {:?}", started.prompt);
    };
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "listening"
    );
    h.call("main", "cancel_login", json!({"flowID": started.flow_id}))
        .expect("cancel_login");
    wait_for_state(&seen, &started.flow_id, |s| *s == LoginState::Cancelled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the callback port stays open"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Anthropic has no device flow: a clear refusal, not a hang.
    let err = h
        .call(
            "main",
            "begin_login",
            json!({"providerID": "anthropic", "method": "device"}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
}

#[test]
fn sessions_are_empty_without_a_gateway_and_unknown_ones_not_found() {
    let h = Harness::new();
    assert_eq!(h.call("main", "sessions", json!({})).unwrap(), json!([]));
    let err = h
        .call("main", "session_detail", json!({"sessionID": "nope"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn settings_are_saved_and_read_back() {
    let h = Harness::new();
    assert_eq!(
        h.call("main", "settings_get", json!({})).unwrap(),
        json!({"usagePolling": true, "notifications": true})
    );
    h.call(
        "main",
        "settings_set",
        json!({"usagePolling": false, "notifications": true}),
    )
    .unwrap();
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(h.data.path().join("rota").join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk["usagePolling"], false);
    let err = h
        .call("main", "settings_set", json!({"usagePolling": "yes"}))
        .unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("settings_set") && err.contains("boolean"),
        "{err}"
    );
    assert_eq!(
        h.call("main", "settings_get", json!({})).unwrap()["usagePolling"],
        false,
        "a refused change keeps the saved settings"
    );
}

#[test]
fn importing_a_claude_code_login_adds_its_account() {
    let h = Harness::new();
    let file = h.data.path().join("credentials.json");
    std::fs::write(
        &file,
        r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-imported","refreshToken":"sk-ant-ort01-imported","expiresAt":1900000000000,"scopes":["user:inference"],"subscriptionType":"max"}}"#,
    )
    .unwrap();
    let v = h
        .call(
            "main",
            "import_accounts",
            json!({"source": "claude-code", "path": file.to_str().unwrap()}),
        )
        .expect("import_accounts");
    assert_eq!(v["imported"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        !v.to_string().contains("sk-ant"),
        "no token in the answer: {v}"
    );
    assert_eq!(
        h.store()
            .load()
            .unwrap()
            .count(rota_types::ProviderId::Anthropic, "default"),
        1
    );
    let err = h
        .call("main", "import_accounts", json!({"source": "bogus"}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_input");
    let err = h
        .call(
            "main",
            "import_accounts",
            json!({"source": "codex", "path": h.data.path().join("missing.json").to_str().unwrap()}),
        )
        .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("missing.json"),
        "{err}"
    );
}

/// One account operation, sent to the app (IPC), to the local HTTP API and to the `rota` CLI
/// over the same store: all must end alike — the same success, or the same error code.
struct ParityCase {
    what: &'static str,
    command: &'static str,
    method: &'static str,
    path: &'static str,
    body: Value,
    /// The same operation as `rota auth` arguments (`--json` is added).
    cli: Vec<String>,
    /// The right answer: `"ok"` or the error code.
    expect: &'static str,
    /// Where the CLI's answer differs by design, and why.
    cli_expect: Option<&'static str>,
}

/// The cases, on account `a` (default namespace) and `other_ns` (namespace `team`); each
/// surface gets its own accounts, so a removal over one does not decide the other's answer.
fn parity_cases(a: &str, other_ns: &str) -> Vec<ParityCase> {
    const UNKNOWN: &str = "01JD0000000000000000000000";
    let case = |what, command, method, path, (body, expect): (Value, _)| {
        let provider = body["providerID"].as_str().unwrap().to_owned();
        let id = body["recordID"].as_str().unwrap().to_owned();
        let cli = match command {
            "set_active" => vec!["switch".to_owned(), provider, id],
            "remove_record" => vec!["logout".to_owned(), provider, id],
            _ => vec![
                "rename".to_owned(),
                provider,
                id,
                body["label"].as_str().unwrap().to_owned(),
            ],
        };
        ParityCase {
            what,
            command,
            method,
            path,
            body,
            cli,
            expect,
            cli_expect: None,
        }
    };
    let active = |what, b| case(what, "set_active", "POST", "/auth/active", b);
    let remove = |what, b| case(what, "remove_record", "DELETE", "/auth/account", b);
    let rename = |what, b| case(what, "rename_record", "PATCH", "/auth/account", b);
    let anthropic = |id: &str| json!({"providerID": "anthropic", "recordID": id});
    let labelled =
        |id: &str, label: &str| json!({"providerID": "anthropic", "recordID": id, "label": label});
    vec![
        active("switch to a known account", (anthropic(a), "ok")),
        active(
            "switch to an unknown account",
            (anthropic(UNKNOWN), "not_found"),
        ),
        active(
            "switch with an unknown provider",
            (json!({"providerID": "bogus", "recordID": a}), "not_found"),
        ),
        ParityCase {
            // The CLI also takes a label or an id prefix: "xyz" is looked up as one.
            cli_expect: Some("not_found"),
            ..active(
                "switch to something that is no id",
                (anthropic("xyz"), "invalid_input"),
            )
        },
        remove(
            "remove an account of another namespace",
            (anthropic(other_ns), "not_found"),
        ),
        rename(
            "rename an account of another namespace",
            (labelled(other_ns, "X"), "not_found"),
        ),
        rename(
            "rename to an empty label",
            (labelled(a, "  "), "invalid_input"),
        ),
        rename("rename", (labelled(a, "Work"), "ok")),
        remove(
            "remove an unknown account",
            (anthropic(UNKNOWN), "not_found"),
        ),
        remove("remove", (anthropic(a), "ok")),
    ]
}

/// `rota auth <args> --json` on the harness's store: `"ok"` or the error code it prints.
fn cli_code(data: &std::path::Path, args: &[String]) -> String {
    // `cargo test` builds the workspace's binaries beside the test binaries (`target/debug`).
    let rota = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join(format!("rota{}", std::env::consts::EXE_SUFFIX)))
        .filter(|p| p.exists())
        .expect("the `rota` binary is built with the workspace (`cargo build -p rota-cli`)");
    let out = std::process::Command::new(rota)
        .arg("auth")
        .args(args)
        .arg("--json")
        .env_clear()
        .env("HOME", data)
        .env("ROTA_HOME", data.join("rota"))
        .env("ROTA_SECRET_STORE", "file")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        return "ok".to_owned();
    }
    let body: Value = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    body["error"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

/// The error code of an IPC answer (`"ok"` for success).
fn ipc_code(answer: &Result<Value, Value>) -> String {
    match answer {
        Ok(_) => "ok".to_owned(),
        Err(e) => e["code"].as_str().unwrap_or("<none>").to_owned(),
    }
}

/// The same operations with good and bad input over IPC, over HTTP and through the CLI answer
/// with the same outcome and error code (one rota-ops operation behind all three).
#[test]
fn account_operations_answer_alike_over_ipc_http_and_cli() {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let h = Harness::new();
    let store = std::sync::Arc::new(h.store());
    let providers = std::sync::Arc::new(
        rota_providers::Providers::new(rota_providers::ProvidersConfig::default()).unwrap(),
    );
    let gateway = rota_gateway::Gateway::new(
        rota_gateway::GatewayConfig::new(h.data.path().join("api")).with_port(4141),
        store.clone(),
        providers,
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = |method: &str, path: &str, body: &Value| -> String {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:4141")
            .header("authorization", format!("Bearer {}", gateway.token()))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        runtime.block_on(async {
            let response = gateway.router().oneshot(request).await.unwrap();
            let ok = response.status().is_success();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            if ok {
                "ok".to_owned()
            } else {
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                v["error"]["code"].as_str().unwrap_or("<none>").to_owned()
            }
        })
    };

    let seed_other_ns = |email: &str| -> String {
        let login = rota_core::NewLogin {
            identity: rota_types::AccountIdentity {
                email: Some(email.to_owned()),
                ..Default::default()
            },
            label: None,
        };
        store
            .upsert_account(
                rota_types::ProviderId::Anthropic,
                "team",
                login,
                rota_store::SecretBundle::new("tok"),
                NOW,
            )
            .unwrap()
            .id
            .to_string()
    };

    // Every case once over IPC, then once over HTTP, each on its own accounts.
    let ipc_accounts = (
        h.seed(rota_types::ProviderId::Anthropic, "ipc@example.com"),
        seed_other_ns("ipc-team@example.com"),
    );
    let http_accounts = (
        h.seed(rota_types::ProviderId::Anthropic, "http@example.com"),
        seed_other_ns("http-team@example.com"),
    );
    let cli_accounts = (
        h.seed(rota_types::ProviderId::Anthropic, "cli@example.com"),
        seed_other_ns("cli-team@example.com"),
    );
    let over_ipc = parity_cases(&ipc_accounts.0, &ipc_accounts.1);
    let over_http = parity_cases(&http_accounts.0, &http_accounts.1);
    let over_cli = parity_cases(&cli_accounts.0, &cli_accounts.1);
    for (i, h_case) in over_http.iter().enumerate() {
        let i_case = &over_ipc[i];
        let c_case = &over_cli[i];
        let via_ipc = ipc_code(&h.call("main", i_case.command, i_case.body.clone()));
        let via_http = http(h_case.method, h_case.path, &h_case.body);
        let via_cli = cli_code(h.data.path(), &c_case.cli);
        // The same answer on all three, and the right one.
        assert_eq!(
            (via_ipc.as_str(), via_http.as_str(), via_cli.as_str()),
            (
                h_case.expect,
                h_case.expect,
                c_case.cli_expect.unwrap_or(c_case.expect)
            ),
            "{}: (IPC, HTTP, CLI)",
            h_case.what
        );
    }
    // All three removals happened; the other namespace's accounts are untouched.
    let state = store.load().unwrap();
    assert_eq!(state.count(rota_types::ProviderId::Anthropic, "default"), 0);
    assert_eq!(state.count(rota_types::ProviderId::Anthropic, "team"), 3);
}
