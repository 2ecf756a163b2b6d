//! docs/rules.md §1: tokens never reach logs, `Debug` output, errors or the state file, across
//! logins, refreshes (good, refused, failing), usage fetches and classification.

#[path = "it/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use rota_mock::{Behavior, ExpireWhat, NewAccount, Scope, ScriptStep};
use rota_providers::anthropic::PasteLogin;
use rota_providers::{UpstreamAuth, UsageService, shape_request};
use rota_types::ProviderId;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_never_reach_logs_debug_errors_or_state() {
    let logs = Buf::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mock = mock().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let providers = providers(mock.base_url());
    let tm = tokens(&store, &providers);
    let mut shown: Vec<String> = Vec::new();

    // A login.
    let login = PasteLogin::begin(&providers).unwrap();
    let page = reqwest::get(&login.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logged_in = login
        .complete(&providers, &auth_code_on_page(&page))
        .await
        .unwrap();
    shown.push(format!("{login:?} {logged_in:?} {:?}", logged_in.secrets));

    // Refresh: good, transient failure, refused.
    let (acct_a, id_a) = seed(
        &mock,
        &store,
        NewAccount::new(ProviderId::Anthropic),
        expired,
    );
    let (acct_b, id_b) = seed(
        &mock,
        &store,
        NewAccount::new(ProviderId::Anthropic),
        expired,
    );
    let (acct_c, id_c) = seed(&mock, &store, NewAccount::new(ProviderId::OpenAi), expired);
    mock.script(
        &acct_b.id,
        ScriptStep::once(Behavior::ServerError).scope(Scope::Token),
    )
    .unwrap();
    mock.expire(&acct_c.id, ExpireWhat::Refresh).unwrap();
    let canaries: Vec<String> = [&acct_a, &acct_b, &acct_c]
        .iter()
        .flat_map(|i| [i.access_token.clone(), i.refresh_token.clone().unwrap()])
        .chain([logged_in.secrets.access_token.expose().to_owned()])
        .collect();
    let ok = tm.access(ProviderId::Anthropic, id_a).await.unwrap();
    shown.push(format!("{ok:?} {tm:?} {providers:?}"));
    for (p, id) in [(ProviderId::Anthropic, id_b), (ProviderId::OpenAi, id_c)] {
        let e = tm.access(p, id).await.unwrap_err();
        shown.push(format!("{e} {e:?}"));
        shown.push(format!("{:?}", rota_types::ApiError::from(e)));
    }
    // Usage (including a failing account) and a shaped request.
    let svc = UsageService::new(tm.clone());
    let results = svc.fetch(None, rota_store::now_ms()).await.unwrap();
    shown.push(format!("{results:?}"));
    let shaped = shape_request(
        ProviderId::Anthropic,
        &providers.config,
        &http::HeaderMap::new(),
        "/v1/messages",
        UpstreamAuth {
            bearer: &ok.secrets.access_token,
            account_id: None,
            api_base: None,
            copilot_ide: false,
        },
    )
    .unwrap();
    shown.push(format!("{shaped:?}"));

    let shown = shown.join("\n");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("refresh"), "the flows did log: {logs}");
    let state = std::fs::read_to_string(&store.paths().state).unwrap();
    let mut all_canaries = canaries;
    all_canaries.push(ok.secrets.access_token.expose().to_owned());
    all_canaries.push(
        ok.secrets
            .refresh_token
            .as_ref()
            .unwrap()
            .expose()
            .to_owned(),
    );
    for token in &all_canaries {
        for (what, text) in [
            ("logs", &logs),
            ("debug/errors", &shown),
            ("state.json", &state),
        ] {
            assert!(!text.contains(token.as_str()), "a token leaked into {what}");
        }
    }
}
