//! The proactive switch (off by default): leave an account that is about to hit a limit for
//! the eligible account with the most headroom, without flapping.

use rota_types::{
    LimitStatus, ProviderId, SwitchDetail, SwitchLogEntry, SwitchReason, UnixMs, UsageSnapshot,
};
use ulid::Ulid;

use crate::state::{PoolState, Record};

/// Proactive-switch settings (per provider in the config file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProactivePolicy {
    pub enabled: bool,
    /// Switch when any window of the active account reaches this percent (or the provider
    /// says `rejected`).
    pub threshold: f64,
    /// A target must be this many points below the threshold in every window, so the new
    /// account does not trigger a switch back at once.
    pub hysteresis: f64,
    /// No proactive switch within this long after the active account changed.
    pub min_dwell_ms: i64,
    /// Usage older than this is not trusted for the decision (neither trigger nor target).
    pub max_usage_age_ms: i64,
}

impl Default for ProactivePolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            threshold: 95.0,
            hysteresis: 10.0,
            min_dwell_ms: 10 * 60_000,
            max_usage_age_ms: 30 * 60_000,
        }
    }
}

/// Why the active account stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stay {
    Disabled,
    NoAccounts,
    /// No fresh usage for the active account.
    UsageUnknown,
    BelowThreshold,
    /// The active account changed less than the minimum dwell ago.
    Dwell,
    /// Every other account is exhausted, cooling down, needs a login or has no fresh usage.
    NoEligible,
}

/// The proactive decision for one provider namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProactiveDecision {
    Stay(Stay),
    Switch { from: Ulid, to: Ulid },
}

fn fresh<'a>(r: &'a Record, now: UnixMs, policy: &ProactivePolicy) -> Option<&'a UsageSnapshot> {
    r.usage
        .as_ref()
        .filter(|u| now.saturating_sub(u.fetched_at) <= policy.max_usage_age_ms)
}

fn rejected(u: &UsageSnapshot) -> bool {
    u.status == Some(LimitStatus::Rejected)
}

/// (long-window percent, short-window percent): the ranking key, weekly/monthly first.
fn load(u: &UsageSnapshot) -> (f64, f64) {
    let mut long = 0.0_f64;
    let mut short = 0.0_f64;
    for w in u.account_windows() {
        let v = if w.utilization.is_nan() {
            100.0
        } else {
            w.utilization
        };
        if w.kind.is_long() {
            long = long.max(v);
        } else {
            short = short.max(v);
        }
    }
    (long, short)
}

/// Decides whether to switch proactively. Pure: the caller applies a `Switch` with
/// [`PoolState::apply_proactive`] or `set_active(…, SwitchReason::Proactive, …)`.
#[must_use]
pub fn choose_proactive(
    state: &PoolState,
    provider: ProviderId,
    ns: &str,
    policy: &ProactivePolicy,
    now: UnixMs,
) -> ProactiveDecision {
    use ProactiveDecision::Stay as S;
    if !policy.enabled {
        return S(Stay::Disabled);
    }
    let Some(pool) = state.pool(provider) else {
        return S(Stay::NoAccounts);
    };
    let Some(active) = pool
        .effective_active(ns, now)
        .and_then(|id| pool.record(id))
    else {
        return S(Stay::NoAccounts);
    };
    let Some(usage) = fresh(active, now, policy) else {
        return S(Stay::UsageUnknown);
    };
    if !rejected(usage) && usage.max_utilization() < policy.threshold {
        return S(Stay::BelowThreshold);
    }
    let since = pool.active_since.get(ns).copied().unwrap_or(i64::MIN);
    if now.saturating_sub(since) < policy.min_dwell_ms {
        return S(Stay::Dwell);
    }
    let ceiling = policy.threshold - policy.hysteresis;
    let best = pool
        .ordered_ids(ns)
        .into_iter()
        .enumerate()
        .filter_map(|(pos, id)| pool.record(id).map(|r| (pos, r)))
        .filter(|(_, r)| r.id != active.id && r.is_usable(now))
        .filter_map(|(pos, r)| fresh(r, now, policy).map(|u| (pos, r, u)))
        .filter(|(_, _, u)| !rejected(u) && u.max_utilization() < ceiling)
        .min_by(|(pa, _, ua), (pb, _, ub)| {
            let ((la, sa), (lb, sb)) = (load(ua), load(ub));
            // Whole percents, so a 0.1-point weekly difference does not outweigh the 5-hour one.
            (la.round(), sa.round(), *pa)
                .partial_cmp(&(lb.round(), sb.round(), *pb))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    match best {
        Some((_, r, _)) => ProactiveDecision::Switch {
            from: active.id,
            to: r.id,
        },
        None => S(Stay::NoEligible),
    }
}

/// What made the account leave: its fullest window, or the provider's `rejected`.
fn detail_of(u: &UsageSnapshot) -> SwitchDetail {
    let fullest = u
        .account_windows()
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization));
    SwitchDetail {
        window: fullest.map(|w| w.kind),
        model: None,
        percent: fullest.map(|w| w.utilization.clamp(0.0, 1000.0).round() as u32),
        rejected: rejected(u),
        ..SwitchDetail::default()
    }
}

impl PoolState {
    /// Runs [`choose_proactive`] and applies a switch (reason `proactive`, with the window that
    /// triggered it as the log entry's detail).
    pub fn apply_proactive(
        &mut self,
        provider: ProviderId,
        ns: &str,
        policy: &ProactivePolicy,
        now: UnixMs,
    ) -> Option<SwitchLogEntry> {
        match choose_proactive(self, provider, ns, policy, now) {
            ProactiveDecision::Switch { from, to } => {
                let detail = self
                    .record(provider, from)
                    .and_then(|r| r.usage.as_ref())
                    .map(detail_of);
                let mut entry = self
                    .set_active(provider, ns, to, SwitchReason::Proactive, now)
                    .ok()
                    .flatten()?;
                if let Some(last) = self.switch_log.back_mut() {
                    last.detail.clone_from(&detail);
                }
                entry.detail = detail;
                Some(entry)
            }
            ProactiveDecision::Stay(_) => None,
        }
    }

    /// [`PoolState::apply_proactive`] for every provider whose proactive toggle is on, with
    /// `base` for the thresholds. Returns the switches made.
    pub fn apply_proactive_all(
        &mut self,
        ns: &str,
        base: &ProactivePolicy,
        now: UnixMs,
    ) -> Vec<SwitchLogEntry> {
        let providers: Vec<ProviderId> = self
            .settings
            .iter()
            .filter(|(_, s)| s.proactive)
            .map(|(p, _)| *p)
            .collect();
        let policy = ProactivePolicy {
            enabled: true,
            ..*base
        };
        providers
            .into_iter()
            .filter_map(|p| self.apply_proactive(p, ns, &policy, now))
            .collect()
    }

    /// Whether [`PoolState::apply_proactive_all`] would switch anything (a read-only check, so
    /// callers take the store lock only when there is something to do).
    #[must_use]
    pub fn proactive_pending(&self, ns: &str, base: &ProactivePolicy, now: UnixMs) -> bool {
        let policy = ProactivePolicy {
            enabled: true,
            ..*base
        };
        self.settings
            .iter()
            .filter(|(_, s)| s.proactive)
            .any(|(p, _)| {
                matches!(
                    choose_proactive(self, *p, ns, &policy, now),
                    ProactiveDecision::Switch { .. }
                )
            })
    }
}
