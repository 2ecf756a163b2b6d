//! Display helpers shared by the CLI and the UI, so both print the same words. Pure: `now` is an
//! argument, times are unix milliseconds.

use crate::UnixMs;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Anthropic's word on Claude Pro/Max sign-in, shown before every Anthropic login
/// (docs/product.md §9); each surface follows it with its own next step.
pub const ANTHROPIC_SIGN_IN_POLICY: &str = "Anthropic states that Claude Pro/Max sign-in is \
meant for its own apps (Claude Code, claude.ai). For Claude Code, Rota recommends hand-off mode:";

/// Integer percent (0–100) of a utilization, rounded; junk (NaN) reads as 0.
#[must_use]
pub fn percent(utilization: f64) -> u8 {
    if utilization.is_nan() {
        return 0;
    }
    utilization.round().clamp(0.0, 100.0) as u8
}

/// Bar colour: green ≤ 50, yellow ≤ 80, red above (on the integer percent shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageColor {
    Green,
    Yellow,
    Red,
}

impl UsageColor {
    #[must_use]
    pub fn for_utilization(utilization: f64) -> Self {
        match percent(utilization) {
            0..=50 => Self::Green,
            51..=80 => Self::Yellow,
            _ => Self::Red,
        }
    }

    /// CSS class / colour name.
    #[must_use]
    pub fn class(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }
}

/// `"42% used"`.
#[must_use]
pub fn used_text(utilization: f64) -> String {
    format!("{}% used", percent(utilization))
}

/// Short usage hint for the tray and the CLI's account picker: the fullest window, `"5h 42%"`.
#[must_use]
pub fn usage_hint(usage: &crate::UsageSnapshot) -> Option<String> {
    let mut best = usage.account_windows().next()?;
    for w in usage.account_windows() {
        if w.utilization > best.utilization {
            best = w;
        }
    }
    let hint = format!("{} {}%", best.kind.short_label(), percent(best.utilization));
    // A model's exhausted cap is worth a word: the account is not free for that model.
    match usage
        .windows
        .iter()
        .find(|w| w.model.is_some() && w.is_exhausted())
    {
        Some(capped) => Some(format!(
            "{hint}, {} {}%",
            capped.model.as_deref().unwrap_or_default(),
            percent(capped.utilization)
        )),
        None => Some(hint),
    }
}

/// Remaining time rounded up to whole minutes: `"3h 12m"`, `"12m"`, `"2d 3h"`; `None` once
/// the time has come.
#[must_use]
pub fn remaining_text(until: UnixMs, now: UnixMs) -> Option<String> {
    let left = until.saturating_sub(now);
    if left <= 0 {
        return None;
    }
    // Round up so a countdown never claims "0m" while there is still time left.
    let minutes = (left + MINUTE - 1) / MINUTE;
    let (d, h, m) = (minutes / (24 * 60), (minutes / 60) % 24, minutes % 60);
    Some(if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    })
}

/// `"Resets in 3h 12m"`, `"Resets in 12m"`, `"Resets now"` (also for a reset in the past).
#[must_use]
pub fn reset_text(resets_at: UnixMs, now: UnixMs) -> String {
    match remaining_text(resets_at, now) {
        Some(left) => format!("Resets in {left}"),
        None => "Resets now".to_owned(),
    }
}

/// `"updated just now"`, `"updated 12 min ago"`, `"updated 3 h ago"`, `"updated 2 d ago"`.
#[must_use]
pub fn age_text(fetched_at: UnixMs, now: UnixMs) -> String {
    let age = now.saturating_sub(fetched_at).max(0);
    if age < MINUTE {
        "updated just now".to_owned()
    } else if age < HOUR {
        format!("updated {} min ago", age / MINUTE)
    } else if age < DAY {
        format!("updated {} h ago", age / HOUR)
    } else {
        format!("updated {} d ago", age / DAY)
    }
}

/// `"just now"`, `"4 min ago"`, `"2 h ago"`, `"3 d ago"`.
#[must_use]
pub fn ago_text(at: UnixMs, now: UnixMs) -> String {
    age_text(at, now).trim_start_matches("updated ").to_owned()
}

/// `45,210`: token counts and other large integers.
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A client's product and version from its User-Agent, by the tool's own name where it is
/// known: `claude-cli/2.1.7 (external, cli)` → `Claude Code 2.1.7`, `codex_exec/0.171.0 …` →
/// `Codex CLI 0.171.0`, `Anthropic/Python 0.40.0` → `Anthropic Python SDK 0.40.0`; others as
/// they name themselves (`curl`).
#[must_use]
pub fn client_name(user_agent: &str) -> String {
    let mut words = user_agent.split_whitespace();
    let Some(first) = words.next() else {
        return "Unknown client".to_owned();
    };
    let (name, version) = match first.split_once('/') {
        Some((name, rest)) if !name.is_empty() => {
            let versioned = rest.starts_with(|c: char| c.is_ascii_digit());
            match words.next() {
                Some(next) if !versioned && next.starts_with(|c: char| c.is_ascii_digit()) => {
                    (format!("{name} {rest}"), next.to_owned())
                }
                _ => (name.to_owned(), rest.to_owned()),
            }
        }
        _ => return first.to_owned(),
    };
    let tool = match name.to_ascii_lowercase().as_str() {
        "claude-cli" | "claude-code" => "Claude Code",
        "codex_exec" | "codex_cli_rs" | "codex-cli" | "codex_vscode" => "Codex CLI",
        "opencode" => "opencode",
        "anthropic python" => "Anthropic Python SDK",
        "anthropic node" | "anthropic typescript" => "Anthropic TypeScript SDK",
        "openai python" => "OpenAI Python SDK",
        "openai node" => "OpenAI TypeScript SDK",
        _ => name.as_str(),
    };
    format!("{tool} {version}")
}

/// A short tag telling apart sessions of one tool (`#3f2a91`), from the session id's last
/// letters and digits.
#[must_use]
pub fn session_tag(session_id: &str) -> String {
    let tail: Vec<char> = session_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let start = tail.len().saturating_sub(6);
    format!(
        "#{}",
        tail[start..]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase()
    )
}

/// Wall-clock `HH:MM` of `at`, shifted by the caller's UTC offset (the caller knows the time
/// zone; this crate has no clock or tz data).
#[must_use]
pub fn clock_time(at: UnixMs, utc_offset_minutes: i32) -> String {
    let local = at + i64::from(utc_offset_minutes) * MINUTE;
    let minute_of_day = local.rem_euclid(DAY) / MINUTE;
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// A plan as people know it, from the raw value a provider reports (`individual_pro`,
/// `claude_max`, `plus`…); an unknown value is tidied (`some_plan` → `Some Plan`), never lost.
#[must_use]
pub fn plan_name(provider: crate::ProviderId, raw: &str) -> String {
    use crate::ProviderId::{Anthropic, GithubCopilot, OpenAi};
    let key = raw.trim().to_ascii_lowercase();
    let known = match (provider, key.as_str()) {
        (Anthropic, "pro" | "claude_pro") => "Claude Pro",
        (Anthropic, "max" | "claude_max") => "Claude Max",
        (Anthropic, "team" | "claude_team") => "Claude Team",
        (Anthropic, "enterprise" | "claude_enterprise") => "Claude Enterprise",
        (OpenAi, "free") => "ChatGPT Free",
        (OpenAi, "plus") => "ChatGPT Plus",
        (OpenAi, "pro") => "ChatGPT Pro",
        (OpenAi, "prolite") => "ChatGPT Pro Lite",
        (OpenAi, "team") => "ChatGPT Team",
        (OpenAi, "business") => "ChatGPT Business",
        (OpenAi, "enterprise") => "ChatGPT Enterprise",
        (OpenAi, "edu") => "ChatGPT Edu",
        (GithubCopilot, "free" | "free_limited_copilot") => "Copilot Free",
        (GithubCopilot, "individual") => "Copilot Pro",
        (GithubCopilot, "individual_pro") => "Copilot Pro+",
        (GithubCopilot, "individual_max" | "max") => "Copilot Max",
        (GithubCopilot, "business") => "Copilot Business",
        (GithubCopilot, "enterprise") => "Copilot Enterprise",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    raw.trim()
        .split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(45_210), "45,210");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn client_names_come_from_the_user_agent() {
        assert_eq!(
            client_name("claude-cli/2.1.7 (external, cli)"),
            "Claude Code 2.1.7"
        );
        assert_eq!(
            client_name("codex_exec/0.171.0 (Debian 12.0.0; x86_64) dumb (codex_exec; 0.171.0)"),
            "Codex CLI 0.171.0"
        );
        assert_eq!(
            client_name("opencode/1.18.33 ai-sdk/provider-utils/3.0.10 runtime/bun/1.3.1"),
            "opencode 1.18.33"
        );
        assert_eq!(
            client_name("Anthropic/Python 0.40.0"),
            "Anthropic Python SDK 0.40.0"
        );
        assert_eq!(client_name("my-tool/3"), "my-tool 3");
        assert_eq!(client_name("curl"), "curl");
        assert_eq!(client_name("   "), "Unknown client");
    }

    #[test]
    fn sessions_of_one_tool_are_told_apart() {
        assert_eq!(
            session_tag("6f1c0a4e-9b7d-4e2a-8c1f-2b9d3f2a9104"),
            "#2a9104"
        );
        assert_ne!(
            session_tag("6f1c0a4e-9b7d-4e2a-8c1f-2b9d3f2a9104"),
            session_tag("0b4e77aa-1c2d-4e2a-8c1f-7a7e11c05de2")
        );
        assert_eq!(session_tag("ses_AB"), "#sesab");
        assert_eq!(session_tag(""), "#");
    }

    #[test]
    fn ago_is_age_without_updated() {
        assert_eq!(ago_text(1000, 1000), "just now");
        assert_eq!(ago_text(0, 4 * MINUTE), "4 min ago");
        assert_eq!(ago_text(0, 2 * HOUR), "2 h ago");
    }

    #[test]
    fn percent_rounds_and_clamps() {
        assert_eq!(percent(42.4), 42);
        assert_eq!(percent(42.5), 43);
        assert_eq!(percent(-3.0), 0);
        assert_eq!(percent(130.0), 100);
        assert_eq!(percent(f64::NAN), 0);
        assert_eq!(used_text(41.6), "42% used");
    }

    #[test]
    fn colour_thresholds() {
        let c = |u| UsageColor::for_utilization(u).class();
        assert_eq!(c(0.0), "green");
        assert_eq!(c(50.0), "green");
        assert_eq!(c(50.4), "green");
        assert_eq!(c(51.0), "yellow");
        assert_eq!(c(80.0), "yellow");
        assert_eq!(c(81.0), "red");
        assert_eq!(c(100.0), "red");
    }

    #[test]
    fn reset_texts() {
        let now = 1_000_000_000;
        assert_eq!(
            reset_text(now + 3 * HOUR + 12 * MINUTE, now),
            "Resets in 3h 12m"
        );
        assert_eq!(reset_text(now + 12 * MINUTE, now), "Resets in 12m");
        assert_eq!(reset_text(now + 11 * MINUTE + 1, now), "Resets in 12m");
        assert_eq!(reset_text(now + 30_000, now), "Resets in 1m");
        assert_eq!(reset_text(now + 3 * HOUR, now), "Resets in 3h 0m");
        assert_eq!(reset_text(now + 2 * DAY + 3 * HOUR, now), "Resets in 2d 3h");
        assert_eq!(reset_text(now, now), "Resets now");
        assert_eq!(reset_text(now - HOUR, now), "Resets now");
    }

    #[test]
    fn age_texts() {
        let now = 1_000_000_000;
        assert_eq!(age_text(now - 20_000, now), "updated just now");
        assert_eq!(
            age_text(now - 12 * MINUTE - 5_000, now),
            "updated 12 min ago"
        );
        assert_eq!(age_text(now - 3 * HOUR, now), "updated 3 h ago");
        assert_eq!(age_text(now - 2 * DAY, now), "updated 2 d ago");
        // A fetch time in the future (clock skew between processes) is "just now", not negative.
        assert_eq!(age_text(now + MINUTE, now), "updated just now");
    }

    #[test]
    fn usage_hints() {
        use crate::{
            AnthropicExtra, CopilotUsage, ProviderUsage, Severity, UsageSnapshot, UsageWindow,
            WindowKind,
        };
        let snap = |windows, usage| UsageSnapshot {
            fetched_at: 0,
            status: None,
            windows,
            usage,
        };
        let anthropic = ProviderUsage::Anthropic(AnthropicExtra::default());
        let a = snap(
            vec![
                UsageWindow::new(WindowKind::FiveHour, 42.4, None),
                UsageWindow::new(WindowKind::SevenDay, 12.0, None),
            ],
            anthropic.clone(),
        );
        assert_eq!(usage_hint(&a).as_deref(), Some("5h 42%"));
        let week = snap(
            vec![
                UsageWindow::new(WindowKind::FiveHour, 10.0, None),
                UsageWindow::new(WindowKind::SevenDay, 77.0, None),
                UsageWindow::scoped(WindowKind::SevenDay, "Fable", 64.0, None),
            ],
            anthropic.clone(),
        );
        assert_eq!(usage_hint(&week).as_deref(), Some("7d 77%"));
        // A model's cap never reads as the account's fullest window, but it is named.
        let capped = snap(
            vec![
                UsageWindow::new(WindowKind::FiveHour, 10.0, None),
                UsageWindow::scoped(WindowKind::SevenDay, "Fable", 100.0, None)
                    .with_severity(Severity::Critical),
            ],
            anthropic,
        );
        assert_eq!(usage_hint(&capped).as_deref(), Some("5h 10%, Fable 100%"));
        let unlimited = snap(
            Vec::new(),
            ProviderUsage::GithubCopilot(CopilotUsage {
                unlimited: true,
                ..CopilotUsage::default()
            }),
        );
        assert_eq!(usage_hint(&unlimited), None);
    }

    #[test]
    fn clock_times() {
        // 2026-11-24T14:05:00Z
        let t = 1_795_529_100_000;
        assert_eq!(clock_time(t, 0), "14:05");
        assert_eq!(clock_time(t, 60), "15:05");
        assert_eq!(clock_time(t, -15 * 60), "23:05");
    }
}
