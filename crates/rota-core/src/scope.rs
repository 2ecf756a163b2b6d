//! Model-scoped limits: a window that caps one model (Anthropic's `weekly_scoped`, a Codex
//! per-model window) or a 429 whose claim names such a cap limits only that model. The account
//! keeps serving other models; requests for the capped model go to another account until the
//! window resets. Pure: `now` is an argument.

use rota_types::{UnixMs, model_matches};

use crate::state::Record;

impl Record {
    /// Until when requests for `model` (a request's model id) must not use this account: a
    /// model cap the account hit (429) or an exhausted scoped window in its last usage. `None`
    /// = the account may serve the model. A scoped window without a reset time blocks until the
    /// next usage poll says otherwise (`UnixMs::MAX`).
    #[must_use]
    pub fn model_blocked_until(&self, model: &str, now: UnixMs) -> Option<UnixMs> {
        let capped = self
            .model_limits
            .iter()
            .filter(|(scope, until)| **until > now && model_matches(scope, model))
            .map(|(_, until)| *until);
        let windows = self
            .usage
            .iter()
            .flat_map(|u| u.windows.iter())
            .filter(|w| w.model.is_some() && w.applies_to(model) && w.is_exhausted())
            .filter_map(|w| match w.resets_at {
                Some(reset) if reset > now => Some(reset),
                Some(_) => None,
                None => Some(UnixMs::MAX),
            });
        capped.chain(windows).max()
    }

    /// Records that `scope` (a model's display name or id) is capped on this account until
    /// `until` (never shortened); expired entries are dropped.
    pub fn cap_model(&mut self, scope: &str, until: UnixMs, now: UnixMs) {
        self.model_limits.retain(|_, u| *u > now);
        let e = self.model_limits.entry(scope.to_owned()).or_insert(until);
        *e = (*e).max(until);
    }
}

#[cfg(test)]
mod tests {
    use rota_types::{
        AnthropicExtra, ProviderUsage, Severity, UsageSnapshot, UsageWindow, WindowKind,
    };

    use super::*;

    fn record(windows: Vec<UsageWindow>) -> Record {
        Record {
            id: ulid::Ulid::nil(),
            namespace: "default".into(),
            label: "a".into(),
            identity: rota_types::AccountIdentity::default(),
            created_at: 0,
            updated_at: 0,
            health: rota_types::AccountHealth::default(),
            cooldown_kind: None,
            rate_limit_streak: 0,
            usage: Some(UsageSnapshot {
                fetched_at: 0,
                status: None,
                windows,
                usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
            }),
            usage_history: Vec::new(),
            model_limits: std::collections::BTreeMap::new(),
            pending_redeem: None,
            last_redeem: None,
            reset_credits: None,
            extra_usage: None,
        }
    }

    #[test]
    fn an_exhausted_scoped_window_blocks_only_its_model_until_it_resets() {
        let r = record(vec![
            UsageWindow::new(WindowKind::FiveHour, 20.0, Some(50)),
            UsageWindow::scoped(WindowKind::SevenDay, "Fable", 100.0, Some(1_000)),
        ]);
        assert_eq!(r.model_blocked_until("claude-fable-4-5", 10), Some(1_000));
        assert_eq!(r.model_blocked_until("claude-sonnet-4-5", 10), None);
        // After the reset the window no longer blocks (the next poll brings the new value).
        assert_eq!(r.model_blocked_until("claude-fable-4-5", 1_000), None);
    }

    #[test]
    fn critical_severity_blocks_below_100_and_normal_does_not() {
        let critical = record(vec![
            UsageWindow::scoped(WindowKind::SevenDay, "Fable", 98.0, Some(1_000))
                .with_severity(Severity::Critical),
        ]);
        assert_eq!(
            critical.model_blocked_until("claude-fable-4-5", 0),
            Some(1_000)
        );
        let normal = record(vec![UsageWindow::scoped(
            WindowKind::SevenDay,
            "Fable",
            64.0,
            Some(1_000),
        )]);
        assert_eq!(normal.model_blocked_until("claude-fable-4-5", 0), None);
        // An account-wide window at 100 % is the account's cooldown's business, not a model cap.
        let full = record(vec![UsageWindow::new(WindowKind::FiveHour, 100.0, Some(9))]);
        assert_eq!(full.model_blocked_until("claude-fable-4-5", 0), None);
    }

    #[test]
    fn a_capped_model_from_a_429_blocks_until_its_reset_and_is_never_shortened() {
        let mut r = record(Vec::new());
        r.cap_model("claude-fable-4-5", 500, 0);
        r.cap_model("claude-fable-4-5", 300, 0);
        assert_eq!(r.model_blocked_until("claude-fable-4-5", 10), Some(500));
        assert_eq!(r.model_blocked_until("claude-opus-4-8", 10), None);
        assert_eq!(r.model_blocked_until("claude-fable-4-5", 500), None);
        // Expired entries go away on the next cap.
        r.cap_model("gpt-5.3-codex-spark", 900, 600);
        assert_eq!(r.model_limits.len(), 1);
    }
}
