//! The clack-style prompts, driven through a pseudo-terminal: switch, logout one, logout all,
//! and the seed's logout transcript end to end, each checked against the store afterwards.

use std::time::Duration;

use crate::common::Env;
use expectrl::{Eof, Expect, Session};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};

/// A `rota` run on a pseudo-terminal, with everything it printed so far (escape codes
/// stripped).
struct Tty {
    session: expectrl::session::OsSession,
    transcript: String,
}

impl Tty {
    fn spawn(env: &Env, args: &[&str], no_color: bool) -> Self {
        let mut cmd = env.cmd_tty(args);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let mut session = Session::spawn(cmd).expect("spawn on a pty");
        session.set_expect_timeout(Some(Duration::from_secs(20)));
        Self {
            session,
            transcript: String::new(),
        }
    }

    fn keep(&mut self, captures: &expectrl::Captures) {
        let raw = captures.as_bytes();
        self.transcript
            .push_str(&strip_ansi(&String::from_utf8_lossy(raw)));
    }

    /// Waits until `text` appears.
    fn expect(&mut self, text: &str) {
        match self.session.expect(text) {
            Ok(c) => self.keep(&c),
            Err(e) => panic!("waiting for {text:?}: {e}\nso far:\n{}", self.transcript),
        }
    }

    fn keys(&mut self, keys: &str) {
        // Slow enough that each key is read as its own event.
        for k in keys.chars() {
            self.session.send(k.to_string()).expect("send");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Reads to the end and returns the exit code.
    fn finish(mut self) -> (i32, String) {
        if let Ok(c) = self.session.expect(Eof) {
            self.keep(&c);
        }
        let status = self.session.get_process().wait().expect("wait");
        let code = match status {
            expectrl::process::unix::WaitStatus::Exited(_, code) => code,
            other => panic!("rota did not exit normally: {other:?}"),
        };
        (code, self.transcript)
    }
}

/// Removes CSI/OSC escape sequences and carriage returns.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Asserts the lines appear in this order in the transcript.
fn assert_in_order(transcript: &str, lines: &[&str]) {
    let mut from = 0;
    for line in lines {
        match transcript[from..].find(line) {
            Some(at) => from += at + line.len(),
            None => panic!("{line:?} missing (in order) from:\n{transcript}"),
        }
    }
}

#[test]
fn seed_logout_example_end_to_end() {
    let env = Env::new();
    let [a1, a2, a3] = env.seed_anthropic3();
    let mut tty = Tty::spawn(&env, &["auth", "logout"], true);
    tty.expect("Select provider");
    tty.expect("Anthropic (oauth)");
    tty.keys("\r");
    tty.expect("Remove which account?");
    tty.expect("Remove all accounts");
    // Account 1 · Account 2 · Account 3 · Remove all: the cursor starts on the first account.
    tty.keys("jj\r");
    tty.expect("Done");
    let (code, transcript) = tty.finish();
    println!("{transcript}");
    assert_eq!(code, 0, "{transcript}");
    assert_in_order(
        &transcript,
        &[
            "┌  Remove credential",
            "◆  Select provider",
            "│  ● Anthropic (oauth)",
            "◆  Remove which account?",
            "│  ● Account 1 (work@example.com) (active) · 0 requests",
            "│  ○ Account 2 · 0 requests",
            "│  ○ Account 3 · 0 requests",
            "│  ○ Remove all accounts (3 accounts)",
            "◇  Account removed. 2 accounts remaining.",
            "└  Done",
        ],
    );
    let state = env.state();
    assert!(state.record(ProviderId::Anthropic, a3).is_none());
    assert_eq!(
        state.ordered_ids(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        vec![a1, a2]
    );
    assert!(env.store().credentials(a3).unwrap().is_none());
    assert!(env.store().credentials(a1).unwrap().is_some());
}

#[test]
fn logout_all_accounts() {
    let env = Env::new();
    env.seed_anthropic3();
    env.add(ProviderId::OpenAi, "Account 1", None, "tok-o1");
    let mut tty = Tty::spawn(&env, &["auth", "logout"], true);
    tty.expect("Select provider");
    tty.expect("OpenAI (oauth)");
    // Anthropic is first (alphabetical); choose it, then "Remove all accounts" (last).
    tty.keys("\r");
    tty.expect("Remove all accounts (3 accounts)");
    tty.keys("jjj\r");
    // It asks again, No by default; yes removes them.
    tty.expect("Remove all 3 accounts of Anthropic? Each needs a new sign-in to come back.");
    tty.keys("y");
    tty.expect("Done");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(
        transcript.contains("Removed all 3 accounts (Anthropic)."),
        "{transcript}"
    );
    let state = env.state();
    assert_eq!(state.count(ProviderId::Anthropic, DEFAULT_NAMESPACE), 0);
    assert_eq!(state.count(ProviderId::OpenAi, DEFAULT_NAMESPACE), 1);
}

#[test]
fn remove_all_is_not_one_enter_away() {
    let env = Env::new();
    env.seed_anthropic3();
    let before = env.state().generation;
    let mut tty = Tty::spawn(&env, &["auth", "logout"], true);
    tty.expect("Anthropic (oauth)");
    tty.keys("\r");
    tty.expect("Remove all accounts (3 accounts)");
    // "Remove all" is the last row; Enter asks, and Enter again keeps the "No".
    tty.keys("jjj\r");
    tty.expect("Each needs a new sign-in to come back.");
    tty.keys("\r");
    tty.expect("Nothing removed");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(env.state().generation, before, "nothing written");
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        3
    );
}

#[test]
fn switching_to_a_dead_login_can_be_declined() {
    let env = Env::new();
    let seeded = env.seed_full();
    let before = env.state().generation;
    let mut tty = Tty::spawn(&env, &["auth", "switch"], true);
    tty.expect("Select provider");
    tty.keys("\r");
    tty.expect("needs re-login");
    tty.keys("jj\r");
    tty.expect("Switch anyway?");
    // Enter keeps the default, No.
    tty.keys("\r");
    tty.expect("Nothing changed");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(env.state().generation, before, "nothing written");
    assert_eq!(
        env.state()
            .active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(seeded.anthropic[0])
    );
}

#[test]
fn logout_one_account_of_a_second_provider() {
    let env = Env::new();
    env.seed_anthropic3();
    let o2 = env.add(ProviderId::OpenAi, "Account 2", None, "tok-o2");
    let o1 = env.add(ProviderId::OpenAi, "Account 1", None, "tok-o1");
    let mut tty = Tty::spawn(&env, &["auth", "logout"], true);
    tty.expect("OpenAI (oauth)");
    tty.keys("j\r");
    tty.expect("Remove all accounts (2 accounts)");
    tty.keys("\r");
    tty.expect("Done");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert!(
        transcript.contains("Account removed. 1 account remaining."),
        "{transcript}"
    );
    let state = env.state();
    assert!(state.record(ProviderId::OpenAi, o1).is_none());
    assert!(state.record(ProviderId::OpenAi, o2).is_some());
    assert_eq!(state.count(ProviderId::Anthropic, DEFAULT_NAMESPACE), 3);
}

#[test]
fn switch_account() {
    let env = Env::new();
    let [a1, a2, _] = env.seed_anthropic3();
    let mut tty = Tty::spawn(&env, &["auth", "switch"], true);
    tty.expect("Switch account");
    tty.expect("Anthropic (oauth)");
    tty.keys("\r");
    tty.expect("Select account");
    tty.expect("Account 1 (work@example.com) (active)");
    // The cursor starts on the active account; one down is Account 2.
    tty.keys("j\r");
    tty.expect("Done");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    assert_in_order(
        &transcript,
        &[
            "┌  Switch account",
            "◆  Select account",
            "◇  Switched to Account 2",
            "└  Done",
        ],
    );
    let state = env.state();
    assert_eq!(
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0),
        Some(a2)
    );
    assert_ne!(
        Some(a1),
        state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0)
    );
    assert_eq!(
        state.switch_log.back().unwrap().reason.as_str(),
        "manual:cli"
    );
}

#[test]
fn switch_with_one_account_says_so() {
    let env = Env::new();
    let c = env.add(ProviderId::GithubCopilot, "octocat", None, "tok-c");
    let before = env.state().generation;
    let mut tty = Tty::spawn(&env, &["auth", "switch"], true);
    tty.expect("GitHub Copilot (oauth)");
    tty.keys("\r");
    tty.expect("Only one account configured for this provider");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    let state = env.state();
    assert_eq!(state.generation, before, "nothing written");
    assert_eq!(
        state.active_id(ProviderId::GithubCopilot, DEFAULT_NAMESPACE, 0),
        Some(c)
    );
}

#[test]
fn escape_cancels_without_changes() {
    let env = Env::new();
    env.seed_anthropic3();
    let before = env.state().generation;
    let mut tty = Tty::spawn(&env, &["auth", "logout"], true);
    tty.expect("Select provider");
    tty.keys("\u{1b}");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 1, "{transcript}");
    assert_eq!(env.state().generation, before);
    assert_eq!(
        env.state().count(ProviderId::Anthropic, DEFAULT_NAMESPACE),
        3
    );
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let env = Env::new();
    env.seed_anthropic3();
    let raw = |no_color: bool| {
        let mut session = Session::spawn({
            let mut cmd = env.cmd_tty(&["auth", "list"]);
            if no_color {
                cmd.env("NO_COLOR", "1");
            }
            cmd
        })
        .unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(20)));
        let c = session.expect(Eof).unwrap();
        String::from_utf8_lossy(c.as_bytes()).into_owned()
    };
    let coloured = raw(false);
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    assert!(coloured.contains("Anthropic"));
    let plain = raw(true);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    // Not a terminal: no colour either (the snapshot tests' runs, NO_COLOR aside).
    let piped = env
        .cmd(&["auth", "list"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\u{1b}'));
}

#[test]
fn nothing_to_choose_fails_before_any_prompt() {
    let env = Env::new();
    for args in [&["auth", "switch"][..], &["auth", "logout"][..]] {
        let tty = Tty::spawn(&env, args, true);
        let (code, transcript) = tty.finish();
        assert_eq!(code, 1, "{transcript}");
        assert!(
            transcript.contains("error: no accounts configured"),
            "{transcript}"
        );
        assert!(!transcript.contains('┌'), "{transcript}");
    }
}

#[test]
fn switch_picker_shows_usage_and_request_hints() {
    let env = Env::new();
    let seeded = env.seed_full();
    let mut tty = Tty::spawn(&env, &["auth", "switch"], true);
    tty.expect("Select provider");
    tty.keys("\r");
    // Every row shows its hint (the fullest window and the counts), not just the highlighted one.
    tty.expect("Account 1 (work@example.com) (active) · 5h: 42%, Fable: 100%, 123 requests");
    tty.expect("· 5h: 97%, 41 requests, cooling down 25m");
    tty.expect("· 0 requests, needs re-login");
    // The cursor starts on the active account; two down is the third, which needs a new
    // sign-in: the picker says who serves meanwhile and asks.
    tty.keys("jj\r");
    tty.expect("needs a new sign-in (`rota auth login anthropic`); until then requests go to");
    tty.expect("Switch anyway?");
    tty.keys("y");
    tty.expect("Done");
    let (code, transcript) = tty.finish();
    assert_eq!(code, 0, "{transcript}");
    let active = env
        .state()
        .active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, 0);
    assert_eq!(active, Some(seeded.anthropic[2]));
}
