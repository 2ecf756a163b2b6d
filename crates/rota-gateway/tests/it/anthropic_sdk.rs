//! The official `anthropic` Python SDK pointed at the gateway (base URL with the `/anthropic`
//! path, the local token as the API key): a plain and a streamed message, and a 429 on the
//! active account that the SDK never sees. Needs `python3` with the `anthropic` package
//! (`python3 -m pip install anthropic`; `cargo xtask setup --tests` installs it).

use std::process::Command;

use rota_gateway::GatewayConfig;
use rota_mock::{Behavior, LimitWindow, MockConfig, MockServer};
use rota_types::ProviderId;

use crate::common::{add_account, file_store, start_gateway};

const SCRIPT: &str = r#"
import json, os, anthropic
# Speaks as Claude Code (its User-Agent and system prompt): the gateway's Anthropic route
# serves only Claude Code by default, and Anthropic refuses other clients on subscriptions.
client = anthropic.Anthropic(base_url=os.environ["GW_BASE"], api_key=os.environ["GW_TOKEN"], max_retries=0,
    default_headers={"User-Agent": os.environ["CC_UA"]})
system = os.environ["CC_SYSTEM"]
out = {}
m = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, system=system,
    messages=[{"role": "user", "content": "hello"}])
out["plain"] = {"text": m.content[0].text, "input": m.usage.input_tokens, "output": m.usage.output_tokens}
with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, system=system,
        messages=[{"role": "user", "content": "hello"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
out["stream"] = {"text": text, "output": final.usage.output_tokens}
print(json.dumps(out))
"#;

fn python_with_sdk() -> bool {
    Command::new("python3")
        .args(["-c", "import anthropic"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_python_sdk_plain_and_streaming_through_the_gateway() {
    assert!(
        python_with_sdk(),
        "this test needs the `anthropic` Python package: run `python3 -m pip install anthropic` \
         (or `cargo xtask setup --tests`)"
    );
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    add_account(&mock, &store, ProviderId::Anthropic, "sdk1@example.com");
    let (active, _) = add_account(&mock, &store, ProviderId::Anthropic, "sdk2@example.com");
    // The active account is out of quota: the SDK must still get clean answers.
    mock.push_behavior(
        &active.email,
        Behavior::RateLimit {
            reset_in_seconds: 900,
            window: LimitWindow::FiveHour,
        },
    )
    .unwrap();
    let gw = start_gateway(
        GatewayConfig::new(dir.path()).with_port(0),
        store.clone(),
        mock.base_url(),
    )
    .await;
    let base = format!("{}/anthropic", gw.base_url());
    let token = gw.gateway().token().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", SCRIPT])
            .env("GW_BASE", base)
            .env("GW_TOKEN", token)
            .env("CC_UA", rota_mock::claude_code::USER_AGENT)
            .env("CC_SYSTEM", rota_mock::claude_code::SYSTEM_PROMPTS[0])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plain = v["plain"]["text"].as_str().unwrap();
    assert!(!plain.is_empty());
    assert_eq!(
        v["stream"]["text"].as_str().unwrap(),
        plain,
        "same reply text"
    );
    assert!(v["plain"]["input"].as_u64().unwrap() > 0);
    assert!(v["stream"]["output"].as_u64().unwrap() > 0);
    let log = store.load().unwrap().switch_log;
    assert_eq!(
        log.back().unwrap().reason.as_str(),
        "rate_limited:five_hour"
    );
    gw.shutdown().await;
}
