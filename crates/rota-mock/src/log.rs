//! The request log: a middleware over the provider routes (not `/_mock`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rota_types::ProviderId;

use crate::model::{Credential, LoggedRequest};
use crate::respond::Tag;
use crate::state::Shared;

/// Bodies above this are refused (413).
const MAX_BODY: usize = 64 << 20;
/// Bodies up to this size are kept in the log (when `log_bodies` is on).
const MAX_LOGGED_BODY: usize = 64 << 10;

pub(crate) fn credential(headers: &HeaderMap) -> Option<Credential> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, value) = v.split_once(' ').unwrap_or(("", v));
        return Some(Credential {
            scheme: scheme.to_ascii_lowercase(),
            value: value.trim().to_owned(),
        });
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| Credential {
            scheme: "x-api-key".into(),
            value: v.to_owned(),
        })
}

fn provider_of(path: &str) -> Option<ProviderId> {
    let first = path.trim_start_matches('/').split('/').next()?;
    match first {
        "anthropic" => Some(ProviderId::Anthropic),
        "openai" => Some(ProviderId::OpenAi),
        "github" => Some(ProviderId::GithubCopilot),
        _ => None,
    }
}

pub(crate) async fn record(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let mut entry = LoggedRequest {
        seq: s.next_seq(),
        time_ms: 0,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        provider: provider_of(parts.uri.path()),
        credential: credential(&parts.headers),
        headers,
        account: None,
        body_len: bytes.len(),
        body: (s.config.log_bodies && bytes.len() <= MAX_LOGGED_BODY)
            .then(|| std::str::from_utf8(&bytes).ok().map(str::to_owned))
            .flatten(),
        status: 0,
        behavior: None,
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(tag) = resp.extensions().get::<Tag>() {
        entry.account.clone_from(&tag.account);
        entry.behavior = tag.behavior.map(str::to_owned);
    }
    entry.status = resp.status().as_u16();
    entry.time_ms = s.now_ms();
    s.push_log(entry);
    resp
}
