//! The config file from a real file in a temporary directory, and the environment over it.

use std::collections::HashMap;

use rota_config::{Config, ConfigError};

const FULL: &str = r#"
[gateway]
port = 5151
max_connections = 64
header_timeout_secs = 10

[cooldown]
default_secs = 45
auth_secs = 600

[proactive]
threshold = 90.0
hysteresis = 5.0
min_dwell_secs = 120
max_usage_age_secs = 900

[polling]
enabled = false
interval_secs = 600

[providers.anthropic]
plan_limits_only = false
clients = "any"
api_base = "https://proxy.example/anthropic"
token_url = "https://proxy.example/oauth/token"

[providers.github]
copilot_api_base = "https://copilot.example"
api_base = "https://ghe.example/api/v3"
"#;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn a_missing_file_is_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::read(&dir.path().join("config.toml")).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.gateway.port, None);
}

#[test]
fn every_section_reads_and_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, FULL).unwrap();
    let mut c = Config::read(&path).unwrap();
    assert_eq!(c.gateway.port, Some(5151));
    assert_eq!(c.gateway.max_connections, Some(64));
    assert_eq!(c.gateway.header_timeout_secs, Some(10));
    assert_eq!(c.cooldown.default_secs, Some(45));
    assert_eq!(c.cooldown.auth_secs, Some(600));
    assert_eq!(c.proactive.threshold, Some(90.0));
    assert_eq!(c.proactive.min_dwell_secs, Some(120));
    assert_eq!(c.polling.enabled, Some(false));
    assert_eq!(c.polling.interval_secs, Some(600));
    assert_eq!(
        c.provider_var("ROTA_ANTHROPIC_API_BASE").as_deref(),
        Some("https://proxy.example/anthropic")
    );
    assert_eq!(
        c.provider_var("ROTA_ANTHROPIC_TOKEN_URL").as_deref(),
        Some("https://proxy.example/oauth/token")
    );
    assert_eq!(
        c.provider_var("ROTA_COPILOT_API_BASE").as_deref(),
        Some("https://copilot.example")
    );
    assert_eq!(
        c.provider_var("ROTA_GITHUB_API_BASE").as_deref(),
        Some("https://ghe.example/api/v3")
    );
    assert_eq!(
        c.provider_var("ROTA_ANTHROPIC_PLAN_LIMITS_ONLY").as_deref(),
        Some("false"),
        "a TOML boolean reaches rota-providers as its variable's text"
    );
    assert_eq!(
        c.provider_var("ROTA_ANTHROPIC_CLIENTS").as_deref(),
        Some("any")
    );
    assert_eq!(c.provider_var("ROTA_OPENAI_ISSUER"), None);
    assert_eq!(c.provider_var("HOME"), None);

    c.apply_env(env(&[
        ("ROTA_GATEWAY_PORT", "6000"),
        ("ROTA_PROACTIVE_THRESHOLD", " 97.5 "),
        ("ROTA_USAGE_POLLING", "on"),
        ("ROTA_COOLDOWN_AUTH_SECS", ""), // empty: ignored
    ]))
    .unwrap();
    assert_eq!(c.gateway.port, Some(6000));
    assert_eq!(c.proactive.threshold, Some(97.5));
    assert_eq!(c.polling.enabled, Some(true));
    assert_eq!(c.cooldown.auth_secs, Some(600));
}

#[test]
fn mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for (text, needle) in [
        ("[gateway]\nport = \"http\"\n", "port"),
        ("[gateway]\nprot = 1\n", "prot"),
        ("[providers.gitlab]\napi_base = \"x\"\n", "providers.gitlab"),
        ("[providers.openai]\n\"Issuer URL\" = \"x\"\n", "Issuer URL"),
        ("[gateway\n", "config.toml"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Config::read(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    let mut c = Config::default();
    for (name, value) in [
        ("ROTA_GATEWAY_PORT", "70000"),
        ("ROTA_USAGE_POLLING", "sometimes"),
        ("ROTA_PROACTIVE_THRESHOLD", "150"),
        ("ROTA_PROACTIVE_DWELL_SECS", "-1"),
    ] {
        let err = c.apply_env(env(&[(name, value)])).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        c = Config::default();
    }
}

/// Out-of-range values, one per line: the file's error names the file and the key, the
/// environment's the variable; nothing reaches the code that would panic on it.
#[test]
fn every_value_is_range_checked_with_a_message_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for (section, key, bad) in [
        ("gateway", "max_connections", "9223372036854775807"),
        ("gateway", "max_connections", "0"),
        ("gateway", "header_timeout_secs", "18446744073709551615"),
        ("gateway", "header_timeout_secs", "0"),
        ("gateway", "upstream_header_timeout_secs", "0"),
        (
            "gateway",
            "upstream_header_timeout_secs",
            "9223372036854775807",
        ),
        ("gateway", "stream_idle_timeout_secs", "0"),
        ("gateway", "stream_idle_timeout_secs", "100000000"),
        ("cooldown", "default_secs", "18446744073709551615"),
        ("cooldown", "auth_secs", "99999999999"),
        ("proactive", "threshold", "150.0"),
        ("proactive", "threshold", "0.0"),
        ("proactive", "threshold", "-5.0"),
        ("proactive", "threshold", "nan"),
        ("proactive", "hysteresis", "200.0"),
        ("proactive", "min_dwell_secs", "18446744073709551615"),
        ("proactive", "max_usage_age_secs", "0"),
        ("polling", "interval_secs", "0"),
    ] {
        std::fs::write(&path, format!("[{section}]\n{key} = {bad}\n")).unwrap();
        let err = Config::read(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConfigError::Parse { .. }),
            "{key} = {bad}: {err}"
        );
        assert!(text.contains("config.toml"), "names the file: {text}");
        assert!(
            text.contains(&format!("[{section}] {key}")),
            "names the key: {text}"
        );
        assert!(text.contains("must be"), "says what it must be: {text}");
        assert!(
            !text.contains("ROTA_"),
            "a file value is not a variable: {text}"
        );
    }
    // The bounds themselves are fine.
    for limit in rota_config::LIMITS {
        for v in [limit.min, limit.max] {
            let v = if limit.key == "threshold" || limit.key == "hysteresis" {
                format!("{v:?}")
            } else {
                format!("{v}")
            };
            std::fs::write(&path, format!("[{}]\n{} = {v}\n", limit.section, limit.key)).unwrap();
            Config::read(&path).unwrap_or_else(|e| panic!("{} = {v}: {e}", limit.key));
        }
    }
    // The environment's values: the error names the variable.
    for (name, bad) in [
        ("ROTA_UPSTREAM_HEADER_TIMEOUT_SECS", "0"),
        ("ROTA_STREAM_IDLE_TIMEOUT_SECS", "99999999999"),
        ("ROTA_COOLDOWN_AUTH_SECS", "18446744073709551615"),
        ("ROTA_PROACTIVE_THRESHOLD", "150"),
        ("ROTA_PROACTIVE_HYSTERESIS", "-1"),
        ("ROTA_USAGE_POLL_SECS", "0"),
    ] {
        let mut c = Config::default();
        let err = c.apply_env(env(&[(name, bad)])).unwrap_err();
        assert!(matches!(err, ConfigError::Env { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    // A file value in range stays a file value when the environment sets another one.
    std::fs::write(&path, "[proactive]\nthreshold = 90.0\n").unwrap();
    let mut c = Config::read(&path).unwrap();
    c.apply_env(env(&[("ROTA_USAGE_POLL_SECS", "60")])).unwrap();
    assert_eq!(c.proactive.threshold, Some(90.0));
}

#[test]
fn the_new_gateway_timeouts_read_from_file_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[gateway]\nupstream_header_timeout_secs = 120\nstream_idle_timeout_secs = 60\n",
    )
    .unwrap();
    let mut c = Config::read(&path).unwrap();
    assert_eq!(c.gateway.upstream_header_timeout_secs, Some(120));
    assert_eq!(c.gateway.stream_idle_timeout_secs, Some(60));
    c.apply_env(env(&[("ROTA_STREAM_IDLE_TIMEOUT_SECS", "5")]))
        .unwrap();
    assert_eq!(c.gateway.stream_idle_timeout_secs, Some(5));
}

#[test]
fn auto_redeem_is_off_by_default_set_in_the_file_and_overridden_by_the_environment() {
    assert!(!Config::default().auto_redeem());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    // A user's file with a comment: the toggle keeps it.
    std::fs::write(
        &path,
        "# mine\n[providers.openai]\nissuer = \"https://auth.example\" # keep\n",
    )
    .unwrap();
    set_auto_redeem(&path, true).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# mine\n"), "{text}");
    assert!(
        text.contains("issuer = \"https://auth.example\" # keep"),
        "{text}"
    );
    assert!(text.contains("auto_redeem = true"), "{text}");
    let mut c = Config::read(&path).unwrap();
    assert!(c.auto_redeem());
    assert_eq!(
        c.provider_var("ROTA_OPENAI_ISSUER").as_deref(),
        Some("https://auth.example")
    );
    c.apply_env(env(&[("ROTA_OPENAI_AUTO_REDEEM", "off")]))
        .unwrap();
    assert!(!c.auto_redeem());
    set_auto_redeem(&path, false).unwrap();
    assert!(!Config::read(&path).unwrap().auto_redeem());

    // A missing file is created; a bad value is an error naming it.
    let fresh = dir.path().join("sub").join("config.toml");
    set_auto_redeem(&fresh, true).unwrap();
    assert!(Config::read(&fresh).unwrap().auto_redeem());
    let err = Config::parse("[providers.openai]\nauto_redeem = \"yes\"\n").unwrap_err();
    assert!(err.contains("auto_redeem must be true or false"), "{err}");
    let err = Config::default()
        .apply_env(env(&[("ROTA_OPENAI_AUTO_REDEEM", "maybe")]))
        .unwrap_err();
    assert!(err.to_string().contains("ROTA_OPENAI_AUTO_REDEEM"), "{err}");
    // A file that does not parse is left as it is.
    std::fs::write(&path, "[gateway\n").unwrap();
    assert!(set_auto_redeem(&path, true).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[gateway\n");
}

/// What rota-providers' `set_auto_redeem` does with the edited text (tests may write directly).
fn set_auto_redeem(path: &std::path::Path, on: bool) -> Result<(), rota_config::ConfigError> {
    let text = rota_config::with_auto_redeem(path, on)?;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    Ok(())
}
