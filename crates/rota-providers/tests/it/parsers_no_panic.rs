//! docs/rules.md §7: the header and body parsers never panic, whatever arrives.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use rota_providers::{anthropic, copilot, http as phttp, openai, parse_pasted};

const NAMES: &[&str] = &[
    "anthropic-ratelimit-unified-status",
    "anthropic-ratelimit-unified-5h-status",
    "anthropic-ratelimit-unified-5h-utilization",
    "anthropic-ratelimit-unified-5h-reset",
    "anthropic-ratelimit-unified-7d-status",
    "anthropic-ratelimit-unified-7d-utilization",
    "anthropic-ratelimit-unified-7d-reset",
    "anthropic-ratelimit-unified-representative-claim",
    "anthropic-ratelimit-unified-reset",
    "x-codex-primary-used-percent",
    "x-codex-primary-window-minutes",
    "x-codex-primary-reset-at",
    "x-codex-primary-reset-after-seconds",
    "x-codex-secondary-used-percent",
    "x-codex-secondary-window-minutes",
    "x-codex-secondary-reset-at",
    "x-codex-secondary-reset-after-seconds",
    "x-ratelimit-reset",
    "retry-after",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just("-1e400".to_owned()),
        Just("rejected".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        "[ -~]{0,40}",
    ]
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        value().prop_map(String::into_bytes),
        // Opaque, non-UTF-8 header bytes.
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((0..NAMES.len(), value_bytes()), 0..24).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (i, v) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                h.append(HeaderName::from_static(NAMES[i]), v);
            }
        }
        h
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[ -~]{0,100}".prop_map(String::into_bytes),
        Just(br#"{"error":{"type":"usage_limit_reached","resets_in_seconds":1e308}}"#.to_vec()),
        Just(br#"{"error":{"resets_at":-5,"message":"Extra usage is required"}}"#.to_vec()),
        Just(br#"{"error":"x","message":7}"#.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_parsers_never_panic(h in headers(), b in body(), status in 100u16..600, now in any::<i64>()) {
        let _ = anthropic::classify(status, &h, &b, now);
        let _ = anthropic::usage_from_headers(&h, now, None);
        let _ = anthropic::rate_limit_signal(&h, now);
        let _ = openai::classify(status, &h, &b, now);
        let _ = openai::usage_from_headers(&h, now, None);
        let _ = openai::rate_limit_signal(&h, &b, now);
        let _ = copilot::classify(status, &h, &b, now);
        let _ = phttp::retry_after_ms(&h, now);
        let _ = phttp::error_code(&b);
    }

    #[test]
    fn usage_bodies_never_panic(s in "[ -~]{0,200}", now in any::<i64>()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
            let _ = anthropic::parse_usage(&v, now);
            let _ = openai::parse_usage(&v, now);
            let _ = copilot::parse_usage(&v, now);
        }
        let _ = parse_pasted(&s);
        let _ = rota_providers::oauth::jwt_claims(&s);
    }

    #[test]
    fn structured_usage_bodies_never_panic(
        util in prop_oneof![any::<f64>().prop_map(serde_json::Value::from), Just(serde_json::Value::Null), Just(serde_json::json!("12"))],
        reset in prop_oneof![any::<i64>().prop_map(serde_json::Value::from), Just(serde_json::json!("not a date")), Just(serde_json::json!("2025-13-45"))],
        len in any::<i64>(),
        now in any::<i64>(),
    ) {
        let a = serde_json::json!({"five_hour": {"utilization": util, "resets_at": reset}, "limits": [{"kind": "seven_day", "percent": util, "resets_at": reset}]});
        let _ = anthropic::parse_usage(&a, now);
        let o = serde_json::json!({"rate_limit": {"primary_window": {"used_percent": util, "limit_window_seconds": len, "reset_at": reset, "reset_after_seconds": len}}});
        let _ = openai::parse_usage(&o, now);
        let c = serde_json::json!({"quota_reset_date": reset, "quota_snapshots": {"premium_interactions": {"percent_remaining": util, "entitlement": len, "remaining": util}}});
        let _ = copilot::parse_usage(&c, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Shaping never panics, never forwards the client's credential and always keeps the OAuth
    /// beta next to every incoming value.
    #[test]
    fn shaping_never_panics_or_leaks_the_client_credential(
        betas in proptest::collection::vec(value_bytes(), 0..4),
        token in "[ -~]{0,40}",
        path in "[ -~]{0,40}",
    ) {
        let mut inbound = HeaderMap::new();
        inbound.insert("x-api-key", HeaderValue::from_static("client-key"));
        inbound.insert("authorization", HeaderValue::from_static("Bearer client-key"));
        for b in &betas {
            if let Ok(v) = HeaderValue::from_bytes(b) {
                inbound.append("anthropic-beta", v);
            }
        }
        let secret = rota_core::Secret::new(token.clone());
        let config = rota_providers::ProvidersConfig::default();
        for provider in rota_types::ProviderId::ALL {
            let r = rota_providers::shape_request(
                provider,
                &config,
                &inbound,
                &path,
                rota_providers::UpstreamAuth { bearer: &secret, account_id: Some("acct"), api_base: None, copilot_ide: true },
            );
            if let Ok(s) = r {
                prop_assert!(s.headers.get("x-api-key").is_none());
                prop_assert_eq!(s.headers.get_all("authorization").iter().count(), 1);
                let expected = format!("Bearer {token}");
                prop_assert_eq!(s.headers["authorization"].as_bytes(), expected.as_bytes());
                if provider == rota_types::ProviderId::Anthropic {
                    let beta = s.headers["anthropic-beta"].as_bytes().to_vec();
                    let parts: Vec<&[u8]> = beta.split(|c| *c == b',').collect();
                    prop_assert!(parts.contains(&&b"oauth-2025-04-20"[..]));
                    for b in &betas {
                        if HeaderValue::from_bytes(b).is_err() {
                            continue;
                        }
                        for part in b.split(|c| *c == b',').map(<[u8]>::trim_ascii).filter(|p| !p.is_empty()) {
                            prop_assert!(parts.contains(&part), "kept {:?}", part);
                        }
                    }
                }
            }
        }
    }
}
