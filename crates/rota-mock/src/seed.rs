//! A mock account as Rota stores it after a login (feature `store`): the identity its login
//! reports and its current tokens. For tests, benchmarks and the demo that seed a store with
//! accounts the mock will accept.

use rota_core::{NewLogin, Ulid};
use rota_store::{PoolStore, SecretBundle};
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId};

use crate::AccountInfo;

/// What the provider's login reports about the account (the fields a real login stores).
#[must_use]
pub fn identity_of(info: &AccountInfo) -> AccountIdentity {
    AccountIdentity {
        account_id: Some(match info.provider {
            ProviderId::OpenAi => info.chatgpt_account_id.clone().unwrap_or_default(),
            ProviderId::GithubCopilot => info.github_login.clone().unwrap_or_default(),
            ProviderId::Anthropic => info.account_uuid.clone(),
        }),
        email: Some(info.email.clone()),
        organization: info.organization_name.clone(),
        plan: Some(info.plan.clone()),
    }
}

/// The account's current tokens (expiry in ms; OpenAI's `id_token` as an extra).
#[must_use]
pub fn secrets_of(info: &AccountInfo) -> SecretBundle {
    let mut b = SecretBundle::new(info.access_token.clone());
    if let Some(r) = &info.refresh_token {
        b = b.with_refresh(r.clone());
    }
    if let Some(e) = info.expires_at {
        b = b.with_expiry(e * 1000);
    }
    if let Some(id) = &info.id_token {
        b = b.with_extra("id_token", id.clone());
    }
    b
}

/// The login as the pool receives it.
#[must_use]
pub fn login_of(info: &AccountInfo) -> NewLogin {
    NewLogin {
        identity: identity_of(info),
        label: None,
    }
}

/// Stores the account (upsert: it becomes the active one) with `secrets`, as a login would.
///
/// # Panics
/// When the store refuses the write (a test setup failure).
pub fn store_account_with(
    store: &PoolStore,
    info: &AccountInfo,
    secrets: SecretBundle,
    now: rota_types::UnixMs,
) -> Ulid {
    store
        .upsert_account(
            info.provider,
            DEFAULT_NAMESPACE,
            login_of(info),
            secrets,
            now,
        )
        .expect("store the mock account")
        .id
}

/// Stores the account with its current tokens.
///
/// # Panics
/// When the store refuses the write (a test setup failure).
pub fn store_account(store: &PoolStore, info: &AccountInfo) -> Ulid {
    store_account_with(store, info, secrets_of(info), rota_store::now_ms())
}
