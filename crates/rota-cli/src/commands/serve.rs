//! `rota serve [--port N]`: the gateway and the local HTTP API (interfaces.md §1) headless until
//! Ctrl-C or SIGTERM.
//!
//! Port: `--port`, else `ROTA_GATEWAY_PORT`, else `[gateway] port` of config.toml, else 4141
//! (`0` picks a free one). Upstream URLs and proactive thresholds also come from config.toml
//! under the environment. The autopilot (rota-handoff) runs alongside. On start one line
//! on stderr names the address and the `api.json` holding the token (the token itself is never
//! printed or logged), followed by the `ANTHROPIC_BASE_URL` hint. Logs (tracing) go to stderr,
//! filtered by `ROTA_LOG` (default `info`). SIGINT/SIGTERM stop the server gracefully (in-flight
//! requests finish, counters are flushed) and exit 0; a busy port exits 1 with one line.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use rota_gateway::{Gateway, GatewayConfig, GatewayError};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::{PoolStore, StoreConfig};
use rota_types::ErrorCode;

use super::warn_recoveries;
use crate::cli::ServeArgs;
use crate::error::CliError;

const USAGE: &str = "rota serve [--port N]";
/// The port when neither `--port`, `ROTA_GATEWAY_PORT` nor config.toml names one.
pub const DEFAULT_PORT: u16 = 4141;

pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let settings = load_config()?;
    let port = args.port.or(settings.gateway.port).unwrap_or(DEFAULT_PORT);
    init_logging();
    let config = StoreConfig::from_env()?;
    let data_dir = config.data_dir.clone();
    let store = PoolStore::open(config)?;
    warn_recoveries(&store);
    // Upstream URLs: the environment wins over config.toml, which wins over the defaults.
    let mut providers_config = ProvidersConfig::from_env();
    providers_config.apply_vars(|k| settings.provider_var(k));
    providers_config.apply_env();
    let providers = Providers::new(providers_config).map_err(|e| {
        CliError::failed(ErrorCode::Internal, format!("cannot set up providers: {e}"))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(ErrorCode::Os, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        // Register the handlers before announcing the address: a SIGTERM right after start must
        // already be a clean shutdown.
        let stop = shutdown_signal()?;
        let gateway_config = GatewayConfig::new(&data_dir).with_port(port);
        let store = Arc::new(store);
        // Proactive switching and hand-off for switches made by anyone (the gateway's
        // rotations included) while the server runs.
        let autopilot = rota_handoff::Autopilot::spawn(
            store.clone(),
            rota_handoff::AutopilotConfig::from_config(&settings),
            log_autopilot_event,
        )
        .map_err(|e| CliError::Failed(e.into()))?;
        let handle = Gateway::start(gateway_config, store, Arc::new(providers))
            .await
            .map_err(|e| start_error(port, e))?;
        let base = handle.base_url();
        let api_file = data_dir.join("api.json");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "rota gateway listening on {base} (API token in {})",
            api_file.display()
        );
        let _ = writeln!(err, "  export ANTHROPIC_BASE_URL={base}/anthropic");
        drop(err);
        let signal = stop.await;
        tracing::info!(signal, "shutting down");
        handle.shutdown().await;
        let _ = tokio::task::spawn_blocking(move || autopilot.stop()).await;
        tracing::info!("gateway stopped");
        Ok(())
    })
}

/// `rota serve` has no desktop to notify: the autopilot's actions go to the log.
fn log_autopilot_event(event: rota_handoff::AutopilotEvent) {
    use rota_handoff::AutopilotEvent as E;
    match event {
        E::Switched(entry) => tracing::info!(
            provider = %entry.provider_id,
            from = entry.from.as_deref().unwrap_or("-"),
            to = %entry.to,
            reason = %entry.reason_text(),
            "switched"
        ),
        E::HandedOff {
            provider,
            record_id,
            target,
            ..
        } => tracing::info!(%provider, account = %record_id, %target, "handed off"),
        E::HandoffFailed { provider, message } => {
            tracing::warn!(%provider, %message, "hand-off failed");
        }
    }
}

/// config.toml with the environment over it; a malformed variable is a usage error (exit 2),
/// a malformed file a failure (exit 1) naming the file.
fn load_config() -> Result<rota_config::Config, CliError> {
    rota_config::Config::load().map_err(|e| match e {
        rota_config::ConfigError::Env { .. } => CliError::usage(e.to_string(), USAGE),
        e => CliError::failed(ErrorCode::InvalidInput, e.to_string()),
    })
}

fn start_error(port: u16, e: GatewayError) -> CliError {
    match &e {
        GatewayError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            CliError::failed(
                ErrorCode::Conflict,
                format!(
                    "port {port} on 127.0.0.1 is already in use (another `rota serve` or the app?); \
                     pick another with --port N or ROTA_GATEWAY_PORT"
                ),
            )
        }
        GatewayError::Bind { .. } => CliError::failed(ErrorCode::Os, e.to_string()),
        _ => CliError::failed(ErrorCode::Internal, e.to_string()),
    }
}

/// tracing to stderr, filtered by `ROTA_LOG` (`info` when unset or invalid).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ROTA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Resolves with the signal's name on the first SIGINT (Ctrl-C) or SIGTERM.
fn shutdown_signal() -> Result<impl Future<Output = &'static str>, CliError> {
    let os = |e: std::io::Error| {
        CliError::failed(ErrorCode::Os, format!("cannot listen for signals: {e}"))
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(os)?;
        let mut int = signal(SignalKind::interrupt()).map_err(os)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = os;
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}
