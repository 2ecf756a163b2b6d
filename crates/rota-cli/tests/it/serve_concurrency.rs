//! The CLI and a running gateway mutating the same store concurrently — nothing lost: while a
//! client sends requests through `rota serve` (the mock answering some with quota 429s, so the
//! gateway writes cooldowns and rotations and batches success counters), `rota auth rename` and
//! `rota auth switch` processes run. Afterwards every mutation of both sides is in the store.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::Env;
use rota_core::Ulid;
use rota_mock::{Behavior, LimitWindow, MockConfig, MockHandle, MockServer, NewAccount};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};

const CLIENT_THREADS: usize = 3;
const REQUESTS_PER_THREAD: usize = 20;
const RENAMES: usize = 10;
const SWITCHES: usize = 10;

struct Mock {
    runtime: tokio::runtime::Runtime,
    handle: MockHandle,
    client: reqwest::Client,
}

/// An Anthropic account at the mock, stored with its tokens (it becomes active); returns the
/// mock account id and the store id.
fn seed(env: &Env, mock: &Mock, email: &str) -> (String, Ulid) {
    let info = mock
        .handle
        .add_account(NewAccount::new(ProviderId::Anthropic).email(email));
    let id = env.store_mock_account(&info);
    (info.id, id)
}

/// A running `rota serve` (info log on stderr, collected by a thread); killed on drop.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    base: String,
}

impl Serve {
    fn start(env: &Env, mock: &Mock) -> Self {
        let mut child = env
            .cmd(&["serve", "--port", "0"])
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.handle.base_url())
            .env("ROTA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rota serve");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = lines
            .iter()
            .find(|l| l.starts_with("rota gateway listening on "))
            .expect("rota serve announces its address");
        let base = line["rota gateway listening on ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Self { child, lines, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post_message(mock: &Mock, base: &str, token: &str) -> (u16, String) {
    // As Claude Code sends it (the Anthropic route and strict rota-mock take only its requests).
    let body = rota_mock::claude_code::messages_body("claude-sonnet-4-5", "hello", false);
    mock.runtime.block_on(async {
        let resp = mock
            .client
            .post(format!("{base}/anthropic/v1/messages"))
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

fn quota_429(mock: &Mock, account: &str, times: usize) {
    for _ in 0..times {
        mock.handle
            .push_behavior(
                account,
                Behavior::RateLimit {
                    reset_in_seconds: 2,
                    window: LimitWindow::FiveHour,
                },
            )
            .unwrap();
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
fn cli_and_gateway_mutate_the_store_concurrently_and_nothing_is_lost() {
    let env = Env::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let client = rota_providers::http_client(&rota_providers::ProvidersConfig::default()).unwrap();
    let mock = Mock {
        runtime,
        handle,
        client,
    };
    let seeded: Vec<(String, Ulid)> = ["a@example.com", "b@example.com", "c@example.com"]
        .iter()
        .map(|e| seed(&env, &mock, e))
        .collect();
    let ids: Vec<Ulid> = seeded.iter().map(|s| s.1).collect();
    let store_id: HashMap<String, Ulid> = seeded.iter().cloned().collect();
    // The newest login is active: `first` in rotation order.
    let (third, second, first) = (&seeded[0].0, &seeded[1].0, &seeded[2].0);

    let mut serve = Serve::start(&env, &mock);
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.rota_home().join("api.json")).unwrap()).unwrap();
    let token = api["token"].as_str().unwrap().to_owned();

    // Warm-up, alone: first 429s → second, second 429s → third, third answers. Two rotations for certain.
    quota_429(&mock, first, 3);
    quota_429(&mock, second, 3);
    let (status, body) = post_message(&mock, &serve.base, &token);
    assert_eq!(status, 200, "{body}");
    let warm = env.state();
    let rotated = warm
        .switch_log
        .iter()
        .filter(|e| e.reason.as_str().starts_with("rate_limited"))
        .count();
    assert_eq!(rotated, 2, "{:?}", warm.switch_log);
    quota_429(&mock, third, 2);

    // (a) Clients through the gateway, paced a little so they overlap the CLI runs.
    let mut ok = 1usize; // the warm-up
    let counted = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENT_THREADS)
            .map(|_| {
                let (mock, base, token) = (&mock, serve.base.as_str(), token.as_str());
                s.spawn(move || {
                    let mut ok = 0usize;
                    for _ in 0..REQUESTS_PER_THREAD {
                        let (status, body) = post_message(mock, base, token);
                        match status {
                            200 => ok += 1,
                            // The gateway's own answer while every account cools down.
                            429 | 502 if body.contains("all_accounts_") => {
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            _ => panic!("unexpected {status}: {body}"),
                        }
                        std::thread::sleep(Duration::from_millis(15));
                    }
                    ok
                })
            })
            .collect();

        // (b) Renames: one chain per account (so the last one is known), chains in parallel.
        let renames: Vec<_> = (0..ids.len())
            .map(|k| {
                let (env, id, step) = (&env, ids[k].to_string(), ids.len());
                s.spawn(move || {
                    for n in (k..RENAMES).step_by(step) {
                        let out =
                            env.run(&["auth", "rename", "anthropic", &id, &format!("label-{n}")]);
                        assert_eq!(out.code, 0, "{}", out.stderr);
                    }
                })
            })
            .collect();
        // Switches: all at once; stdout says whether each one changed the active account.
        let switches: Vec<Child> = (0..SWITCHES)
            .map(|i| {
                env.cmd(&[
                    "auth",
                    "switch",
                    "anthropic",
                    &ids[i % ids.len()].to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let mut switch_logged = 0usize;
        for child in switches {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if stdout.starts_with("Switched") {
                switch_logged += 1;
            } else {
                assert!(stdout.contains("already the active"), "{stdout}");
            }
        }
        for r in renames {
            r.join().unwrap();
        }
        for client in clients {
            ok += client.join().unwrap();
        }
        switch_logged
    });

    // SIGTERM: the gateway flushes its batched counters and exits 0.
    let pid = serve.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rota serve ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr: Vec<String> = serve.lines.iter().collect();
    assert_eq!(status.code(), Some(0), "{stderr:#?}");

    // state.json is whole JSON; the store reads it.
    let raw = std::fs::read(env.rota_home().join("state.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&raw).expect("state.json parses");
    let state = env.state();

    // Renames: the last of each chain won.
    for (k, id) in ids.iter().enumerate() {
        let last = (k..RENAMES).step_by(ids.len()).next_back().unwrap();
        let r = state.record(ProviderId::Anthropic, *id).unwrap();
        assert_eq!(r.label, format!("label-{last}"));
    }

    // Switch log: logins (seeding), the CLI's switches, the gateway's rotations; nothing else.
    let by_reason = |p: fn(&str) -> bool| {
        state
            .switch_log
            .iter()
            .filter(|e| p(e.reason.as_str()))
            .count()
    };
    assert_eq!(
        by_reason(|r| r == "manual:cli"),
        counted,
        "{:?}",
        state.switch_log
    );
    let gateway_rotations = stderr
        .iter()
        .filter(|l| l.contains("switched account"))
        .count();
    assert!(gateway_rotations >= 2, "{stderr:#?}");
    assert_eq!(
        by_reason(|r| r.starts_with("rate_limited")),
        gateway_rotations,
        "{:?}\n{stderr:#?}",
        state.switch_log
    );
    assert_eq!(
        by_reason(|r| r == "login")
            + by_reason(|r| r == "manual:cli")
            + by_reason(|r| r.starts_with("rate_limited")),
        state.switch_log.len()
    );
    let prefix = &state.switch_log[state.switch_log.len() - counted - gateway_rotations];
    assert_eq!(prefix.reason.as_str(), "rate_limited:five_hour"); // the warm-up's first

    // Counters: per account, successes = the mock's 200s, failures = the mock's 429s; the total
    // of successes = the 200s the clients got.
    let mut answered: HashMap<Ulid, (u64, u64)> = HashMap::new();
    for r in mock
        .handle
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
    {
        let id = store_id[r.account.as_deref().unwrap()];
        let seen = answered.entry(id).or_default();
        match r.status {
            200 => seen.0 += 1,
            429 => seen.1 += 1,
            other => panic!("the mock answered {other}"),
        }
    }
    let mut successes = 0;
    for id in &ids {
        let h = &state.record(ProviderId::Anthropic, *id).unwrap().health;
        let (ok200, limited) = answered.get(id).copied().unwrap_or_default();
        assert_eq!((h.success_count, h.failure_count), (ok200, limited), "{id}");
        successes += h.success_count;
    }
    assert_eq!(successes, ok as u64);
    assert!(answered.values().map(|v| v.1).sum::<u64>() >= 2);

    // No account or secret lost.
    assert_eq!(state.count(ProviderId::Anthropic, DEFAULT_NAMESPACE), 3);
    let store = env.store();
    for id in &ids {
        assert!(store.secrets(&id.to_string()).unwrap().is_some(), "{id}");
    }
    assert_eq!(store.load_vault().unwrap().len(), 3);
    eprintln!(
        "{ok} of {} requests answered 200; {counted} CLI switches; {gateway_rotations} rotations",
        1 + CLIENT_THREADS * REQUESTS_PER_THREAD
    );
}
