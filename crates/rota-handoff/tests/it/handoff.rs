//! Hand-off against real-format files of each tool in a fake home directory: round trips that
//! keep every other field and provider entry, adoption of tokens the tool refreshed, refusal to
//! overwrite a login that is not ours, never an empty or partial credential, the refresh gate,
//! crashes mid-write (a child process aborted at each step), and the autopilot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rota_core::{NewLogin, Ulid};
use rota_handoff::{
    AutopilotConfig, AutopilotEvent, HandoffError, RefreshGate, SyncOutcome, refresh_gate,
    set_handoff, set_proactive, status, sync,
};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig};
use rota_types::{
    AccountIdentity, AnthropicExtra, DEFAULT_NAMESPACE, HandoffTool, ProviderId, ProviderUsage,
    SwitchReason, TargetState, UsageSnapshot, UsageWindow, WindowKind,
};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const A: ProviderId = ProviderId::Anthropic;
const O: ProviderId = ProviderId::OpenAi;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn store(&self) -> PoolStore {
        open_store(&self.path("rota-home"))
    }

    fn add(&self, provider: ProviderId, label: &str, secrets: SecretBundle) -> Ulid {
        self.add_at(provider, label, secrets, NOW)
    }

    fn add_at(&self, provider: ProviderId, label: &str, secrets: SecretBundle, at: i64) -> Ulid {
        let login = NewLogin {
            identity: AccountIdentity {
                account_id: Some(format!("acct-{label}")),
                email: Some(format!("{label}@example.com")),
                plan: Some("max".into()),
                ..AccountIdentity::default()
            },
            label: Some(label.to_owned()),
        };
        self.store()
            .upsert_account(provider, DEFAULT_NAMESPACE, login, secrets, at)
            .unwrap()
            .id
    }

    fn switch(&self, provider: ProviderId, id: Ulid) {
        self.store()
            .set_active(
                provider,
                DEFAULT_NAMESPACE,
                id,
                SwitchReason::ManualCli,
                NOW,
            )
            .unwrap();
    }

    fn enable(&self, provider: ProviderId, tool: HandoffTool, target: &Path) {
        set_handoff(
            &self.store(),
            provider,
            true,
            Some(tool),
            Some(Some(target.to_owned())),
        )
        .unwrap();
    }
}

fn open_store(dir: &Path) -> PoolStore {
    PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap()
}

fn claude(label: &str, gen_: u32, expires: i64) -> SecretBundle {
    SecretBundle::new(format!("sk-ant-oat01-{label}-{gen_}"))
        .with_refresh(format!("sk-ant-ort01-{label}-{gen_}"))
        .with_expiry(expires)
        .with_extra(
            "scopes",
            "user:inference user:profile user:sessions:claude_code",
        )
}

fn jwt(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "{}.{}.sig",
        part(&json!({"alg": "RS256", "typ": "JWT"})),
        part(claims)
    )
}

fn openai(label: &str, gen_: u32, expires_s: i64) -> SecretBundle {
    let id_token = jwt(&json!({
        "email": format!("{label}@example.com"),
        "https://api.openai.com/auth": {"chatgpt_account_id": format!("acct-{label}"), "chatgpt_plan_type": "pro"}
    }));
    let access = jwt(&json!({"exp": expires_s, "gen": gen_, "sub": label}));
    let mut s = SecretBundle::new(access)
        .with_refresh(format!("rt_{label}_{gen_}"))
        .with_extra("id_token", id_token);
    s.expires_at = Some(expires_s * 1000);
    s
}

fn write_json(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn claude_file(s: &SecretBundle) -> Value {
    json!({
        "claudeAiOauth": {
            "accessToken": s.access_token.expose(),
            "refreshToken": s.refresh_token.as_ref().unwrap().expose(),
            "expiresAt": s.expires_at.unwrap(),
            "scopes": ["user:inference", "user:profile", "user:sessions:claude_code"],
            "subscriptionType": "max",
            "rateLimitTier": "default_claude_max_20x"
        },
        "mcpOAuth": {"linear|abc123": {"serverName": "linear", "accessToken": "mcp-token", "expiresAt": 5}}
    })
}

#[test]
fn claude_code_round_trip_keeps_other_fields_and_is_idempotent() {
    let home = Home::new();
    let b = home.add(A, "b", claude("b", 1, NOW + 8 * HOUR));
    let a = home.add(A, "a", claude("a", 1, NOW + 8 * HOUR));
    let target = home.path(".claude/.credentials.json");
    write_json(&target, &claude_file(&claude("a", 1, NOW + 8 * HOUR)));
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();

    // The file already holds the active account: nothing is written.
    let before = std::fs::read(&target).unwrap();
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Current { record_id: a }
    );
    assert_eq!(std::fs::read(&target).unwrap(), before);
    let st = status(&store, A, NOW).unwrap();
    assert_eq!(
        (st.state, st.enabled, st.holds_record_id),
        (TargetState::Active, true, Some(a.to_string()))
    );

    home.switch(A, b);
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written {
            record_id: b,
            adopted: None,
            tool: HandoffTool::ClaudeCode,
            target: target.display().to_string(),
        }
    );
    let v = read_json(&target);
    let mut expected = claude_file(&claude("b", 1, NOW + 8 * HOUR));
    // The login is b's alone (a's rate-limit tier is gone; b's account id is written); the
    // file's other keys are kept.
    let login = expected["claudeAiOauth"].as_object_mut().unwrap();
    login.remove("rateLimitTier");
    login.insert("accountUuid".into(), json!("acct-b"));
    assert_eq!(v, expected);
    #[cfg(unix)]
    assert_eq!(mode(&target), 0o600);
    // What Claude Code reads back is account b, and the importer agrees.
    let report =
        rota_store::import::import_file(rota_store::import::ImportSource::ClaudeCode, &target)
            .unwrap();
    assert_eq!(
        report.accounts[0].secrets.access_token.expose(),
        "sk-ant-oat01-b-1"
    );

    // Idempotent: a second sync leaves the same inode.
    let ino = inode(&target);
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Current { record_id: b }
    );
    assert_eq!(inode(&target), ino);
    let st = status(&store, A, NOW).unwrap();
    assert_eq!(st.state, TargetState::Active);
    assert_eq!(st.last_sync_at, Some(NOW));
    // No token in the state file or the status.
    let state_text = std::fs::read_to_string(home.path("rota-home/state.json")).unwrap();
    assert!(!state_text.contains("sk-ant"), "{state_text}");
    assert!(!format!("{st:?}").contains("sk-ant"));
}

#[test]
fn hand_off_writes_the_whole_login_of_one_account_and_import_reads_it_back() {
    let home = Home::new();
    // Account a's full Claude Code login is in the file (as Claude Code 2.1.330 writes it).
    let a_secrets = claude("a", 1, NOW + 8 * HOUR);
    let a = home.add(A, "a", a_secrets.clone());
    let target = home.path("claude-config/.credentials.json");
    let full_a = json!({
        "claudeAiOauth": {
            "accessToken": "sk-ant-oat01-a-1",
            "refreshToken": "sk-ant-ort01-a-1",
            "expiresAt": NOW + 8 * HOUR,
            "refreshTokenExpiresAt": NOW + 700 * HOUR,
            "scopes": ["user:inference", "user:profile", "user:sessions:claude_code"],
            "subscriptionType": "max",
            "subscriptionTypeSource": "profile",
            "subscriptionTypeVerifiedAt": NOW - HOUR,
            "rateLimitTier": "default_claude_max_20x",
            "clientId": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
            "accountUuid": "acct-a",
            "organizationUuid": "org-a",
            "loginEnded": null
        },
        "mcpOAuth": {"linear|abc": {"accessToken": "mcp-token"}}
    });
    write_json(&target, &full_a);
    // Account b logged in through Rota: its vault holds every field of its login.
    let b_secrets = SecretBundle::new("sk-ant-oat01-b-1")
        .with_refresh("sk-ant-ort01-b-1")
        .with_expiry(NOW + 7 * HOUR)
        .with_extra(
            "scopes",
            "org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload user:plugins",
        )
        .with_extra("refresh_token_expires_at", (NOW + 720 * HOUR).to_string())
        .with_extra("organization_uuid", "org-b")
        .with_extra("rate_limit_tier", "default_claude_ai")
        .with_extra("client_id", "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    let b = home.add(A, "b", b_secrets);
    home.switch(A, a);
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Current { record_id: a }
    );

    home.switch(A, b);
    assert!(matches!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == b
    ));
    let v = read_json(&target);
    // Field by field: b's whole login, nothing of a's (no subscriptionTypeSource or
    // VerifiedAt a's profile set, no a ids), other keys of the file kept.
    assert_eq!(
        v,
        json!({
            "claudeAiOauth": {
                "accessToken": "sk-ant-oat01-b-1",
                "refreshToken": "sk-ant-ort01-b-1",
                "expiresAt": NOW + 7 * HOUR,
                "refreshTokenExpiresAt": NOW + 720 * HOUR,
                "scopes": ["org:create_api_key", "user:profile", "user:inference",
                    "user:sessions:claude_code", "user:mcp_servers", "user:file_upload", "user:plugins"],
                "subscriptionType": "max",
                "rateLimitTier": "default_claude_ai",
                "clientId": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
                "accountUuid": "acct-b",
                "organizationUuid": "org-b"
            },
            "mcpOAuth": {"linear|abc": {"accessToken": "mcp-token"}}
        })
    );
    // Import reads the same fields back.
    let report =
        rota_store::import::import_file(rota_store::import::ImportSource::ClaudeCode, &target)
            .unwrap();
    let got = &report.accounts[0];
    assert_eq!(got.identity.account_id.as_deref(), Some("acct-b"));
    assert_eq!(got.identity.plan.as_deref(), Some("max"));
    for (extra, want) in [
        ("organization_uuid", "org-b".to_owned()),
        ("rate_limit_tier", "default_claude_ai".to_owned()),
        ("refresh_token_expires_at", (NOW + 720 * HOUR).to_string()),
        (
            "client_id",
            "9d1c250a-e61b-44d9-88ed-5944d1962f5e".to_owned(),
        ),
    ] {
        assert_eq!(
            got.secrets.extra(extra).map(|s| s.expose().to_owned()),
            Some(want),
            "{extra}"
        );
    }
}

#[test]
fn an_unknown_expiry_is_written_as_expired_now_never_zero() {
    let home = Home::new();
    let a = home.add(A, "a", claude("a", 1, NOW + 8 * HOUR));
    let mut no_expiry = claude("b", 1, 0);
    no_expiry.expires_at = None;
    let b = home.add(A, "b", no_expiry);
    let target = home.path(".claude/.credentials.json");
    home.switch(A, a);
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();
    sync(&store, A, true, NOW).unwrap();
    home.switch(A, b);
    sync(&store, A, false, NOW).unwrap();
    let v = read_json(&target);
    assert_eq!(v["claudeAiOauth"]["accessToken"], "sk-ant-oat01-b-1");
    assert_eq!(v["claudeAiOauth"]["expiresAt"], json!(NOW));
}

fn inode(p: &Path) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        0
    }
}

#[test]
fn missing_target_is_created_private() {
    let home = Home::new();
    let a = home.add(A, "a", claude("a", 1, NOW + HOUR));
    let target = home.path("fresh/.claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    assert_eq!(
        status(&home.store(), A, NOW).unwrap().state,
        TargetState::Missing
    );
    assert_eq!(
        sync(&home.store(), A, false, NOW).unwrap(),
        SyncOutcome::Written {
            record_id: a,
            adopted: None,
            tool: HandoffTool::ClaudeCode,
            target: target.display().to_string(),
        }
    );
    #[cfg(unix)]
    assert_eq!(mode(&target), 0o600);
    assert_eq!(
        read_json(&target)["claudeAiOauth"]["refreshToken"],
        "sk-ant-ort01-a-1"
    );
}

#[test]
fn codex_round_trip_keeps_other_fields() {
    let home = Home::new();
    let b = home.add(O, "b", openai("b", 1, NOW / 1000 + 3600));
    let a = home.add(O, "a", openai("a", 1, NOW / 1000 + 3600));
    let target = home.path(".codex/auth.json");
    let sa = openai("a", 1, NOW / 1000 + 3600);
    write_json(
        &target,
        &json!({
            "OPENAI_API_KEY": null,
            "auth_mode": "chatgpt",
            "tokens": {
                "id_token": sa.extra("id_token").unwrap().expose(),
                "access_token": sa.access_token.expose(),
                "refresh_token": sa.refresh_token.as_ref().unwrap().expose(),
                "account_id": "acct-a"
            },
            "last_refresh": "2026-11-01T10:00:00.000000Z"
        }),
    );
    home.enable(O, HandoffTool::Codex, &target);
    let store = home.store();
    assert_eq!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Current { record_id: a }
    );
    home.switch(O, b);
    assert!(matches!(
        sync(&store, O, false, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == b
    ));
    let v = read_json(&target);
    let sb = openai("b", 1, NOW / 1000 + 3600);
    assert_eq!(v["OPENAI_API_KEY"], Value::Null);
    assert_eq!(v["auth_mode"], "chatgpt");
    assert_eq!(v["tokens"]["account_id"], "acct-b");
    assert_eq!(v["tokens"]["access_token"], sb.access_token.expose());
    assert_eq!(v["tokens"]["refresh_token"], "rt_b_1");
    assert_eq!(
        v["tokens"]["id_token"],
        sb.extra("id_token").unwrap().expose()
    );
    assert_eq!(v["last_refresh"], "2027-01-15T08:00:00.000000Z");
    assert_eq!(v.as_object().unwrap().len(), 4);
    #[cfg(unix)]
    assert_eq!(mode(&target), 0o600);
}

#[test]
fn opencode_keeps_every_other_provider_entry() {
    let home = Home::new();
    let b = home.add(A, "b", claude("b", 1, NOW + HOUR));
    let _a = home.add(A, "a", claude("a", 1, NOW + HOUR));
    let target = home.path(".local/share/opencode/auth.json");
    let others = json!({
        "openrouter": {"type": "api", "key": "sk-or-v1-keep"},
        "github-copilot": {"type": "oauth", "refresh": "gho_keep", "access": "tid=keep", "expires": 1_799_000_000_000_i64},
        "openai": {"type": "oauth", "refresh": "rt_keep", "access": "at_keep", "expires": 5, "accountId": "acct-x"}
    });
    let mut file = others.clone();
    file["anthropic"] = json!({"type": "oauth", "refresh": "sk-ant-ort01-a-1", "access": "sk-ant-oat01-a-1", "expires": NOW + HOUR});
    write_json(&target, &file);
    home.enable(A, HandoffTool::Opencode, &target);
    home.switch(A, b);
    let store = home.store();
    assert!(matches!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == b
    ));
    let v = read_json(&target);
    for (k, entry) in others.as_object().unwrap() {
        assert_eq!(&v[k], entry, "{k} changed");
    }
    assert_eq!(
        v["anthropic"],
        json!({"type": "oauth", "refresh": "sk-ant-ort01-b-1", "access": "sk-ant-oat01-b-1", "expires": NOW + HOUR})
    );
    // Copilot into the same file: the GitHub token goes to `refresh`, the anthropic entry stays.
    let c = home.add(
        ProviderId::GithubCopilot,
        "octo",
        SecretBundle::new("gho_mine"),
    );
    home.enable(ProviderId::GithubCopilot, HandoffTool::Opencode, &target);
    // gho_keep is not one of ours: refused, then forced.
    let err = sync(&store, ProviderId::GithubCopilot, false, NOW).unwrap_err();
    assert!(matches!(err, HandoffError::ForeignLogin { .. }), "{err}");
    assert!(matches!(
        sync(&store, ProviderId::GithubCopilot, true, NOW).unwrap(),
        SyncOutcome::Written { record_id, .. } if record_id == c
    ));
    let v = read_json(&target);
    assert_eq!(v["github-copilot"]["refresh"], "gho_mine");
    assert_eq!(v["github-copilot"]["access"], "");
    assert_eq!(v["anthropic"]["refresh"], "sk-ant-ort01-b-1");
    assert_eq!(v["openrouter"], others["openrouter"]);
}

#[test]
fn adopts_tokens_the_tool_refreshed_before_switching_away() {
    let home = Home::new();
    let b = home.add(A, "b", claude("b", 1, NOW + 8 * HOUR));
    let a = home.add(A, "a", claude("a", 1, NOW + HOUR));
    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();
    assert!(matches!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written { .. }
    ));

    // Claude Code refreshes account a: new single-use pair, later expiry (no identity in file).
    let refreshed = claude("a", 2, NOW + 9 * HOUR);
    write_json(&target, &claude_file(&refreshed));
    // The status still sees account a (the tool's refresh of what we wrote).
    assert_eq!(status(&store, A, NOW).unwrap().state, TargetState::Active);

    home.switch(A, b);
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written {
            record_id: b,
            adopted: Some(a),
            tool: HandoffTool::ClaudeCode,
            target: target.display().to_string(),
        }
    );
    let vault_a = store.credentials(a).unwrap().unwrap();
    assert_eq!(vault_a.access_token.expose(), "sk-ant-oat01-a-2");
    assert_eq!(
        vault_a.refresh_token.as_ref().unwrap().expose(),
        "sk-ant-ort01-a-2"
    );
    assert_eq!(vault_a.expires_at, Some(NOW + 9 * HOUR));
    assert_eq!(
        read_json(&target)["claudeAiOauth"]["accessToken"],
        "sk-ant-oat01-b-1"
    );

    // Switching back writes a's adopted tokens, not the stale ones.
    home.switch(A, a);
    sync(&store, A, false, NOW).unwrap();
    assert_eq!(
        read_json(&target)["claudeAiOauth"]["refreshToken"],
        "sk-ant-ort01-a-2"
    );
}

#[test]
fn refuses_to_overwrite_a_login_that_is_not_ours() {
    let home = Home::new();
    let _a = home.add(O, "a", openai("a", 1, NOW / 1000 + 3600));
    let target = home.path(".codex/auth.json");
    // Codex holds another ChatGPT account (account id unknown to Rota) with newer tokens.
    let other = openai("stranger", 7, NOW / 1000 + 7200);
    let file = json!({
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": other.extra("id_token").unwrap().expose(),
            "access_token": other.access_token.expose(),
            "refresh_token": "rt_stranger_7",
            "account_id": "acct-stranger"
        },
        "last_refresh": "2026-11-01T10:00:00.000000Z"
    });
    write_json(&target, &file);
    let before = std::fs::read(&target).unwrap();
    home.enable(O, HandoffTool::Codex, &target);
    let store = home.store();
    let err = sync(&store, O, false, NOW).unwrap_err();
    assert!(matches!(err, HandoffError::ForeignLogin { .. }), "{err}");
    assert!(err.to_string().contains("rota auth import codex"), "{err}");
    assert!(!err.to_string().contains("rt_stranger"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), before, "file untouched");
    let st = status(&store, O, NOW).unwrap();
    assert_eq!(st.state, TargetState::Foreign);
    assert!(
        st.last_error
            .unwrap()
            .contains("not one of Rota's accounts")
    );
    assert_eq!(st.last_error_at, Some(NOW));
    // The stranger's tokens were not adopted anywhere.
    let vault = store.load_vault().unwrap();
    assert!(
        vault
            .iter()
            .all(|(_, s)| s.refresh_token.as_ref().unwrap().expose() != "rt_stranger_7")
    );

    // Forced: written, and the error is cleared.
    assert!(matches!(
        sync(&store, O, true, NOW).unwrap(),
        SyncOutcome::Written { .. }
    ));
    assert_eq!(read_json(&target)["tokens"]["account_id"], "acct-a");
    let st = status(&store, O, NOW).unwrap();
    assert_eq!((st.state, st.last_error), (TargetState::Active, None));
}

#[test]
fn unreadable_files_and_incomplete_credentials_are_never_written() {
    let home = Home::new();
    let target = home.path(".claude/.credentials.json");
    // An account without a refresh token cannot be a Claude Code login.
    home.add(A, "a", SecretBundle::new("sk-ant-oat01-only-access"));
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();
    let err = sync(&store, A, false, NOW).unwrap_err();
    assert!(matches!(err, HandoffError::MissingSecret { .. }), "{err}");
    assert!(!target.exists());

    // Garbage in the target is left alone, even when forced.
    home.add(A, "b", claude("b", 1, NOW + HOUR));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, b"{\"claudeAiOauth\": {\"accessTok").unwrap();
    for force in [false, true] {
        let err = sync(&store, A, force, NOW).unwrap_err();
        assert!(matches!(err, HandoffError::Unreadable { .. }), "{err}");
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"{\"claudeAiOauth\": {\"accessTok"
    );
    assert_eq!(
        status(&store, A, NOW).unwrap().state,
        TargetState::Unreadable
    );

    // opencode's v2 pool file is not a single login: refused, untouched.
    let oc = home.path(".local/share/opencode/auth.json");
    write_json(&oc, &json!({"version": 2, "providers": {}}));
    let before = std::fs::read(&oc).unwrap();
    home.enable(A, HandoffTool::Opencode, &oc);
    assert!(sync(&store, A, true, NOW).is_err());
    assert_eq!(std::fs::read(&oc).unwrap(), before);

    // A Codex account without an id_token: refused.
    let mut no_id = openai("c", 1, NOW / 1000 + 60);
    no_id.extras.clear();
    home.add(O, "c", no_id);
    let cx = home.path(".codex/auth.json");
    home.enable(O, HandoffTool::Codex, &cx);
    let err = sync(&store, O, false, NOW).unwrap_err();
    assert!(err.to_string().contains("id_token"), "{err}");
    assert!(!cx.exists());
}

#[test]
fn disabled_or_empty_providers_leave_targets_alone() {
    let home = Home::new();
    let store = home.store();
    assert_eq!(sync(&store, A, false, NOW).unwrap(), SyncOutcome::Disabled);
    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    assert_eq!(sync(&store, A, false, NOW).unwrap(), SyncOutcome::NoAccount);
    assert!(!target.exists());
    // A tool that cannot hold the provider's login is refused when chosen.
    assert!(set_handoff(&store, O, true, Some(HandoffTool::ClaudeCode), None).is_err());
    // Turning it off keeps the toggle's target but forgets the mark.
    set_handoff(&store, A, false, None, None).unwrap();
    let st = status(&store, A, NOW).unwrap();
    assert!(!st.enabled);
    assert_eq!(st.target, target.display().to_string());
}

#[test]
fn refresh_gate_leaves_handed_off_accounts_to_the_tool() {
    let home = Home::new();
    let a = home.add(A, "a", claude("a", 1, NOW + HOUR));
    let store = home.store();
    let current = store.credentials(a).unwrap().unwrap();
    // Not handed off: refresh as usual.
    assert_eq!(
        refresh_gate(&store, A, a, &current, NOW).unwrap(),
        RefreshGate::Refresh
    );

    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    sync(&store, A, false, NOW).unwrap();
    // The tool holds our valid tokens: it refreshes them, not us.
    assert_eq!(
        refresh_gate(&store, A, a, &current, NOW).unwrap(),
        RefreshGate::LeaveToTool
    );
    // Expired and unchanged: we refresh (and then sync).
    assert_eq!(
        refresh_gate(&store, A, a, &current, NOW + 2 * HOUR).unwrap(),
        RefreshGate::RefreshThenSync
    );
    // The tool refreshed: adopt, no network.
    write_json(&target, &claude_file(&claude("a", 2, NOW + 8 * HOUR)));
    let RefreshGate::Adopted(fresh) = refresh_gate(&store, A, a, &current, NOW).unwrap() else {
        panic!("expected adoption");
    };
    assert_eq!(fresh.access_token.expose(), "sk-ant-oat01-a-2");
    assert_eq!(store.credentials(a).unwrap().unwrap(), fresh);
}

// ---------------------------------------------------------------- crash during hand-off

const CHILD_DIR: &str = "ROTA_HANDOFF_TEST_CHILD_DIR";

/// Runs only as the child of `crash_mid_write_leaves_old_or_new_file`.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = open_store(&PathBuf::from(dir));
    let _ = sync(&store, A, false, NOW);
}

#[test]
fn crash_mid_write_leaves_old_or_new_file() {
    for (point, expect_new) in [
        ("after_write", false),
        ("after_fsync", false),
        ("after_rename", true),
    ] {
        let home = Home::new();
        let b = home.add(A, "b", claude("b", 1, NOW + HOUR));
        let _a = home.add(A, "a", claude("a", 1, NOW + HOUR));
        let target = home.path(".claude/.credentials.json");
        home.enable(A, HandoffTool::ClaudeCode, &target);
        sync(&home.store(), A, false, NOW).unwrap();
        let old = std::fs::read(&target).unwrap();
        home.switch(A, b);

        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "handoff::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, home.path("rota-home"))
            .env("ROTA_HANDOFF_FAILPOINT", point)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "{point}: the child should have aborted");
        let now = std::fs::read(&target).unwrap();
        let v: Value = serde_json::from_slice(&now).expect("always a whole JSON file");
        if expect_new {
            assert_eq!(
                v["claudeAiOauth"]["accessToken"], "sk-ant-oat01-b-1",
                "{point}"
            );
        } else {
            assert_eq!(now, old, "{point}: the old file stays");
        }
        // The next sync (no failpoint) finishes the job and clears the crashed writer's temp.
        assert!(matches!(
            sync(&home.store(), A, false, NOW).unwrap(),
            SyncOutcome::Written { .. } | SyncOutcome::Current { .. }
        ));
        assert_eq!(
            read_json(&target)["claudeAiOauth"]["accessToken"],
            "sk-ant-oat01-b-1"
        );
        let leftovers: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
    }
}

const LOOP_DIR: &str = "ROTA_HANDOFF_TEST_LOOP_DIR";

/// Runs only as the child of `killed_at_random_points_the_file_is_always_whole`: switches and
/// hands off in a loop until killed.
#[test]
fn crash_loop_child() {
    let Some(dir) = std::env::var_os(LOOP_DIR) else {
        return;
    };
    let store = open_store(&PathBuf::from(dir));
    let ids = store.load().unwrap().ordered_ids(A, DEFAULT_NAMESPACE);
    for i in 0..100_000 {
        store
            .set_active(
                A,
                DEFAULT_NAMESPACE,
                ids[i % 2],
                SwitchReason::ManualCli,
                NOW,
            )
            .unwrap();
        sync(&store, A, false, NOW).unwrap();
    }
}

#[test]
fn killed_at_random_points_the_file_is_always_whole() {
    let home = Home::new();
    home.add(A, "b", claude("b", 1, NOW + HOUR));
    home.add(A, "a", claude("a", 1, NOW + HOUR));
    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    sync(&home.store(), A, false, NOW).unwrap();
    let mut seed = u64::from(std::process::id()) | 1;
    for round in 0..8 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "handoff::crash_loop_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(LOOP_DIR, home.path("rota-home"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // xorshift: a different kill time each round, no extra dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(30 + seed % 250));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let v = read_json(&target);
        let token = v["claudeAiOauth"]["accessToken"]
            .as_str()
            .unwrap_or_default();
        assert!(
            token == "sk-ant-oat01-a-1" || token == "sk-ant-oat01-b-1",
            "round {round}: {v}"
        );
        assert_eq!(
            v["claudeAiOauth"]["scopes"].as_array().map(Vec::len),
            Some(3)
        );
        // The store is whole too, and the next sync converges.
        let store = home.store();
        store.load().unwrap();
        assert!(matches!(
            sync(&store, A, false, NOW).unwrap(),
            SyncOutcome::Written { .. } | SyncOutcome::Current { .. }
        ));
        let active = store
            .load()
            .unwrap()
            .active_id(A, DEFAULT_NAMESPACE, NOW)
            .unwrap();
        let expected = store.credentials(active).unwrap().unwrap();
        assert_eq!(
            read_json(&target)["claudeAiOauth"]["accessToken"],
            expected.access_token.expose()
        );
    }
}

// ---------------------------------------------------------------- autopilot

fn usage(at: i64, five: f64) -> UsageSnapshot {
    UsageSnapshot {
        fetched_at: at,
        status: None,
        windows: vec![
            UsageWindow::new(WindowKind::FiveHour, five, Some(at + HOUR)),
            UsageWindow::new(WindowKind::SevenDay, 20.0, Some(at + 50 * HOUR)),
        ],
        usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
    }
}

fn record_usage(store: &PoolStore, id: Ulid, u: UsageSnapshot) {
    store
        .mutate(|txn| -> rota_store::Result<()> {
            txn.state.record_usage(A, id, u)?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn autopilot_switches_proactively_and_rewrites_the_target() {
    let home = Home::new();
    let t0 = rota_store::now_ms();
    // Logged in two hours ago: the dwell time after the last switch is over.
    let b = home.add_at(A, "b", claude("b", 1, t0 + 8 * HOUR), t0 - 2 * HOUR);
    let a = home.add_at(A, "a", claude("a", 1, t0 + 8 * HOUR), t0 - 2 * HOUR);
    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = Arc::new(home.store());
    set_proactive(&store, A, true).unwrap();
    let config = AutopilotConfig {
        tick: Duration::from_millis(100),
        watch_interval: Duration::from_millis(50),
        ..AutopilotConfig::default()
    };
    record_usage(&store, b, usage(t0 - 1000, 10.0));
    record_usage(&store, a, usage(t0 - 1000, 50.0));
    // A deterministic pass first: below the threshold only the hand-off happens.
    let events = rota_handoff::run_once(&store, &config, t0);
    assert!(
        matches!(&events[..], [AutopilotEvent::HandedOff { record_id, .. }] if *record_id == a.to_string()),
        "{events:?}"
    );
    assert!(
        rota_handoff::run_once(&store, &config, t0).is_empty(),
        "idempotent"
    );

    // The running autopilot: usage rises past 95 % (a store write, as from another process).
    let (tx, rx) = std::sync::mpsc::channel();
    let pilot = rota_handoff::Autopilot::spawn(store.clone(), config, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    record_usage(&store, a, usage(rota_store::now_ms(), 96.2));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(e);
        }
        let switched = seen
            .iter()
            .any(|e| matches!(e, AutopilotEvent::Switched(s) if s.to == b.to_string()));
        let handed = seen.iter().any(
            |e| matches!(e, AutopilotEvent::HandedOff { record_id, .. } if *record_id == b.to_string()),
        );
        if switched && handed {
            break;
        }
    }
    pilot.stop();
    let entry = seen
        .iter()
        .find_map(|e| match e {
            AutopilotEvent::Switched(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no switch: {seen:?}"));
    assert_eq!(entry.reason, SwitchReason::Proactive);
    assert_eq!(entry.detail.unwrap().percent, Some(96));
    assert_eq!(
        read_json(&target)["claudeAiOauth"]["accessToken"],
        "sk-ant-oat01-b-1"
    );
    let state = store.load().unwrap();
    assert_eq!(
        state.switch_log.back().unwrap().reason,
        SwitchReason::Proactive
    );
    assert_eq!(
        state.active_id(A, DEFAULT_NAMESPACE, rota_store::now_ms()),
        Some(b)
    );
}

#[test]
fn the_login_of_a_removed_account_is_replaced() {
    let home = Home::new();
    let b = home.add(A, "b", claude("b", 1, NOW + HOUR));
    let a = home.add(A, "a", claude("a", 1, NOW + HOUR));
    let target = home.path(".claude/.credentials.json");
    home.enable(A, HandoffTool::ClaudeCode, &target);
    let store = home.store();
    sync(&store, A, false, NOW).unwrap();
    // The tool even refreshed it before the account was removed from Rota.
    write_json(&target, &claude_file(&claude("a", 2, NOW + 2 * HOUR)));
    store
        .remove_record(A, rota_types::DEFAULT_NAMESPACE, a, NOW)
        .unwrap();
    assert_eq!(
        status(&store, A, NOW).unwrap().state,
        TargetState::OtherAccount
    );
    assert_eq!(
        sync(&store, A, false, NOW).unwrap(),
        SyncOutcome::Written {
            record_id: b,
            adopted: None,
            tool: HandoffTool::ClaudeCode,
            target: target.display().to_string(),
        }
    );
    assert_eq!(
        read_json(&target)["claudeAiOauth"]["accessToken"],
        "sk-ant-oat01-b-1"
    );
}

#[test]
fn autopilot_thresholds_come_from_the_config_file() {
    let config = rota_config::Config::parse(
        "[proactive]\nthreshold = 80.0\nhysteresis = 5.0\nmin_dwell_secs = 5\n",
    )
    .unwrap();
    let c = AutopilotConfig::from_config(&config);
    assert!((c.policy.threshold - 80.0).abs() < f64::EPSILON);
    assert!((c.policy.hysteresis - 5.0).abs() < f64::EPSILON);
    assert_eq!(c.policy.min_dwell_ms, 5_000);
    assert_eq!(
        c.policy.max_usage_age_ms,
        AutopilotConfig::default().policy.max_usage_age_ms
    );
}

#[test]
fn two_providers_writing_one_opencode_file_lose_nothing() {
    let home = Home::new();
    let a_ids = [
        home.add(A, "a1", claude("a1", 1, NOW + HOUR)),
        home.add(A, "a2", claude("a2", 1, NOW + HOUR)),
    ];
    let c_ids = [
        home.add(ProviderId::GithubCopilot, "c1", SecretBundle::new("gho_c1")),
        home.add(ProviderId::GithubCopilot, "c2", SecretBundle::new("gho_c2")),
    ];
    let target = home.path(".local/share/opencode/auth.json");
    write_json(
        &target,
        &json!({"openrouter": {"type": "api", "key": "sk-or-keep"}}),
    );
    home.enable(A, HandoffTool::Opencode, &target);
    home.enable(ProviderId::GithubCopilot, HandoffTool::Opencode, &target);
    let dir = home.path("rota-home");
    // Two writers (separate store handles, as two processes would have), each switching its own
    // provider back and forth and syncing the shared file.
    let run = |provider: ProviderId, ids: [Ulid; 2]| {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let store = open_store(&dir);
            for i in 0..20 {
                store
                    .set_active(
                        provider,
                        DEFAULT_NAMESPACE,
                        ids[i % 2],
                        SwitchReason::ManualCli,
                        NOW,
                    )
                    .unwrap();
                sync(&store, provider, false, NOW).unwrap();
            }
        })
    };
    let t1 = run(A, a_ids);
    let t2 = run(ProviderId::GithubCopilot, c_ids);
    t1.join().unwrap();
    t2.join().unwrap();
    // The last switch of each (index 19: the second account) is in the file, next to the key.
    let v = read_json(&target);
    assert_eq!(v["anthropic"]["access"], "sk-ant-oat01-a2-1");
    assert_eq!(v["github-copilot"]["refresh"], "gho_c2");
    assert_eq!(v["openrouter"]["key"], "sk-or-keep");
}
