//! The hand-off protocol (docs/rules.md §3.6): under the target file's hand-off lock, read the
//! target, adopt newer tokens the tool refreshed for one of our accounts, refuse to overwrite a
//! login that is not ours, and write the active account in the tool's format atomically.

use std::path::PathBuf;

use rota_core::{HandoffMark, PoolState, Record, Ulid};
use rota_store::{PoolStore, SecretBundle, Vault};
use rota_types::{DEFAULT_NAMESPACE, HandoffStatus, HandoffTool, ProviderId, TargetState, UnixMs};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::HandoffError;
use crate::format::{self, FileLogin};
use crate::target::Target;

/// What [`sync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Hand-off is off for the provider.
    Disabled,
    /// The provider has no account: the target is left alone (never emptied).
    NoAccount,
    /// The target already holds the active account's tokens.
    Current { record_id: Ulid },
    /// The target was rewritten with the active account.
    Written {
        record_id: Ulid,
        /// The account whose newer tokens were taken from the target first.
        adopted: Option<Ulid>,
        /// The tool whose login was written, and where (a file, or `keychain:<service>`).
        tool: HandoffTool,
        target: String,
    },
}

/// Whose login the target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// No entry for the provider (or no file).
    Empty,
    /// One of our accounts; `changed` when the tool replaced the tokens since we wrote them.
    Ours { id: Ulid, changed: bool },
    /// What we wrote last for an account that has since been removed from Rota: ours to
    /// replace, nothing to adopt.
    Removed,
    /// A login we cannot attribute.
    Foreign,
}

/// A short hash of the tokens (never the tokens): tells our last write from the tool's.
#[must_use]
pub fn fingerprint(secrets: &SecretBundle) -> String {
    let mut h = Sha256::new();
    h.update(secrets.access_token.expose().as_bytes());
    h.update([0]);
    if let Some(r) = &secrets.refresh_token {
        h.update(r.expose().as_bytes());
    }
    let digest = h.finalize();
    digest[..8].iter().fold(String::new(), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().fold(String::new(), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn same_tokens(a: &SecretBundle, b: &SecretBundle) -> bool {
    match (&a.refresh_token, &b.refresh_token) {
        (Some(x), Some(y)) => x == y && a.access_token == b.access_token,
        _ => a.access_token == b.access_token,
    }
}

/// Attributes a file's login to one of the provider's accounts: same tokens as the vault; else
/// the provider account id the file names; else what we wrote last (the mark): unchanged
/// content is ours, changed content is the tool's refresh of that account.
pub(crate) fn attribute(
    login: Option<&FileLogin>,
    state: &PoolState,
    vault: &Vault,
    provider: ProviderId,
    mark: Option<&HandoffMark>,
) -> Owner {
    let Some(login) = login else {
        return Owner::Empty;
    };
    let records: Vec<&Record> = state
        .pool(provider)
        .map(|p| p.records_in(DEFAULT_NAMESPACE).collect())
        .unwrap_or_default();
    if let Some(r) = records.iter().find(|r| {
        vault
            .get(&r.id.to_string())
            .is_some_and(|s| same_tokens(s, &login.secrets))
    }) {
        return Owner::Ours {
            id: r.id,
            changed: false,
        };
    }
    if let Some(account_id) = &login.account_id {
        if let Some(r) = records
            .iter()
            .find(|r| r.identity.account_id.as_deref() == Some(account_id))
        {
            return Owner::Ours {
                id: r.id,
                changed: true,
            };
        }
        // The whole login we wrote names its account too: unchanged content we wrote for an
        // account since removed from Rota is still ours to replace.
        if let Some(mark) = mark
            && records.iter().all(|r| r.id.to_string() != mark.record_id)
            && fingerprint(&login.secrets) == mark.fingerprint
        {
            return Owner::Removed;
        }
        return Owner::Foreign;
    }
    if let Some(mark) = mark {
        return match records.iter().find(|r| r.id.to_string() == mark.record_id) {
            Some(r) => Owner::Ours {
                id: r.id,
                changed: fingerprint(&login.secrets) != mark.fingerprint,
            },
            None => Owner::Removed,
        };
    }
    Owner::Foreign
}

/// The provider's tool and target as configured.
pub fn resolve_target(
    provider: ProviderId,
    settings: &rota_core::HandoffSettings,
) -> Result<(HandoffTool, Target), HandoffError> {
    let tool = settings
        .tool
        .unwrap_or_else(|| HandoffTool::default_for(provider));
    if !format::supports(tool, provider) {
        return Err(HandoffError::Invalid(format!(
            "{} cannot hold {} logins",
            tool.display_name(),
            provider.display_name()
        )));
    }
    let target = match &settings.target {
        Some(path) => Target::File(PathBuf::from(path)),
        None => Target::default_for(tool)?,
    };
    Ok((tool, target))
}

/// The target's content: the parsed root (`None` when missing) and the provider's login in it.
type Read = (Option<Map<String, Value>>, Option<FileLogin>);

fn read_target(
    tool: HandoffTool,
    provider: ProviderId,
    target: &Target,
) -> Result<Read, HandoffError> {
    let unreadable = |problem: String| HandoffError::Unreadable {
        tool: tool.display_name(),
        path: target.display(),
        problem,
    };
    let Some(bytes) = target.read()? else {
        return Ok((None, None));
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let root = format::parse_root(&bytes).map_err(unreadable)?;
    let login = format::read_login(tool, provider, &root).map_err(unreadable)?;
    Ok((Some(root), login))
}

/// The vault's copy updated with a login the tool refreshed (its extras win, ours stay).
fn adopted(ours: &SecretBundle, theirs: &SecretBundle) -> SecretBundle {
    let mut out = ours.clone();
    out.access_token = theirs.access_token.clone();
    if theirs.refresh_token.is_some() {
        out.refresh_token.clone_from(&theirs.refresh_token);
    }
    if theirs.expires_at.is_some() {
        out.expires_at = theirs.expires_at;
    }
    for (k, v) in &theirs.extras {
        out.extras.insert(k.clone(), v.clone());
    }
    out
}

/// Whether the tool's copy should replace ours: not strictly older than ours.
fn newer(theirs: &SecretBundle, ours: &SecretBundle) -> bool {
    match (theirs.expires_at, ours.expires_at) {
        (Some(t), Some(o)) => t >= o,
        _ => true,
    }
}

/// Takes newer tokens of account `id` from the target into the vault, unless the vault changed
/// since `seen` (compare-and-swap under the store lock). Returns whether it adopted.
pub(crate) fn adopt(
    store: &PoolStore,
    id: Ulid,
    seen: Option<&SecretBundle>,
    theirs: &SecretBundle,
) -> Result<bool, HandoffError> {
    let key = id.to_string();
    store.mutate(|txn| -> Result<bool, HandoffError> {
        let vault = txn.vault()?;
        let Some(current) = vault.get(&key).cloned() else {
            return Ok(false);
        };
        if seen.is_some_and(|s| *s != current) || !newer(theirs, &current) {
            return Ok(false);
        }
        let merged = adopted(&current, theirs);
        if merged == current {
            return Ok(false);
        }
        txn.vault_mut()?.insert(key.clone(), merged);
        Ok(true)
    })
}

/// Records the outcome in the provider's hand-off settings, writing the state only when it
/// differs (a write wakes every watcher, including the autopilot that called us).
fn note(
    store: &PoolStore,
    provider: ProviderId,
    mark: Option<HandoffMark>,
    error: Option<String>,
    now: UnixMs,
) -> Result<(), HandoffError> {
    let current = store.load()?.settings_of(provider).handoff;
    let mark_same = mark.as_ref().is_none_or(|m| {
        current
            .mark
            .as_ref()
            .is_some_and(|c| c.record_id == m.record_id && c.fingerprint == m.fingerprint)
    });
    if mark_same && current.last_error == error {
        return Ok(());
    }
    store.mutate(|txn| -> Result<(), HandoffError> {
        txn.state.update_settings(provider, |s| {
            if let Some(m) = mark {
                s.handoff.mark = Some(m);
            }
            if s.handoff.last_error != error {
                s.handoff.last_error_at = error.as_ref().map(|_| now);
                s.handoff.last_error = error;
            }
        });
        Ok(())
    })
}

/// Makes the provider's target hold its active account (idempotent: no write when it already
/// does). Under the provider's hand-off lock: read the target; when it holds newer tokens of
/// one of our accounts (the tool refreshed), adopt them into the vault first; when it holds a
/// login that is not ours, refuse unless `force`; then write the active account atomically
/// (0600) and remember what was written. Failures are also recorded for the status.
pub fn sync(
    store: &PoolStore,
    provider: ProviderId,
    force: bool,
    now: UnixMs,
) -> Result<SyncOutcome, HandoffError> {
    // One lock per target, not per provider: opencode's file holds several providers.
    let lock_name = |settings: &rota_core::HandoffSettings| match resolve_target(provider, settings)
    {
        Ok((_, target)) => format!("handoff-{}", short_hash(&target.display())),
        Err(_) => format!("handoff-{}", provider.as_str()),
    };
    let mut settings = store.load()?.settings_of(provider).handoff;
    let _lock = loop {
        if !settings.enabled {
            return Ok(SyncOutcome::Disabled);
        }
        let name = lock_name(&settings);
        let lock = store.lock_account(&name)?;
        // The target may have been reconfigured while we waited: lock the one we will write.
        settings = store.load()?.settings_of(provider).handoff;
        if lock_name(&settings) == name {
            break lock;
        }
    };
    let result = sync_locked(store, provider, force, now);
    if let Err(e) = &result {
        // Best effort: the error itself is what the caller reports.
        let _ = note(store, provider, None, Some(e.to_string()), now);
    }
    result
}

fn sync_locked(
    store: &PoolStore,
    provider: ProviderId,
    force: bool,
    now: UnixMs,
) -> Result<SyncOutcome, HandoffError> {
    let state = store.load()?;
    let settings = state.settings_of(provider).handoff;
    if !settings.enabled {
        return Ok(SyncOutcome::Disabled);
    }
    let Some(active) = state.active_id(provider, DEFAULT_NAMESPACE, now) else {
        return Ok(SyncOutcome::NoAccount);
    };
    let (tool, target) = resolve_target(provider, &settings)?;
    let (root, login) = read_target(tool, provider, &target)?;
    let vault = store.load_vault()?;
    let owner = attribute(
        login.as_ref(),
        &state,
        &vault,
        provider,
        settings.mark.as_ref(),
    );

    let mut adopted_id = None;
    if let (Owner::Ours { id, changed: true }, Some(login)) = (owner, &login)
        && adopt(store, id, vault.get(&id.to_string()), &login.secrets)?
    {
        tracing::info!(%provider, account = %id, tool = tool.as_str(), "adopted tokens the tool refreshed");
        adopted_id = Some(id);
    }
    if owner == Owner::Foreign && !force {
        return Err(HandoffError::ForeignLogin {
            tool: tool.display_name(),
            import: tool.as_str(),
            path: target.display(),
        });
    }

    let desired = store
        .secrets(&active.to_string())?
        .ok_or_else(|| rota_store::StoreError::NotFound(active.to_string()))?;
    let record = state
        .record(provider, active)
        .ok_or_else(|| rota_store::StoreError::NotFound(active.to_string()))?;
    let mark = HandoffMark {
        record_id: active.to_string(),
        fingerprint: fingerprint(&desired),
        at: now,
    };
    if login
        .as_ref()
        .is_some_and(|l| same_tokens(&l.secrets, &desired))
        && format::login_type_is_current(tool, root.as_ref())
    {
        note(store, provider, Some(mark), None, now)?;
        return Ok(SyncOutcome::Current { record_id: active });
    }
    let new_root = format::merge(tool, provider, root, &desired, &record.identity, now)?;
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(new_root))
        .map_err(|e| HandoffError::Invalid(format!("cannot encode the login: {e}")))?;
    bytes.push(b'\n');
    // Never a partial credential: what we write must read back as the active account.
    let check = format::parse_root(&bytes)
        .ok()
        .and_then(|r| format::read_login(tool, provider, &r).ok().flatten());
    if !check.is_some_and(|l| same_tokens(&l.secrets, &desired)) {
        return Err(HandoffError::Invalid(format!(
            "the {} login built for the active account does not read back; nothing was written",
            tool.display_name()
        )));
    }
    target.write(&bytes)?;
    tracing::info!(%provider, account = %active, tool = tool.as_str(), target = %target.display(), "handed off the active account");
    note(store, provider, Some(mark), None, now)?;
    Ok(SyncOutcome::Written {
        record_id: active,
        adopted: adopted_id,
        tool,
        target: target.display(),
    })
}

/// Hand-off and proactive status for the app's Provider Detail and `rota auth handoff status`.
/// Reads only (no lock, no write).
pub fn status(
    store: &PoolStore,
    provider: ProviderId,
    now: UnixMs,
) -> Result<HandoffStatus, HandoffError> {
    let state = store.load()?;
    let settings = state.settings_of(provider);
    let h = &settings.handoff;
    let tool = h.tool.unwrap_or_else(|| HandoffTool::default_for(provider));
    let mut out = HandoffStatus {
        provider_id: provider,
        enabled: h.enabled,
        tool,
        target: String::new(),
        target_overridden: h.target.is_some(),
        state: TargetState::Missing,
        holds_record_id: None,
        last_sync_at: h.mark.as_ref().map(|m| m.at),
        last_error: h.last_error.clone(),
        last_error_at: h.last_error_at,
        proactive: settings.proactive,
        clients: settings.clients,
    };
    let (tool, target) = match resolve_target(provider, h) {
        Ok(x) => x,
        Err(e) => {
            out.state = TargetState::Unreadable;
            out.last_error.get_or_insert(e.to_string());
            return Ok(out);
        }
    };
    out.target = target.display();
    let Ok((_, login)) = read_target(tool, provider, &target) else {
        out.state = TargetState::Unreadable;
        return Ok(out);
    };
    let vault = store.load_vault()?;
    let active = state.active_id(provider, DEFAULT_NAMESPACE, now);
    out.state = match attribute(login.as_ref(), &state, &vault, provider, h.mark.as_ref()) {
        Owner::Empty => TargetState::Missing,
        Owner::Foreign => TargetState::Foreign,
        Owner::Removed => TargetState::OtherAccount,
        Owner::Ours { id, .. } => {
            out.holds_record_id = Some(id.to_string());
            if Some(id) == active {
                TargetState::Active
            } else {
                TargetState::OtherAccount
            }
        }
    };
    Ok(out)
}

/// Turns hand-off on or off for a provider, optionally choosing the tool and the target path
/// (`Some(None)` = back to the tool's default). Changing any of them forgets the last-write
/// mark, so content written for another configuration is never taken for ours. Does not sync:
/// call [`sync`] after turning it on (the CLI does; the autopilot does on the state change).
pub fn set_handoff(
    store: &PoolStore,
    provider: ProviderId,
    enabled: bool,
    tool: Option<HandoffTool>,
    target: Option<Option<PathBuf>>,
) -> Result<(), HandoffError> {
    if let Some(t) = tool
        && !format::supports(t, provider)
    {
        return Err(HandoffError::Invalid(format!(
            "{} cannot hold {} logins",
            t.display_name(),
            provider.display_name()
        )));
    }
    let target = target.map(|t| t.map(|p| p.to_string_lossy().into_owned()));
    store.mutate(|txn| -> Result<(), HandoffError> {
        txn.state.update_settings(provider, |s| {
            let before = s.handoff.clone();
            s.handoff.enabled = enabled;
            if let Some(t) = tool {
                s.handoff.tool = Some(t);
            }
            if let Some(t) = target {
                s.handoff.target = t;
            }
            if before.enabled != enabled
                || before.tool != s.handoff.tool
                || before.target != s.handoff.target
            {
                s.handoff.mark = None;
                s.handoff.last_error = None;
                s.handoff.last_error_at = None;
            }
        });
        Ok(())
    })
}

/// Turns proactive switching on or off for a provider.
pub fn set_proactive(
    store: &PoolStore,
    provider: ProviderId,
    enabled: bool,
) -> Result<(), HandoffError> {
    store.mutate(|txn| -> Result<(), HandoffError> {
        txn.state
            .update_settings(provider, |s| s.proactive = enabled);
        Ok(())
    })
}

/// What a token refresh of a handed-off account should do instead (docs/rules.md §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshGate {
    /// The account is not in the tool's hands: refresh as usual.
    Refresh,
    /// The tool refreshed meanwhile: these newer tokens were adopted into the vault; use them.
    Adopted(SecretBundle),
    /// The tool holds these tokens and they are still valid: let the tool refresh them (a
    /// refresh by Rota would invalidate the tool's single-use refresh token).
    LeaveToTool,
    /// The tool's copy is expired and unchanged: refresh, then [`sync`] so the tool gets the
    /// new pair.
    RefreshThenSync,
}

/// Decides whether Rota may refresh account `id` whose stored tokens are `current`. Call it
/// under the account's refresh lock (`Store::lock_account`); it adopts through the store lock
/// only and takes no other lock.
pub fn refresh_gate(
    store: &PoolStore,
    provider: ProviderId,
    id: Ulid,
    current: &SecretBundle,
    now: UnixMs,
) -> Result<RefreshGate, HandoffError> {
    let state = store.load()?;
    let settings = state.settings_of(provider).handoff;
    if !settings.enabled {
        return Ok(RefreshGate::Refresh);
    }
    let Ok((tool, target)) = resolve_target(provider, &settings) else {
        return Ok(RefreshGate::Refresh);
    };
    let Ok((_, Some(login))) = read_target(tool, provider, &target) else {
        return Ok(RefreshGate::Refresh);
    };
    let vault = store.load_vault()?;
    match attribute(
        Some(&login),
        &state,
        &vault,
        provider,
        settings.mark.as_ref(),
    ) {
        Owner::Ours { id: owner, .. } if owner == id => {
            if same_tokens(&login.secrets, current) {
                let expired = current.expires_at.is_some_and(|e| e <= now);
                Ok(if expired {
                    RefreshGate::RefreshThenSync
                } else {
                    RefreshGate::LeaveToTool
                })
            } else if adopt(store, id, Some(current), &login.secrets)? {
                let fresh = store
                    .secrets(&id.to_string())?
                    .ok_or_else(|| rota_store::StoreError::NotFound(id.to_string()))?;
                Ok(RefreshGate::Adopted(fresh))
            } else {
                // The tool holds older tokens of this account (Rota refreshed since): refresh
                // if due, and give the tool the current pair.
                Ok(RefreshGate::RefreshThenSync)
            }
        }
        _ => Ok(RefreshGate::Refresh),
    }
}
