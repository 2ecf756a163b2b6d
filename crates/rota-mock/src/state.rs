//! The server's state: accounts, tokens, codes, device flows, scripts and the request log.
//!
//! One `std::sync::Mutex` guards the account tables and one the log; both are held only for
//! map look-ups and never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rota_types::ProviderId;
use tokio::sync::watch;

use crate::model::{
    AccountInfo, Behavior, DeviceInfo, DeviceState, ExpireWhat, LimitWindow, LoggedRequest,
    LoginPlan, MockConfig, MockUrls, NewAccount, Scope, ScriptStep, Usage, Window,
};
use crate::util;

pub(crate) const FIVE_HOURS: i64 = 18_000;
pub(crate) const SEVEN_DAYS: i64 = 604_800;

/// Errors of the control API and of in-process control calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    #[error("unknown account `{0}`")]
    UnknownAccount(String),
    #[error("unknown device code `{0}`")]
    UnknownDeviceCode(String),
    #[error("device code `{0}` is no longer pending")]
    DeviceNotPending(String),
    #[error("account `{account}` belongs to {actual}, not {expected}")]
    WrongProvider {
        account: String,
        expected: ProviderId,
        actual: ProviderId,
    },
}

struct Account {
    info: AccountInfo,
    queue: VecDeque<(Scope, Behavior)>,
    sticky: Option<(Scope, Behavior)>,
}

impl Account {
    /// Next scripted behaviour for an endpoint: the first matching one-shot, else the sticky one.
    fn take_behavior(&mut self, endpoint: Scope) -> Option<Behavior> {
        if let Some(pos) = self.queue.iter().position(|(s, _)| s.matches(endpoint)) {
            return self.queue.remove(pos).map(|(_, b)| b);
        }
        match &self.sticky {
            Some((s, b)) if s.matches(endpoint) => Some(b.clone()),
            _ => None,
        }
    }
}

struct AccessEntry {
    account: usize,
    expires_at: Option<i64>,
}

struct RefreshEntry {
    account: usize,
    access: String,
    used: bool,
    expired: bool,
}

struct PendingCode {
    provider: ProviderId,
    account: usize,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    state: Option<String>,
    expires_at: i64,
}

struct Device {
    info: DeviceInfo,
    account: Option<usize>,
    client_id: String,
    interval: u64,
    last_poll_ms: Option<i64>,
    created_ms: i64,
    expires_at: i64,
    /// OpenAI: the authorization code and verifier handed out once approved.
    openai_code: Option<(String, String, String)>,
}

#[derive(Default)]
struct Inner {
    accounts: Vec<Account>,
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, RefreshEntry>,
    copilot: HashMap<String, AccessEntry>,
    codes: HashMap<String, PendingCode>,
    devices: Vec<Device>,
    logins: HashMap<ProviderId, VecDeque<LoginPlan>>,
    counters: HashMap<ProviderId, u32>,
}

struct Log {
    entries: VecDeque<LoggedRequest>,
}

/// Tokens issued by a login or refresh, with the account they belong to.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
    pub account: AccountInfo,
    /// A scripted `latency` (scope `token`): the answer waits, the refresh already took effect.
    pub latency_ms: Option<u64>,
}

impl Issued {
    pub(crate) async fn wait(&self) {
        if let Some(ms) = self.latency_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
}

/// Why a token request failed.
#[derive(Debug, Clone)]
pub(crate) enum TokenError {
    /// Unknown, mismatched or wrong-verifier authorization code / unknown refresh token.
    InvalidGrant(&'static str),
    InvalidClient,
    Reused,
    Expired,
    /// A scripted behaviour for the account (scope `token`).
    Scripted(Behavior, String),
}

/// A data-plane or usage request that passed authentication.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    pub account: String,
    pub email: String,
    pub plan: String,
    pub chatgpt_account_id: Option<String>,
    pub account_uuid: String,
    pub organization_uuid: Option<String>,
    pub organization_name: Option<String>,
    pub github_login: Option<String>,
    /// GitHub: the credential was an exchanged Copilot token (not the GitHub token itself).
    pub copilot_token: bool,
    /// GitHub: the account's login is of a GitHub app that is used directly.
    pub copilot_direct: bool,
    /// Usage with windows rolled over at `now`.
    pub usage: Usage,
    pub behavior: Option<Behavior>,
    /// Set when the usage itself is exhausted (and no error behaviour was scripted).
    pub auto_limit: Option<(LimitWindow, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFail {
    Missing,
    Unknown,
    Expired,
}

/// Result of polling a device code.
#[derive(Debug, Clone)]
pub(crate) enum DevicePoll {
    Unknown,
    Pending,
    SlowDown(u64),
    Expired,
    Denied,
    /// GitHub: tokens; OpenAI: `(authorization_code, code_challenge, code_verifier)`.
    GithubApproved(Box<Issued>),
    OpenAiApproved(String, String, String),
}

pub(crate) struct Shared {
    pub config: MockConfig,
    pub urls: MockUrls,
    inner: Mutex<Inner>,
    log: Mutex<Log>,
    clock_offset_ms: AtomicI64,
    seq: AtomicU64,
    pub shutdown: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain maps behind; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Rolls a window over when its reset has passed.
fn roll(w: Option<Window>, len: i64, now: i64) -> Option<Window> {
    let mut w = w?;
    match w.resets_at {
        Some(r) if r <= now => {
            let k = (now - r) / len + 1;
            w.resets_at = Some(r + k * len);
            w.utilization = 0.0;
        }
        None => w.resets_at = Some(now + len),
        Some(_) => {}
    }
    w.resets_in_seconds = None;
    Some(w)
}

pub(crate) fn effective_usage(u: &Usage, now: i64) -> Usage {
    Usage {
        five_hour: roll(u.five_hour, FIVE_HOURS, now),
        seven_day: roll(u.seven_day, SEVEN_DAYS, now),
        seven_day_sonnet: roll(u.seven_day_sonnet, SEVEN_DAYS, now),
        seven_day_opus: roll(u.seven_day_opus, SEVEN_DAYS, now),
        scoped: u
            .scoped
            .iter()
            .filter_map(|(m, w)| roll(Some(*w), SEVEN_DAYS, now).map(|w| (m.clone(), w)))
            .collect(),
        ..u.clone()
    }
}

/// Absolute resets from `resets_in_seconds`.
fn normalize_usage(mut u: Usage, now: i64) -> Usage {
    for w in [
        &mut u.five_hour,
        &mut u.seven_day,
        &mut u.seven_day_sonnet,
        &mut u.seven_day_opus,
    ]
    .into_iter()
    .flatten()
    .chain(u.scoped.values_mut())
    {
        if let Some(d) = w.resets_in_seconds.take() {
            w.resets_at = Some(now + d);
        }
    }
    u
}

/// The exhausted window (utilization ≥ 100 %) with the latest reset, if any.
fn exhausted(u: &Usage) -> Option<(LimitWindow, i64)> {
    let mut out: Option<(LimitWindow, i64)> = None;
    for (which, w) in [
        (LimitWindow::FiveHour, u.five_hour),
        (LimitWindow::SevenDay, u.seven_day),
    ] {
        if let Some(w) = w
            && w.utilization >= 100.0
        {
            let reset = w.resets_at.unwrap_or(0);
            if out.is_none_or(|(_, r)| reset > r) {
                out = Some((which, reset));
            }
        }
    }
    out
}

impl Shared {
    pub(crate) fn new(config: MockConfig, base: &str) -> (Self, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let shared = Self {
            config,
            urls: MockUrls::new(base),
            inner: Mutex::new(Inner::default()),
            log: Mutex::new(Log {
                entries: VecDeque::new(),
            }),
            clock_offset_ms: AtomicI64::new(0),
            seq: AtomicU64::new(0),
            shutdown: rx,
        };
        (shared, tx)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        util::wall_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// The server's now in unix seconds (wall clock plus the control API's offset).
    pub(crate) fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub(crate) fn advance_clock(&self, seconds: i64) {
        self.clock_offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::Relaxed);
    }

    // ---------------------------------------------------------------- accounts

    pub(crate) fn add_account(&self, new: NewAccount) -> AccountInfo {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let idx = Self::create_account(&mut inner, new, now);
        self.issue(&mut inner, idx, now).account
    }

    fn create_account(inner: &mut Inner, new: NewAccount, now: i64) -> usize {
        let counter = inner.counters.entry(new.provider).or_insert(0);
        *counter += 1;
        let n = *counter;
        let p = new.provider;
        let (default_email, default_plan) = match p {
            ProviderId::Anthropic => (format!("claude{n}@example.com"), "max"),
            ProviderId::OpenAi => (format!("codex{n}@example.com"), "plus"),
            ProviderId::GithubCopilot => (format!("octo{n}@example.com"), "individual_pro"),
        };
        let email = new.email.unwrap_or(default_email);
        let info = AccountInfo {
            id: format!("{}-{n}", p.as_str()),
            provider: p,
            organization_uuid: (p == ProviderId::Anthropic).then(util::uuid),
            organization_name: (p == ProviderId::Anthropic)
                .then(|| format!("{email}'s Organization")),
            chatgpt_account_id: (p == ProviderId::OpenAi).then(util::uuid),
            github_login: (p == ProviderId::GithubCopilot).then(|| format!("octo-{n}")),
            account_uuid: match p {
                ProviderId::Anthropic => util::uuid(),
                ProviderId::OpenAi => {
                    format!("user-{}", util::random_b64(24).replace(['-', '_'], "x"))
                }
                ProviderId::GithubCopilot => (1_000_000 + u64::from(n)).to_string(),
            },
            email,
            label: new.label,
            plan: new.plan.unwrap_or_else(|| default_plan.to_owned()),
            access_token: String::new(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            usage: normalize_usage(new.usage.unwrap_or_default(), now),
            api_requests: 0,
            copilot_direct: new.copilot_direct,
        };
        inner.accounts.push(Account {
            info,
            queue: VecDeque::new(),
            sticky: None,
        });
        inner.accounts.len() - 1
    }

    /// Issues a fresh token set for an account (login or refresh) and records it as current.
    fn issue(&self, inner: &mut Inner, idx: usize, now: i64) -> Issued {
        let info = &inner.accounts[idx].info;
        let (access, refresh, id_token, expires_in) = match info.provider {
            ProviderId::Anthropic => (
                format!("sk-ant-oat01-{}AA", util::random_b64(93)),
                Some(format!("sk-ant-ort01-{}AA", util::random_b64(93))),
                None,
                Some(self.config.anthropic_expires_in),
            ),
            ProviderId::OpenAi => {
                let exp = now + self.config.openai_expires_in;
                let auth_claim = serde_json::json!({
                    "chatgpt_account_id": info.chatgpt_account_id,
                    "chatgpt_plan_type": info.plan,
                    "chatgpt_user_id": info.account_uuid,
                    "user_id": info.account_uuid,
                });
                let id_token = util::fake_jwt(&serde_json::json!({
                    "iss": self.urls.openai,
                    "aud": [self.config.openai_client_id],
                    "sub": format!("auth0|{}", info.account_uuid),
                    "email": info.email,
                    "email_verified": true,
                    "iat": now,
                    "exp": exp,
                    "auth_time": now,
                    "https://api.openai.com/auth": auth_claim,
                }));
                let access = util::fake_jwt(&serde_json::json!({
                    "iss": self.urls.openai,
                    "aud": ["https://api.openai.com/v1"],
                    "client_id": self.config.openai_client_id,
                    "sub": format!("auth0|{}", info.account_uuid),
                    "iat": now,
                    "exp": exp,
                    "jti": util::uuid(),
                    "scp": ["openid", "profile", "email", "offline_access"],
                    "https://api.openai.com/auth": auth_claim,
                    "https://api.openai.com/profile": {"email": info.email, "email_verified": true},
                }));
                (
                    access,
                    Some(format!("rt_{}", util::random_b64(64))),
                    Some(id_token),
                    Some(self.config.openai_expires_in),
                )
            }
            ProviderId::GithubCopilot => (
                format!("gho_{}", util::random_b64(36).replace(['-', '_'], "0")),
                None,
                None,
                None,
            ),
        };
        let expires_at = expires_in.map(|e| now + e);
        inner.access.insert(
            access.clone(),
            AccessEntry {
                account: idx,
                expires_at,
            },
        );
        if let Some(r) = &refresh {
            inner.refresh.insert(
                r.clone(),
                RefreshEntry {
                    account: idx,
                    access: access.clone(),
                    used: false,
                    expired: false,
                },
            );
        }
        let info = &mut inner.accounts[idx].info;
        info.access_token.clone_from(&access);
        info.refresh_token.clone_from(&refresh);
        info.id_token.clone_from(&id_token);
        info.expires_at = expires_at;
        Issued {
            access,
            refresh,
            id_token,
            expires_in,
            account: info.clone(),
            latency_ms: None,
        }
    }

    /// Account by id, current access token, refresh token (current or used), or email.
    fn resolve(inner: &Inner, key: &str) -> Option<usize> {
        inner
            .accounts
            .iter()
            .position(|a| a.info.id == key)
            .or_else(|| inner.access.get(key).map(|e| e.account))
            .or_else(|| inner.refresh.get(key).map(|e| e.account))
            .or_else(|| inner.accounts.iter().position(|a| a.info.email == key))
    }

    fn resolve_or(inner: &Inner, key: &str) -> Result<usize, MockError> {
        Self::resolve(inner, key).ok_or_else(|| MockError::UnknownAccount(key.to_owned()))
    }

    pub(crate) fn account(&self, key: &str) -> Result<AccountInfo, MockError> {
        let inner = lock(&self.inner);
        Self::resolve_or(&inner, key).map(|i| inner.accounts[i].info.clone())
    }

    pub(crate) fn accounts(&self) -> Vec<AccountInfo> {
        lock(&self.inner)
            .accounts
            .iter()
            .map(|a| a.info.clone())
            .collect()
    }

    pub(crate) fn set_usage(&self, key: &str, usage: Usage) -> Result<AccountInfo, MockError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let i = Self::resolve_or(&inner, key)?;
        inner.accounts[i].info.usage = normalize_usage(usage, now);
        Ok(inner.accounts[i].info.clone())
    }

    /// `wham/rate-limit-reset-credits/consume`, atomically: the same `redeem_request_id` again
    /// answers `already_redeemed`; an unknown, expired or spent credit `no_credit`; windows
    /// with nothing used `nothing_to_reset` (the credit is kept); else both windows are cleared
    /// and the credit is spent (`reset`).
    pub(crate) fn consume_reset_credit(
        &self,
        account: &str,
        credit_id: &str,
        request_id: &str,
    ) -> Result<&'static str, MockError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let i = Self::resolve_or(&inner, account)?;
        let usage = effective_usage(&inner.accounts[i].info.usage, now);
        let info = &mut inner.accounts[i].info;
        if info
            .usage
            .reset_credits
            .iter()
            .any(|c| c.redeemed_by.as_deref() == Some(request_id))
        {
            return Ok("already_redeemed");
        }
        let Some(credit) = info
            .usage
            .reset_credits
            .iter_mut()
            .find(|c| c.id == credit_id && c.redeemed_by.is_none() && c.expires_at > now)
        else {
            return Ok("no_credit");
        };
        let used = [usage.five_hour, usage.seven_day]
            .into_iter()
            .flatten()
            .any(|w| w.utilization > 0.0);
        if !used {
            return Ok("nothing_to_reset");
        }
        credit.redeemed_by = Some(request_id.to_owned());
        let mut cleared = usage;
        for w in [&mut cleared.five_hour, &mut cleared.seven_day]
            .into_iter()
            .flatten()
        {
            w.utilization = 0.0;
        }
        cleared.reset_credits.clone_from(&info.usage.reset_credits);
        info.usage = cleared;
        Ok("reset")
    }

    pub(crate) fn script(&self, key: &str, step: ScriptStep) -> Result<(), MockError> {
        let mut inner = lock(&self.inner);
        let i = Self::resolve_or(&inner, key)?;
        let acct = &mut inner.accounts[i];
        if step.sticky {
            acct.sticky = Some((step.scope, step.behavior));
        } else {
            for _ in 0..step.times {
                acct.queue.push_back((step.scope, step.behavior.clone()));
            }
        }
        Ok(())
    }

    pub(crate) fn clear_script(&self, key: &str) -> Result<(), MockError> {
        let mut inner = lock(&self.inner);
        let i = Self::resolve_or(&inner, key)?;
        inner.accounts[i].queue.clear();
        inner.accounts[i].sticky = None;
        Ok(())
    }

    pub(crate) fn expire(&self, key: &str, what: ExpireWhat) -> Result<AccountInfo, MockError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let i = Self::resolve_or(&inner, key)?;
        let info = inner.accounts[i].info.clone();
        if matches!(what, ExpireWhat::Access | ExpireWhat::Both) {
            if let Some(e) = inner.access.get_mut(&info.access_token) {
                e.expires_at = Some(now - 1);
            }
            if let Some(e) = inner.copilot.values_mut().find(|e| e.account == i) {
                e.expires_at = Some(now - 1);
            }
            inner.accounts[i].info.expires_at = Some(now - 1);
        }
        if matches!(what, ExpireWhat::Refresh | ExpireWhat::Both)
            && let Some(r) = &info.refresh_token
            && let Some(e) = inner.refresh.get_mut(r)
        {
            e.expired = true;
        }
        Ok(inner.accounts[i].info.clone())
    }

    pub(crate) fn push_login(&self, provider: ProviderId, plan: LoginPlan) {
        lock(&self.inner)
            .logins
            .entry(provider)
            .or_default()
            .push_back(plan);
    }

    /// The account a login resolves to: the plan's account, or a new one. `Err` = denied.
    fn login_account(
        inner: &mut Inner,
        provider: ProviderId,
        requested: Option<&str>,
        now: i64,
    ) -> Result<usize, ()> {
        let plan = match requested {
            Some(a) => LoginPlan {
                account: Some(a.to_owned()),
                deny: false,
            },
            None => inner
                .logins
                .get_mut(&provider)
                .and_then(VecDeque::pop_front)
                .unwrap_or_default(),
        };
        if plan.deny {
            return Err(());
        }
        if let Some(key) = plan.account
            && let Some(i) = Self::resolve(inner, &key)
            && inner.accounts[i].info.provider == provider
        {
            return Ok(i);
        }
        Ok(Self::create_account(inner, NewAccount::new(provider), now))
    }

    // ---------------------------------------------------------------- OAuth codes

    /// Authorize: picks the account and stores a code. `None` = the login is denied.
    #[allow(clippy::too_many_arguments)] // mirrors the OAuth authorize parameters one to one
    pub(crate) fn authorize(
        &self,
        provider: ProviderId,
        client_id: &str,
        redirect_uri: &str,
        challenge: &str,
        state: Option<&str>,
        requested_account: Option<&str>,
        deny: bool,
    ) -> Option<String> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        if deny {
            return None;
        }
        let account = Self::login_account(&mut inner, provider, requested_account, now).ok()?;
        let code = util::random_b64(43);
        inner.codes.insert(
            code.clone(),
            PendingCode {
                provider,
                account,
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                challenge: challenge.to_owned(),
                state: state.map(str::to_owned),
                expires_at: now + 600,
            },
        );
        Some(code)
    }

    /// Exchanges an authorization code (single use) after checking client, redirect URI,
    /// state (when the client sends it) and the PKCE verifier.
    pub(crate) fn exchange(
        &self,
        provider: ProviderId,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
        state: Option<&str>,
    ) -> Result<Issued, TokenError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        // A code is consumed by any attempt, as real servers do.
        let pending = inner
            .codes
            .remove(code)
            .ok_or(TokenError::InvalidGrant("Invalid 'code' in request."))?;
        if pending.provider != provider || pending.expires_at < now {
            return Err(TokenError::InvalidGrant("Invalid 'code' in request."));
        }
        if pending.client_id != client_id {
            return Err(TokenError::InvalidClient);
        }
        if pending.redirect_uri != redirect_uri {
            return Err(TokenError::InvalidGrant(
                "Invalid 'redirect_uri' in request.",
            ));
        }
        if let (Some(expected), Some(got)) = (&pending.state, state)
            && expected != got
        {
            return Err(TokenError::InvalidGrant("Invalid 'state' in request."));
        }
        if util::pkce_challenge(verifier) != pending.challenge {
            return Err(TokenError::InvalidGrant("Invalid code verifier."));
        }
        Ok(self.issue(&mut inner, pending.account, now))
    }

    /// Single-use refresh: the old refresh token and the old access token stop working.
    pub(crate) fn refresh(
        &self,
        provider: ProviderId,
        refresh_token: &str,
        client_id: &str,
        expected_client: &str,
    ) -> Result<Issued, TokenError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.refresh.get(refresh_token) else {
            return Err(TokenError::InvalidGrant(
                "Refresh token not found or invalid",
            ));
        };
        let idx = entry.account;
        if inner.accounts[idx].info.provider != provider {
            return Err(TokenError::InvalidGrant(
                "Refresh token not found or invalid",
            ));
        }
        if client_id != expected_client {
            return Err(TokenError::InvalidClient);
        }
        let mut latency_ms = None;
        match inner.accounts[idx].take_behavior(Scope::Token) {
            Some(Behavior::Latency { ms }) => latency_ms = Some(ms),
            Some(b) => {
                let id = inner.accounts[idx].info.id.clone();
                return Err(TokenError::Scripted(b, id));
            }
            None => {}
        }
        let entry = inner.refresh.get_mut(refresh_token).expect("checked above");
        if entry.used {
            return Err(TokenError::Reused);
        }
        if entry.expired {
            return Err(TokenError::Expired);
        }
        entry.used = true;
        let old_access = entry.access.clone();
        inner.access.remove(&old_access);
        let mut issued = self.issue(&mut inner, idx, now);
        issued.latency_ms = latency_ms;
        Ok(issued)
    }

    // ---------------------------------------------------------------- authenticated requests

    /// Checks a provider credential and takes the scripted behaviour for the endpoint.
    pub(crate) fn admit(
        &self,
        provider: ProviderId,
        token: Option<&str>,
        endpoint: Scope,
    ) -> Result<Admitted, AuthFail> {
        let token = token.ok_or(AuthFail::Missing)?;
        let now = self.now();
        let mut inner = lock(&self.inner);
        let copilot_token = provider == ProviderId::GithubCopilot
            && !inner.access.contains_key(token)
            && inner.copilot.contains_key(token);
        let entry = inner
            .access
            .get(token)
            .or_else(|| {
                (provider == ProviderId::GithubCopilot)
                    .then(|| inner.copilot.get(token))
                    .flatten()
            })
            .ok_or(AuthFail::Unknown)?;
        let idx = entry.account;
        if entry.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthFail::Expired);
        }
        let per_request = self.config.usage_per_request;
        let acct = &mut inner.accounts[idx];
        if acct.info.provider != provider {
            return Err(AuthFail::Unknown);
        }
        let behavior = acct.take_behavior(endpoint);
        let usage = effective_usage(&acct.info.usage, now);
        let is_error = behavior.as_ref().is_some_and(|b| {
            !matches!(
                b,
                Behavior::Latency { .. }
                    | Behavior::SlowStream { .. }
                    | Behavior::Stall { .. }
                    | Behavior::Cut { .. }
            )
        });
        let auto_limit =
            if endpoint == Scope::Api && !is_error && provider != ProviderId::GithubCopilot {
                exhausted(&usage)
            } else {
                None
            };
        if endpoint == Scope::Api && !is_error && auto_limit.is_none() {
            acct.info.api_requests += 1;
            if per_request > 0.0 {
                let mut u = usage.clone();
                for w in [&mut u.five_hour, &mut u.seven_day].into_iter().flatten() {
                    w.utilization = (w.utilization + per_request).min(100.0);
                }
                if provider == ProviderId::GithubCopilot {
                    let q = u.credits.as_mut().unwrap_or(&mut u.premium_interactions);
                    if !q.unlimited {
                        q.remaining = (q.remaining - 1).max(0);
                    }
                }
                acct.info.usage = u;
            }
        }
        let info = &acct.info;
        Ok(Admitted {
            account: info.id.clone(),
            email: info.email.clone(),
            plan: info.plan.clone(),
            chatgpt_account_id: info.chatgpt_account_id.clone(),
            account_uuid: info.account_uuid.clone(),
            organization_uuid: info.organization_uuid.clone(),
            organization_name: info.organization_name.clone(),
            github_login: info.github_login.clone(),
            copilot_token,
            copilot_direct: info.copilot_direct,
            usage,
            behavior,
            auto_limit,
        })
    }

    /// GitHub token → Copilot token `(token, expires_at)`; scripted `token` behaviours apply.
    pub(crate) fn copilot_token(
        &self,
        github_token: Option<&str>,
    ) -> Result<(Admitted, Option<(String, i64)>), AuthFail> {
        let admitted = self.admit(ProviderId::GithubCopilot, github_token, Scope::Token)?;
        let is_error = admitted
            .behavior
            .as_ref()
            .is_some_and(|b| !matches!(b, Behavior::Latency { .. }));
        if is_error {
            return Ok((admitted, None));
        }
        let now = self.now();
        let mut inner = lock(&self.inner);
        let Some(idx) = Self::resolve(&inner, &admitted.account) else {
            return Err(AuthFail::Unknown);
        };
        let exp = now + self.config.copilot_token_ttl;
        let token = format!(
            "tid={};exp={exp};sku=copilot_individual_pro;proxy-ep=proxy.individual.githubcopilot.com;st=dotcom;chat=1;8kp=1:{}",
            util::random_hex(32),
            util::random_hex(64)
        );
        inner.copilot.insert(
            token.clone(),
            AccessEntry {
                account: idx,
                expires_at: Some(exp),
            },
        );
        Ok((admitted, Some((token, exp))))
    }

    // ---------------------------------------------------------------- device flows

    pub(crate) fn device_start(
        &self,
        provider: ProviderId,
        client_id: &str,
    ) -> (DeviceInfo, u64, i64) {
        let now_ms = self.now_ms();
        let device_code = match provider {
            ProviderId::OpenAi => format!("deviceauth_{}", util::random_b64(32)),
            _ => util::random_hex(40),
        };
        let info = DeviceInfo {
            provider,
            device_code,
            user_code: util::user_code(),
            state: DeviceState::Pending,
            account: None,
            polls: 0,
        };
        let expires_in = self.config.device_expires_in_secs;
        lock(&self.inner).devices.push(Device {
            info: info.clone(),
            account: None,
            client_id: client_id.to_owned(),
            interval: self.config.device_interval_secs,
            last_poll_ms: None,
            created_ms: now_ms,
            expires_at: now_ms.div_euclid(1000) + expires_in,
            openai_code: None,
        });
        (info, self.config.device_interval_secs, expires_in)
    }

    pub(crate) fn devices(&self) -> Vec<DeviceInfo> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        inner
            .devices
            .iter_mut()
            .map(|d| {
                Self::refresh_expiry(d, now);
                d.info.clone()
            })
            .collect()
    }

    fn refresh_expiry(d: &mut Device, now: i64) {
        if matches!(d.info.state, DeviceState::Pending | DeviceState::Approved)
            && d.expires_at <= now
        {
            d.info.state = DeviceState::Expired;
        }
    }

    /// Control: approve (for `account`, or the queued login plan, or a new account), deny or
    /// expire a device code found by user code or device code.
    pub(crate) fn device_action(
        &self,
        code: &str,
        action: DeviceState,
        account: Option<&str>,
    ) -> Result<DeviceInfo, MockError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let Some(pos) = inner
            .devices
            .iter()
            .position(|d| d.info.user_code == code || d.info.device_code == code)
        else {
            return Err(MockError::UnknownDeviceCode(code.to_owned()));
        };
        Self::refresh_expiry(&mut inner.devices[pos], now);
        if inner.devices[pos].info.state != DeviceState::Pending {
            return Err(MockError::DeviceNotPending(code.to_owned()));
        }
        match action {
            DeviceState::Approved => {
                let provider = inner.devices[pos].info.provider;
                if let Some(key) = account {
                    let i = Self::resolve_or(&inner, key)?;
                    let actual = inner.accounts[i].info.provider;
                    if actual != provider {
                        return Err(MockError::WrongProvider {
                            account: key.to_owned(),
                            expected: provider,
                            actual,
                        });
                    }
                }
                match Self::login_account(&mut inner, provider, account, now) {
                    Ok(i) => self.approve_device(&mut inner, pos, i, now),
                    Err(()) => inner.devices[pos].info.state = DeviceState::Denied,
                }
            }
            DeviceState::Expired => inner.devices[pos].info.state = DeviceState::Expired,
            _ => inner.devices[pos].info.state = DeviceState::Denied,
        }
        Ok(inner.devices[pos].info.clone())
    }

    fn approve_device(&self, inner: &mut Inner, pos: usize, account: usize, now: i64) {
        let id = inner.accounts[account].info.id.clone();
        let provider = inner.devices[pos].info.provider;
        if provider == ProviderId::OpenAi {
            let verifier = util::random_b64(64);
            let challenge = util::pkce_challenge(&verifier);
            let code = util::random_b64(43);
            inner.codes.insert(
                code.clone(),
                PendingCode {
                    provider,
                    account,
                    client_id: self.config.openai_client_id.clone(),
                    redirect_uri: format!("{}/deviceauth/callback", self.urls.openai),
                    challenge: challenge.clone(),
                    state: None,
                    expires_at: now + 600,
                },
            );
            inner.devices[pos].openai_code = Some((code, challenge, verifier));
        }
        let d = &mut inner.devices[pos];
        d.account = Some(account);
        d.info.account = Some(id);
        d.info.state = DeviceState::Approved;
    }

    /// A client polls a device code. GitHub answers `slow_down` when polled faster than the
    /// interval (and raises the interval); OpenAI only distinguishes pending/approved.
    pub(crate) fn device_poll(
        &self,
        provider: ProviderId,
        device_code: &str,
        client_id: Option<&str>,
    ) -> DevicePoll {
        let now_ms = self.now_ms();
        let now = now_ms.div_euclid(1000);
        let mut inner = lock(&self.inner);
        let Some(pos) = inner
            .devices
            .iter()
            .position(|d| d.info.provider == provider && d.info.device_code == device_code)
        else {
            return DevicePoll::Unknown;
        };
        if let Some(c) = client_id
            && inner.devices[pos].client_id != c
        {
            return DevicePoll::Unknown;
        }
        Self::refresh_expiry(&mut inner.devices[pos], now);
        inner.devices[pos].info.polls += 1;
        if provider == ProviderId::GithubCopilot {
            let d = &mut inner.devices[pos];
            let last = d.last_poll_ms.replace(now_ms);
            if d.info.state == DeviceState::Pending
                && let Some(last) = last
                && now_ms - last < i64::try_from(d.interval * 1000).unwrap_or(i64::MAX)
            {
                d.interval += self.config.slow_down_increment_secs;
                return DevicePoll::SlowDown(d.interval);
            }
        }
        if inner.devices[pos].info.state == DeviceState::Pending
            && let Some(after) = self.config.device_auto_approve_after_ms
            && now_ms - inner.devices[pos].created_ms >= i64::try_from(after).unwrap_or(i64::MAX)
        {
            if let Ok(i) = Self::login_account(&mut inner, provider, None, now) {
                self.approve_device(&mut inner, pos, i, now);
            } else {
                inner.devices[pos].info.state = DeviceState::Denied;
            }
        }
        match inner.devices[pos].info.state {
            DeviceState::Pending => DevicePoll::Pending,
            DeviceState::Expired | DeviceState::Consumed => DevicePoll::Expired,
            DeviceState::Denied => DevicePoll::Denied,
            DeviceState::Approved => {
                inner.devices[pos].info.state = DeviceState::Consumed;
                if provider == ProviderId::OpenAi {
                    let (code, challenge, verifier) =
                        inner.devices[pos].openai_code.clone().unwrap_or_default();
                    DevicePoll::OpenAiApproved(code, challenge, verifier)
                } else {
                    let account = inner.devices[pos].account.unwrap_or_default();
                    DevicePoll::GithubApproved(Box::new(self.issue(&mut inner, account, now)))
                }
            }
        }
    }

    // ---------------------------------------------------------------- log

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn push_log(&self, entry: LoggedRequest) {
        let cap = self.config.log_capacity;
        if cap == 0 {
            return;
        }
        let mut log = lock(&self.log);
        while log.entries.len() >= cap {
            log.entries.pop_front();
        }
        log.entries.push_back(entry);
    }

    pub(crate) fn log(&self) -> Vec<LoggedRequest> {
        lock(&self.log).entries.iter().cloned().collect()
    }

    pub(crate) fn clear_log(&self) {
        lock(&self.log).entries.clear();
    }

    /// Forgets everything: accounts, tokens, codes, devices, scripts, the log, the clock offset.
    pub(crate) fn reset(&self) {
        *lock(&self.inner) = Inner::default();
        self.clear_log();
        self.clock_offset_ms.store(0, Ordering::Relaxed);
    }
}
