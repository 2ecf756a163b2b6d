//! The bodies on both sides of the proxy: the client's request body buffered for replay, an
//! error answer's prefix read for classification, and the chosen answer streamed back
//! unbuffered ([`respond`]), its usage recorded when it ends.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use hyper::body::Frame;
use rota_types::SessionUpdated;

use crate::sessions::{RequestRef, UsageTap};
use crate::upstream::{BodyStream, OnceBody};
use crate::{Gateway, GatewayEvent};

/// Response headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Reads up to `max` bytes of the body (for classification); the rest stays in the stream.
pub(super) async fn read_prefix(mut stream: BodyStream, max: usize) -> (Bytes, BodyStream) {
    let mut prefix = Vec::new();
    while prefix.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(_)) | None => {
                return (Bytes::from(prefix), Box::pin(futures_util::stream::empty()));
            }
        }
    }
    (Bytes::from(prefix), stream)
}

/// Why a request body could not be read.
pub(super) enum BodyError {
    Read,
    /// Nothing arrived for the idle timeout (a slow-body client holding a connection).
    Idle,
}

/// Buffers the request body up to `limit` bytes (replayable). A longer body comes back as the
/// buffered part plus the unread rest, to be forwarded once without rotation (docs/rules.md
/// §4).
pub(super) async fn buffer_body(
    body: Body,
    limit: usize,
    idle: Duration,
) -> Result<(Bytes, Option<OnceBody>), BodyError> {
    let mut stream = body.into_data_stream();
    // A small body arrives as one chunk: it is kept as is, copied only when a second follows.
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(BodyError::Idle),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|_| BodyError::Read)?,
        };
        if first.is_none() && buf.is_empty() {
            if chunk.len() > limit {
                return Ok((chunk, Some(Box::pin(stream))));
            }
            first = Some(chunk);
            continue;
        }
        if let Some(f) = first.take() {
            buf.extend_from_slice(&f);
        }
        buf.extend_from_slice(&chunk);
        if buf.len() > limit {
            return Ok((buf.freeze(), Some(Box::pin(stream))));
        }
    }
    Ok((first.unwrap_or_else(|| buf.freeze()), None))
}

/// What happens when the streamed body ends.
pub(super) struct StreamEnd {
    gw: Gateway,
    rref: RequestRef,
    tap: UsageTap,
    /// The response is an SSE stream (a mid-stream failure becomes an `event: error`).
    sse: bool,
}

/// The last chunk after a mid-stream failure: on SSE an `error` event (the blank lines end a
/// half-sent event first) so SDKs raise a clear error; otherwise an aborted body.
fn sse_error_or_abort(sse: bool, message: &str) -> Result<Bytes, std::io::Error> {
    if !sse {
        return Err(std::io::Error::other(message.to_owned()));
    }
    let data = serde_json::json!({
        "type": "error",
        "error": { "type": "api_error", "message": message },
    });
    Ok(Bytes::from(format!("\n\nevent: error\ndata: {data}\n\n")))
}

impl StreamEnd {
    /// Taps the usage of the answer whose headers are `headers`.
    pub(super) fn new(gw: &Gateway, rref: &RequestRef, headers: &HeaderMap) -> Self {
        Self {
            gw: gw.clone(),
            rref: rref.clone(),
            tap: UsageTap::new(headers),
            sse: headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream")),
        }
    }

    fn finish(mut self) {
        self.record();
    }

    /// Records the usage read so far (once). Also runs on drop: with a `content-length` the
    /// server stops polling the body after its last byte, so the end-of-stream branch may never
    /// run; a client that aborts drops it too (tokens already spent still count).
    fn record(&mut self) {
        let tap = std::mem::replace(&mut self.tap, UsageTap::off());
        if let Some(usage) = tap.finish() {
            self.gw
                .shared
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add_usage(&self.rref, &usage);
            self.gw.emit(GatewayEvent::SessionUpdated(SessionUpdated {
                session_id: self.rref.session_id.clone(),
            }));
        }
    }
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        self.record();
    }
}

/// The client's response: upstream status and headers (minus hop-by-hop), the prefix already
/// read, then the rest of the upstream body chunk by chunk as it arrives.
pub(super) fn respond(
    status: u16,
    mut upstream_headers: HeaderMap,
    prefix: Bytes,
    remaining: BodyStream,
    idle: Duration,
    mut end: StreamEnd,
) -> Response {
    if !prefix.is_empty() {
        end.tap.feed(&prefix);
    }
    let body = Body::new(Forwarded {
        prefix: (!prefix.is_empty()).then_some(prefix),
        upstream: Some(remaining),
        end: Some(end),
        idle,
        idle_timer: None,
    });
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for name in HOP_BY_HOP {
        upstream_headers.remove(*name);
    }
    *resp.headers_mut() = upstream_headers;
    resp
}

/// The body forwarded to the client: the prefix, then each upstream chunk as it arrives, each
/// wait bounded by the idle timeout. A plain state machine rather than stream combinators: it
/// is polled for every response, and arms a timer only while the upstream is actually silent.
struct Forwarded {
    prefix: Option<Bytes>,
    /// `None` once the upstream ended, failed or went idle.
    upstream: Option<BodyStream>,
    end: Option<StreamEnd>,
    idle: Duration,
    idle_timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Forwarded {
    /// The upstream is done with: usage is recorded, and a failure becomes the last chunk.
    fn stop(&mut self, failure: Option<&str>) -> Option<Result<Frame<Bytes>, std::io::Error>> {
        self.upstream = None;
        self.idle_timer = None;
        let sse = self.end.as_ref().is_some_and(|e| e.sse);
        if let Some(end) = self.end.take() {
            end.finish();
        }
        failure.map(|message| sse_error_or_abort(sse, message).map(Frame::data))
    }
}

impl hyper::body::Body for Forwarded {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        match upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.idle_timer = None;
                if let Some(end) = this.end.as_mut() {
                    end.tap.feed(&chunk);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(this.stop(None)),
            Poll::Ready(Some(Err(e))) => {
                // Committed: the stream ends, nothing is replayed.
                tracing::warn!(error = %e, "upstream stream failed after the first byte");
                Poll::Ready(this.stop(Some("the upstream connection failed mid-stream")))
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .idle_timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                tracing::warn!("upstream stream idle for too long; ending it");
                let message = format!(
                    "the upstream stream went idle (nothing for {} s) and was ended (gateway.stream_idle_timeout_secs in config.toml)",
                    idle.as_secs()
                );
                Poll::Ready(this.stop(Some(&message)))
            }
        }
    }
}
