//! `rota auth redeem` through the real binary against rota-mock: two processes redeeming the
//! same account at once spend one reset credit.

use std::process::Stdio;

use crate::common::{Env, Run};
use rota_mock::{MockConfig, MockServer, NewAccount, ResetCredit, Usage, Window};
use rota_types::{ProviderId, SwitchReason};

#[test]
fn two_processes_redeeming_at_once_spend_one_credit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = runtime
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let env = Env::new();
    let now = mock.now();
    let mut usage = Usage::windows(Window::new(100.0, 3_600), Window::new(80.0, 86_400));
    usage.reset_credits = vec![
        ResetCredit::new("rc_a", now + 86_400),
        ResetCredit::new("rc_b", now + 2 * 86_400),
    ];
    let info = mock.add_account(NewAccount::new(ProviderId::OpenAi).usage(usage));
    let id = rota_mock::seed::store_account(&env.store(), &info);

    let spawn = || {
        env.cmd(&["auth", "redeem", "openai", "--json"])
            .env("ROTA_PROVIDERS_MOCK_BASE", mock.base_url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // "At once": both processes ask before either can finish. The test holds the account's
    // redeem lock while they start, so neither can run ahead of the other's question however
    // slowly the machine starts a process.
    let held = env.store().lock_redeem(&id.to_string()).unwrap();
    let (a, b) = (spawn(), spawn());
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(held);
    let runs: Vec<Run> = [a, b]
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().unwrap()))
        .collect();
    for r in &runs {
        assert_eq!(r.code, 0, "{r:?}");
    }
    let codes: Vec<(String, bool)> = runs
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["code"].as_str().unwrap().to_owned(),
                v["coalesced"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(codes.contains(&("reset".to_owned(), false)), "{codes:?}");
    let spent = mock
        .account(&info.id)
        .unwrap()
        .usage
        .reset_credits
        .iter()
        .filter(|c| c.redeemed_by.is_some())
        .count();
    assert_eq!(spent, 1, "one credit for two redeems at once: {codes:?}");
    let logged = env
        .state()
        .switch_log
        .iter()
        .filter(|e| e.reason == SwitchReason::ResetCredit)
        .count();
    assert_eq!(logged, 1);

    // The count left and its expiry in `rota auth usage`.
    let run = env.run(&["auth", "usage", "openai", "--cached"]);
    let out = &run.ok().stdout;
    // rc_b, two days out, is left.
    assert!(
        out.contains("reset credits  1 · next expires in 2d 0h")
            || out.contains("reset credits  1 · next expires in 1d 23h"),
        "{out}"
    );
    let json = env
        .run(&["auth", "usage", "openai", "--cached", "--json"])
        .json();
    assert!(json.to_string().contains("\"resetCredits\""), "{json}");

    // A provider without reset credits is a usage error.
    let run = env.run(&["auth", "redeem", "github-copilot"]);
    assert_eq!(run.code, 2, "{run:?}");
    drop(mock);
}
