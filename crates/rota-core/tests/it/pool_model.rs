//! Random operation sequences on the pool, checked against a small reference model and the
//! snapshot invariants after every step (docs/rules.md §7: property tests of the pool).

use std::collections::BTreeMap;

use proptest::prelude::*;
use rota_core::{
    CooldownPolicy, NewLogin, NoCandidate, Outcome, PoolError, PoolState, ProactiveDecision,
    ProactivePolicy, RateLimitSignal, SWITCH_LOG_CAP, Ulid, choose_proactive,
};
use rota_types::{
    AccountIdentity, AnthropicExtra, OpenAiUsage, ProviderId, ProviderUsage, SwitchReason,
    UsageSnapshot, UsageWindow, WindowKind,
};

const PROVIDERS: [ProviderId; 2] = [ProviderId::Anthropic, ProviderId::OpenAi];
const NAMESPACES: [&str; 2] = ["default", "work"];
const T0: i64 = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Kind {
    Success,
    Limited {
        reset: Option<i64>,
        retry_after: Option<i64>,
    },
    AuthFailed,
    Overloaded,
    Network,
}

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        p: usize,
        ns: usize,
        key: Option<u8>,
    },
    SetActive {
        p: usize,
        ns: usize,
        pick: usize,
    },
    Remove {
        p: usize,
        pick: usize,
    },
    RemoveAll {
        p: usize,
        ns: usize,
    },
    Outcome {
        p: usize,
        pick: usize,
        kind: Kind,
    },
    Pick {
        p: usize,
        ns: usize,
        tried: Vec<usize>,
    },
    Advance {
        ms: i64,
    },
    Rename {
        p: usize,
        pick: usize,
        label: String,
    },
    Usage {
        p: usize,
        pick: usize,
        five: f64,
        week: f64,
        age: i64,
    },
    Proactive {
        p: usize,
        ns: usize,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Success),
        (
            proptest::option::of(-60_000_i64..7_200_000),
            proptest::option::of(1_i64..600_000)
        )
            .prop_map(|(reset, retry_after)| Kind::Limited { reset, retry_after }),
        Just(Kind::AuthFailed),
        Just(Kind::Overloaded),
        Just(Kind::Network),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2_usize, 0..2_usize, proptest::option::of(0..4_u8))
            .prop_map(|(p, ns, key)| Op::Upsert { p, ns, key }),
        2 => (0..2_usize, 0..2_usize, any::<usize>()).prop_map(|(p, ns, pick)| Op::SetActive { p, ns, pick }),
        1 => (0..2_usize, any::<usize>()).prop_map(|(p, pick)| Op::Remove { p, pick }),
        1 => (0..2_usize, 0..2_usize).prop_map(|(p, ns)| Op::RemoveAll { p, ns }),
        3 => (0..2_usize, any::<usize>(), kind()).prop_map(|(p, pick, kind)| Op::Outcome { p, pick, kind }),
        2 => (0..2_usize, 0..2_usize, proptest::collection::vec(any::<usize>(), 0..3))
            .prop_map(|(p, ns, tried)| Op::Pick { p, ns, tried }),
        1 => (0_i64..3_600_000).prop_map(|ms| Op::Advance { ms }),
        1 => (0..2_usize, any::<usize>(), "[ a-z\\n]{0,70}")
            .prop_map(|(p, pick, label)| Op::Rename { p, pick, label }),
        // Tenths of a percent, as providers report them: serde_json's default float parser is
        // not bit-exact for long mantissas, which would break the round-trip check below.
        2 => (0..2_usize, any::<usize>(), 0..=1000_u16, 0..=1000_u16, 0_i64..3_600_000)
            .prop_map(|(p, pick, five, week, age)| Op::Usage {
                p,
                pick,
                five: f64::from(five) / 10.0,
                week: f64::from(week) / 10.0,
                age,
            }),
        1 => (0..2_usize, 0..2_usize).prop_map(|(p, ns)| Op::Proactive { p, ns }),
    ]
}

#[derive(Debug, Clone)]
struct MRec {
    id: Ulid,
    ns: &'static str,
    key: Option<u8>,
    cooldown: Option<i64>,
    auth_cooldown: bool,
    needs_reauth: bool,
    streak: u32,
}

impl MRec {
    fn cooling(&self, now: i64) -> bool {
        self.cooldown.is_some_and(|c| c > now)
    }
    fn usable(&self, now: i64) -> bool {
        !self.cooling(now) && !self.needs_reauth
    }
}

/// The reference: plain vectors, the rules written the obvious way.
#[derive(Debug, Default)]
struct Model {
    recs: Vec<(ProviderId, MRec)>,
    order: BTreeMap<(ProviderId, &'static str), Vec<Ulid>>,
    active: BTreeMap<(ProviderId, &'static str), Ulid>,
}

impl Model {
    fn find(&self, p: ProviderId, id: Ulid) -> Option<&MRec> {
        self.recs
            .iter()
            .find(|(q, r)| *q == p && r.id == id)
            .map(|(_, r)| r)
    }
    fn find_mut(&mut self, p: ProviderId, id: Ulid) -> Option<&mut MRec> {
        self.recs
            .iter_mut()
            .find(|(q, r)| *q == p && r.id == id)
            .map(|(_, r)| r)
    }
    fn move_front(&mut self, p: ProviderId, ns: &'static str, id: Ulid) {
        let o = self.order.entry((p, ns)).or_default();
        o.retain(|x| *x != id);
        o.insert(0, id);
        self.active.insert((p, ns), id);
    }
}

fn default_ms(streak: u32) -> i64 {
    (30_000_i64 << streak.min(20)).min(600_000)
}

fn check_invariants(s: &PoolState, now: i64) {
    assert!(s.switch_log.len() <= SWITCH_LOG_CAP);
    for (p, pool) in &s.providers {
        assert!(
            !pool.records.is_empty(),
            "{p}: provider entry kept without accounts"
        );
        for ns in NAMESPACES {
            let mut rec_ids: Vec<Ulid> = pool.records_in(ns).map(|r| r.id).collect();
            let snap = s.snapshot(*p, ns, now);
            let mut ordered: Vec<Ulid> = snap
                .ordered_ids
                .iter()
                .map(|x| Ulid::from_string(x).unwrap())
                .collect();
            let summary_ids: Vec<_> = snap.records.iter().map(|r| r.id.clone()).collect();
            assert_eq!(summary_ids, snap.ordered_ids, "records follow orderedIDs");
            assert_eq!(
                pool.order.get(ns).cloned().unwrap_or_default(),
                ordered,
                "stored order normalised"
            );
            ordered.sort();
            rec_ids.sort();
            assert_eq!(
                ordered, rec_ids,
                "orderedIDs is a permutation of the record ids"
            );
            if rec_ids.is_empty() {
                assert_eq!(snap.active_id, None);
                assert!(!pool.active.contains_key(ns) && !pool.order.contains_key(ns));
            } else {
                let active = pool.active.get(ns).expect("stored active kept");
                assert!(rec_ids.contains(active), "active ∈ records");
                assert_eq!(snap.active_id, Some(active.to_string()));
                assert_eq!(snap.records.iter().filter(|r| r.is_active).count(), 1);
            }
        }
    }
}

fn check_model(s: &PoolState, m: &Model) {
    for p in PROVIDERS {
        for ns in NAMESPACES {
            let want = m.order.get(&(p, ns)).cloned().unwrap_or_default();
            assert_eq!(s.ordered_ids(p, ns), want, "{p}/{ns} order");
            assert_eq!(
                s.pool(p).and_then(|x| x.active.get(ns)).copied(),
                m.active.get(&(p, ns)).copied(),
                "{p}/{ns} active"
            );
        }
        let mut real: Vec<_> = s
            .pool(p)
            .map(|x| x.records.iter().map(|r| r.id).collect())
            .unwrap_or_default();
        let mut model: Vec<_> = m
            .recs
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, r)| r.id)
            .collect();
        real.sort();
        model.sort();
        assert_eq!(real, model, "{p} records");
        for (_, mr) in m.recs.iter().filter(|(q, _)| *q == p) {
            let r = s.record(p, mr.id).unwrap();
            assert_eq!(
                r.health.cooldown_until, mr.cooldown,
                "cooldown of {}",
                mr.id
            );
            assert_eq!(r.health.needs_reauth, mr.needs_reauth);
            assert_eq!(r.namespace, mr.ns);
        }
    }
}

// One interpreter loop over the op enum; `s`, `m`, `p`, `r` are state, model, provider and
// record throughout.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
fn run(ops: Vec<Op>) {
    let policy = CooldownPolicy::default();
    let mut s = PoolState::default();
    let mut m = Model::default();
    let mut now = T0;
    let mut ever: Vec<Ulid> = vec![Ulid::from_parts(9, 9)]; // one id that never exists
    let mut next = 0_u128;
    for op in ops {
        match op {
            Op::Upsert { p, ns, key } => {
                let (p, ns) = (PROVIDERS[p], NAMESPACES[ns]);
                next += 1;
                let new_id = Ulid::from_parts(1, next);
                let identity = AccountIdentity {
                    account_id: key.map(|k| format!("acct-{k}")),
                    ..AccountIdentity::default()
                };
                let got = s
                    .upsert(
                        p,
                        ns,
                        NewLogin {
                            identity,
                            label: None,
                        },
                        new_id,
                        now,
                    )
                    .unwrap();
                let existing = key.and_then(|k| {
                    m.recs
                        .iter_mut()
                        .find(|(q, r)| *q == p && r.ns == ns && r.key == Some(k))
                });
                let id = if let Some((_, r)) = existing {
                    r.needs_reauth = false;
                    if r.auth_cooldown {
                        r.cooldown = None;
                        r.auth_cooldown = false;
                    }
                    assert!(!got.created);
                    r.id
                } else {
                    assert!(got.created);
                    m.recs.push((
                        p,
                        MRec {
                            id: new_id,
                            ns,
                            key,
                            cooldown: None,
                            auth_cooldown: false,
                            needs_reauth: false,
                            streak: 0,
                        },
                    ));
                    ever.push(new_id);
                    new_id
                };
                assert_eq!(got.id, id);
                m.move_front(p, ns, id);
            }
            Op::SetActive { p, ns, pick } => {
                let (p, ns) = (PROVIDERS[p], NAMESPACES[ns]);
                let id = ever[pick % ever.len()];
                let got = s.set_active(p, ns, id, SwitchReason::ManualTray, now);
                if m.find(p, id).is_some_and(|r| r.ns == ns) {
                    got.unwrap();
                    m.move_front(p, ns, id);
                } else {
                    assert!(matches!(got, Err(PoolError::NotFound { .. })), "{got:?}");
                }
            }
            Op::Remove { p, pick } => {
                let p = PROVIDERS[p];
                let id = ever[pick % ever.len()];
                let got = s.remove_record(p, id, now);
                if let Some(ns) = m.find(p, id).map(|r| r.ns) {
                    let got = got.unwrap();
                    m.recs.retain(|(q, r)| !(*q == p && r.id == id));
                    let o = m.order.get_mut(&(p, ns)).unwrap();
                    o.retain(|x| *x != id);
                    assert_eq!(got.remaining, o.len());
                    if o.is_empty() {
                        m.order.remove(&(p, ns));
                        m.active.remove(&(p, ns));
                    } else if m.active[&(p, ns)] == id {
                        let first = o[0];
                        m.active.insert((p, ns), first);
                    }
                } else {
                    assert!(matches!(got, Err(PoolError::NotFound { .. })));
                }
            }
            Op::RemoveAll { p, ns } => {
                let (p, ns) = (PROVIDERS[p], NAMESPACES[ns]);
                let gone = s.remove_all(p, ns, now);
                let before = m.recs.len();
                m.recs.retain(|(q, r)| !(*q == p && r.ns == ns));
                assert_eq!(gone.len(), before - m.recs.len());
                m.order.remove(&(p, ns));
                m.active.remove(&(p, ns));
            }
            Op::Outcome { p, pick, kind } => {
                let p = PROVIDERS[p];
                let id = ever[pick % ever.len()];
                let outcome = match &kind {
                    Kind::Success => Outcome::Success { status: 200 },
                    Kind::Limited { reset, retry_after } => Outcome::RateLimited(RateLimitSignal {
                        model: None,
                        resets_at: reset.map(|r| now + r).into_iter().collect(),
                        retry_after_ms: *retry_after,
                        window: None,
                    }),
                    Kind::AuthFailed => Outcome::AuthFailed,
                    Kind::Overloaded => Outcome::Overloaded { status: 529 },
                    Kind::Network => Outcome::NetworkError { first: false },
                };
                let got = s.record_outcome(p, id, &outcome, &policy, now);
                let Some(ns) = m.find(p, id).map(|r| r.ns) else {
                    assert!(matches!(got, Err(PoolError::NotFound { .. })));
                    continue;
                };
                got.unwrap();
                let r = m.find_mut(p, id).unwrap();
                let extend = |r: &mut MRec, until: i64, auth: bool| {
                    if r.cooldown.is_none_or(|c| until > c) {
                        r.cooldown = Some(until);
                        r.auth_cooldown = auth;
                    }
                };
                let rotate = match kind {
                    Kind::Success => {
                        r.streak = 0;
                        r.needs_reauth = false;
                        if r.auth_cooldown {
                            r.cooldown = None;
                            r.auth_cooldown = false;
                        }
                        false
                    }
                    Kind::Limited { reset, retry_after } => {
                        let until = match (reset.filter(|r| *r > 0), retry_after) {
                            (Some(r), _) => now + r,
                            (None, Some(ra)) => now + ra,
                            (None, None) => now + default_ms(r.streak),
                        };
                        r.streak += 1;
                        extend(r, until, false);
                        true
                    }
                    Kind::AuthFailed => {
                        r.needs_reauth = true;
                        extend(r, now + 300_000, true);
                        true
                    }
                    Kind::Overloaded | Kind::Network => false,
                };
                if rotate {
                    let o = m.order.get_mut(&(p, ns)).unwrap();
                    o.retain(|x| *x != id);
                    o.push(id);
                    let o = o.clone();
                    if m.active[&(p, ns)] == id {
                        let recs: Vec<MRec> =
                            o.iter().map(|x| m.find(p, *x).unwrap().clone()).collect();
                        let next = recs
                            .iter()
                            .find(|r| r.id != id && r.usable(now))
                            .or_else(|| recs.iter().find(|r| r.id != id && !r.cooling(now)))
                            .map_or(o[0], |r| r.id);
                        m.active.insert((p, ns), next);
                    }
                }
            }
            Op::Pick { p, ns, tried } => {
                let (p, ns) = (PROVIDERS[p], NAMESPACES[ns]);
                let tried: Vec<Ulid> = tried.iter().map(|t| ever[t % ever.len()]).collect();
                let got = s.pick_next_candidate(p, ns, &tried, now);
                let mut cands = m.order.get(&(p, ns)).cloned().unwrap_or_default();
                if let Some(a) = m.active.get(&(p, ns)) {
                    cands.retain(|x| x != a);
                    cands.insert(0, *a);
                }
                let recs: Vec<MRec> = cands
                    .iter()
                    .map(|x| m.find(p, *x).unwrap().clone())
                    .collect();
                let untried: Vec<&MRec> = recs.iter().filter(|r| !tried.contains(&r.id)).collect();
                let want = untried
                    .iter()
                    .find(|r| r.usable(now))
                    .or_else(|| untried.iter().find(|r| !r.cooling(now)))
                    .map(|r| r.id);
                match (want, got) {
                    (Some(w), Ok(g)) => assert_eq!(w, g),
                    (None, Err(NoCandidate::NoAccounts { .. })) => assert!(recs.is_empty()),
                    (None, Err(NoCandidate::AllCoolingDown { count, until, .. })) => {
                        assert_eq!(count, recs.len());
                        assert!(recs.iter().all(|r| r.cooling(now)));
                        assert_eq!(Some(until), recs.iter().filter_map(|r| r.cooldown).min());
                    }
                    (None, Err(NoCandidate::Exhausted { .. })) => {
                        assert!(!recs.is_empty() && recs.iter().any(|r| !r.cooling(now)));
                    }
                    (w, g) => panic!("model {w:?}, pool {g:?}"),
                }
            }
            Op::Advance { ms } => now += ms,
            Op::Rename { p, pick, label } => {
                let p = PROVIDERS[p];
                let id = ever[pick % ever.len()];
                let got = s.rename(p, id, &label, now);
                let trimmed = label.trim();
                let valid = !trimmed.is_empty()
                    && trimmed.chars().count() <= rota_types::MAX_LABEL_CHARS
                    && !trimmed.contains('\n');
                match (m.find(p, id).is_some(), valid) {
                    (true, true) => {
                        got.unwrap();
                        assert_eq!(s.record(p, id).unwrap().label, trimmed);
                    }
                    (false, true) => assert!(matches!(got, Err(PoolError::NotFound { .. }))),
                    (_, false) => assert!(got.is_err()),
                }
            }
            Op::Usage {
                p,
                pick,
                five,
                week,
                age,
            } => {
                let p = PROVIDERS[p];
                let id = ever[pick % ever.len()];
                let window = |k, u| UsageWindow::new(k, u, Some(now + 3_600_000));
                let usage = match p {
                    ProviderId::Anthropic => ProviderUsage::Anthropic(AnthropicExtra::default()),
                    _ => ProviderUsage::OpenAi(OpenAiUsage::default()),
                };
                let snap = UsageSnapshot {
                    fetched_at: now - age,
                    status: None,
                    windows: vec![
                        window(WindowKind::FiveHour, five),
                        window(WindowKind::SevenDay, week),
                    ],
                    usage,
                };
                assert_eq!(s.record_usage(p, id, snap).is_ok(), m.find(p, id).is_some());
            }
            Op::Proactive { p, ns } => {
                let (p, ns) = (PROVIDERS[p], NAMESPACES[ns]);
                let policy = ProactivePolicy {
                    enabled: true,
                    min_dwell_ms: 0,
                    ..ProactivePolicy::default()
                };
                let decision = choose_proactive(&s, p, ns, &policy, now);
                let entry = s.apply_proactive(p, ns, &policy, now);
                if let ProactiveDecision::Switch { from, to } = decision {
                    // The target is another usable account well below the threshold.
                    assert_eq!(Some(&from), m.active.get(&(p, ns)));
                    assert_ne!(from, to);
                    let r = s.record(p, to).unwrap();
                    assert!(r.is_usable(now));
                    let u = r.usage.as_ref().unwrap().max_utilization();
                    assert!(u < policy.threshold - policy.hysteresis, "{u}");
                    assert_eq!(entry.unwrap().reason, SwitchReason::Proactive);
                    m.move_front(p, ns, to);
                } else {
                    assert!(entry.is_none());
                }
            }
        }
        check_invariants(&s, now);
        check_model(&s, &m);
    }
    // What the store persists reads back identically.
    let back: PoolState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
