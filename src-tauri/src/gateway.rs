//! The local gateway hosted by the app: started at launch on the configured port (the same
//! steps as `rota serve`), stopped cleanly on exit. A start failure (a busy port) never stops
//! the app: the status keeps the reason for the header.

use std::sync::{Arc, Mutex, PoisonError};

use rota_gateway::{Gateway, GatewayConfig, GatewayError, GatewayHandle, GatewayStatus};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::PoolStore;
use rota_types::command::{GatewayState, GatewayStatusResponse};

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Starting,
    Running(GatewayHandle),
    Failed(String),
    Stopped,
}

/// The app's one gateway and what became of it.
#[derive(Debug, Default)]
pub struct HostedGateway {
    slot: Mutex<Slot>,
}

impl HostedGateway {
    /// Binds `127.0.0.1:<port>` and serves the store's pool; the outcome is kept in the slot.
    pub async fn start(&self, port: u16, data_dir: std::path::PathBuf, store: Arc<PoolStore>) {
        let outcome = match Providers::new(ProvidersConfig::from_env()) {
            Ok(providers) => {
                let config = GatewayConfig::new(&data_dir).with_port(port);
                Gateway::start(config, store, Arc::new(providers))
                    .await
                    .map_err(|e| start_error(port, &e))
            }
            Err(e) => Err(format!("cannot set up providers: {e}")),
        };
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = match outcome {
            Ok(handle) => Slot::Running(handle),
            Err(reason) => {
                tracing::warn!("the gateway did not start: {reason}");
                Slot::Failed(reason)
            }
        };
    }

    /// The handle to shut down, leaving `Stopped` behind.
    pub fn take_running(&self) -> Option<GatewayHandle> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, Slot::Stopped) {
            Slot::Running(handle) => Some(handle),
            other => {
                *slot = other;
                None
            }
        }
    }

    pub fn status(&self) -> GatewayStatusResponse {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, address, message) = match &*slot {
            Slot::Starting => (GatewayState::Starting, None, None),
            Slot::Running(handle) => match handle.status() {
                GatewayStatus::Running { addr } => {
                    (GatewayState::Running, Some(addr.to_string()), None)
                }
                GatewayStatus::Failed { reason } => (GatewayState::Failed, None, Some(reason)),
                GatewayStatus::Stopped => (GatewayState::Stopped, None, None),
            },
            Slot::Failed(reason) => (GatewayState::Failed, None, Some(reason.clone())),
            Slot::Stopped => (GatewayState::Stopped, None, None),
        };
        GatewayStatusResponse {
            state,
            address,
            message,
        }
    }
}

/// A start error as the header's tooltip says it.
fn start_error(port: u16, e: &GatewayError) -> String {
    match e {
        GatewayError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            format!("port {port} is in use (is `rota serve` running?)")
        }
        _ => e.to_string(),
    }
}

/// Stops the gateway (in-flight requests finish, counters are flushed); waits at most
/// [`rota_gateway::SHUTDOWN_GRACE`].
pub fn stop_blocking(gateway: &HostedGateway) {
    if let Some(handle) = gateway.take_running() {
        tauri::async_runtime::block_on(handle.shutdown());
        tracing::info!("gateway stopped");
    }
}
