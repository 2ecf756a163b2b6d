//! Rota's configuration file (docs/product.md §8): `config.toml` in the config directory
//! (`$ROTA_HOME/config.toml` when `ROTA_HOME` is set, as for every other file in tests; else
//! `<platform config dir>/rota/config.toml`). A missing file means defaults; environment
//! variables override the file. Values users toggle at runtime (hand-off, proactive on/off)
//! live in the store instead, so every running process sees a change at once.
//!
//! ```toml
//! [gateway]
//! port = 4141
//! max_connections = 256
//! header_timeout_secs = 30
//! upstream_header_timeout_secs = 600  # wait for a provider's response headers
//! stream_idle_timeout_secs = 300      # a response stream that sends nothing this long ends
//!
//! [cooldown]
//! default_secs = 30   # a 429 without reset information
//! auth_secs = 300     # a refused token
//!
//! [proactive]         # thresholds; on/off is per provider (`rota auth proactive`)
//! threshold = 95.0
//! hysteresis = 10.0
//! min_dwell_secs = 600
//! max_usage_age_secs = 1800
//!
//! [polling]
//! enabled = true
//! interval_secs = 300
//!
//! [providers.anthropic]   # any `ROTA_ANTHROPIC_*` variable of rota-providers, lower-case
//! api_base = "https://api.anthropic.com"
//! plan_limits_only = true  # never let a request be billed as paid extra usage
//! clients = "claude-code"  # who the gateway's Anthropic route serves: "claude-code" or "any"
//! [providers.openai]
//! issuer = "https://auth.openai.com"
//! auto_redeem = false     # redeem a reset credit when every account is exhausted
//! [providers.github]
//! copilot_api_base = "https://api.githubcopilot.com"
//! ```
//!
//! Boundaries: parsing, range checks ([`LIMITS`]) and precedence only; the crates that use a
//! value keep their own defaults (a value absent here means "theirs"). Every number is checked
//! against its range when read, so a value the code cannot use (a connection cap of 2^63, a
//! timeout past the clock's range) is an error naming the file and key, or the variable,
//! before anything starts.

pub mod env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file name inside the config directory.
pub const FILE_NAME: &str = "config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a value of the wrong type; names the place.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// An environment variable that does not parse or is out of range.
    #[error("{name} must be {expected}, not {value:?}")]
    Env {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// The range of one numeric setting: its place in the file, its variable, what it must be.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub section: &'static str,
    pub key: &'static str,
    pub env: Option<&'static str>,
    pub min: f64,
    pub max: f64,
    /// Said in the error, e.g. "a whole number from 1 to 100000".
    pub expected: &'static str,
}

const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;

/// Every numeric setting's range (the port's is its type's).
pub const LIMITS: &[Limit] = &[
    Limit {
        section: "gateway",
        key: "max_connections",
        env: None,
        min: 1.0,
        max: 100_000.0,
        expected: "a number of connections from 1 to 100000",
    },
    Limit {
        section: "gateway",
        key: "header_timeout_secs",
        env: None,
        min: 1.0,
        max: 3_600.0,
        expected: "a number of seconds from 1 to 3600",
    },
    Limit {
        section: "gateway",
        key: "upstream_header_timeout_secs",
        env: Some(crate::env::UPSTREAM_HEADER_TIMEOUT_SECS),
        min: 1.0,
        max: DAY,
        expected: "a number of seconds from 1 to 86400",
    },
    Limit {
        section: "gateway",
        key: "stream_idle_timeout_secs",
        env: Some(crate::env::STREAM_IDLE_TIMEOUT_SECS),
        min: 1.0,
        max: DAY,
        expected: "a number of seconds from 1 to 86400",
    },
    Limit {
        section: "cooldown",
        key: "default_secs",
        env: Some(crate::env::COOLDOWN_DEFAULT_SECS),
        min: 0.0,
        max: WEEK,
        expected: "a number of seconds from 0 to 604800",
    },
    Limit {
        section: "cooldown",
        key: "auth_secs",
        env: Some(crate::env::COOLDOWN_AUTH_SECS),
        min: 0.0,
        max: WEEK,
        expected: "a number of seconds from 0 to 604800",
    },
    Limit {
        section: "proactive",
        key: "threshold",
        env: Some(crate::env::PROACTIVE_THRESHOLD),
        min: f64::MIN_POSITIVE,
        max: 100.0,
        expected: "a percentage above 0 and at most 100",
    },
    Limit {
        section: "proactive",
        key: "hysteresis",
        env: Some(crate::env::PROACTIVE_HYSTERESIS),
        min: 0.0,
        max: 100.0,
        expected: "a number of points from 0 to 100",
    },
    Limit {
        section: "proactive",
        key: "min_dwell_secs",
        env: Some(crate::env::PROACTIVE_DWELL_SECS),
        min: 0.0,
        max: WEEK,
        expected: "a number of seconds from 0 to 604800",
    },
    Limit {
        section: "proactive",
        key: "max_usage_age_secs",
        env: Some(crate::env::PROACTIVE_MAX_USAGE_AGE_SECS),
        min: 1.0,
        max: WEEK,
        expected: "a number of seconds from 1 to 604800",
    },
    Limit {
        section: "polling",
        key: "interval_secs",
        env: Some(crate::env::USAGE_POLL_SECS),
        min: 1.0,
        max: DAY,
        expected: "a number of seconds from 1 to 86400",
    },
];

impl Limit {
    fn allows(&self, value: f64) -> bool {
        value.is_finite() && value >= self.min && value <= self.max
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gateway {
    pub port: Option<u16>,
    /// Open connections the gateway accepts at once (one more gets a 503).
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers (also the keep-alive idle limit).
    pub header_timeout_secs: Option<u64>,
    /// Seconds the gateway waits for a provider's response headers before answering `504`.
    pub upstream_header_timeout_secs: Option<u64>,
    /// Seconds a response stream may send nothing before the gateway ends it with an error.
    pub stream_idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cooldown {
    pub default_secs: Option<u64>,
    pub auth_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Proactive {
    pub threshold: Option<f64>,
    pub hysteresis: Option<f64>,
    pub min_dwell_secs: Option<u64>,
    pub max_usage_age_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Polling {
    pub enabled: Option<bool>,
    pub interval_secs: Option<u64>,
}

/// The whole file. Every value is optional: `None` = the using crate's default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub gateway: Gateway,
    pub cooldown: Cooldown,
    pub proactive: Proactive,
    pub polling: Polling,
    /// `[providers.<anthropic|openai|github>]`: upstream URLs and ids by their
    /// rota-providers variable name without the `ROTA_<PROVIDER>_` prefix, lower-case; and
    /// the flag `[providers.openai] auto_redeem`.
    /// Values may be strings, booleans or numbers (`plan_limits_only = false`); they reach
    /// rota-providers as the text of the matching variable.
    pub providers: BTreeMap<String, BTreeMap<String, ProviderValue>>,
}

/// A `[providers.*]` value: the text its `ROTA_*` variable would hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ProviderValue {
    Text(String),
    Bool(bool),
    Integer(i64),
}

impl ProviderValue {
    #[must_use]
    pub fn as_text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Integer(n) => n.to_string(),
        }
    }
}

const AUTO_REDEEM_KEY: &str = "auto_redeem";

/// Where the config file is: `$ROTA_HOME/config.toml`, else `<config dir>/rota/config.toml`.
#[must_use]
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os(crate::env::HOME) {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home).join(FILE_NAME)),
        _ => dirs::config_dir().map(|d| d.join("rota").join(FILE_NAME)),
    }
}

impl Config {
    /// The file at [`config_path`] (missing = defaults) with the process environment applied.
    pub fn load() -> Result<Self, ConfigError> {
        let mut config = match config_path() {
            Some(path) => Self::read(&path)?,
            None => Self::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// One file; a missing file is the defaults.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses TOML text and checks every value's range; the error says where and what.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if let Some((limit, value)) = config.out_of_range() {
            return Err(format!(
                "[{}] {} = {value}: must be {}",
                limit.section, limit.key, limit.expected
            ));
        }
        for (section, values) in &config.providers {
            if !matches!(section.as_str(), "anthropic" | "openai" | "github") {
                return Err(format!(
                    "unknown section [providers.{section}] (anthropic, openai or github)"
                ));
            }
            if let Some(key) = values.keys().find(|k| !is_var_part(k)) {
                return Err(format!("[providers.{section}] has an invalid key {key:?}"));
            }
            if section == "openai"
                && let Some(value) = values.get(AUTO_REDEEM_KEY)
                && !matches!(value, ProviderValue::Bool(_))
            {
                return Err(format!(
                    "[providers.{section}] {AUTO_REDEEM_KEY} must be true or false"
                ));
            }
        }
        Ok(config)
    }

    /// Every numeric value with its [`Limit`] (the fields of [`LIMITS`], in its order).
    fn numbers(&self) -> [Option<f64>; 11] {
        #[allow(clippy::cast_precision_loss)] // a range check: 2^63 as f64 is still over it
        let n = |v: Option<u64>| v.map(|v| v as f64);
        #[allow(clippy::cast_precision_loss)]
        let c = self.gateway.max_connections.map(|v| v as f64);
        [
            c,
            n(self.gateway.header_timeout_secs),
            n(self.gateway.upstream_header_timeout_secs),
            n(self.gateway.stream_idle_timeout_secs),
            n(self.cooldown.default_secs),
            n(self.cooldown.auth_secs),
            self.proactive.threshold,
            self.proactive.hysteresis,
            n(self.proactive.min_dwell_secs),
            n(self.proactive.max_usage_age_secs),
            n(self.polling.interval_secs),
        ]
    }

    /// The first value outside its range, with its limit.
    fn out_of_range(&self) -> Option<(&'static Limit, String)> {
        LIMITS.iter().zip(self.numbers()).find_map(|(limit, v)| {
            v.filter(|v| !limit.allows(*v))
                .map(|v| (limit, v.to_string()))
        })
    }

    /// Environment overrides (any variable source, for tests): `ROTA_GATEWAY_PORT`,
    /// `ROTA_COOLDOWN_DEFAULT_SECS`, `ROTA_COOLDOWN_AUTH_SECS`, `ROTA_PROACTIVE_THRESHOLD`,
    /// `ROTA_PROACTIVE_HYSTERESIS`, `ROTA_PROACTIVE_DWELL_SECS`,
    /// `ROTA_PROACTIVE_MAX_USAGE_AGE_SECS`, `ROTA_USAGE_POLLING` (`on`/`off`),
    /// `ROTA_USAGE_POLL_SECS`, `ROTA_UPSTREAM_HEADER_TIMEOUT_SECS`,
    /// `ROTA_STREAM_IDLE_TIMEOUT_SECS`. Empty values are ignored; malformed or out-of-range
    /// ones are errors naming the variable (the file's values were checked when read).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get(crate::env::GATEWAY_PORT) {
            self.gateway.port = Some(parse(
                crate::env::GATEWAY_PORT,
                "a port number (0-65535)",
                v,
            )?);
        }
        let secs = "a number of seconds";
        if let Some(v) = get(crate::env::UPSTREAM_HEADER_TIMEOUT_SECS) {
            self.gateway.upstream_header_timeout_secs =
                Some(parse(crate::env::UPSTREAM_HEADER_TIMEOUT_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::STREAM_IDLE_TIMEOUT_SECS) {
            self.gateway.stream_idle_timeout_secs =
                Some(parse(crate::env::STREAM_IDLE_TIMEOUT_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::COOLDOWN_DEFAULT_SECS) {
            self.cooldown.default_secs = Some(parse(crate::env::COOLDOWN_DEFAULT_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::COOLDOWN_AUTH_SECS) {
            self.cooldown.auth_secs = Some(parse(crate::env::COOLDOWN_AUTH_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::PROACTIVE_THRESHOLD) {
            self.proactive.threshold =
                Some(parse(crate::env::PROACTIVE_THRESHOLD, "a percentage", v)?);
        }
        if let Some(v) = get(crate::env::PROACTIVE_HYSTERESIS) {
            self.proactive.hysteresis = Some(parse(
                crate::env::PROACTIVE_HYSTERESIS,
                "a number of points",
                v,
            )?);
        }
        if let Some(v) = get(crate::env::PROACTIVE_DWELL_SECS) {
            self.proactive.min_dwell_secs = Some(parse(crate::env::PROACTIVE_DWELL_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::PROACTIVE_MAX_USAGE_AGE_SECS) {
            self.proactive.max_usage_age_secs =
                Some(parse(crate::env::PROACTIVE_MAX_USAGE_AGE_SECS, secs, v)?);
        }
        if let Some(v) = get(crate::env::USAGE_POLLING) {
            self.polling.enabled = Some(match v.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => true,
                "off" | "false" | "0" | "no" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: crate::env::USAGE_POLLING,
                        expected: "on or off",
                        value: v,
                    });
                }
            });
        }
        if let Some(on) = auto_redeem_env(&get)? {
            self.providers
                .entry("openai".to_owned())
                .or_default()
                .insert(AUTO_REDEEM_KEY.to_owned(), ProviderValue::Bool(on));
        }
        if let Some(v) = get(crate::env::USAGE_POLL_SECS) {
            self.polling.interval_secs = Some(parse(crate::env::USAGE_POLL_SECS, secs, v)?);
        }
        // Only what the environment set can be out of range here: a file's values were
        // checked when it was read, and an error must name where the value came from.
        for limit in LIMITS {
            let Some(name) = limit.env else { continue };
            let Some(raw) = get(name) else { continue };
            if let Some((bad, _)) = self.out_of_range()
                && (bad.section, bad.key) == (limit.section, limit.key)
            {
                return Err(ConfigError::Env {
                    name,
                    expected: limit.expected,
                    value: raw,
                });
            }
        }
        Ok(())
    }

    /// The file's value for a rota-providers variable (`ROTA_ANTHROPIC_API_BASE` ←
    /// `[providers.anthropic] api_base`; `ROTA_COPILOT_API_BASE` ← `[providers.github]
    /// copilot_api_base`). Layer it under the environment:
    /// `cfg.apply_vars(|k| std::env::var(k).ok().or_else(|| config.provider_var(k)))`.
    #[must_use]
    pub fn provider_var(&self, name: &str) -> Option<String> {
        let (section, key) = if let Some(key) = name.strip_prefix(crate::env::COPILOT_PREFIX) {
            ("github", format!("copilot_{key}"))
        } else {
            let rest = name.strip_prefix(crate::env::PREFIX)?;
            let (section, key) = rest.split_once('_')?;
            (
                match section {
                    "ANTHROPIC" => "anthropic",
                    "OPENAI" => "openai",
                    "GITHUB" => "github",
                    _ => return None,
                },
                key.to_owned(),
            )
        };
        self.providers
            .get(section)?
            .get(&key.to_ascii_lowercase())
            .map(ProviderValue::as_text)
    }

    /// Whether Rota redeems an OpenAI reset credit on its own when every account of the pool
    /// is exhausted: `[providers.openai] auto_redeem`, overridden by `ROTA_OPENAI_AUTO_REDEEM`
    /// (applied by [`Config::load`]); off by default.
    #[must_use]
    pub fn auto_redeem(&self) -> bool {
        matches!(
            self.providers
                .get("openai")
                .and_then(|s| s.get(AUTO_REDEEM_KEY)),
            Some(ProviderValue::Bool(true))
        )
    }
}

/// Where a long-running host reads the automatic-redeem setting each time it matters (the
/// rare moment a pool runs dry), so a toggle in the app or the CLI — a write to the file —
/// reaches every running gateway without a restart. The environment, fixed for a process's
/// life, is read once and wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoRedeemSource {
    /// The config file (`None`: only the environment counts).
    pub file: Option<PathBuf>,
    /// `ROTA_OPENAI_AUTO_REDEEM`, when set.
    pub env: Option<bool>,
}

impl AutoRedeemSource {
    /// This process's: [`config_path`] and its environment.
    pub fn process() -> Result<Self, ConfigError> {
        Ok(Self {
            file: config_path(),
            env: auto_redeem_env(&|k| std::env::var(k).ok())?,
        })
    }

    /// The setting now.
    pub fn enabled(&self) -> Result<bool, ConfigError> {
        if let Some(on) = self.env {
            return Ok(on);
        }
        match &self.file {
            Some(path) => Ok(Config::read(path)?.auto_redeem()),
            None => Ok(false),
        }
    }
}

/// `ROTA_OPENAI_AUTO_REDEEM` (`on`/`off`, `true`/`false`, `1`/`0`), when set.
pub fn auto_redeem_env(get: &impl Fn(&str) -> Option<String>) -> Result<Option<bool>, ConfigError> {
    let Some(v) = get(crate::env::OPENAI_AUTO_REDEEM).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(Some(true)),
        "off" | "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(ConfigError::Env {
            name: crate::env::OPENAI_AUTO_REDEEM,
            expected: "on or off",
            value: v,
        }),
    }
}

/// The text of the config file at `path` (empty when missing) with `[providers.openai]
/// auto_redeem` set, keeping the rest as written (comments, order); a file that does not parse
/// is an error. The caller writes it durably (rota-providers' `reset_credits::set_auto_redeem`
/// through rota-store), so a reader never sees half of it.
pub fn with_auto_redeem(path: &Path, on: bool) -> Result<String, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    Config::parse(&text).map_err(parse_error)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| parse_error(e.to_string().trim().to_owned()))?;
    let providers = doc
        .entry("providers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| parse_error("[providers] is not a table".to_owned()))?;
    let openai = providers
        .entry("openai")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .ok_or_else(|| parse_error("[providers.openai] is not a table".to_owned()))?;
    openai[AUTO_REDEEM_KEY] = toml_edit::value(on);
    let out = doc.to_string();
    Config::parse(&out).map_err(parse_error)?;
    Ok(out)
}

/// An environment value, or an error naming the variable and what it must be.
fn parse<T: std::str::FromStr>(
    name: &'static str,
    expected: &'static str,
    value: String,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name,
        expected,
        value,
    })
}

fn is_var_part(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
