//! `rota auth handoff|proactive|log` and the hand-off after `rota auth switch`/`logout`, through
//! the real binary with a fake HOME holding the tools' real-format files.

use crate::common::{Env, Run, insta_settings};
use rota_types::{
    DEFAULT_NAMESPACE, ProviderId, SwitchDetail, SwitchLogEntry, SwitchReason, WindowKind,
};
use serde_json::{Value, json};

fn snap(name: &str, text: &str) {
    insta_settings().bind(|| insta::assert_snapshot!(name, text));
}

fn claude_path(env: &Env) -> std::path::PathBuf {
    env.home().join(".claude").join(".credentials.json")
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn handoff_on_switch_status_off() {
    let env = Env::new();
    let [a1, a2, _] = env.seed_anthropic3();
    let path = claude_path(&env);
    // Claude Code is logged in to Account 1 (as imported), with fields Rota does not know.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({
            "claudeAiOauth": {
                "accessToken": "tok-a1", "refreshToken": "tok-a1-refresh",
                "expiresAt": 1_900_000_000_000_i64, "scopes": ["user:inference"],
                "rateLimitTier": "default_claude_max_20x"
            },
            "mcpOAuth": {"linear": {"accessToken": "keep"}}
        }))
        .unwrap(),
    )
    .unwrap();

    snap(
        "handoff_status_off",
        &env.run(&["auth", "handoff", "anthropic"]).ok().stdout,
    );
    let on = env.run(&["auth", "handoff", "anthropic", "on"]);
    snap("handoff_on", &on.ok().stdout);
    assert!(
        env.state()
            .settings_of(ProviderId::Anthropic)
            .handoff
            .enabled
    );

    // A switch from the CLI rewrites Claude Code's file.
    let run = env.run(&["auth", "switch", "anthropic", "Account 2"]);
    snap("handoff_switch", &run.ok().stdout);
    let v = read_json(&path);
    assert_eq!(v["claudeAiOauth"]["accessToken"], "tok-a2");
    assert_eq!(v["claudeAiOauth"]["refreshToken"], "tok-a2-refresh");
    // The login is Account 2's alone: nothing of Account 1's identity (its tier) survives.
    assert!(
        v["claudeAiOauth"]["rateLimitTier"].is_null(),
        "{}",
        v["claudeAiOauth"]
    );
    assert_eq!(v["mcpOAuth"]["linear"]["accessToken"], "keep");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    snap(
        "handoff_status_on",
        &env.run(&["auth", "handoff", "anthropic", "status"])
            .ok()
            .stdout,
    );
    let json = env
        .run(&["auth", "handoff", "anthropic", "status", "--json"])
        .json();
    assert_eq!(json["enabled"], true);
    assert_eq!(json["state"], "active");
    assert_eq!(json["holdsRecordId"], a2.to_string());
    assert_eq!(json["tool"], "claude-code");

    // Removing the active account hands the next one off.
    let run = env.run(&["auth", "logout", "anthropic", "Account 2"]);
    assert!(
        run.ok().stdout.contains("Handed off to Claude Code"),
        "{run:?}"
    );
    // Account 1 was next in the order.
    assert_eq!(read_json(&path)["claudeAiOauth"]["accessToken"], "tok-a1");
    let json = env.run(&["auth", "handoff", "anthropic", "--json"]).json();
    assert_eq!(json["holdsRecordId"], a1.to_string());

    let off = env.run(&["auth", "handoff", "anthropic", "off"]);
    snap("handoff_off", &off.ok().stdout);
    env.run(&["auth", "switch", "anthropic", "Account 3"]).ok();
    assert_eq!(
        read_json(&path)["claudeAiOauth"]["accessToken"],
        "tok-a1",
        "off: left alone"
    );
}

#[test]
fn handoff_refuses_a_foreign_login_and_forces() {
    let env = Env::new();
    env.add(ProviderId::OpenAi, "Account 1", None, "tok-o1");
    let target = env.home().join("elsewhere").join("auth.json");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let foreign = json!({
        "OPENAI_API_KEY": null,
        "tokens": {"id_token": "x.eyJlbWFpbCI6InNAZXhhbXBsZS5jb20ifQ.y", "access_token": "stranger",
                   "refresh_token": "stranger-refresh", "account_id": "acct-stranger"},
        "last_refresh": "2026-11-01T10:00:00Z"
    });
    std::fs::write(&target, serde_json::to_vec(&foreign).unwrap()).unwrap();
    let before = std::fs::read(&target).unwrap();
    let t = target.to_str().unwrap();
    let run = env.run(&["auth", "handoff", "openai", "on", "--target", t]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("not one of Rota's accounts"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("stranger-refresh"));
    assert_eq!(std::fs::read(&target).unwrap(), before);
    // It did not stay on.
    assert!(!env.state().settings_of(ProviderId::OpenAi).handoff.enabled);

    // The account has no id_token (added without one): even forced, nothing partial is written.
    let run = env.run(&["auth", "handoff", "openai", "on", "--target", t, "--force"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("id_token"), "{}", run.stderr);
    assert_eq!(std::fs::read(&target).unwrap(), before);

    // Usage errors: an unknown tool for the provider, --target with status.
    let run = env.run(&["auth", "handoff", "openai", "on", "--tool", "claude-code"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = env.run(&["auth", "handoff", "openai", "status", "--target", t]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn proactive_toggle() {
    let env = Env::new();
    env.seed_anthropic3();
    snap(
        "proactive_on",
        &env.run(&["auth", "proactive", "anthropic", "on"])
            .ok()
            .stdout,
    );
    assert!(env.state().settings_of(ProviderId::Anthropic).proactive);
    let json = env
        .run(&["auth", "proactive", "anthropic", "--json"])
        .json();
    assert_eq!(json, json!({"providerID": "anthropic", "proactive": true}));
    env.run(&["auth", "proactive", "anthropic", "off"]).ok();
    assert!(env.state().settings.is_empty());
}

/// The threshold `rota auth proactive on` names is the one the running autopilot uses:
/// `config.toml`'s, with the environment over it.
#[test]
fn proactive_names_the_configured_threshold() {
    let env = Env::new();
    env.seed_anthropic3();
    std::fs::write(
        env.rota_home().join("config.toml"),
        "[proactive]\nthreshold = 80\n",
    )
    .unwrap();
    let out = env.run(&["auth", "proactive", "anthropic", "on"]);
    assert!(
        out.ok().stdout.contains("at 80 % of any window"),
        "{}",
        out.stdout
    );
    let out = Run::from(
        env.cmd(&["auth", "proactive", "anthropic", "on"])
            .env("ROTA_PROACTIVE_THRESHOLD", "70")
            .output()
            .unwrap(),
    );
    assert!(
        out.ok().stdout.contains("at 70 % of any window"),
        "{}",
        out.stdout
    );
}

#[test]
fn log_text_and_json() {
    let env = Env::new();
    snap("log_empty", &env.run(&["auth", "log"]).ok().stdout);
    let [a1, a2, a3] = env.seed_anthropic3();
    let o1 = env.add(ProviderId::OpenAi, "Account 1", None, "tok-o1");
    // A fixed history: 2026-11-29 09:00 UTC onwards, one entry per reason kind.
    let t0 = 1_795_942_800_000_i64;
    let entry =
        |min: i64, provider, from: Option<String>, to: String, reason, detail| SwitchLogEntry {
            at: t0 + min * 60_000,
            provider_id: provider,
            namespace: DEFAULT_NAMESPACE.into(),
            from,
            to,
            reason,
            detail,
        };
    env.store()
        .mutate(|txn| -> rota_store::Result<()> {
            txn.state.switch_log.clear();
            let s = |id: rota_core::Ulid| id.to_string();
            for e in [
                entry(
                    0,
                    ProviderId::Anthropic,
                    Some(s(a1)),
                    s(a2),
                    SwitchReason::ManualTray,
                    None,
                ),
                entry(
                    7,
                    ProviderId::Anthropic,
                    Some(s(a2)),
                    s(a3),
                    SwitchReason::RateLimitedFiveHour,
                    None,
                ),
                entry(
                    9,
                    ProviderId::OpenAi,
                    None,
                    s(o1),
                    SwitchReason::Login,
                    None,
                ),
                entry(
                    65,
                    ProviderId::Anthropic,
                    Some(s(a3)),
                    s(a1),
                    SwitchReason::Proactive,
                    Some(SwitchDetail {
                        window: Some(WindowKind::FiveHour),
                        model: None,
                        percent: Some(96),
                        rejected: false,
                        ..SwitchDetail::default()
                    }),
                ),
                entry(
                    70,
                    ProviderId::Anthropic,
                    Some(s(a1)),
                    "01JD0000000000000000000009".into(),
                    SwitchReason::ManualCli,
                    None,
                ),
            ] {
                txn.state.log_switch(e);
            }
            Ok(())
        })
        .unwrap();
    let log = |args: &[&str]| {
        let mut all = vec!["auth", "log"];
        all.extend_from_slice(args);
        let out = env.cmd(&all).env("TZ", "UTC").output().unwrap();
        Run::from(out)
    };
    snap("log_text", &log(&[]).ok().stdout);
    snap("log_text_openai", &log(&["openai"]).ok().stdout);
    let json = log(&["anthropic", "--limit", "2", "--json"]).json();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["reason"], "proactive");
    assert_eq!(
        list[0]["detail"],
        json!({"window": "five_hour", "percent": 96})
    );
    assert_eq!(list[1]["reason"], "manual:cli");
}

#[test]
fn usage_shows_the_exhaustion_estimate() {
    use rota_types::{ProviderUsage, UsageSnapshot, UsageWindow};
    let env = Env::new();
    let [a1, ..] = env.seed_anthropic3();
    let now = rota_store::now_ms();
    let hour = 3_600_000;
    let snap_at = |at: i64, five: f64| UsageSnapshot {
        fetched_at: at,
        status: None,
        windows: vec![
            UsageWindow::new(WindowKind::FiveHour, five, Some(now + 4 * hour)),
            UsageWindow::new(WindowKind::SevenDay, 10.0, Some(now + 90 * hour)),
        ],
        usage: ProviderUsage::Anthropic(rota_types::AnthropicExtra::default()),
    };
    env.store()
        .mutate(|txn| -> rota_store::Result<()> {
            // 20 points an hour, at 60 % now: 2 hours to go, before the 4-hour reset.
            txn.state
                .record_usage(ProviderId::Anthropic, a1, snap_at(now - hour, 40.0))?;
            txn.state
                .record_usage(ProviderId::Anthropic, a1, snap_at(now, 60.0))?;
            Ok(())
        })
        .unwrap();
    let run = env.run(&["auth", "usage", "anthropic", "--cached"]);
    assert!(
        run.ok()
            .stdout
            .contains("at this rate the 5h limit is reached in 2h 0m"),
        "{}",
        run.stdout
    );
    let json = env
        .run(&["auth", "usage", "anthropic", "--cached", "--json"])
        .json();
    let account = &json["anthropic"]["accounts"][0];
    assert_eq!(account["exhaustion"]["window"], "five_hour");
}

#[test]
fn codex_handoff_writes_a_chatgpt_login_and_says_a_running_codex_needs_a_restart() {
    let env = Env::new();
    let store = env.store();
    let id_token = "x.eyJlbWFpbCI6Im9AZXhhbXBsZS5jb20ifQ.y";
    for (label, token) in [("Account 1", "tok-o1"), ("Account 2", "tok-o2")] {
        store
            .upsert_account(
                ProviderId::OpenAi,
                DEFAULT_NAMESPACE,
                rota_core::NewLogin {
                    identity: rota_types::AccountIdentity {
                        account_id: Some(format!("acct-{token}")),
                        ..rota_types::AccountIdentity::default()
                    },
                    label: Some(label.to_owned()),
                },
                rota_store::SecretBundle::new(token)
                    .with_refresh(format!("{token}-refresh"))
                    .with_extra("id_token", id_token),
                rota_store::now_ms(),
            )
            .unwrap();
    }
    // Codex was last used with an API key.
    let target = env.home().join(".codex").join("auth.json");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(
        &target,
        br#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-old","extra":1}"#,
    )
    .unwrap();
    let on = env.run(&["auth", "handoff", "openai", "on"]);
    let out = &on.ok().stdout;
    assert!(out.contains("restart Codex"), "{out}");
    let v = read_json(&target);
    assert_eq!(v["auth_mode"], "chatgpt");
    assert_eq!(v["OPENAI_API_KEY"], Value::Null);
    assert_eq!(v["tokens"]["access_token"], "tok-o2");
    assert_eq!(v["extra"], 1);
    let run = env.run(&["auth", "switch", "openai", "Account 1"]);
    let out = &run.ok().stdout;
    assert!(
        out.contains("Handed off to Codex CLI") && out.contains("restart Codex"),
        "{out}"
    );
    assert_eq!(read_json(&target)["tokens"]["access_token"], "tok-o1");
}
