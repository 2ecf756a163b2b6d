//! opencode: its global config (`$OPENCODE_CONFIG`, else `$XDG_CONFIG_HOME/opencode/opencode.json`,
//! default `~/.config/opencode/opencode.json`; JSON, merged with project configs by opencode).
//! A provider's `options.baseURL` and `options.apiKey` go to its AI SDK client: the OpenAI
//! provider then sends `POST <baseURL>/responses` with `Authorization: Bearer <apiKey>`, the
//! Anthropic provider `POST <baseURL>/messages` with `x-api-key`.
//!
//! OpenAI goes through Rota always. Anthropic only when the gateway's Anthropic route serves
//! clients other than Claude Code: a Claude subscription used from another client is a billing
//! and account risk, so by default opencode keeps its own Anthropic set-up.

use crate::{Endpoint, Settings};

pub(crate) const SCHEMA: &str = "https://opencode.ai/config.json";
const OPENAI_URL: &str = "provider.openai.options.baseURL";
const OPENAI_KEY: &str = "provider.openai.options.apiKey";
const ANTHROPIC_URL: &str = "provider.anthropic.options.baseURL";
const ANTHROPIC_KEY: &str = "provider.anthropic.options.apiKey";

pub(crate) fn desired(endpoint: &Endpoint) -> (Settings, Vec<String>) {
    let key = endpoint.key.expose().to_owned();
    let mut s = Settings::from([
        (
            OPENAI_URL.to_owned(),
            Some(format!("{}/openai", endpoint.base_url)),
        ),
        (OPENAI_KEY.to_owned(), Some(key.clone())),
    ]);
    let note = if endpoint.anthropic_for_other_clients {
        s.insert(
            ANTHROPIC_URL.to_owned(),
            Some(format!("{}/anthropic/v1", endpoint.base_url)),
        );
        s.insert(ANTHROPIC_KEY.to_owned(), Some(key));
        "OpenAI and Anthropic models go through Rota (the gateway serves Anthropic to clients other than Claude Code)."
    } else {
        "OpenAI models go through Rota; Anthropic models keep opencode's own set-up (the gateway serves its Anthropic route to Claude Code only)."
    };
    (s, vec![note.to_owned()])
}

pub(crate) fn pointing(bytes: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    let v = crate::claude::json_values(
        bytes,
        &Settings::from([(OPENAI_URL.to_owned(), None), (OPENAI_KEY.to_owned(), None)]),
    )?;
    Ok((
        v.get(OPENAI_URL).cloned().flatten(),
        v.get(OPENAI_KEY).cloned().flatten(),
    ))
}
