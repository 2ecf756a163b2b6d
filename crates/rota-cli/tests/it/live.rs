//! The provider-backed commands against rota-mock (`ROTA_PROVIDERS_MOCK_BASE` set for the
//! spawned `rota`): live usage (parallel fetch, a failing fetch showing the cached value with
//! its age) and the login flows (Anthropic paste through a pty and through stdin, wrong state,
//! OpenAI device and browser, GitHub Copilot device), each checked in the store afterwards.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, MINUTE, Run};
use expectrl::{Eof, Expect, Regex, Session};
use rota_mock::{
    AccountInfo, Behavior, MockConfig, MockHandle, MockServer, NewAccount, Scope, ScriptStep,
};
use rota_store::now_ms;
use rota_types::{DEFAULT_NAMESPACE, ProviderId, ProviderUsage, UsageSnapshot, UsageWindow};

struct Mock {
    runtime: tokio::runtime::Runtime,
    handle: MockHandle,
}

impl Mock {
    fn start(config: MockConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.block_on(MockServer::start(config)).unwrap();
        Self { runtime, handle }
    }

    fn fast() -> Self {
        Self::start(MockConfig {
            device_interval_secs: 1,
            device_auto_approve_after_ms: Some(200),
            ..MockConfig::default()
        })
    }

    fn base(&self) -> &str {
        self.handle.base_url()
    }

    fn get_text(&self, url: &str) -> String {
        // A reqwest client with rustls on ring installed (the CLI's own HTTP stack).
        let client: reqwest::Client =
            rota_providers::http_client(&rota_providers::ProvidersConfig::default()).unwrap();
        self.runtime.block_on(async {
            client
                .get(url)
                .send()
                .await
                .expect("GET")
                .text()
                .await
                .expect("body")
        })
    }
}

fn cmd(env: &Env, mock: &Mock, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env("ROTA_PROVIDERS_MOCK_BASE", mock.base())
        .env("ROTA_NO_BROWSER", "1");
    c
}

fn run(env: &Env, mock: &Mock, args: &[&str]) -> Run {
    Run::from(cmd(env, mock, args).output().expect("run rota"))
}

/// An account at the mock, stored with its current tokens (it becomes active).
fn seed(env: &Env, mock: &Mock, new: NewAccount) -> (AccountInfo, rota_core::Ulid) {
    let info = mock.handle.add_account(new);
    let id = env.store_mock_account(&info);
    (info, id)
}

#[test]
fn usage_fetches_every_account_live_in_parallel() {
    let env = Env::new();
    let mock = Mock::start(MockConfig::default());
    let mut ids = Vec::new();
    for i in 0..8 {
        let (info, id) = seed(
            &env,
            &mock,
            NewAccount::new(ProviderId::Anthropic).email(format!("u{i}@example.com")),
        );
        mock.handle
            .script(
                &info.id,
                ScriptStep::sticky(Behavior::Latency { ms: 200 }).scope(Scope::Usage),
            )
            .unwrap();
        ids.push(id);
    }
    let before = now_ms();
    let start = Instant::now();
    let out = run(&env, &mock, &["auth", "usage"]);
    let took = start.elapsed();
    out.ok();
    eprintln!("live usage of 8 accounts (200 ms each) took {took:?} (process included)");
    assert!(!out.stdout.contains("fetch failed"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("updated just now").count(),
        8,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("5h"), "{}", out.stdout);
    // Recorded in the store.
    let state = env.state();
    let accounts = state.get_accounts(ProviderId::Anthropic, DEFAULT_NAMESPACE, now_ms());
    assert_eq!(accounts.len(), 8);
    for a in &accounts {
        let u = a.usage.as_ref().expect("usage recorded");
        assert!(u.fetched_at >= before, "{a:?}");
    }
    // --json has the same fresh values, without a spinner or anything else on stdout.
    let json = run(&env, &mock, &["auth", "usage", "--json"]).ok().json();
    assert_eq!(json["anthropic"]["accounts"].as_array().unwrap().len(), 8);
}

#[test]
fn a_failing_fetch_shows_the_cached_value_with_its_age() {
    let env = Env::new();
    let mock = Mock::start(MockConfig::default());
    let (bad, bad_id) = seed(
        &env,
        &mock,
        NewAccount::new(ProviderId::Anthropic).email("bad@example.com"),
    );
    seed(
        &env,
        &mock,
        NewAccount::new(ProviderId::Anthropic).email("good@example.com"),
    );
    let now = now_ms();
    env.store()
        .mutate(|txn| -> rota_store::Result<()> {
            txn.state.record_usage(
                ProviderId::Anthropic,
                bad_id,
                UsageSnapshot {
                    fetched_at: now - 12 * MINUTE - 10_000,
                    status: None,
                    windows: vec![UsageWindow::new(
                        rota_types::WindowKind::FiveHour,
                        42.0,
                        Some(now + 3_600_000),
                    )],
                    usage: ProviderUsage::Anthropic(rota_types::AnthropicExtra::default()),
                },
            )?;
            Ok(())
        })
        .unwrap();
    mock.handle
        .script(
            &bad.id,
            ScriptStep::sticky(Behavior::ServerError).scope(Scope::Usage),
        )
        .unwrap();
    let out = run(&env, &mock, &["auth", "usage", "anthropic"]);
    out.ok();
    let text = &out.stdout;
    let bad_block = text
        .split("bad@example.com")
        .nth(1)
        .and_then(|rest| rest.split("good@example.com").next())
        .unwrap_or(text);
    assert!(bad_block.contains("fetch failed"), "{text}");
    assert!(
        bad_block.contains("showing the value from 12 min ago"),
        "{text}"
    );
    assert!(bad_block.contains(" 42% used"), "{text}");
    assert_eq!(text.matches("fetch failed").count(), 1, "{text}");
}

/// On a terminal the fetch runs behind a spinner, then the windows are printed.
#[test]
fn usage_on_a_terminal_shows_a_spinner() {
    let env = Env::new();
    let mock = Mock::start(MockConfig::default());
    let (info, _) = seed(
        &env,
        &mock,
        NewAccount::new(ProviderId::Anthropic).email("tty@example.com"),
    );
    mock.handle
        .script(
            &info.id,
            ScriptStep::sticky(Behavior::Latency { ms: 300 }).scope(Scope::Usage),
        )
        .unwrap();
    let mut c = env.cmd_tty(&["auth", "usage"]);
    c.env("ROTA_PROVIDERS_MOCK_BASE", mock.base())
        .env("NO_COLOR", "1");
    let mut s = Session::spawn(c).expect("pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.expect("Fetching usage").expect("the spinner");
    s.expect("Usage fetched").expect("the spinner's end");
    s.expect("tty@example.com").expect("the account");
    s.expect("updated just now").expect("the fresh value");
    let _ = s.expect(Eof);
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
}

/// Every fetch fails (nothing listens at the providers' address): the seeded cache is shown,
/// each account saying which value it is.
#[test]
fn usage_with_unreachable_providers_shows_the_cache() {
    let env = Env::new();
    env.seed_full();
    let out = env
        .cmd(&["auth", "usage"])
        .env("ROTA_PROVIDERS_MOCK_BASE", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let run = Run::from(out);
    run.ok();
    crate::common::insta_settings()
        .bind(|| insta::assert_snapshot!("usage_text_unreachable", run.stdout));
}

// ------------------------------------------------------------------ logins

fn active(env: &Env, provider: ProviderId) -> Vec<rota_types::AccountSummary> {
    env.state()
        .get_accounts(provider, DEFAULT_NAMESPACE, now_ms())
        .into_iter()
        .filter(|a| a.is_active)
        .collect()
}

/// `code#state` from the mock's authorize page.
fn code_from_page(mock: &Mock, url: &str) -> String {
    rota_mock::auth_code_on_page(&mock.get_text(url)).expect("code on the page")
}

fn authorize_url(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/oauth/authorize"))
}

#[test]
fn login_anthropic_through_a_pty() {
    let env = Env::new();
    let mock = Mock::fast();
    env.seed_anthropic3();
    let mut c = env.cmd_tty(&["auth", "login", "anthropic"]);
    c.env("ROTA_PROVIDERS_MOCK_BASE", mock.base())
        .env("ROTA_NO_BROWSER", "1")
        .env("NO_COLOR", "1");
    let mut s = Session::spawn(c).expect("pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.expect("meant for").expect("the policy notice");
    s.expect("hand-off mode").expect("the recommendation");
    let found = s
        .expect(Regex(
            r"http://127\.0\.0\.1:\d+/anthropic/oauth/authorize\?[^\s]+",
        ))
        .expect("the authorize URL");
    let url = String::from_utf8_lossy(found.get(0).unwrap()).into_owned();
    s.expect("Paste the code").expect("the prompt");
    let code = code_from_page(&mock, &url);
    s.send(format!("{code}\r")).unwrap();
    let done = s.expect("Logged in as").expect("success");
    let _ = done;
    let rest = s
        .expect(Eof)
        .map(|c| String::from_utf8_lossy(c.before()).into_owned());
    let status = s.get_process().wait().unwrap();
    assert!(
        matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)),
        "{status:?} {rest:?}"
    );
    let now_active = active(&env, ProviderId::Anthropic);
    assert_eq!(now_active.len(), 1);
    assert!(
        !now_active[0].label.starts_with("Account "),
        "the new login is active: {now_active:?}"
    );
    assert_eq!(
        env.state()
            .get_accounts(ProviderId::Anthropic, DEFAULT_NAMESPACE, now_ms())
            .len(),
        4
    );
}

#[test]
fn login_anthropic_from_stdin_and_wrong_state() {
    let env = Env::new();
    let mock = Mock::fast();
    // Non-interactive: the code arrives on standard input once the URL was printed.
    let mut child = cmd(&env, &mock, &["auth", "login", "anthropic", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while url.is_none() {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no URL printed");
        url = authorize_url(&line).map(str::to_owned);
    }
    let code = code_from_page(&mock, &url.unwrap());
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["isActive"], true, "{json}");
    assert_eq!(active(&env, ProviderId::Anthropic).len(), 1);

    // A code from another login (its state does not match this one): exit 1, one clear line.
    // Also when the code starts with `-` (base64url): still the value of --code, not a flag.
    let page_code = code.split('#').next().unwrap();
    for other in [
        format!("{page_code}#not-this-state"),
        "-x9#not-this-state".to_owned(),
    ] {
        let wrong = run(
            &env,
            &mock,
            &["auth", "login", "anthropic", "--code", &other],
        );
        assert_eq!(wrong.code, 1, "{wrong:#?}");
        assert!(
            wrong
                .stderr
                .contains("this code belongs to another sign-in"),
            "{wrong:#?}"
        );
        assert_eq!(wrong.stderr.lines().count(), 1, "{wrong:#?}");
    }
    let bad = run(
        &env,
        &mock,
        &["auth", "login", "anthropic", "--code", "garbage"],
    );
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert_eq!(
        env.state()
            .get_accounts(ProviderId::Anthropic, DEFAULT_NAMESPACE, now_ms())
            .len(),
        1
    );
}

#[test]
fn login_openai_device_code() {
    let env = Env::new();
    let mock = Mock::fast();
    let out = run(&env, &mock, &["auth", "login", "openai", "--device"]);
    out.ok();
    assert!(out.stdout.contains("/codex/device"), "{}", out.stdout);
    assert!(out.stdout.contains("and enter the code "), "{}", out.stdout);
    assert!(out.stdout.contains("Logged in as "), "{}", out.stdout);
    assert!(
        out.stdout.trim_end().ends_with("(openai)"),
        "{}",
        out.stdout
    );
    assert_eq!(active(&env, ProviderId::OpenAi).len(), 1);
}

#[test]
fn login_github_copilot_device_code_and_enterprise() {
    let env = Env::new();
    let mock = Mock::fast();
    let out = run(&env, &mock, &["auth", "login", "github-copilot", "--json"]);
    out.ok();
    assert!(out.stderr.contains("/login/device"), "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["isActive"], true, "{json}");
    let first = json["id"].as_str().unwrap().to_owned();
    let out = run(
        &env,
        &mock,
        &[
            "auth",
            "login",
            "github-copilot",
            "--enterprise",
            "ghe.example.com",
        ],
    );
    out.ok();
    assert!(out.stdout.contains("(github-copilot)"), "{}", out.stdout);
    let now_active = active(&env, ProviderId::GithubCopilot);
    assert_eq!(now_active.len(), 1);
    assert_ne!(now_active[0].id, first, "the newest login is active");
}

#[test]
fn login_openai_browser_with_loopback_callback() {
    let env = Env::new();
    let mock = Mock::fast();
    let mut child = cmd(&env, &mock, &["auth", "login", "openai"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while url.is_none() {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no URL printed");
        url = authorize_url(&line).map(str::to_owned);
    }
    // The "browser": follows the mock's redirect to the CLI's loopback callback.
    let _ = mock.get_text(&url.unwrap());
    let mut rest = String::new();
    while stdout.read_line(&mut rest).unwrap() > 0 {}
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("Logged in as "), "{rest}");
    assert_eq!(active(&env, ProviderId::OpenAi).len(), 1);
}

/// Denied and expired device codes end with exit 1 and one clear line; nothing is stored.
#[test]
fn login_device_code_denied_or_expired_fails_clearly() {
    let env = Env::new();
    let mock = Mock::start(MockConfig {
        device_interval_secs: 1,
        ..MockConfig::default()
    });
    for (deny, expect) in [(true, "denied"), (false, "expired")] {
        let mut child = cmd(&env, &mock, &["auth", "login", "github-copilot"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let code = loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "no code printed");
            if let Some(code) = line.trim().strip_prefix("and enter the code ") {
                break code.to_owned();
            }
        };
        if deny {
            mock.handle.deny_device(&code).unwrap();
        } else {
            mock.handle.expire_device(&code).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert!(
        env.state()
            .get_accounts(ProviderId::GithubCopilot, DEFAULT_NAMESPACE, now_ms())
            .is_empty()
    );
}

/// `rota auth usage` reads the provider URLs from `config.toml` like the app and `rota serve`
/// (here the file, not the environment, points Anthropic at the mock), with the environment over
/// the file.
#[test]
fn usage_reads_provider_urls_from_the_config_file() {
    let env = Env::new();
    let mock = Mock::start(MockConfig::default());
    seed(
        &env,
        &mock,
        NewAccount::new(ProviderId::Anthropic).email("file@example.com"),
    );
    let api_base = format!("{}/anthropic", mock.base());
    std::fs::create_dir_all(env.rota_home()).unwrap();
    std::fs::write(
        env.rota_home().join("config.toml"),
        format!("[providers.anthropic]\napi_base = \"{api_base}\"\n"),
    )
    .unwrap();
    let out = Run::from(env.cmd(&["auth", "usage"]).output().expect("run rota"));
    out.ok();
    assert!(out.stdout.contains("updated just now"), "{}", out.stdout);
    assert!(!out.stdout.contains("fetch failed"), "{}", out.stdout);

    // A variable wins over the file: an unreachable base makes the fetch fail.
    let out = Run::from(
        env.cmd(&["auth", "usage"])
            .env("ROTA_ANTHROPIC_API_BASE", "http://127.0.0.1:9")
            .output()
            .expect("run rota"),
    );
    assert!(out.stdout.contains("fetch failed"), "{}", out.stdout);
}
