//! Which clients the gateway's Anthropic route serves (docs/anthropic.md): the user's choice
//! kept in the store (`rota auth clients`, the app's Anthropic page), else the config's
//! `[providers.anthropic] clients` / `ROTA_ANTHROPIC_CLIENTS` (default: Claude Code only).
//! The gateway, `rota connect` and the app's Connect all read it here.

use rota_core::PoolState;
use rota_store::{PoolStore, StoreError};
use rota_types::{AnthropicClients, ProviderId};

use crate::ProvidersConfig;

/// The setting in force.
#[must_use]
pub fn anthropic_clients(state: &PoolState, config: &ProvidersConfig) -> AnthropicClients {
    state
        .settings_of(ProviderId::Anthropic)
        .clients
        .unwrap_or(config.anthropic.clients)
}

/// Whether the user chose in the store (rather than the config deciding).
#[must_use]
pub fn anthropic_clients_chosen(state: &PoolState) -> bool {
    state.settings_of(ProviderId::Anthropic).clients.is_some()
}

/// Keeps the user's choice; every process (the app's and `rota serve`'s gateway) sees it at
/// its next request.
pub fn set_anthropic_clients(
    store: &PoolStore,
    clients: AnthropicClients,
) -> Result<(), StoreError> {
    store.mutate(|txn| {
        txn.state
            .update_settings(ProviderId::Anthropic, |s| s.clients = Some(clients));
        Ok(())
    })
}
