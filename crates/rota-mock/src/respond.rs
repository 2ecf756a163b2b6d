//! Building responses: JSON, SSE bodies with pacing, stalls and cuts.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::watch;

use crate::model::Behavior;

/// Tags a response with the account and behaviour, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub account: Option<String>,
    pub behavior: Option<&'static str>,
}

pub(crate) fn tag(
    mut resp: Response,
    account: Option<&str>,
    behavior: Option<&Behavior>,
) -> Response {
    resp.extensions_mut().insert(Tag {
        account: account.map(str::to_owned),
        behavior: behavior.map(Behavior::kind),
    });
    resp
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut resp = (
        status,
        Body::from(serde_json::to_vec(value).unwrap_or_default()),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `302 Found` to `location` (what OAuth servers send; axum's `Redirect::to` is a 303).
pub(crate) fn found(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

pub(crate) fn set_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}

/// How the body of a successful response is delivered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Delivery {
    pub latency: Duration,
    pub chunk_delay: Duration,
    pub stall: Option<(usize, Option<u64>)>,
    pub cut: Option<usize>,
}

impl Delivery {
    pub(crate) fn new(behavior: Option<&Behavior>, default_delay: Duration) -> Self {
        let mut d = Self {
            chunk_delay: default_delay,
            ..Self::default()
        };
        match behavior {
            Some(Behavior::Latency { ms }) => d.latency = Duration::from_millis(*ms),
            Some(Behavior::SlowStream { delay_ms }) => {
                d.chunk_delay = Duration::from_millis(*delay_ms);
            }
            Some(Behavior::Stall {
                after_bytes,
                for_ms,
            }) => d.stall = Some((*after_bytes, *for_ms)),
            Some(Behavior::Cut { after_bytes }) => d.cut = Some(*after_bytes),
            _ => {}
        }
        d
    }

    pub(crate) async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn is_plain(&self) -> bool {
        self.chunk_delay.is_zero() && self.stall.is_none() && self.cut.is_none()
    }
}

struct Feed {
    chunks: std::vec::IntoIter<Bytes>,
    sent: usize,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
    first: bool,
    done: bool,
}

/// A body made of `chunks`, delivered as `delivery` says. Plain deliveries of one chunk are a
/// plain full body (with `Content-Length`).
pub(crate) fn body(
    chunks: Vec<Bytes>,
    delivery: Delivery,
    shutdown: watch::Receiver<bool>,
) -> Body {
    if delivery.is_plain() {
        if chunks.len() == 1 {
            return Body::from(chunks.into_iter().next().unwrap_or_default());
        }
        let total: Vec<u8> = chunks.concat();
        return Body::from(total);
    }
    let feed = Feed {
        chunks: chunks.into_iter(),
        sent: 0,
        delivery,
        shutdown,
        first: true,
        done: false,
    };
    Body::from_stream(futures_util::stream::unfold(feed, next_chunk))
}

async fn next_chunk(mut f: Feed) -> Option<(Result<Bytes, std::io::Error>, Feed)> {
    if f.done {
        return None;
    }
    if !f.first && !f.delivery.chunk_delay.is_zero() {
        tokio::time::sleep(f.delivery.chunk_delay).await;
    }
    f.first = false;
    let limit = f.delivery.stall.map(|(n, _)| n).or(f.delivery.cut);
    if let Some(limit) = limit
        && f.sent >= limit
    {
        // Limit reached: stall (optionally then cut) or cut now.
        f.done = true;
        if let Some((_, for_ms)) = f.delivery.stall {
            let mut rx = f.shutdown.clone();
            let stop = async move {
                // Ends when the server shuts down (sender flips or is dropped).
                let _ = rx.wait_for(|v| *v).await;
            };
            match for_ms {
                Some(ms) => {
                    let _ = tokio::time::timeout(Duration::from_millis(ms), stop).await;
                }
                None => stop.await,
            }
        } else {
            // Let hyper flush the bytes already produced (it writes when the body is pending),
            // so the client receives exactly `after_bytes` before the connection drops.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        return Some((Err(std::io::Error::other("rota-mock: stream cut")), f));
    }
    let chunk = f.chunks.next()?;
    let chunk = match limit {
        Some(limit) if f.sent + chunk.len() > limit => chunk.slice(..limit - f.sent),
        _ => chunk,
    };
    f.sent += chunk.len();
    Some((Ok(chunk), f))
}

/// Split text into word-sized deltas (keeping the spaces).
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if c == ' ' {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One SSE event with a name.
pub(crate) fn sse_event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// One SSE `data:` line without a name.
pub(crate) fn sse_data(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

pub(crate) fn sse_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}
