//! Login flows started from Provider Detail's *Add account* (docs/product.md §2), the same flows
//! as `rota auth login`:
//!
//! - Anthropic: the authorize URL, then the pasted `code#state` (`complete_login`); a wrong code
//!   keeps the flow open for another try.
//! - OpenAI: browser + loopback callback, or a device code; the app waits in the background.
//! - GitHub Copilot: device code; the app polls in the background.
//!
//! Every step is a `login-progress {flowID, state}` event; the account is upserted through the
//! store (a repeated login of the same account updates it; the newest login becomes active).
//! Codes and tokens are never logged or sent to the webview.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rota_providers::{LoginResult, ProviderError, Providers};
use rota_store::{PoolStore, now_ms};
use rota_types::command::{BeginLoginRequest, LoginMethod, LoginPrompt, LoginStarted};
use rota_types::{AccountSummary, ApiError, DEFAULT_NAMESPACE, ErrorCode, LoginState, ProviderId};

/// How long a flow waits for the user.
pub const LOGIN_TIMEOUT: Duration = Duration::from_mins(10);

/// The notice shown before every Anthropic login: the policy, then the app's next step.
fn anthropic_notice() -> String {
    format!(
        "{} Claude Code keeps using its own login and Rota writes the active account into it.",
        rota_types::display::ANTHROPIC_SIGN_IN_POLICY
    )
}

enum Flow {
    /// Waiting for the pasted code.
    Paste {
        login: Arc<rota_providers::anthropic::PasteLogin>,
    },
    /// A background task waits for the callback / approval.
    Waiting {
        task: tauri::async_runtime::JoinHandle<()>,
        page: String,
    },
}

impl Flow {
    /// The page the user signs in on.
    fn page(&self) -> &str {
        match self {
            Flow::Paste { login } => &login.url,
            Flow::Waiting { page, .. } => page,
        }
    }
}

/// Flows in progress, by flow id.
#[derive(Default)]
pub struct Logins {
    flows: Mutex<HashMap<String, Flow>>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.flows.lock().map_or(0, |m| m.len());
        f.debug_struct("Logins")
            .field("flows", &n)
            .finish_non_exhaustive()
    }
}

/// Where progress goes (the app emits `login-progress`; tests collect).
pub type Progress = Arc<dyn Fn(&str, LoginState) + Send + Sync>;

impl Logins {
    fn new_id(&self, provider: ProviderId) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{}-{n}", provider.as_str(), now_ms())
    }

    fn flows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flow>> {
        self.flows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a flow. Background flows (OpenAI, Copilot) report their end through `progress`.
    #[allow(clippy::too_many_lines)] // one short arm per provider flow; clearer side by side
    pub async fn begin(
        self: &Arc<Self>,
        providers: Arc<Providers>,
        store: Arc<PoolStore>,
        request: BeginLoginRequest,
        progress: Progress,
    ) -> Result<LoginStarted, ApiError> {
        let provider = request.provider_id;
        if request.method == LoginMethod::Device && provider == ProviderId::Anthropic {
            return Err(ApiError::invalid_input(
                "Anthropic has no device-code sign-in; paste the code instead",
            ));
        }
        let flow_id = self.new_id(provider);
        let expires_in_secs = LOGIN_TIMEOUT.as_secs();
        let started = |prompt, notice| LoginStarted {
            flow_id: flow_id.clone(),
            provider_id: provider,
            prompt,
            notice,
            expires_in_secs,
        };
        match (provider, request.method) {
            (ProviderId::Anthropic, _) => {
                let login = rota_providers::anthropic::PasteLogin::begin(&providers)?;
                let authorize_url = login.url.clone();
                self.flows().insert(
                    flow_id.clone(),
                    Flow::Paste {
                        login: Arc::new(login),
                    },
                );
                progress(
                    &flow_id,
                    LoginState::AwaitingCode {
                        authorize_url: authorize_url.clone(),
                    },
                );
                Ok(started(
                    LoginPrompt::Paste { authorize_url },
                    Some(anthropic_notice()),
                ))
            }
            (ProviderId::OpenAi, LoginMethod::Default) => {
                let login = rota_providers::openai::BrowserLogin::begin(&providers).await?;
                let prompt = LoginPrompt::Browser {
                    authorize_url: login.url.clone(),
                    port: login.port(),
                };
                progress(
                    &flow_id,
                    LoginState::AwaitingCode {
                        authorize_url: login.url.clone(),
                    },
                );
                let p = providers.clone();
                let page = login.url.clone();
                self.spawn_wait(&flow_id, page, provider, store, progress, async move {
                    login.complete(&p, LOGIN_TIMEOUT).await
                });
                Ok(started(prompt, None))
            }
            (ProviderId::OpenAi, LoginMethod::Device) => {
                let login = rota_providers::openai::DeviceLogin::begin(&providers).await?;
                let (user_code, verification_uri) =
                    (login.user_code.clone(), login.verification_url.clone());
                progress(
                    &flow_id,
                    LoginState::AwaitingUser {
                        user_code: user_code.clone(),
                        verification_uri: verification_uri.clone(),
                    },
                );
                let p = providers.clone();
                let page = verification_uri.clone();
                self.spawn_wait(&flow_id, page, provider, store, progress, async move {
                    login.wait(&p, LOGIN_TIMEOUT).await
                });
                Ok(started(
                    LoginPrompt::Device {
                        user_code,
                        verification_uri,
                    },
                    None,
                ))
            }
            (ProviderId::GithubCopilot, _) => {
                let mut login = rota_providers::copilot::DeviceLogin::begin(&providers).await?;
                let (user_code, verification_uri) =
                    (login.user_code.clone(), login.verification_uri.clone());
                progress(
                    &flow_id,
                    LoginState::AwaitingUser {
                        user_code: user_code.clone(),
                        verification_uri: verification_uri.clone(),
                    },
                );
                let p = providers.clone();
                let page = verification_uri.clone();
                self.spawn_wait(&flow_id, page, provider, store, progress, async move {
                    login.wait(&p, LOGIN_TIMEOUT).await
                });
                Ok(started(
                    LoginPrompt::Device {
                        user_code,
                        verification_uri,
                    },
                    None,
                ))
            }
        }
    }

    fn spawn_wait(
        self: &Arc<Self>,
        flow_id: &str,
        page: String,
        provider: ProviderId,
        store: Arc<PoolStore>,
        progress: Progress,
        wait: impl Future<Output = Result<LoginResult, ProviderError>> + Send + 'static,
    ) {
        let me = self.clone();
        let id = flow_id.to_owned();
        // Registered under the lock before the task can finish and remove it.
        let mut flows = self.flows();
        let task = tauri::async_runtime::spawn(async move {
            let outcome = match wait.await {
                Ok(result) => {
                    progress(&id, LoginState::Exchanging);
                    save(&store, provider, result)
                }
                Err(e) => Err(ApiError::from(e)),
            };
            me.flows().remove(&id);
            progress(&id, finished(outcome.as_ref()));
        });
        flows.insert(flow_id.to_owned(), Flow::Waiting { task, page });
    }

    /// Finishes a paste flow. A code the provider refuses leaves the flow open.
    pub async fn complete(
        &self,
        providers: &Providers,
        store: &PoolStore,
        flow_id: &str,
        code: &str,
        progress: &Progress,
    ) -> Result<AccountSummary, ApiError> {
        let login = match self.flows().get(flow_id) {
            Some(Flow::Paste { login }) => login.clone(),
            Some(Flow::Waiting { .. }) => {
                return Err(ApiError::invalid_input(
                    "this sign-in finishes in the browser; there is no code to paste",
                ));
            }
            None => {
                return Err(ApiError::not_found(
                    "no such sign-in in progress (it was cancelled or has finished)",
                ));
            }
        };
        let code = code.trim();
        if code.is_empty() {
            return Err(ApiError::invalid_input("paste the code the page shows"));
        }
        progress(flow_id, LoginState::Exchanging);
        let result = match login.complete(providers, code).await {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::from(e);
                // Back to waiting: the user can paste again.
                progress(
                    flow_id,
                    LoginState::AwaitingCode {
                        authorize_url: login.url.clone(),
                    },
                );
                return Err(err);
            }
        };
        self.flows().remove(flow_id);
        let outcome = save(store, ProviderId::Anthropic, result);
        progress(flow_id, finished(outcome.as_ref()));
        outcome
    }

    /// Ends a flow: a background wait is aborted (its loopback listener closes). Unknown ids
    /// are fine (the flow may have just finished).
    pub fn cancel(&self, flow_id: &str, progress: &Progress) {
        if let Some(flow) = self.flows().remove(flow_id) {
            if let Flow::Waiting { task, .. } = flow {
                task.abort();
            }
            progress(flow_id, LoginState::Cancelled);
        }
    }

    /// The sign-in page of a flow in progress.
    pub fn page(&self, flow_id: &str) -> Result<String, ApiError> {
        self.flows()
            .get(flow_id)
            .map(|f| f.page().to_owned())
            .ok_or_else(|| ApiError::not_found("no such sign-in in progress"))
    }

    /// Flows in progress (diagnostics and tests).
    pub fn open_flows(&self) -> usize {
        self.flows().len()
    }
}

fn finished(outcome: Result<&AccountSummary, &ApiError>) -> LoginState {
    match outcome {
        Ok(a) => LoginState::Succeeded {
            record_id: a.id.clone(),
            label: a.label.clone(),
        },
        Err(e) => LoginState::Failed {
            message: e.message.clone(),
        },
    }
}

/// Upserts the login into the store and answers the account as the UI shows it.
fn save(
    store: &PoolStore,
    provider: ProviderId,
    result: LoginResult,
) -> Result<AccountSummary, ApiError> {
    let now = now_ms();
    let record = store.upsert_account(
        provider,
        DEFAULT_NAMESPACE,
        result.new_login(),
        result.secrets,
        now,
    )?;
    let id = record.id.to_string();
    store
        .load()?
        .get_accounts(provider, DEFAULT_NAMESPACE, now)
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                "the new account is missing from the store",
            )
        })
}
