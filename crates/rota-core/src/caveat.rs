//! What happens when the user makes an account active that cannot serve right now (it needs a
//! new login, or it is cooling down): the gateway keeps serving from another account. Every
//! surface that switches by hand says so before or after the switch, in the same words.

use rota_types::display::remaining_text;
use rota_types::{ProviderId, UnixMs};
use ulid::Ulid;

use crate::state::PoolState;

/// Why an account cannot serve now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// Its login was refused: requests skip it until the user signs in again.
    NeedsReauth,
    /// It answered with a limit: requests skip it until `until`.
    CoolingDown { until: UnixMs },
}

/// An account that cannot serve now, and who serves while it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingCaveat {
    pub label: String,
    pub why: Unavailable,
    /// The account the gateway uses instead, by label; `None` when no other can serve.
    pub served_by: Option<String>,
}

impl ServingCaveat {
    /// `Account 2 needs a new sign-in (rota auth login anthropic); until then requests go to
    /// Account 1.`
    #[must_use]
    pub fn text(&self, provider: ProviderId, now: UnixMs) -> String {
        let why = match &self.why {
            Unavailable::NeedsReauth => format!(
                "needs a new sign-in (`rota auth login {}`)",
                provider.as_str()
            ),
            Unavailable::CoolingDown { until } => match remaining_text(*until, now) {
                Some(left) => format!("is cooling down for {left}"),
                None => "is cooling down".to_owned(),
            },
        };
        let then = match &self.served_by {
            Some(other) => format!("until then requests go to {other}"),
            None => "no other account can serve now either".to_owned(),
        };
        format!("{} {why}; {then}.", self.label)
    }
}

impl PoolState {
    /// `Some` when `id` cannot serve a request now; who serves instead follows the gateway's
    /// own choice ([`PoolState::pick_next_candidate`] with `id` tried).
    #[must_use]
    pub fn serving_caveat(
        &self,
        provider: ProviderId,
        ns: &str,
        id: Ulid,
        now: UnixMs,
    ) -> Option<ServingCaveat> {
        let record = self.record(provider, id)?;
        let why = if record.health.needs_reauth {
            Unavailable::NeedsReauth
        } else if record.is_cooling(now) {
            Unavailable::CoolingDown {
                until: record.health.cooldown_until.unwrap_or(now),
            }
        } else {
            return None;
        };
        let served_by = self
            .pick_next_candidate(provider, ns, &[id], now)
            .ok()
            .and_then(|other| self.record(provider, other))
            .filter(|other| other.is_usable(now))
            .map(|other| other.label.clone());
        Some(ServingCaveat {
            label: record.label.clone(),
            why,
            served_by,
        })
    }
}
