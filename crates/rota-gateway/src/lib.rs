//! # rota-gateway: the local HTTP API and the rotating proxy
//!
//! One axum server on loopback serves two things (docs/interfaces.md §1):
//!
//! - **The API** (`/auth/usage`, `/auth/active`, `/auth/account`, `/auth/snapshot/{providerID}`,
//!   `/auth/log`, `/healthz`): the pool as the CLI and the app see it, through the store ([`api`]).
//! - **The proxy** (`/anthropic/*`, `/openai/*`, `/github-copilot/*`): a tool's request with the
//!   local token is forwarded with the selected account's credential and streamed back; a 429
//!   rotates to the next account and replays the request ([`proxy`]).
//!
//! ## Boundaries
//!
//! Only this crate knows axum. Pool rules (candidates, what a 429 does) are rota-core's, files
//! and locks rota-store's, credential shaping, refresh and response classification
//! rota-providers'. This crate owns sockets, streaming, the security guard and sessions. Sessions
//! live in memory only (bounded), and reach the app through [`Gateway::sessions`],
//! [`Gateway::session_detail`] and [`Gateway::subscribe`].
//!
//! ## Request lifecycle
//!
//! 0. `server`: the accept loop on 127.0.0.1 (and `[::1]` when available): at most
//!    [`GatewayConfig::max_connections`] open connections (one more gets a `503` and is closed),
//!    [`GatewayConfig::header_read_timeout`] for headers and idle keep-alive, `TCP_NODELAY`.
//! 1. [`security::guard`]: Host allow-list → no `Origin` → no `OPTIONS` → local token (constant
//!    time) → JSON content type for `/auth/*` mutations. Refused requests never reach a handler.
//! 2. API: a bounded JSON body (1 MiB) → one store call on a blocking thread → JSON answer.
//! 3. Proxy: the body is buffered (bounded by [`GatewayConfig::max_proxy_body_bytes`]; a longer
//!    body is streamed upstream once, never replayed) so it can be replayed; the session is
//!    found; then per attempt: pick a candidate from the in-memory pool (`view`: no file read
//!    in the common case; the active account first, so a session stays on the active account
//!    and its prompt cache) → credentials (refreshed near expiry under the account lock) →
//!    shape → send. Before the first byte goes to the client the outcome decides: success
//!    streams; 429 cools the account, rotates and replays; 401 refreshes once (Copilot:
//!    exchanges a new Copilot token) and replays once; 529/503 overloaded is retried on the
//!    same account after a short back-off, a bounded number of times, without cooldown or
//!    rotation; other errors go to the client unchanged; a network error before headers
//!    retries the same account once, then rotates. Cooldowns and switches are applied to the
//!    in-memory pool at once and written through the locked store while the replay runs; the
//!    answer waits for that write. Once streaming started nothing is replayed. Rate-limit
//!    headers of every answer update the account's usage snapshot (coalesced writes); counters
//!    go through `BatchedCounters`.
//!
//! Secrets: the local token and upstream credentials are marked sensitive on header maps and
//! never logged; bodies are never logged.
//!
//! ## Modules
//!
//! - `server`: the HTTP/1.1 accept loop. Connections are handed round-robin to one worker thread
//!   per core, each a single-threaded runtime with its own upstream client, so a request and its
//!   upstream connection never wake each other across threads. Proxy paths pass the guard's
//!   checks and skip the router.
//! - `security`: the guard (docs/rules.md §5); the caller (which connection's key) is kept for
//!   the session.
//! - `intake`: after the guard: `/auth/*` bodies read within a deadline, declared lengths over
//!   the limit refused unread, proxy methods and `..` segments refused (docs/reliability.md §5).
//! - `api`: the `/auth/*` handlers; `proxy`: the attempt loop; `sessions`: bounded in-memory
//!   sessions, token usage read from a copy of the stream; `view`: the pool and secrets in
//!   memory for the hot path, reloaded on any process's write.
//! - `upstream`: hyper's pooled client with rustls/ring and the platform verifier; reqwest when
//!   the environment names an HTTP proxy.

pub mod api;
mod auto_redeem;
pub mod error;
mod intake;
pub mod proxy;
pub mod security;
mod server;
pub mod sessions;
mod upstream;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use rota_core::{CooldownPolicy, OverloadPolicy, PoolState, Ulid};
use rota_providers::{Providers, TokenManager};
use rota_store::{BatchedCounters, PoolStore};
use rota_types::{
    DEFAULT_NAMESPACE, ProviderId, SessionDetail, SessionSummary, SwitchLogEntry, UnixMs,
    UsageSnapshot,
};
use tokio::sync::{broadcast, watch};

pub use error::HttpError;

/// The allocator for `rota serve` and the gateway bench (`#[global_allocator]` in their
/// `main.rs`; the desktop app keeps the system allocator, which holds less memory): the proxy
/// makes many small, short-lived allocations per request (header maps, body chunks, futures)
/// and mimalloc's per-thread free lists serve them at a fraction of glibc malloc's cost.
pub use mimalloc::MiMalloc as GlobalAllocator;

/// Body limit of `/auth/*` requests.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// How long [`GatewayHandle::shutdown`] waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Settings of one gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where `api.json` is written (the store's data dir).
    pub data_dir: PathBuf,
    /// The pool namespace requests use.
    pub namespace: String,
    /// Largest proxied request body that is buffered for replay; larger bodies are forwarded
    /// once, without rotation or replay.
    pub max_proxy_body_bytes: usize,
    /// Largest body a proxied request may declare; more is refused `413` before any of it is
    /// read (and without `100 Continue`). Above the providers' own limits (Anthropic's Files
    /// API takes 500 MB).
    pub max_request_body_bytes: u64,
    pub cooldown: CooldownPolicy,
    /// A stream that sends nothing for this long is ended (with an SSE `error` event when it
    /// is one). `[gateway] stream_idle_timeout_secs`, `ROTA_STREAM_IDLE_TIMEOUT_SECS`.
    pub stream_idle_timeout: Duration,
    /// How long an attempt waits for the provider's response headers before the client gets
    /// a `504` (nothing is replayed: the provider may still be working on it).
    /// `[gateway] upstream_header_timeout_secs`, `ROTA_UPSTREAM_HEADER_TIMEOUT_SECS`.
    pub upstream_header_timeout: Duration,
    /// Requests of one client without a session id join its session within this idle window.
    pub session_idle: Duration,
    pub max_sessions: usize,
    pub max_requests_per_session: usize,
    /// Time zone of the "rate-limited until 14:05" message.
    pub utc_offset_minutes: i32,
    /// How often batched counters and coalesced usage snapshots are written.
    pub flush_interval: Duration,
    /// Open client connections served at once; one more is answered `503` and closed.
    pub max_connections: usize,
    /// A client has this long to send a request's headers (also how long an idle keep-alive
    /// connection stays open) and between two chunks of a request body (slowloris).
    pub header_read_timeout: Duration,
    /// Retries of an overloaded (529/503) answer on the same account before the client gets
    /// it; 0 = fail fast.
    pub overload_retries: u32,
    /// First back-off of those retries (doubled per retry; a provider's `retry-after` up to
    /// 2 s is honoured).
    pub overload_backoff: Duration,
    /// Where the automatic reset-credit redeem's setting is read when a pool runs dry (off
    /// unless set; [`GatewayConfig::with_settings`] takes the process's config file and
    /// environment).
    pub auto_redeem: rota_config::AutoRedeemSource,
}

impl GatewayConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            port: 4141,
            data_dir: data_dir.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            max_proxy_body_bytes: 32 * 1024 * 1024,
            max_request_body_bytes: 512 * 1024 * 1024,
            cooldown: CooldownPolicy::default(),
            stream_idle_timeout: Duration::from_mins(5),
            // Anthropic's SDKs give a non-streaming request 10 minutes; a tool waits that long
            // anyway, so the gateway answers by then rather than cutting legitimate long work.
            upstream_header_timeout: Duration::from_mins(10),
            session_idle: Duration::from_mins(30),
            max_sessions: 200,
            max_requests_per_session: 200,
            utc_offset_minutes: 0,
            flush_interval: rota_store::DEFAULT_FLUSH_INTERVAL,
            max_connections: 256,
            header_read_timeout: Duration::from_secs(30),
            overload_retries: OverloadPolicy::default().retries,
            overload_backoff: OverloadPolicy::default().backoff,
            auto_redeem: rota_config::AutoRedeemSource::default(),
        }
    }

    /// The overload retries as rota-core's policy.
    #[must_use]
    pub fn overload(&self) -> OverloadPolicy {
        OverloadPolicy {
            retries: self.overload_retries,
            backoff: self.overload_backoff,
        }
    }

    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// `config.toml`'s gateway and cooldown values over the defaults (the port stays the
    /// caller's: `--port` and the app's own choice come first).
    #[must_use]
    pub fn with_settings(mut self, settings: &rota_config::Config) -> Self {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        if let Some(s) = settings.cooldown.default_secs {
            self.cooldown.default_ms = ms(s);
        }
        if let Some(s) = settings.cooldown.auth_secs {
            self.cooldown.auth_ms = ms(s);
        }
        if let Some(n) = settings.gateway.max_connections.filter(|n| *n > 0) {
            self.max_connections = n;
        }
        if let Some(s) = settings.gateway.header_timeout_secs.filter(|s| *s > 0) {
            self.header_read_timeout = Duration::from_secs(s);
        }
        if let Some(s) = settings
            .gateway
            .upstream_header_timeout_secs
            .filter(|s| *s > 0)
        {
            self.upstream_header_timeout = Duration::from_secs(s);
        }
        if let Some(s) = settings.gateway.stream_idle_timeout_secs.filter(|s| *s > 0) {
            self.stream_idle_timeout = Duration::from_secs(s);
        }
        // The environment was checked when `settings` was loaded.
        self.auto_redeem = rota_config::AutoRedeemSource::process().unwrap_or_default();
        self
    }
}

/// What the app hears about: a session got traffic, or the active account changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    SessionUpdated(rota_types::SessionUpdated),
    Switched(SwitchLogEntry),
}

/// Whether the server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayStatus {
    Running { addr: SocketAddr },
    Failed { reason: String },
    Stopped,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    ApiFile {
        path: PathBuf,
        #[source]
        source: rota_store::StoreError,
    },
    #[error("no OS randomness for the API token")]
    Random,
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(String),
    #[error("cannot read the account pool: {0}")]
    Store(#[from] rota_store::StoreError),
}

/// The local API token: 256 random bits, hex. Never in `Debug`.
pub(crate) struct ApiToken(String);

impl ApiToken {
    fn generate() -> Result<Self, GatewayError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|_| GatewayError::Random)?;
        let mut hex = String::with_capacity(64);
        for b in raw {
            use std::fmt::Write;
            let _ = write!(hex, "{b:02x}");
        }
        Ok(Self(hex))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) token: ApiToken,
    port: AtomicU16,
    pub(crate) store: Arc<PoolStore>,
    /// The pool in memory (see [`view`]); requests read it instead of the files.
    pub(crate) view: Arc<view::PoolView>,
    /// Reloads `view` when another process writes; stopped on drop.
    _watcher: Option<rota_store::Watcher>,
    pub(crate) providers: Arc<Providers>,
    pub(crate) tokens: Arc<TokenManager>,
    pub(crate) upstream: upstream::Upstream,
    pub(crate) counters: BatchedCounters<PoolState>,
    pub(crate) sessions: Mutex<sessions::SessionBook>,
    pub(crate) usage_pending: Mutex<HashMap<(ProviderId, Ulid), UsageSnapshot>>,
    events: broadcast::Sender<GatewayEvent>,
    admitted: AtomicU64,
    /// An automatic reset-credit redeem is running in this process.
    pub(crate) auto_redeeming: std::sync::atomic::AtomicBool,
    /// When this process last fetched never-seen credits for the automatic redeem (unix ms).
    pub(crate) credits_fetched_at: std::sync::atomic::AtomicI64,
    /// When each connection's key was last presented on a proxied request (unix ms); written
    /// to [`CONNECTIONS_SEEN_FILE`] with the batched counters.
    seen: Mutex<(bool, BTreeMap<String, UnixMs>)>,
}

impl Shared {
    pub(crate) fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    pub(crate) fn admitted(&self) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_seen(&self, connection: &str, now: UnixMs) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.0 = true;
        seen.1.insert(connection.to_owned(), now);
    }

    /// Writes [`CONNECTIONS_SEEN_FILE`] when a connection was seen since the last write, merged
    /// with what another gateway wrote (the latest time wins).
    pub(crate) fn flush_seen(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !seen.0 {
            return;
        }
        seen.0 = false;
        let path = self.config.data_dir.join(CONNECTIONS_SEEN_FILE);
        let mut all = read_connections_seen(&self.config.data_dir);
        for (c, at) in &seen.1 {
            let e = all.entry(c.clone()).or_insert(*at);
            *e = (*e).max(*at);
        }
        drop(seen);
        let body = serde_json::to_vec_pretty(&all).unwrap_or_default();
        if let Err(e) = write_private(&self.config.data_dir, CONNECTIONS_SEEN_FILE, &body) {
            tracing::warn!(error = %e, path = %path.display(), "cannot record when connections were seen");
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("port", &self.port())
            .finish_non_exhaustive()
    }
}

/// The gateway's state and handle API, cheap to clone. Build the axum [`Router`] with
/// [`Gateway::router`] (tests drive it without sockets) or serve it with [`Gateway::start`].
#[derive(Clone, Debug)]
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway with a fresh random token; nothing is bound or written yet. The Host check
    /// uses `config.port` until [`Gateway::start`] knows the bound port.
    pub fn new(
        config: GatewayConfig,
        store: Arc<PoolStore>,
        providers: Arc<Providers>,
    ) -> Result<Self, GatewayError> {
        let tokens = Arc::new(TokenManager::new(store.clone(), providers.clone()));
        Self::with_token_manager(config, tokens)
    }

    /// Like [`Gateway::new`] with the process's shared [`TokenManager`] (its single flight
    /// works per instance, so the app passes the one its usage service uses).
    pub fn with_token_manager(
        config: GatewayConfig,
        tokens: Arc<TokenManager>,
    ) -> Result<Self, GatewayError> {
        let store = tokens.store().clone();
        let providers = tokens.providers().clone();
        let upstream = upstream::Upstream::new(&providers.config).map_err(GatewayError::Client)?;
        let counters = BatchedCounters::for_pool(store.clone(), config.flush_interval);
        let (events, _) = broadcast::channel(256);
        let view = Arc::new(view::PoolView::open(store.clone())?);
        let weak = Arc::downgrade(&view);
        let watcher = store
            .watch(view::WATCH_INTERVAL, move |_generation| {
                if let Some(view) = weak.upgrade()
                    && let Err(e) = view.reload()
                {
                    tracing::warn!(error = %e, "cannot re-read the pool after a change");
                }
            })
            .inspect_err(|e| tracing::warn!(error = %e, "no store watcher; changes by other processes are seen per request only"))
            .ok();
        Ok(Self {
            shared: Arc::new(Shared {
                token: ApiToken::generate()?,
                port: AtomicU16::new(config.port),
                sessions: Mutex::new(sessions::SessionBook::new(&config)),
                config,
                store,
                view,
                _watcher: watcher,
                providers,
                tokens,
                upstream,
                counters,
                usage_pending: Mutex::new(HashMap::new()),
                events,
                admitted: AtomicU64::new(0),
                auto_redeeming: std::sync::atomic::AtomicBool::new(false),
                credits_fetched_at: std::sync::atomic::AtomicI64::new(0),
                seen: Mutex::new((false, BTreeMap::new())),
            }),
        })
    }

    /// The local API token (a secret: for `api.json` and the embedding app, never for logs).
    pub fn token(&self) -> &str {
        &self.shared.token.0
    }

    /// The routes behind the security guard.
    pub fn router(&self) -> Router {
        let auth = Router::new()
            .route("/auth/usage", get(api::usage))
            .route("/auth/active", post(api::set_active))
            .route(
                "/auth/account",
                axum::routing::delete(api::remove_account).patch(api::rename_account),
            )
            .route("/auth/snapshot/{provider}", get(api::snapshot))
            .route("/auth/log", get(api::log))
            .route("/auth/recoveries", get(api::recoveries))
            .route("/auth/recoveries/ack", post(api::acknowledge_recoveries))
            .route("/auth/redeem", post(api::redeem))
            .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                intake::api_body,
            ));
        let mut proxy = Router::new();
        for p in ProviderId::ALL {
            proxy = proxy
                .route(&format!("/{}", p.as_str()), any(proxy::forward))
                .route(&format!("/{}/{{*path}}", p.as_str()), any(proxy::forward));
        }
        // The proxy reads its body itself, bounded by `max_proxy_body_bytes`.
        let proxy =
            proxy
                .layer(DefaultBodyLimit::disable())
                .layer(axum::middleware::from_fn_with_state(
                    self.clone(),
                    intake::proxy_checks,
                ));
        Router::new()
            .route("/healthz", get(api::healthz))
            .merge(auth)
            .merge(proxy)
            .fallback(api::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                security::guard,
            ))
            .with_state(self.clone())
    }

    /// Requests that passed the security guard (diagnostics; tests assert refusals ran no
    /// handler).
    pub fn admitted_requests(&self) -> u64 {
        self.shared.admitted.load(Ordering::Relaxed)
    }

    /// Sessions, most recent first.
    pub fn sessions(&self) -> Vec<SessionSummary> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .summaries()
    }

    /// One session with its recent requests.
    pub fn session_detail(&self, id: &str) -> Option<SessionDetail> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .detail(id)
    }

    /// Session-updated and switched events (lagging receivers lose the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.shared.events.subscribe()
    }

    pub(crate) fn emit(&self, event: GatewayEvent) {
        // No receiver is fine: the app may not listen (headless).
        let _ = self.shared.events.send(event);
    }

    /// Writes pending counters and usage snapshots now.
    pub fn flush(&self) {
        if let Err(e) = self.shared.counters.flush() {
            tracing::warn!(error = %e, "counter flush failed");
        }
        proxy::flush_usage(&self.shared);
        self.shared.flush_seen();
    }

    /// Binds 127.0.0.1 (and `[::1]` on the same port when the host has IPv6 loopback), writes
    /// `api.json` (0600) and serves until [`GatewayHandle::shutdown`].
    pub async fn start(
        config: GatewayConfig,
        store: Arc<PoolStore>,
        providers: Arc<Providers>,
    ) -> Result<GatewayHandle, GatewayError> {
        Self::new(config, store, providers)?.serve().await
    }

    /// Serves this gateway (see [`Gateway::start`]).
    pub async fn serve(self) -> Result<GatewayHandle, GatewayError> {
        let port = self.shared.config.port;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| GatewayError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { port, source })?;
        let mut addrs = vec![addr];
        let mut listeners = vec![listener];
        // IPv6 loopback is a convenience (`localhost` may resolve to ::1 first); a host without
        // it, or with the port taken there, still serves on 127.0.0.1.
        match tokio::net::TcpListener::bind(("::1", addr.port())).await {
            Ok(v6) => {
                if let Ok(a) = v6.local_addr() {
                    addrs.push(a);
                }
                listeners.push(v6);
            }
            Err(e) => tracing::info!(error = %e, "not listening on [::1]"),
        }
        self.shared.port.store(addr.port(), Ordering::Relaxed);
        write_api_file(&self.shared.config.data_dir, addr.port(), self.token())?;

        let (status_tx, status_rx) = watch::channel(GatewayStatus::Running { addr });
        let task_status = status_tx.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let app = self.router();
        let gw = self.clone();
        let limits = server::Limits {
            max_connections: self.shared.config.max_connections.max(1),
            header_read_timeout: self.shared.config.header_read_timeout,
        };
        let flusher = {
            let gw = self.clone();
            let every = self.shared.config.flush_interval;
            tokio::spawn(async move {
                // The first write one interval from now, not at once.
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    let g = gw.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        proxy::flush_usage(&g.shared);
                        g.shared.flush_seen();
                    })
                    .await;
                }
            })
        };
        let task = tokio::spawn(async move {
            server::serve(listeners, gw, app, limits, stop_rx).await;
            flusher.abort();
            let _ = task_status.send(GatewayStatus::Stopped);
        });
        tracing::info!(?addrs, "gateway listening");
        Ok(GatewayHandle {
            gateway: self,
            addr,
            addrs,
            status: status_rx,
            status_tx,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct GatewayHandle {
    gateway: Gateway,
    addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    status: watch::Receiver<GatewayStatus>,
    status_tx: watch::Sender<GatewayStatus>,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GatewayHandle {
    /// The 127.0.0.1 address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every address served: 127.0.0.1, then `[::1]` when it could be bound.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn status(&self) -> GatewayStatus {
        self.status.borrow().clone()
    }

    /// Stops accepting, lets in-flight requests finish (streams get [`SHUTDOWN_GRACE`], then
    /// are cut), writes pending counters and usage.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            // A long SSE stream would otherwise hold the shutdown for minutes; aborting the
            // server task drops its connections.
            task.abort();
            let _ = self.status_tx.send(GatewayStatus::Stopped);
        }
        let gw = self.gateway.clone();
        let _ = tokio::task::spawn_blocking(move || gw.flush()).await;
    }
}

/// The file (in the data dir) where gateways note when each connection's key was last used:
/// `{"claude-code": <unix ms>, …}`. Not a secret; read by `rota connect --list` and Settings.
pub const CONNECTIONS_SEEN_FILE: &str = "connections-seen.json";

/// When each connection was last seen by any gateway on this data dir (empty when unknown).
#[must_use]
pub fn read_connections_seen(data_dir: &Path) -> BTreeMap<String, UnixMs> {
    std::fs::read(data_dir.join(CONNECTIONS_SEEN_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// `api.json`: `{port, token}`, mode 0600, written atomically (temp file + rename) so a reader
/// never sees half a token.
fn write_api_file(dir: &Path, port: u16, token: &str) -> Result<(), GatewayError> {
    let body = serde_json::json!({ "port": port, "token": token }).to_string();
    write_private(dir, "api.json", body.as_bytes()).map_err(|source| GatewayError::ApiFile {
        path: dir.join("api.json"),
        source,
    })
}

/// `dir/name` replaced durably, mode 0600 (the store's one durable write).
fn write_private(dir: &Path, name: &str, body: &[u8]) -> Result<(), rota_store::StoreError> {
    rota_store::write_durably(&dir.join(name), body)
}
