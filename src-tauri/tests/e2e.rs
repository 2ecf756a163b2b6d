//! End-to-end scenarios in the real WebKit webview, driven through WebDriver.
//! Every scenario saves screenshots under `target/e2e/`.

use std::path::PathBuf;

use rota_e2e::E2eResult as Result;
use rota_e2e::{App, Keys, Launch};

fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rota-app"))
}

fn launch() -> Launch {
    Launch::new(app_binary()).env("ROTA_GATEWAY_PORT", "4199")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_window_shows_the_sessions_empty_state() -> Result<()> {
    let app = App::launch(launch()).await?;
    let empty = app
        .wait_text("#sessions-empty h2", |t| !t.is_empty())
        .await?;
    assert_eq!(empty, "No sessions yet");
    // The copyable lines point at the configured gateway address.
    app.wait_text(".copy-text", |t| t.contains("127.0.0.1:4199"))
        .await?;
    let lines = app.texts(".copy-text").await?;
    assert_eq!(
        lines,
        vec![
            "export ANTHROPIC_BASE_URL=http://127.0.0.1:4199/anthropic",
            "export OPENAI_BASE_URL=http://127.0.0.1:4199/openai",
            "http://127.0.0.1:4199/github-copilot",
        ]
    );
    assert_eq!(app.texts(".pill-value").await?, vec!["127.0.0.1:4199"]);
    app.screenshot("01-main-empty-state").await?;
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
