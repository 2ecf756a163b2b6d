//! The `rota-mock` binary: `--demo --port 0 --state-out FILE`.
#![allow(clippy::many_single_char_names, clippy::too_many_lines)] // tests: t/a/r/v short names; scenarios read top to bottom

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[tokio::test]
async fn demo_mode_prints_base_url_and_writes_state() {
    let dir = std::env::temp_dir().join(format!("rota-mock-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rota-mock"))
        .args(["--demo", "--port", "0", "--state-out"])
        .arg(&state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let base = first
        .trim()
        .strip_prefix("rota-mock listening on ")
        .expect("base URL line")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert!(!base.ends_with(":0"));

    let v: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(v["base_url"], base.as_str());
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 9);
    let token = accounts[0]["access_token"].as_str().unwrap();

    let _ = rustls::crypto::ring::default_provider().install_default(); // see crate::common::install_crypto_provider
    let r = reqwest::Client::new()
        .post(format!("{base}/anthropic/v1/messages"))
        .bearer_auth(token)
        .header("anthropic-beta", "oauth-2025-04-20")
        .header("user-agent", rota_mock::claude_code::USER_AGENT)
        .json(&rota_mock::claude_code::messages_body("m", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
