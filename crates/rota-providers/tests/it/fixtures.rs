//! Every real provider body in `tests/fixtures` (published by users of other tools, 2026)
//! parsed through the adapters' public functions, with its values asserted.
#![allow(clippy::float_cmp)] // the values come from exact JSON numbers

use crate::common::fixture;
use rota_providers::{anthropic, copilot, openai};
use rota_types::{LimitStatus, ProviderUsage, Severity, UsageSnapshot, WindowKind};

const NOW: i64 = 1_780_000_000_000;

fn parse(f: fn(&serde_json::Value, i64) -> UsageSnapshot, name: &str) -> UsageSnapshot {
    let v: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    f(&v, NOW)
}

/// (key, label, percent, severity, resets at, model)
type Row = (String, String, f64, Severity, Option<i64>, Option<String>);

fn rows(s: &UsageSnapshot) -> Vec<Row> {
    s.windows
        .iter()
        .map(|w| {
            (
                w.key.clone(),
                w.label.clone(),
                w.utilization,
                w.severity,
                w.resets_at,
                w.model.clone(),
            )
        })
        .collect()
}

fn row(key: &str, label: &str, pct: f64, sev: Severity, at: i64, model: Option<&str>) -> Row {
    (
        key.into(),
        label.into(),
        pct,
        sev,
        Some(at),
        model.map(str::to_owned),
    )
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

use Severity::{Critical, Normal, Warning};

#[test]
fn anthropic_flat_windows_ccometixline() {
    let s = parse(
        anthropic::parse_usage,
        "anthropic_usage_ccometixline_95.json",
    );
    assert_eq!(
        rows(&s),
        [
            row(
                "five_hour",
                "5-Hour",
                37.0,
                Normal,
                ms("2026-03-10T04:59:59Z"),
                None
            ),
            row(
                "seven_day",
                "7-Day (All Models)",
                26.0,
                Normal,
                ms("2026-03-15T14:59:59.771Z"),
                None
            ),
            row(
                "seven_day:sonnet",
                "7-Day (Sonnet)",
                1.0,
                Normal,
                ms("2026-03-16T20:59:59.771Z"),
                Some("Sonnet")
            ),
        ]
    );
    assert_eq!(s.status, Some(LimitStatus::Allowed));
    assert_eq!(
        s.usage,
        ProviderUsage::Anthropic(rota_types::AnthropicExtra {
            extra_usage_enabled: Some(false)
        })
    );
}

#[test]
fn anthropic_flat_windows_with_microsecond_resets() {
    let s = parse(
        anthropic::parse_usage,
        "anthropic_usage_monitor_202_partial.json",
    );
    assert_eq!(
        rows(&s),
        [
            row(
                "five_hour",
                "5-Hour",
                33.0,
                Normal,
                ms("2026-04-11T07:00:00.528Z"),
                None
            ),
            row(
                "seven_day",
                "7-Day (All Models)",
                13.0,
                Normal,
                ms("2026-04-17T00:59:59.951Z"),
                None
            ),
        ]
    );
}

#[test]
fn anthropic_limits_and_flat_fields_in_one_body() {
    let s = parse(
        anthropic::parse_usage,
        "anthropic_usage_live_2026-07-10_limits.json",
    );
    assert_eq!(
        rows(&s),
        [
            row(
                "five_hour",
                "5-Hour",
                25.0,
                Normal,
                ms("2026-07-10T06:19:59Z"),
                None
            ),
            row(
                "seven_day",
                "7-Day (All Models)",
                3.0,
                Normal,
                ms("2026-07-14T02:59:59Z"),
                None
            ),
            row(
                "seven_day:fable",
                "7-Day (Fable)",
                5.0,
                Normal,
                ms("2026-07-14T02:59:59Z"),
                Some("Fable")
            ),
        ]
    );
    assert_eq!(s.windows[2].kind, WindowKind::SevenDay);
    assert!(s.windows[2].applies_to("claude-fable-4-5"));
    assert!(!s.windows[2].applies_to("claude-opus-4-8"));
}

#[test]
fn anthropic_limits_array_only() {
    let s = parse(
        anthropic::parse_usage,
        "anthropic_usage_limits_array_only_2026-07-14.json",
    );
    assert_eq!(
        rows(&s),
        [
            row(
                "five_hour",
                "5-Hour",
                80.0,
                Warning,
                ms("2026-07-14T11:39:59.701Z"),
                None
            ),
            row(
                "seven_day",
                "7-Day (All Models)",
                43.0,
                Normal,
                ms("2026-07-17T14:59:59.701Z"),
                None
            ),
            row(
                "seven_day:fable",
                "7-Day (Fable)",
                64.0,
                Normal,
                ms("2026-07-17T14:59:59.702Z"),
                Some("Fable")
            ),
        ]
    );
    assert_eq!(s.status, Some(LimitStatus::AllowedWarning));
}

#[test]
fn anthropic_usage_429_body_is_a_rate_limit() {
    let body = fixture("anthropic_usage_429_body.json");
    let outcome = anthropic::classify(429, &http::HeaderMap::new(), body.as_bytes(), NOW);
    assert!(
        matches!(outcome, rota_core::Outcome::RateLimited(_)),
        "{outcome:?}"
    );
}

#[test]
fn openai_free_plan_weekly_window_arrives_as_primary() {
    let s = parse(openai::parse_usage, "openai_wham_codex2api_168_free.json");
    assert_eq!(
        rows(&s),
        [row(
            "seven_day",
            "7-Day (All Models)",
            3.0,
            Normal,
            1_780_378_144_000,
            None
        )]
    );
    assert_eq!(s.windows[0].window_minutes, Some(10_080));
    assert_eq!(s.status, Some(LimitStatus::Allowed));
    assert_eq!(
        s.usage,
        ProviderUsage::OpenAi(rota_types::OpenAiUsage {
            plan_type: Some("free".into())
        })
    );
}

#[test]
fn openai_plus_weekly_limit_reached() {
    let s = parse(
        openai::parse_usage,
        "openai_wham_codex2api_168_plus_limit_reached.json",
    );
    assert_eq!(
        rows(&s),
        [
            row("five_hour", "5-Hour", 1.0, Normal, 1_779_791_385_000, None),
            row(
                "seven_day",
                "7-Day (All Models)",
                100.0,
                Critical,
                1_780_208_142_000,
                None
            ),
        ]
    );
    assert_eq!(s.windows[0].window_minutes, Some(300));
    assert_eq!(s.status, Some(LimitStatus::Rejected));
}

#[test]
fn openai_plus_five_hour_and_weekly() {
    let s = parse(openai::parse_usage, "openai_wham_pispark_plus_partial.json");
    assert_eq!(
        rows(&s),
        [
            row("five_hour", "5-Hour", 27.0, Normal, 1_782_770_922_000, None),
            row(
                "seven_day",
                "7-Day (All Models)",
                4.0,
                Normal,
                1_783_357_722_000,
                None
            ),
        ]
    );
    assert_eq!(s.status, Some(LimitStatus::Allowed));
}

#[test]
fn openai_per_model_and_monthly_windows() {
    // The shape of `additional_rate_limits[]` (Codex's backend client) with a Spark window at
    // 100 %, and a ~30-day window.
    let v = serde_json::json!({
        "plan_type": "pro",
        "rate_limit": {
            "primary_window": {"used_percent": 12, "limit_window_seconds": 18000, "reset_at": 1_780_000_100},
            "secondary_window": {"used_percent": 40, "limit_window_seconds": 2_592_000, "reset_at": 1_782_000_000}
        },
        "additional_rate_limits": [{
            "limit_name": "GPT-5.3-Codex-Spark", "metered_feature": "codex_bengalfox",
            "rate_limit": {"primary_window": {"used_percent": 100, "limit_window_seconds": 18000, "reset_at": 1_780_000_050}}
        }]
    });
    let s = openai::parse_usage(&v, NOW);
    assert_eq!(
        rows(&s),
        [
            row("five_hour", "5-Hour", 12.0, Normal, 1_780_000_100_000, None),
            row(
                "thirty_day",
                "30-Day",
                40.0,
                Normal,
                1_782_000_000_000,
                None
            ),
            row(
                "five_hour:gpt-5.3-codex-spark",
                "5-Hour (GPT-5.3-Codex-Spark)",
                100.0,
                Critical,
                1_780_000_050_000,
                Some("GPT-5.3-Codex-Spark")
            ),
        ]
    );
    // The Spark cap blocks Spark only; the account is not rejected.
    assert_eq!(s.status, Some(LimitStatus::Allowed));
    assert!(s.exhausted_scope_for("gpt-5.3-codex-spark").is_some());
    assert!(s.exhausted_scope_for("gpt-5.3-codex").is_none());
}

#[test]
fn copilot_premium_quota() {
    let s = parse(copilot::parse_usage, "copilot_user_chadonsom_api_md.json");
    assert_eq!(s.windows.len(), 1);
    let w = &s.windows[0];
    assert_eq!(
        (w.key.as_str(), w.label.as_str()),
        ("premium", "Premium Requests (monthly)")
    );
    assert_eq!(w.kind, WindowKind::Premium);
    assert!((w.utilization - 29.72).abs() < 1e-9, "{}", w.utilization);
    assert_eq!(w.resets_at, Some(ms("2026-03-01T00:00:00Z")));
    let ProviderUsage::GithubCopilot(c) = &s.usage else {
        panic!("{:?}", s.usage)
    };
    assert_eq!(c.entitlement, Some(1500));
}
