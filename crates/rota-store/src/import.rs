//! Importers: other tools' login files → [`ImportedAccount`]s that
//! [`Store::import_accounts`](crate::Store::import_accounts) (rota-core's upsert) consumes.
//!
//! Formats (docs/providers.md §4): Claude Code `~/.claude/.credentials.json`, Codex CLI
//! `~/.codex/auth.json` (identity from the `id_token` JWT payload, decoded without signature
//! check: it only labels the account), opencode `~/.local/share/opencode/auth.json` (flat v1 map
//! and the seed's v2 pool). Source files are only read, never modified. A shape we do not
//! understand is an error naming the field; error texts never quote values.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rota_core::NewLogin;
use rota_types::{AccountIdentity, DEFAULT_NAMESPACE, ProviderId, UnixMs};
use serde_json::{Map, Value};

use crate::error::{Result, StoreError};
use crate::platform::Host;
use crate::secret::SecretBundle;
use crate::vault::json_error_position;

/// Which tool's login file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportSource {
    ClaudeCode,
    Codex,
    Opencode,
}

impl ImportSource {
    pub const ALL: [ImportSource; 3] = [Self::ClaudeCode, Self::Codex, Self::Opencode];

    /// The CLI name: `claude-code`, `codex`, `opencode`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Codex => "codex",
            Self::Opencode => "opencode",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Where the tool keeps its login on this system ([`Self::path_on`] for this process).
    #[must_use]
    pub fn default_path(self) -> Option<PathBuf> {
        self.path_on(&Host::current())
    }

    /// Where the tool keeps its login on `host`: Claude Code `<config dir>/.credentials.json`
    /// (`$CLAUDE_CONFIG_DIR`, default `~/.claude`; on macOS the fallback of its keychain item),
    /// `$CODEX_HOME/auth.json` (default `~/.codex`), `$XDG_DATA_HOME/opencode/auth.json`
    /// (default `~/.local/share`, on every platform, as opencode does).
    #[must_use]
    pub fn path_on(self, host: &Host) -> Option<PathBuf> {
        match self {
            Self::ClaudeCode => Some(host.claude_config_dir()?.join(".credentials.json")),
            Self::Codex => Some(host.codex_home()?.join("auth.json")),
            Self::Opencode => Some(host.xdg_data_home()?.join("opencode").join("auth.json")),
        }
    }

    /// What to do when the tool has no login to import.
    fn login_hint(self) -> &'static str {
        match self {
            Self::ClaudeCode => {
                "sign in to Claude Code first (run `claude`, then /login), or add the account in Rota with Add account (`rota auth login anthropic`)"
            }
            Self::Codex => {
                "sign in to Codex CLI first (`codex login`), or add the account in Rota with Add account (`rota auth login openai`)"
            }
            Self::Opencode => {
                "sign in to opencode first (`opencode auth login`), or add the account in Rota with Add account"
            }
        }
    }

    fn format_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "Claude Code",
            Self::Codex => "Codex CLI",
            Self::Opencode => "opencode",
        }
    }
}

/// One account found in a login file: identity (what upsert matches on) and secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAccount {
    pub source: ImportSource,
    pub provider: ProviderId,
    pub namespace: String,
    pub identity: AccountIdentity,
    /// A label the file carried (opencode v2), else `None` (upsert picks the e-mail or
    /// `Account N`).
    pub label: Option<String>,
    pub secrets: SecretBundle,
}

impl ImportedAccount {
    /// What rota-core's upsert takes.
    #[must_use]
    pub fn login(&self) -> NewLogin {
        NewLogin {
            identity: self.identity.clone(),
            label: self.label.clone(),
        }
    }
}

/// An entry of the file that is not imported, and why (other providers, API keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub entry: String,
    pub reason: String,
}

/// The result of reading one login file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub accounts: Vec<ImportedAccount>,
    pub skipped: Vec<Skipped>,
}

/// Reads and parses a login file (read-only).
pub fn import_file(source: ImportSource, path: &Path) -> Result<ImportReport> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::ImportMissing {
                path: path.to_owned(),
                tool: source.format_name(),
                hint: source.login_hint(),
            }
        } else {
            StoreError::io("cannot read", path, e)
        }
    })?;
    parse(source, &bytes).map_err(|problem| StoreError::ImportFormat {
        path: path.to_owned(),
        format: source.format_name(),
        problem,
    })
}

/// Parses a login file's content; the error names the offending field.
pub fn parse(source: ImportSource, bytes: &[u8]) -> std::result::Result<ImportReport, String> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not JSON ({})", json_error_position(&e)))?;
    let root = root
        .as_object()
        .ok_or("the top level must be a JSON object")?;
    match source {
        ImportSource::ClaudeCode => Ok(ImportReport {
            accounts: vec![claude_code(root)?],
            skipped: Vec::new(),
        }),
        ImportSource::Codex => Ok(ImportReport {
            accounts: vec![codex(root)?],
            skipped: Vec::new(),
        }),
        ImportSource::Opencode => opencode(root),
    }
}

// ------------------------------------------------------------------ field access

fn obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> std::result::Result<&'a Map<String, Value>, String> {
    match m.get(key) {
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(format!("field `{at}{key}` must be an object")),
        None => Err(format!("missing field `{at}{key}`")),
    }
}

fn string(m: &Map<String, Value>, key: &str, at: &str) -> std::result::Result<String, String> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(format!("field `{at}{key}` is empty")),
        Some(_) => Err(format!("field `{at}{key}` must be a string")),
        None => Err(format!("missing field `{at}{key}`")),
    }
}

fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    at: &str,
) -> std::result::Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("field `{at}{key}` must be a string")),
    }
}

fn opt_ms(
    m: &Map<String, Value>,
    key: &str,
    at: &str,
) -> std::result::Result<Option<UnixMs>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("field `{at}{key}` must be a number of milliseconds")),
        Some(_) => Err(format!(
            "field `{at}{key}` must be a number of milliseconds"
        )),
    }
}

// ------------------------------------------------------------------ Claude Code

/// String fields of Claude Code's `claudeAiOauth` kept as vault extras: (field, extra).
pub const CLAUDE_CODE_EXTRAS: [(&str, &str); 4] = [
    ("organizationUuid", "organization_uuid"),
    ("rateLimitTier", "rate_limit_tier"),
    ("clientId", "client_id"),
    ("subscriptionTypeSource", "subscription_type_source"),
];

fn claude_code(root: &Map<String, Value>) -> std::result::Result<ImportedAccount, String> {
    let o = obj(root, "claudeAiOauth", "")?;
    let at = "claudeAiOauth.";
    let mut secrets = SecretBundle::new(string(o, "accessToken", at)?).with_refresh(string(
        o,
        "refreshToken",
        at,
    )?);
    secrets.expires_at = opt_ms(o, "expiresAt", at)?;
    match o.get("scopes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let scopes: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let scopes = scopes.ok_or(format!("field `{at}scopes` must be a list of strings"))?;
            // Kept for hand-off, which writes the file back with the same scopes.
            secrets = secrets.with_extra("scopes", scopes.join(" "));
        }
        Some(_) => return Err(format!("field `{at}scopes` must be a list of strings")),
    }
    // The rest of Claude Code's login, kept so that a hand-off writes the account's whole login
    // back (vault extras, named as the Anthropic adapter names them).
    for (field, extra) in CLAUDE_CODE_EXTRAS {
        if let Some(v) = opt_string(o, field, at)? {
            secrets = secrets.with_extra(extra, v);
        }
    }
    if let Some(ms) = opt_ms(o, "refreshTokenExpiresAt", at)? {
        secrets = secrets.with_extra("refresh_token_expires_at", ms.to_string());
    }
    let identity = AccountIdentity {
        account_id: opt_string(o, "accountUuid", at)?,
        plan: opt_string(o, "subscriptionType", at)?,
        ..AccountIdentity::default()
    };
    Ok(ImportedAccount {
        source: ImportSource::ClaudeCode,
        provider: ProviderId::Anthropic,
        namespace: DEFAULT_NAMESPACE.to_owned(),
        identity,
        label: None,
        secrets,
    })
}

// ------------------------------------------------------------------ Codex CLI

/// The payload (middle part) of a JWT, base64url-decoded; the signature is not checked.
fn jwt_payload(token: &str, field: &str) -> std::result::Result<Map<String, Value>, String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("field `{field}` is not a JWT"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| format!("field `{field}` is not a JWT (payload is not base64url)"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!(
            "field `{field}` is not a JWT (payload is not a JSON object)"
        )),
    }
}

const OPENAI_AUTH_CLAIM: &str = "https://api.openai.com/auth";

fn codex(root: &Map<String, Value>) -> std::result::Result<ImportedAccount, String> {
    let t = obj(root, "tokens", "")?;
    let at = "tokens.";
    let id_token = string(t, "id_token", at)?;
    let access = string(t, "access_token", at)?;
    let refresh = string(t, "refresh_token", at)?;
    let claims = jwt_payload(&id_token, "tokens.id_token")?;
    let auth = match claims.get(OPENAI_AUTH_CLAIM) {
        Some(Value::Object(a)) => Some(a),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(format!(
                "claim `tokens.id_token.{OPENAI_AUTH_CLAIM}` must be an object"
            ));
        }
    };
    let claim_at = format!("tokens.id_token.{OPENAI_AUTH_CLAIM}.");
    let claim = |key| auth.map_or(Ok(None), |a| opt_string(a, key, &claim_at));
    let account_id = match opt_string(t, "account_id", at)? {
        Some(id) => Some(id),
        None => claim("chatgpt_account_id")?,
    };
    let identity = AccountIdentity {
        account_id,
        email: opt_string(&claims, "email", "tokens.id_token.")?,
        organization: None,
        plan: claim("chatgpt_plan_type")?,
    };
    // The access token is a JWT too; its `exp` (seconds) is the expiry when readable.
    let expires_at = jwt_payload(&access, "tokens.access_token")
        .ok()
        .and_then(|c| c.get("exp").and_then(Value::as_i64))
        .map(|s| s.saturating_mul(1000));
    let mut secrets = SecretBundle::new(access)
        .with_refresh(refresh)
        .with_extra("id_token", id_token);
    secrets.expires_at = expires_at;
    Ok(ImportedAccount {
        source: ImportSource::Codex,
        provider: ProviderId::OpenAi,
        namespace: DEFAULT_NAMESPACE.to_owned(),
        identity,
        label: None,
        secrets,
    })
}

// ------------------------------------------------------------------ opencode

/// opencode's provider ids → ours (`github-copilot-enterprise` is Copilot on an Enterprise host).
fn opencode_provider(id: &str) -> Option<ProviderId> {
    match id {
        "anthropic" => Some(ProviderId::Anthropic),
        "openai" => Some(ProviderId::OpenAi),
        "github-copilot" | "github-copilot-enterprise" => Some(ProviderId::GithubCopilot),
        _ => None,
    }
}

/// One opencode OAuth credential (`refresh`, `access`, `expires`, `accountId?`,
/// `enterpriseUrl?`). For Copilot, opencode keeps the long-lived GitHub token in `refresh` and a
/// short-lived Copilot token in `access`: Rota's Copilot credential is the GitHub token. opencode's
/// own GitHub app logs in with a token the Copilot API takes directly (stored as both `refresh`
/// and `access`, `expires: 0`); such a login is marked [`crate::COPILOT_DIRECT`] so that it is
/// used as it is, never exchanged.
fn opencode_secrets(
    provider: ProviderId,
    o: &Map<String, Value>,
    at: &str,
) -> std::result::Result<(SecretBundle, Option<String>), String> {
    let refresh = string(o, "refresh", at)?;
    let access = opt_string(o, "access", at)?;
    let expires = opt_ms(o, "expires", at)?;
    let mut secrets = if provider == ProviderId::GithubCopilot {
        let direct = access.as_deref() == Some(refresh.as_str());
        let mut s = SecretBundle::new(refresh);
        if direct {
            s = s.with_extra(crate::COPILOT_DIRECT, "1");
        } else if let Some(copilot) = access {
            s = s.with_extra("copilot_token", copilot);
        }
        s
    } else {
        let access = access.ok_or_else(|| format!("missing field `{at}access`"))?;
        let mut s = SecretBundle::new(access).with_refresh(refresh);
        s.expires_at = expires;
        s
    };
    if let Some(url) = opt_string(o, "enterpriseUrl", at)? {
        secrets = secrets.with_extra("enterprise_url", url);
    }
    Ok((secrets, opt_string(o, "accountId", at)?))
}

fn opencode(root: &Map<String, Value>) -> std::result::Result<ImportReport, String> {
    match root.get("version") {
        None => opencode_v1(root),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => opencode_v2(root),
        Some(_) => Err("field `version` must be 2 (the v2 pool) or absent (the v1 map)".to_owned()),
    }
}

fn opencode_v1(root: &Map<String, Value>) -> std::result::Result<ImportReport, String> {
    let mut report = ImportReport::default();
    for (id, entry) in root {
        let Value::Object(o) = entry else {
            return Err(format!("field `{id}` must be an object"));
        };
        let at = format!("{id}.");
        let kind = string(o, "type", &at)?;
        let Some(provider) = opencode_provider(id) else {
            report.skipped.push(Skipped {
                entry: id.clone(),
                reason: "not a provider Rota pools".into(),
            });
            continue;
        };
        if kind != "oauth" {
            report.skipped.push(Skipped {
                entry: id.clone(),
                reason: format!("credential type {kind:?} is not a subscription login"),
            });
            continue;
        }
        let (secrets, account_id) = opencode_secrets(provider, o, &at)?;
        report.accounts.push(ImportedAccount {
            source: ImportSource::Opencode,
            provider,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            identity: AccountIdentity {
                account_id,
                ..AccountIdentity::default()
            },
            label: None,
            secrets,
        });
    }
    Ok(report)
}

fn opencode_v2(root: &Map<String, Value>) -> std::result::Result<ImportReport, String> {
    let mut report = ImportReport::default();
    for (id, entry) in obj(root, "providers", "")? {
        let Value::Object(p) = entry else {
            return Err(format!("field `providers.{id}` must be an object"));
        };
        let at = format!("providers.{id}.");
        let kind = string(p, "type", &at)?;
        let Some(provider) = opencode_provider(id) else {
            report.skipped.push(Skipped {
                entry: id.clone(),
                reason: "not a provider Rota pools".into(),
            });
            continue;
        };
        if kind != "oauth" {
            report.skipped.push(Skipped {
                entry: id.clone(),
                reason: format!("credential type {kind:?} is not a subscription login"),
            });
            continue;
        }
        let records = match p.get("records") {
            Some(Value::Array(r)) => r,
            Some(_) => return Err(format!("field `{at}records` must be a list")),
            None => return Err(format!("missing field `{at}records`")),
        };
        // Imported in rotation order, the active one last so it ends up active (newest wins).
        let mut accounts = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let rat = format!("{at}records[{i}].");
            let Value::Object(r) = record else {
                return Err(format!("field `{at}records[{i}]` must be an object"));
            };
            let record_id = string(r, "id", &rat)?;
            let namespace =
                opt_string(r, "namespace", &rat)?.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
            let label = opt_string(r, "label", &rat)?;
            let (secrets, account_id) = opencode_secrets(provider, r, &rat)?;
            accounts.push((
                record_id,
                ImportedAccount {
                    source: ImportSource::Opencode,
                    provider,
                    namespace,
                    identity: AccountIdentity {
                        account_id,
                        ..AccountIdentity::default()
                    },
                    label,
                    secrets,
                },
            ));
        }
        let order = |ns: &str| -> Vec<String> {
            p.get("order")
                .and_then(|o| o.get(ns))
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let active = |ns: &str| -> Option<String> {
            p.get("active")
                .and_then(|a| a.get(ns))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let rank = |record_id: &str, ns: &str| -> (usize, usize) {
            let is_active = usize::from(active(ns).as_deref() == Some(record_id));
            let pos = order(ns)
                .iter()
                .position(|x| x == record_id)
                .unwrap_or(usize::MAX);
            // Reverse order so the first ordered ends up in front; active last of all.
            (is_active, usize::MAX - pos)
        };
        accounts.sort_by_key(|(rid, a)| rank(rid, &a.namespace));
        report.accounts.extend(accounts.into_iter().map(|(_, a)| a));
    }
    Ok(report)
}
