//! The persisted, non-secret state: what `rota-store` writes to `state.json`.

use std::collections::{BTreeMap, VecDeque};

use rota_types::{
    AccountHealth, AccountIdentity, AccountSummary, AnthropicUsage, HandoffTool, ProviderId,
    ProviderUsage, SwitchLogEntry, UnixMs, UsageSnapshot,
};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::exhaustion::UsagePoint;

/// Schema version of [`PoolState`]; bump with a migration in the store when the shape changes.
pub const STATE_VERSION: u32 = 1;

/// Entries kept in the switch log (oldest dropped first).
pub const SWITCH_LOG_CAP: usize = 200;

/// Every provider's pool, the switch log and the store's change counter. No secrets: tokens live
/// in the vault, keyed by [`Record::id`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolState {
    #[serde(default = "current_version")]
    pub version: u32,
    /// Bumped by the store on every write, so readers notice external changes cheaply.
    #[serde(default)]
    pub generation: u64,
    #[serde(default)]
    pub providers: BTreeMap<ProviderId, ProviderPool>,
    /// Every change of an active account and every removal, oldest first, at most
    /// [`SWITCH_LOG_CAP`] entries.
    #[serde(default)]
    pub switch_log: VecDeque<SwitchLogEntry>,
    /// Per-provider switches users toggle (hand-off, proactive). Kept here, not in a config
    /// file, so a toggle from the CLI or the app reaches every process through the store's
    /// watch; and apart from [`ProviderPool`], which disappears with its last account.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<ProviderId, ProviderSettings>,
    /// Labels of removed accounts that the switch log still names, so the history keeps
    /// saying who they were; pruned with the log ([`PoolState::history_label`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed_labels: BTreeMap<String, String>,
}

/// One provider's toggles and the hand-off bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSettings {
    #[serde(default)]
    pub handoff: HandoffSettings,
    /// Proactive switching before the limit (off by default).
    #[serde(default)]
    pub proactive: bool,
    /// Anthropic: which clients the gateway route serves, as the user last chose it (`rota
    /// auth clients`, the app); `None` = the config's `[providers.anthropic] clients`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<rota_types::AnthropicClients>,
    /// Namespace → the exhaustion episode that had its automatic reset-credit redeem
    /// ([`crate::auto_redeem`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auto_redeem_episodes: BTreeMap<String, UnixMs>,
}

/// Hand-off of the active account into an official tool's login file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The tool; `None` = the provider's default ([`HandoffTool::default_for`]).
    #[serde(default)]
    pub tool: Option<HandoffTool>,
    /// A path instead of the tool's default location.
    #[serde(default)]
    pub target: Option<String>,
    /// What Rota last wrote to the target (which account, a fingerprint of the tokens): tells a
    /// refresh by the tool (same account, new tokens) from untouched content.
    #[serde(default)]
    pub mark: Option<HandoffMark>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<UnixMs>,
}

/// The last hand-off write. The fingerprint is a truncated hash of the tokens written, never
/// the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffMark {
    pub record_id: String,
    pub fingerprint: String,
    pub at: UnixMs,
}

fn current_version() -> u32 {
    STATE_VERSION
}

impl Default for PoolState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            generation: 0,
            providers: BTreeMap::new(),
            switch_log: VecDeque::new(),
            settings: BTreeMap::new(),
            removed_labels: BTreeMap::new(),
        }
    }
}

/// One provider's accounts (the seed's v2 shape: records carry their namespace; order and
/// active are kept per namespace). Exists only while it has at least one record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderPool {
    /// In creation order (the order missing ids are appended to `order` in).
    pub records: Vec<Record>,
    /// Rotation order per namespace; normalised on every mutation, tolerated unnormalised on
    /// load (hand edits, imports).
    #[serde(default)]
    pub order: BTreeMap<String, Vec<Ulid>>,
    /// The active account per namespace.
    #[serde(default)]
    pub active: BTreeMap<String, Ulid>,
    /// When the namespace's active account last changed: the proactive switch waits a
    /// minimum dwell after it.
    #[serde(default)]
    pub active_since: BTreeMap<String, UnixMs>,
}

/// Why an account is cooling down; decides what clears it early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownKind {
    /// A 429: only time ends it (never shortened).
    RateLimit,
    /// The token was refused: a new login or a success ends it.
    Auth,
    /// The monthly quota is used up (Copilot 402): lasts until the quota's reset date.
    Quota,
    /// Anthropic: the plan limits are used up and the account is drawing on paid extra usage
    /// (the plan-limits-only guard): lasts until the plan window resets.
    ExtraUsage,
}

/// One account, without secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: Ulid,
    pub namespace: String,
    pub label: String,
    #[serde(default)]
    pub identity: AccountIdentity,
    pub created_at: UnixMs,
    pub updated_at: UnixMs,
    #[serde(default)]
    pub health: AccountHealth,
    #[serde(default)]
    pub cooldown_kind: Option<CooldownKind>,
    /// 429s since the last success; grows the default cooldown.
    #[serde(default)]
    pub rate_limit_streak: u32,
    /// The last usage fetched or observed, with its fetch time.
    #[serde(default)]
    pub usage: Option<UsageSnapshot>,
    /// Recent usage points (bounded, see [`crate::exhaustion`]) for the exhaustion estimate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage_history: Vec<UsagePoint>,
    /// A reset-credit redeem asked for and not yet answered (see [`crate::redeem`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_redeem: Option<crate::redeem::PendingRedeem>,
    /// The last answered redeem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_redeem: Option<crate::redeem::LastRedeem>,
    /// Models capped on this account by a 429 that named a model-scoped limit: scope (the
    /// model's name or the request's model id) → until when. See [`crate::scope`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_limits: BTreeMap<String, UnixMs>,
    /// OpenAI: the reset credits as last fetched (count and expiries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_credits: Option<rota_types::ResetCredits>,
    /// Anthropic: the plan-limits-only guard's last mark (see [`crate::guard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_usage: Option<rota_types::ExtraUsageMark>,
}

impl Record {
    #[must_use]
    pub fn is_cooling(&self, now: UnixMs) -> bool {
        self.health.is_cooling(now)
    }

    /// Not cooling and not waiting for a new login: a request can go out on it.
    #[must_use]
    pub fn is_usable(&self, now: UnixMs) -> bool {
        !self.is_cooling(now) && !self.health.needs_reauth
    }

    /// The Anthropic windows of the last usage in the seed's shape (`anthropicUsage` of the
    /// HTTP API).
    #[must_use]
    pub fn anthropic_usage(&self) -> Option<AnthropicUsage> {
        let u = self.usage.as_ref()?;
        match &u.usage {
            ProviderUsage::Anthropic(_) => Some(AnthropicUsage::from_windows(&u.windows)),
            _ => None,
        }
    }

    /// The wire view (no secrets exist here to leave out).
    #[must_use]
    pub fn summary(&self, is_active: bool) -> AccountSummary {
        AccountSummary {
            id: self.id.to_string(),
            label: self.label.clone(),
            is_active,
            namespace: self.namespace.clone(),
            identity: self.identity.clone(),
            health: self.health.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            usage: self.usage.clone(),
            exhaustion: crate::exhaustion::estimate(&self.usage_history),
            reset_credits: self.reset_credits.clone(),
            extra_usage: self.extra_usage,
        }
    }
}

impl ProviderPool {
    /// Records of one namespace, in creation order.
    pub fn records_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.namespace == ns)
    }

    #[must_use]
    pub fn record(&self, id: Ulid) -> Option<&Record> {
        self.records.iter().find(|r| r.id == id)
    }

    pub(crate) fn record_mut(&mut self, id: Ulid) -> Option<&mut Record> {
        self.records.iter_mut().find(|r| r.id == id)
    }

    /// The normalised rotation order of a namespace: stored order filtered to existing ids,
    /// de-duplicated, missing ids appended in creation order.
    #[must_use]
    pub fn ordered_ids(&self, ns: &str) -> Vec<Ulid> {
        // Sets keep this linear: it runs on every request and switch, pools can be large.
        let existing: Vec<Ulid> = self.records_in(ns).map(|r| r.id).collect();
        let known: std::collections::HashSet<Ulid> = existing.iter().copied().collect();
        let mut seen = std::collections::HashSet::with_capacity(existing.len());
        let mut out = Vec::with_capacity(existing.len());
        for id in self.order.get(ns).into_iter().flatten() {
            if known.contains(id) && seen.insert(*id) {
                out.push(*id);
            }
        }
        for id in existing {
            if seen.insert(id) {
                out.push(id);
            }
        }
        out
    }

    /// The account requests use first: the stored active id when it exists, else the first
    /// ordered id not cooling down, else the first ordered id.
    #[must_use]
    pub fn effective_active(&self, ns: &str, now: UnixMs) -> Option<Ulid> {
        if let Some(id) = self.active.get(ns)
            && self.record(*id).is_some_and(|r| r.namespace == ns)
        {
            return Some(*id);
        }
        let ordered = self.ordered_ids(ns);
        ordered
            .iter()
            .copied()
            .find(|id| self.record(*id).is_some_and(|r| !r.is_cooling(now)))
            .or_else(|| ordered.first().copied())
    }

    /// Writes the normalised order back and drops the bookkeeping of empty namespaces.
    pub(crate) fn normalize(&mut self, ns: &str) {
        let ordered = self.ordered_ids(ns);
        if ordered.is_empty() {
            self.order.remove(ns);
            self.active.remove(ns);
            self.active_since.remove(ns);
        } else {
            self.order.insert(ns.to_owned(), ordered);
        }
    }
}

impl PoolState {
    /// How the switch history names an account: its label; `Work (removed)` once it is gone;
    /// `removed account` when even that is unknown (logs older than the labels kept).
    #[must_use]
    pub fn history_label(&self, provider: ProviderId, id: &str) -> String {
        if let Some(r) = self
            .pool(provider)
            .and_then(|p| p.records.iter().find(|r| r.id.to_string() == id))
        {
            return r.label.clone();
        }
        self.removed_labels.get(id).map_or_else(
            || "removed account".to_owned(),
            |l| format!("{l} (removed)"),
        )
    }

    /// The switch log as people read it, newest first: labels instead of ids
    /// ([`PoolState::history_label`]), a row about one account (a removal nobody took over
    /// from) naming it once (`from` = `None`), and why. One provider's or every provider's, at
    /// most `limit` rows (the app's history, `GET /auth/log`).
    #[must_use]
    pub fn history(
        &self,
        provider: Option<ProviderId>,
        limit: usize,
    ) -> Vec<rota_types::command::SwitchLogItem> {
        self.switch_log
            .iter()
            .rev()
            .filter(|e| provider.is_none_or(|p| e.provider_id == p))
            .take(limit)
            .map(|e| {
                let (from, to) = self.history_ends(e);
                rota_types::command::SwitchLogItem {
                    at: e.at,
                    provider_id: e.provider_id,
                    from,
                    to,
                    reason: e.reason,
                    reason_text: e.reason_text(),
                }
            })
            .collect()
    }

    /// The two ends of a history row by label. `from` is `None` when there was none, and when
    /// the row would read "X → X": a row about one account (a removal nobody took over from, a
    /// redeemed credit), or two accounts whose names are gone alike (a log older than the
    /// labels kept for removed accounts).
    #[must_use]
    pub fn history_ends(&self, e: &SwitchLogEntry) -> (Option<String>, String) {
        let to = self.history_label(e.provider_id, &e.to);
        let from = e
            .from
            .as_deref()
            .map(|id| self.history_label(e.provider_id, id))
            .filter(|from| *from != to);
        (from, to)
    }

    /// Keeps the label of a removed account while the log names it; forgets labels the log
    /// no longer names.
    pub(crate) fn remember_removed(&mut self, id: Ulid, label: &str) {
        self.removed_labels.insert(id.to_string(), label.to_owned());
        self.prune_removed_labels();
    }

    pub(crate) fn prune_removed_labels(&mut self) {
        if self.removed_labels.is_empty() {
            return;
        }
        let log = &self.switch_log;
        self.removed_labels.retain(|id, _| {
            log.iter()
                .any(|e| e.to == *id || e.from.as_deref() == Some(id.as_str()))
        });
    }

    /// A provider's settings (defaults when never set).
    #[must_use]
    pub fn settings_of(&self, provider: ProviderId) -> ProviderSettings {
        self.settings.get(&provider).cloned().unwrap_or_default()
    }

    /// Changes a provider's settings; an all-default entry is dropped so the file stays small.
    pub fn update_settings(&mut self, provider: ProviderId, f: impl FnOnce(&mut ProviderSettings)) {
        let entry = self.settings.entry(provider).or_default();
        f(entry);
        if *entry == ProviderSettings::default() {
            self.settings.remove(&provider);
        }
    }
}
