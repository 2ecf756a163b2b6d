//! `rota serve [--port N]`: the gateway and the local HTTP API (docs/interfaces.md §1) headless
//! until Ctrl-C or SIGTERM.
//!
//! Port: `--port`, else `ROTA_GATEWAY_PORT`, else `[gateway] port` of config.toml, else 4141
//! (`0` picks a free one). Upstream URLs and proactive thresholds also come from config.toml
//! under the environment. The autopilot (rota-handoff) and background usage polling run
//! alongside (`[polling] enabled = false` or `ROTA_USAGE_POLLING=off` stops polling). On start
//! one line on stderr names the address and the `api.json` holding the token (the token itself
//! is never printed or logged), followed by one line per tool: connected to this gateway, or the
//! `rota connect <tool>` that connects it in one step (and `rota env` for SDKs). Logs (tracing) go to stderr,
//! filtered by `ROTA_LOG` (default `info`). SIGINT/SIGTERM stop the server gracefully (in-flight
//! requests finish, counters are flushed) and exit 0; a busy port exits 1 with one line.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use rota_gateway::{Gateway, GatewayConfig, GatewayError};
use rota_providers::{Providers, ProvidersConfig, TokenManager, UsageService};
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
    let providers = Providers::new(ProvidersConfig::from_settings(&settings)).map_err(|e| {
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
        let gateway_config = GatewayConfig::new(&data_dir)
            .with_port(port)
            .with_settings(&settings);
        let store = Arc::new(store);
        // Proactive switching and hand-off for switches made by anyone (the gateway's
        // rotations included) while the server runs.
        let autopilot = rota_handoff::Autopilot::spawn(
            store.clone(),
            rota_handoff::AutopilotConfig::from_config(&settings),
            log_autopilot_event,
        )
        .map_err(|e| CliError::Failed(e.into()))?;
        // One TokenManager for the proxy and the usage poller (its single flight is per
        // instance).
        let tokens = Arc::new(TokenManager::new(store.clone(), Arc::new(providers)));
        let handle = Gateway::with_token_manager(gateway_config, tokens.clone())
            .map_err(|e| start_error(port, e))?
            .serve()
            .await
            .map_err(|e| start_error(port, e))?;
        // Background usage polling (config `[polling] enabled`, `ROTA_USAGE_POLLING`), so the
        // proactive switch knows every account's headroom, not only the active one's.
        let poll = settings.polling.interval_secs.map_or_else(
            rota_providers::PollPolicy::default,
            rota_providers::PollPolicy::every,
        );
        let usage = Arc::new(UsageService::with_policy(tokens, poll));
        usage.set_enabled(settings.polling.enabled != Some(false));
        let poller = tokio::spawn(poll_usage(usage, store.clone()));
        let base = handle.base_url();
        let api_file = data_dir.join("api.json");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "rota gateway listening on {base} (API token for programs in {})",
            api_file.display()
        );
        for line in super::connect::start_lines(
            &store,
            &data_dir,
            handle.addr().port(),
            settings.gateway.port.unwrap_or(DEFAULT_PORT),
        ) {
            let _ = writeln!(err, "  {line}");
        }
        drop(err);
        let signal = stop.await;
        tracing::info!(signal, "shutting down");
        poller.abort();
        handle.shutdown().await;
        let _ = tokio::task::spawn_blocking(move || autopilot.stop()).await;
        tracing::info!("gateway stopped");
        Ok(())
    })
}

/// Polls the accounts the usage policy says are due, then sleeps until the next is due (5 s to
/// 5 min).
async fn poll_usage(usage: Arc<UsageService>, store: Arc<PoolStore>) {
    const MIN_SLEEP: i64 = 5_000;
    const MAX_SLEEP: i64 = 300_000;
    loop {
        if usage.is_enabled()
            && let Err(e) = usage.poll_due(rota_store::now_ms()).await
        {
            tracing::warn!(error = %e, "usage poll failed");
        }
        let now = rota_store::now_ms();
        let reader = store.clone();
        let next = tokio::task::spawn_blocking(move || reader.load())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|s| {
                s.providers
                    .iter()
                    .flat_map(|(p, pool)| {
                        pool.records_in(rota_types::DEFAULT_NAMESPACE)
                            .map(|r| usage.next_poll(&s, *p, r.id, now))
                            .collect::<Vec<_>>()
                    })
                    .min()
            })
            .unwrap_or(now + MAX_SLEEP);
        let wait = (next - now).clamp(MIN_SLEEP, MAX_SLEEP);
        tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
    }
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

fn load_config() -> Result<rota_config::Config, CliError> {
    super::load_config(USAGE)
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
    let filter =
        EnvFilter::try_from_env(rota_config::env::LOG).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Resolves with the signal's name on the first SIGINT (Ctrl-C) or SIGTERM.
#[cfg_attr(not(unix), allow(clippy::unnecessary_wraps))] // registering can fail on Unix only
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
