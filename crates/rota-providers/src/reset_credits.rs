//! OpenAI rate-limit reset credits: list (`GET {backend}/wham/rate-limit-reset-credits`) and
//! redeem (`POST …/consume {credit_id, redeem_request_id}` → `{code}`), and [`redeem`], the
//! redeem users of other tools lose credits to without: one `redeem_request_id` per intent,
//! persisted before the call (a retry repeats it, so the provider redeems once), one redeem of
//! an account at a time across processes (`locks/redeem-<account>.lock`), and a caller that
//! waited for another process's redeem takes its result instead of spending a second credit.

use rota_core::{PendingRedeem, RedeemPlan, Ulid};
use rota_types::{ProviderId, RedeemCode, RedeemResponse, ResetCredit, ResetCredits, UnixMs};
use serde_json::{Value, json};

use crate::adapter::{AccountAuth, Providers};
use crate::error::ProviderError;
use crate::http::{error_code, json_time, read_small};
use crate::refresh::TokenManager;

const P: ProviderId = ProviderId::OpenAi;

fn protocol(problem: &str) -> ProviderError {
    ProviderError::Protocol {
        provider: P,
        what: "reset credits",
        problem: problem.to_owned(),
    }
}

async fn call(
    auth: &AccountAuth,
    req: reqwest::RequestBuilder,
    what: &'static str,
) -> Result<Value, ProviderError> {
    let mut req = req.bearer_auth(auth.secrets.access_token.expose());
    if let Some(id) = crate::openai::account_id(auth) {
        req = req.header("ChatGPT-Account-Id", id);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let bytes = read_small(P, resp).await?;
    match status {
        200 => serde_json::from_slice(&bytes).map_err(|_| protocol("not JSON")),
        401 => Err(ProviderError::Unauthorized { provider: P }),
        _ => Err(ProviderError::Http {
            provider: P,
            what,
            status,
            code: error_code(&bytes),
        }),
    }
}

/// The account's available reset credits, soonest expiry first.
pub async fn list(
    ctx: &Providers,
    auth: &AccountAuth,
    now: UnixMs,
) -> Result<ResetCredits, ProviderError> {
    let url = format!(
        "{}/wham/rate-limit-reset-credits",
        ctx.config.openai.backend_base
    );
    let v = call(auth, ctx.http.get(url), "reset credits").await?;
    Ok(parse_list(&v, now))
}

/// `{credits:[{id, reset_type, status, granted_at, expires_at}], available_count}` → the
/// available ones, soonest expiry first.
#[must_use]
pub fn parse_list(v: &Value, fetched_at: UnixMs) -> ResetCredits {
    let mut credits: Vec<ResetCredit> = v
        .get("credits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("available"))
        .filter_map(|c| {
            Some(ResetCredit {
                id: c.get("id").and_then(Value::as_str)?.to_owned(),
                expires_at: c.get("expires_at").and_then(json_time),
            })
        })
        .collect();
    credits.sort_by_key(|c| c.expires_at.unwrap_or(UnixMs::MAX));
    ResetCredits {
        credits,
        fetched_at,
    }
}

/// One redeem call.
pub async fn consume(
    ctx: &Providers,
    auth: &AccountAuth,
    credit_id: &str,
    request_id: &str,
) -> Result<RedeemCode, ProviderError> {
    let url = format!(
        "{}/wham/rate-limit-reset-credits/consume",
        ctx.config.openai.backend_base
    );
    let body = json!({"credit_id": credit_id, "redeem_request_id": request_id});
    let v = call(auth, ctx.http.post(url).json(&body), "reset credit redeem").await?;
    v.get("code")
        .and_then(Value::as_str)
        .and_then(RedeemCode::parse)
        .ok_or_else(|| protocol("no known code"))
}

/// The redeem every surface runs (`rota auth redeem`, the app's *Redeem reset credit*,
/// `POST /auth/redeem`): a reset credit on `provider`'s account `id` in namespace `ns`, the
/// active one when `id` is `None`. Only OpenAI has reset credits.
pub async fn redeem_account(
    tokens: &TokenManager,
    provider: ProviderId,
    ns: &str,
    id: Option<Ulid>,
) -> Result<RedeemResponse, ProviderError> {
    if provider != P {
        return Err(ProviderError::NoResetCredits { provider });
    }
    let state = tokens.store().load()?;
    let id = match id {
        Some(id) => {
            if state.record(P, id).is_none_or(|r| r.namespace != ns) {
                return Err(
                    rota_store::StoreError::from(rota_core::PoolError::NotFound {
                        provider,
                        id: id.to_string(),
                    })
                    .into(),
                );
            }
            id
        }
        None => state
            .active_id(P, ns, rota_store::now_ms())
            .ok_or(ProviderError::NoAccount { provider })?,
    };
    redeem_as(tokens, id, false).await
}

/// The automatic redeem's locked decision: a skip fails the mutation, so nothing is written
/// for it.
enum Locked {
    Skip(rota_core::AutoRedeemSkip),
    Store(rota_store::StoreError),
}

impl From<rota_store::StoreError> for Locked {
    fn from(e: rota_store::StoreError) -> Self {
        Self::Store(e)
    }
}

/// The opt-in automatic redeem (`[providers.openai] auto_redeem`): when every account of the
/// pool in `ns` is exhausted, one credit on one account, once per exhaustion (the decision
/// and its record are rota-core's [`rota_core::AutoRedeem`], made again under the store lock,
/// so racing callers in any process redeem once). `Err(skip)` says why nothing was due.
///
/// The credits of the accounts in `fetch_first` are fetched and recorded before deciding (the
/// caller saw them exhausted with credits never fetched: no usage poll yet, polling off).
pub async fn auto_redeem(
    tokens: &TokenManager,
    ns: &str,
    fetch_first: &[Ulid],
) -> Result<Result<RedeemResponse, rota_core::AutoRedeemSkip>, ProviderError> {
    let now = rota_store::now_ms();
    for id in fetch_first {
        refresh_recorded(tokens, *id, now).await;
    }
    let store = tokens.store().clone();
    let key = ns.to_owned();
    let decided = tokio::task::spawn_blocking(move || {
        store.mutate(
            |txn| match txn.state.begin_auto_redeem(P, &key, rota_store::now_ms()) {
                rota_core::AutoRedeem::Redeem {
                    record, episode, ..
                } => Ok((record, episode)),
                rota_core::AutoRedeem::Skip(skip) => Err(Locked::Skip(skip)),
            },
        )
    })
    .await
    .map_err(|e| ProviderError::Internal(e.to_string()))?;
    let record = match decided {
        Ok((record, episode)) => {
            tracing::info!(account = %record, episode, "every openai account is exhausted: redeeming a reset credit");
            record
        }
        Err(Locked::Skip(skip)) => return Ok(Err(skip)),
        Err(Locked::Store(e)) => return Err(e.into()),
    };
    let result = redeem_as(tokens, record, true).await;
    match &result {
        Ok(r) => {
            tracing::info!(account = %record, code = ?r.code, "automatic reset-credit redeem answered");
        }
        Err(e) => {
            tracing::warn!(account = %record, error = %e, "automatic reset-credit redeem failed");
        }
    }
    result.map(Ok)
}

/// The automatic-redeem setting as `source` gives it now.
pub fn auto_redeem_status(
    source: &rota_config::AutoRedeemSource,
) -> Result<rota_types::AutoRedeemStatus, ProviderError> {
    Ok(rota_types::AutoRedeemStatus {
        enabled: source.enabled()?,
        from_env: source.env.is_some(),
        config_file: source.file.as_ref().map(|p| p.display().to_string()),
    })
}

/// Turns the automatic redeem on or off in `source`'s config file (the app's toggle,
/// `rota auth auto-redeem`); running gateways read it the next time a pool runs dry.
pub fn set_auto_redeem(
    source: &rota_config::AutoRedeemSource,
    on: bool,
) -> Result<rota_types::AutoRedeemStatus, ProviderError> {
    if source.env.is_some() {
        return Err(ProviderError::SetByEnv {
            name: rota_config::env::OPENAI_AUTO_REDEEM,
        });
    }
    let Some(path) = &source.file else {
        return Err(ProviderError::Internal(
            "no config directory to keep the setting in".to_owned(),
        ));
    };
    let text = rota_config::with_auto_redeem(path, on)?;
    rota_store::write_durably(path, text.as_bytes())
        .map_err(|e| ProviderError::Internal(format!("cannot save the setting: {e}")))?;
    auto_redeem_status(source)
}

/// Redeems a reset credit on account `id` (see the module). A network error leaves the intent
/// pending: the next call repeats it with the same request id.
pub async fn redeem(tokens: &TokenManager, id: Ulid) -> Result<RedeemResponse, ProviderError> {
    redeem_as(tokens, id, false).await
}

/// [`redeem`]; `automatic` marks Rota's own redeem in the switch log.
async fn redeem_as(
    tokens: &TokenManager,
    id: Ulid,
    automatic: bool,
) -> Result<RedeemResponse, ProviderError> {
    let store = tokens.store().clone();
    let ctx = tokens.providers().clone();
    let asked_at = rota_store::now_ms();
    let lock = {
        let store = store.clone();
        let key = id.to_string();
        tokio::task::spawn_blocking(move || store.lock_redeem(&key))
            .await
            .map_err(|e| ProviderError::Internal(e.to_string()))??
    };
    let plan = store
        .load()?
        .redeem_plan(P, id, asked_at)
        .map_err(rota_store::StoreError::from)?;
    let response = |code, coalesced, remaining| RedeemResponse {
        record_id: id.to_string(),
        code,
        coalesced,
        remaining,
    };
    let auth = tokens.access(P, id).await?;
    let intent = match plan {
        RedeemPlan::Coalesced(last) => return Ok(response(last.code, true, None)),
        RedeemPlan::Resume(p) => p,
        RedeemPlan::Fresh => {
            let credits = list(&ctx, &auth, asked_at).await?;
            let Some(credit) = credits.next() else {
                let now = rota_store::now_ms();
                store.mutate(|txn| {
                    txn.state
                        .finish_redeem(P, id, "", RedeemCode::NoCredit, automatic, now)?;
                    // The empty list replaces a stale count (the app stops offering a redeem).
                    txn.state.record_reset_credits(P, id, credits.clone())?;
                    Ok::<_, rota_store::StoreError>(())
                })?;
                return Ok(response(RedeemCode::NoCredit, false, Some(0)));
            };
            let intent = PendingRedeem {
                credit_id: credit.id.clone(),
                request_id: request_id(asked_at)?,
                started_at: asked_at,
            };
            store.mutate(|txn| {
                Ok::<_, rota_store::StoreError>(txn.state.begin_redeem(P, id, intent)?)
            })?
        }
    };
    let code = consume(&ctx, &auth, &intent.credit_id, &intent.request_id).await?;
    let now = rota_store::now_ms();
    store.mutate(|txn| {
        txn.state
            .finish_redeem(P, id, &intent.request_id, code, automatic, now)?;
        Ok::<_, rota_store::StoreError>(())
    })?;
    drop(lock);
    tracing::info!(account = %id, code = ?code, "reset credit redeem answered");
    let remaining = record_fetched(&store, id, list(&ctx, &auth, now).await.ok())
        .await
        .map(|c| u32::try_from(c.credits.len()).unwrap_or(u32::MAX));
    Ok(response(code, false, remaining))
}

/// Records a fetched list on the account (count and expiries for `rota auth usage` and the
/// app) and hands it back.
async fn record_fetched(
    store: &std::sync::Arc<rota_store::PoolStore>,
    id: Ulid,
    credits: Option<ResetCredits>,
) -> Option<ResetCredits> {
    let credits = credits?;
    let store = store.clone();
    let recorded = credits.clone();
    let written = tokio::task::spawn_blocking(move || {
        store.mutate(|txn| {
            txn.state.record_reset_credits(P, id, recorded)?;
            Ok::<_, rota_store::StoreError>(())
        })
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!(account = %id, "could not record the reset credits");
    }
    Some(credits)
}

/// Fetches and records an OpenAI account's reset credits (the usage poll calls it after a
/// fresh usage fetch). Failures are logged, never fatal: the credits are extra information.
pub async fn refresh_recorded(tokens: &TokenManager, id: Ulid, now: UnixMs) {
    let fetched = match tokens.access_at(P, id, now).await {
        Ok(auth) => list(tokens.providers(), &auth, now).await,
        Err(e) => Err(e),
    };
    match fetched {
        Ok(c) => {
            record_fetched(tokens.store(), id, Some(c)).await;
        }
        Err(e) => tracing::debug!(account = %id, error = %e, "reset credits not fetched"),
    }
}

/// A fresh request id in UUID form (the redeem endpoint's `redeem_request_id`), from a ULID's
/// 128 bits (80 of them random).
fn request_id(now: UnixMs) -> Result<String, ProviderError> {
    let h = format!("{:032x}", rota_store::new_record_id(now)?.0);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}
