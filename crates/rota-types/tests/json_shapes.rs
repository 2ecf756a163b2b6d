//! Pins the JSON every edge sends: a change here is a breaking change for the UI, scripts
//! reading `rota --json` and HTTP API clients.

use rota_types::command::{
    AppInfo, AppLink, Empty, LinkKind, ProviderListing, SettingsTab, UiPrefs,
};
use rota_types::{ApiError, ErrorCode, ProviderId};
use serde_json::json;

#[test]
fn error_is_code_and_message() {
    let e = ApiError::not_found("no account 01J in anthropic");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"code": "not_found", "message": "no account 01J in anthropic"})
    );
    let back: ApiError =
        serde_json::from_value(json!({"code": "invalid_input", "message": "x"})).unwrap();
    assert_eq!(back.code, ErrorCode::InvalidInput);
}

#[test]
fn provider_ids_on_the_wire() {
    assert_eq!(
        serde_json::to_value(ProviderId::GithubCopilot).unwrap(),
        json!("github-copilot")
    );
    assert_eq!(
        serde_json::to_value(ProviderId::OpenAi).unwrap(),
        json!("openai")
    );
    for p in ProviderId::ALL {
        assert_eq!(ProviderId::parse(p.as_str()), Some(p));
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert_eq!(ProviderId::parse("Anthropic"), None);
}

#[test]
fn providers_from_what_people_type() {
    for (typed, want) in [
        ("anthropic", ProviderId::Anthropic),
        (" Claude ", ProviderId::Anthropic),
        ("copilot", ProviderId::GithubCopilot),
        ("GitHub-Copilot", ProviderId::GithubCopilot),
        ("codex", ProviderId::OpenAi),
        ("chatgpt", ProviderId::OpenAi),
    ] {
        assert_eq!(typed.parse::<ProviderId>(), Ok(want), "{typed:?}");
    }
    let typo = "antropic".parse::<ProviderId>().unwrap_err();
    assert_eq!(typo.suggestion, Some(ProviderId::Anthropic));
    assert_eq!(
        typo.to_string(),
        "unknown provider \"antropic\"; did you mean \"anthropic\"? (known: anthropic, github-copilot, openai)"
    );
    assert_eq!(
        "copilto".parse::<ProviderId>().unwrap_err().suggestion,
        Some(ProviderId::GithubCopilot)
    );
    let far = "mistral".parse::<ProviderId>().unwrap_err();
    assert_eq!(far.suggestion, None);
    assert_eq!(
        far.to_string(),
        "unknown provider \"mistral\" (known: anthropic, github-copilot, openai)"
    );
}

/// The wire takes exact ids only, and an unknown one is the same `not_found` error on every
/// surface (IPC and HTTP), naming the nearest id.
#[test]
fn providers_from_the_wire() {
    assert_eq!(ProviderId::from_wire("openai"), Ok(ProviderId::OpenAi));
    let alias = ProviderId::from_wire("claude").unwrap_err();
    assert_eq!(alias.suggestion, Some(ProviderId::Anthropic));
    let err = rota_types::ApiError::from(ProviderId::from_wire("bogus").unwrap_err());
    assert_eq!(err.code, rota_types::ErrorCode::NotFound);
    assert!(
        err.message.starts_with("unknown provider \"bogus\""),
        "{err}"
    );
}

#[test]
fn providers_are_alphabetical_by_display_name() {
    let names: Vec<_> = ProviderId::ALL.iter().map(|p| p.display_name()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
}

#[test]
fn provider_listing_is_flat_camel_case() {
    let l = ProviderListing {
        info: ProviderId::Anthropic.info(),
        account_count: 2,
        active_label: Some("work".to_owned()),
        needs_reauth: 1,
        cooling_down: 0,
    };
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["id"], json!("anthropic"));
    assert_eq!(v["displayName"], json!("Anthropic"));
    assert_eq!(v["authType"], json!("oauth"));
    assert_eq!(v["gatewayPath"], json!("/anthropic"));
    assert_eq!(v["accountCount"], json!(2));
    assert_eq!(v["activeLabel"], json!("work"));
    assert_eq!(v["needsReauth"], json!(1));
    assert_eq!(v["coolingDown"], json!(0));
}

#[test]
fn ui_prefs_and_app_info_shapes() {
    assert_eq!(
        serde_json::to_value(UiPrefs {
            last_tab: SettingsTab::ProviderDetail
        })
        .unwrap(),
        json!({"lastTab": "provider_detail"})
    );
    // Missing field → default; unknown field or tab → error (no silent acceptance of junk).
    assert_eq!(
        serde_json::from_value::<UiPrefs>(json!({})).unwrap(),
        UiPrefs::default()
    );
    assert!(serde_json::from_value::<UiPrefs>(json!({"lastTab": "nope"})).is_err());
    assert!(serde_json::from_value::<UiPrefs>(json!({"other": 1})).is_err());
    assert!(serde_json::from_value::<Empty>(json!({"x": 1})).is_err());

    let info = AppInfo {
        name: "Rota".into(),
        version: "0.1.0".into(),
        data_dir: "~/.local/share/rota".into(),
        gateway_url: "http://127.0.0.1:4141".into(),
        links: vec![AppLink {
            kind: LinkKind::Repository,
            label: "Source code".into(),
            url: "https://example.invalid".into(),
        }],
        secret_backend: rota_types::command::SecretBackendInfo {
            label: "plaintext file (0600)".into(),
            warning: Some("no working OS keychain".into()),
        },
    };
    let v = serde_json::to_value(&info).unwrap();
    assert_eq!(
        v["secretBackend"],
        json!({"label": "plaintext file (0600)", "warning": "no working OS keychain"})
    );
    assert_eq!(v["dataDir"], json!("~/.local/share/rota"));
    assert_eq!(v["gatewayUrl"], json!("http://127.0.0.1:4141"));
    assert_eq!(v["links"][0]["kind"], json!("repository"));
}

#[test]
fn account_command_requests_use_the_seed_spellings() {
    use rota_types::command::{AccountRequest, PoolRequest, RenameRequest, UsageRequest};
    let r: AccountRequest =
        serde_json::from_value(json!({"providerID": "anthropic", "recordID": "01J"})).unwrap();
    assert_eq!(
        (r.provider_id.as_str(), r.record_id.as_str()),
        ("anthropic", "01J")
    );
    assert_eq!(r.namespace, None);
    // An unknown provider still parses here: the operation answers it with `not_found`.
    let p: PoolRequest = serde_json::from_value(json!({"providerID": "bogus"})).unwrap();
    assert_eq!(p.provider_id, "bogus");
    assert!(serde_json::from_value::<PoolRequest>(json!({"providerID": "a", "x": 1})).is_err());
    let n: RenameRequest =
        serde_json::from_value(json!({"providerID": "openai", "recordID": "01J", "label": "Work"}))
            .unwrap();
    assert_eq!(n.label.as_deref(), Some("Work"));
    assert!(
        !serde_json::from_value::<UsageRequest>(json!({}))
            .unwrap()
            .refresh
    );
}

#[test]
fn command_names_are_unique_snake_case() {
    let mut names = rota_types::COMMAND_NAMES.to_vec();
    assert!(
        names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    );
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rota_types::COMMAND_NAMES.len());
}

// ---- pool, usage, API bodies, events, switch log ----

use rota_types::event::EVENT_NAMES;
use rota_types::{
    AccountHealth, AccountIdentity, AccountRequest, AccountSummary, AnthropicExtra, AnthropicUsage,
    CopilotUsage, Event, HealthzResponse, HttpErrorBody, LegacyWindow, LimitStatus, LoginProgress,
    LoginState, OpenAiUsage, PoolChanged, PoolSnapshot, ProviderUsage, ProviderUsageEntry,
    RemoveAccountResponse, RenameRequest, SessionUpdated, SetActiveResponse, Severity,
    SuccessResponse, SwitchLogEntry, SwitchReason, Switched, UsageResponse, UsageSnapshot,
    UsageUpdated, UsageWindow, WindowKind,
};

fn summary() -> AccountSummary {
    AccountSummary {
        id: "01JD0000000000000000000001".into(),
        label: "work@example.com".into(),
        is_active: true,
        namespace: "default".into(),
        identity: AccountIdentity {
            account_id: Some("uuid-1".into()),
            email: Some("work@example.com".into()),
            organization: None,
            plan: Some("max".into()),
        },
        health: AccountHealth {
            success_count: 3,
            failure_count: 1,
            last_status_code: Some(429),
            last_error_at: Some(1_700_000_000_000),
            cooldown_until: Some(1_700_000_030_000),
            needs_reauth: false,
        },
        created_at: 1,
        updated_at: 2,
        usage: None,
        exhaustion: None,
        reset_credits: None,
        extra_usage: None,
    }
}

#[test]
fn account_summary_shape() {
    assert_eq!(
        serde_json::to_value(summary()).unwrap(),
        json!({
            "id": "01JD0000000000000000000001",
            "label": "work@example.com",
            "isActive": true,
            "namespace": "default",
            "identity": {"accountId": "uuid-1", "email": "work@example.com", "organization": null, "plan": "max"},
            "health": {
                "successCount": 3, "failureCount": 1, "lastStatusCode": 429,
                "lastErrorAt": 1_700_000_000_000_i64, "cooldownUntil": 1_700_000_030_000_i64,
                "needsReauth": false
            },
            "createdAt": 1, "updatedAt": 2,
            "usage": null
        })
    );
    // Older or smaller producers (the seed's `{id, label, isActive, health}`) still parse.
    let min: AccountSummary = serde_json::from_value(json!({
        "id": "x", "label": "Account 1", "isActive": false,
        "health": {"successCount": 0, "failureCount": 0}
    }))
    .unwrap();
    assert_eq!(min.health.cooldown_until, None);
    assert!(!min.health.needs_reauth);
}

#[test]
fn snapshot_uses_seed_spellings() {
    let s = PoolSnapshot {
        records: vec![],
        ordered_ids: vec!["a".into(), "b".into()],
        active_id: Some("a".into()),
    };
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"records": [], "orderedIDs": ["a", "b"], "activeID": "a"})
    );
    let empty = PoolSnapshot::default();
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({"records": [], "orderedIDs": [], "activeID": null})
    );
}

#[test]
fn usage_snapshot_shapes() {
    let anthropic = UsageSnapshot {
        fetched_at: 10,
        status: Some(LimitStatus::AllowedWarning),
        windows: vec![
            UsageWindow::new(WindowKind::FiveHour, 42.5, Some(100)),
            UsageWindow::new(WindowKind::SevenDay, 10.0, Some(200)),
            UsageWindow::scoped(WindowKind::SevenDay, "Fable", 100.0, Some(200))
                .with_severity(Severity::Critical),
        ],
        usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
    };
    let v = serde_json::to_value(&anthropic).unwrap();
    assert_eq!(
        v,
        json!({
            "fetchedAt": 10, "status": "allowed_warning", "provider": "anthropic",
            "windows": [
                {"key": "five_hour", "kind": "five_hour", "label": "5-Hour", "utilization": 42.5,
                 "severity": "normal", "resetsAt": 100},
                {"key": "seven_day", "kind": "seven_day", "label": "7-Day (All Models)",
                 "utilization": 10.0, "severity": "normal", "resetsAt": 200},
                {"key": "seven_day:fable", "kind": "seven_day", "label": "7-Day (Fable)",
                 "utilization": 100.0, "severity": "critical", "resetsAt": 200, "model": "Fable"}
            ]
        })
    );
    assert_eq!(
        serde_json::from_value::<UsageSnapshot>(v).unwrap(),
        anthropic
    );
    // The Fable cap does not make the account look full; it limits Fable requests only.
    assert!((anthropic.max_utilization() - 42.5).abs() < f64::EPSILON);
    assert_eq!(anthropic.derived_status(), LimitStatus::Allowed);
    assert!(anthropic.exhausted_scope_for("claude-fable-4-5").is_some());
    assert!(anthropic.exhausted_scope_for("claude-sonnet-4-5").is_none());
    // The HTTP API's seed shape is derived from the list.
    assert_eq!(
        serde_json::to_value(AnthropicUsage::from_windows(&anthropic.windows)).unwrap(),
        json!({"fiveHour": {"utilization": 42.5, "resetsAt": 100},
               "sevenDay": {"utilization": 10.0, "resetsAt": 200}, "sevenDaySonnet": null})
    );

    let openai = UsageSnapshot {
        fetched_at: 1,
        status: None,
        windows: vec![UsageWindow::new(WindowKind::FiveHour, 5.0, None).with_minutes(Some(300))],
        usage: ProviderUsage::OpenAi(OpenAiUsage {
            plan_type: Some("plus".into()),
        }),
    };
    let v = serde_json::to_value(&openai).unwrap();
    assert_eq!(v["provider"], json!("openai"));
    assert_eq!(v["planType"], json!("plus"));
    assert_eq!(
        v["windows"][0],
        json!({"key": "five_hour", "kind": "five_hour", "label": "5-Hour", "utilization": 5.0,
               "severity": "normal", "resetsAt": null, "windowMinutes": 300})
    );
    assert_eq!(serde_json::from_value::<UsageSnapshot>(v).unwrap(), openai);

    let copilot = UsageSnapshot {
        fetched_at: 1,
        status: None,
        windows: vec![UsageWindow::new(WindowKind::Premium, 30.0, Some(5))],
        usage: ProviderUsage::GithubCopilot(CopilotUsage {
            entitlement: Some(300),
            remaining: Some(210.0),
            unlimited: false,
            credits: false,
        }),
    };
    let v = serde_json::to_value(&copilot).unwrap();
    assert_eq!(v["provider"], json!("github-copilot"));
    assert_eq!(v["entitlement"], json!(300));
    assert_eq!(
        v["windows"][0]["label"],
        json!("Premium Requests (monthly)")
    );
    assert_eq!(serde_json::from_value::<UsageSnapshot>(v).unwrap(), copilot);
    assert_eq!(WindowKind::SevenDaySonnet.label(None), "7-Day (Sonnet)");

    // A snapshot stored before windows were a list still loads (its windows come back on the
    // next poll), so an old state file is not quarantined.
    let old: UsageSnapshot = serde_json::from_value(json!({
        "fetchedAt": 3, "status": "allowed", "provider": "anthropic",
        "fiveHour": {"utilization": 1.0, "resetsAt": null}, "sevenDay": null, "sevenDaySonnet": null
    }))
    .unwrap();
    assert!(old.windows.is_empty());
    // An account billed in AI credits shows them as its monthly window.
    assert_eq!(WindowKind::Credits.label(None), "AI Credits (monthly)");
}

#[test]
#[allow(clippy::too_many_lines)] // every /auth/* body in one place, as the API table lists them
fn http_api_bodies() {
    let req: AccountRequest =
        serde_json::from_value(json!({"providerID": "anthropic", "recordID": "01J"})).unwrap();
    assert_eq!(req.provider_id, "anthropic");
    assert_eq!(req.namespace, None);
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        json!({"providerID": "anthropic", "recordID": "01J"})
    );
    // Wrong spellings and unknown fields are rejected, not ignored; an unknown provider is the
    // operation's `not_found` (rota-ops), the same over HTTP and IPC.
    assert!(
        serde_json::from_value::<AccountRequest>(
            json!({"providerId": "anthropic", "recordID": "x"})
        )
        .is_err()
    );
    assert!(
        serde_json::from_value::<AccountRequest>(
            json!({"providerID": "anthropic", "recordID": "x", "x": 1})
        )
        .is_err()
    );
    let with_ns: AccountRequest = serde_json::from_value(
        json!({"providerID": "openai", "recordID": "r", "namespace": "work"}),
    )
    .unwrap();
    assert_eq!(with_ns.namespace.as_deref(), Some("work"));

    let resp = SetActiveResponse {
        success: true,
        anthropic_usage: Some(AnthropicUsage {
            five_hour: Some(LegacyWindow {
                utilization: 1.0,
                resets_at: None,
            }),
            ..AnthropicUsage::default()
        }),
    };
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"success": true, "anthropicUsage": {
            "fiveHour": {"utilization": 1.0, "resetsAt": null}, "sevenDay": null, "sevenDaySonnet": null
        }})
    );
    assert_eq!(
        serde_json::to_value(SetActiveResponse {
            success: true,
            anthropic_usage: None
        })
        .unwrap(),
        json!({"success": true})
    );

    let rm: AccountRequest =
        serde_json::from_value(json!({"providerID": "github-copilot", "recordID": "r"})).unwrap();
    assert_eq!(rm.provider_id, "github-copilot");
    assert_eq!(
        serde_json::to_value(RemoveAccountResponse {
            success: true,
            remaining: 2
        })
        .unwrap(),
        json!({"success": true, "remaining": 2})
    );
    let rn: RenameRequest = serde_json::from_value(
        json!({"providerID": "anthropic", "recordID": "r", "label": "Work"}),
    )
    .unwrap();
    assert_eq!(rn.label.as_deref(), Some("Work"));
    assert_eq!(
        serde_json::to_value(SuccessResponse::OK).unwrap(),
        json!({"success": true})
    );
    assert_eq!(
        serde_json::to_value(HealthzResponse {
            ok: true,
            version: "0.1.0".into()
        })
        .unwrap(),
        json!({"ok": true, "version": "0.1.0"})
    );
    assert_eq!(
        serde_json::to_value(HttpErrorBody {
            error: ApiError::not_found("no")
        })
        .unwrap(),
        json!({"error": {"code": "not_found", "message": "no"}})
    );

    let mut usage = UsageResponse::new();
    usage.insert(
        ProviderId::Anthropic,
        ProviderUsageEntry {
            accounts: vec![summary()],
            anthropic_usage: None,
        },
    );
    let v = serde_json::to_value(&usage).unwrap();
    assert_eq!(v["anthropic"]["accounts"][0]["isActive"], json!(true));
    assert_eq!(
        v["anthropic"]["accounts"][0]["health"]["cooldownUntil"],
        json!(1_700_000_030_000_i64)
    );
    assert!(v["anthropic"].get("anthropicUsage").is_none());
    assert_eq!(serde_json::from_value::<UsageResponse>(v).unwrap(), usage);
}

#[test]
fn switch_reasons_and_log() {
    let all = [
        (SwitchReason::ManualTray, "manual:tray"),
        (SwitchReason::ManualCli, "manual:cli"),
        (SwitchReason::ManualApp, "manual:app"),
        (SwitchReason::ManualApi, "manual:api"),
        (SwitchReason::RateLimitedFiveHour, "rate_limited:five_hour"),
        (SwitchReason::RateLimitedSevenDay, "rate_limited:seven_day"),
        (SwitchReason::QuotaExhausted, "quota_exhausted"),
        (SwitchReason::RateLimited, "rate_limited"),
        (SwitchReason::AuthFailed, "auth_failed"),
        (SwitchReason::Proactive, "proactive"),
        (SwitchReason::Login, "login"),
        (SwitchReason::Removed, "removed"),
    ];
    for (r, s) in all {
        assert_eq!(serde_json::to_value(r).unwrap(), json!(s));
        assert_eq!(r.as_str(), s);
        assert_eq!(serde_json::from_value::<SwitchReason>(json!(s)).unwrap(), r);
    }
    assert!(SwitchReason::RateLimited.is_automatic() && !SwitchReason::ManualTray.is_automatic());
    let e = SwitchLogEntry {
        at: 5,
        provider_id: ProviderId::Anthropic,
        namespace: "default".into(),
        from: None,
        to: "b".into(),
        reason: SwitchReason::Proactive,
        detail: None,
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"at": 5, "providerID": "anthropic", "namespace": "default", "from": null, "to": "b", "reason": "proactive"})
    );
    assert_eq!(
        serde_json::to_value(Switched::from(&e)).unwrap(),
        json!({"providerID": "anthropic", "from": null, "to": "b", "reason": "proactive"})
    );
}

#[test]
fn events() {
    assert_eq!(PoolChanged::NAME, "pool-changed");
    assert_eq!(
        serde_json::to_value(PoolChanged {
            provider_id: ProviderId::OpenAi
        })
        .unwrap(),
        json!({"providerID": "openai"})
    );
    assert_eq!(
        serde_json::to_value(UsageUpdated {
            provider_id: ProviderId::Anthropic,
            record_id: "r".into()
        })
        .unwrap(),
        json!({"providerID": "anthropic", "recordID": "r"})
    );
    assert_eq!(
        serde_json::to_value(SessionUpdated {
            session_id: "s".into()
        })
        .unwrap(),
        json!({"sessionID": "s"})
    );
    let p = LoginProgress {
        flow_id: "f".into(),
        state: LoginState::AwaitingUser {
            user_code: "ABCD-1234".into(),
            verification_uri: "https://github.com/login/device".into(),
        },
    };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"flowID": "f", "state": {"status": "awaiting_user", "userCode": "ABCD-1234", "verificationUri": "https://github.com/login/device"}})
    );
    let ok = LoginState::Succeeded {
        record_id: "r".into(),
        label: "a@b".into(),
    };
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"status": "succeeded", "recordID": "r", "label": "a@b"})
    );
    assert_eq!(
        serde_json::to_value(LoginState::Cancelled).unwrap(),
        json!({"status": "cancelled"})
    );
    let mut names = EVENT_NAMES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EVENT_NAMES.len());
    assert_eq!(Switched::NAME, "switched");
    assert_eq!(LoginProgress::NAME, "login-progress");
    assert_eq!(SessionUpdated::NAME, "session-updated");
    assert_eq!(UsageUpdated::NAME, "usage-updated");
}

#[test]
fn switch_detail_exhaustion_and_handoff_status_shapes() {
    use rota_types::{ExhaustionEstimate, HandoffStatus, HandoffTool, SwitchDetail, TargetState};
    let e = SwitchLogEntry {
        at: 5,
        provider_id: ProviderId::Anthropic,
        namespace: "default".into(),
        from: Some("a".into()),
        to: "b".into(),
        reason: SwitchReason::Proactive,
        detail: Some(SwitchDetail {
            window: Some(WindowKind::FiveHour),
            model: None,
            percent: Some(96),
            rejected: false,
            ..SwitchDetail::default()
        }),
    };
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["detail"], json!({"window": "five_hour", "percent": 96}));
    assert_eq!(serde_json::from_value::<SwitchLogEntry>(v).unwrap(), e);
    assert_eq!(e.reason_text(), "proactive (5-hour at 96 %)");
    // Old logs without `detail` still load.
    let old: SwitchLogEntry = serde_json::from_value(json!({"at": 1, "providerID": "openai", "namespace": "default", "from": null, "to": "x", "reason": "manual:cli"})).unwrap();
    assert_eq!(old.detail, None);
    assert_eq!(old.reason_text(), "manual (cli)");
    let rl = SwitchLogEntry {
        reason: SwitchReason::RateLimitedFiveHour,
        ..old
    };
    assert_eq!(rl.reason_text(), "rate limited (5-hour)");

    let mut s = summary();
    s.exhaustion = Some(ExhaustionEstimate {
        window: WindowKind::SevenDay,
        at: 9,
    });
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["exhaustion"], json!({"window": "seven_day", "at": 9}));
    assert!(
        serde_json::to_value(summary())
            .unwrap()
            .get("exhaustion")
            .is_none()
    );

    let status = HandoffStatus {
        provider_id: ProviderId::OpenAi,
        enabled: true,
        tool: HandoffTool::Codex,
        target: "/home/u/.codex/auth.json".into(),
        target_overridden: false,
        state: TargetState::Active,
        holds_record_id: Some("r".into()),
        last_sync_at: Some(3),
        last_error: None,
        last_error_at: None,
        proactive: false,
        clients: None,
    };
    let v = serde_json::to_value(&status).unwrap();
    assert_eq!(v["providerID"], "openai");
    assert_eq!(v["tool"], "codex");
    assert_eq!(v["state"], "active");
    assert_eq!(v["holdsRecordId"], "r");
    assert_eq!(
        HandoffTool::default_for(ProviderId::Anthropic),
        HandoffTool::ClaudeCode
    );
}

#[test]
fn plans_read_as_people_know_them() {
    use rota_types::display::plan_name;
    assert_eq!(
        plan_name(ProviderId::GithubCopilot, "individual_pro"),
        "Copilot Pro+"
    );
    assert_eq!(
        plan_name(ProviderId::GithubCopilot, "individual"),
        "Copilot Pro"
    );
    assert_eq!(plan_name(ProviderId::Anthropic, "claude_max"), "Claude Max");
    assert_eq!(plan_name(ProviderId::Anthropic, "max"), "Claude Max");
    assert_eq!(plan_name(ProviderId::OpenAi, "prolite"), "ChatGPT Pro Lite");
    assert_eq!(plan_name(ProviderId::OpenAi, "Plus"), "ChatGPT Plus");
    // Unknown values are tidied, not dropped.
    assert_eq!(
        plan_name(ProviderId::OpenAi, "self_serve_business"),
        "Self Serve Business"
    );
}

#[test]
fn reset_credit_redeem_shapes() {
    use rota_types::{AutoRedeemStatus, RedeemCode, RedeemRequest, SwitchDetail};
    let req: RedeemRequest = serde_json::from_value(json!({"providerID": "openai"})).unwrap();
    assert_eq!(req.record_id, None);
    let req: RedeemRequest = serde_json::from_value(
        json!({"providerID": "openai", "recordID": "01H", "namespace": "x"}),
    )
    .unwrap();
    assert_eq!(req.record_id.as_deref(), Some("01H"));
    assert!(
        serde_json::from_value::<RedeemRequest>(json!({"providerID": "openai", "id": 1})).is_err()
    );
    let e = SwitchLogEntry {
        at: 5,
        provider_id: ProviderId::OpenAi,
        namespace: "default".into(),
        from: Some("a".into()),
        to: "a".into(),
        reason: SwitchReason::ResetCredit,
        detail: Some(SwitchDetail {
            redeem: Some(RedeemCode::NothingToReset),
            automatic: true,
            ..SwitchDetail::default()
        }),
    };
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["reason"], "reset_credit");
    assert_eq!(
        v["detail"],
        json!({"redeem": "nothing_to_reset", "automatic": true})
    );
    assert_eq!(serde_json::from_value::<SwitchLogEntry>(v).unwrap(), e);
    assert_eq!(
        e.reason_text(),
        "nothing to reset: the reset credit was kept (automatic)"
    );
    let s = AutoRedeemStatus {
        enabled: true,
        from_env: false,
        config_file: Some("/x/config.toml".into()),
    };
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"enabled": true, "fromEnv": false, "configFile": "/x/config.toml"})
    );
}
