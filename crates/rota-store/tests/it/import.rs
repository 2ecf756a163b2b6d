//! Importers against real-format sample files (tests/fixtures), their errors, and importing into
//! the pool store (upsert, no duplicates on re-import, sources untouched).

use std::path::PathBuf;

use rota_store::import::{ImportSource, import_file};
use rota_store::{PoolStore, Store, StoreError};
use rota_types::{DEFAULT_NAMESPACE, ErrorCode, ProviderId};

fn fixture(name: &str) -> PathBuf {
    crate::common::fixtures_dir().join(name)
}

#[test]
fn claude_code_credentials() {
    let report = import_file(
        ImportSource::ClaudeCode,
        &fixture("claude-credentials.json"),
    )
    .unwrap();
    assert_eq!(report.accounts.len(), 1);
    let a = &report.accounts[0];
    assert_eq!(a.provider, ProviderId::Anthropic);
    assert_eq!(a.namespace, DEFAULT_NAMESPACE);
    assert_eq!(a.identity.plan.as_deref(), Some("max"));
    assert_eq!(
        a.secrets.access_token.expose(),
        "sk-ant-oat01-FIXTURE-access-0001"
    );
    assert_eq!(
        a.secrets.refresh_token.as_ref().unwrap().expose(),
        "sk-ant-ort01-FIXTURE-refresh-0001"
    );
    assert_eq!(a.secrets.expires_at, Some(1_790_028_000_000));
    assert_eq!(
        a.secrets.extra("scopes").unwrap().expose(),
        "user:inference user:profile user:sessions:claude_code"
    );
}

#[test]
fn codex_auth_with_identity_from_the_id_token() {
    let report = import_file(ImportSource::Codex, &fixture("codex-auth.json")).unwrap();
    let a = &report.accounts[0];
    assert_eq!(a.provider, ProviderId::OpenAi);
    assert_eq!(a.identity.email.as_deref(), Some("dev@example.com"));
    assert_eq!(
        a.identity.account_id.as_deref(),
        Some("4a1b2c3d-0000-4000-8000-00000000c0de")
    );
    assert_eq!(a.identity.plan.as_deref(), Some("pro"));
    assert_eq!(
        a.secrets.refresh_token.as_ref().unwrap().expose(),
        "rt_FIXTURE-codex-refresh-0001"
    );
    assert!(
        a.secrets
            .extra("id_token")
            .unwrap()
            .expose()
            .starts_with("eyJ")
    );
    assert_eq!(
        a.secrets.expires_at,
        Some(1_790_003_600_000),
        "from the access token's exp"
    );
}

#[test]
fn codex_identity_falls_back_to_the_claim_when_account_id_is_absent() {
    let text = std::fs::read_to_string(fixture("codex-auth.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["tokens"].as_object_mut().unwrap().remove("account_id");
    let report = rota_store::import::parse(ImportSource::Codex, v.to_string().as_bytes()).unwrap();
    assert_eq!(
        report.accounts[0].identity.account_id.as_deref(),
        Some("4a1b2c3d-0000-4000-8000-00000000c0de")
    );
}

#[test]
fn opencode_v1_flat_map() {
    let report = import_file(ImportSource::Opencode, &fixture("opencode-auth-v1.json")).unwrap();
    let providers: Vec<_> = report.accounts.iter().map(|a| a.provider).collect();
    assert_eq!(
        providers,
        [
            ProviderId::Anthropic,
            ProviderId::GithubCopilot,
            ProviderId::OpenAi
        ]
    );
    let copilot = &report.accounts[1];
    assert_eq!(
        copilot.secrets.access_token.expose(),
        "gho_FIXTUREgithubtoken0001",
        "the GitHub token"
    );
    assert!(copilot.secrets.refresh_token.is_none());
    let openai = &report.accounts[2];
    assert_eq!(
        openai.identity.account_id.as_deref(),
        Some("acct-oc-openai-1")
    );
    assert_eq!(openai.secrets.expires_at, Some(1_790_003_600_000));
    let skipped: Vec<_> = report.skipped.iter().map(|s| s.entry.as_str()).collect();
    assert_eq!(skipped, ["google", "openrouter"]);
}

#[test]
fn opencode_copilot_login_of_its_own_github_app_is_marked_direct() {
    // opencode's GitHub app stores the GitHub token as both `refresh` and `access`, `expires: 0`:
    // the Copilot API takes it directly (its token exchange answers 404).
    let report = import_file(
        ImportSource::Opencode,
        &fixture("opencode-copilot-app.json"),
    )
    .unwrap();
    let copilot = &report.accounts[0];
    assert_eq!(copilot.provider, ProviderId::GithubCopilot);
    assert_eq!(
        copilot.secrets.access_token.expose(),
        "gho_FIXTUREopencodeapp0002"
    );
    assert!(copilot.secrets.extra(rota_store::COPILOT_DIRECT).is_some());
    assert!(copilot.secrets.extra("copilot_token").is_none());
    // A login with an exchanged Copilot token in `access` is not direct.
    let report = import_file(ImportSource::Opencode, &fixture("opencode-auth-v1.json")).unwrap();
    assert!(
        report.accounts[1]
            .secrets
            .extra(rota_store::COPILOT_DIRECT)
            .is_none()
    );
}

#[test]
fn opencode_v2_pool() {
    let report = import_file(ImportSource::Opencode, &fixture("opencode-auth-v2.json")).unwrap();
    let labels: Vec<_> = report
        .accounts
        .iter()
        .map(|a| a.label.as_deref().unwrap())
        .collect();
    // Imported so that upserting in turn reproduces the order with the active account in front.
    assert_eq!(labels, ["Account 3", "Work", "Personal", "Codex"]);
    assert_eq!(
        report.accounts[2].identity.account_id.as_deref(),
        Some("acct-v2-2")
    );
}

#[test]
fn unknown_shapes_are_errors_naming_the_field() {
    let cases = [
        (
            ImportSource::ClaudeCode,
            "claude-missing-refresh.json",
            "claudeAiOauth.refreshToken",
        ),
        (
            ImportSource::Codex,
            "codex-bad-id-token.json",
            "tokens.id_token",
        ),
        (
            ImportSource::Opencode,
            "opencode-v2-missing-refresh.json",
            "providers.anthropic.records[0].refresh",
        ),
        (ImportSource::ClaudeCode, "codex-auth.json", "claudeAiOauth"),
        (ImportSource::Codex, "claude-credentials.json", "tokens"),
    ];
    for (source, file, field) in cases {
        let err = import_file(source, &fixture(file)).unwrap_err();
        assert!(matches!(err, StoreError::ImportFormat { .. }), "{err}");
        assert_eq!(err.code(), ErrorCode::Unreadable);
        let text = err.to_string();
        assert!(text.contains(&format!("`{field}`")), "{file}: {text}");
        assert!(text.contains(file), "names the file: {text}");
        assert!(
            !text.contains("FIXTURE") && !text.contains("sk-ant"),
            "no values: {text}"
        );
    }
    let err = rota_store::import::parse(ImportSource::Opencode, br#"{"version": 3}"#).unwrap_err();
    assert!(err.contains("`version`"), "{err}");
    let err = rota_store::import::parse(ImportSource::Opencode, b"[1]").unwrap_err();
    assert!(err.contains("top level"), "{err}");
}

#[test]
fn default_paths_follow_each_tool() {
    let p = |s: ImportSource| s.default_path().unwrap().display().to_string();
    assert!(p(ImportSource::ClaudeCode).ends_with(".claude/.credentials.json"));
    assert!(p(ImportSource::Codex).ends_with("auth.json"));
    assert!(p(ImportSource::Opencode).ends_with("opencode/auth.json"));
    assert_eq!(
        ImportSource::parse("claude-code"),
        Some(ImportSource::ClaudeCode)
    );
}

#[test]
fn importing_into_the_pool_upserts_and_never_touches_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let store: PoolStore = Store::open(crate::common::file_config(tmp.path())).unwrap();
    let mut fingerprints = Vec::new();
    for name in [
        "claude-credentials.json",
        "codex-auth.json",
        "opencode-auth-v2.json",
    ] {
        let path = fixture(name);
        let meta = std::fs::metadata(&path).unwrap();
        fingerprints.push((
            path,
            std::fs::read(fixture(name)).unwrap(),
            meta.modified().unwrap(),
            meta.permissions(),
        ));
    }
    let now = 1_789_999_000_000;
    for source in [
        ImportSource::ClaudeCode,
        ImportSource::Codex,
        ImportSource::Opencode,
    ] {
        let file = match source {
            ImportSource::ClaudeCode => "claude-credentials.json",
            ImportSource::Codex => "codex-auth.json",
            ImportSource::Opencode => "opencode-auth-v2.json",
        };
        // Twice: a re-import updates instead of duplicating.
        for _ in 0..2 {
            let report = import_file(source, &fixture(file)).unwrap();
            store.import_accounts(report.accounts, now).unwrap();
        }
    }
    let state = store.load().unwrap();
    let anthropic = state.pool(ProviderId::Anthropic).unwrap();
    assert_eq!(
        anthropic.records.len(),
        4,
        "claude code + 3 opencode v2 records, no duplicates"
    );
    let openai = state.pool(ProviderId::OpenAi).unwrap();
    assert_eq!(openai.records.len(), 2);
    let ordered = anthropic.ordered_ids(DEFAULT_NAMESPACE);
    let label = |id| anthropic.record(id).unwrap().label.clone();
    assert_eq!(
        label(ordered[0]),
        "Personal",
        "opencode's active account is active"
    );
    assert_eq!(label(ordered[1]), "Work");
    assert_eq!(anthropic.active[DEFAULT_NAMESPACE], ordered[0]);
    let codex = openai
        .records
        .iter()
        .find(|r| r.identity.email.is_some())
        .unwrap();
    assert_eq!(codex.label, "dev@example.com");
    let secrets = store.credentials(codex.id).unwrap().unwrap();
    assert_eq!(
        secrets.refresh_token.unwrap().expose(),
        "rt_FIXTURE-codex-refresh-0001"
    );
    // No token in the state file.
    let state_text = std::fs::read_to_string(&store.paths().state).unwrap();
    assert!(
        !state_text.contains("FIXTURE"),
        "a token reached state.json"
    );
    for (path, bytes, mtime, perms) in fingerprints {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{} modified",
            path.display()
        );
        assert_eq!(meta.modified().unwrap(), mtime);
        assert_eq!(meta.permissions(), perms);
    }
}

#[test]
fn a_tool_without_a_login_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join(".credentials.json");
    let err = rota_store::import::import_file(ImportSource::ClaudeCode, &missing).unwrap_err();
    assert_eq!(err.code(), rota_types::ErrorCode::NotFound);
    let text = err.to_string();
    assert!(text.starts_with("no Claude Code login found at "), "{text}");
    assert!(text.contains("sign in to Claude Code first"), "{text}");
    assert!(!text.contains("os error"), "{text}");
}
