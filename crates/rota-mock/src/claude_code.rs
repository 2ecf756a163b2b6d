//! What Anthropic's Messages API takes as Claude Code's traffic on a subscription (OAuth)
//! token, as Claude Code 2.1.330 sends it, and the request shape tests use to pass as Claude
//! Code through strict mode ([`crate::MockConfig::strict`]; docs/anthropic.md).
//!
//! Strict mode, on `POST /v1/messages` with an OAuth bearer token:
//! - a `User-Agent` that is not Claude Code's (`claude-cli/<version> …`) is a third-party app:
//!   `400 invalid_request_error` [`THIRD_PARTY_BILLING`];
//! - Claude Code's `User-Agent` with a system prompt that does not start like Claude Code's
//!   ([`SYSTEM_PROMPTS`], after its `x-anthropic-billing-header:` block) for any model but
//!   Haiku: `400 invalid_request_error` [`CREDENTIAL_ONLY_FOR_CLAUDE_CODE`].

use serde_json::{Value, json};

/// Claude Code's `User-Agent` (the interactive CLI).
pub const USER_AGENT: &str = "claude-cli/2.1.330 (external, cli)";

/// The identity lines Claude Code 2.1.330 starts its system prompt with (the CLI, the Agent
/// SDK with Claude Code's preset, the Agent SDK).
pub const SYSTEM_PROMPTS: [&str; 3] = [
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];

/// The attribution block Claude Code puts before its identity line.
const BILLING_HEADER: &str = "x-anthropic-billing-header:";

/// The third-party-billing answer (as users reported it; the credit sentence varies).
pub const THIRD_PARTY_BILLING: &str = "Third-party apps now draw from your extra usage, not your plan limits. We've added a $100 credit to get you started. Claim it at claude.ai/settings/usage and keep going.";

/// The answer to an OAuth request whose system prompt is not Claude Code's.
pub const CREDENTIAL_ONLY_FOR_CLAUDE_CODE: &str = "This credential is only authorized for use with Claude Code and cannot be used for other API requests.";

/// Whether a `User-Agent` is Claude Code's.
#[must_use]
pub fn is_user_agent(ua: &str) -> bool {
    rota_types::is_claude_code_user_agent(ua)
}

/// Whether a Messages request's `system` starts like Claude Code's: a string starting with one
/// of [`SYSTEM_PROMPTS`], or an array whose first text block (after the billing-header block)
/// does.
#[must_use]
pub fn has_system_prompt(body: &Value) -> bool {
    let starts = |t: &str| SYSTEM_PROMPTS.iter().any(|p| t.starts_with(p));
    match body.get("system") {
        Some(Value::String(s)) => starts(s),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .find(|t| !t.starts_with(BILLING_HEADER))
            .is_some_and(starts),
        _ => false,
    }
}

/// Whether the real service checks the system prompt for this model (all but Haiku).
#[must_use]
pub fn model_is_restricted(model: &str) -> bool {
    !model.to_ascii_lowercase().contains("haiku")
}

/// A Messages request body as Claude Code sends it: its billing-header block, its identity
/// line, one user message.
#[must_use]
pub fn messages_body(model: &str, text: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "system": [
            {"type": "text", "text": format!("{BILLING_HEADER} cc_version=2.1.330; cc_entrypoint=cli;")},
            {"type": "text", "text": SYSTEM_PROMPTS[0]},
        ],
        "messages": [{"role": "user", "content": text}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_rule() {
        assert!(has_system_prompt(&messages_body(
            "claude-sonnet-4-5",
            "hi",
            false
        )));
        assert!(has_system_prompt(&json!({"system": SYSTEM_PROMPTS[1]})));
        assert!(!has_system_prompt(&json!({"system": "You are opencode."})));
        assert!(!has_system_prompt(&json!({})));
        assert!(!has_system_prompt(&json!({"system": [
            {"type": "text", "text": "You are a helpful assistant."},
            {"type": "text", "text": SYSTEM_PROMPTS[0]},
        ]})));
        assert!(model_is_restricted("claude-sonnet-4-5"));
        assert!(!model_is_restricted("claude-haiku-4-5"));
    }
}
