//! The overloaded row of the outcome table (docs/rules.md §4): a 529/503 (or Anthropic's
//! "temporarily limiting" 429) is the provider's, not the account's, so the request is retried
//! on the same account after a short back-off, a bounded number of times; then the client gets
//! the answer with a `retry-after` that tells it to back off too.

use std::time::Duration;

/// The longest back-off before retrying an overloaded answer on the same account: a longer
/// pause is the client's call, not a request the gateway holds.
pub const MAX_OVERLOAD_WAIT: Duration = Duration::from_secs(2);

/// Retries of an overloaded answer (the gateway's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// Retries on the same account before the client gets the answer; 0 = fail fast.
    pub retries: u32,
    /// The first back-off, doubled per retry.
    pub backoff: Duration,
}

impl Default for OverloadPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(250),
        }
    }
}

impl OverloadPolicy {
    /// How long to wait before retry number `attempt` (from 0), or `None` when the retries are
    /// used up or the provider's `retry-after` asks for longer than [`MAX_OVERLOAD_WAIT`]. A
    /// shorter `retry-after` is honoured when it exceeds our own back-off.
    #[must_use]
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.retries {
            return None;
        }
        let ours = self
            .backoff
            .saturating_mul(1 << attempt.min(8))
            .min(MAX_OVERLOAD_WAIT);
        match retry_after {
            Some(t) if t > MAX_OVERLOAD_WAIT => None,
            Some(t) => Some(ours.max(t)),
            None => Some(ours),
        }
    }

    /// The `retry-after` (whole seconds, 1–60) a client gets with an overloaded answer the
    /// provider sent none with, after `attempts` retries: the back-off the gateway would have
    /// waited next.
    #[must_use]
    pub fn client_retry_after_secs(&self, attempts: u32) -> u64 {
        self.backoff
            .saturating_mul(1_u32.checked_shl(attempts).unwrap_or(u32::MAX))
            .as_secs()
            .clamp(1, 60)
    }
}
