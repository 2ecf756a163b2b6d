//! End to end: `rota serve` hosts the usage poller and the autopilot. Once it has polled every
//! account, a usage rise scripted in rota-mock reaches the store through a proxied request's
//! rate-limit headers; the autopilot switches proactively and
//! rewrites Claude Code's login file in the fake HOME with the new active account.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::common::Env;
use rota_mock::{MockConfig, MockHandle, MockServer, NewAccount, Usage, Window};
use rota_types::{ProviderId, SwitchReason};

struct Serve(Child);

/// `rota serve` with a quick autopilot (no dwell, 200 ms ticks): the process, its stderr lines,
/// its base URL and the API token.
fn start_serve(env: &Env, mock: &MockHandle) -> (Serve, Receiver<String>, String, String) {
    let mut child = env
        .cmd(&["serve", "--port", "0"])
        .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
        .env("ROTA_PROACTIVE_DWELL_SECS", "0")
        .env("ROTA_AUTOPILOT_TICK_MS", "200")
        .env("ROTA_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let serve = Serve(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let base = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("rota serve announces its address");
        if let Some(rest) = line.strip_prefix("rota gateway listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.rota_home().join("api.json")).unwrap()).unwrap();
    let token = api["token"].as_str().unwrap().to_owned();

    (serve, rx, base, token)
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn usage(five: f64) -> Usage {
    Usage::windows(Window::new(five, 3 * 3600), Window::new(20.0, 5 * 86_400))
}

#[test]
fn usage_rise_makes_serve_switch_and_rewrite_the_claude_code_file() {
    let env = Env::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock: MockHandle = runtime
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let first = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("first@example.com")
            .usage(usage(10.0)),
    );
    let second = mock.add_account(
        NewAccount::new(ProviderId::Anthropic)
            .email("second@example.com")
            .usage(usage(50.0)),
    );
    let first_id = env.store_mock_account(&first);
    env.store_mock_account(&second); // active: the newest login
    let with_mock = |args: &[&str]| {
        let out = env
            .cmd(args)
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
            .output()
            .unwrap();
        crate::common::Run::from(out)
    };
    // Hand-off and proactive are on; usage is not known yet (serve's poller fetches it).
    with_mock(&["auth", "handoff", "anthropic", "on"]).ok();
    with_mock(&["auth", "proactive", "anthropic", "on"]).ok();
    let file = env.home().join(".claude").join(".credentials.json");
    let holds = || -> String {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        v["claudeAiOauth"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(holds(), second.access_token);

    let (serve, rx, base, token) = start_serve(&env, &mock);

    // `rota serve` polls every account's usage in the background.
    let deadline = Instant::now() + Duration::from_secs(15);
    while env
        .state()
        .get_accounts(ProviderId::Anthropic, rota_types::DEFAULT_NAMESPACE, 0)
        .iter()
        .any(|a| a.usage.is_none())
    {
        assert!(Instant::now() < deadline, "serve did not poll usage");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The active account's 5-hour window jumps to 96 %; the next proxied response says so.
    mock.set_usage(&second.id, usage(96.0)).unwrap();
    let client = rota_providers::http_client(&rota_providers::ProvidersConfig::default()).unwrap();
    let status = runtime.block_on(async {
        client
            .post(format!("{base}/anthropic/v1/messages"))
            .header("x-api-key", &token)
            .header("anthropic-version", "2023-06-01")
            .header("user-agent", rota_mock::claude_code::USER_AGENT)
            .json(&rota_mock::claude_code::messages_body(
                "claude-sonnet-4-5",
                "hi",
                false,
            ))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);

    let deadline = Instant::now() + Duration::from_secs(15);
    while holds() != first.access_token {
        assert!(
            Instant::now() < deadline,
            "the file still holds the exhausted account; serve said: {:?}",
            rx.try_iter().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(serve);
    let state = env.state();
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason, SwitchReason::Proactive);
    assert_eq!(last.to, first_id.to_string());
    assert_eq!(last.reason_text(), "proactive (5-hour at 96 %)");
    let log = env.run(&["auth", "log", "anthropic"]);
    assert!(
        log.ok().stdout.contains("proactive (5-hour at 96 %)"),
        "{}",
        log.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
