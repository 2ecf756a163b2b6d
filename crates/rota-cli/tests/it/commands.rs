//! Every command's text and JSON output (insta snapshots, ids/times/paths scrubbed) and the
//! store changes behind them, through the real binary with stdin not a terminal.

use crate::common::{Env, insta_settings};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};

fn snap(name: &str, text: &str) {
    insta_settings().bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn list_text_and_json() {
    let env = Env::new();
    snap("list_empty", &env.run(&["auth", "list"]).ok().stdout);
    env.seed_full();
    let run = env.run(&["auth", "list"]);
    snap("list_text", &run.ok().stdout);
    // The alias and the alphabetical order by display name (Anthropic, GitHub Copilot, OpenAI).
    assert_eq!(env.run(&["auth", "ls"]).stdout, run.stdout);
    let a = run.stdout.find("Anthropic").unwrap();
    let g = run.stdout.find("GitHub Copilot").unwrap();
    let o = run.stdout.find("OpenAI").unwrap();
    assert!(a < g && g < o, "{}", run.stdout);
    snap(
        "list_json",
        &env.run(&["auth", "list", "--json"]).ok().stdout,
    );
    let json = env.run(&["auth", "list", "--json"]).json();
    assert_eq!(json["providers"][0]["accountCount"], 3);
    assert_eq!(json["providers"][2]["id"], "openai");
}

#[test]
fn usage_text_and_json() {
    let env = Env::new();
    snap(
        "usage_empty",
        &env.run(&["auth", "usage", "--cached"]).ok().stdout,
    );
    let seeded = env.seed_full();
    snap(
        "usage_text",
        &env.run(&["auth", "usage", "--cached"]).ok().stdout,
    );
    snap(
        "usage_text_openai",
        &env.run(&["auth", "usage", "openai", "--cached"])
            .ok()
            .stdout,
    );
    let run = env.run(&["auth", "usage", "--cached", "--json"]);
    snap("usage_json", &run.ok().stdout);
    let json = run.json();
    let accounts = json["anthropic"]["accounts"].as_array().unwrap();
    assert_eq!(accounts[0]["id"], seeded.anthropic[0].to_string());
    assert_eq!(accounts[0]["isActive"], true);
    assert_eq!(accounts[1]["health"]["failureCount"], 1);
    assert_eq!(
        json["anthropic"]["anthropicUsage"]["fiveHour"]["utilization"],
        42.4
    );
    let only = env
        .run(&["auth", "usage", "github-copilot", "--cached", "--json"])
        .json();
    assert_eq!(only.as_object().unwrap().len(), 1);
    // No secret ever reaches the output.
    let all = env.run(&["auth", "usage", "--cached", "--json"]).stdout
        + &env.run(&["auth", "usage", "--cached"]).stdout;
    assert!(!all.contains("tok-"), "{all}");
}

#[test]
fn switch_by_label_prefix_and_id() {
    let env = Env::new();
    let [a1, a2, a3] = env.seed_anthropic3();
    let active = |env: &Env| {
        env.state()
            .active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0)
    };
    assert_eq!(active(&env), Some(a1));

    let run = env.run(&["auth", "switch", "anthropic", "account 2"]);
    snap("switch_text", &run.ok().stdout);
    assert_eq!(active(&env), Some(a2));
    let state = env.state();
    assert_eq!(
        state.ordered_ids(ProviderId::Anthropic, DEFAULT_NAMESPACE)[0],
        a2
    );
    let last = state.switch_log.back().unwrap();
    assert_eq!(last.reason.as_str(), "manual:cli");

    let again = env.run(&["auth", "switch", "anthropic", "Account 2"]);
    snap("switch_already_active", &again.ok().stdout);

    let prefix = &a3.to_string()[..20];
    let json = env.run(&["auth", "switch", "anthropic", prefix, "--json"]);
    snap("switch_json", &json.ok().stdout);
    assert_eq!(json.json()["success"], true);
    assert_eq!(active(&env), Some(a3));

    env.run(&["auth", "switch", "anthropic", &a1.to_string()])
        .ok();
    assert_eq!(active(&env), Some(a1));
}

#[test]
fn logout_one_all_and_only() {
    let env = Env::new();
    let [_, a2, _] = env.seed_anthropic3();
    let run = env.run(&["auth", "logout", "anthropic", "Account 2"]);
    snap("logout_one_text", &run.ok().stdout);
    assert_eq!(run.stdout, "Account removed. 2 accounts remaining.\n");
    let state = env.state();
    assert!(state.record(ProviderId::Anthropic, a2).is_none());
    // Its secrets went in the same transaction.
    assert!(env.store().credentials(a2).unwrap().is_none());

    let json = env.run(&["auth", "logout", "anthropic", "Account 3", "--json"]);
    snap("logout_one_json", &json.ok().stdout);
    assert_eq!(
        json.json(),
        serde_json::json!({"success": true, "remaining": 1})
    );

    // One account left: the provider alone names it.
    let only = env.run(&["auth", "logout", "anthropic"]);
    assert_eq!(only.ok().stdout, "Account removed. 0 accounts remaining.\n");
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        0
    );
    // Each removal is a history row naming the account once (the last one was active: nobody
    // took over).
    let log = env.run(&["auth", "log", "anthropic"]).ok().stdout.clone();
    let removals: Vec<&str> = log
        .lines()
        .filter(|l| l.ends_with("account removed"))
        .collect();
    assert_eq!(removals.len(), 3, "{log}");
    for (line, name) in removals.iter().zip(["Account 2", "Account 3", "Account 1"]) {
        assert!(
            line.contains(&format!("Anthropic  {name} (removed)")) && !line.contains('→'),
            "{log}"
        );
    }

    env.seed_anthropic3();
    // --all off a terminal wants --yes; without it nothing is removed.
    let unconfirmed = env.run(&["auth", "logout", "anthropic", "--all"]);
    assert_eq!(unconfirmed.code, 2, "{unconfirmed:#?}");
    assert!(
        unconfirmed
            .stderr
            .contains("--all removes 3 accounts of Anthropic; add --yes to confirm"),
        "{unconfirmed:#?}"
    );
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        3
    );
    let all = env.run(&["auth", "logout", "anthropic", "--all", "--yes"]);
    snap("logout_all_text", &all.ok().stdout);
    assert!(env.state().providers.is_empty());
    assert!(env.store().load_vault().unwrap().is_empty());
    env.seed_anthropic3();
    let all_json = env.run(&["auth", "logout", "anthropic", "--all", "-y", "--json"]);
    assert_eq!(
        all_json.json(),
        serde_json::json!({"success": true, "remaining": 0})
    );
}

#[test]
fn rename_text_and_json() {
    let env = Env::new();
    let [a1, _, _] = env.seed_anthropic3();
    let run = env.run(&["auth", "rename", "anthropic", "Account 1", "work"]);
    snap("rename_text", &run.ok().stdout);
    assert_eq!(
        env.state().record(ProviderId::Anthropic, a1).unwrap().label,
        "work"
    );
    let json = env.run(&[
        "auth",
        "rename",
        "anthropic",
        "work",
        "Work laptop",
        "--json",
    ]);
    snap("rename_json", &json.ok().stdout);
    assert_eq!(
        env.state().record(ProviderId::Anthropic, a1).unwrap().label,
        "Work laptop"
    );
}

const CLAUDE: &str = r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-import","refreshToken":"sk-ant-ort01-import","expiresAt":1900000000000,"scopes":["user:inference"],"subscriptionType":"max"}}"#;

#[test]
fn import_text_and_json() {
    let env = Env::new();
    let file = env.home().join("credentials.json");
    std::fs::write(&file, CLAUDE).unwrap();
    let path = file.to_str().unwrap();
    let run = env.run(&["auth", "import", "claude-code", "--path", path]);
    snap("import_text", &run.ok().stdout);
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        1
    );
    // Importing the same login again updates instead of duplicating.
    let json = env.run(&["auth", "import", "claude-code", "--path", path, "--json"]);
    snap("import_json", &json.ok().stdout);
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        1
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        CLAUDE,
        "source untouched"
    );
    assert!(!json.stdout.contains("sk-ant"), "{}", json.stdout);

    let missing = env.run(&[
        "auth",
        "import",
        "codex",
        "--path",
        "/nonexistent/auth.json",
    ]);
    assert_eq!(missing.code, 1, "{missing:#?}");
    assert!(
        missing.stderr.contains("/nonexistent/auth.json"),
        "{missing:#?}"
    );
    std::fs::write(&file, "{not json").unwrap();
    let bad = env.run(&["auth", "import", "opencode", "--path", path]);
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert!(bad.stderr.starts_with("error: "), "{bad:#?}");
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:#?}");
}

#[test]
fn usage_errors_text() {
    let env = Env::new();
    env.seed_anthropic3();
    snap(
        "error_switch_missing_account",
        &env.run(&["auth", "switch", "anthropic"]).stderr,
    );
    snap(
        "error_logout_missing_account",
        &env.run(&["auth", "logout", "anthropic"]).stderr,
    );
}

/// With `auto` and no keychain (no D-Bus session in the child's environment) secrets fall back
/// to the plaintext file, and the listing says so.
#[cfg(target_os = "linux")]
#[test]
fn list_warns_about_the_plaintext_fallback() {
    let env = Env::new();
    env.seed_anthropic3();
    let out = env
        .cmd(&["auth", "list"])
        .env("ROTA_SECRET_STORE", "auto")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("▲  warning: no working OS keychain"),
        "{stdout}"
    );
    assert!(stdout.contains("plaintext owner-only file"), "{stdout}");
    assert!(
        stdout.contains("Secrets: plaintext file (0600)"),
        "{stdout}"
    );
    // Explicit `file` is a choice, not a fallback: no warning.
    assert!(!env.run(&["auth", "list"]).stdout.contains("warning"));
}

#[test]
fn import_reads_the_tools_default_location() {
    let env = Env::new();
    let dir = env.home().join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".credentials.json"), CLAUDE).unwrap();
    let run = env.run(&["auth", "import", "claude-code"]);
    assert!(
        run.ok()
            .stdout
            .starts_with("Imported 1 account from ~/.claude/.credentials.json:"),
        "{run:#?}"
    );
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        1
    );
    // No login file there: one line naming the path, exit 1.
    let run = env.run(&["auth", "import", "codex"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains(".codex/auth.json"), "{run:#?}");
}

#[test]
fn switching_to_an_account_that_cannot_serve_says_who_serves() {
    let env = Env::new();
    let seeded = env.seed_full();
    // Account 3 needs a new sign-in: the switch happens (it was asked for), with a warning.
    let run = env.run(&["auth", "switch", "anthropic", "Account 3"]);
    let run = run.ok();
    assert_eq!(run.stdout, "Switched Anthropic to Account 3.\n");
    assert!(
        run.stderr.starts_with(
            "warning: Account 3 needs a new sign-in (`rota auth login anthropic`); until then requests go to Account 1"
        ),
        "{run:#?}"
    );
    assert_eq!(
        env.state()
            .active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(seeded.anthropic[2])
    );
    // A healthy account: no warning.
    let run = env.run(&["auth", "switch", "anthropic", "Account 1"]);
    assert!(run.ok().stderr.is_empty(), "{run:#?}");
}
