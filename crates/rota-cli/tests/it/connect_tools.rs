//! The real coding tools through `rota connect` and `rota serve`, offline against rota-mock, in
//! a temporary HOME: after `rota connect <tool>` the tool's plain one-shot command answers; it
//! still answers after the gateway restarts (the key is stable); a scripted 429 on the active
//! account mid-run is rotated without the tool noticing; `rota connect <tool> --undo` puts the
//! tool's file back byte for byte.
//!
//! The tools are the pinned npm packages `cargo xtask setup` installs into `~/.cache/rota-npm`
//! (`ROTA_TOOLS_BIN` names another `.bin` directory). A missing tool fails the test: it is
//! never skipped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::Env;
use rota_mock::{Behavior, LimitWindow, MockConfig, MockHandle, MockServer, NewAccount};
use rota_types::ProviderId;

const REPLY: &str = "Hello from rota-mock. This is a scripted answer.";

/// The directory holding the tools' executables.
fn tools_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROTA_TOOLS_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::home_dir()
        .expect("a home directory")
        .join(".cache/rota-npm/node_modules/.bin")
}

fn tool(name: &str) -> PathBuf {
    let path = tools_bin().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup` (it installs the pinned Claude Code, Codex CLI \
         and opencode from npm into ~/.cache/rota-npm), or set ROTA_TOOLS_BIN",
        path.display()
    );
    path
}

struct Mock {
    _runtime: tokio::runtime::Runtime,
    handle: MockHandle,
}

impl Mock {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime
            .block_on(MockServer::start(MockConfig::default()))
            .unwrap();
        Self {
            _runtime: runtime,
            handle,
        }
    }

    /// The mock accounts that answered requests to paths ending in `suffix`, with statuses.
    fn served(&self, suffix: &str) -> Vec<(String, u16)> {
        self.handle
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .map(|r| (r.account.unwrap_or_default(), r.status))
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `rota serve`, killed on drop.
struct Serve {
    child: Child,
}

impl Serve {
    fn start(env: &Env, mock: &Mock, port: u16, connected: &str) -> Self {
        let mut child = env
            .cmd(&["serve"])
            .env("ROTA_GATEWAY_PORT", port.to_string())
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.handle.base_url())
            .env("ROTA_USAGE_POLLING", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rota serve");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("rota serve did not start: {seen:?}"));
            let last = line.contains("SDKs and other tools");
            seen.push(line);
            if last {
                break;
            }
        }
        // The start-up lines say the connected tool goes through this gateway.
        assert!(
            seen.iter()
                .any(|l| l.trim().starts_with(&format!("{connected}: connected"))),
            "{seen:?}"
        );
        Self { child }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP proxy that answers nothing and notes every connection: the tools get it as their
/// proxy for everything but loopback, so any outside lookup a tool attempts (update check,
/// telemetry, model catalogue) shows up here instead of failing quietly offline.
struct OutsideSink {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl OutsideSink {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let at = log.lock().unwrap().len();
                log.lock().unwrap().push("(connected)".to_owned());
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut first = String::new();
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = BufReader::new(&conn).read_line(&mut first);
                    first.trim().clone_into(&mut log.lock().unwrap()[at]);
                });
            }
        });
        Self { addr, seen }
    }

    /// Waits a moment (a tool may start a lookup as it exits) and checks nothing arrived.
    fn assert_untouched(&self, tool: &str) {
        std::thread::sleep(Duration::from_millis(1500));
        let seen = self.seen.lock().unwrap();
        assert!(
            seen.is_empty(),
            "{tool} tried to reach the outside: {seen:?}"
        );
    }
}

/// The tool's command in the test HOME: only PATH (for node), the outside sink as proxy, and
/// the variables given; every outside lookup switched off by the tool's documented settings.
fn tool_cmd(env: &Env, exe: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let proxy = format!("http://{}", env_sink().addr);
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .current_dir(env.home())
        .stdin(Stdio::null());
    for k in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
    ] {
        cmd.env(k, &proxy);
    }
    for k in ["NO_PROXY", "no_proxy"] {
        cmd.env(k, "127.0.0.1,localhost,::1");
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// One sink per test process (the tests share it; any entry fails the test that checks).
fn env_sink() -> &'static OutsideSink {
    static SINK: std::sync::OnceLock<OutsideSink> = std::sync::OnceLock::new();
    SINK.get_or_init(OutsideSink::start)
}

/// Runs a command with a deadline; returns (success, stdout, stderr).
fn run_with_timeout(mut cmd: Command, secs: u64) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tool");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(s) => (s.success(), out, err),
        None => (false, out, format!("timed out after {secs} s\n{err}")),
    }
}

/// Claude Code's variables: no telemetry, error reports, auto-update or other non-essential
/// traffic (`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`, which covers `DISABLE_AUTOUPDATER`,
/// `DISABLE_TELEMETRY`, `DISABLE_ERROR_REPORTING`, `DISABLE_BUG_COMMAND`).
const CLAUDE_VARS: &[(&str, &str)] = &[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")];

fn claude_answers(env: &Env, claude: &Path) {
    let cmd = tool_cmd(env, claude, &["-p", "Say hello"], CLAUDE_VARS);
    let (ok, out, err) = run_with_timeout(cmd, 120);
    assert!(ok, "claude -p failed\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains(REPLY),
        "claude -p answered {out:?}\nstderr: {err}"
    );
    env_sink().assert_untouched("claude");
}

#[test]
fn claude_code_connects_survives_a_restart_rotates_a_429_and_undoes_exactly() {
    let claude = tool("claude");
    let env = Env::new();
    let mock = Mock::start();
    let first = mock
        .handle
        .add_account(NewAccount::new(ProviderId::Anthropic).email("one@example.com"));
    env.store_mock_account(&first);
    let second = mock
        .handle
        .add_account(NewAccount::new(ProviderId::Anthropic).email("two@example.com"));
    env.store_mock_account(&second);
    // `second` is active (the last login); the first answer comes from it.
    let port = free_port();

    // The user's own settings, with a key Rota does not set: kept, and restored byte for byte.
    let settings = env.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = b"{\n    \"model\": \"sonnet\",\n    \"env\": { \"MY_VAR\": \"1\" }\n}\n";
    std::fs::write(&settings, original).unwrap();

    let connect = env
        .cmd(&["connect", "claude-code"])
        .env("ROTA_GATEWAY_PORT", port.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&connect.stdout);
    assert!(
        connect.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&connect.stderr)
    );
    assert!(text.contains("Claude Code now goes through Rota"), "{text}");
    assert!(text.contains("nothing listens on port"), "{text}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(written["model"], "sonnet");
    assert_eq!(written["env"]["MY_VAR"], "1");
    assert_eq!(
        written["env"]["ANTHROPIC_BASE_URL"],
        format!("http://127.0.0.1:{port}/anthropic")
    );
    let key = written["env"]["ANTHROPIC_AUTH_TOKEN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("rota_"));

    let serve = Serve::start(&env, &mock, port, "Claude Code");
    claude_answers(&env, &claude);
    let served = mock.served("/v1/messages");
    assert!(
        served.iter().any(|(a, s)| a == &second.id && *s == 200),
        "{served:?}"
    );

    // Restart: a new gateway process, the same key in the same file.
    serve.stop();
    // The stopped gateway noted when it last saw the connection.
    let list = env
        .cmd(&["connect", "--list"])
        .env("ROTA_GATEWAY_PORT", port.to_string())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let row = list
        .lines()
        .find(|l| l.contains("claude-code"))
        .unwrap_or_default();
    assert!(
        row.contains("connected to this Rota") && row.contains("last request"),
        "{list}"
    );
    let serve = Serve::start(&env, &mock, port, "Claude Code");
    claude_answers(&env, &claude);
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(after["env"]["ANTHROPIC_AUTH_TOKEN"], key.as_str());

    // A quota 429 on the active account: the gateway rotates, Claude Code gets its answer.
    mock.handle.clear_requests();
    mock.handle
        .set_sticky(
            &second.id,
            Behavior::RateLimit {
                reset_in_seconds: 3600,
                window: LimitWindow::default(),
            },
        )
        .unwrap();
    claude_answers(&env, &claude);
    let served = mock.served("/v1/messages");
    assert!(
        served.iter().any(|(a, s)| a == &second.id && *s == 429),
        "the 429 was served: {served:?}"
    );
    assert!(
        served.iter().any(|(a, s)| a == &first.id && *s == 200),
        "rotated to the other account: {served:?}"
    );
    serve.stop();

    // Undo: the file byte for byte, the key revoked.
    let undo = env.run(&["connect", "claude-code", "--undo"]);
    assert_eq!(undo.code, 0, "{} {}", undo.stdout, undo.stderr);
    assert!(undo.stdout.contains("Restored"), "{}", undo.stdout);
    assert_eq!(std::fs::read(&settings).unwrap(), original);
    assert!(
        env.store()
            .existing_local_key("claude-code")
            .unwrap()
            .is_none()
    );
}

/// `rota connect <tool>` with the test's gateway port; panics with the output on failure.
fn connect(env: &Env, tool: &str, port: u16) -> String {
    let out = env
        .cmd(&["connect", tool])
        .env("ROTA_GATEWAY_PORT", port.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Two OpenAI accounts at the mock, stored; returns (first, second), the second active.
fn seed_openai(env: &Env, mock: &Mock) -> (rota_mock::AccountInfo, rota_mock::AccountInfo) {
    let first = mock
        .handle
        .add_account(NewAccount::new(ProviderId::OpenAi).email("one@example.com"));
    env.store_mock_account(&first);
    let second = mock
        .handle
        .add_account(NewAccount::new(ProviderId::OpenAi).email("two@example.com"));
    env.store_mock_account(&second);
    (first, second)
}

/// Codex's outside lookups off by its config keys (given with `-c`): the update check
/// (`check_for_update_on_startup`), the metrics it sends to `ab.chatgpt.com`
/// (`analytics.enabled`), and the plugin catalogue synced from GitHub and chatgpt.com at start
/// (`features.plugins`).
fn codex_answers(env: &Env, codex: &Path) {
    let cmd = tool_cmd(
        env,
        codex,
        &[
            "exec",
            "--skip-git-repo-check",
            "-c",
            "check_for_update_on_startup=false",
            "-c",
            "analytics.enabled=false",
            "-c",
            "features.plugins=false",
            "Say hello",
        ],
        &[],
    );
    let (ok, out, err) = run_with_timeout(cmd, 120);
    assert!(ok, "codex exec failed\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains(REPLY),
        "codex exec answered {out:?}\nstderr: {err}"
    );
    env_sink().assert_untouched("codex");
}

#[test]
fn codex_connects_survives_a_restart_rotates_a_429_and_undoes_exactly() {
    let codex = tool("codex");
    let env = Env::new();
    let mock = Mock::start();
    let (first, second) = seed_openai(&env, &mock);
    let port = free_port();

    let config = env.home().join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let original = b"# mine\nmodel_reasoning_effort = \"low\"\n\n[tui]\nnotifications = false\n";
    std::fs::write(&config, original).unwrap();

    let text = connect(&env, "codex", port);
    assert!(text.contains("Codex CLI now goes through Rota"), "{text}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with("# mine\n"), "{written}");
    assert!(
        written.contains("[tui]\nnotifications = false"),
        "{written}"
    );
    assert!(written.contains("model_provider = \"rota\""), "{written}");

    let serve = Serve::start(&env, &mock, port, "Codex CLI");
    codex_answers(&env, &codex);
    assert!(
        mock.served("/codex/responses")
            .iter()
            .any(|(a, s)| a == &second.id && *s == 200),
        "{:?}",
        mock.served("/codex/responses")
    );
    serve.stop();
    let serve = Serve::start(&env, &mock, port, "Codex CLI");
    codex_answers(&env, &codex);

    mock.handle.clear_requests();
    mock.handle
        .set_sticky(
            &second.id,
            Behavior::UsageLimitReached {
                resets_in_seconds: 3600,
            },
        )
        .unwrap();
    codex_answers(&env, &codex);
    let served = mock.served("/codex/responses");
    assert!(
        served.iter().any(|(a, s)| a == &second.id && *s == 429),
        "the 429 was served: {served:?}"
    );
    assert!(
        served.iter().any(|(a, s)| a == &first.id && *s == 200),
        "rotated to the other account: {served:?}"
    );
    serve.stop();

    let undo = env.run(&["connect", "codex", "--undo"]);
    assert_eq!(undo.code, 0, "{} {}", undo.stdout, undo.stderr);
    assert_eq!(std::fs::read(&config).unwrap(), original);
    assert!(env.store().existing_local_key("codex").unwrap().is_none());
}

/// opencode's outside lookups off by its documented variables: update checks, the models.dev
/// catalogue fetch (it uses the snapshot it ships), LSP downloads, default plugins (installed
/// from npm at start).
const OPENCODE_VARS: &[(&str, &str)] = &[
    ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
    ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
    ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
    ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
];

fn opencode_answers(env: &Env, opencode: &Path) {
    let cmd = tool_cmd(
        env,
        opencode,
        &["run", "--model", "openai/gpt-5.3-codex", "Say hello"],
        OPENCODE_VARS,
    );
    let (ok, out, err) = run_with_timeout(cmd, 180);
    assert!(ok, "opencode run failed\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains(REPLY),
        "opencode run answered {out:?}\nstderr: {err}"
    );
    env_sink().assert_untouched("opencode");
}

#[test]
fn opencode_connects_survives_a_restart_rotates_a_429_and_undoes_exactly() {
    let opencode = tool("opencode");
    let env = Env::new();
    let mock = Mock::start();
    let (first, second) = seed_openai(&env, &mock);
    let port = free_port();

    let config = env.home().join(".config/opencode/opencode.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let original = b"{\n  \"$schema\": \"https://opencode.ai/config.json\",\n  \"autoupdate\": false,\n  \"share\": \"disabled\"\n}\n";
    std::fs::write(&config, original).unwrap();

    // opencode installs `@opencode-ai/plugin` from the npm registry into its config directory
    // (in the background, at every start) unless `package.json` and `package-lock.json` there
    // already name it and `node_modules` exists; no setting turns that off. This is the state
    // that install leaves, so the offline run has nothing to fetch.
    let dir = config.parent().unwrap();
    std::fs::create_dir_all(dir.join("node_modules")).unwrap();
    std::fs::write(
        dir.join("package.json"),
        r#"{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("package-lock.json"),
        r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}"#,
    )
    .unwrap();

    let text = connect(&env, "opencode", port);
    assert!(text.contains("opencode now goes through Rota"), "{text}");
    assert!(
        text.contains("Anthropic models keep opencode's own set-up"),
        "{text}"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(written["share"], "disabled");
    assert_eq!(
        written["provider"]["openai"]["options"]["baseURL"],
        format!("http://127.0.0.1:{port}/openai")
    );
    assert!(written["provider"].get("anthropic").is_none());

    let serve = Serve::start(&env, &mock, port, "opencode");
    opencode_answers(&env, &opencode);
    assert!(
        mock.served("/codex/responses")
            .iter()
            .any(|(a, s)| a == &second.id && *s == 200),
        "{:?}",
        mock.served("/codex/responses")
    );
    serve.stop();
    let serve = Serve::start(&env, &mock, port, "opencode");
    opencode_answers(&env, &opencode);

    mock.handle.clear_requests();
    mock.handle
        .set_sticky(
            &second.id,
            Behavior::UsageLimitReached {
                resets_in_seconds: 3600,
            },
        )
        .unwrap();
    opencode_answers(&env, &opencode);
    let served = mock.served("/codex/responses");
    assert!(
        served.iter().any(|(a, s)| a == &second.id && *s == 429),
        "the 429 was served: {served:?}"
    );
    assert!(
        served.iter().any(|(a, s)| a == &first.id && *s == 200),
        "rotated to the other account: {served:?}"
    );
    serve.stop();

    let undo = env.run(&["connect", "opencode", "--undo"]);
    assert_eq!(undo.code, 0, "{} {}", undo.stdout, undo.stderr);
    assert_eq!(std::fs::read(&config).unwrap(), original);
}
