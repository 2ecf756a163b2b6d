//! Tokens as a type that cannot leak by accident.

use std::fmt;

use rota_types::UnixMs;

/// A token or other credential. `Debug` and `Display` print `<redacted>`, and there is no
/// `Serialize`: writing one anywhere takes an explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send or store it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An account's credentials as the vault keeps them (keyed by record id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access: Secret,
    /// Absent for providers without rotating refresh (GitHub's long-lived token).
    pub refresh: Option<Secret>,
    /// When the access token expires; `None` when the provider did not say.
    pub expires_at: Option<UnixMs>,
}

impl Credentials {
    /// Whether to refresh before use: the token expires within `skew_ms` (docs/rules.md §3.1:
    /// never refresh far from expiry, single-use refresh tokens make every refresh a risk).
    #[must_use]
    pub fn needs_refresh(&self, now: UnixMs, skew_ms: i64) -> bool {
        self.refresh.is_some()
            && self
                .expires_at
                .is_some_and(|exp| exp.saturating_sub(now) < skew_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_token() {
        let token = "sk-ant-oat01-CANARY-abcdef";
        let s = Secret::new(token);
        for shown in [format!("{s:?}"), format!("{s}"), format!("{s:#?}")] {
            assert!(!shown.contains("CANARY"), "leaked: {shown}");
        }
        let c = Credentials {
            access: s.clone(),
            refresh: Some(Secret::new("sk-ant-ort01-CANARY-refresh")),
            expires_at: Some(5),
        };
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("CANARY"), "leaked: {shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(s.expose(), token);
    }

    #[test]
    fn refresh_only_near_expiry() {
        let c = Credentials {
            access: Secret::new("a"),
            refresh: Some(Secret::new("r")),
            expires_at: Some(1_000_000),
        };
        let skew = 300_000;
        assert!(!c.needs_refresh(1_000_000 - skew - 1, skew));
        assert!(c.needs_refresh(1_000_000 - skew + 1, skew));
        assert!(c.needs_refresh(2_000_000, skew));
        let no_refresh = Credentials {
            refresh: None,
            ..c.clone()
        };
        assert!(!no_refresh.needs_refresh(2_000_000, skew));
        let no_expiry = Credentials {
            expires_at: None,
            ..c
        };
        assert!(!no_expiry.needs_refresh(2_000_000, skew));
    }
}
