//! The CLI and another process mutating the same store at once: every `rota auth switch` /
//! `rota auth rename` and every mutation of the other process commits exactly once.

use std::process::Child;

use crate::common::Env;
use rota_core::NewLogin;
use rota_store::{SecretBundle, now_ms};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

const CLI_RUNS: usize = 12;
const OTHER_MUTATIONS: u64 = 40;

#[test]
fn cli_switches_race_with_another_writer_and_nothing_is_lost() {
    let env = Env::new();
    let [a1, a2, a3] = env.seed_anthropic3();
    let generation_before = env.state().generation;

    // Another writer (this test process): counters and new accounts, one mutation each.
    let config = env.config();
    let writer = std::thread::spawn(move || {
        let store = rota_store::PoolStore::open(config).unwrap();
        for i in 0..OTHER_MUTATIONS {
            if i % 4 == 0 {
                let login = NewLogin {
                    identity: AccountIdentity {
                        account_id: Some(format!("openai-{i}")),
                        ..AccountIdentity::default()
                    },
                    label: Some(format!("openai {i}")),
                };
                store
                    .upsert_account(
                        ProviderId::OpenAi,
                        DEFAULT_NAMESPACE,
                        login,
                        SecretBundle::new(format!("tok-openai-{i}")),
                        now_ms(),
                    )
                    .unwrap();
            } else {
                store
                    .mutate(|txn| -> rota_store::Result<()> {
                        let pool = txn.state.providers.get_mut(&ProviderId::Anthropic).unwrap();
                        for r in &mut pool.records {
                            if r.id == a3 {
                                r.health.success_count += 1;
                            }
                        }
                        Ok(())
                    })
                    .unwrap();
            }
        }
    });

    // Meanwhile: CLI processes switching between Account 1 and Account 2, and one rename.
    let mut children: Vec<Child> = (0..CLI_RUNS)
        .map(|i| {
            let label = if i % 2 == 0 { "Account 1" } else { "Account 2" };
            env.cmd(&["auth", "switch", "anthropic", label])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children.push(
        env.cmd(&["auth", "rename", "anthropic", &a3.to_string(), "renamed"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    writer.join().unwrap();

    let state = env.state();
    // Every mutation of both sides committed exactly once.
    assert_eq!(
        state.generation,
        generation_before + CLI_RUNS as u64 + 1 + OTHER_MUTATIONS
    );
    let a3_record = state.record(ProviderId::Anthropic, a3).unwrap();
    assert_eq!(
        a3_record.health.success_count,
        OTHER_MUTATIONS - OTHER_MUTATIONS / 4
    );
    assert_eq!(a3_record.label, "renamed");
    assert_eq!(
        state.count(ProviderId::OpenAi, DEFAULT_NAMESPACE),
        OTHER_MUTATIONS.div_ceil(4) as usize
    );
    // Each account's secrets survived (the vault was rewritten by the upserts meanwhile).
    let vault = env.store().load_vault().unwrap();
    for id in [a1, a2, a3] {
        assert!(vault.contains(&id.to_string()), "{id} lost its secrets");
    }
    assert_eq!(vault.len(), 3 + OTHER_MUTATIONS.div_ceil(4) as usize);
    // The active account is one of the two the CLI switched to, and it is at the front.
    let active = state.active_id(ProviderId::Anthropic, DEFAULT_NAMESPACE, now_ms());
    assert!(active == Some(a1) || active == Some(a2));
    assert_eq!(
        state
            .ordered_ids(ProviderId::Anthropic, DEFAULT_NAMESPACE)
            .first()
            .copied(),
        active
    );
    let manual = state
        .switch_log
        .iter()
        .filter(|e| e.reason.as_str() == "manual:cli")
        .count();
    assert!((1..=CLI_RUNS).contains(&manual), "{manual}");
}
