//! The accept loop (instead of `axum::serve`, which has no connection cap and no header
//! timeout): one or two loopback listeners, a cap on open connections, hyper's header read
//! timeout, `TCP_NODELAY`, and graceful shutdown.
//!
//! Proxy requests skip the axum router: they pass the same guard checks
//! ([`crate::security::admit`]) and go straight to the proxy handler, which spares the
//! router's per-request matching, boxing and middleware plumbing on the hot path. Everything
//! else (and any path the router would not send to the proxy) goes through the router.
//!
//! Connections are served by a few worker threads, each a single-threaded runtime with its own
//! upstream client, handed out round-robin by the accept loop. A request, its upstream
//! connection and their wake-ups then stay on one thread: on a work-stealing runtime every
//! proxied request crossed threads about twice (connection task ↔ upstream connection task),
//! which cost ~15 % of the proxy's CPU per request. Without worker threads (none could be
//! started) connections run on the caller's runtime as before.
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
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

use crate::Gateway;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// Connections being refused with a 503 at once, at most.
const MAX_REFUSING: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
}

/// Connection worker threads: one per core, at most 4 (a loopback gateway serves a few local
/// tools; more threads would only add idle stacks to the app).
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// An accepted connection on its way to a worker, with its connection-cap slot.
type Job = (std::net::TcpStream, OwnedSemaphorePermit);

/// A running connection worker.
struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    /// Resolves (with an error: the sender is dropped) when the thread is done.
    done: oneshot::Receiver<()>,
}

/// Starts up to [`worker_count`] workers; fewer (or none) when threads cannot be started.
fn start_workers(svc: &Service, limits: Limits, closing: &watch::Receiver<bool>) -> Vec<Worker> {
    let mut workers = Vec::new();
    for i in 0..worker_count() {
        let (jobs, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = oneshot::channel::<()>();
        let svc = svc.clone();
        let closing = closing.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rota-gateway-{i}"))
            .spawn(move || {
                run_worker(&svc, limits, rx, closing);
                drop(done_tx);
            });
        match spawned {
            Ok(_) => workers.push(Worker { jobs, done }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a gateway worker thread");
                break;
            }
        }
    }
    workers
}

/// One worker: serves the connections it is handed until the accept loop ends. Then, after a
/// graceful stop (`closing` turned true), lets its connections finish; after an abort (the
/// accept loop was dropped without a stop) drops them at once.
fn run_worker(
    svc: &Service,
    limits: Limits,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    closing: watch::Receiver<bool>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "gateway worker has no runtime; its connections are closed");
            return;
        }
    };
    crate::upstream::Upstream::set_local(svc.gw.shared.upstream.with_own_pool());
    rt.block_on(async move {
        let mut conns: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                job = jobs.recv() => {
                    let Some((stream, permit)) = job else { break };
                    match TcpStream::from_std(stream) {
                        Ok(stream) => {
                            let (svc, closing) = (svc.clone(), closing.clone());
                            conns.spawn(async move {
                                serve_connection(stream, svc, limits, closing).await;
                                drop(permit);
                            });
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot serve an accepted connection"),
                    }
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        if *closing.borrow() {
            while conns.join_next().await.is_some() {}
        } else {
            conns.shutdown().await;
        }
    });
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
    let mut resp = crate::proxy::ProxyError::Busy { limit }.into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
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
                let max_body = gw.shared.config.max_request_body_bytes;
                Ok(match crate::security::admit(&gw, &mut req) {
                    Some(answer) => answer,
                    None => match crate::intake::refuse_proxy(&req, max_body) {
                        Some(refused) => refused,
                        None => crate::proxy::forward(State(gw), req).await,
                    },
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
    let svc = Service { gw, app };
    let workers = start_workers(&svc, limits, &closing_rx);
    let mut next = 0usize;
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
            let Some((stream, permit)) = hand_off(&workers, &mut next, stream, permit) else {
                continue;
            };
            // No worker (or it is gone): served here.
            let app = svc.clone();
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
    // Dropping each job sender ends that worker's intake; then wait for all of them.
    let done: Vec<_> = workers.into_iter().map(|w| w.done).collect();
    for d in done {
        let _ = d.await;
    }
    while conns.join_next().await.is_some() {}
}

/// Hands a connection to the next worker, round-robin. Gives it back to be served on this
/// runtime when there is no worker or the worker is gone; `None` when it was handed off (or
/// could not be moved, and is closed).
fn hand_off(
    workers: &[Worker],
    next: &mut usize,
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    if workers.is_empty() {
        return Some((stream, permit));
    }
    *next = (*next + 1) % workers.len();
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot move an accepted connection to a worker");
            return None;
        }
    };
    let (stream, permit) = workers[*next].jobs.send((stream, permit)).err()?.0;
    TcpStream::from_std(stream).ok().map(|s| (s, permit))
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
