//! The loopback callback server of browser logins: binds `127.0.0.1` only, tries the configured
//! ports in order (a busy port is first asked to free itself with `GET /cancel`, as a previous
//! login of ours would), checks `state`, and answers `GET /cancel` itself so a second instance
//! can take the port.
//!
//! A tiny HTTP/1.1 responder on tokio, not a web framework: it reads one request head per
//! connection and answers with a short page.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{LoginFailure, ProviderError};
use crate::oauth::{Callback, parse_callback_query};

/// A bound callback server, not yet serving.
#[derive(Debug)]
pub struct CallbackServer {
    listener: TcpListener,
    port: u16,
    path: String,
}

impl CallbackServer {
    /// Binds the first free port of `ports` on 127.0.0.1 (`0` = any). A busy port gets a
    /// `GET /cancel` and a short wait before the next one is tried.
    pub async fn bind(ports: &[u16], path: &str) -> Result<Self, ProviderError> {
        let mut last_err = None;
        for &port in ports {
            match try_bind(port).await {
                Ok(listener) => return Self::new(listener, path),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    request_cancel(port).await;
                    for _ in 0..5 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if let Ok(listener) = try_bind(port).await {
                            return Self::new(listener, path);
                        }
                    }
                    last_err = Some(format!("port {port} is in use"));
                }
                Err(e) => last_err = Some(format!("port {port}: {e}")),
            }
        }
        Err(ProviderError::Callback(last_err.unwrap_or_else(|| {
            "no callback port configured".to_owned()
        })))
    }

    fn new(listener: TcpListener, path: &str) -> Result<Self, ProviderError> {
        let port = listener
            .local_addr()
            .map_err(|e| ProviderError::Callback(e.to_string()))?
            .port();
        Ok(Self {
            listener,
            port,
            path: path.to_owned(),
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the callback arrives (checked against `expected_state`), `/cancel` is
    /// requested, or `timeout` passes. The port is released when this returns.
    pub async fn wait(
        self,
        expected_state: &str,
        timeout: Duration,
    ) -> Result<Callback, LoginFailure> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stream = match tokio::time::timeout_at(deadline, self.listener.accept()).await {
                Err(_) => return Err(LoginFailure::TimedOut),
                Ok(Err(_)) => continue,
                Ok(Ok((stream, _))) => stream,
            };
            match self.handle(stream, expected_state).await {
                Handled::Continue => {}
                Handled::Done(r) => return r,
            }
        }
    }

    async fn handle(&self, mut stream: TcpStream, expected_state: &str) -> Handled {
        let Some(target) = read_request_target(&mut stream).await else {
            return Handled::Continue;
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path == "/cancel" {
            respond(&mut stream, 200, "Login cancelled").await;
            return Handled::Done(Err(LoginFailure::Cancelled));
        }
        if path != self.path {
            respond(&mut stream, 404, "Not found").await;
            return Handled::Continue;
        }
        match parse_callback_query(query) {
            Ok(cb) if cb.state.as_deref() == Some(expected_state) => {
                respond(
                    &mut stream,
                    200,
                    "Signed in to Rota. You can close this window.",
                )
                .await;
                Handled::Done(Ok(cb))
            }
            Ok(_) => {
                respond(
                    &mut stream,
                    400,
                    "Login failed: the state does not match this login.",
                )
                .await;
                Handled::Done(Err(LoginFailure::StateMismatch))
            }
            Err(e) => {
                respond(&mut stream, 400, "Login failed.").await;
                Handled::Done(Err(e))
            }
        }
    }
}

enum Handled {
    Continue,
    Done(Result<Callback, LoginFailure>),
}

async fn try_bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Asks whatever holds `port` to cancel its login (ignored when it is not one of ours).
async fn request_cancel(port: u16) {
    let attempt = async {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.ok()?;
        s.write_all(
            format!("GET /cancel HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf).await;
        Some(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), attempt).await;
}

/// The request target of a `GET` request head (at most 16 KiB, 5 s).
async fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 16 * 1024 {
                return Some(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    (method == "GET").then(|| target.to_owned())
}

async fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Rota</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}
