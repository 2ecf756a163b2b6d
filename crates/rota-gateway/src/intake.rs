//! What a request must be before a handler reads it (after the security guard): bounded
//! `/auth/*` bodies, declared lengths over the limit refused before the body is read (so hyper
//! never answers `100 Continue` to them), and on proxy paths only the methods the providers'
//! APIs use and no path segment that could climb out of the upstream's base path.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rota_types::ErrorCode;

use crate::Gateway;
use crate::error::HttpError;

/// Methods forwarded to a provider. `TRACE` would echo the request, token included, and
/// `CONNECT` or extension methods have no place in a provider's REST API.
const PROXY_METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
];

/// The `Content-Length` the client declared, if any (an unparsable one counts as over every
/// limit: hyper refuses those before we see them, so this is belt and braces).
fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH).map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX)
    })
}

fn too_large(limit: u64) -> Response {
    let mut resp = HttpError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InvalidInput,
        format!("request body is over the {limit}-byte limit"),
    )
    .into_response();
    // The body is left unread: the connection cannot be reused.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// `/auth/*`: a declared length over `limit` is refused unread; otherwise the whole body is read
/// here within the client's header timeout (one deadline for all of it, so a token holder
/// sending a length and no body cannot hold a connection slot), then handed on.
pub(crate) async fn api_body(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    let limit = crate::API_BODY_LIMIT;
    if declared_length(&req).is_some_and(|n| n > limit as u64) {
        return too_large(limit as u64);
    }
    let (parts, body) = req.into_parts();
    let deadline = gw.shared.config.header_read_timeout;
    match read_within(body, limit, deadline).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(BodyFault::TooLarge) => too_large(limit as u64),
        Err(BodyFault::Timeout) => {
            let mut resp = HttpError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::InvalidInput,
                format!(
                    "the request body did not arrive within {} s",
                    deadline.as_secs_f32()
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        Err(BodyFault::Read) => HttpError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidInput,
            "the request body could not be read",
        )
        .into_response(),
    }
}

enum BodyFault {
    TooLarge,
    Timeout,
    Read,
}

async fn read_within(body: Body, limit: usize, deadline: Duration) -> Result<Bytes, BodyFault> {
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| BodyFault::Read)?;
            if buf.len() + chunk.len() > limit {
                return Err(BodyFault::TooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| BodyFault::Timeout)?
}

/// Proxy paths: the method, the path and the declared length, checked before anything is read
/// or forwarded. `None` = go on.
pub(crate) fn refuse_proxy(req: &Request, max_body: u64) -> Option<Response> {
    if !PROXY_METHODS.contains(req.method()) {
        let mut resp = HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidInput,
            format!("{} is not forwarded to providers", req.method()),
        )
        .into_response();
        resp.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, HEAD"),
        );
        return Some(resp);
    }
    if climbs(req.uri().path()) {
        return Some(
            HttpError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidInput,
                "the path has a `.` or `..` segment or an encoded slash; send the provider's path as is",
            )
            .into_response(),
        );
    }
    if declared_length(req).is_some_and(|n| n > max_body) {
        return Some(too_large(max_body));
    }
    None
}

/// The same checks as a router layer (the router serves proxy paths in `oneshot` tests and any
/// the server does not send straight to the proxy).
pub(crate) async fn proxy_checks(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    match refuse_proxy(&req, gw.shared.config.max_request_body_bytes) {
        Some(refused) => refused,
        None => next.run(req).await,
    }
}

/// Whether a path could leave the upstream's base path once a server normalises it: a `.` or
/// `..` segment, also percent-encoded (`%2e`), or an encoded `/` or `\` that a server may decode
/// into a separator. Providers' paths have none of these.
fn climbs(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return true;
    }
    lower
        .split('/')
        .map(|seg| seg.replace("%2e", "."))
        .any(|seg| seg == "." || seg == "..")
}

#[cfg(test)]
mod tests {
    use super::climbs;

    #[test]
    fn segments_that_climb() {
        for bad in [
            "/anthropic/../x",
            "/anthropic/v1/..",
            "/anthropic/./v1/messages",
            "/anthropic/%2e%2e/x",
            "/anthropic/%2E./x",
            "/anthropic/.%2e/x",
            "/anthropic/v1%2f..%2fx",
            "/anthropic/v1%5c..",
            "/anthropic/v1\\..\\x",
        ] {
            assert!(climbs(bad), "{bad}");
        }
        for ok in [
            "/anthropic/v1/messages",
            "/anthropic/v1/messages/count_tokens",
            "/openai/responses",
            "/anthropic/v1/files/file_01..abc",
            "/anthropic/v1/models/claude-3.5",
            "/anthropic",
        ] {
            assert!(!climbs(ok), "{ok}");
        }
    }
}
