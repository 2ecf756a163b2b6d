//! `cargo xtask demo`: Rota filled with demo data, for a first look without real accounts.
//!
//! 1. `rota-mock --demo` on a free port: three accounts per provider with varied usage, one of
//!    each at 100 % (it answers 429).
//! 2. A throwaway `ROTA_HOME` (temp dir, file secrets) where the `demo_seed` example stores those
//!    accounts through `rota-store` as logins would; one OpenAI account's tokens are then revoked
//!    at the mock so Rota itself finds it needs a re-login.
//! 3. `rota auth usage` fetches every account's usage from the mock (the real fetch, recorded in
//!    the store), then the app (debug build) starts against the mock with its gateway on a free
//!    port, and a few requests per provider go through that gateway: the sessions list fills and
//!    the full accounts hit a 429, cool down and rotate.
//!
//! Ctrl-C (or closing the app with Quit) stops the app and the mock and deletes the data.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{build_ui, cargo, setup, status, step, target_dir};

/// The OpenAI account whose tokens the demo revokes (a `needs re-login` to show).
const REVOKED: &str = "grace@example.org";

pub fn demo() -> Result<()> {
    setup(false)?;
    build_ui()?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "no display (DISPLAY/WAYLAND_DISPLAY unset): Rota is a desktop app; start it from a desktop session"
        );
    }
    step("build (app, CLI, mock, demo seeder)");
    status(cargo().args([
        "build",
        "-p",
        "rota-app",
        "-p",
        "rota-cli",
        "-p",
        "rota-mock",
        "-p",
        "rota-e2e",
        "--bins",
        "--example",
        "demo_seed",
    ]))?;
    let bin = target_dir()?.join("debug");
    rota_trim::stage_web_extension(&bin)?;

    let tmp = tempfile::Builder::new().prefix("rota-demo-").tempdir()?;
    let rota_home = tmp.path().join("rota");
    let state_file = tmp.path().join("mock.json");
    let mut procs = Procs::default();
    // Installed before anything starts: the children are in their own process groups (so the
    // terminal's Ctrl-C does not kill them half-way), so xtask must live to stop them.
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the Ctrl-C handler")?;

    step("rota-mock --demo");
    procs.mock = Some(
        Command::new(bin.join("rota-mock"))
            .args(["--demo", "--port", "0", "--state-out"])
            .arg(&state_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting rota-mock")?,
    );
    let mock_base = wait_for(Duration::from_secs(20), "rota-mock's state file", || {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state_file).ok()?).ok()?;
        state["base_url"].as_str().map(str::to_owned)
    })?;
    eprintln!("    listening on {mock_base}");

    seed(&bin, &rota_home, &state_file, &mock_base)?;

    let (gateway_port, token) = start_app(&bin, tmp.path(), &mock_base, &mut procs)?;
    let gateway = format!("127.0.0.1:{gateway_port}");

    step("traffic through the gateway");
    traffic(&gateway, &token);

    eprintln!(
        "\n\x1b[1mRota demo running\x1b[0m\n    mock:    {mock_base}\n    data:    {}\n    gateway: http://{gateway}  (token in api.json)\n    try:     ANTHROPIC_BASE_URL=http://{gateway}/anthropic ANTHROPIC_AUTH_TOKEN={token} <your tool>\n    Ctrl-C stops the app and the mock and deletes the data.",
        rota_home.display()
    );
    loop {
        if stop_rx.recv_timeout(Duration::from_millis(300)).is_ok() {
            eprintln!("\nstopping…");
            break;
        }
        if let Some(Ok(Some(st))) = procs.app.as_mut().map(Child::try_wait) {
            eprintln!("\nthe app exited ({st}); stopping the mock…");
            break;
        }
    }
    drop(procs);
    drop(tmp);
    Ok(())
}

type Headers = [(&'static str, &'static str)];

/// Starts the app (its gateway on a free port) and waits for the gateway: (port, API token).
fn start_app(bin: &Path, tmp: &Path, mock_base: &str, procs: &mut Procs) -> Result<(u16, String)> {
    let rota_home = &tmp.join("rota");
    step("Rota (the app) against the mock");
    let gateway_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // Without a session bus (e.g. over ssh) the app gets a private one; with one, the tray shows
    // in the desktop, and a Rota already running there would take the launch (single instance).
    let private_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none();
    let mut app = if private_bus {
        let mut c = Command::new("dbus-run-session");
        // No accessibility bus to start inside the private session.
        c.env("NO_AT_BRIDGE", "1")
            .arg("--")
            .arg(bin.join("rota-app"));
        c
    } else {
        Command::new(bin.join("rota-app"))
    };
    demo_env(&mut app, rota_home, mock_base);
    app.env("ROTA_GATEWAY_PORT", gateway_port.to_string())
        // WebKit's caches and site data of the throwaway profile stay in the temp dir too.
        .env("XDG_DATA_HOME", tmp.join("xdg-data"))
        .env("XDG_CACHE_HOME", tmp.join("xdg-cache"))
        .stdin(Stdio::null())
        .process_group(0);
    let started = Instant::now();
    procs.app = Some(app.spawn().context("starting rota-app")?);

    let api_file = rota_home.join("api.json");
    let app = procs.app.as_mut().context("the app was not started")?;
    let token = wait_for(
        Duration::from_mins(1),
        "the app's gateway (api.json)",
        || {
            // An exit ends the wait at once; a quick clean one is the single-instance hand-off.
            if let Ok(Some(st)) = app.try_wait() {
                return Some(Err(
                    if st.success() && started.elapsed() < Duration::from_secs(15) {
                        anyhow!(
                            "the app exited at once: a Rota already running in this desktop session took the launch (single instance); quit it and run the demo again"
                        )
                    } else {
                        anyhow!("the app exited ({st})")
                    },
                ));
            }
            let api: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&api_file).ok()?).ok()?;
            (api["port"].as_u64() == Some(u64::from(gateway_port)))
                .then(|| api["token"].as_str().map(str::to_owned))
                .flatten()
                .map(Ok)
        },
    )??;
    Ok((gateway_port, token))
}

/// Stores the mock's accounts, revokes one, fetches everyone's usage.
fn seed(bin: &Path, rota_home: &Path, state_file: &Path, mock_base: &str) -> Result<()> {
    step("demo accounts → throwaway ROTA_HOME");
    status(
        Command::new(bin.join("examples/demo_seed"))
            .arg(rota_home)
            .arg(state_file),
    )?;
    let mock_addr = mock_base.trim_start_matches("http://").to_owned();
    let (code, _) = http(
        &mock_addr,
        "POST",
        &format!("/_mock/accounts/{REVOKED}/expire"),
        &[],
        r#"{"what": "both"}"#,
    )?;
    if code != 200 {
        bail!("rota-mock refused to expire {REVOKED}'s tokens ({code})");
    }
    eprintln!("    revoked {REVOKED}'s tokens at the mock (Rota will ask for a re-login)");

    step("rota auth usage (live fetch from the mock)");
    let mut usage = Command::new(bin.join("rota"));
    usage.args(["auth", "usage"]).stdin(Stdio::null());
    demo_env(&mut usage, rota_home, mock_base);
    // A failed fetch is part of the demo (the revoked account): only a crash would matter, and
    // the app fetches again anyway.
    let _ = usage.status();
    Ok(())
}

/// What every Rota process of the demo shares: the data dir, file secrets, the mock.
fn demo_env(cmd: &mut Command, rota_home: &Path, mock_base: &str) {
    cmd.env("ROTA_HOME", rota_home)
        .env("ROTA_SECRET_STORE", "file")
        .env("ROTA_PROVIDERS_MOCK_BASE", mock_base)
        .env("ROTA_NO_BROWSER", "1");
}

/// A few requests per provider, each tool with its own session id, as coding tools send them.
/// Failures are reported, not fatal: the app still shows what it saw.
fn traffic(gateway: &str, token: &str) {
    let auth = format!("Bearer {token}");
    let anthropic = |stream: bool, text: &str| {
        serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 512, "stream": stream,
            "messages": [{"role": "user", "content": text}],
        })
        .to_string()
    };
    let openai = |text: &str| {
        serde_json::json!({
            "model": "gpt-5-codex", "stream": true,
            "input": [{"role": "user", "content": text}],
        })
        .to_string()
    };
    let copilot = |stream: bool, text: &str| {
        serde_json::json!({
            "model": "gpt-4.1", "stream": stream,
            "messages": [{"role": "user", "content": text}],
        })
        .to_string()
    };
    let claude = [
        ("x-claude-code-session-id", "demo-claude-code-1"),
        ("user-agent", "claude-cli/2.0.14 (external, cli)"),
    ];
    let claude2 = [
        ("x-claude-code-session-id", "demo-claude-code-2"),
        ("user-agent", "claude-cli/2.0.14 (external, cli)"),
    ];
    let codex = [
        ("session_id", "demo-codex-1"),
        ("user-agent", "codex_cli_rs/0.50.0"),
    ];
    let opencode = [
        ("x-session-id", "demo-opencode-1"),
        ("user-agent", "opencode/0.15.0"),
    ];
    let requests: Vec<(&str, &Headers, String)> = vec![
        (
            "/anthropic/v1/messages",
            &claude,
            anthropic(true, "Explain this repository's layout."),
        ),
        (
            "/anthropic/v1/messages",
            &claude,
            anthropic(true, "Write tests for the store."),
        ),
        (
            "/anthropic/v1/messages",
            &claude,
            anthropic(false, "Summarise the diff."),
        ),
        (
            "/anthropic/v1/messages",
            &claude2,
            anthropic(true, "Why does the build fail?"),
        ),
        (
            "/openai/responses",
            &codex,
            openai("Refactor main.rs into modules."),
        ),
        ("/openai/responses", &codex, openai("Add error handling.")),
        (
            "/github-copilot/chat/completions",
            &opencode,
            copilot(true, "Rename this function."),
        ),
        (
            "/github-copilot/chat/completions",
            &opencode,
            copilot(false, "Fix the lint."),
        ),
    ];
    for (path, headers, body) in &requests {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        h.push(("authorization", &auth));
        match http(gateway, "POST", path, &h, body) {
            Ok((code, _)) => eprintln!("    POST {path} → {code}"),
            Err(e) => eprintln!("    POST {path} failed: {e:#}"),
        }
    }
}

/// A minimal HTTP/1.1 request (loopback only, `Connection: close`, body read to the end):
/// enough for the mock's control API and a few gateway calls, without an HTTP client crate.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_mins(1)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status from {addr}{path}"))?;
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, body.to_owned()))
}

fn wait_for<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("{what} not ready within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The demo's processes, each the leader of its own process group (a terminal's Ctrl-C reaches
/// only xtask, which then stops them in order); stopped on drop, also on an early error.
#[derive(Default)]
struct Procs {
    mock: Option<Child>,
    app: Option<Child>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        // The app first: it may still be talking to the mock.
        for child in [self.app.as_mut(), self.mock.as_mut()]
            .into_iter()
            .flatten()
        {
            stop_group(child);
        }
    }
}

/// SIGTERM to the child's process group (the app's WebKit processes, a private D-Bus), then
/// SIGKILL after 5 s.
fn stop_group(child: &mut Child) {
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            // Stragglers in the group (e.g. a WebKit helper) go too.
            let _ = killpg(pgid, Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
}
