//! `rota serve` as a process: the real binary against a temporary `ROTA_HOME` (file secrets)
//! with the providers pointed at rota-mock. Start on a free port, `api.json` (0600), `/healthz`,
//! a proxied `POST /v1/messages` reaching the mock with the active account's token, a
//! `rota auth switch` from another process taking effect on the next request, SIGTERM → exit 0,
//! and a busy port → exit 1 with one clear line.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::Env;
use rota_core::Ulid;
use rota_mock::{AccountInfo, MockConfig, MockHandle, MockServer, NewAccount};
use rota_types::ProviderId;

struct Mock {
    runtime: tokio::runtime::Runtime,
    handle: MockHandle,
    client: reqwest::Client,
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
        // A reqwest client with rustls on ring installed (the CLI's own HTTP stack).
        let client =
            rota_providers::http_client(&rota_providers::ProvidersConfig::default()).unwrap();
        Self {
            runtime,
            handle,
            client,
        }
    }

    /// The mock accounts `/v1/messages` requests were made as, in order.
    fn message_accounts(&self) -> Vec<String> {
        self.handle
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/v1/messages"))
            .map(|r| r.account.unwrap_or_default())
            .collect()
    }
}

/// An Anthropic account at the mock, stored with its current tokens (it becomes active).
fn seed(env: &Env, mock: &Mock, email: &str) -> (AccountInfo, Ulid) {
    let info = mock
        .handle
        .add_account(NewAccount::new(ProviderId::Anthropic).email(email));
    let id = env.store_mock_account(&info);
    (info, id)
}

/// A running `rota serve`; killed on drop if a test failed before stopping it.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
    base: String,
}

impl Serve {
    fn start(env: &Env, mock: &Mock, port: &str) -> Self {
        let mut child = env
            .cmd(&["serve", "--port", port])
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.handle.base_url())
            .env("ROTA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rota serve");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Self {
            child,
            lines,
            stderr: Vec::new(),
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while serve.base.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = serve.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no address within 20 s; stderr so far: {:?}", serve.stderr)
            });
            if let Some(rest) = line.strip_prefix("rota gateway listening on ") {
                rest.split_whitespace()
                    .next()
                    .unwrap()
                    .clone_into(&mut serve.base);
            }
            serve.stderr.push(line);
        }
        serve
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits for the exit; returns the status and how long
    /// it took.
    fn signal(&mut self, signal: &str) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "rota serve did not exit within 10 s of {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn rest_of_stderr(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        self.stderr.clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn api_file(env: &Env) -> PathBuf {
    env.rota_home().join("api.json")
}

fn post_message(mock: &Mock, serve: &Serve, token: &str) -> (u16, String) {
    // As Claude Code sends it (the Anthropic route and strict rota-mock take only its requests).
    let body = rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hello", false);
    mock.runtime.block_on(async {
        let resp = mock
            .client
            .post(format!("{}/anthropic/v1/messages", serve.base))
            .header("x-api-key", token)
            .header("anthropic-version", "2023-06-01")
            .header("user-agent", rota_mock::claude_code::USER_AGENT)
            .json(&body)
            .send()
            .await
            .expect("POST /anthropic/v1/messages");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    })
}

#[test]
fn serve_proxies_follows_switches_and_stops_on_sigterm() {
    let env = Env::new();
    let mock = Mock::start();
    let (first, first_id) = seed(&env, &mock, "first@example.com");
    let (second, _) = seed(&env, &mock, "second@example.com"); // active: the newest login

    let started = Instant::now();
    let mut serve = Serve::start(&env, &mock, "0");
    eprintln!("rota serve ready in {:?}", started.elapsed());

    // The announcement: address, where the token is, and the base-URL hint; never the token.
    let announce = serve.stderr.last().unwrap().clone();
    assert!(
        announce.contains(&api_file(&env).display().to_string()),
        "{announce}"
    );
    // Then one line per tool leading to a working tool in one step, and the SDK line.
    let hint = serve.lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        hint.trim()
            .starts_with("Claude Code: not connected — connect it in one step: ")
            && hint.trim().ends_with("rota connect claude-code"),
        "{hint}"
    );
    serve.stderr.push(hint);
    for tool in ["codex", "opencode"] {
        let hint = serve.lines.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            hint.trim().ends_with(&format!("rota connect {tool}")),
            "{hint}"
        );
        serve.stderr.push(hint);
    }
    let hint = serve.lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(hint.contains("rota env"), "{hint}");
    serve.stderr.push(hint);

    // api.json: {port, token}, 0600, matching the announced address.
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(api_file(&env)).unwrap()).unwrap();
    let port = api["port"].as_u64().unwrap();
    assert_ne!(port, 0);
    assert_eq!(serve.base, format!("http://127.0.0.1:{port}"));
    let token = api["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(api_file(&env))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // /healthz needs no token.
    let health: serde_json::Value = mock.runtime.block_on(async {
        mock.client
            .get(format!("{}/healthz", serve.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(health["ok"], true, "{health}");

    // Without the token the proxy refuses.
    let (status, _) = post_message(&mock, &serve, "wrong");
    assert_eq!(status, 401);
    assert!(mock.message_accounts().is_empty());

    // Proxied with the active account's token.
    let t = Instant::now();
    let (status, body) = post_message(&mock, &serve, &token);
    eprintln!("first proxied request took {:?}", t.elapsed());
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.message_accounts(), vec![second.id.clone()]);
    let logged = mock.handle.requests();
    let last = logged
        .iter()
        .rfind(|r| r.path.ends_with("/v1/messages"))
        .unwrap();
    assert_eq!(
        last.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {}", second.access_token).as_str())
    );

    // `rota auth switch` in another process: the next request uses the other account.
    let switched = env.run(&["auth", "switch", "anthropic", &first_id.to_string()]);
    assert_eq!(switched.code, 0, "{}", switched.stderr);
    let (status, body) = post_message(&mock, &serve, &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        mock.message_accounts(),
        vec![second.id.clone(), first.id.clone()]
    );

    // SIGTERM: clean, quick exit 0.
    let (status, took) = serve.signal("-TERM");
    eprintln!("rota serve exited {status:?} {took:?} after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Secrets never reach the output.
    let stderr = serve.rest_of_stderr().join("\n");
    for secret in [
        token.as_str(),
        first.access_token.as_str(),
        second.access_token.as_str(),
    ] {
        assert!(!stderr.contains(secret), "a secret leaked:\n{stderr}");
    }
}

#[test]
fn serve_stops_cleanly_on_sigint() {
    let env = Env::new();
    let mock = Mock::start();
    let mut serve = Serve::start(&env, &mock, "0");
    let (status, took) = serve.signal("-INT");
    assert_eq!(status.code(), Some(0), "{:?}", serve.rest_of_stderr());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn serve_on_a_busy_port_exits_1_with_one_line() {
    let env = Env::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = env
        .cmd(&["serve", "--port", &port.to_string()])
        .env("ROTA_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(&format!("port {port}")),
        "{stderr}"
    );
    assert!(stderr.contains("already in use"), "{stderr}");
    drop(busy);
}

#[test]
fn serve_takes_the_port_from_the_environment() {
    let env = Env::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    // The env port is used (and busy here) when --port is absent.
    let out = env
        .cmd(&["serve"])
        .env("ROTA_GATEWAY_PORT", &port)
        .env("ROTA_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("port {port}")));
    // Garbage is a usage error.
    let out = env
        .cmd(&["serve"])
        .env("ROTA_GATEWAY_PORT", "http")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROTA_GATEWAY_PORT"));
    drop(busy);
}

#[test]
fn serve_takes_the_port_from_the_config_file() {
    let env = Env::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    std::fs::create_dir_all(env.rota_home()).unwrap();
    let config = env.rota_home().join("config.toml");
    std::fs::write(&config, format!("[gateway]\nport = {port}\n")).unwrap();
    let out = env.cmd(&["serve"]).env("ROTA_LOG", "off").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("port {port}")));
    // A broken file: exit 1 naming the file and the key.
    std::fs::write(&config, "[gateway]\nport = \"http\"\n").unwrap();
    let out = env.cmd(&["serve"]).env("ROTA_LOG", "off").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("config.toml") && stderr.contains("port"),
        "{stderr}"
    );
    drop(busy);
}

/// Values the gateway cannot use stop `rota serve` before it listens, with the file and key
/// named (they used to panic its accept loop after "listening" while the process lived on).
#[test]
fn serve_refuses_out_of_range_config_values_before_listening() {
    let env = Env::new();
    std::fs::create_dir_all(env.rota_home()).unwrap();
    let config = env.rota_home().join("config.toml");
    for (key, value) in [
        ("max_connections", "9223372036854775807"),
        ("header_timeout_secs", "18446744073709551615"),
        ("upstream_header_timeout_secs", "0"),
    ] {
        std::fs::write(&config, format!("[gateway]\n{key} = {value}\n")).unwrap();
        let out = env
            .cmd(&["serve", "--port", "0"])
            .env("ROTA_LOG", "off")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{key}: {stderr}");
        assert!(
            stderr.contains("config.toml") && stderr.contains(&format!("[gateway] {key}")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("listening"), "{stderr}");
    }
}
