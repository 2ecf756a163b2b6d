//! The accept loop (instead of `axum::serve`, which has no connection cap and no header
//! timeout): one or two loopback listeners, a cap on open connections, hyper's header read
//! timeout, `TCP_NODELAY`, and graceful shutdown.
//!
//! Proxy requests skip the axum router: they pass the same guard checks
//! ([`crate::security::admit`]) and go straight to the proxy handler, which spares the
//! router's per-request matching, boxing and middleware plumbing on the hot path. Everything
//! else (and any path the router would not send to the proxy) goes through the router.
//!
//! Over the cap a connection is not left waiting in the kernel's backlog (to a client that
//! looks like a hang): it gets one `503` with a readable reason and `retry-after`, then is
//! closed; SDKs retry a 503 by themselves. A loopback gateway serves a handful of tools, so
//! reaching the cap means a runaway client, and answering at once keeps the gateway responsive
//! for the others. Those refusals are capped too; beyond them a connection is just closed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

use crate::Gateway;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Connections being refused with a 503 at once, at most.
const MAX_REFUSING: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
}

/// HTTP/1.1 only: local tools speak it to a plain-http base URL (HTTP/2 without TLS needs
/// prior knowledge no SDK uses), and hyper's header timer then runs from the first moment of
/// a connection, so a connection that never sends a byte is closed too.
fn builder(limits: Limits, keep_alive: bool) -> Builder {
    let mut b = Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(keep_alive);
    b
}

fn busy(limit: usize) -> Response<Body> {
    let body = serde_json::json!({
        "type": "error",
        "error": {
            "type": "overloaded_error",
            "code": "busy",
            "message": format!("the Rota gateway has too many open connections (limit {limit}); retry shortly"),
        },
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    h.insert("x-should-retry", HeaderValue::from_static("true"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// What each connection runs: the proxy directly, everything else through the router.
#[derive(Clone)]
struct Service {
    gw: Gateway,
    app: Router,
}

/// Whether the router would send `path` to the proxy handler: `/{provider}` or
/// `/{provider}/{*path}` with a non-empty rest.
fn proxy_path(path: &str) -> bool {
    crate::security::proxy_route(path).is_some_and(|(_, rest)| rest.is_empty() || rest.len() > 1)
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(Body::new);
        if proxy_path(req.uri().path()) {
            let gw = self.gw.clone();
            Box::pin(async move {
                Ok(match crate::security::admit(&gw, &mut req) {
                    Some(answer) => answer,
                    None => crate::proxy::forward(State(gw), req).await,
                })
            })
        } else {
            let app = self.app.clone();
            Box::pin(async move { app.oneshot(req).await })
        }
    }
}

/// One listener's next connection; never, without a listener.
async fn accept(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves `app` on `listeners` until `stop` turns true, then lets open connections finish
/// (the caller bounds that wait; dropping this future aborts them).
pub(crate) async fn serve(
    listeners: Vec<TcpListener>,
    gw: Gateway,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    // Connections watch this to start their graceful shutdown.
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut conns: JoinSet<()> = JoinSet::new();
    let (first, second) = {
        let mut it = listeners.into_iter();
        (it.next(), it.next())
    };
    loop {
        let accepted = tokio::select! {
            r = accept(first.as_ref()) => r,
            r = accept(second.as_ref()) => r,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small SSE chunks must leave at once, not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            let app = Service {
                gw: gw.clone(),
                app: app.clone(),
            };
            let closing = closing_rx.clone();
            conns.spawn(async move {
                serve_connection(stream, app, limits, closing).await;
                drop(permit);
            });
        } else if let Ok(permit) = refusing.clone().try_acquire_owned() {
            tracing::warn!(
                limit = limits.max_connections,
                "connection limit reached; answering 503"
            );
            conns.spawn(async move {
                refuse(stream, limits).await;
                drop(permit);
            });
        } else {
            drop(stream);
        }
    }
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: TcpStream,
    app: Service,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let b = builder(limits, true);
    let conn = b.serve_connection(TokioIo::new(stream), app);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = closing.wait_for(|c| *c) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

async fn refuse(stream: TcpStream, limits: Limits) {
    let b = builder(limits, false);
    let limit = limits.max_connections;
    let svc =
        hyper::service::service_fn(move |_req| async move { Ok::<_, Infallible>(busy(limit)) });
    let _ = b.serve_connection(TokioIo::new(stream), svc).await;
}
