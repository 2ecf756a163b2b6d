//! Reset credits through real processes against strict rota-mock: two `rota serve` processes
//! over one store, requests racing through both while every OpenAI account is exhausted,
//! redeem one credit automatically (the mock's log counts one consume); and `rota auth redeem`
//! and `POST /auth/redeem` answer the same codes for the same situation.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::Env;
use rota_mock::{MockConfig, MockHandle, MockServer, NewAccount, ResetCredit, Usage, Window};
use rota_types::{ProviderId, RedeemCode, SwitchReason};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

/// A running `rota serve` on a free port and its API token; killed on drop.
struct Serve {
    child: Child,
    base: String,
    token: String,
}

impl Serve {
    fn start(env: &Env, mock: &MockHandle) -> Self {
        let mut child = env
            .cmd(&["serve", "--port", "0"])
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
            .env("ROTA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rota serve");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let line = lines
            .find(|l| l.starts_with("rota gateway listening on "))
            .expect("rota serve announces its address");
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let base = line["rota gateway listening on ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        // Each process writes its own token into api.json when it starts.
        let api: Value =
            serde_json::from_slice(&std::fs::read(env.rota_home().join("api.json")).unwrap())
                .unwrap();
        let token = api["token"].as_str().unwrap().to_owned();
        Self { child, base, token }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The providers' client (it installs the TLS provider reqwest needs).
fn client() -> reqwest::Client {
    rota_providers::http_client(&rota_providers::ProvidersConfig::default()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn usage(pct: f64, credits: Vec<ResetCredit>) -> Usage {
    let mut u = Usage::windows(Window::new(pct, 3_600), Window::new(pct.min(50.0), 5 * DAY));
    u.reset_credits = credits;
    u
}

fn consumes(mock: &MockHandle) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/rate-limit-reset-credits/consume"))
        .count()
}

async fn post(base: String, token: String) -> u16 {
    client()
        .post(format!("{base}/openai/responses"))
        .bearer_auth(token)
        .header("user-agent", "codex_cli_rs/0.50.0")
        .json(&json!({"model": "gpt-5-codex", "stream": true, "input": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn two_serve_processes_redeem_once_when_the_pool_runs_dry() {
    let rt = runtime();
    let mock = rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let env = Env::new();
    let now = mock.now();
    let mut ids = Vec::new();
    for (i, days) in [4, 2].into_iter().enumerate() {
        let info = mock.add_account(
            NewAccount::new(ProviderId::OpenAi)
                .email(format!("o{i}@example.com"))
                .usage(usage(
                    100.0,
                    vec![
                        ResetCredit::new(format!("rc_{i}"), now + days * DAY),
                        ResetCredit::new(format!("rc_{i}_late"), now + 20 * DAY),
                    ],
                )),
        );
        ids.push(env.store_mock_account(&info));
    }
    // The credits as `rota auth usage` (or the usage poll) records them.
    let run = env
        .cmd(&["auth", "usage", "openai", "--json"])
        .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let state = env.state();
    for id in &ids {
        let r = state.record(ProviderId::OpenAi, *id).unwrap();
        assert_eq!(r.reset_credits.as_ref().map(|c| c.credits.len()), Some(2));
    }
    // On in the config file both processes read.
    assert!(
        env.run(&["auth", "auto-redeem", "on"])
            .ok()
            .stdout
            .contains("on")
    );
    mock.clear_requests();

    let a = Serve::start(&env, &mock);
    let b = Serve::start(&env, &mock);
    let send = |s: &Serve| post(s.base.clone(), s.token.clone());
    let burst = || {
        rt.block_on(async {
            let mut all = Vec::new();
            for _ in 0..4 {
                all.push(tokio::spawn(send(&a)));
                all.push(tokio::spawn(send(&b)));
            }
            let mut out = Vec::new();
            for t in all {
                out.push(t.await.unwrap());
            }
            out
        })
    };
    let statuses = burst();
    assert!(statuses.contains(&429), "{statuses:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env
        .state()
        .switch_log
        .iter()
        .any(|e| e.reason == SwitchReason::ResetCredit)
    {
        assert!(Instant::now() < deadline, "no automatic redeem");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = burst();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(consumes(&mock), 1, "one credit for one exhaustion");
    let spent: Vec<String> = mock
        .accounts()
        .iter()
        .flat_map(|a| a.usage.reset_credits.clone())
        .filter(|c| c.redeemed_by.is_some())
        .map(|c| c.id)
        .collect();
    assert_eq!(
        spent,
        vec!["rc_1".to_owned()],
        "the credit that expires first"
    );
    // Served again, through either process.
    assert_eq!(rt.block_on(send(&a)), 200);
    assert_eq!(rt.block_on(send(&b)), 200);
    // The history says what happened.
    let log = env.run(&["auth", "log", "openai"]).ok().stdout.clone();
    let line = log
        .lines()
        .find(|l| l.contains("reset credit redeemed: both windows reset (automatic)"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("o1@example.com") && !line.contains('→'),
        "a redeem names its one account: {line}"
    );
    drop((a, b));
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
fn cli_and_http_api_answer_the_same_codes() {
    let rt = runtime();
    let mock = rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let env = Env::new();
    let now = mock.now();
    let credit = || vec![ResetCredit::new("rc_1", now + DAY)];
    // Two accounts with one credit each and nothing used.
    let infos: Vec<_> = (0..2)
        .map(|i| {
            mock.add_account(
                NewAccount::new(ProviderId::OpenAi)
                    .email(format!("c{i}@example.com"))
                    .usage(usage(0.0, credit())),
            )
        })
        .collect();
    let ids: Vec<_> = infos.iter().map(|i| env.store_mock_account(i)).collect();
    let serve = Serve::start(&env, &mock);
    let cli = |id: &str| -> Value {
        let out = env
            .cmd(&["auth", "redeem", "openai", id, "--json"])
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let api = |body: Value| -> (u16, Value) {
        rt.block_on(async {
            let resp = client()
                .post(format!("{}/auth/redeem", serve.base))
                .bearer_auth(&serve.token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json().await.unwrap())
        })
    };
    let code = |v: &Value| RedeemCode::parse(v["code"].as_str().unwrap()).unwrap();
    let (a, b) = (ids[0].to_string(), ids[1].to_string());

    // Nothing used: the credit is kept, on either surface.
    assert_eq!(code(&cli(&a)), RedeemCode::NothingToReset);
    let (status, v) = api(json!({"providerID": "openai", "recordID": b}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(code(&v), RedeemCode::NothingToReset);
    // Used: reset, on either surface.
    for info in &infos {
        mock.set_usage(&info.id, usage(60.0, credit())).unwrap();
    }
    assert_eq!(code(&cli(&a)), RedeemCode::Reset);
    let (_, v) = api(json!({"providerID": "openai", "recordID": b}));
    assert_eq!(code(&v), RedeemCode::Reset);
    assert_eq!(v["recordID"], b.as_str());
    // Used again with the credit spent: no_credit, on either surface.
    for info in &infos {
        let spent = mock.account(&info.id).unwrap().usage.reset_credits;
        mock.set_usage(&info.id, usage(60.0, spent)).unwrap();
    }
    // A poll had seen the credit before it was spent: a stale count in the store.
    env.store()
        .mutate(|txn| {
            txn.state.record_reset_credits(
                ProviderId::OpenAi,
                ids[0],
                rota_types::ResetCredits {
                    credits: vec![rota_types::ResetCredit {
                        id: "rc_1".into(),
                        expires_at: Some((now + DAY) * 1000),
                    }],
                    fetched_at: rota_store::now_ms(),
                },
            )?;
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
    let count = |env: &Env| {
        env.state()
            .record(ProviderId::OpenAi, ids[0])
            .and_then(|r| r.reset_credits.clone())
            .map(|c| c.credits.len())
    };
    assert_eq!(count(&env), Some(1));
    assert_eq!(code(&cli(&a)), RedeemCode::NoCredit);
    // The empty list replaced the stale count: nothing left to offer.
    assert_eq!(count(&env), Some(0));
    let (_, v) = api(json!({"providerID": "openai", "recordID": b}));
    assert_eq!(code(&v), RedeemCode::NoCredit);
    assert_eq!(
        consumes(&mock),
        4,
        "nothing_to_reset ×2 and reset ×2 reached the provider"
    );

    // Without recordID: the active account (the last stored, b).
    let (_, v) = api(json!({"providerID": "openai"}));
    assert_eq!(v["recordID"], b.as_str());
    // Errors carry the same codes as the CLI's.
    let (status, v) = api(json!({"providerID": "anthropic"}));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{v}"
    );
    let (status, v) =
        api(json!({"providerID": "openai", "recordID": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );

    // Every answer is in the history, in words.
    let log = env.run(&["auth", "log", "openai"]).ok().stdout.clone();
    for words in [
        "nothing to reset: the reset credit was kept",
        "reset credit redeemed: both windows reset",
        "no reset credit left to redeem",
    ] {
        assert!(log.contains(words), "{words:?} in {log}");
    }
    assert!(!log.contains("automatic"), "{log}");
    drop(serve);
}
