//! Small helpers: the clock, random identifiers, PKCE, JWT-shaped tokens, request parameters.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Wall-clock unix time in milliseconds. The mock is an outer layer: it is the one place that
/// reads the system clock (the server's own offset is added by `Shared::now`).
#[allow(clippy::disallowed_methods)] // the mock server is an outer layer and owns its clock
pub(crate) fn wall_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `n` random base64url characters.
pub(crate) fn random_b64(n: usize) -> String {
    (0..n)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// `n` random lowercase hex digits.
pub(crate) fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

/// A random version-4-shaped UUID.
pub(crate) fn uuid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "a", "b"][fastrand::usize(..4)],
        &h[17..20],
        &h[20..32]
    )
}

/// A user code like `ABCD-1234`.
pub(crate) fn user_code() -> String {
    let letters: String = (0..4)
        .map(|_| char::from(b"BCDFGHJKLMNPQRSTVWXZ"[fastrand::usize(..20)]))
        .collect();
    format!("{letters}-{:04}", fastrand::u32(..10_000))
}

/// PKCE S256: `BASE64URL(SHA256(verifier))`.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RS256-looking JWT whose signature is random bytes (nobody can verify it; clients only
/// decode the payload).
pub(crate) fn fake_jwt(payload: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "RS256", "kid": "rota-mock", "typ": "JWT"});
    let sig: Vec<u8> = (0..64).map(|_| fastrand::u8(..)).collect();
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes()),
        b64url(&sig)
    )
}

/// Unix seconds as ISO-8601 with a `+00:00` offset and microseconds, like Anthropic prints it.
pub(crate) fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(String::new, |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    })
}

/// Minimal HTML escaping for values echoed into pages.
/// The inverse of [`html_escape`].
pub(crate) fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query component.
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Request parameters from a JSON object or a form-encoded body (whichever parses), merged over
/// the query string. Non-string JSON scalars are stringified.
pub(crate) fn params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
        || body.first() == Some(&b'{');
    if is_json {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            for (k, v) in map {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                out.insert(k, s);
            }
        }
    } else if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        out.extend(pairs);
    }
    out
}

/// Whether a redirect URI points at this machine (`localhost`, `127.0.0.1`, `[::1]`).
pub(crate) fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    rest.starts_with("localhost:")
        || rest.starts_with("localhost/")
        || rest.starts_with("127.0.0.1:")
        || rest.starts_with("127.0.0.1/")
        || rest.starts_with("[::1]")
}

/// Appends query pairs to a URL that may already carry a query.
pub(crate) fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", encode_query(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_known_pair() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_redirect("http://localhost:1455/auth/callback"));
        assert!(is_loopback_redirect("http://127.0.0.1:9/cb"));
        assert!(!is_loopback_redirect(
            "https://platform.claude.com/oauth/code/callback"
        ));
        assert!(!is_loopback_redirect("http://localhost.evil.com/x"));
    }

    #[test]
    fn uuid_shape() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
