//! The proxy's upstream HTTP client: hyper's pooled client used directly (no URL parsing,
//! redirect layer or per-request boxing of a general-purpose client on the hot path), TLS by
//! rustls on the ring provider with the platform's certificate verifier (what reqwest used
//! here before), HTTP/2 when the server offers it over ALPN, `TCP_NODELAY`, keep-alive.
//!
//! When the environment names an HTTP proxy (`HTTPS_PROXY` and friends) the requests go
//! through reqwest instead, which honours those variables, as the gateway always did.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::header::{ACCEPT, HeaderValue};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyDataStream, Either, Full, StreamBody};
use hyper::body::Frame;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body, chunk by chunk.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// The rest of a request body over the replay bound, streamed to the one attempt.
pub(crate) type OnceBody = Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, axum::Error>> + Send>>;
type RequestBody = Either<Full<Bytes>, StreamBody<FrameStream>>;

/// Environment variables reqwest reads for a proxy (without its `system-proxy` feature).
const PROXY_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

type Connector = HttpsConnector<HttpConnector>;

#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    Direct(std::sync::Arc<Direct>),
    Proxied(reqwest::Client),
}

/// hyper's client, and the connector it was built with (TLS config and certificate verifier
/// included) for clients with a pool of their own.
#[derive(Debug)]
pub(crate) struct Direct {
    client: Client<Connector, RequestBody>,
    connector: Connector,
}

impl Direct {
    fn new(connector: Connector) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector.clone());
        Self { client, connector }
    }
}

thread_local! {
    /// A connection worker's own client (see [`crate::server`]): its pooled upstream
    /// connections are driven by that worker's runtime, so a request and its upstream
    /// connection never wake each other across threads.
    static LOCAL: std::cell::RefCell<Option<Upstream>> = const { std::cell::RefCell::new(None) };
}

impl Upstream {
    /// Makes `client` this thread's upstream client (a connection worker, at its start).
    pub(crate) fn set_local(client: Self) {
        LOCAL.with_borrow_mut(|l| *l = Some(client));
    }

    /// A client with a connection pool of its own, sharing this one's settings, TLS
    /// configuration and loaded certificates (a connection worker's, see
    /// [`Upstream::set_local`]). Behind a proxy, reqwest's client as it is.
    pub(crate) fn with_own_pool(&self) -> Self {
        match self {
            Self::Direct(d) => Self::Direct(std::sync::Arc::new(Direct::new(d.connector.clone()))),
            Self::Proxied(c) => Self::Proxied(c.clone()),
        }
    }

    /// This thread's own client when it is a connection worker, else `shared` (a reference
    /// count, per upstream attempt).
    pub(crate) fn current(shared: &Self) -> Self {
        LOCAL
            .with_borrow(Clone::clone)
            .unwrap_or_else(|| shared.clone())
    }

    pub(crate) fn new(config: &rota_providers::ProvidersConfig) -> Result<Self, String> {
        let proxied = PROXY_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if proxied {
            return rota_providers::gateway_client(config)
                .map(Self::Proxied)
                .map_err(|e| e.to_string());
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| format!("no certificate verifier: {e}"))?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(config.connect_timeout_secs)));
        // reqwest's defaults, kept: dead peers are noticed on idle pooled connections.
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        Ok(Self::Direct(std::sync::Arc::new(Direct::new(https))))
    }

    /// Sends one attempt; `Ok` once the response head arrived.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        mut headers: HeaderMap,
        body: Bytes,
        rest: Option<OnceBody>,
    ) -> Result<(http::response::Parts, BodyStream), BoxError> {
        match self {
            Self::Direct(direct) => {
                // reqwest added this when absent; kept so upstreams see what they always saw.
                headers
                    .entry(ACCEPT)
                    .or_insert(HeaderValue::from_static("*/*"));
                let body = match rest {
                    None => Either::Left(Full::new(body)),
                    Some(rest) => {
                        let frames: FrameStream = Box::pin(
                            futures_util::stream::iter([Ok::<Bytes, axum::Error>(body)])
                                .chain(rest)
                                .map_ok(Frame::data),
                        );
                        Either::Right(StreamBody::new(frames))
                    }
                };
                let mut req = Request::new(body);
                *req.method_mut() = method;
                *req.uri_mut() = url.parse()?;
                *req.headers_mut() = headers;
                let (head, body) = direct.client.request(req).await?.into_parts();
                let stream: BodyStream =
                    Box::pin(BodyDataStream::new(body).map_err(BoxError::from));
                Ok((head, stream))
            }
            Self::Proxied(client) => {
                let body = match rest {
                    None => reqwest::Body::from(body),
                    Some(rest) => reqwest::Body::wrap_stream(
                        futures_util::stream::iter([Ok::<Bytes, axum::Error>(body)]).chain(rest),
                    ),
                };
                let answer = client
                    .request(method, url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await?;
                let (head, body) = http::Response::from(answer).into_parts();
                let stream: BodyStream =
                    Box::pin(BodyDataStream::new(body).map_err(BoxError::from));
                Ok((head, stream))
            }
        }
    }
}
