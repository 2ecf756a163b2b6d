//! The HTTP client (reqwest + rustls on the `ring` provider) and small response helpers shared by
//! the adapters: bounded body reads, OAuth error codes, `retry-after`.

use std::time::Duration;

use http::HeaderMap;
use rota_types::{ProviderId, UnixMs};
use serde_json::Value;

use crate::config::ProvidersConfig;
use crate::error::ProviderError;

/// Largest body Rota reads from a token, usage or profile endpoint.
pub const MAX_SMALL_BODY: usize = 256 * 1024;

fn install_ring() {
    // The process-wide rustls provider: ring (aws-lc needs cmake). A provider installed
    // earlier by someone else is fine too.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The client for Rota's own requests (logins, refresh, usage): connect and total timeouts from
/// the config, Rota's User-Agent.
pub fn http_client(config: &ProvidersConfig) -> Result<reqwest::Client, ProviderError> {
    install_ring();
    reqwest::Client::builder()
        .user_agent(config.user_agent.clone())
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .timeout(Duration::from_secs(config.request_timeout_secs))
        .build()
        .map_err(|e| ProviderError::Config {
            url: String::new(),
            problem: format!("cannot build the HTTP client: {e}"),
        })
}

/// A client for the gateway's upstream requests: connect timeout only (streams have no total
/// timeout), no redirects, no User-Agent of its own (the client's is forwarded).
pub fn gateway_client(config: &ProvidersConfig) -> Result<reqwest::Client, ProviderError> {
    install_ring();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::Config {
            url: String::new(),
            problem: format!("cannot build the HTTP client: {e}"),
        })
}

/// Reads at most [`MAX_SMALL_BODY`] bytes of a response body.
pub(crate) async fn read_small(
    provider: ProviderId,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ProviderError::network(provider, &e))?
    {
        let room = MAX_SMALL_BODY.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_SMALL_BODY {
            break;
        }
    }
    Ok(out)
}

/// The OAuth/API error code of an error body, never its text: `{"error": "invalid_grant"}`,
/// `{"error": {"code": "refresh_token_reused"}}`, `{"error": {"type": "not_found_error"}}`.
#[must_use]
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let code = match e {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o
            .get("code")
            .and_then(Value::as_str)
            .or_else(|| o.get("type").and_then(Value::as_str)),
        _ => None,
    }?;
    // Codes are short identifiers (Copilot's carry the plan: `user_global_rate_limited:pro`);
    // anything else is not a code (and might be a secret echo).
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    ok.then(|| code.to_owned())
}

/// The error message of an API error body (`error.message`), capped; used only to classify
/// 429s ("temporarily limiting", "extra usage is required").
#[must_use]
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let m = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)?;
    Some(m.chars().take(500).collect())
}

/// `retry-after` in milliseconds: delay-seconds or an HTTP date (relative to `now`).
#[must_use]
pub fn retry_after_ms(headers: &HeaderMap, now: UnixMs) -> Option<i64> {
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some((secs.min(1e9) * 1000.0) as i64);
        }
        return None;
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(at.timestamp_millis().saturating_sub(now).max(0))
}

/// A header as trimmed text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A finite number header.
pub(crate) fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    header_str(headers, name)?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Unix seconds (or milliseconds when obviously so) → unix ms, bounded.
pub(crate) fn unix_to_ms(v: f64) -> Option<UnixMs> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    let ms = if v > 1e11 { v } else { v * 1000.0 };
    (ms < 1e15).then_some(ms as i64)
}

/// ISO-8601 / RFC 3339 (or a bare date, midnight UTC) → unix ms.
pub(crate) fn iso_to_ms(s: &str) -> Option<UnixMs> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// A JSON time: ISO string or unix seconds/ms number.
pub(crate) fn json_time(v: &Value) -> Option<UnixMs> {
    match v {
        Value::String(s) => iso_to_ms(s).or_else(|| s.parse::<f64>().ok().and_then(unix_to_ms)),
        Value::Number(n) => n.as_f64().and_then(unix_to_ms),
        _ => None,
    }
}

/// A JSON number (or numeric string), finite.
pub(crate) fn json_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_of_the_three_shapes() {
        assert_eq!(
            error_code(br#"{"error":"invalid_grant","error_description":"x"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(
            error_code(br#"{"error":{"code":"refresh_token_reused","message":"m"}}"#).as_deref(),
            Some("refresh_token_reused")
        );
        assert_eq!(
            error_code(br#"{"type":"error","error":{"type":"not_found_error"}}"#).as_deref(),
            Some("not_found_error")
        );
        assert_eq!(error_code(br#"{"error":"sk-ant ort01 secret"}"#), None);
        assert_eq!(error_code(b"<html>"), None);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after_ms(&h, 0), Some(120_000));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_ms(&h, 1_445_412_480_000 - 10_000), Some(10_000));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after_ms(&h, 0), None);
    }

    #[test]
    fn times() {
        assert_eq!(
            iso_to_ms("2026-01-01T00:00:00+00:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(iso_to_ms("2026-01-01"), Some(1_767_225_600_000));
        assert_eq!(unix_to_ms(1_767_225_600.0), Some(1_767_225_600_000));
        assert_eq!(unix_to_ms(f64::NAN), None);
    }
}
