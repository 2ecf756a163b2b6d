//! The operations every surface calls, on a real store in a temporary directory: a switch or
//! the removal of the active account moves the tool's login at once, an account is found by
//! id, id prefix or label under the lock, and bad input is refused before the store changes.

use rota_core::{AccountRef, NewLogin};
use rota_ops::{Handoff, Target};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig, now_ms};
use rota_types::{
    AccountIdentity, DEFAULT_NAMESPACE, ErrorCode, HandoffTool, ProviderId, SwitchReason,
};

const A: ProviderId = ProviderId::Anthropic;

struct Home {
    dir: tempfile::TempDir,
    store: PoolStore,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = PoolStore::open(
            StoreConfig::new(dir.path().join("rota")).with_secret_store(SecretStoreMode::File),
        )
        .unwrap();
        Self { dir, store }
    }

    fn add(&self, label: &str, token: &str) -> rota_core::Ulid {
        let login = NewLogin {
            identity: AccountIdentity {
                email: Some(format!("{token}@example.com")),
                ..AccountIdentity::default()
            },
            label: Some(label.to_owned()),
        };
        let secrets = SecretBundle::new(token)
            .with_refresh(format!("{token}-refresh"))
            .with_expiry(now_ms() + 3_600_000);
        self.store
            .upsert_account(A, DEFAULT_NAMESPACE, login, secrets, now_ms())
            .unwrap()
            .id
    }

    /// Hand-off into a Claude Code login file of this test's own.
    fn hand_off(&self) -> std::path::PathBuf {
        let target = self.dir.path().join("claude/.credentials.json");
        rota_handoff::set_handoff(
            &self.store,
            A,
            true,
            Some(HandoffTool::ClaudeCode),
            Some(Some(target.clone())),
        )
        .unwrap();
        rota_handoff::sync(&self.store, A, false, now_ms()).unwrap();
        target
    }

    fn active(&self) -> rota_core::Ulid {
        self.store.load().unwrap().pool(A).unwrap().active[DEFAULT_NAMESPACE]
    }
}

fn access_token(target: &std::path::Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(target).unwrap()).unwrap();
    v["claudeAiOauth"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn by_id(id: rota_core::Ulid) -> Target {
    Target {
        provider: A,
        namespace: DEFAULT_NAMESPACE.to_owned(),
        account: AccountRef::Id(id),
    }
}

#[test]
fn a_switch_moves_the_tools_login_at_once() {
    let home = Home::new();
    let work = home.add("work", "tok-work");
    let _home_acct = home.add("home", "tok-home");
    let target = home.hand_off();
    assert_eq!(
        access_token(&target),
        "tok-home",
        "the newest login is active"
    );

    let switched =
        rota_ops::set_active(&home.store, &by_id(work), SwitchReason::ManualApi).unwrap();
    assert!(switched.response.success);
    assert!(
        switched.switch.entry.is_some(),
        "the active account changed"
    );
    assert_eq!(switched.switch.record.label, "work");
    assert!(
        matches!(&switched.handoff, Handoff::Written { tool: HandoffTool::ClaudeCode, target: t } if t.ends_with(".credentials.json")),
        "{:?}",
        switched.handoff
    );
    // Without waiting for an autopilot: the file already holds the new account.
    assert_eq!(access_token(&target), "tok-work");

    // Switching to the account already active changes nothing and writes nothing.
    let again = rota_ops::set_active(&home.store, &by_id(work), SwitchReason::ManualApi).unwrap();
    assert!(again.switch.entry.is_none());
    assert_eq!(again.handoff, Handoff::Unchanged);
}

#[test]
fn removing_the_active_account_hands_the_next_one_over() {
    let home = Home::new();
    let _work = home.add("work", "tok-work");
    let active = home.add("home", "tok-home");
    let target = home.hand_off();

    let removed = rota_ops::remove(&home.store, &by_id(active)).unwrap();
    assert_eq!(removed.response.remaining, 1);
    assert_eq!(removed.removed.record.label, "home");
    assert!(removed.removed.switched.is_some());
    assert!(matches!(removed.handoff, Handoff::Written { .. }));
    assert_eq!(access_token(&target), "tok-work");
    // Its secrets left with it.
    assert!(home.store.secrets(&active.to_string()).unwrap().is_none());
}

#[test]
fn a_typed_account_is_found_by_label_or_id_prefix_and_an_ambiguous_one_lists_the_matches() {
    let home = Home::new();
    let work = home.add("work", "tok-work");
    let _other = home.add("Work", "tok-other");
    let first = home.add("home", "tok-home");
    assert_eq!(home.active(), first);

    let err = rota_ops::set_active(
        &home.store,
        &Target::typed(A, "WORK"),
        SwitchReason::ManualCli,
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.contains("matches 2"), "{}", err.message);
    assert!(
        err.message.contains(&work.to_string()),
        "the matches are listed: {}",
        err.message
    );
    assert_eq!(home.active(), first, "nothing changed");

    let prefix = &work.to_string()[..20];
    let switched = rota_ops::set_active(
        &home.store,
        &Target::typed(A, prefix),
        SwitchReason::ManualCli,
    )
    .unwrap();
    assert_eq!(switched.switch.id, work);

    let err = rota_ops::rename(&home.store, &Target::typed(A, "nobody"), Some("X")).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(err.message.contains("\"nobody\""), "{}", err.message);
}

#[test]
fn bad_input_is_refused_before_the_store_changes() {
    let home = Home::new();
    let id = home.add("work", "tok-work");
    let before = std::fs::read(home.store.paths().state.clone()).unwrap();

    for label in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        let err = rota_ops::rename(&home.store, &by_id(id), Some(label)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput, "{label:?}");
    }
    let other_ns = Target {
        namespace: "team".to_owned(),
        ..by_id(id)
    };
    assert_eq!(
        rota_ops::remove(&home.store, &other_ns).unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        std::fs::read(home.store.paths().state.clone()).unwrap(),
        before,
        "the state file is untouched"
    );

    let renamed = rota_ops::rename(&home.store, &by_id(id), Some("  Day job ")).unwrap();
    assert_eq!(
        (renamed.old.as_str(), renamed.new.as_str()),
        ("work", "Day job")
    );
}
