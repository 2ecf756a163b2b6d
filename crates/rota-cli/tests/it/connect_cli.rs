//! `rota connect` and `rota env` as a user runs them, without the tools: the lines `rota env`
//! prints work when pasted (bash evaluates them to the gateway and the `sdk` key), a file that
//! does not parse is refused with the reason and left alone, `--revoke` revokes one key only,
//! and `--list` says where each tool points.

use crate::common::Env;

#[test]
fn env_lines_evaluate_in_bash_and_keep_their_key() {
    let env = Env::new();
    let run = env.run(&["env", "--shell", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = env.store().existing_local_key("sdk").unwrap().unwrap();
    // The lines, evaluated by a real bash, set the four variables.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{}\nprintf '%s\\n' \"$ANTHROPIC_BASE_URL\" \"$ANTHROPIC_AUTH_TOKEN\" \"$OPENAI_BASE_URL\" \"$OPENAI_API_KEY\"",
            run.stdout
        ))
        .output()
        .unwrap();
    let values = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        values.lines().collect::<Vec<_>>(),
        vec![
            "http://127.0.0.1:4141/anthropic",
            key.expose(),
            "http://127.0.0.1:4141/openai",
            key.expose(),
        ]
    );
    // The same key on the next run (it is kept, not re-made).
    assert_eq!(env.run(&["env", "--shell", "bash"]).stdout, run.stdout);
    for (shell, start) in [
        (
            "fish",
            "set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:4141/anthropic'",
        ),
        (
            "powershell",
            "$env:ANTHROPIC_BASE_URL = 'http://127.0.0.1:4141/anthropic'",
        ),
        (
            "zsh",
            "export ANTHROPIC_BASE_URL='http://127.0.0.1:4141/anthropic'",
        ),
    ] {
        let out = env.run(&["env", "--shell", shell]);
        assert!(out.stdout.starts_with(start), "{shell}: {}", out.stdout);
    }
    assert_eq!(env.run(&["env", "--shell", "tcsh"]).code, 2);
}

#[test]
fn an_unparseable_file_is_refused_with_the_reason_and_left_alone() {
    let env = Env::new();
    let settings = env.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let broken = b"{\n  \"model\": \"opus\",\n  \"env\": {\n}\n";
    std::fs::write(&settings, broken).unwrap();
    let run = env.run(&["connect", "claude-code"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot be read"), "{}", run.stderr);
    assert!(run.stderr.contains("line 5"), "{}", run.stderr);
    assert_eq!(std::fs::read(&settings).unwrap(), broken);
    assert_eq!(env.run(&["connect", "vim"]).code, 2);
}

#[test]
fn revoke_one_key_list_states_and_undo_of_a_file_rota_created() {
    let env = Env::new();
    assert_eq!(env.run(&["connect", "claude-code"]).code, 0);
    assert_eq!(env.run(&["connect", "codex"]).code, 0);
    let list = env.run(&["connect", "--list"]);
    let row = |tool: &str| {
        list.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(tool))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("claude-code").contains("connected to this Rota"),
        "{}",
        list.stdout
    );
    assert!(
        row("codex").contains("connected to this Rota"),
        "{}",
        list.stdout
    );
    assert!(row("opencode").contains("not connected"), "{}", list.stdout);

    let run = env.run(&["connect", "claude-code", "--revoke"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let store = env.store();
    assert!(store.existing_local_key("claude-code").unwrap().is_none());
    assert!(store.existing_local_key("codex").unwrap().is_some());
    let list = env.run(&["connect", "--list"]);
    assert!(list.stdout.contains("revoked key"), "{}", list.stdout);

    // Rota created Codex's config: undo removes it again.
    let config = env.home().join(".codex/config.toml");
    assert!(config.exists());
    let run = env.run(&["connect", "codex", "--undo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!config.exists());
}

/// `rota auth clients anthropic`: Claude Code only by default (the config can say otherwise,
/// the user's choice wins), and `rota connect opencode` routes opencode's Anthropic provider
/// through Rota exactly when the route serves any client.
#[test]
fn the_anthropic_client_setting_decides_what_connect_routes() {
    let env = Env::new();
    let status = env.run(&["auth", "clients", "anthropic"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("serves only Claude Code (config default)"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("paid extra usage"),
        "{}",
        status.stdout
    );
    let opencode = env.home().join(".config/opencode/opencode.json");
    let run = env.run(&["connect", "opencode"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Anthropic models keep opencode's own set-up"),
        "{}",
        run.stdout
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&opencode).unwrap()).unwrap();
    assert!(v.pointer("/provider/anthropic").is_none(), "{v}");

    let any = env.run(&["auth", "clients", "anthropic", "any"]);
    assert_eq!(any.code, 0, "{}", any.stderr);
    assert!(any.stdout.contains("serves any client"), "{}", any.stdout);
    assert!(any.stdout.contains("Risk:"), "{}", any.stdout);
    assert_eq!(
        env.state()
            .settings_of(rota_types::ProviderId::Anthropic)
            .clients,
        Some(rota_types::AnthropicClients::Any)
    );
    let json = env.run(&["auth", "clients", "anthropic", "--json"]).json();
    assert_eq!(json["clients"], "any");
    assert_eq!(json["source"], "setting");
    assert_eq!(json["planLimitsOnly"], true);
    let run = env.run(&["connect", "opencode"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("OpenAI and Anthropic models go through Rota"),
        "{}",
        run.stdout
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&opencode).unwrap()).unwrap();
    assert_eq!(
        v.pointer("/provider/anthropic/options/baseURL")
            .and_then(serde_json::Value::as_str),
        Some("http://127.0.0.1:4141/anthropic/v1")
    );

    // Back to Claude Code only: the connected opencode follows at once, its Anthropic provider
    // back to its own set-up and its OpenAI one still through Rota.
    let back = env.run(&["auth", "clients", "anthropic", "claude-code"]);
    let back = back.ok();
    assert!(
        back.stdout.contains("opencode's settings follow"),
        "{}",
        back.stdout
    );
    assert_eq!(
        env.run(&["auth", "clients", "anthropic", "--json"]).json()["clients"],
        "claude-code"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&opencode).unwrap()).unwrap();
    assert!(v.pointer("/provider/anthropic").is_none(), "{v}");
    assert_eq!(
        v.pointer("/provider/openai/options/baseURL")
            .and_then(serde_json::Value::as_str),
        Some("http://127.0.0.1:4141/openai")
    );
    // And on again without `rota connect`: it follows that way too.
    env.run(&["auth", "clients", "anthropic", "any"]).ok();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&opencode).unwrap()).unwrap();
    assert!(
        v.pointer("/provider/anthropic/options/apiKey").is_some(),
        "{v}"
    );
    // Undo still gives the file back as it was before Rota: here, no file.
    env.run(&["connect", "opencode", "--undo"]).ok();
    assert!(!opencode.exists());
    env.run(&["auth", "clients", "anthropic", "claude-code"])
        .ok();
    assert_eq!(env.run(&["auth", "clients", "openai", "any"]).code, 2);
    assert_eq!(env.run(&["auth", "clients", "anthropic", "maybe"]).code, 2);

    // The config's default, when the user has not chosen.
    let fresh = Env::new();
    std::fs::create_dir_all(fresh.rota_home()).unwrap();
    std::fs::write(
        fresh.rota_home().join("config.toml"),
        "[providers.anthropic]\nclients = \"any\"\nplan_limits_only = false\n",
    )
    .unwrap();
    let json = fresh
        .run(&["auth", "clients", "anthropic", "--json"])
        .json();
    assert_eq!(json["clients"], "any");
    assert_eq!(json["source"], "config");
    assert_eq!(json["planLimitsOnly"], false);
}
