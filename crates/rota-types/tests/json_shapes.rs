//! Pins the JSON every edge sends: a change here is a breaking change for the UI, scripts
//! reading `rota --json` and HTTP API clients.

use rota_types::command::{AppInfo, AppLink, Empty, LinkKind, ProviderListing, SettingsTab, UiPrefs};
use rota_types::{ApiError, ErrorCode, ProviderId};
use serde_json::json;

#[test]
fn error_is_code_and_message() {
    let e = ApiError::not_found("no account 01J in anthropic");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"code": "not_found", "message": "no account 01J in anthropic"})
    );
    let back: ApiError =
        serde_json::from_value(json!({"code": "invalid_input", "message": "x"})).unwrap();
    assert_eq!(back.code, ErrorCode::InvalidInput);
}

#[test]
fn provider_ids_on_the_wire() {
    assert_eq!(serde_json::to_value(ProviderId::GithubCopilot).unwrap(), json!("github-copilot"));
    assert_eq!(serde_json::to_value(ProviderId::OpenAi).unwrap(), json!("openai"));
    for p in ProviderId::ALL {
        assert_eq!(ProviderId::parse(p.as_str()), Some(p));
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert_eq!(ProviderId::parse("Anthropic"), None);
}

#[test]
fn providers_are_alphabetical_by_display_name() {
    let names: Vec<_> = ProviderId::ALL.iter().map(|p| p.display_name()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
}

#[test]
fn provider_listing_is_flat_camel_case() {
    let l = ProviderListing { info: ProviderId::Anthropic.info(), account_count: 2 };
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["id"], json!("anthropic"));
    assert_eq!(v["displayName"], json!("Anthropic"));
    assert_eq!(v["authType"], json!("oauth"));
    assert_eq!(v["gatewayPath"], json!("/anthropic"));
    assert_eq!(v["accountCount"], json!(2));
}

#[test]
fn ui_prefs_and_app_info_shapes() {
    assert_eq!(
        serde_json::to_value(UiPrefs { last_tab: SettingsTab::ProviderDetail }).unwrap(),
        json!({"lastTab": "provider_detail"})
    );
    // Missing field → default; unknown field or tab → error (no silent acceptance of junk).
    assert_eq!(serde_json::from_value::<UiPrefs>(json!({})).unwrap(), UiPrefs::default());
    assert!(serde_json::from_value::<UiPrefs>(json!({"lastTab": "nope"})).is_err());
    assert!(serde_json::from_value::<UiPrefs>(json!({"other": 1})).is_err());
    assert!(serde_json::from_value::<Empty>(json!({"x": 1})).is_err());

    let info = AppInfo {
        name: "Rota".into(),
        version: "0.1.0".into(),
        data_dir: "~/.local/share/rota".into(),
        gateway_url: "http://127.0.0.1:4141".into(),
        links: vec![AppLink {
            kind: LinkKind::Repository,
            label: "Source code".into(),
            url: "https://example.invalid".into(),
        }],
    };
    let v = serde_json::to_value(&info).unwrap();
    assert_eq!(v["dataDir"], json!("~/.local/share/rota"));
    assert_eq!(v["gatewayUrl"], json!("http://127.0.0.1:4141"));
    assert_eq!(v["links"][0]["kind"], json!("repository"));
}

#[test]
fn command_names_are_unique_snake_case() {
    let mut names = rota_types::COMMAND_NAMES.to_vec();
    assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rota_types::COMMAND_NAMES.len());
}
