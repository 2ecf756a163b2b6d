//! Non-interactive errors and exit codes: 2 for usage errors (with a usage hint), 1 for failed
//! operations (one clear line), and never a prompt when stdin is not a terminal.

use std::time::{Duration, Instant};

use crate::common::Env;
use rota_types::{DEFAULT_NAMESPACE, ProviderId};

#[test]
fn missing_arguments_are_usage_errors() {
    let env = Env::new();
    env.seed_anthropic3();
    for (args, missing) in [
        (&["auth", "switch"][..], "missing <provider>"),
        (&["auth", "switch", "anthropic"][..], "missing <account>"),
        (&["auth", "logout"][..], "missing <provider>"),
        (
            &["auth", "logout", "anthropic"][..],
            "missing <account> or --all",
        ),
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(missing), "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains("Usage: rota auth"),
            "{args:?}: {run:#?}"
        );
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
    // clap's own usage errors are exit 2 as well.
    for args in [
        &["auth", "rename", "anthropic", "x"][..],
        &["auth", "import", "nosuchtool"][..],
        &["auth", "frobnicate"][..],
        &["auth", "logout", "anthropic", "Account 1", "--all"][..],
        &["auth", "logout", "anthropic", "--yes"][..],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
    }
    let run = env.run(&["auth", "rename", "anthropic", "Account 1", "   "]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("label must not be empty"), "{run:#?}");
    // Nothing was changed by any of them.
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        3
    );
}

#[test]
fn unknown_provider_and_account_fail_with_a_message() {
    let env = Env::new();
    env.seed_anthropic3();
    // A provider name that is none is a usage error, with the nearest name.
    let run = env.run(&["auth", "switch", "anthropc", "Account 1"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.starts_with(
            "error: unknown provider \"anthropc\"; did you mean \"anthropic\"? (known: anthropic, github-copilot, openai)\n\nUsage: rota auth switch"
        ),
        "{run:#?}"
    );
    // The names people use for a provider work as well as its id.
    let run = env.run(&["auth", "switch", "claude", "Account 2"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let run = env.run(&["auth", "usage", "copilot", "--cached"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let run = env.run(&["auth", "switch", "anthropic", "Account 9"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("no anthropic account \"Account 9\""),
        "{run:#?}"
    );
    // It points at a command that lists the accounts.
    assert!(
        run.stderr
            .contains("`rota auth usage anthropic --cached` lists them"),
        "{run:#?}"
    );
    let run = env.run(&["auth", "logout", "openai", "x"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stderr, "error: no OpenAI accounts configured\n");
    let run = env.run(&["auth", "usage", "nope"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("Usage: rota auth usage"), "{run:#?}");
    // --json errors are the HTTP API's error body.
    let run = env.run(&["auth", "switch", "anthropic", "Account 9", "--json"]);
    assert_eq!(run.code, 1);
    let body: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(run.stdout.is_empty());
}

#[test]
fn ambiguous_label_lists_the_matches() {
    let env = Env::new();
    let [a1, ..] = env.seed_anthropic3();
    let a4 = env.add(ProviderId::Anthropic, "Account 4", None, "tok-a4");
    // Two accounts labelled alike (labels match case-insensitively).
    env.store()
        .rename(
            ProviderId::Anthropic,
            rota_types::DEFAULT_NAMESPACE,
            a4,
            "account 1",
            rota_store::now_ms(),
        )
        .unwrap();
    let run = env.run(&["auth", "switch", "anthropic", "Account 1"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("matches 2 anthropic accounts"),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(&format!("{a1} (Account 1)")),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains(&format!("{a4} (account 1)")),
        "{run:#?}"
    );
    assert!(run.stderr.contains("use the id"), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1);
    // The id still works.
    env.run(&["auth", "switch", "anthropic", &a4.to_string()])
        .ok();
}

#[test]
fn store_errors_are_one_clear_line() {
    let env = Env::new();
    env.seed_anthropic3();
    // A corrupt state without a good backup: reported, never overwritten silently.
    let state = env.rota_home().join("state.json");
    std::fs::write(&state, "{garbage").unwrap();
    std::fs::write(env.rota_home().join("state.json.bak"), "{garbage").unwrap();
    let run = env.run(&["auth", "list"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.starts_with("error: "), "{run:#?}");
    assert!(run.stderr.contains("could not be read"), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

#[test]
fn a_recovery_is_a_warning_on_every_command_until_acknowledged() {
    let env = Env::new();
    env.seed_anthropic3();
    std::fs::write(env.rota_home().join("vault.json"), "{garbage").unwrap();
    // The first command that reads the vault restores its backup; every command after it
    // says so, whichever process did the restore.
    for args in [
        &["auth", "switch", "anthropic", "Account 2"][..],
        &["auth", "list"],
        &["auth", "usage", "--cached"],
        &["auth", "log"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:#?}");
        assert!(
            run.stderr.contains("warning: ") && run.stderr.contains("vault.json"),
            "{args:?}: {run:#?}"
        );
        assert!(
            run.stderr.contains("rota auth recovery --ack"),
            "{args:?}: {run:#?}"
        );
        assert!(!run.stderr.contains("tok-a"), "no secret: {run:#?}");
    }
    let run = env.run(&["auth", "recovery", "--json"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["recoveries"][0]["kind"], "restoredFromBackup", "{v}");
    let run = env.run(&["auth", "recovery", "--ack"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("Acknowledged "), "{run:#?}");
    let run = env.run(&["auth", "list"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.is_empty(), "{run:#?}");
    assert!(
        env.run(&["auth", "recovery"])
            .stdout
            .contains("No recoveries")
    );
}

#[test]
fn lock_held_is_reported_after_the_timeout() {
    let env = Env::new();
    env.seed_anthropic3();
    // Hold the store lock from this process while `rota` tries to mutate.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.rota_home().join("state.lock"))
        .unwrap();
    lock.lock().unwrap();
    let start = Instant::now();
    let run = env.run(&["auth", "switch", "anthropic", "Account 2"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("is held by another process"),
        "{run:#?}"
    );
    assert!(start.elapsed() >= Duration::from_secs(4));
    drop(lock);
    env.run(&["auth", "switch", "anthropic", "Account 2"]).ok();
}

#[test]
fn no_prompt_without_a_terminal() {
    // stdin is /dev/null: `rota auth switch` must fail at once instead of waiting for input.
    let env = Env::new();
    env.seed_anthropic3();
    let start = Instant::now();
    let run = env.run(&["auth", "logout"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(!run.stderr.contains("Select provider"), "{run:#?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // And with a pipe that stays open (a script), too.
    let mut child = env
        .cmd(&["auth", "switch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(2));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rota waited for input"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        3
    );
}
