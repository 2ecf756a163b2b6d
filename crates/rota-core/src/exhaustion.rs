//! The exhaustion estimate: from an account's recent usage points, when the first window will
//! reach 100 % at the current rate (none when no window rises fast enough to run out before it
//! resets).
//!
//! History is bounded ([`USAGE_HISTORY_CAP`] points) and thinned: points closer than
//! [`MIN_POINT_SPACING_MS`] replace the newest one instead of adding a point, so the gateway's
//! per-response usage headers cannot push the older points out within minutes.

use rota_types::{ExhaustionEstimate, UnixMs, UsageSnapshot, WindowKind};
use serde::{Deserialize, Serialize};

/// Usage points kept per account.
pub const USAGE_HISTORY_CAP: usize = 48;
/// Points closer than this to the one before replace it.
pub const MIN_POINT_SPACING_MS: i64 = 5 * 60_000;
/// A rise observed over less than this is noise, not a rate.
const MIN_SPAN_MS: i64 = 60_000;
/// Two reset times this close are the same window instance (providers round differently).
const RESET_SLACK_MS: i64 = 5 * 60_000;

/// One window's value at a point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointWindow {
    pub kind: WindowKind,
    pub utilization: f64,
    #[serde(default)]
    pub resets_at: Option<UnixMs>,
}

/// The windows of one usage snapshot at its fetch time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    pub at: UnixMs,
    pub windows: Vec<PointWindow>,
}

impl UsagePoint {
    #[must_use]
    pub fn of(usage: &UsageSnapshot) -> Self {
        Self {
            at: usage.fetched_at,
            // Account-wide windows only: a model's cap running out leaves the account serving
            // other models, so it is not the account's exhaustion.
            windows: usage
                .account_windows()
                .map(|w| PointWindow {
                    kind: w.kind,
                    utilization: w.utilization,
                    resets_at: w.resets_at,
                })
                .collect(),
        }
    }

    fn window(&self, kind: WindowKind) -> Option<&PointWindow> {
        self.windows.iter().find(|w| w.kind == kind)
    }
}

/// Adds a snapshot to a history (oldest first), thinning and bounding it.
pub fn remember(history: &mut Vec<UsagePoint>, usage: &UsageSnapshot) {
    let point = UsagePoint::of(usage);
    if point.windows.is_empty() {
        return;
    }
    if history.last().is_some_and(|last| point.at < last.at) {
        return; // out of order: the newer point already stands for this time
    }
    // The newest point stands in for its spacing interval until a later one is far enough
    // from the point before it; so every point but the newest is spaced.
    if let [.., before, last] = history.as_slice()
        && last.at - before.at < MIN_POINT_SPACING_MS
    {
        history.pop();
    }
    history.push(point);
    if history.len() > USAGE_HISTORY_CAP {
        let extra = history.len() - USAGE_HISTORY_CAP;
        history.drain(..extra);
    }
}

fn same_instance(a: Option<UnixMs>, b: Option<UnixMs>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() <= RESET_SLACK_MS,
        _ => true,
    }
}

/// The first window projected to reach 100 % before it resets, from the points since that
/// window last reset (a drop in use or a new reset time starts a new run). `None` when nothing
/// rises, the history is too short, or every window resets first.
#[must_use]
pub fn estimate(history: &[UsagePoint]) -> Option<ExhaustionEstimate> {
    let last = history.last()?;
    last.windows
        .iter()
        .filter_map(|w| {
            // Walk back while the window is the same instance and never fell.
            let mut first = (last.at, w.utilization);
            let mut later = w.utilization;
            for p in history.iter().rev().skip(1) {
                let Some(pw) = p.window(w.kind) else { break };
                if pw.utilization > later || !same_instance(pw.resets_at, w.resets_at) {
                    break;
                }
                first = (p.at, pw.utilization);
                later = pw.utilization;
            }
            if w.utilization >= 100.0 {
                return Some((w.kind, last.at));
            }
            let span = last.at - first.0;
            let rise = w.utilization - first.1;
            if span < MIN_SPAN_MS || rise <= 0.0 || rise.is_nan() {
                return None;
            }
            let eta_ms = (100.0 - w.utilization) * span as f64 / rise;
            let at = last
                .at
                .saturating_add(eta_ms.min(i64::MAX as f64 / 2.0) as i64);
            match w.resets_at {
                Some(reset) if at >= reset => None,
                _ => Some((w.kind, at)),
            }
        })
        .min_by_key(|(_, at)| *at)
        .map(|(window, at)| ExhaustionEstimate { window, at })
}

#[cfg(test)]
mod tests {
    use rota_types::{AnthropicExtra, ProviderUsage, UsageWindow};

    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn snap(at: i64, five: f64, five_reset: i64, week: f64) -> UsageSnapshot {
        UsageSnapshot {
            fetched_at: at,
            status: None,
            windows: vec![
                UsageWindow::new(WindowKind::FiveHour, five, Some(five_reset)),
                UsageWindow::new(WindowKind::SevenDay, week, Some(100 * HOUR)),
                // A model's cap climbing fast is not the account running out.
                UsageWindow::scoped(WindowKind::SevenDay, "Fable", (at / MIN) as f64, None),
            ],
            usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
        }
    }

    /// (at, 5h %, 5h reset, 7d %)
    type Point = (i64, f64, i64, f64);
    /// (name, points, expected (window, at))
    type Case = (&'static str, Vec<Point>, Option<(WindowKind, i64)>);

    fn history(points: &[Point]) -> Vec<UsagePoint> {
        let mut h = Vec::new();
        for &(at, five, reset, week) in points {
            remember(&mut h, &snap(at, five, reset, week));
        }
        h
    }

    #[test]
    fn table() {
        // (name, points (at, 5h %, 5h reset, 7d %), expected (window, at))
        let reset = 5 * HOUR;
        let cases: Vec<Case> = vec![
            ("empty", vec![], None),
            ("one point", vec![(0, 50.0, reset, 10.0)], None),
            (
                "10 points per hour: 50 % left = 5 h, but the window resets first",
                vec![(0, 40.0, reset, 10.0), (HOUR, 50.0, reset, 10.0)],
                None,
            ),
            (
                "20 points per hour from 60 %: 2 h to go, before the reset",
                vec![(0, 40.0, reset, 10.0), (HOUR, 60.0, reset, 10.0)],
                Some((WindowKind::FiveHour, 3 * HOUR)),
            ),
            (
                "flat use: no estimate",
                vec![(0, 60.0, reset, 10.0), (HOUR, 60.0, reset, 10.0)],
                None,
            ),
            (
                "a drop is a reset: only the run after it counts",
                vec![
                    (0, 90.0, HOUR / 2, 10.0),
                    (HOUR, 0.0, reset, 10.0),
                    (2 * HOUR, 30.0, reset, 10.0),
                ],
                Some((WindowKind::FiveHour, 2 * HOUR + 7 * HOUR / 3)),
            ),
            (
                "already exhausted: now",
                vec![(0, 90.0, reset, 10.0), (HOUR, 100.0, reset, 10.0)],
                Some((WindowKind::FiveHour, HOUR)),
            ),
            (
                "the weekly window runs out first",
                vec![(0, 10.0, reset, 80.0), (HOUR, 11.0, reset, 90.0)],
                Some((WindowKind::SevenDay, 2 * HOUR)),
            ),
            (
                "a rise within seconds is noise",
                vec![(0, 10.0, reset, 10.0), (10_000, 20.0, reset, 10.0)],
                None,
            ),
        ];
        for (name, points, expected) in cases {
            let got = estimate(&history(&points)).map(|e| (e.window, e.at));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn history_is_thinned_and_bounded() {
        let mut h = Vec::new();
        // Every minute for a day: spaced points only, at most the cap.
        for i in 0..(24 * 60) {
            remember(&mut h, &snap(i * MIN, 10.0, 5 * HOUR, 10.0));
        }
        assert!(h.len() <= USAGE_HISTORY_CAP, "{}", h.len());
        for pair in h.windows(3) {
            assert!(pair[1].at - pair[0].at >= MIN_POINT_SPACING_MS);
        }
        // The newest point is always the latest snapshot.
        assert_eq!(h.last().unwrap().at, (24 * 60 - 1) * MIN);
        // Older than the newest: ignored.
        let before = h.clone();
        remember(&mut h, &snap(0, 99.0, 5 * HOUR, 10.0));
        assert_eq!(h, before);
    }
}
