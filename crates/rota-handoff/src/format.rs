//! The three tools' login formats (docs/providers.md §4): which tokens a file holds for a provider,
//! and the file with the active account written in, every other field and every other provider's
//! entry kept. Parsing reuses the importers of `rota-store`, so import and hand-off read files the
//! same way.
//!
//! - Claude Code: `{"claudeAiOauth": {accessToken, refreshToken, expiresAt (ms), scopes[],
//!   subscriptionType?, …}, …}`.
//! - Codex CLI: `{"tokens": {id_token, access_token, refresh_token, account_id}, "last_refresh":
//!   RFC 3339, …}`.
//! - opencode (v1 flat map): `{<provider>: {type: "oauth", refresh, access, expires (ms),
//!   accountId?, enterpriseUrl?}, …}`; the seed's v2 pool file is refused (it is a pool of its
//!   own, not one login).
//!
//! Key order inside JSON objects is not kept (`serde_json`'s map is sorted); every key and value
//! is.

use rota_store::SecretBundle;
use rota_store::import::{self, ImportSource};
use rota_types::{AccountIdentity, HandoffTool, ProviderId, UnixMs};
use serde_json::{Map, Value, json};

/// What a login file holds for a provider, in the vault's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLogin {
    pub secrets: SecretBundle,
    /// The provider's account id when the file says it (Codex, opencode `accountId`).
    pub account_id: Option<String>,
}

pub(crate) fn source(tool: HandoffTool) -> ImportSource {
    match tool {
        HandoffTool::ClaudeCode => ImportSource::ClaudeCode,
        HandoffTool::Codex => ImportSource::Codex,
        HandoffTool::Opencode => ImportSource::Opencode,
    }
}

/// Whether the tool can hold this provider's login at all.
pub fn supports(tool: HandoffTool, provider: ProviderId) -> bool {
    match tool {
        HandoffTool::ClaudeCode => provider == ProviderId::Anthropic,
        HandoffTool::Codex => provider == ProviderId::OpenAi,
        HandoffTool::Opencode => true,
    }
}

/// The opencode key of a provider's entry.
fn opencode_key(provider: ProviderId, secrets: Option<&SecretBundle>) -> &'static str {
    match provider {
        ProviderId::Anthropic => "anthropic",
        ProviderId::OpenAi => "openai",
        ProviderId::GithubCopilot => {
            if secrets.is_some_and(|s| s.extra("enterprise_url").is_some()) {
                "github-copilot-enterprise"
            } else {
                "github-copilot"
            }
        }
    }
}

/// Parses a file's bytes: the root object (an error text when it is not one).
pub fn parse_root(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the top level is not a JSON object".to_owned()),
        Err(e) => Err(format!(
            "not JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
    }
}

/// The provider's login in a parsed file: `Ok(None)` when the file has no entry for it.
pub fn read_login(
    tool: HandoffTool,
    provider: ProviderId,
    root: &Map<String, Value>,
) -> Result<Option<FileLogin>, String> {
    let present = match tool {
        HandoffTool::ClaudeCode => root.get("claudeAiOauth").is_some_and(|v| !v.is_null()),
        HandoffTool::Codex => root.get("tokens").is_some_and(|v| !v.is_null()),
        HandoffTool::Opencode => {
            if root.contains_key("version") {
                return Err(
                    "it is opencode's v2 account pool, not a single login per provider".to_owned(),
                );
            }
            let keys: &[&str] = match provider {
                ProviderId::GithubCopilot => &["github-copilot", "github-copilot-enterprise"],
                p => &[opencode_key(p, None)],
            };
            keys.iter().any(|k| {
                root.get(*k)
                    .is_some_and(|v| v.get("type").and_then(Value::as_str) == Some("oauth"))
            })
        }
    };
    if !present {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(root).map_err(|e| e.to_string())?;
    let report = import::parse(source(tool), &bytes)?;
    Ok(report
        .accounts
        .into_iter()
        .find(|a| a.provider == provider)
        .map(|a| FileLogin {
            secrets: a.secrets,
            account_id: a.identity.account_id,
        }))
}

/// Codex CLI's `auth.json`: `tokens`, `last_refresh`, and the login type Codex decides by.
fn merge_codex(
    root: &mut Map<String, Value>,
    secrets: &SecretBundle,
    identity: &AccountIdentity,
    access: &str,
    refresh: Option<&str>,
    now: UnixMs,
) -> Result<(), crate::HandoffError> {
    let tool = HandoffTool::Codex;
    let refresh = required(refresh, tool, "refresh token")?;
    let id_token = required(
        secrets.extra("id_token").map(rota_core::Secret::expose),
        tool,
        "id_token",
    )?;
    let t = object_at(root, "tokens");
    t.insert("id_token".into(), json!(id_token));
    t.insert("access_token".into(), json!(access));
    t.insert("refresh_token".into(), json!(refresh));
    match &identity.account_id {
        Some(id) => t.insert("account_id".into(), json!(id)),
        None => t.remove("account_id"),
    };
    root.insert("last_refresh".into(), json!(rfc3339(now)));
    // Codex (0.171) takes the login type from `auth_mode` first, then from a non-null
    // `OPENAI_API_KEY`: an API-key login left behind would win over these tokens.
    root.insert("auth_mode".into(), json!("chatgpt"));
    root.insert("OPENAI_API_KEY".into(), Value::Null);
    Ok(())
}

/// Whether the tool reads the file's login as the kind [`merge`] writes: Codex (0.171) takes
/// the login type from `auth_mode` first, then from a non-null `OPENAI_API_KEY`, so a file with
/// our tokens but `auth_mode: "apikey"` or an API key is not used as a ChatGPT login.
#[must_use]
pub fn login_type_is_current(tool: HandoffTool, root: Option<&Map<String, Value>>) -> bool {
    match (tool, root) {
        (HandoffTool::Codex, Some(root)) => {
            root.get("auth_mode").and_then(Value::as_str) == Some("chatgpt")
                && root.get("OPENAI_API_KEY").is_none_or(Value::is_null)
        }
        _ => true,
    }
}

fn required<'a>(
    value: Option<&'a str>,
    tool: HandoffTool,
    what: &'static str,
) -> Result<&'a str, crate::HandoffError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(crate::HandoffError::MissingSecret {
            tool: tool.display_name(),
            what,
        })
}

fn object_at<'a>(root: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = root
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

/// RFC 3339 with microseconds and `Z`, as Codex CLI writes `last_refresh`.
fn rfc3339(ms: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Claude Code's whole `claudeAiOauth` login of one account, built from that account alone:
/// nothing of the login it replaces survives (Claude Code reads `accountUuid`,
/// `organizationUuid`, `subscriptionType`, `rateLimitTier`, … to decide whether a login is
/// usable, so a mix of two accounts is worse than a missing field).
fn claude_code_login(
    access: &str,
    refresh: &str,
    secrets: &SecretBundle,
    identity: &AccountIdentity,
    now: UnixMs,
) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("accessToken".into(), json!(access));
    o.insert("refreshToken".into(), json!(refresh));
    // Unknown expiry: "expired now" makes Claude Code refresh at once; 0 is what it writes for a
    // login that ended, so never that.
    o.insert(
        "expiresAt".into(),
        json!(secrets.expires_at.filter(|at| *at > 0).unwrap_or(now)),
    );
    if let Some(at) = secrets
        .extra("refresh_token_expires_at")
        .and_then(|v| v.expose().parse::<i64>().ok())
    {
        o.insert("refreshTokenExpiresAt".into(), json!(at));
    }
    let scopes: Vec<&str> = secrets.extra("scopes").map_or_else(
        || {
            vec![
                "user:inference",
                "user:profile",
                "user:sessions:claude_code",
            ]
        },
        |s| s.expose().split_whitespace().collect(),
    );
    o.insert("scopes".into(), json!(scopes));
    if let Some(plan) = &identity.plan {
        o.insert("subscriptionType".into(), json!(plan));
    }
    if let Some(uuid) = &identity.account_id {
        o.insert("accountUuid".into(), json!(uuid));
    }
    for (field, extra) in import::CLAUDE_CODE_EXTRAS {
        if let Some(v) = secrets.extra(extra) {
            o.insert(field.into(), json!(v.expose()));
        }
    }
    o
}

/// The file with `secrets` written in as the provider's login, everything else kept. Refuses
/// (rather than writing an empty or partial credential) when a token the format needs is
/// missing.
pub fn merge(
    tool: HandoffTool,
    provider: ProviderId,
    root: Option<Map<String, Value>>,
    secrets: &SecretBundle,
    identity: &AccountIdentity,
    now: UnixMs,
) -> Result<Map<String, Value>, crate::HandoffError> {
    let mut root = root.unwrap_or_default();
    let access = required(Some(secrets.access_token.expose()), tool, "access token")?;
    let refresh = secrets
        .refresh_token
        .as_ref()
        .map(rota_core::Secret::expose);
    match tool {
        HandoffTool::ClaudeCode => {
            let refresh = required(refresh, tool, "refresh token")?;
            root.insert(
                "claudeAiOauth".into(),
                Value::Object(claude_code_login(access, refresh, secrets, identity, now)),
            );
        }
        HandoffTool::Codex => merge_codex(&mut root, secrets, identity, access, refresh, now)?,
        HandoffTool::Opencode => {
            if root.contains_key("version") {
                return Err(crate::HandoffError::Invalid(
                    "opencode's v2 account pool file is not a hand-off target".to_owned(),
                ));
            }
            let key = opencode_key(provider, Some(secrets));
            // Copilot: opencode keeps the GitHub token in `refresh` and a short-lived Copilot
            // token in `access`; an empty, expired `access` makes it exchange a new one.
            // A login of opencode's own GitHub app holds the GitHub token in both fields.
            let (refresh, access, expires) = if provider == ProviderId::GithubCopilot {
                let copilot = if secrets.extra(rota_store::COPILOT_DIRECT).is_some() {
                    Some(access)
                } else {
                    secrets
                        .extra("copilot_token")
                        .map(rota_core::Secret::expose)
                };
                (
                    access,
                    copilot.unwrap_or(""),
                    if copilot.is_some() {
                        secrets.expires_at.unwrap_or(0)
                    } else {
                        0
                    },
                )
            } else {
                let refresh = required(refresh, tool, "refresh token")?;
                (refresh, access, secrets.expires_at.unwrap_or(0))
            };
            let o = object_at(&mut root, key);
            o.insert("type".into(), json!("oauth"));
            o.insert("refresh".into(), json!(refresh));
            o.insert("access".into(), json!(access));
            o.insert("expires".into(), json!(expires));
            match &identity.account_id {
                Some(id) if provider == ProviderId::OpenAi => {
                    o.insert("accountId".into(), json!(id));
                }
                _ => {
                    o.remove("accountId");
                }
            }
            match secrets.extra("enterprise_url") {
                Some(url) => {
                    o.insert("enterpriseUrl".into(), json!(url.expose()));
                }
                None => {
                    o.remove("enterpriseUrl");
                }
            }
        }
    }
    Ok(root)
}
