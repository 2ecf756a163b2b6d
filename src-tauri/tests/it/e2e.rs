//! End-to-end scenarios in the real WebKit webview, driven through WebDriver.
//! Every scenario saves screenshots under `target/e2e/`.

use std::path::PathBuf;

use fantoccini::actions::{InputSource as _, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use rota_e2e::E2eResult as Result;
use rota_e2e::{App, Keys, Launch};

fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rota-app"))
}

fn launch() -> Launch {
    // The harness gives every launch its own free gateway port (`App::gateway_port`).
    // Provider calls (the usage poller) go to a closed local port: no real network, and the
    // seeded usage stays as seeded.
    Launch::new(app_binary())
        .env("ROTA_SECRET_STORE", "file")
        .env("ROTA_PROVIDERS_MOCK_BASE", "http://127.0.0.1:9")
}

// ---- seeding the store the app opens (the same protocol the CLI uses) ----

use rota_core::{NewLogin, Ulid};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig, now_ms};
use rota_types::{
    AccountIdentity, AnthropicExtra, CopilotUsage, OpenAiUsage, ProviderId, ProviderUsage,
    Severity, UsageSnapshot, UsageWindow, WindowKind,
};

const MIN: i64 = 60_000;

fn store_at(home: &std::path::Path) -> PoolStore {
    PoolStore::open(StoreConfig::new(App::rota_home(home)).with_secret_store(SecretStoreMode::File))
        .expect("store opens")
}

fn add(store: &PoolStore, provider: ProviderId, email: &str) -> Ulid {
    let login = NewLogin {
        identity: AccountIdentity {
            email: Some(email.to_owned()),
            plan: Some(
                match provider {
                    ProviderId::Anthropic => "max",
                    ProviderId::OpenAi => "plus",
                    ProviderId::GithubCopilot => "individual",
                }
                .to_owned(),
            ),
            ..AccountIdentity::default()
        },
        label: None,
    };
    store
        .upsert_account(
            provider,
            "default",
            login,
            SecretBundle::new(format!("e2e-token-{email}")),
            now_ms(),
        )
        .expect("seed account")
        .id
}

/// 5-hour, 7-day (all models) and the weekly window of one model (Fable), as a real account's
/// `limits[]` reports them.
fn anthropic(five: f64, week: f64, fable: f64, fetched_at: i64) -> UsageSnapshot {
    let now = now_ms();
    let fable_window = UsageWindow::scoped(
        WindowKind::SevenDay,
        "Fable",
        fable,
        Some(now + 4 * 24 * 60 * MIN),
    );
    UsageSnapshot {
        fetched_at,
        status: None,
        windows: vec![
            UsageWindow::new(
                WindowKind::FiveHour,
                five,
                Some(now + 3 * 60 * MIN + 12 * MIN + 30_000),
            ),
            UsageWindow::new(WindowKind::SevenDay, week, Some(now + 4 * 24 * 60 * MIN)),
            if fable >= 100.0 {
                fable_window.with_severity(Severity::Critical)
            } else {
                fable_window
            },
        ],
        usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
    }
}

/// Sets usage and health of a record through a store mutation.
fn edit(store: &PoolStore, provider: ProviderId, id: Ulid, f: impl FnOnce(&mut rota_core::Record)) {
    store
        .mutate(|txn| {
            let record = txn
                .state
                .providers
                .get_mut(&provider)
                .and_then(|p| p.records.iter_mut().find(|r| r.id == id))
                .expect("seeded record");
            f(record);
            Ok::<_, rota_store::StoreError>(())
        })
        .expect("edit record");
}

/// Anthropic: work (active, fresh usage 42/12/81), home (cooling 10 min, stale usage),
/// old (needs re-login, no usage); OpenAI: one account; Copilot: one account.
struct Seeded {
    work: Ulid,
    home: Ulid,
    old: Ulid,
}

fn seed_pool(home: &std::path::Path) -> Seeded {
    let store = store_at(home);
    let now = now_ms();
    let old = add(&store, ProviderId::Anthropic, "old@example.com");
    let home_id = add(&store, ProviderId::Anthropic, "home@example.com");
    let work = add(&store, ProviderId::Anthropic, "work@example.com");
    edit(&store, ProviderId::Anthropic, work, |r| {
        r.usage = Some(anthropic(42.0, 12.0, 100.0, now - 30_000));
        r.health.success_count = 128;
        r.health.failure_count = 2;
    });
    edit(&store, ProviderId::Anthropic, home_id, |r| {
        r.usage = Some(anthropic(100.0, 64.0, 30.0, now - 42 * MIN));
        r.health.cooldown_until = Some(now + 10 * MIN);
        r.health.success_count = 57;
    });
    edit(&store, ProviderId::Anthropic, old, |r| {
        r.health.needs_reauth = true;
        r.health.failure_count = 1;
    });
    let o = add(&store, ProviderId::OpenAi, "codex@example.com");
    edit(&store, ProviderId::OpenAi, o, |r| {
        r.usage = Some(UsageSnapshot {
            fetched_at: now,
            status: None,
            windows: vec![
                UsageWindow::new(WindowKind::FiveHour, 55.0, Some(now + 90 * MIN)),
                UsageWindow::new(WindowKind::SevenDay, 20.0, Some(now + 3 * 24 * 60 * MIN)),
            ],
            usage: ProviderUsage::OpenAi(OpenAiUsage::default()),
        });
    });
    let c = add(&store, ProviderId::GithubCopilot, "octo@example.com");
    edit(&store, ProviderId::GithubCopilot, c, |r| {
        r.usage = Some(UsageSnapshot {
            fetched_at: now,
            status: None,
            windows: vec![UsageWindow::new(
                WindowKind::Premium,
                12.0,
                Some(now + 9 * 24 * 60 * MIN),
            )],
            usage: ProviderUsage::GithubCopilot(CopilotUsage::default()),
        });
    });
    Seeded {
        work,
        home: home_id,
        old,
    }
}

fn temp_home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rota-e2e-")
        .tempdir()
        .expect("temp dir")
}

/// Opens Settings → Providers and then the connected provider's detail.
async fn open_detail(app: &App, provider: ProviderId) -> Result<()> {
    app.press_char(',', true).await?;
    app.wait_for("#settings-dialog").await?;
    let row = format!(
        "#connected-list .row[data-provider='{}']",
        provider.as_str()
    );
    app.click(&row).await?;
    app.wait_for("#provider-detail-tab #accounts .account")
        .await?;
    Ok(())
}

async fn attr_of(app: &App, css: &str, name: &str) -> Result<Option<String>> {
    Ok(app.wait_for(css).await?.attr(name).await?)
}

/// Labels of the accounts shown, in order, and the label carrying the Active badge.
async fn shown_accounts(app: &App) -> Result<(Vec<String>, Vec<String>)> {
    let labels = app.texts("#accounts .account .account-label").await?;
    let active = app
        .texts("#accounts .account.is-active .account-label")
        .await?;
    Ok((labels, active))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_window_empty_state_connects_claude_code_in_one_click() -> Result<()> {
    // The tools' own config directories live in a temp dir, never the machine's.
    let tools = temp_home();
    let claude_dir = tools.path().join("claude");
    let app = App::launch(
        launch()
            .env("CLAUDE_CONFIG_DIR", claude_dir.display().to_string())
            .env(
                "CODEX_HOME",
                tools.path().join("codex").display().to_string(),
            ),
    )
    .await?;
    let empty = app
        .wait_text("#sessions-empty h2", |t| !t.is_empty())
        .await?;
    assert_eq!(empty, "No sessions yet");
    // One row per tool, each with a Connect button; then the line for everything else.
    app.wait_for("#connect-claude-code").await?;
    let rows = app.texts("#connections .connection strong").await?;
    assert_eq!(rows, vec!["Claude Code", "Codex CLI", "opencode"]);
    let addr = format!("127.0.0.1:{}", app.gateway_port);
    let lines = app.texts(".copy-text").await?;
    assert_eq!(
        lines,
        vec![
            "eval \"$(rota env)\"".to_owned(),
            format!("http://{addr}/github-copilot"),
        ]
    );
    assert_eq!(app.texts(".pill-value").await?, vec![addr.clone()]);
    app.screenshot("01-main-empty-state").await?;

    // Connect: Claude Code's settings point at this gateway with a key of its own.
    app.click("#connect-claude-code").await?;
    app.wait_text("#connection-claude-code .connection-state", |t| {
        t == "connected to this Rota"
    })
    .await?;
    app.wait_text("#connection-claude-code .connection-result", |t| {
        t.contains("Claude Code now goes through Rota")
    })
    .await?;
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(claude_dir.join("settings.json"))?)?;
    assert_eq!(
        settings["env"]["ANTHROPIC_BASE_URL"],
        format!("http://{addr}/anthropic")
    );
    let key = settings["env"]["ANTHROPIC_AUTH_TOKEN"]
        .as_str()
        .unwrap_or_default();
    assert!(key.starts_with("rota_"), "{settings}");
    // The key is never shown in the window.
    let page = app.wait_text("#connections", |t| !t.is_empty()).await?;
    assert!(!page.contains(key));
    app.wait_for("#test-claude-code").await?;
    app.screenshot("01b-main-claude-code-connected").await?;

    // Undo asks first, then puts the file back (Rota created it: removed) and revokes the key.
    app.click("#undo-claude-code").await?;
    app.wait_for("#confirm-undo").await?;
    app.click("#confirm-undo-ok").await?;
    app.wait_for("#connect-claude-code").await?;
    assert!(!claude_dir.join("settings.json").exists());
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_comma_opens_settings_about_shows_version_and_esc_closes() -> Result<()> {
    let app = App::launch(launch()).await?;
    assert!(
        app.client
            .find_all(rota_e2e::By::Css("#settings-dialog"))
            .await?
            .is_empty()
    );

    app.press_char(',', true).await?;
    app.wait_for("#settings-dialog").await?;
    // Providers lists every supported provider (alphabetical), none connected yet.
    app.wait_for("#no-connected").await?;
    app.wait_text("#add-provider-list", |t| t.contains("OpenAI"))
        .await?;
    let names = app.texts("#add-provider-list .row-title").await?;
    assert_eq!(names, vec!["Anthropic", "GitHub Copilot", "OpenAI"]);
    app.screenshot("02-settings-providers").await?;

    app.click("#tab-about").await?;
    let version = app.wait_text("#about-version", |t| !t.is_empty()).await?;
    assert_eq!(version, format!("Version {}", env!("CARGO_PKG_VERSION")));
    let about = app
        .wait_text("#about-tab", |t| {
            t.to_lowercase().contains("keyboard shortcuts")
        })
        .await?;
    assert!(
        about.contains("Ctrl + ,") && about.contains("Esc"),
        "{about}"
    );
    let data_dir = App::rota_home(app.home.path()).display().to_string();
    app.wait_text("#about-tab .copy-text", |t| t == data_dir)
        .await?;
    // An explicit `file` store: named, without the fallback warning.
    app.wait_text("#secret-backend", |t| t.contains("plaintext file (0600)"))
        .await?;
    assert!(app.texts("#secret-backend-warning").await?.is_empty());
    app.screenshot("03-settings-about").await?;

    app.press(Keys::Escape, false).await?;
    app.wait_gone("#settings-dialog").await?;
    app.screenshot("04-settings-closed").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gear_opens_settings_search_filters_and_detail_opens() -> Result<()> {
    let app = App::launch(launch()).await?;
    app.click("#open-settings").await?;
    app.wait_for("#settings-dialog").await?;
    // Provider Detail is not reachable before a provider is chosen.
    let disabled = app
        .wait_for("#tab-provider-detail")
        .await?
        .attr("aria-disabled")
        .await?;
    assert_eq!(disabled.as_deref(), Some("true"));

    let search = app.wait_for("#provider-search").await?;
    search.send_keys("cop").await?;
    app.wait_text("#add-provider-list", |t| !t.contains("Anthropic"))
        .await?;
    assert_eq!(
        app.texts("#add-provider-list .row-title").await?,
        vec!["GitHub Copilot"]
    );
    app.screenshot("05-settings-search").await?;

    app.click("#add-provider-list .row").await?;
    let title = app
        .wait_text("#provider-detail-tab h3", |t| !t.is_empty())
        .await?;
    assert_eq!(title, "GitHub Copilot");
    app.wait_text("#no-accounts", |t| {
        t.contains("No GitHub Copilot accounts yet")
    })
    .await?;
    let selected = app
        .wait_for("#tab-provider-detail")
        .await?
        .attr("aria-selected")
        .await?;
    assert_eq!(selected.as_deref(), Some("true"));
    app.screenshot("06-settings-provider-detail").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_settings_tab_is_remembered_across_restarts() -> Result<()> {
    let app = App::launch(launch()).await?;
    app.press_char(',', true).await?;
    app.click("#tab-about").await?;
    app.wait_text("#about-version", |t| !t.is_empty()).await?;
    // Saved at once, not on the plugin's debounce.
    let prefs = App::rota_home(app.home.path()).join("ui-prefs.json");
    let deadline = std::time::Instant::now() + rota_e2e::UI_TIMEOUT;
    while !std::fs::read_to_string(&prefs).is_ok_and(|s| s.contains("about")) {
        assert!(std::time::Instant::now() < deadline, "prefs never saved");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let home = app.quit().await?;

    let app = App::launch(launch().home(home)).await?;
    app.press_char(',', true).await?;
    let selected = app.wait_for("#tab-about").await?;
    app.wait_text("#about-version", |t| !t.is_empty()).await?;
    assert_eq!(
        selected.attr("aria-selected").await?.as_deref(),
        Some("true")
    );
    app.screenshot("07-settings-remembered-tab").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipc_error_reaches_the_ui_as_a_notice() -> Result<()> {
    let home = tempfile::Builder::new().prefix("rota-e2e-").tempdir()?;
    let rota_home = App::rota_home(home.path());
    std::fs::create_dir_all(&rota_home)?;
    std::fs::write(rota_home.join("ui-prefs.json"), "not json at all")?;

    let app = App::launch(launch().home(home)).await?;
    let notice = app.wait_text(".notice-text", |t| !t.is_empty()).await?;
    assert!(
        notice.contains("UI preferences") && notice.contains("unreadable"),
        "{notice}"
    );
    // The UI keeps working after the error.
    app.press_char(',', true).await?;
    app.wait_for("#settings-dialog").await?;
    app.screenshot("08-error-notice").await?;
    app.click(".notice-close").await?;
    app.wait_gone(".notice").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one user journey, step by step
async fn provider_detail_shows_accounts_usage_bars_and_badges() -> Result<()> {
    let home = temp_home();
    seed_pool(home.path());
    let app = App::launch(launch().home(home)).await?;
    app.press_char(',', true).await?;
    // Connected providers, alphabetical, with their account counts.
    app.wait_text("#connected-list", |t| t.contains("OpenAI"))
        .await?;
    assert_eq!(
        app.texts("#connected-list .row-title").await?,
        vec!["Anthropic", "GitHub Copilot", "OpenAI"]
    );
    assert_eq!(
        app.texts("#connected-list .count").await?,
        vec!["3 accounts", "1 account", "1 account"]
    );
    app.screenshot("10-providers-connected").await?;

    app.click("#connected-list .row[data-provider='anthropic']")
        .await?;
    app.wait_for("#accounts .account").await?;
    let (labels, active) = shown_accounts(&app).await?;
    assert_eq!(
        labels,
        vec!["work@example.com", "home@example.com", "old@example.com"]
    );
    assert_eq!(active, vec!["work@example.com"]);

    // The active account's bars: labels, integer percent, colour, ARIA values, reset text.
    let work = "#accounts .account:nth-child(1)";
    assert_eq!(
        app.texts(&format!("{work} .usage-label")).await?,
        vec!["5-Hour", "7-Day (All Models)", "7-Day (Fable)"]
    );
    assert_eq!(
        app.texts(&format!("{work} .usage-pct")).await?,
        vec!["42% used", "12% used", "100% used"]
    );
    // The used-up Fable window says where Fable requests go; the account stays active.
    assert_eq!(
        app.texts(&format!("{work} .usage-capped")).await?,
        vec!["Fable requests go to other accounts until then"]
    );
    let bar = format!("{work} [role='progressbar'][aria-label='5-Hour']");
    assert_eq!(
        attr_of(&app, &bar, "aria-valuenow").await?.as_deref(),
        Some("42")
    );
    assert_eq!(
        attr_of(&app, &bar, "aria-valuemin").await?.as_deref(),
        Some("0")
    );
    assert_eq!(
        attr_of(&app, &bar, "aria-valuemax").await?.as_deref(),
        Some("100")
    );
    assert_eq!(
        attr_of(&app, &bar, "aria-valuetext").await?.as_deref(),
        Some("42% used")
    );
    let fills: Vec<String> = {
        let mut v = Vec::new();
        for el in app
            .client
            .find_all(rota_e2e::By::Css(&format!("{work} .usage-fill")))
            .await?
        {
            v.push(el.attr("class").await?.unwrap_or_default());
        }
        v
    };
    assert_eq!(
        fills,
        vec!["usage-fill green", "usage-fill green", "usage-fill red"]
    );
    let resets = app.texts(&format!("{work} .usage-reset")).await?;
    assert_eq!(resets[0], "Resets in 3h 13m");
    assert_eq!(
        app.texts(&format!("{work} .account-requests")).await?,
        vec!["130 requests · 2 failed"]
    );

    // The cooling account: live countdown badge, stale values greyed with their age.
    let home_row = "#accounts .account:nth-child(2)";
    let badge = app
        .wait_text(&format!("{home_row} .badge-cooldown"), |t| {
            t.starts_with("Cooling down · ")
        })
        .await?;
    assert!(badge.contains('m'), "{badge}");
    let later = app
        .wait_text(&format!("{home_row} .badge-cooldown"), |t| t != badge)
        .await?;
    assert!(later.starts_with("Cooling down · 9m"), "{later}");
    assert_eq!(
        app.texts(&format!("{home_row} .usage.stale .usage-age"))
            .await?,
        vec!["updated 42 min ago"; 3]
    );
    assert_eq!(
        app.texts(&format!("{home_row} .usage-pct")).await?,
        vec!["100% used", "64% used", "30% used"]
    );
    // The account that needs a new login, without usage: a badge and a line, no empty bars.
    let old_row = "#accounts .account:nth-child(3)";
    assert_eq!(
        app.texts(&format!("{old_row} .badge-reauth")).await?,
        vec!["needs re-login"]
    );
    assert!(app.texts(&format!("{old_row} .usage")).await?.is_empty());
    assert_eq!(
        app.texts(&format!("{old_row} .no-usage")).await?,
        vec!["No usage fetched yet."]
    );
    // Switch only on inactive accounts.
    assert!(app.texts(&format!("{work} .switch")).await?.is_empty());
    assert_eq!(app.texts("#accounts .switch").await?.len(), 2);
    app.screenshot("11-provider-detail-accounts").await?;
    app.scroll_to(old_row).await?;
    app.screenshot("11b-provider-detail-cooling-and-relogin")
        .await?;

    // OpenAI and Copilot windows are labelled for their provider.
    app.click("#tab-providers").await?;
    app.click("#connected-list .row[data-provider='openai']")
        .await?;
    app.wait_text("#provider-detail-tab h3", |t| t == "OpenAI")
        .await?;
    app.wait_for("#accounts .usage").await?;
    assert_eq!(
        app.texts("#accounts .usage-label").await?,
        vec!["5-Hour", "7-Day (All Models)"]
    );
    assert_eq!(
        app.texts("#accounts .usage-pct").await?,
        vec!["55% used", "20% used"]
    );
    app.click("#tab-providers").await?;
    app.click("#connected-list .row[data-provider='github-copilot']")
        .await?;
    app.wait_text("#provider-detail-tab h3", |t| t == "GitHub Copilot")
        .await?;
    app.wait_for("#accounts .usage").await?;
    assert_eq!(
        app.texts("#accounts .usage-label").await?,
        vec!["Premium Requests (monthly)"]
    );
    app.screenshot("12-provider-detail-copilot").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_moves_the_active_badge_and_writes_the_store() -> Result<()> {
    let home = temp_home();
    let seeded = seed_pool(home.path());
    let app = App::launch(launch().home(home)).await?;
    open_detail(&app, ProviderId::Anthropic).await?;

    // home@ is cooling down: the switch says what will happen and asks first.
    app.click("#accounts .account[data-label='home@example.com'] .switch")
        .await?;
    let caveat = app
        .wait_text("#confirm-switch-text", |t| !t.is_empty())
        .await?;
    assert_eq!(
        caveat,
        "home@example.com is cooling down for 10m; until then requests go to work@example.com."
    );
    app.screenshot("12-provider-detail-switch-caveat").await?;
    // Esc keeps the current account (and Settings open).
    app.press(Keys::Escape, false).await?;
    app.wait_gone("#confirm-switch").await?;
    app.wait_for("#settings-dialog").await?;
    assert_eq!(shown_accounts(&app).await?.1, vec!["work@example.com"]);
    app.click("#accounts .account[data-label='home@example.com'] .switch")
        .await?;
    app.click("#confirm-switch-ok").await?;
    app.wait_text("#accounts .account.is-active .account-label", |t| {
        t == "home@example.com"
    })
    .await?;
    let status = app.wait_text("#switch-status", |t| !t.is_empty()).await?;
    assert_eq!(status, "Switched to home@example.com. New requests use it.");
    let (labels, active) = shown_accounts(&app).await?;
    // The switched-to account moves to the front of the rotation order.
    assert_eq!(
        labels,
        vec!["home@example.com", "work@example.com", "old@example.com"]
    );
    assert_eq!(active, vec!["home@example.com"]);
    assert_eq!(app.texts(".badge-active").await?, vec!["Active"]);

    let state = store_at(app.home.path()).load()?;
    let snap = state.snapshot(ProviderId::Anthropic, "default", now_ms());
    assert_eq!(snap.active_id, Some(seeded.home.to_string()));
    let last = state.switch_log.back().expect("switch logged");
    assert_eq!(last.from, Some(seeded.work.to_string()));
    assert_eq!(last.reason.as_str(), "manual:app");
    app.screenshot("13-provider-detail-switched").await?;

    // A double click on work@'s Switch switches once: the list reorders under the pointer
    // after the first click, and the second click is not taken as another switch.
    let logged = state.switch_log.len();
    let button = app
        .wait_for("#accounts .account[data-label='work@example.com'] .switch")
        .await?;
    let mouse = MouseActions::new("mouse".to_owned())
        .then(PointerAction::MoveToElement {
            element: button,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    app.client.perform_actions(mouse).await?;
    app.wait_text("#accounts .account.is-active .account-label", |t| {
        t == "work@example.com"
    })
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let state = store_at(app.home.path()).load()?;
    assert_eq!(state.switch_log.len(), logged + 1, "one switch, not two");
    assert_eq!(
        state
            .snapshot(ProviderId::Anthropic, "default", now_ms())
            .active_id,
        Some(seeded.work.to_string())
    );
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_asks_first_and_the_last_account_keeps_a_way_back() -> Result<()> {
    for dark in [false, true] {
        remove_story(dark).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_lines)] // one user story, step by step, with its screenshots
async fn remove_story(dark: bool) -> Result<()> {
    let theme = if dark { "dark" } else { "light" };
    let home = temp_home();
    let seeded = seed_pool(home.path());
    let store = store_at(home.path());
    // Leave Anthropic with two accounts for this scenario.
    store.remove_record(
        ProviderId::Anthropic,
        rota_types::DEFAULT_NAMESPACE,
        seeded.old,
        now_ms(),
    )?;
    let mut launch = launch().home(home);
    if dark {
        launch = launch.env("GTK_THEME", "Adwaita:dark");
    }
    let app = App::launch(launch).await?;
    open_detail(&app, ProviderId::Anthropic).await?;
    let work = "#accounts .account[data-label='work@example.com']";

    // X opens a confirmation; Cancel (and Esc) keep the account.
    app.click(&format!("{work} .remove")).await?;
    let title = app
        .wait_text("#confirm-remove-title", |t| !t.is_empty())
        .await?;
    assert_eq!(title, "Remove work@example.com?");
    if !dark {
        app.screenshot("14-remove-confirmation").await?;
    }
    app.click("#confirm-remove-cancel").await?;
    app.wait_gone("#confirm-remove").await?;
    app.click(&format!("{work} .remove")).await?;
    app.wait_for("#confirm-remove").await?;
    app.press(Keys::Escape, false).await?;
    app.wait_gone("#confirm-remove").await?;
    // Esc closed only the confirmation, not Settings.
    app.wait_for("#settings-dialog").await?;
    assert_eq!(shown_accounts(&app).await?.0.len(), 2);

    // Confirmed: gone from the UI and from the store (with its secrets).
    app.click(&format!("{work} .remove")).await?;
    app.click("#confirm-remove-ok").await?;
    app.wait_gone(work).await?;
    let (labels, active) = shown_accounts(&app).await?;
    assert_eq!(labels, vec!["home@example.com"]);
    assert_eq!(active, vec!["home@example.com"]);
    let state = store.load()?;
    assert!(state.record(ProviderId::Anthropic, seeded.work).is_none());
    assert!(store.credentials(seeded.work)?.is_none());
    if !dark {
        app.screenshot("15-account-removed").await?;
    }

    // Removing the last account keeps Provider Detail, with the way back in: an Add account
    // button that opens the sign-in for this provider.
    app.click("#accounts .account .remove").await?;
    app.click("#confirm-remove-ok").await?;
    let empty = app
        .wait_text("#no-accounts strong", |t| !t.is_empty())
        .await?;
    assert_eq!(empty, "No Anthropic accounts left");
    assert_eq!(
        attr_of(&app, "#tab-provider-detail", "aria-selected")
            .await?
            .as_deref(),
        Some("true")
    );
    assert!(store.load()?.pool(ProviderId::Anthropic).is_none());
    app.screenshot_both_widths(
        &format!("16-last-account-removed-{theme}"),
        ".settings-body, .tab-content, .group-empty",
    )
    .await?;
    app.click("#empty-add-account").await?;
    app.wait_for("#add-account #policy-notice").await?;
    if !dark {
        app.screenshot("16b-last-account-removed-add-account")
            .await?;
    }
    app.press(Keys::Escape, false).await?;
    app.wait_gone("#add-account").await?;
    app.wait_for("#empty-add-account").await?;

    // Providers: Anthropic left Connected and is one click away under Add provider.
    app.click("#tab-providers").await?;
    app.wait_text("#connected-list", |t| !t.contains("Anthropic"))
        .await?;
    assert_eq!(
        app.texts("#connected-list .row-title").await?,
        vec!["GitHub Copilot", "OpenAI"]
    );
    app.wait_for("#add-provider-list [data-provider='anthropic']")
        .await?;

    // Switch history: each removal is a row naming the account once; the active one's
    // removal names who took over.
    app.click("#tab-history").await?;
    app.wait_for("#switch-history .history-item").await?;
    let removal = "#switch-history .history-item[data-reason='removed']";
    assert_eq!(
        app.texts(&format!("{removal} .history-accounts")).await?,
        vec![
            "home@example.com (removed)",
            "work@example.com (removed) → home@example.com (removed)",
            "old@example.com (removed)",
        ]
    );
    assert_eq!(
        app.texts(&format!("{removal} .history-reason")).await?,
        vec![
            "account removed",
            "active account removed",
            "account removed"
        ]
    );
    assert!(
        app.texts("#switch-history .history-accounts")
            .await?
            .iter()
            .all(|t| !t.contains("removed account")),
        "every row names its accounts"
    );
    app.screenshot_both_widths(
        &format!("17-history-removals-{theme}"),
        ".settings-body, .tab-content, .history-item",
    )
    .await?;
    app.quit().await?;
    Ok(())
}

/// The `rota` CLI built next to the app (same target dir), when it has been built.
fn rota_cli() -> Option<PathBuf> {
    let path = app_binary().with_file_name("rota");
    path.is_file().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_from_another_process_shows_within_a_second() -> Result<()> {
    let home = temp_home();
    let seeded = seed_pool(home.path());
    let app = App::launch(launch().home(home)).await?;
    open_detail(&app, ProviderId::Anthropic).await?;
    let rota_home = App::rota_home(app.home.path());

    for (target, label) in [
        (seeded.home, "home@example.com"),
        (seeded.old, "old@example.com"),
    ] {
        let done = if let Some(cli) = rota_cli() {
            let out = std::process::Command::new(cli)
                .args(["auth", "switch", "anthropic", &target.to_string()])
                .env("ROTA_HOME", &rota_home)
                .env("ROTA_SECRET_STORE", "file")
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null())
                .output()?;
            assert!(out.status.success(), "rota auth switch: {out:?}");
            std::time::Instant::now()
        } else {
            // Same store protocol as the CLI: a locked read-modify-write from this process.
            store_at(app.home.path()).set_active(
                ProviderId::Anthropic,
                "default",
                target,
                rota_types::SwitchReason::ManualCli,
                now_ms(),
            )?;
            std::time::Instant::now()
        };
        app.wait_text("#accounts .account.is-active .account-label", |t| {
            t == label
        })
        .await?;
        let took = done.elapsed();
        assert!(
            took < std::time::Duration::from_secs(1),
            "the UI showed the external switch after {took:?}"
        );
    }
    // The Providers list follows too: a new account added elsewhere shows up in the count.
    add(
        &store_at(app.home.path()),
        ProviderId::Anthropic,
        "new@example.com",
    );
    app.wait_text("#accounts", |t| t.contains("new@example.com"))
        .await?;
    app.screenshot("17-external-switch").await?;
    app.click("#tab-providers").await?;
    app.wait_text("#connected-list", |t| t.contains("4 accounts"))
        .await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_names_the_secret_backend_and_warns_about_the_plaintext_fallback() -> Result<()> {
    // `auto` with no keychain on the private session bus falls back to the plaintext file.
    let app = App::launch(launch().env("ROTA_SECRET_STORE", "auto")).await?;
    app.press_char(',', true).await?;
    app.click("#tab-about").await?;
    app.wait_text("#secret-backend", |t| t.contains("plaintext file"))
        .await?;
    let warning = app
        .wait_text("#secret-backend-warning", |t| !t.is_empty())
        .await?;
    assert!(
        warning.contains("Tokens are stored unencrypted"),
        "{warning}"
    );
    app.scroll_to("#secret-backend-warning").await?;
    app.screenshot("18-about-plaintext-warning").await?;
    app.quit().await?;
    Ok(())
}

/// `GET <path>` on the app's gateway over plain HTTP/1.1; the status line and the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    tcp.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_hosts_the_gateway_on_its_port() -> Result<()> {
    let app = App::launch(launch()).await?;
    let port = app.gateway_port;
    let addr = format!("127.0.0.1:{port}");
    app.wait_for("#gateway-pill.running").await?;
    assert_eq!(app.texts("#gateway-pill .pill-value").await?, vec![addr]);
    let title = attr_of(&app, "#gateway-pill", "title").await?;
    assert!(
        title.as_deref().is_some_and(|t| t.contains("running")),
        "{title:?}"
    );
    assert!(app.texts("#gateway-pill .pill-state").await?.is_empty());

    // The gateway answers from outside the app.
    let (status, body) = http_get(port, "/healthz")?;
    assert!(status.contains(" 200 "), "{status}");
    let health: serde_json::Value = serde_json::from_str(body.trim())?;
    assert_eq!(health["ok"], serde_json::Value::Bool(true), "{body}");

    // api.json holds the bound port, readable by its owner only.
    let api = App::rota_home(app.home.path()).join("api.json");
    let meta = std::fs::metadata(&api)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let api: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&api)?)?;
    assert_eq!(api["port"], serde_json::json!(port));
    app.screenshot("19-gateway-running").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_gateway_port_shows_failed_and_the_app_still_works() -> Result<()> {
    // Someone else (e.g. `rota serve`) holds the port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let app = App::launch(launch().gateway_port(port)).await?;
    app.wait_for("#gateway-pill.failed").await?;
    assert_eq!(
        app.texts("#gateway-pill .pill-state").await?,
        vec!["not running"]
    );
    assert_eq!(
        app.texts("#gateway-pill .pill-value").await?,
        vec![format!("127.0.0.1:{port}")]
    );
    let title = attr_of(&app, "#gateway-pill", "title")
        .await?
        .unwrap_or_default();
    assert!(
        title.contains(&format!("port {port} is in use (is `rota serve` running?)")),
        "{title}"
    );
    assert!(!App::rota_home(app.home.path()).join("api.json").exists());
    app.screenshot("20-gateway-port-in-use").await?;

    // The rest of the app works.
    app.press_char(',', true).await?;
    app.wait_for("#settings-dialog").await?;
    app.wait_text("#add-provider-list", |t| t.contains("OpenAI"))
        .await?;
    app.quit().await?;
    drop(taken);
    Ok(())
}

/// The app and WebKit's web process (through Rota's web extension) both run the memory trim
/// of `rota-trim`; its effect is a benchmark figure (`cargo xtask bench app`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_and_its_web_process_run_the_memory_trim() -> Result<()> {
    let app = App::launch(launch()).await?;
    app.wait_for("#sessions-empty").await?;
    let processes = app.processes();
    let pid_of = |comm: &str| {
        processes
            .iter()
            .find(|(_, c)| c == comm)
            .map(|(pid, _)| *pid)
            .ok_or_else(|| anyhow::anyhow!("no {comm} process among {processes:?}"))
    };
    let threads = |pid: u32| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .map(|c| c.trim_end().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (app_pid, web_pid) = (pid_of("rota-app")?, pid_of("WebKitWebProces")?);
    let web_maps = std::fs::read_to_string(format!("/proc/{web_pid}/maps"))?;
    assert!(
        web_maps.contains("/web-extensions/librota_trim.so"),
        "the web process loaded Rota's web extension"
    );
    for (name, pid) in [("app", app_pid), ("web process", web_pid)] {
        assert!(
            threads(pid).iter().any(|t| t == "memory-trim"),
            "the {name} runs the memory trim: threads {:?}",
            threads(pid)
        );
    }
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dark_theme_follows_the_os() -> Result<()> {
    let home = temp_home();
    seed_pool(home.path());
    // GTK's dark variant is what the desktop's dark mode sets; WebKit reports it to CSS.
    let app = App::launch(launch().env("GTK_THEME", "Adwaita:dark").home(home)).await?;
    app.wait_for("#sessions-empty").await?;
    let dark = app
        .client
        .execute(
            "return window.matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await?;
    assert_eq!(
        dark,
        serde_json::Value::Bool(true),
        "the webview sees dark mode"
    );
    let background = app
        .client
        .execute(
            "return getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await?;
    assert_eq!(background, "rgb(15, 17, 23)", "the dark palette is used");
    app.screenshot("21-dark-sessions").await?;
    open_detail(&app, ProviderId::Anthropic).await?;
    app.screenshot("22-dark-provider-detail").await?;
    app.quit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_renamed_in_place() -> Result<()> {
    let home = temp_home();
    let seeded = seed_pool(home.path());
    let app = App::launch(launch().home(home)).await?;
    open_detail(&app, ProviderId::Anthropic).await?;
    let work = "#accounts .account[data-label='work@example.com']";

    // Esc cancels: nothing changes.
    app.click(&format!("{work} .rename")).await?;
    let input = app.wait_for(&format!("{work} .rename-input")).await?;
    input.send_keys(" (old)").await?;
    app.press(Keys::Escape, false).await?;
    app.wait_gone(&format!("{work} .rename-input")).await?;
    assert!(
        app.wait_for("#settings-dialog").await.is_ok(),
        "Esc ended the edit only"
    );

    // Enter saves (trimmed), the row and the store follow.
    app.click(&format!("{work} .rename")).await?;
    // Select all and type over it, as a user does. (WebDriver's clear() would blur the field,
    // which cancels the edit.)
    let input = app.wait_for(&format!("{work} .rename-input")).await?;
    app.press_char('a', true).await?;
    input.send_keys("  Work Max  ").await?;
    input.send_keys(&Keys::Enter.to_string()).await?;
    app.wait_for("#accounts .account[data-label='Work Max'] .badge-active")
        .await?;
    let state = store_at(app.home.path()).load()?;
    let record = state
        .record(ProviderId::Anthropic, seeded.work)
        .expect("still there");
    assert_eq!(record.label, "Work Max");
    app.screenshot("23-renamed").await?;
    app.quit().await?;
    Ok(())
}

/// At the window's minimum width (760 px) nothing is clipped and no button wraps, in the light
/// and the dark theme; the Connected list says which providers need attention; the dark
/// theme's primary button keeps readable text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_reflow_at_the_minimum_width_light_and_dark() -> Result<()> {
    for dark in [false, true] {
        let home = temp_home();
        seed_pool(home.path());
        let mut launch = launch().home(home);
        if dark {
            launch = launch.env("GTK_THEME", "Adwaita:dark");
        }
        let app = App::launch(launch).await?;
        let theme = if dark { "dark" } else { "light" };
        app.resize(760).await?;
        app.wait_for("#sessions-empty").await?;
        assert_eq!(
            app.overflowing(".content, .setup-lines").await?,
            Vec::<String>::new()
        );
        app.screenshot(&format!("50-min-width-{theme}-sessions"))
            .await?;

        app.press_char(',', true).await?;
        app.wait_for("#settings-dialog").await?;
        let health = app
            .wait_text("#connected-list [data-provider='anthropic'] .health", |t| {
                !t.is_empty()
            })
            .await?;
        assert_eq!(health, "1 needs re-login · 1 cooling down");
        let ready = app
            .wait_text("#connected-list [data-provider='openai'] .health", |t| {
                !t.is_empty()
            })
            .await?;
        assert_eq!(ready, "Ready");
        let sub = app
            .wait_text(
                "#connected-list [data-provider='anthropic'] .row-sub",
                |t| !t.is_empty(),
            )
            .await?;
        assert_eq!(sub, "Active: work@example.com");
        assert_eq!(
            app.overflowing(".settings-body, .tab-content, .row")
                .await?,
            Vec::<String>::new()
        );
        app.screenshot(&format!("51-min-width-{theme}-providers"))
            .await?;
        app.click("#connected-list .row[data-provider='anthropic']")
            .await?;
        app.wait_for("#provider-detail-tab #accounts .account")
            .await?;
        assert_eq!(
            app.overflowing(".settings-body, .account, .group-head")
                .await?,
            Vec::<String>::new()
        );
        app.screenshot(&format!("52-min-width-{theme}-provider-detail"))
            .await?;
        let ink = app
            .client
            .execute(
                "return getComputedStyle(document.querySelector('#add-account-button')).color;",
                vec![],
            )
            .await?;
        let want = if dark {
            "rgb(15, 17, 23)"
        } else {
            "rgb(255, 255, 255)"
        };
        assert_eq!(ink, want, "primary button text in the {theme} theme");

        // Another tab starts at its top, not where Provider Detail was scrolled to.
        app.client
            .execute(
                "document.querySelector('.settings-body').scrollTop = 400;",
                vec![],
            )
            .await?;
        app.click("#tab-about").await?;
        app.wait_for("#about-tab").await?;
        assert_eq!(
            app.overflowing(".settings-body, .tab-content").await?,
            Vec::<String>::new()
        );
        app.screenshot(&format!("53-min-width-{theme}-about"))
            .await?;
        let top = app
            .client
            .execute(
                "return document.querySelector('.settings-body').scrollTop;",
                vec![],
            )
            .await?;
        assert_eq!(top.as_f64(), Some(0.0), "About opens at its top");
        app.quit().await?;
    }
    Ok(())
}

/// Importing Claude Code's login on a machine without one says what to do, not an OS error,
/// and the notice clears itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_claude_code_login_is_explained_and_the_notice_clears() -> Result<()> {
    let home = temp_home();
    seed_pool(home.path());
    // A HOME of its own, so no real Claude Code login on this machine is found.
    let user_home = home.path().join("user");
    std::fs::create_dir_all(&user_home)?;
    let app = App::launch(
        launch()
            .env("HOME", user_home.to_string_lossy())
            .env(
                "CLAUDE_CONFIG_DIR",
                user_home.join(".claude").to_string_lossy(),
            )
            .home(home),
    )
    .await?;
    open_detail(&app, ProviderId::Anthropic).await?;
    app.click("#add-account-button").await?;
    // Wait for the sign-in step as a user would: its policy notice pushes the dialog's buttons
    // down when it arrives, and a click aimed before that lands beside the button.
    app.wait_for("#add-account #policy-notice").await?;
    app.click("#import-instead").await?;
    let notice = app.wait_text(".notice-text", |t| !t.is_empty()).await?;
    assert!(
        notice.starts_with("no Claude Code login found at "),
        "{notice}"
    );
    assert!(notice.contains("sign in to Claude Code first"), "{notice}");
    assert!(!notice.contains("os error"), "{notice}");
    app.screenshot("40-import-missing-notice").await?;
    // Transient: gone by itself (10 s) without a click.
    app.wait_gone(".notice").await?;
    app.quit().await?;
    Ok(())
}

/// A damaged vault restored from its backup (any process's repair): the window says so, names
/// the file and the accounts to check, and Acknowledge ends it on every surface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_recovery_is_a_notice_until_acknowledged() -> Result<()> {
    let home = temp_home();
    let store = store_at(home.path());
    add(&store, ProviderId::Anthropic, "one@example.com");
    add(&store, ProviderId::Anthropic, "two@example.com");
    std::fs::write(&store.paths().vault, "{damaged")?;
    // Another process (here: this test, as the CLI would) reads the vault and repairs it.
    assert_eq!(store.load_vault()?.len(), 1);
    let recovery_file = store.paths().recovery.clone();
    drop(store);

    let app = App::launch(launch().home(home)).await?;
    let text = app
        .wait_text("#recovery-notice", |t| t.contains("vault.json"))
        .await?;
    assert!(text.contains("one change behind"), "{text}");
    assert!(text.contains("new login"), "{text}");
    app.screenshot("20-recovery-notice").await?;
    app.click("#acknowledge-recoveries").await?;
    app.wait_gone("#recovery-notice").await?;
    assert!(!recovery_file.exists(), "acknowledged for every surface");
    app.quit().await?;
    Ok(())
}
