//! End-to-end scenarios with rota-mock as every provider: the app polls the mock's usage,
//! hosts the gateway that tools send requests through, rotates on a scripted 429, and runs the
//! login flows inside its dialog. Real WebKit through WebDriver; screenshots under
//! `target/e2e/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rota_core::Ulid;
use rota_e2e::E2eResult as Result;
use rota_e2e::{App, Launch};
use rota_mock::{AccountInfo, Behavior, MockConfig, MockHandle, MockServer, NewAccount, Usage};
use rota_store::{PoolStore, SecretStoreMode, StoreConfig, now_ms};
use rota_types::ProviderId;

fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rota-app"))
}

async fn mock() -> Result<MockHandle> {
    Ok(MockServer::start(MockConfig {
        device_interval_secs: 1,
        device_auto_approve_after_ms: Some(1500),
        ..MockConfig::default()
    })
    .await?)
}

fn launch(mock: &MockHandle) -> Launch {
    Launch::new(app_binary())
        .env("ROTA_SECRET_STORE", "file")
        .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
        .env("ROTA_NO_BROWSER", "1")
}

fn store_at(home: &std::path::Path) -> PoolStore {
    PoolStore::open(StoreConfig::new(App::rota_home(home)).with_secret_store(SecretStoreMode::File))
        .expect("store opens")
}

/// Stores a mock account's real tokens in the app's store (as a login would).
fn store_mock_account(store: &PoolStore, info: &AccountInfo) -> Ulid {
    rota_mock::seed::store_account(store, info)
}

fn anthropic_usage(five: f64, week: f64, sonnet: f64) -> Usage {
    Usage {
        five_hour: Some(rota_mock::Window::new(five, 2 * 3600 + 600)),
        seven_day: Some(rota_mock::Window::new(week, 4 * 86_400)),
        seven_day_sonnet: Some(rota_mock::Window::new(sonnet, 4 * 86_400)),
        ..Usage::default()
    }
}

/// The local API token the app's gateway wrote to `api.json`.
fn local_token(app: &App) -> Result<String> {
    let path = App::rota_home(app.home.path()).join("api.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(bytes) = std::fs::read(&path) {
            let v: serde_json::Value = serde_json::from_slice(&bytes)?;
            return Ok(v["token"].as_str().unwrap_or_default().to_owned());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no api.json at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Messages API request through the app's gateway, as Claude Code sends it; the status line
/// and the raw body.
fn send_message(port: u16, token: &str, user_agent: &str) -> Result<(String, String)> {
    use std::io::{Read as _, Write as _};
    // Claude Code's body (its system prompt: strict rota-mock refuses others on OAuth).
    let mut body =
        rota_mock::claude_code::messages_body("claude-sonnet-4-5-20250929", "Say hello", false);
    body["metadata"] = serde_json::json!({"user_id": "user_abc_account_def_session_e2e-session-1"});
    let body = body.to_string();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        tcp,
        "POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-api-key: {token}\r\n\
         anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nuser-agent: {user_agent}\r\n\
         content-length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    tcp.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    Ok((
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    ))
}

async fn open_anthropic_detail(app: &App) -> Result<()> {
    app.click("#open-settings").await?;
    app.wait_for("#settings-dialog").await?;
    app.click("#tab-providers").await?;
    app.click("#connected-list [data-provider='anthropic']")
        .await?;
    app.wait_for("#provider-detail-tab[data-provider='anthropic'] #accounts")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one user story, step by step, with a screenshot per step
async fn mock_usage_a_429_rotation_and_the_session_context_panel() -> Result<()> {
    let mock = mock().await?;
    let backup = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("backup@example.com")
            .plan("max")
            .usage(anthropic_usage(20.0, 41.0, 9.0)),
    );
    let main = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("main@example.com")
            .plan("max")
            .usage(anthropic_usage(37.0, 12.0, 64.0)),
    );
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    {
        let store = store_at(home.path());
        store_mock_account(&store, &backup);
        // The newest login is active.
        store_mock_account(&store, &main);
    }
    let app = App::launch(launch(&mock).home(home)).await?;

    // 1. The background poller fetched the mock's usage: the bars show its values.
    open_anthropic_detail(&app).await?;
    let main_bars = "#accounts .account[data-label='main@example.com'] .usage-pct";
    let shown = app.wait_text(main_bars, |t| t.contains("37% used")).await?;
    assert!(shown.contains("37% used"), "{shown}");
    let all = app
        .texts("#accounts .account[data-label='main@example.com'] .usage-pct")
        .await?;
    assert_eq!(all, ["37% used", "12% used", "64% used"]);
    let backup_bars = app
        .texts("#accounts .account[data-label='backup@example.com'] .usage-pct")
        .await?;
    assert_eq!(backup_bars, ["20% used", "41% used", "9% used"]);
    app.screenshot("30-mock-usage-bars").await?;

    // 2. A quota 429 on the active account: the gateway rotates and the client gets one 200.
    mock.push_behavior(
        &main.id,
        Behavior::RateLimit {
            reset_in_seconds: 3 * 3600,
            window: rota_mock::LimitWindow::FiveHour,
        },
    )?;
    let token = local_token(&app)?;
    let sent = Instant::now();
    let (status, body) =
        send_message(app.gateway_port, &token, "claude-cli/2.1.7 (external, cli)")?;
    assert!(status.contains(" 200 "), "{status} {body}");
    app.wait_text("#accounts .account.is-active .account-label", |t| {
        t == "backup@example.com"
    })
    .await?;
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the rotation showed after {took:?}"
    );
    app.wait_for("#accounts .account[data-label='main@example.com'] .badge-cooldown")
        .await?;
    let state = store_at(app.home.path()).load()?;
    let last = state.switch_log.back().expect("the rotation is logged");
    assert_eq!(last.reason.as_str(), "rate_limited:five_hour");
    app.screenshot("31-rotated-after-429").await?;

    // 3. The session: Context Breakdown and the Anthropic Rate Limits with switch buttons.
    app.press(rota_e2e::Keys::Escape, false).await?;
    app.wait_gone("#settings-dialog").await?;
    app.wait_for("#sessions .session-item").await?;
    let items = app.texts("#sessions .session-item").await?;
    assert_eq!(items.len(), 1, "{items:?}");
    app.screenshot("32-session-list").await?;
    let client = app
        .wait_text("#context-panel .context-title h2", |t| !t.is_empty())
        .await?;
    // The tool by its name, and a tag that tells its sessions apart.
    assert!(client.starts_with("Claude Code 2.1.7 #"), "{client}");
    assert!(items[0].contains("1 rotation"), "{items:?}");
    app.wait_for("#context-breakdown .ctx-row").await?;
    let rows = app.texts("#context-breakdown .ctx-row").await?;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[0].starts_with("Input"), "{rows:?}");
    let used = app.texts("#context-breakdown .ctx-used").await?;
    assert!(used[0].contains("of 200,000 tokens"), "{used:?}");
    let limits = app
        .wait_text("#rate-limits", |t| t.contains("backup@example.com"))
        .await?;
    assert!(limits.contains("5-Hour"), "{limits}");
    assert!(limits.contains("7-Day (All Models)"), "{limits}");
    assert!(limits.contains("7-Day (Sonnet)"), "{limits}");
    assert_eq!(
        app.texts("#rate-limits .usage-pct").await?,
        ["20% used", "41% used", "9% used"]
    );
    app.screenshot("32-session-context-panel").await?;

    // Switching from the panel to main@, which is cooling down after its 429, asks first;
    // confirmed, it writes the store and the panel follows.
    app.click("#rate-limits .rl-switch-button").await?;
    let caveat = app
        .wait_text("#confirm-switch-text", |t| !t.is_empty())
        .await?;
    assert!(
        caveat.starts_with("main@example.com is cooling down for ")
            && caveat.ends_with("; until then requests go to backup@example.com."),
        "{caveat}"
    );
    app.click("#confirm-switch-ok").await?;
    app.wait_text("#rate-limits .rl-account", |t| {
        t.contains("main@example.com")
    })
    .await?;
    let state = store_at(app.home.path()).load()?;
    let active = state.snapshot(ProviderId::Anthropic, "default", now_ms());
    let main_id = active
        .records
        .iter()
        .find(|r| r.label == "main@example.com")
        .map(|r| r.id.clone());
    assert_eq!(active.active_id, main_id);
    app.screenshot("33-session-switched-from-panel").await?;
    app.quit().await?;
    mock.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // three login flows, step by step, with screenshots
async fn add_account_runs_each_login_flow_in_the_dialog() -> Result<()> {
    let mock = mock().await?;
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    {
        // One Copilot account so the provider is connected; Anthropic is added from scratch
        // through Add provider → Provider Detail.
        let seed =
            mock.add_account(NewAccount::new(ProviderId::GithubCopilot).email("octo@example.com"));
        store_mock_account(&store_at(home.path()), &seed);
    }
    let app = App::launch(launch(&mock).home(home)).await?;
    app.click("#open-settings").await?;
    app.wait_for("#settings-dialog").await?;
    app.click("#tab-providers").await?;

    // Anthropic from "Add provider": the paste flow with the policy notice.
    app.click("#add-provider-list [data-provider='anthropic']")
        .await?;
    app.wait_for("#provider-detail-tab[data-provider='anthropic']")
        .await?;
    app.click("#add-account-button").await?;
    let notice = app.wait_text("#policy-notice", |t| !t.is_empty()).await?;
    assert!(notice.contains("Claude Code"), "{notice}");
    let url = app
        .wait_text("#login-url", |t| t.starts_with("http"))
        .await?;
    app.screenshot("34-add-account-anthropic").await?;
    // A wrong code is refused in place.
    type_into(&app, "#login-code", "not-a-code#bogus").await?;
    app.click("#login-submit").await?;
    let error = app.wait_text("#login-error", |t| !t.is_empty()).await?;
    assert!(!error.is_empty());
    // The code from the sign-in page works.
    let code = code_from_page(&url)?;
    clear(&app, "#login-code").await?;
    type_into(&app, "#login-code", &code).await?;
    app.click("#login-submit").await?;
    let done = app
        .wait_text("#login-done strong", |t| t.starts_with("Added "))
        .await?;
    app.screenshot("35-add-account-anthropic-done").await?;
    app.click("#add-account-close").await?;
    app.wait_gone("#add-account").await?;
    let label = done.trim_start_matches("Added ").to_owned();
    app.wait_text("#accounts", |t| t.contains(&label)).await?;
    assert_eq!(
        store_at(app.home.path())
            .load()?
            .count(ProviderId::Anthropic, "default"),
        1
    );

    // GitHub Copilot: device code with a copy button; the mock approves after 1.5 s.
    app.click("#tab-providers").await?;
    app.click("#connected-list [data-provider='github-copilot']")
        .await?;
    app.wait_for("#provider-detail-tab[data-provider='github-copilot']")
        .await?;
    app.click("#add-account-button").await?;
    let code = app.wait_text("#device-code", |t| !t.is_empty()).await?;
    assert!(code.len() >= 8, "{code}");
    let copy = app.texts("#add-account .copy-button").await?;
    assert_eq!(copy, ["Copy code"]);
    app.screenshot("36-add-account-github-device").await?;
    app.wait_text("#login-done", |t| t.contains("Added"))
        .await?;
    app.click("#add-account-close").await?;
    app.wait_gone("#add-account").await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while store_at(app.home.path())
        .load()?
        .count(ProviderId::GithubCopilot, "default")
        < 2
    {
        anyhow::ensure!(Instant::now() < deadline, "the device login was not stored");
        std::thread::sleep(Duration::from_millis(100));
    }

    // OpenAI: the choice, then cancelling a browser sign-in closes the dialog.
    app.click("#tab-providers").await?;
    app.click("#add-provider-list [data-provider='openai']")
        .await?;
    app.wait_for("#provider-detail-tab[data-provider='openai']")
        .await?;
    app.click("#add-account-button").await?;
    app.wait_for("#login-browser").await?;
    app.screenshot("37-add-account-openai-choice").await?;
    app.click("#login-browser").await?;
    app.wait_text("#login-url", |t| t.contains("/oauth/authorize"))
        .await?;
    app.click("#add-account-close").await?;
    app.wait_gone("#add-account").await?;
    app.quit().await?;
    mock.shutdown().await;
    Ok(())
}

async fn type_into(app: &App, css: &str, text: &str) -> Result<()> {
    let el = app.wait_for(css).await?;
    el.send_keys(text).await?;
    Ok(())
}

async fn clear(app: &App, css: &str) -> Result<()> {
    let el = app.wait_for(css).await?;
    el.clear().await?;
    Ok(())
}

/// `code#state` from the mock's sign-in page, as the user copies it.
fn code_from_page(url: &str) -> Result<String> {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut tcp = std::net::TcpStream::connect(host)?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut page = String::new();
    tcp.read_to_string(&mut page)?;
    rota_mock::auth_code_on_page(&page).ok_or_else(|| anyhow::anyhow!("no code on the page"))
}

/// The `accessToken` in a Claude Code credentials file, once it exists.
fn claude_code_token(path: &std::path::Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["claudeAiOauth"]["accessToken"]
        .as_str()
        .map(str::to_owned)
}

async fn wait_file_token(path: &std::path::Path, want: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if claude_code_token(path).as_deref() == Some(want) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} never held the expected account (has {:?})",
            path.display(),
            claude_code_token(path).map(|t| t.len())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one user story, step by step, with a screenshot per step
async fn a_usage_rise_switches_before_the_limit_and_rewrites_claude_codes_login() -> Result<()> {
    let mock = mock().await?;
    let spare = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("spare@example.com")
            .plan("max")
            .usage(anthropic_usage(8.0, 15.0, 4.0)),
    );
    let busy = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("busy@example.com")
            .plan("max")
            .usage(anthropic_usage(62.0, 30.0, 20.0)),
    );
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    let user_home = home.path().join("user");
    let credentials = user_home.join(".claude").join(".credentials.json");
    // Claude Code is logged in to the busy account already, with a field Rota must keep.
    std::fs::create_dir_all(credentials.parent().unwrap())?;
    std::fs::write(
        &credentials,
        serde_json::json!({
            "claudeAiOauth": {
                "accessToken": busy.access_token,
                "refreshToken": busy.refresh_token,
                "expiresAt": busy.expires_at.unwrap_or(0) * 1000,
                "scopes": ["user:inference", "user:profile"],
                "subscriptionType": "max"
            },
            "mcpOAuth": {"keep": "me"}
        })
        .to_string(),
    )?;
    {
        let store = store_at(home.path());
        store_mock_account(&store, &spare);
        store_mock_account(&store, &busy);
    }
    let app = App::launch(
        launch(&mock)
            .env("HOME", user_home.to_string_lossy())
            // No minimum dwell: the switch may follow the first usage rise.
            .env("ROTA_PROACTIVE_DWELL_SECS", "0")
            .env("ROTA_AUTOPILOT_TICK_MS", "500")
            .home(home),
    )
    .await?;
    open_anthropic_detail(&app).await?;
    app.wait_text(
        "#accounts .account[data-label='busy@example.com'] .usage-pct",
        |t| t.contains("62% used"),
    )
    .await?;

    // Hand-off on: the target already holds the active account (nothing to rewrite), and its
    // status says so.
    app.scroll_to("#handoff").await?;
    app.click("label[for='handoff-toggle']").await?;
    app.wait_text("#handoff-target", |t| {
        t.contains("holds the active account")
    })
    .await?;
    let shown = app.texts("#handoff-target code").await?;
    assert!(shown[0].ends_with(".claude/.credentials.json"), "{shown:?}");
    app.click("label[for='proactive-toggle']").await?;
    app.screenshot("38-handoff-and-proactive-on").await?;

    // The busy account's 5-hour window rises past the threshold; the next usage fetch sees it.
    mock.set_usage(&busy.id, anthropic_usage(97.0, 35.0, 22.0))?;
    app.click("#refresh-usage").await?;
    app.wait_text("#accounts .account.is-active .account-label", |t| {
        t == "spare@example.com"
    })
    .await?;
    // Claude Code's file now holds the spare account; its other fields survived.
    wait_file_token(&credentials, &spare.access_token).await?;
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&credentials)?)?;
    assert_eq!(file["mcpOAuth"]["keep"], "me");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&credentials)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let state = store_at(app.home.path()).load()?;
    let last = state.switch_log.back().expect("logged");
    assert_eq!(last.reason.as_str(), "proactive");
    app.screenshot("39-proactive-switch").await?;

    // The history says why.
    app.click("#tab-history").await?;
    let first = app
        .wait_text("#switch-history .history-item", |t| t.contains("proactive"))
        .await?;
    assert!(first.contains("busy@example.com"), "{first}");
    assert!(first.contains("spare@example.com"), "{first}");
    assert!(first.contains("5-hour at 97"), "{first}");
    app.screenshot("40-switch-history").await?;
    app.quit().await?;
    mock.shutdown().await;
    Ok(())
}

/// Marks a stored account as needing a new sign-in, as a refused refresh does.
fn flag_needs_reauth(store: &PoolStore, id: Ulid) -> Result<()> {
    store.mutate(|txn| -> rota_store::Result<()> {
        if let Some(r) = txn
            .state
            .providers
            .get_mut(&ProviderId::Anthropic)
            .and_then(|p| p.records.iter_mut().find(|r| r.id == id))
        {
            r.health.needs_reauth = true;
        }
        Ok(())
    })?;
    Ok(())
}

async fn document_focus(app: &App) -> Result<String> {
    let id = app
        .client
        .execute(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await?;
    Ok(id.as_str().unwrap_or_default().to_owned())
}

/// "Log in again" names the account, renews it when the login is that account, and says so
/// when it is someone else's; after the sign-in, focus is on Done and Esc closes only the
/// dialog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_again_renews_the_flagged_account() -> Result<()> {
    let mock = mock().await?;
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    let renew = mock.add_account(NewAccount::new(ProviderId::Anthropic).email("renew@example.com"));
    let other = mock.add_account(NewAccount::new(ProviderId::Anthropic).email("other@example.com"));
    let renew_id = {
        let store = store_at(home.path());
        let id = store_mock_account(&store, &renew);
        store_mock_account(&store, &other);
        flag_needs_reauth(&store, id)?;
        id
    };
    let app = App::launch(launch(&mock).home(home)).await?;
    open_anthropic_detail(&app).await?;
    let flagged = "#accounts .account[data-label='renew@example.com']";

    // The login on the sign-in page is the flagged account: it is renewed, not added.
    mock.next_login(
        ProviderId::Anthropic,
        rota_mock::LoginPlan {
            account: Some(renew.id.clone()),
            deny: false,
        },
    );
    app.click(&format!("{flagged} .relogin")).await?;
    let title = app
        .wait_text("#add-account-title", |t| !t.is_empty())
        .await?;
    assert_eq!(title, "Sign in to renew@example.com again");
    let url = app
        .wait_text("#login-url", |t| t.starts_with("http"))
        .await?;
    type_into(&app, "#login-code", &code_from_page(&url)?).await?;
    app.click("#login-submit").await?;
    let done = app
        .wait_text("#login-done strong", |t| !t.is_empty())
        .await?;
    assert_eq!(done, "Renewed renew@example.com");
    app.screenshot("38-log-in-again-renewed").await?;
    // Focus is on Done, so Esc closes this dialog and leaves Settings open.
    assert_eq!(document_focus(&app).await?, "add-account-close");
    app.press(rota_e2e::Keys::Escape, false).await?;
    app.wait_gone("#add-account").await?;
    app.wait_for("#settings-dialog").await?;
    let state = store_at(app.home.path()).load()?;
    assert_eq!(state.count(ProviderId::Anthropic, "default"), 2);
    let record = state.record(ProviderId::Anthropic, renew_id).expect("kept");
    assert!(!record.health.needs_reauth, "renewed in place");

    // Flagged again, but the browser is signed in as someone new: the dialog says so.
    flag_needs_reauth(&store_at(app.home.path()), renew_id)?;
    app.wait_for(&format!("{flagged} .relogin")).await?;
    app.click(&format!("{flagged} .relogin")).await?;
    let url = app
        .wait_text("#login-url", |t| t.starts_with("http"))
        .await?;
    type_into(&app, "#login-code", &code_from_page(&url)?).await?;
    app.click("#login-submit").await?;
    let done = app
        .wait_text("#login-done strong", |t| !t.is_empty())
        .await?;
    assert!(
        done.starts_with("Signed in as ") && done.ends_with(", not renew@example.com"),
        "{done}"
    );
    let text = app
        .wait_text("#login-done .muted", |t| !t.is_empty())
        .await?;
    assert!(
        text.contains("renew@example.com still needs a new sign-in"),
        "{text}"
    );
    app.screenshot("39-log-in-again-someone-else").await?;
    // Esc again closes only the dialog.
    app.press(rota_e2e::Keys::Escape, false).await?;
    app.wait_gone("#add-account").await?;
    app.wait_for("#settings-dialog").await?;
    let state = store_at(app.home.path()).load()?;
    assert_eq!(state.count(ProviderId::Anthropic, "default"), 3);
    assert!(
        state
            .record(ProviderId::Anthropic, renew_id)
            .expect("kept")
            .health
            .needs_reauth
    );
    app.quit().await?;
    mock.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_connections_connect_and_test_through_the_gateway() -> Result<()> {
    let mock = mock().await?;
    let tools = tempfile::tempdir()?;
    let claude_dir = tools.path().join("claude");
    let launch = launch(&mock)
        .env("CLAUDE_CONFIG_DIR", claude_dir.display().to_string())
        .env(
            "CODEX_HOME",
            tools.path().join("codex").display().to_string(),
        );
    let anthropic = mock.add_account(NewAccount::new(ProviderId::Anthropic).email("a@example.com"));
    let openai = mock.add_account(NewAccount::new(ProviderId::OpenAi).email("o@example.com"));
    let app = App::launch(launch).await?;
    let store = store_at(app.home.path());
    store_mock_account(&store, &anthropic);
    store_mock_account(&store, &openai);

    app.click("#open-settings").await?;
    app.wait_for("#settings-dialog").await?;
    app.click("#tab-connections").await?;
    app.wait_for("#connections-tab #connect-claude-code")
        .await?;

    // Connect, then Test: a token count through the gateway, free for the account.
    app.click("#connections-tab #connect-claude-code").await?;
    app.wait_for("#connections-tab #test-claude-code").await?;
    app.click("#connections-tab #test-claude-code").await?;
    let result = app
        .wait_text(
            "#connections-tab #connection-claude-code .connection-result",
            |t| t.contains("works through Rota") || t.contains("answered"),
        )
        .await?;
    assert!(
        result.contains("Claude Code works through Rota"),
        "{result}"
    );
    assert!(result.contains("token count"), "{result}");
    let counted = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/messages/count_tokens"))
        .map(|r| (r.account.unwrap_or_default(), r.status))
        .collect::<Vec<_>>();
    assert_eq!(counted, vec![(anthropic.id.clone(), 200)]);
    // Nothing billable was sent.
    assert!(
        mock.requests()
            .iter()
            .all(|r| !r.path.ends_with("/v1/messages"))
    );

    // Codex CLI: the model list through the gateway.
    app.click("#connections-tab #connect-codex").await?;
    app.wait_for("#connections-tab #test-codex").await?;
    app.click("#connections-tab #test-codex").await?;
    let result = app
        .wait_text(
            "#connections-tab #connection-codex .connection-result",
            |t| t.contains("works through Rota") || t.contains("answered"),
        )
        .await?;
    assert!(result.contains("Codex CLI works through Rota"), "{result}");
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.path.ends_with("/backend-api/codex/models") && r.status == 200)
    );
    app.screenshot("connections-tested").await?;
    app.quit().await?;
    Ok(())
}

/// A request through the app's gateway (raw HTTP/1.1, the body read to its end); the status
/// line.
fn send_raw(
    port: u16,
    token: &str,
    path: &str,
    user_agent: &str,
    extra: &str,
    body: &serde_json::Value,
) -> Result<String> {
    use std::io::{Read as _, Write as _};
    let body = body.to_string();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        tcp,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\nuser-agent: {user_agent}\r\n{extra}\
         content-length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    tcp.read_to_string(&mut raw)?;
    Ok(raw.lines().next().unwrap_or_default().to_owned())
}

/// Selects the session whose list entry contains `client` and waits for its context panel.
async fn select_session(app: &App, client: &str) -> Result<()> {
    let id = app
        .client
        .execute(
            "for (const el of document.querySelectorAll('#sessions .session-item')) {
               if (el.textContent.includes(arguments[0])) return el.dataset.id;
             }
             return null;",
            vec![serde_json::json!(client)],
        )
        .await?;
    let id = id
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no session of {client}"))?
        .to_owned();
    app.click(&format!("#sessions .session-item[data-id='{id}']"))
        .await?;
    app.wait_for(&format!("#context-panel[data-session='{id}']"))
        .await?;
    Ok(())
}

/// Codex (OpenAI) and Copilot sessions get their provider's Rate Limits in the context panel:
/// the active account's windows and switch buttons; a switch to an account that cannot serve
/// asks first, one that can switches at once. Relative times age without new traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_and_copilot_sessions_show_their_rate_limits_and_ages_tick() -> Result<()> {
    // The ages are watched once; the dark theme's run is for its screenshots and checks.
    codex_and_copilot_story(false).await?;
    codex_and_copilot_story(true).await
}

#[allow(clippy::too_many_lines)] // one user story, step by step, with a screenshot per step
async fn codex_and_copilot_story(dark: bool) -> Result<()> {
    let theme = if dark { "dark" } else { "light" };
    let panel_css = ".content, .session-list, .session-item, .context-panel, .panel-section, .rl-switch-buttons";
    let mock = mock().await?;
    let openai_usage = Usage {
        five_hour: Some(rota_mock::Window::new(55.0, 2 * 3600)),
        seven_day: Some(rota_mock::Window::new(20.0, 3 * 86_400)),
        ..Usage::default()
    };
    let o_cool = mock.add_account(
        NewAccount::new(ProviderId::OpenAi)
            .email("o-cool@example.com")
            .usage(openai_usage.clone()),
    );
    let o_main = mock.add_account(
        NewAccount::new(ProviderId::OpenAi)
            .email("o-main@example.com")
            .usage(openai_usage),
    );
    let copilot_usage = Usage {
        premium_interactions: rota_mock::Quota::limited(300, 240),
        ..Usage::default()
    };
    let c_spare = mock.add_account(
        NewAccount::new(ProviderId::GithubCopilot)
            .email("c-spare@example.com")
            .usage(copilot_usage.clone()),
    );
    let c_main = mock.add_account(
        NewAccount::new(ProviderId::GithubCopilot)
            .email("c-main@example.com")
            .usage(copilot_usage),
    );
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    let (cool_id, spare_id) = {
        let store = store_at(home.path());
        let cool = store_mock_account(&store, &o_cool);
        store_mock_account(&store, &o_main);
        let spare = store_mock_account(&store, &c_spare);
        store_mock_account(&store, &c_main);
        // o-cool hit a limit 10 minutes ago: 20 more minutes of cooldown.
        store.mutate(|txn| -> rota_store::Result<()> {
            if let Some(r) = txn
                .state
                .providers
                .get_mut(&ProviderId::OpenAi)
                .and_then(|p| p.records.iter_mut().find(|r| r.id == cool))
            {
                r.health.cooldown_until = Some(now_ms() + 20 * 60_000);
                r.cooldown_kind = Some(rota_core::CooldownKind::RateLimit);
            }
            Ok(())
        })?;
        (cool, spare)
    };
    let mut launch = launch(&mock).home(home);
    if dark {
        launch = launch.env("GTK_THEME", "Adwaita:dark");
    }
    let app = App::launch(launch).await?;
    let token = local_token(&app)?;

    // Codex CLI and opencode (Copilot) send a request each through the app's gateway.
    let codex = send_raw(
        app.gateway_port,
        &token,
        "/openai/responses",
        "codex_cli_rs/0.50.0",
        "session_id: e2e-codex\r\n",
        &serde_json::json!({"model": "gpt-5-codex", "stream": true, "input": [{"role": "user", "content": "hi"}]}),
    )?;
    assert!(codex.contains(" 200 "), "{codex}");
    let copilot = send_raw(
        app.gateway_port,
        &token,
        "/github-copilot/chat/completions",
        "opencode/1.18.33",
        "",
        &serde_json::json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}),
    )?;
    assert!(copilot.contains(" 200 "), "{copilot}");
    let traffic_at = Instant::now();
    app.wait_text("#sessions", |t| {
        t.contains("Codex") && t.contains("opencode")
    })
    .await?;
    assert_eq!(app.texts("#sessions .session-item").await?.len(), 2);
    // Both fresh: "just now".
    assert_eq!(
        app.texts("#sessions .session-when").await?,
        ["just now", "just now"]
    );

    // The Codex session: OpenAI's windows of the active account, and o-cool to switch to.
    select_session(&app, "Codex").await?;
    let title = app.wait_text("#rl-title", |t| !t.is_empty()).await?;
    // (Shown in capitals, like every section title.)
    assert_eq!(title.to_lowercase(), "openai rate limits");
    app.wait_text("#rate-limits .rl-account", |t| {
        t.contains("o-main@example.com")
    })
    .await?;
    let pct = "#rate-limits .usage-pct";
    app.wait_text(pct, |t| t == "55% used").await?;
    assert_eq!(app.texts(pct).await?, ["55% used", "20% used"]);
    let labels = app.texts("#rate-limits .usage-label").await?;
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(
        app.texts("#rate-limits .rl-switch-button > span").await?,
        ["o-cool@example.com", "cooling down"]
    );
    app.screenshot_both_widths(&format!("60-codex-session-rate-limits-{theme}"), panel_css)
        .await?;
    if !dark {
        // The bottom of the panel (the requests table) at the minimum width.
        app.resize_to(760, 740).await?;
        app.scroll_to("#req-title").await?;
        assert_eq!(app.overflowing(panel_css).await?, Vec::<String>::new());
        app.screenshot("60b-codex-session-requests-760").await?;
        app.resize_to(1120, 740).await?;
    }
    // o-cool cannot serve: the switch asks first, in the words the tray and CLI use.
    app.click("#rate-limits .rl-switch-button").await?;
    let caveat = app
        .wait_text("#confirm-switch-text", |t| !t.is_empty())
        .await?;
    assert!(
        caveat.starts_with("o-cool@example.com is cooling down for ")
            && caveat.ends_with("; until then requests go to o-main@example.com."),
        "{caveat}"
    );
    app.screenshot_both_widths(
        &format!("61-codex-session-switch-caveat-{theme}"),
        panel_css,
    )
    .await?;
    app.click("#confirm-switch-cancel").await?;
    app.wait_gone("#confirm-switch").await?;
    let active = |p: ProviderId| {
        store_at(app.home.path())
            .load()
            .map(|s| s.active_id(p, "default", now_ms()))
    };
    assert_ne!(active(ProviderId::OpenAi)?, Some(cool_id), "kept");
    // Asked again and confirmed: it becomes active.
    app.click("#rate-limits .rl-switch-button").await?;
    app.click("#confirm-switch-ok").await?;
    app.wait_text("#rate-limits .rl-account", |t| {
        t.contains("o-cool@example.com")
    })
    .await?;
    assert_eq!(active(ProviderId::OpenAi)?, Some(cool_id));

    // The Copilot session: the premium-requests window, and c-spare switches at once.
    select_session(&app, "opencode").await?;
    let title = app
        .wait_text("#rl-title", |t| t.to_lowercase() != "openai rate limits")
        .await?;
    assert_eq!(title.to_lowercase(), "github copilot rate limits");
    app.wait_text("#rate-limits .rl-account", |t| {
        t.contains("c-main@example.com")
    })
    .await?;
    app.wait_text(pct, |t| t == "20% used").await?;
    assert_eq!(app.texts(pct).await?, ["20% used"]);
    app.screenshot_both_widths(
        &format!("62-copilot-session-rate-limits-{theme}"),
        panel_css,
    )
    .await?;
    app.click("#rate-limits .rl-switch-button").await?;
    app.wait_text("#rate-limits .rl-account", |t| {
        t.contains("c-spare@example.com")
    })
    .await?;
    assert!(
        app.client
            .find_all(fantoccini::Locator::Css("#confirm-switch"))
            .await?
            .is_empty()
    );
    assert_eq!(active(ProviderId::GithubCopilot)?, Some(spare_id));

    // Copilot's accounts removed elsewhere (the CLI, say): the panel says what that means and
    // offers the way back in, which opens Provider Detail for Copilot.
    store_at(app.home.path()).remove_all(ProviderId::GithubCopilot, "default", now_ms())?;
    let none = app.wait_text("#rl-no-account", |t| !t.is_empty()).await?;
    assert!(
        none.starts_with(
            "No GitHub Copilot account in the pool: this tool's requests fail until one is added."
        ),
        "{none}"
    );
    app.screenshot_both_widths(&format!("64-copilot-session-no-account-{theme}"), panel_css)
        .await?;
    app.click("#rl-add-account").await?;
    app.wait_for("#provider-detail-tab[data-provider='github-copilot'] #empty-add-account")
        .await?;
    app.press(rota_e2e::Keys::Escape, false).await?;
    app.wait_gone("#settings-dialog").await?;

    if dark {
        app.quit().await?;
        mock.shutdown().await;
        return Ok(());
    }

    // No traffic since: the ages move on by themselves once a minute has passed (the window's
    // clock ticks every 15 s).
    let sessions_before = app.texts("#sessions .session-item").await?;
    let wait = Duration::from_secs(62).saturating_sub(traffic_at.elapsed());
    tokio::time::sleep(wait).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ages = app.texts("#sessions .session-when").await?;
        if ages == ["1 min ago", "1 min ago"] {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the ages stayed {ages:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let started = app.texts("#context-panel .context-title p").await?;
    assert!(started[0].contains("started 1 min ago"), "{started:?}");
    // Nothing new arrived meanwhile: the same sessions, the same request counts.
    let sessions_after = app.texts("#sessions .session-item").await?;
    assert_eq!(
        sessions_before
            .iter()
            .map(|s| s.replace("just now", "1 min ago"))
            .collect::<Vec<_>>(),
        sessions_after
    );
    app.screenshot("63-session-ages-ticked").await?;
    app.quit().await?;
    mock.shutdown().await;
    Ok(())
}

/// The plan-limits-only guard in the app against strict rota-mock: an account whose plan runs
/// out answers from extra usage, the gateway moves it aside and Provider Detail marks it; the
/// "Serve other clients" switch opens the Anthropic route to another app (whose request
/// Anthropic bills as extra usage: not retried, the account marked) and closes it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one user story, step by step
async fn the_guard_marks_extra_usage_and_the_client_switch_opens_the_route() -> Result<()> {
    let mock = mock().await?;
    let backup = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("backup@example.com")
            .plan("max")
            .usage(anthropic_usage(20.0, 41.0, 9.0)),
    );
    let main = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("main@example.com")
            .plan("max")
            .usage(anthropic_usage(37.0, 12.0, 64.0)),
    );
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    {
        let store = store_at(home.path());
        store_mock_account(&store, &backup);
        store_mock_account(&store, &main);
    }
    let app = App::launch(launch(&mock).home(home)).await?;
    open_anthropic_detail(&app).await?;
    app.wait_text(
        "#accounts .account[data-label='main@example.com'] .usage-pct",
        |t| t.contains("37% used"),
    )
    .await?;

    // The active account's plan runs out; it has extra usage on, so Anthropic serves from it.
    let mut out = anthropic_usage(100.0, 12.0, 64.0);
    out.extra_usage.is_enabled = true;
    mock.set_usage(&main.id, out)?;
    let token = local_token(&app)?;
    let (status, body) =
        send_message(app.gateway_port, &token, rota_mock::claude_code::USER_AGENT)?;
    assert!(status.contains(" 200 "), "{status} {body}");
    app.wait_text("#accounts .account.is-active .account-label", |t| {
        t == "backup@example.com"
    })
    .await?;
    let badge = app
        .wait_text(
            "#accounts .account[data-label='main@example.com'] .badge-extra-usage",
            |t| !t.is_empty(),
        )
        .await?;
    assert_eq!(badge, "Plan limits used up");
    // The answer's rate-limit headers reach its bars too.
    app.wait_text(
        "#accounts .account[data-label='main@example.com'] .usage-pct",
        |t| t.contains("100% used"),
    )
    .await?;
    let state = store_at(app.home.path()).load()?;
    assert_eq!(
        state.switch_log.back().expect("logged").reason.as_str(),
        "extra_usage"
    );

    // Another app is refused while the switch is off (the default).
    let (status, body) = send_message(app.gateway_port, &token, "opencode/1.18.33")?;
    assert!(status.contains(" 403 "), "{status} {body}");
    assert!(body.contains("Serve other clients"), "{body}");
    app.scroll_to("#handoff").await?;
    let toggle = app.wait_for("#clients-toggle").await?;
    assert_eq!(toggle.prop("checked").await?.as_deref(), Some("false"));
    // Turning it on may cost money: it asks first, and Cancel leaves it off.
    app.click("label[for='clients-toggle']").await?;
    let question = app
        .wait_text("#confirm-clients-text", |t| !t.is_empty())
        .await?;
    assert!(question.contains("extra usage"), "{question}");
    app.screenshot("46a-serve-other-clients-question").await?;
    app.click("#confirm-clients-cancel").await?;
    app.wait_gone("#confirm-clients").await?;
    assert_eq!(
        app.wait_for("#clients-toggle")
            .await?
            .prop("checked")
            .await?
            .as_deref(),
        Some("false")
    );
    assert_eq!(
        store_at(app.home.path())
            .load()?
            .settings_of(ProviderId::Anthropic)
            .clients,
        None,
        "nothing was saved"
    );
    app.click("label[for='clients-toggle']").await?;
    app.click("#confirm-clients-ok").await?;
    app.wait_for("#clients-risk").await?;
    let chosen = store_at(app.home.path())
        .load()?
        .settings_of(ProviderId::Anthropic)
        .clients;
    assert_eq!(chosen, Some(rota_types::AnthropicClients::Any));

    // Now it reaches Anthropic, which bills it as a third-party app's: one upstream call, the
    // named error, the account marked.
    let before = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
        .count();
    let (status, body) = send_message(app.gateway_port, &token, "opencode/1.18.33")?;
    assert!(status.contains(" 400 "), "{status} {body}");
    assert!(body.contains("third_party_billing"), "{body}");
    let after = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
        .count();
    assert_eq!(after, before + 1, "not replayed on another account");
    let badge = app
        .wait_text(
            "#accounts .account[data-label='backup@example.com'] .badge-extra-usage",
            |t| !t.is_empty(),
        )
        .await?;
    assert_eq!(badge, "Billed as extra usage");
    app.scroll_to("#accounts").await?;
    app.screenshot("45-guard-marks").await?;
    app.scroll_to("#handoff").await?;
    app.screenshot("46-serve-other-clients-on").await?;

    // Off again: refused again.
    app.click("label[for='clients-toggle']").await?;
    app.wait_gone("#clients-risk").await?;
    let (status, _) = send_message(app.gateway_port, &token, "opencode/1.18.33")?;
    assert!(status.contains(" 403 "), "{status}");
    app.quit().await?;
    Ok(())
}

fn openai_usage(five: f64, week: f64, credits: Vec<rota_mock::ResetCredit>) -> Usage {
    let mut u = Usage::windows(
        rota_mock::Window::new(five, 3 * 3600),
        rota_mock::Window::new(week, 4 * 86_400),
    );
    u.reset_credits = credits;
    u
}

/// Provider Detail → OpenAI: an exhausted account with reset credits offers *Redeem reset
/// credit*; the confirmation says which account, how many credits, what a redeem does and
/// that it uses one; confirmed, the answer shows in words, the bars refresh to the cleared
/// windows and the count drops. The automatic-redeem toggle writes `config.toml`. Screenshots
/// at the default size and at the 760 px minimum width, light and dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one user story, step by step, with a screenshot per step
async fn redeem_a_reset_credit_from_provider_detail() -> Result<()> {
    for dark in [false, true] {
        let theme = if dark { "dark" } else { "light" };
        let mock = mock().await?;
        let now = mock.now();
        let spare = mock.add_account(
            NewAccount::new(ProviderId::OpenAi)
                .email("codex-spare@example.com")
                .plan("plus")
                .usage(openai_usage(40.0, 20.0, vec![])),
        );
        let main = mock.add_account(
            NewAccount::new(ProviderId::OpenAi)
                .email("codex-main@example.com")
                .plan("pro")
                .usage(openai_usage(
                    100.0,
                    72.0,
                    vec![
                        rota_mock::ResetCredit::new("rc_soon", now + 3 * 86_400),
                        rota_mock::ResetCredit::new("rc_late", now + 20 * 86_400),
                    ],
                )),
        );
        let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
        {
            let store = store_at(home.path());
            store_mock_account(&store, &spare);
            store_mock_account(&store, &main);
        }
        let mut l = launch(&mock).home(home);
        if dark {
            l = l.env("GTK_THEME", "Adwaita:dark");
        }
        let app = App::launch(l).await?;
        app.click("#open-settings").await?;
        app.wait_for("#settings-dialog").await?;
        app.click("#tab-providers").await?;
        app.click("#connected-list [data-provider='openai']")
            .await?;
        let row = "#accounts .account[data-label='codex-main@example.com']";
        // The usage poll recorded the credits: count and expiry on the row, and the action.
        let credits = app
            .wait_text(&format!("{row} .reset-credits"), |t| {
                t.starts_with("2 reset credits")
            })
            .await?;
        assert!(
            credits.contains("next expires in 2d") || credits.contains("next expires in 3d"),
            "{credits}"
        );
        assert!(
            app.texts("#accounts .account[data-label='codex-spare@example.com'] .redeem")
                .await?
                .is_empty(),
            "no action on an account without credits"
        );
        app.screenshot(&format!("redeem-1-credits-{theme}")).await?;

        // Ask first: which account, how many credits, what it does, that it uses one.
        app.click(&format!("{row} .redeem")).await?;
        let text = app
            .wait_text("#confirm-redeem-text", |t| !t.is_empty())
            .await?;
        for words in [
            "codex-main@example.com has 2 reset credits",
            "clears both its 5-hour and weekly windows",
            "uses one credit",
        ] {
            assert!(text.contains(words), "{words:?} in {text}");
        }
        app.screenshot(&format!("redeem-2-confirm-{theme}")).await?;
        app.resize_to(760, 720).await?;
        app.screenshot(&format!("redeem-2-confirm-760-{theme}"))
            .await?;
        // Cancel spends nothing.
        app.click("#confirm-redeem-cancel").await?;
        app.wait_gone("#confirm-redeem").await?;
        assert_eq!(
            mock.requests()
                .iter()
                .filter(|r| r.path.ends_with("/consume"))
                .count(),
            0
        );

        // Confirmed: the answer in words, the windows cleared, one credit left.
        app.click(&format!("{row} .redeem")).await?;
        app.click("#confirm-redeem-ok").await?;
        let status = app
            .wait_text("#redeem-status", |t| t.contains("reset"))
            .await?;
        assert_eq!(
            status,
            "codex-main@example.com: redeemed: both windows are reset. 1 reset credit left."
        );
        app.wait_text(&format!("{row} .usage-pct"), |t| t == "0% used")
            .await?;
        assert_eq!(
            app.texts(&format!("{row} .usage-pct")).await?,
            ["0% used", "0% used"]
        );
        app.wait_text(&format!("{row} .reset-credits"), |t| {
            t.starts_with("1 reset credit ")
        })
        .await?;
        app.screenshot(&format!("redeem-3-done-760-{theme}"))
            .await?;
        app.resize_to(1100, 720).await?;
        app.screenshot(&format!("redeem-3-done-{theme}")).await?;
        let spent: Vec<_> = mock
            .account(&main.id)?
            .usage
            .reset_credits
            .iter()
            .filter(|c| c.redeemed_by.is_some())
            .map(|c| c.id.clone())
            .collect();
        assert_eq!(spent, ["rc_soon"], "one credit, the one that expires first");

        // The automatic redeem is opt-in: off, and the toggle writes config.toml.
        app.scroll_to("#auto-redeem-toggle").await?;
        let checked = app
            .client
            .execute(
                "return document.querySelector('#auto-redeem-toggle').checked;",
                vec![],
            )
            .await?;
        assert_eq!(checked, serde_json::json!(false));
        app.click("label[for='auto-redeem-toggle']").await?;
        let config = App::rota_home(app.home.path()).join("config.toml");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&config).is_ok_and(|t| t.contains("auto_redeem = true")) {
            anyhow::ensure!(Instant::now() < deadline, "config.toml was not written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.screenshot(&format!("redeem-4-auto-toggle-{theme}"))
            .await?;

        // The history lists the redeem in words, as one account.
        app.click("#tab-history").await?;
        let item = app
            .wait_text("#switch-history .history-item", |t| {
                t.contains("reset credit")
            })
            .await?;
        assert!(
            item.contains("reset credit redeemed: both windows reset"),
            "{item}"
        );
        assert!(!item.contains('→'), "{item}");
        app.screenshot(&format!("redeem-5-history-{theme}")).await?;
        app.quit().await?;
        mock.shutdown().await;
    }
    Ok(())
}
