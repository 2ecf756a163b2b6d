//! PKCE and authorization URLs (built with the `oauth2` crate), what a login returns, and the
//! parsing of what a user pastes back.

use std::fmt;

use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use rota_core::{NewLogin, Secret};
use rota_store::SecretBundle;
use rota_types::{AccountIdentity, ProviderId};

use crate::error::{LoginFailure, ProviderError};

/// A finished login: who the account is and its secrets, ready for
/// `PoolStore::upsert_account(provider, ns, login.new_login(), login.secrets, now)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResult {
    pub provider: ProviderId,
    pub identity: AccountIdentity,
    pub secrets: SecretBundle,
}

impl LoginResult {
    /// What rota-core's `upsert` needs (the label defaults to the e-mail).
    #[must_use]
    pub fn new_login(&self) -> NewLogin {
        NewLogin {
            identity: self.identity.clone(),
            label: None,
        }
    }
}

/// The secret half of a started PKCE login: the verifier and the expected `state`.
#[derive(Clone)]
pub struct PkceSession {
    pub(crate) verifier: Secret,
    pub(crate) state: String,
    pub(crate) redirect_uri: String,
}

impl fmt::Debug for PkceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PkceSession")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl PkceSession {
    /// The `state` the callback must return.
    #[must_use]
    pub fn state(&self) -> &str {
        &self.state
    }

    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

/// Builds `authorize_url?response_type=code&client_id&redirect_uri&scope&state&code_challenge
/// &code_challenge_method=S256&extra…` with a fresh verifier and state.
pub(crate) fn authorize(
    authorize_url: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    extra: &[(&str, &str)],
) -> Result<(String, PkceSession), ProviderError> {
    let bad = |url: &str, e: &dyn fmt::Display| ProviderError::Config {
        url: url.to_owned(),
        problem: e.to_string(),
    };
    let auth = AuthUrl::new(authorize_url.to_owned()).map_err(|e| bad(authorize_url, &e))?;
    let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| bad(redirect_uri, &e))?;
    let client = oauth2::basic::BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(auth)
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (k, v) in extra {
        req = req.add_extra_param(*k, *v);
    }
    let (url, state) = req.url();
    Ok((
        url.to_string(),
        PkceSession {
            verifier: Secret::new(verifier.secret().clone()),
            state: state.secret().clone(),
            redirect_uri: redirect_uri.to_owned(),
        },
    ))
}

/// What came back from the browser: a code and the state it carried.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    pub code: Secret,
    pub state: Option<String>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Parses a callback query (`code=…&state=…` or `error=access_denied&…`).
pub(crate) fn parse_callback_query(query: &str) -> Result<Callback, LoginFailure> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(LoginFailure::Denied(e));
    }
    match code.filter(|c| !c.is_empty()) {
        Some(c) => Ok(Callback {
            code: Secret::new(c),
            state,
        }),
        None => Err(LoginFailure::BadPaste),
    }
}

/// What a user pastes after the Anthropic paste flow: `code#state`, or the whole redirect URL
/// (`https://…/callback?code=…&state=…`).
pub fn parse_pasted(text: &str) -> Result<Callback, LoginFailure> {
    let t = text.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if t.is_empty() {
        return Err(LoginFailure::BadPaste);
    }
    if t.contains("://") {
        let u = url::Url::parse(t).map_err(|_| LoginFailure::BadPaste)?;
        let mut cb = parse_callback_query(u.query().unwrap_or_default())?;
        // Some pages put the state after `#` of the code in the query, or in the fragment.
        if let Some((c, s)) = cb.code.expose().split_once('#') {
            let (c, s) = (c.to_owned(), s.to_owned());
            cb.code = Secret::new(c);
            cb.state.get_or_insert(s);
        }
        if cb.state.is_none() {
            cb.state = u.fragment().map(str::to_owned).filter(|f| !f.is_empty());
        }
        return Ok(cb);
    }
    if t.contains(char::is_whitespace) {
        return Err(LoginFailure::BadPaste);
    }
    match t.split_once('#') {
        Some((code, state)) if !code.is_empty() => Ok(Callback {
            code: Secret::new(code),
            state: Some(state.to_owned()).filter(|s| !s.is_empty()),
        }),
        Some(_) => Err(LoginFailure::BadPaste),
        None => Ok(Callback {
            code: Secret::new(t),
            state: None,
        }),
    }
}

/// Checks the returned `state` against the session's (constant-time is not needed: the state
/// is not a secret that can be guessed byte by byte through this check).
pub(crate) fn check_state(session: &PkceSession, cb: &Callback) -> Result<(), LoginFailure> {
    match &cb.state {
        Some(s) if *s == session.state => Ok(()),
        _ => Err(LoginFailure::StateMismatch),
    }
}

/// Decodes a JWT's payload (no signature check: the token came straight from the issuer over
/// TLS, and only non-security claims are read).
#[must_use]
pub fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_forms() {
        let cb = parse_pasted(" abc#st ").unwrap();
        assert_eq!(cb.code.expose(), "abc");
        assert_eq!(cb.state.as_deref(), Some("st"));
        let cb = parse_pasted("https://platform.claude.com/oauth/code/callback?code=abc&state=st")
            .unwrap();
        assert_eq!(cb.code.expose(), "abc");
        assert_eq!(cb.state.as_deref(), Some("st"));
        assert_eq!(
            parse_pasted("https://x/cb?error=access_denied&state=s").unwrap_err(),
            LoginFailure::Denied("access_denied".into())
        );
        assert_eq!(parse_pasted("").unwrap_err(), LoginFailure::BadPaste);
        assert_eq!(parse_pasted("a b#c").unwrap_err(), LoginFailure::BadPaste);
        assert_eq!(parse_pasted("#state").unwrap_err(), LoginFailure::BadPaste);
    }

    #[test]
    fn authorize_url_has_pkce_and_state() {
        let (url, s) = authorize(
            "https://claude.ai/oauth/authorize",
            "cid",
            "https://x/cb",
            &["a".into(), "b".into()],
            &[("code", "true")],
        )
        .unwrap();
        let u = url::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], s.state);
        assert_eq!(q["scope"], "a b");
        assert_eq!(q["code"], "true");
        assert_eq!(q["redirect_uri"], "https://x/cb");
        assert!(!format!("{s:?}").contains(s.verifier.expose()));
    }
}
