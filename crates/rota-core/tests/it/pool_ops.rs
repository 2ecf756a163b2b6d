//! The pool's rules, one test per rule (docs/product.md §3).

use rota_core::{NewLogin, NoCandidate, PoolError, PoolState, SWITCH_LOG_CAP, Ulid, parse_id};
use rota_types::{
    AccountIdentity, AnthropicExtra, ApiError, ErrorCode, ProviderId, ProviderUsage,
    SwitchLogEntry, SwitchReason, UsageSnapshot, UsageWindow, WindowKind,
};

const A: ProviderId = ProviderId::Anthropic;
const NS: &str = "default";
const NOW: i64 = 1_795_529_100_000;

fn id(n: u8) -> Ulid {
    Ulid::from_parts(1_700_000_000_000, u128::from(n))
}

fn login(email: Option<&str>, account: Option<&str>) -> NewLogin {
    NewLogin {
        identity: AccountIdentity {
            account_id: account.map(str::to_owned),
            email: email.map(str::to_owned),
            ..AccountIdentity::default()
        },
        label: None,
    }
}

/// A pool with `n` anonymous accounts id(1)..=id(n); the last one is active (newest login).
fn pool(n: u8) -> PoolState {
    let mut s = PoolState::default();
    for i in 1..=n {
        s.upsert(A, NS, login(None, None), id(i), NOW).unwrap();
    }
    s
}

fn ids(v: &[Ulid]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[test]
fn snapshot_normalises_the_stored_order() {
    let mut s = pool(3);
    // A hand-edited or imported file: a removed id, a duplicate, and id(2) missing.
    let p = s.providers.get_mut(&A).unwrap();
    p.order.insert(NS.into(), vec![id(9), id(3), id(1), id(3)]);
    p.active.insert(NS.into(), id(1));
    let snap = s.snapshot(A, NS, NOW);
    assert_eq!(snap.ordered_ids, ids(&[id(3), id(1), id(2)]));
    assert_eq!(snap.active_id, Some(id(1).to_string()));
    let rec_ids: Vec<_> = snap.records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(rec_ids, snap.ordered_ids);
    assert_eq!(snap.records.iter().filter(|r| r.is_active).count(), 1);
}

#[test]
fn snapshot_of_unknown_provider_is_empty() {
    let snap = pool(2).snapshot(ProviderId::OpenAi, NS, NOW);
    assert!(snap.records.is_empty() && snap.ordered_ids.is_empty());
    assert_eq!(snap.active_id, None);
}

#[test]
fn is_active_falls_back_to_first_ordered_not_cooling_then_first() {
    let mut s = pool(3);
    let p = s.providers.get_mut(&A).unwrap();
    p.order.insert(NS.into(), vec![id(1), id(2), id(3)]);
    p.active.clear(); // e.g. an imported file without `active`
    p.records
        .iter_mut()
        .find(|r| r.id == id(1))
        .unwrap()
        .health
        .cooldown_until = Some(NOW + 1);
    let active: Vec<_> = s
        .get_accounts(A, NS, NOW)
        .into_iter()
        .filter(|a| a.is_active)
        .map(|a| a.id)
        .collect();
    assert_eq!(active, vec![id(2).to_string()]);

    // All cooling: the first ordered id.
    for r in &mut s.providers.get_mut(&A).unwrap().records {
        r.health.cooldown_until = Some(NOW + 1);
    }
    assert_eq!(s.active_id(A, NS, NOW), Some(id(1)));
    // Cooldowns over: the first ordered again.
    assert_eq!(s.active_id(A, NS, NOW + 1), Some(id(1)));
    // A stored active id wins over the fallback, also while it cools down.
    s.providers
        .get_mut(&A)
        .unwrap()
        .active
        .insert(NS.into(), id(3));
    assert_eq!(s.active_id(A, NS, NOW), Some(id(3)));
}

#[test]
fn set_active_moves_to_front_and_logs() {
    let mut s = pool(3); // order [3, 2, 1], active 3
    assert_eq!(s.ordered_ids(A, NS), vec![id(3), id(2), id(1)]);
    let e = s
        .set_active(A, NS, id(1), SwitchReason::ManualTray, NOW + 5)
        .unwrap()
        .unwrap();
    assert_eq!(s.ordered_ids(A, NS), vec![id(1), id(3), id(2)]);
    assert_eq!(s.active_id(A, NS, NOW), Some(id(1)));
    assert_eq!(
        e,
        SwitchLogEntry {
            at: NOW + 5,
            provider_id: A,
            namespace: NS.into(),
            from: Some(id(3).to_string()),
            to: id(1).to_string(),
            reason: SwitchReason::ManualTray,
            detail: None,
        }
    );
    assert_eq!(s.switch_log.back(), Some(&e));
    // Already active: no switch, no log line.
    let before = s.switch_log.len();
    assert_eq!(
        s.set_active(A, NS, id(1), SwitchReason::ManualCli, NOW)
            .unwrap(),
        None
    );
    assert_eq!(s.switch_log.len(), before);
}

#[test]
fn set_active_unknown_id_is_not_found() {
    let mut s = pool(2);
    let before = s.clone();
    let err = s
        .set_active(A, NS, id(7), SwitchReason::ManualApi, NOW)
        .unwrap_err();
    assert!(matches!(err, PoolError::NotFound { .. }));
    assert_eq!(ApiError::from(err).code, ErrorCode::NotFound);
    // Wrong namespace and provider without accounts are unknown too.
    assert!(
        s.set_active(A, "work", id(1), SwitchReason::ManualApi, NOW)
            .is_err()
    );
    assert!(
        s.set_active(ProviderId::OpenAi, NS, id(1), SwitchReason::ManualApi, NOW)
            .is_err()
    );
    assert_eq!(s, before, "a refused operation changes nothing");
    assert_eq!(
        ApiError::from(parse_id("nope").unwrap_err()).code,
        ErrorCode::InvalidInput
    );
    assert_eq!(parse_id(&id(1).to_string()).unwrap(), id(1));
}

#[test]
fn remove_reassigns_active_and_drops_empty_provider() {
    let mut s = pool(3); // order [3, 2, 1], active 3
    let r = s.remove_record(A, id(3), NOW).unwrap();
    assert_eq!(r.record.id, id(3));
    assert_eq!(r.remaining, 2);
    assert_eq!(s.active_id(A, NS, NOW), Some(id(2)));
    assert_eq!(r.switched.unwrap().reason, SwitchReason::Removed);
    // Removing a non-active one keeps the active.
    let r = s.remove_record(A, id(1), NOW).unwrap();
    assert_eq!((r.remaining, r.switched), (1, None));
    assert_eq!(s.active_id(A, NS, NOW), Some(id(2)));
    // Both removals are in the history: the active one's row names who took over, the other's
    // names the account once.
    let rows: Vec<_> = s.switch_log.iter().rev().take(2).collect();
    assert_eq!(
        (rows[1].from.clone(), rows[1].to.clone(), rows[1].reason),
        (
            Some(id(3).to_string()),
            id(2).to_string(),
            SwitchReason::Removed
        )
    );
    assert_eq!(rows[1].reason_text(), "active account removed");
    assert_eq!(
        (rows[0].from.clone(), rows[0].to.clone(), rows[0].at),
        (Some(id(1).to_string()), id(1).to_string(), NOW)
    );
    assert!(rows[0].names_one_account());
    assert_eq!(rows[0].reason_text(), "account removed");
    // Unknown → not_found, nothing changed.
    assert!(matches!(
        s.remove_record(A, id(1), NOW),
        Err(PoolError::NotFound { .. })
    ));
    let before = s.switch_log.len();
    let r = s.remove_record(A, id(2), NOW).unwrap();
    assert_eq!(r.remaining, 0);
    assert!(
        s.providers.is_empty(),
        "provider entry removed with its last account"
    );
    // The last (active) account's removal is one row naming it, and it keeps its name.
    assert_eq!(s.switch_log.len(), before + 1);
    let last = s.switch_log.back().unwrap();
    assert!(last.names_one_account() && last.to == id(2).to_string());
    assert_eq!(s.history_label(A, &last.to), "Account 2 (removed)");
    // As people read it, newest first: one name for a one-account row, both for the one
    // another account took over from.
    let rows: Vec<_> = s
        .history(Some(A), 3)
        .into_iter()
        .map(|r| (r.from, r.to, r.reason_text))
        .collect();
    let removed = |n: u8| format!("Account {n} (removed)");
    assert_eq!(
        rows,
        [
            (None, removed(2), "account removed".to_owned()),
            (None, removed(1), "account removed".to_owned()),
            (
                Some(removed(3)),
                removed(2),
                "active account removed".to_owned()
            ),
        ]
    );
    assert!(s.history(Some(ProviderId::OpenAi), 10).is_empty());
}

#[test]
fn removal_rows_load_from_old_files_and_the_new_shape() {
    // A state file written before removals were logged: loads, and its rows read as before.
    let old = serde_json::json!({
        "version": 1,
        "switchLog": [{"at": NOW, "providerID": "anthropic", "namespace": "default",
                        "from": id(1).to_string(), "to": id(2).to_string(), "reason": "removed"}]
    });
    let mut s: PoolState = serde_json::from_value(old).unwrap();
    assert_eq!(s.switch_log[0].reason_text(), "active account removed");
    assert_eq!(s.history_label(A, &id(1).to_string()), "removed account");
    // Both ends unknown: named once, not "removed account → removed account".
    assert_eq!(
        s.history_ends(&s.switch_log[0]),
        (None, "removed account".to_owned())
    );
    // A removal row survives a round trip through the file.
    s.upsert(A, NS, login(Some("w@x.com"), None), id(3), NOW)
        .unwrap();
    s.upsert(A, NS, login(Some("v@x.com"), None), id(4), NOW)
        .unwrap();
    s.remove_record(A, id(3), NOW + 5).unwrap();
    let back: PoolState = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    let row = back.switch_log.back().unwrap();
    assert_eq!((row.at, row.names_one_account()), (NOW + 5, true));
    assert_eq!(back.history_label(A, &row.to), "w@x.com (removed)");
}

#[test]
fn remove_all_returns_records_for_secret_deletion() {
    let mut s = pool(3);
    s.upsert(A, "work", login(None, None), id(8), NOW).unwrap();
    let logged = s.switch_log.len();
    let gone = s.remove_all(A, NS, NOW);
    assert_eq!(gone.len(), 3);
    // One removal row per account, each naming it once.
    let rows: Vec<_> = s.switch_log.iter().skip(logged).collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|e| e.names_one_account() && e.reason == SwitchReason::Removed)
    );
    assert_eq!(s.count(A, "work"), 1);
    assert!(!s.providers[&A].order.contains_key(NS));
    assert_eq!(s.remove_all(A, "work", NOW).len(), 1);
    assert!(s.providers.is_empty());
}

#[test]
fn upsert_same_identity_updates_and_becomes_active() {
    let mut s = PoolState::default();
    let first = s
        .upsert(A, NS, login(Some("a@x.com"), Some("uuid-a")), id(1), NOW)
        .unwrap();
    assert!(first.created);
    let e = first
        .switched
        .expect("the first login is logged as a switch from nothing");
    assert_eq!((e.from, e.reason), (None, SwitchReason::Login));
    assert_eq!(s.pool(A).unwrap().active_since.get(NS), Some(&NOW));
    let second = s
        .upsert(A, NS, login(Some("b@x.com"), None), id(2), NOW)
        .unwrap();
    assert_eq!(s.active_id(A, NS, NOW), Some(id(2)));
    assert_eq!(second.switched.unwrap().reason, SwitchReason::Login);
    // Same account uuid, e-mail changed: updated, not duplicated; the newest login is active.
    let again = s
        .upsert(
            A,
            NS,
            login(Some("a+new@x.com"), Some("uuid-a")),
            id(3),
            NOW + 1,
        )
        .unwrap();
    assert_eq!((again.id, again.created), (id(1), false));
    assert_eq!(s.count(A, NS), 2);
    assert_eq!(s.active_id(A, NS, NOW), Some(id(1)));
    assert_eq!(s.ordered_ids(A, NS)[0], id(1));
    let r = s.record(A, id(1)).unwrap();
    assert_eq!(r.identity.email.as_deref(), Some("a+new@x.com"));
    assert_eq!(r.updated_at, NOW + 1);
    // Same e-mail (case-insensitive) when no account id is known.
    let b2 = s
        .upsert(A, NS, login(Some("B@X.com"), None), id(4), NOW)
        .unwrap();
    assert_eq!((b2.id, b2.created), (id(2), false));
    // Different account ids with the same e-mail are different accounts (team workspaces).
    let third = s
        .upsert(
            A,
            NS,
            login(Some("a+new@x.com"), Some("uuid-c")),
            id(5),
            NOW,
        )
        .unwrap();
    assert!(third.created);
    // An unknown identity never matches.
    assert!(
        s.upsert(A, NS, login(None, None), id(6), NOW)
            .unwrap()
            .created
    );
    assert!(
        s.upsert(A, NS, login(None, None), id(7), NOW)
            .unwrap()
            .created
    );
    assert_eq!(s.count(A, NS), 5);
}

#[test]
fn relogin_clears_needs_reauth_but_not_a_rate_limit() {
    use rota_core::{CooldownPolicy, Outcome, RateLimitSignal};
    let mut s = PoolState::default();
    s.upsert(A, NS, login(Some("a@x"), None), id(1), NOW)
        .unwrap();
    s.upsert(A, NS, login(Some("b@x"), None), id(2), NOW)
        .unwrap();
    s.record_outcome(
        A,
        id(1),
        &Outcome::AuthFailed,
        &CooldownPolicy::default(),
        NOW,
    )
    .unwrap();
    assert!(s.record(A, id(1)).unwrap().health.needs_reauth);
    s.upsert(A, NS, login(Some("a@x"), None), id(9), NOW + 1)
        .unwrap();
    let h = &s.record(A, id(1)).unwrap().health;
    assert!(!h.needs_reauth && h.cooldown_until.is_none());

    let limited = Outcome::RateLimited(RateLimitSignal {
        resets_at: vec![NOW + 3_600_000],
        ..RateLimitSignal::default()
    });
    s.record_outcome(A, id(2), &limited, &CooldownPolicy::default(), NOW)
        .unwrap();
    s.upsert(A, NS, login(Some("b@x"), None), id(9), NOW + 1)
        .unwrap();
    assert_eq!(
        s.record(A, id(2)).unwrap().health.cooldown_until,
        Some(NOW + 3_600_000)
    );
}

#[test]
fn labels_from_email_else_account_n() {
    let mut s = PoolState::default();
    s.upsert(A, NS, login(None, None), id(1), NOW).unwrap();
    s.upsert(A, NS, login(Some("work@example.com"), None), id(2), NOW)
        .unwrap();
    s.upsert(A, NS, login(None, None), id(3), NOW).unwrap();
    let label = |n| s.record(A, id(n)).unwrap().label.clone();
    assert_eq!(label(1), "Account 1");
    assert_eq!(label(2), "work@example.com");
    assert_eq!(label(3), "Account 3");
    // After a removal the next number is not reused while taken.
    s.remove_record(A, id(2), NOW).unwrap();
    s.upsert(A, NS, login(None, None), id(4), NOW).unwrap();
    assert_eq!(s.record(A, id(4)).unwrap().label, "Account 4");
    // An explicit label wins; an invalid one is refused.
    let mut l = login(None, None);
    l.label = Some("  Personal ".into());
    s.upsert(A, NS, l, id(5), NOW).unwrap();
    assert_eq!(s.record(A, id(5)).unwrap().label, "Personal");
    let mut bad = login(None, None);
    bad.label = Some(" ".into());
    assert_eq!(
        s.upsert(A, NS, bad, id(6), NOW).unwrap_err(),
        PoolError::EmptyLabel
    );
    assert!(s.record(A, id(6)).is_none());
}

#[test]
fn upsert_refuses_an_id_in_use() {
    let mut s = pool(1);
    let err = s.upsert(A, NS, login(None, None), id(1), NOW).unwrap_err();
    assert_eq!(ApiError::from(err).code, ErrorCode::Conflict);
    assert_eq!(s.count(A, NS), 1);
    let mut empty = PoolState::default();
    assert!(empty.upsert(A, NS, login(None, None), id(1), NOW).is_ok());
}

#[test]
fn rename_is_trimmed_capped_and_non_empty() {
    let mut s = pool(1);
    s.rename(A, id(1), "  Work  ", NOW + 1).unwrap();
    assert_eq!(s.record(A, id(1)).unwrap().label, "Work");
    assert_eq!(
        s.rename(A, id(1), "   ", NOW).unwrap_err(),
        PoolError::EmptyLabel
    );
    let long = "x".repeat(rota_types::MAX_LABEL_CHARS + 1);
    assert!(matches!(
        s.rename(A, id(1), &long, NOW),
        Err(PoolError::LabelTooLong { .. })
    ));
    let ok = "é".repeat(rota_types::MAX_LABEL_CHARS);
    s.rename(A, id(1), &ok, NOW).unwrap();
    assert_eq!(
        s.rename(A, id(1), "a\nb", NOW).unwrap_err(),
        PoolError::LabelControlChars
    );
    assert!(matches!(
        s.rename(A, id(2), "x", NOW),
        Err(PoolError::NotFound { .. })
    ));
    assert_eq!(
        ApiError::from(s.rename(A, id(1), "", NOW).unwrap_err()).code,
        ErrorCode::InvalidInput
    );
}

#[test]
fn resolve_by_id_prefix_or_label() {
    let mut s = PoolState::default();
    let work = Ulid::from_parts(1, 0xAAAA);
    let home = Ulid::from_parts(2, 0xBBBB);
    s.upsert(A, NS, login(Some("work@x"), None), work, NOW)
        .unwrap();
    s.upsert(A, NS, login(Some("home@x"), None), home, NOW)
        .unwrap();
    assert_eq!(s.resolve(A, NS, &work.to_string()).unwrap(), work);
    assert_eq!(
        s.resolve(A, NS, &home.to_string()[..12].to_lowercase())
            .unwrap(),
        home
    );
    assert_eq!(s.resolve(A, NS, "WORK@X").unwrap(), work);
    // Both ids start with the same timestamp digits: ambiguous.
    assert!(matches!(
        s.resolve(A, NS, "0000"),
        Err(PoolError::Ambiguous { count: 2, .. })
    ));
    assert!(matches!(
        s.resolve(A, NS, "nobody"),
        Err(PoolError::NotFound { .. })
    ));
}

#[test]
fn candidates_start_with_active_and_skip_cooling_and_tried() {
    use rota_core::{CooldownPolicy, Outcome, RateLimitSignal};
    let mut s = pool(3); // order [3, 2, 1], active 3
    s.set_active(A, NS, id(2), SwitchReason::ManualApp, NOW)
        .unwrap(); // [2, 3, 1]
    assert_eq!(s.candidates(A, NS, NOW), vec![id(2), id(3), id(1)]);
    assert_eq!(s.pick_next_candidate(A, NS, &[], NOW), Ok(id(2)));
    assert_eq!(s.pick_next_candidate(A, NS, &[id(2)], NOW), Ok(id(3)));
    let limit = |until| {
        Outcome::RateLimited(RateLimitSignal {
            resets_at: vec![until],
            ..Default::default()
        })
    };
    let p = CooldownPolicy::default();
    s.record_outcome(A, id(3), &limit(NOW + 60_000 * 125), &p, NOW)
        .unwrap();
    assert_eq!(s.pick_next_candidate(A, NS, &[id(2)], NOW), Ok(id(1)));
    assert_eq!(
        s.pick_next_candidate(A, NS, &[id(2), id(1)], NOW),
        Err(NoCandidate::Exhausted {
            provider: A,
            count: 3
        })
    );
    s.record_outcome(A, id(2), &limit(NOW + 60_000 * 30), &p, NOW)
        .unwrap();
    s.record_outcome(A, id(1), &limit(NOW + 60_000 * 90), &p, NOW)
        .unwrap();
    let err = s.pick_next_candidate(A, NS, &[], NOW).unwrap_err();
    assert_eq!(
        err,
        NoCandidate::AllCoolingDown {
            provider: A,
            count: 3,
            until: NOW + 1_800_000,
            cause: rota_core::CoolingCause::RateLimited,
        }
    );
    assert_eq!(err.retry_after_ms(NOW), Some(1_800_000));
    // NOW is 14:05 UTC.
    assert_eq!(
        err.to_string(),
        "all 3 anthropic accounts are rate-limited until 14:35 UTC"
    );
    assert_eq!(
        err.message(60),
        "all 3 anthropic accounts are rate-limited until 15:35"
    );
    // After the soonest cooldown ends, that account is picked again.
    assert_eq!(
        s.pick_next_candidate(A, NS, &[], NOW + 1_800_000),
        Ok(id(2))
    );
    assert_eq!(
        PoolState::default().pick_next_candidate(A, NS, &[], NOW),
        Err(NoCandidate::NoAccounts { provider: A })
    );
}

#[test]
fn needs_reauth_accounts_are_a_last_resort() {
    let mut s = pool(2); // [2, 1], active 2
    s.providers.get_mut(&A).unwrap().records[1]
        .health
        .needs_reauth = true; // id(2)
    assert_eq!(s.pick_next_candidate(A, NS, &[], NOW), Ok(id(1)));
    assert_eq!(s.pick_next_candidate(A, NS, &[id(1)], NOW), Ok(id(2)));
}

#[test]
fn switch_log_is_bounded() {
    let mut s = pool(2);
    for i in 0..(i64::try_from(SWITCH_LOG_CAP).unwrap() + 50) {
        let target = if i % 2 == 0 { id(1) } else { id(2) };
        s.set_active(A, NS, target, SwitchReason::ManualCli, NOW + i)
            .unwrap();
    }
    assert_eq!(s.switch_log.len(), SWITCH_LOG_CAP);
    assert_eq!(
        s.switch_log.back().unwrap().at,
        NOW + i64::try_from(SWITCH_LOG_CAP).unwrap() + 49
    );
}

#[test]
fn usage_is_not_replaced_by_an_older_fetch() {
    let mut s = pool(1);
    let snap = |at, u| UsageSnapshot {
        fetched_at: at,
        status: None,
        windows: vec![UsageWindow::new(WindowKind::FiveHour, u, None)],
        usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
    };
    assert!(s.record_usage(A, id(1), snap(NOW, 40.0)).unwrap());
    assert!(!s.record_usage(A, id(1), snap(NOW - 1, 10.0)).unwrap());
    let kept = s
        .record(A, id(1))
        .unwrap()
        .usage
        .as_ref()
        .unwrap()
        .max_utilization();
    assert!((kept - 40.0).abs() < f64::EPSILON, "{kept}");
    assert!(s.record_usage(A, id(2), snap(NOW, 1.0)).is_err());
}

#[test]
fn state_round_trips_through_json() {
    let mut s = pool(2);
    s.upsert(
        ProviderId::GithubCopilot,
        "work",
        login(Some("gh@x"), Some("42")),
        id(5),
        NOW,
    )
    .unwrap();
    s.generation = 7;
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["version"], serde_json::json!(rota_core::STATE_VERSION));
    assert_eq!(
        json["providers"]["github-copilot"]["active"]["work"],
        serde_json::json!(id(5).to_string())
    );
    let back: PoolState = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    // An empty or minimal file loads as an empty pool.
    let empty: PoolState = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, PoolState::default());
}

#[test]
fn usage_response_has_accounts_and_active_anthropic_usage() {
    let mut s = pool(2); // active id(2)
    s.upsert(ProviderId::OpenAi, NS, login(None, None), id(5), NOW)
        .unwrap();
    let usage = |u| UsageSnapshot {
        fetched_at: NOW,
        status: None,
        windows: vec![UsageWindow::new(WindowKind::FiveHour, u, Some(NOW + 1))],
        usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
    };
    s.record_usage(A, id(1), usage(10.0)).unwrap();
    s.record_usage(A, id(2), usage(64.0)).unwrap();
    let resp = s.usage_response(NS, NOW);
    let keys: Vec<_> = resp.keys().copied().collect();
    assert_eq!(keys, vec![A, ProviderId::OpenAi]);
    let a = &resp[&A];
    assert_eq!(a.accounts.len(), 2);
    assert!(a.accounts[0].is_active);
    let five = a.anthropic_usage.as_ref().unwrap().five_hour.unwrap();
    assert_eq!(
        rota_types::display::percent(five.utilization),
        64,
        "the active account's usage"
    );
    assert!(resp[&ProviderId::OpenAi].anthropic_usage.is_none());
    assert!(s.usage_response("work", NOW).is_empty());
}

#[test]
fn which_outcomes_may_be_batched() {
    use rota_core::{CooldownPolicy, Outcome, RateLimitSignal};
    let mut s = pool(2);
    let ok = Outcome::Success { status: 200 };
    let limited = Outcome::RateLimited(RateLimitSignal::default());
    assert!(ok.is_counter_only(s.record(A, id(1)).unwrap()));
    assert!(Outcome::OtherError { status: 400 }.is_counter_only(s.record(A, id(1)).unwrap()));
    assert!(!limited.is_counter_only(s.record(A, id(1)).unwrap()));
    assert!(!Outcome::AuthFailed.is_counter_only(s.record(A, id(1)).unwrap()));
    // After a 429 the next success resets the repeat counter: written at once.
    s.record_outcome(A, id(1), &limited, &CooldownPolicy::default(), NOW)
        .unwrap();
    assert!(!ok.is_counter_only(s.record(A, id(1)).unwrap()));
    s.record_outcome(A, id(1), &ok, &CooldownPolicy::default(), NOW)
        .unwrap();
    assert!(ok.is_counter_only(s.record(A, id(1)).unwrap()));
}

#[test]
fn clients_are_told_not_to_retry_long_waits() {
    let soon = NoCandidate::AllCoolingDown {
        provider: A,
        count: 2,
        until: NOW + 60_000,
        cause: rota_core::CoolingCause::RateLimited,
    };
    let later = NoCandidate::AllCoolingDown {
        provider: A,
        count: 2,
        until: NOW + 60_001,
        cause: rota_core::CoolingCause::RateLimited,
    };
    assert!(soon.should_retry(NOW));
    assert!(!later.should_retry(NOW));
    assert!(!NoCandidate::NoAccounts { provider: A }.should_retry(NOW));
}

#[test]
fn update_login_by_id_refreshes_like_upsert() {
    use rota_core::{CooldownPolicy, Outcome};
    let mut s = pool(2); // active id(2)
    s.record_outcome(
        A,
        id(1),
        &Outcome::AuthFailed,
        &CooldownPolicy::default(),
        NOW,
    )
    .unwrap();
    let mut l = login(Some("new@x"), None);
    l.identity.plan = Some("max".into());
    let up = s.update_login(A, id(1), l, NOW + 1).unwrap();
    assert_eq!((up.id, up.created), (id(1), false));
    assert_eq!(up.switched.unwrap().reason, SwitchReason::Login);
    let r = s.record(A, id(1)).unwrap();
    assert!(!r.health.needs_reauth && r.health.cooldown_until.is_none());
    assert_eq!(r.identity.plan.as_deref(), Some("max"));
    assert_eq!(r.label, "Account 1", "a new login keeps the user's label");
    assert_eq!(s.active_id(A, NS, NOW), Some(id(1)));
    assert!(matches!(
        s.update_login(A, id(9), NewLogin::default(), NOW),
        Err(PoolError::NotFound { .. })
    ));
}

#[test]
fn switching_to_an_account_that_cannot_serve_says_who_serves() {
    let mut s = pool(3);
    let p = s.providers.get_mut(&A).unwrap();
    p.order.insert(NS.into(), vec![id(1), id(2), id(3)]);
    for r in &mut p.records {
        r.label = format!("Account {}", r.id.0 & 0xff);
    }
    p.records
        .iter_mut()
        .find(|r| r.id == id(2))
        .unwrap()
        .health
        .needs_reauth = true;
    p.records
        .iter_mut()
        .find(|r| r.id == id(3))
        .unwrap()
        .health
        .cooldown_until = Some(NOW + 25 * 60_000);
    // A healthy account has no caveat.
    assert_eq!(s.serving_caveat(A, NS, id(1), NOW), None);
    // A dead login: the gateway serves the first usable other account.
    let dead = s.serving_caveat(A, NS, id(2), NOW).unwrap();
    assert_eq!(dead.served_by.as_deref(), Some("Account 1"));
    assert_eq!(
        dead.text(A, NOW),
        "Account 2 needs a new sign-in (`rota auth login anthropic`); until then requests go to Account 1."
    );
    let cooling = s.serving_caveat(A, NS, id(3), NOW).unwrap();
    assert_eq!(
        cooling.text(A, NOW),
        "Account 3 is cooling down for 25m; until then requests go to Account 1."
    );
    // With the only healthy account cooling too, nobody can serve.
    s.providers
        .get_mut(&A)
        .unwrap()
        .records
        .iter_mut()
        .find(|r| r.id == id(1))
        .unwrap()
        .health
        .cooldown_until = Some(NOW + 60_000);
    let none = s.serving_caveat(A, NS, id(2), NOW).unwrap();
    assert_eq!(none.served_by, None);
    assert!(
        none.text(A, NOW)
            .ends_with("no other account can serve now either.")
    );
    // Once the cooldown is over, it is usable again.
    assert_eq!(s.serving_caveat(A, NS, id(3), NOW + 26 * 60_000), None);
}

#[test]
fn new_accounts_are_named_by_email_or_github_login() {
    let mut s = PoolState::default();
    // Copilot reports the GitHub login and no e-mail: the login names the account.
    s.upsert(
        ProviderId::GithubCopilot,
        NS,
        login(None, Some("octocat")),
        id(1),
        NOW,
    )
    .unwrap();
    assert_eq!(
        s.record(ProviderId::GithubCopilot, id(1)).unwrap().label,
        "octocat"
    );
    // An e-mail wins where there is one.
    s.upsert(
        A,
        NS,
        login(Some("me@work.example"), Some("uuid-1")),
        id(2),
        NOW,
    )
    .unwrap();
    assert_eq!(s.record(A, id(2)).unwrap().label, "me@work.example");
    // Anthropic's account id is an opaque UUID: never a name.
    s.upsert(A, NS, login(None, Some("6f1c0a4e-uuid")), id(3), NOW)
        .unwrap();
    assert_eq!(s.record(A, id(3)).unwrap().label, "Account 2");
    // A blank GitHub login falls back to the numbered name too.
    s.upsert(
        ProviderId::GithubCopilot,
        NS,
        login(None, Some(" ")),
        id(4),
        NOW,
    )
    .unwrap();
    assert_eq!(
        s.record(ProviderId::GithubCopilot, id(4)).unwrap().label,
        "Account 2"
    );
}

#[test]
fn the_history_keeps_naming_removed_accounts() {
    let mut s = pool(2); // [2, 1], active 2
    s.set_active(A, NS, id(1), SwitchReason::ManualCli, NOW)
        .unwrap();
    let (one, two) = (id(1).to_string(), id(2).to_string());
    let label_2 = s.record(A, id(2)).unwrap().label.clone();
    let label_1 = s.record(A, id(1)).unwrap().label.clone();
    // Removing the active account (1) switches to 2: both ends of both entries keep a name.
    s.remove_record(A, id(1), NOW + 1).unwrap();
    assert_eq!(s.history_label(A, &one), format!("{label_1} (removed)"));
    assert_eq!(s.history_label(A, &two), label_2);
    s.remove_all(A, NS, NOW);
    assert_eq!(s.history_label(A, &two), format!("{label_2} (removed)"));
    // The file keeps them (a restart still names them).
    let back: PoolState = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back.history_label(A, &one), format!("{label_1} (removed)"));
    // An id the log never knew has no name to keep.
    assert_eq!(s.history_label(A, &id(9).to_string()), "removed account");
    // Once the log no longer names them, the labels go too (the file stays bounded).
    let mut s = pool(3);
    s.set_active(A, NS, id(1), SwitchReason::ManualCli, NOW)
        .unwrap();
    s.remove_record(A, id(1), NOW).unwrap();
    assert_eq!(s.removed_labels.len(), 1);
    for i in 0..i64::try_from(SWITCH_LOG_CAP).unwrap() {
        let target = if i % 2 == 0 { id(2) } else { id(3) };
        s.set_active(A, NS, target, SwitchReason::ManualCli, NOW + 1 + i)
            .unwrap();
    }
    assert!(s.removed_labels.is_empty());
}

#[test]
fn refused_logins_are_not_called_rate_limited() {
    use rota_core::{CooldownPolicy, CoolingCause, Outcome, RateLimitSignal};
    let p = CooldownPolicy::default();
    let mut s = pool(2);
    for i in [1, 2] {
        s.record_outcome(A, id(i), &Outcome::AuthFailed, &p, NOW)
            .unwrap();
    }
    let err = s.pick_next_candidate(A, NS, &[], NOW).unwrap_err();
    assert!(
        matches!(
            err,
            NoCandidate::AllCoolingDown {
                cause: CoolingCause::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.message(0);
    assert!(!text.contains("rate-limited"), "{text}");
    assert!(text.contains("new login"), "{text}");
    // One refused, one rate-limited: both words.
    let mut s = pool(2);
    s.record_outcome(A, id(1), &Outcome::AuthFailed, &p, NOW)
        .unwrap();
    let limit = Outcome::RateLimited(RateLimitSignal {
        retry_after_ms: Some(600_000),
        ..RateLimitSignal::default()
    });
    s.record_outcome(A, id(2), &limit, &p, NOW).unwrap();
    let err = s.pick_next_candidate(A, NS, &[], NOW).unwrap_err();
    assert!(
        matches!(
            err,
            NoCandidate::AllCoolingDown {
                cause: CoolingCause::Mixed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.message(0).contains("refused"), "{}", err.message(0));
}

#[test]
fn a_model_cap_429_skips_the_account_for_that_model_only() {
    use rota_core::{CooldownPolicy, Outcome, RateLimitSignal};
    let mut s = pool(2);
    let active = s.active_id(A, NS, NOW).unwrap();
    let other = if active == id(1) { id(2) } else { id(1) };
    let capped = Outcome::RateLimited(RateLimitSignal {
        resets_at: vec![NOW + 3_600_000],
        model: Some("Fable".into()),
        ..RateLimitSignal::default()
    });
    let effect = s
        .record_outcome(A, active, &capped, &CooldownPolicy::default(), NOW)
        .unwrap();
    // Replay elsewhere, but no cooldown and no switch.
    assert_eq!(effect.action, rota_core::Action::TryNext);
    assert_eq!(effect.cooldown_until, None);
    assert_eq!(effect.switched, None);
    assert_eq!(s.active_id(A, NS, NOW), Some(active));
    let fable = Some("claude-fable-4-5");
    assert_eq!(s.pick_candidate_for(A, NS, &[], fable, NOW), Ok(other));
    assert_eq!(
        s.pick_candidate_for(A, NS, &[], Some("claude-opus-4-8"), NOW),
        Ok(active)
    );
    assert_eq!(s.pick_next_candidate(A, NS, &[], NOW), Ok(active));
    // Every account capped for Fable: a clear error naming the model and the soonest reset.
    s.record_outcome(A, other, &capped, &CooldownPolicy::default(), NOW)
        .unwrap();
    let err = s.pick_candidate_for(A, NS, &[], fable, NOW).unwrap_err();
    assert_eq!(
        err,
        NoCandidate::ModelCapped {
            provider: A,
            model: "claude-fable-4-5".into(),
            until: NOW + 3_600_000
        }
    );
    assert!(err.message(0).contains("other models are still served"));
    assert_eq!(err.retry_after_ms(NOW), Some(3_600_000));
    // After the reset the model is served again.
    assert_eq!(
        s.pick_candidate_for(A, NS, &[], fable, NOW + 3_600_000),
        Ok(active)
    );
    // A cap whose model stayed unknown (empty) counts as the account's own limit.
    let unknown = Outcome::RateLimited(RateLimitSignal {
        resets_at: vec![NOW + 60_000],
        model: Some(String::new()),
        ..RateLimitSignal::default()
    });
    let effect = s
        .record_outcome(A, active, &unknown, &CooldownPolicy::default(), NOW)
        .unwrap();
    assert_eq!(effect.cooldown_until, Some(NOW + 60_000));
}
