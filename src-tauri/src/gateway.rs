//! The local gateway hosted by the app: started at launch on the configured port (the same
//! steps as `rota serve`), stopped cleanly on exit. A start failure (a busy port) never stops
//! the app: the status keeps the reason for the header.

use std::sync::{Arc, Mutex, PoisonError};

use rota_gateway::{
    Gateway, GatewayConfig, GatewayError, GatewayEvent, GatewayHandle, GatewayStatus,
};
use rota_providers::TokenManager;
use rota_types::command::{GatewayState, GatewayStatusResponse};
use rota_types::{SessionDetail, SessionSummary};

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
    /// Binds the port and serves the store's pool with the app's token manager (one single
    /// flight per process); the outcome is kept in the slot. Returns the gateway's events
    /// (session updates) while it runs.
    pub async fn start(
        &self,
        config: GatewayConfig,
        tokens: Arc<TokenManager>,
    ) -> Option<tokio::sync::broadcast::Receiver<GatewayEvent>> {
        let port = config.port;
        let outcome = match Gateway::with_token_manager(config, tokens) {
            Ok(gateway) => gateway.serve().await.map_err(|e| start_error(port, &e)),
            Err(e) => Err(start_error(port, &e)),
        };
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(handle) => {
                let events = handle.gateway().subscribe();
                *slot = Slot::Running(handle);
                Some(events)
            }
            Err(reason) => {
                tracing::warn!("the gateway did not start: {reason}");
                *slot = Slot::Failed(reason);
                None
            }
        }
    }

    /// Sessions, most recent first (none unless running).
    pub fn sessions(&self) -> Vec<SessionSummary> {
        match &*self.slot.lock().unwrap_or_else(PoisonError::into_inner) {
            Slot::Running(handle) => handle.gateway().sessions(),
            _ => Vec::new(),
        }
    }

    pub fn session_detail(&self, id: &str) -> Option<SessionDetail> {
        match &*self.slot.lock().unwrap_or_else(PoisonError::into_inner) {
            Slot::Running(handle) => handle.gateway().session_detail(id),
            _ => None,
        }
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
