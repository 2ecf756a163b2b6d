//! The UI's shared state and how it is read: the [`Ui`] context every view takes, the shell's
//! events that move it, and the two ways views talk to the shell — [`fetched`] for reads (a
//! `LocalResource` re-read when what it tracks changes) and Leptos `Action`s for writes, with
//! [`Switcher`] for the one write several views share (the active account).
//!
//! Views depend on this module and on `components/`, never on the window shell (`app`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{
    AccountRequest, AppInfo, AppInfoCmd, Empty, GatewayState, GatewayStatusCmd,
    GatewayStatusResponse, GetAccountsCmd, PoolRequest, SetActiveCmd, SettingsTab, SwitchCaveatCmd,
    UiPrefs, UiPrefsGetCmd, UiPrefsSetCmd,
};
use rota_types::{
    AccountSummary, ApiError, Command, Event, LoginProgress, PoolChanged, ProviderId,
    SessionUpdated,
};

use crate::ipc;

/// Shared UI state, provided as context.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub settings_open: RwSignal<bool>,
    pub tab: RwSignal<SettingsTab>,
    /// The provider Provider Detail shows.
    pub detail: RwSignal<Option<ProviderId>>,
    pub info: RwSignal<Option<AppInfo>>,
    /// Errors and notices shown at the bottom of the window for a while ([`Ui::notify`]).
    pub notices: RwSignal<Vec<String>>,
    /// Bumped on every `pool-changed` event (any process changed the store): views that show
    /// accounts re-read them when it changes.
    pub pool_version: RwSignal<u64>,
    /// The latest `login-progress` event (the Add-account dialog follows its own flow).
    pub login_progress: RwSignal<Option<LoginProgress>>,
    /// Bumped on every `session-updated` event (the gateway saw traffic).
    pub session_version: RwSignal<u64>,
    /// The local gateway's state (`None` until the first answer).
    pub gateway: RwSignal<Option<GatewayStatusResponse>>,
    /// "Now" for relative times ("3 min ago"), ticking every [`CLOCK_TICK`] so they age
    /// without new data; only the text nodes that read it update.
    pub clock: RwSignal<rota_types::UnixMs>,
}

/// How long a notice stays up unless dismissed.
const NOTICE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// How often relative times are recomputed; their finest unit is the minute.
const CLOCK_TICK: std::time::Duration = std::time::Duration::from_secs(15);

impl Ui {
    /// Creates the state, provides it as context and connects it to the shell: the clock, the
    /// start-up reads (app info, gateway status, the remembered tab) and the shell's events.
    pub fn provide() -> Self {
        let ui = Ui {
            settings_open: RwSignal::new(false),
            tab: RwSignal::new(SettingsTab::Providers),
            detail: RwSignal::new(None),
            info: RwSignal::new(None),
            notices: RwSignal::new(Vec::new()),
            pool_version: RwSignal::new(0),
            session_version: RwSignal::new(0),
            login_progress: RwSignal::new(None),
            gateway: RwSignal::new(None),
            clock: RwSignal::new(ipc::now_ms()),
        };
        provide_context(ui);
        // Lives as long as the window.
        let _ = set_interval_with_handle(move || ui.clock.set(ipc::now_ms()), CLOCK_TICK);

        spawn_local(async move {
            match ipc::call::<AppInfoCmd>(&Empty {}).await {
                Ok(info) => ui.info.set(Some(info)),
                Err(e) => ui.alert(e.message),
            }
        });
        poll_gateway_status(ui);
        spawn_local(async move {
            match ipc::call::<UiPrefsGetCmd>(&Empty {}).await {
                // Provider Detail needs a chosen provider; without one, start at Providers.
                Ok(prefs) if prefs.last_tab != SettingsTab::ProviderDetail => {
                    ui.tab.set(prefs.last_tab);
                }
                Ok(_) => {}
                Err(e) => ui.alert(e.message),
            }
        });

        // The tray's "Settings…" asks the window to open the dialog.
        ipc::listen::<()>("open-settings", move |()| ui.open_settings());
        // The store changed (this app, the CLI, the gateway, new usage, …): re-read what is
        // shown. (`usage-updated` always comes with a `pool-changed`, so it needs no listener.)
        ipc::listen::<PoolChanged>(PoolChanged::NAME, move |_| ui.pool_changed());
        ipc::listen::<LoginProgress>(LoginProgress::NAME, move |p| {
            ui.login_progress.set(Some(p));
        });
        ipc::listen::<SessionUpdated>(SessionUpdated::NAME, move |_| {
            ui.session_version.update(|v| *v += 1);
        });
        ui
    }

    /// Shows a notice that clears itself after [`NOTICE_TTL`] (or when dismissed): the
    /// errors shown here are about one action, and are stale a moment later.
    pub fn notify(&self, message: impl Into<String>) {
        let message = message.into();
        let mut added = false;
        self.notices.update(|n| {
            if !n.contains(&message) {
                n.push(message.clone());
                added = true;
            }
        });
        if added {
            let notices = self.notices;
            set_timeout(
                move || {
                    let _ = notices.try_update(|n| n.retain(|m| *m != message));
                },
                NOTICE_TTL,
            );
        }
    }

    /// Shows a notice that stays until dismissed: a problem that outlives the action that
    /// found it (an unreadable file moved aside at start-up).
    pub fn alert(&self, message: impl Into<String>) {
        let message = message.into();
        self.notices.update(|n| {
            if !n.contains(&message) {
                n.push(message);
            }
        });
    }

    /// The store changed (here or elsewhere): everything that shows accounts re-reads them.
    pub fn pool_changed(&self) {
        self.pool_version.update(|v| *v += 1);
    }

    /// Switches tab and remembers it as the tab to open next time.
    pub fn select_tab(&self, tab: SettingsTab) {
        if self.tab.get_untracked() == tab {
            return;
        }
        self.tab.set(tab);
        let ui = *self;
        spawn_local(async move {
            if let Err(e) = ipc::call::<UiPrefsSetCmd>(&UiPrefs { last_tab: tab }).await {
                ui.notify(e.message);
            }
        });
    }

    pub fn open_settings(&self) {
        self.settings_open.set(true);
    }

    /// Opens Settings on a provider's Provider Detail.
    pub fn open_detail(&self, provider: ProviderId) {
        self.detail.set(Some(provider));
        self.select_tab(SettingsTab::ProviderDetail);
    }
}

/// The gateway binds right after launch: asks once, and again each second while it is still
/// starting (ten times at most; no timer outlives the start).
fn poll_gateway_status(ui: Ui) {
    spawn_local(async move {
        for _ in 0..10 {
            match ipc::call::<GatewayStatusCmd>(&Empty {}).await {
                Ok(status) => {
                    let starting = status.state == GatewayState::Starting;
                    if let Some(addr) = status.address.clone() {
                        // The copyable lines use the bound address.
                        ui.info.update(|i| {
                            if let Some(i) = i {
                                i.gateway_url = format!("http://{addr}");
                            }
                        });
                    }
                    ui.gateway.set(Some(status));
                    if !starting {
                        return;
                    }
                }
                Err(e) => {
                    ui.notify(e.message);
                    return;
                }
            }
            sleep_ms(1000).await;
        }
    });
}

/// Resolves after `ms` milliseconds (one browser timeout).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// What a view shows of a read: `None` until the first answer, then the latest good one. A
/// failed read is a notice and leaves the last answer on screen.
pub struct Fetched<T: 'static>(LocalResource<Option<T>>);

impl<T: 'static> std::fmt::Debug for Fetched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched").finish_non_exhaustive()
    }
}

impl<T: 'static> Clone for Fetched<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Fetched<T> {}

impl<T: Clone + 'static> Fetched<T> {
    /// The latest answer (tracked).
    pub fn get(&self) -> Option<T> {
        self.0.get().flatten()
    }

    /// Reads the latest answer in place (tracked).
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        self.0.with(|v| f(v.as_ref().and_then(Option::as_ref)))
    }

    /// Re-runs whatever reads this when a new answer arrives.
    pub fn track(&self) {
        self.0.track();
    }

    /// Reads the latest answer without tracking it.
    pub fn get_untracked(&self) -> Option<T> {
        self.0.get_untracked().flatten()
    }

    /// Shows a value a write answered with, until the next read.
    pub fn set(&self, value: T) {
        self.0.set(Some(Some(value)));
    }

    /// Reads again now.
    pub fn refetch(&self) {
        self.0.refetch();
    }

    /// Writes with command `C` and shows what it answered; a failure is a notice. Whether it
    /// worked.
    pub async fn save<C: Command<Response = T>>(self, ui: Ui, request: C::Request) -> bool {
        match ipc::call::<C>(&request).await {
            Ok(answer) => {
                self.set(answer);
                true
            }
            Err(e) => {
                ui.notify(e.message);
                false
            }
        }
    }
}

/// A read of the shell: runs `fetch` now and again whenever a signal `fetch` reads (before
/// its `async` part) changes, e.g. `ui.pool_version.track()` for "on every store change".
pub fn fetched<T, Fut>(ui: Ui, fetch: impl Fn() -> Fut + 'static) -> Fetched<T>
where
    T: Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let last = StoredValue::new(None::<T>);
    Fetched(LocalResource::new(move || {
        let answer = fetch();
        async move {
            match answer.await {
                Ok(value) => {
                    last.set_value(Some(value.clone()));
                    Some(value)
                }
                Err(e) => {
                    ui.notify(e.message);
                    last.get_value()
                }
            }
        }
    }))
}

/// A command without arguments, read now and again whenever `version` moves (`None`: once).
pub fn fetched_on<C>(ui: Ui, version: Option<RwSignal<u64>>) -> Fetched<C::Response>
where
    C: Command<Request = Empty> + 'static,
    C::Response: Clone + Send + Sync + 'static,
{
    fetched(ui, move || {
        if let Some(version) = version {
            version.track();
        }
        ipc::call::<C>(&Empty {})
    })
}

/// A provider's accounts in rotation order, re-read on every store change (an empty list while
/// `provider` is `None`).
pub fn pool_accounts(
    ui: Ui,
    provider: impl Fn() -> Option<ProviderId> + 'static,
) -> Fetched<Vec<AccountSummary>> {
    fetched(ui, move || {
        ui.pool_version.track();
        let provider = provider();
        async move {
            let Some(provider) = provider else {
                return Ok(Vec::new());
            };
            let request = PoolRequest {
                provider_id: provider.as_str().to_owned(),
                namespace: None,
            };
            ipc::call::<GetAccountsCmd>(&request).await
        }
    })
}

/// The request naming one account of a provider's pool.
pub fn account_request(provider: ProviderId, account: &AccountSummary) -> AccountRequest {
    AccountRequest {
        provider_id: provider.as_str().to_owned(),
        record_id: account.id.clone(),
        namespace: None,
    }
}

/// Making an account the active one, from Provider Detail or the context panel. An account
/// that cannot serve now is asked about first (rota-core's serving caveat, the same words the
/// tray and the CLI say); one switch at a time, its check included, because the list
/// re-renders when it lands and a second click must not hit whatever slid under the pointer.
#[derive(Clone, Copy)]
pub struct Switcher {
    /// (provider, account, already asked) → the label switched to, `None` when it asked or
    /// failed.
    action: Action<(ProviderId, AccountSummary, bool), Option<String>>,
    /// A switch (or its check) is under way.
    busy: Memo<bool>,
    /// The label of the account the last switch made active.
    switched: Signal<Option<String>>,
    /// The account waiting for the user's "switch anyway", with the reason it cannot serve.
    pub pending: RwSignal<Option<(ProviderId, AccountSummary, String)>>,
}

impl std::fmt::Debug for Switcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switcher")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Switcher {
    pub fn new(ui: Ui) -> Self {
        let pending = RwSignal::new(None);
        let action = Action::new_local(
            move |(provider, account, asked): &(ProviderId, AccountSummary, bool)| {
                let (provider, account, asked) = (*provider, account.clone(), *asked);
                async move {
                    let request = account_request(provider, &account);
                    if !asked {
                        match ipc::call::<SwitchCaveatCmd>(&request).await {
                            Ok(answer) => {
                                if let Some(text) = answer.text {
                                    pending.set(Some((provider, account, text)));
                                    return None;
                                }
                            }
                            Err(e) => {
                                ui.notify(switch_error(&account, &e));
                                return None;
                            }
                        }
                    }
                    match ipc::call::<SetActiveCmd>(&request).await {
                        Ok(_) => {
                            ui.pool_changed();
                            Some(account.label)
                        }
                        Err(e) => {
                            ui.notify(switch_error(&account, &e));
                            None
                        }
                    }
                }
            },
        );
        Self {
            action,
            busy: action.pending(),
            switched: {
                let answer = action.value();
                Signal::derive(move || answer.get().flatten())
            },
            pending,
        }
    }

    /// Switches to `account`, asking first when it cannot serve; ignored while a switch runs.
    pub fn switch(&self, provider: ProviderId, account: AccountSummary) {
        if !self.busy_untracked() {
            self.action.dispatch_local((provider, account, false));
        }
    }

    /// The user said "switch anyway" to the pending question.
    pub fn confirm(&self) {
        if let Some((provider, account, _)) = self.pending.get_untracked() {
            self.pending.set(None);
            if !self.busy_untracked() {
                self.action.dispatch_local((provider, account, true));
            }
        }
    }

    /// A switch (or its check) is under way (tracked).
    pub fn busy(&self) -> bool {
        self.busy.get()
    }

    fn busy_untracked(&self) -> bool {
        self.busy.get_untracked()
    }

    /// The label of the account the last switch from here made active (tracked).
    pub fn switched(&self) -> Option<String> {
        self.switched.get()
    }

    /// Forgets [`Switcher::switched`] (the confirmation is for the moment, not a state).
    pub fn clear_switched(&self) {
        self.action.clear();
    }
}

fn switch_error(account: &AccountSummary, e: &ApiError) -> String {
    format!("Could not switch to {}: {}", account.label, e.message)
}
