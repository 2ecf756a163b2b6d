//! The proactive switch as one `check(input, expect)` table: threshold, rejected status,
//! hysteresis, minimum dwell, stale usage, weekly-first ranking, all exhausted.

use rota_core::{
    NewLogin, PoolState, ProactiveDecision, ProactivePolicy, Stay, Ulid, choose_proactive,
};
use rota_types::{
    AnthropicExtra, LimitStatus, ProviderId, ProviderUsage, SwitchReason, UsageSnapshot,
    UsageWindow, WindowKind,
};

const P: ProviderId = ProviderId::Anthropic;
const NS: &str = "default";
const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

fn id(c: char) -> Ulid {
    Ulid::from_parts(1, u128::from(c))
}

/// An account's state for a case: 5h %, 7d %, status, age of the usage in minutes.
#[derive(Clone, Copy)]
struct Acct {
    five: f64,
    week: f64,
    status: Option<LimitStatus>,
    age_min: i64,
    cooling: bool,
    needs_reauth: bool,
    known: bool,
}

fn u(five: f64, week: f64) -> Acct {
    Acct {
        five,
        week,
        status: None,
        age_min: 1,
        cooling: false,
        needs_reauth: false,
        known: true,
    }
}

const UNKNOWN: Acct = Acct {
    five: 0.0,
    week: 0.0,
    status: None,
    age_min: 0,
    cooling: false,
    needs_reauth: false,
    known: false,
};

struct Case {
    name: &'static str,
    /// Accounts `a`, `b`, `c`… in rotation order; `a` is active.
    accounts: Vec<Acct>,
    /// Minutes since `a` became active.
    dwell_min: i64,
    policy: ProactivePolicy,
}

fn on() -> ProactivePolicy {
    ProactivePolicy {
        enabled: true,
        ..ProactivePolicy::default()
    }
}

fn check(case: Case, expect: Result<char, Stay>) {
    let now = T0 + case.dwell_min * MIN;
    let names: Vec<char> = ('a'..='z').take(case.accounts.len()).collect();
    let mut s = PoolState::default();
    for (n, acct) in names.iter().zip(&case.accounts).rev() {
        s.upsert(P, NS, NewLogin::default(), id(*n), T0 - 60 * MIN)
            .unwrap();
        if acct.known {
            let usage = UsageSnapshot {
                fetched_at: now - acct.age_min * MIN,
                status: acct.status,
                windows: vec![
                    UsageWindow::new(WindowKind::FiveHour, acct.five, Some(now + 60 * MIN)),
                    UsageWindow::new(
                        WindowKind::SevenDay,
                        acct.week,
                        Some(now + 3 * 24 * 60 * MIN),
                    ),
                ],
                usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
            };
            s.record_usage(P, id(*n), usage).unwrap();
        }
        let r = s
            .providers
            .get_mut(&P)
            .unwrap()
            .records
            .iter_mut()
            .find(|r| r.id == id(*n))
            .unwrap();
        r.health.cooldown_until = acct.cooling.then_some(now + MIN);
        r.health.needs_reauth = acct.needs_reauth;
    }
    s.set_active(P, NS, id('b'), SwitchReason::ManualCli, T0 - 30 * MIN)
        .ok();
    s.set_active(P, NS, id('a'), SwitchReason::ManualCli, T0)
        .unwrap();
    assert_eq!(s.ordered_ids(P, NS)[0], id('a'), "case {}", case.name);

    let got = match choose_proactive(&s, P, NS, &case.policy, now) {
        ProactiveDecision::Switch { from, to } => {
            assert_eq!(from, id('a'), "case {}", case.name);
            Ok(names.iter().copied().find(|n| id(*n) == to).unwrap())
        }
        ProactiveDecision::Stay(why) => Err(why),
    };
    assert_eq!(got, expect, "case {}", case.name);

    // Applying the decision switches with reason `proactive` exactly when it said Switch.
    let entry = s.apply_proactive(P, NS, &case.policy, now);
    match expect {
        Ok(to) => {
            let e = entry.expect("switched");
            assert_eq!(
                (e.reason, e.to),
                (SwitchReason::Proactive, id(to).to_string())
            );
            assert_eq!(s.active_id(P, NS, now), Some(id(to)));
            // The log says which window triggered it.
            let detail = e.detail.expect("detail");
            assert_eq!(s.switch_log.back().unwrap().detail, Some(detail.clone()));
            assert!(
                detail.rejected
                    || detail
                        .percent
                        .is_some_and(|p| f64::from(p) >= case.policy.threshold - 0.5)
            );
            // Hysteresis + dwell: right after the switch, nothing switches again.
            assert!(s.apply_proactive(P, NS, &case.policy, now + MIN).is_none());
        }
        Err(_) => assert!(entry.is_none(), "case {}", case.name),
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one table, a row per rule
fn proactive_table() {
    let c = |name, accounts, dwell_min, policy| Case {
        name,
        accounts,
        dwell_min,
        policy,
    };
    let rejected = |mut a: Acct| {
        a.status = Some(LimitStatus::Rejected);
        a
    };
    let stale = |mut a: Acct| {
        a.age_min = 45;
        a
    };
    let cooling = |mut a: Acct| {
        a.cooling = true;
        a
    };
    let reauth = |mut a: Acct| {
        a.needs_reauth = true;
        a
    };

    check(
        c(
            "off by default",
            vec![u(99.0, 50.0), u(0.0, 0.0)],
            60,
            ProactivePolicy::default(),
        ),
        Err(Stay::Disabled),
    );
    check(
        c(
            "below threshold",
            vec![u(94.9, 94.0), u(0.0, 0.0)],
            60,
            on(),
        ),
        Err(Stay::BelowThreshold),
    );
    check(
        c(
            "5h window at threshold",
            vec![u(95.0, 10.0), u(20.0, 20.0)],
            60,
            on(),
        ),
        Ok('b'),
    );
    check(
        c(
            "weekly window at threshold",
            vec![u(10.0, 97.0), u(20.0, 20.0)],
            60,
            on(),
        ),
        Ok('b'),
    );
    check(
        c(
            "status rejected below threshold",
            vec![rejected(u(40.0, 40.0)), u(20.0, 20.0)],
            60,
            on(),
        ),
        Ok('b'),
    );
    check(
        c(
            "custom threshold",
            vec![u(81.0, 10.0), u(10.0, 10.0)],
            60,
            ProactivePolicy {
                threshold: 80.0,
                ..on()
            },
        ),
        Ok('b'),
    );
    check(
        c("minimum dwell", vec![u(99.0, 10.0), u(0.0, 0.0)], 9, on()),
        Err(Stay::Dwell),
    );
    check(
        c("dwell over", vec![u(99.0, 10.0), u(0.0, 0.0)], 10, on()),
        Ok('b'),
    );
    check(
        c(
            "hysteresis: target must be below threshold - 10",
            vec![u(99.0, 10.0), u(85.0, 10.0)],
            60,
            on(),
        ),
        Err(Stay::NoEligible),
    );
    check(
        c(
            "hysteresis: just below the band is eligible",
            vec![u(99.0, 10.0), u(84.9, 10.0)],
            60,
            on(),
        ),
        Ok('b'),
    );
    check(
        c(
            "hysteresis applies to every window",
            vec![u(99.0, 10.0), u(10.0, 88.0), u(60.0, 60.0)],
            60,
            on(),
        ),
        Ok('c'),
    );
    check(
        c(
            "weekly headroom weighs first",
            vec![u(99.0, 10.0), u(5.0, 70.0), u(70.0, 20.0)],
            60,
            on(),
        ),
        Ok('c'),
    );
    check(
        c(
            "equal weekly: most 5h headroom",
            vec![u(99.0, 10.0), u(60.0, 30.0), u(10.0, 30.0)],
            60,
            on(),
        ),
        Ok('c'),
    );
    check(
        c(
            "sub-percent weekly difference does not outweigh 5h",
            vec![u(99.0, 10.0), u(60.0, 30.2), u(10.0, 30.4)],
            60,
            on(),
        ),
        Ok('c'),
    );
    check(
        c(
            "full tie: rotation order",
            vec![u(99.0, 10.0), u(10.0, 10.0), u(10.0, 10.0)],
            60,
            on(),
        ),
        Ok('b'),
    );
    check(
        c(
            "cooling and needs-reauth accounts are not eligible",
            vec![
                u(99.0, 10.0),
                cooling(u(0.0, 0.0)),
                reauth(u(0.0, 0.0)),
                u(50.0, 50.0),
            ],
            60,
            on(),
        ),
        Ok('d'),
    );
    check(
        c(
            "rejected target is not eligible",
            vec![u(99.0, 10.0), rejected(u(0.0, 0.0))],
            60,
            on(),
        ),
        Err(Stay::NoEligible),
    );
    check(
        c(
            "unknown or stale target usage is not eligible",
            vec![u(99.0, 10.0), UNKNOWN, stale(u(0.0, 0.0))],
            60,
            on(),
        ),
        Err(Stay::NoEligible),
    );
    check(
        c(
            "stale active usage does not trigger",
            vec![stale(u(99.0, 99.0)), u(0.0, 0.0)],
            60,
            on(),
        ),
        Err(Stay::UsageUnknown),
    );
    check(
        c(
            "unknown active usage does not trigger",
            vec![UNKNOWN, u(0.0, 0.0)],
            60,
            on(),
        ),
        Err(Stay::UsageUnknown),
    );
    check(
        c(
            "all exhausted",
            vec![u(99.0, 10.0), u(97.0, 10.0), u(10.0, 100.0)],
            60,
            on(),
        ),
        Err(Stay::NoEligible),
    );
    check(
        c("single account", vec![u(100.0, 100.0)], 60, on()),
        Err(Stay::NoEligible),
    );
}

#[test]
fn no_accounts() {
    let s = PoolState::default();
    assert_eq!(
        choose_proactive(&s, P, NS, &on(), T0),
        ProactiveDecision::Stay(Stay::NoAccounts)
    );
}

#[test]
fn settings_toggle_drives_apply_proactive_all() {
    let mut s = PoolState::default();
    let now = T0 + 60 * MIN;
    for c in ['b', 'a'] {
        s.upsert(P, NS, NewLogin::default(), id(c), T0 - 60 * MIN)
            .unwrap();
        let five = if c == 'a' { 96.4 } else { 10.0 };
        s.record_usage(
            P,
            id(c),
            UsageSnapshot {
                fetched_at: now - MIN,
                status: None,
                windows: vec![
                    UsageWindow::new(WindowKind::FiveHour, five, Some(now + 60 * MIN)),
                    UsageWindow::new(WindowKind::SevenDay, 20.0, None),
                ],
                usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
            },
        )
        .unwrap();
    }
    s.set_active(P, NS, id('a'), SwitchReason::ManualCli, T0)
        .unwrap();
    let base = ProactivePolicy::default();
    // Off by default: nothing pending, nothing applied.
    assert!(!s.proactive_pending(NS, &base, now));
    assert!(s.apply_proactive_all(NS, &base, now).is_empty());
    s.update_settings(P, |x| x.proactive = true);
    assert!(s.proactive_pending(NS, &base, now));
    let done = s.apply_proactive_all(NS, &base, now);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].to, id('b').to_string());
    let detail = done[0].detail.clone().unwrap();
    assert_eq!(
        (detail.window, detail.percent, detail.rejected),
        (Some(rota_types::WindowKind::FiveHour), Some(96), false)
    );
    assert!(!s.proactive_pending(NS, &base, now));
    // Turning it off again drops the all-default entry.
    s.update_settings(P, |x| x.proactive = false);
    assert!(s.settings.is_empty());
}
