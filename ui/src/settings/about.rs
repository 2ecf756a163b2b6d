//! About: version, links, keyboard shortcuts, where data lives.

use leptos::prelude::*;
use rota_types::command::{
    AppLink, AppSettings, OpenLinkCmd, OpenLinkRequest, SettingsGetCmd, SettingsSetCmd,
};

use crate::components::copy_line::CopyLine;
use crate::components::icons::Logo;
use crate::components::toggle::ToggleRow;
use crate::ipc;
use crate::state::{Ui, fetched_on};

const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl + ,", "Open or close Settings"),
    ("Esc", "Close the dialog"),
    ("↑ ↓  or  ← →", "Move between Settings tabs"),
    ("Tab / Shift + Tab", "Move between controls"),
    ("Enter / Space", "Activate the focused control"),
];

#[component]
pub fn AboutTab() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let open = Action::new_local(move |link: &AppLink| {
        let request = OpenLinkRequest { kind: link.kind };
        async move {
            if let Err(e) = ipc::call::<OpenLinkCmd>(&request).await {
                ui.notify(e.message);
            }
        }
    });

    view! {
        <div class="tab-content" id="about-tab">
            <div class="about-hero">
                <Logo />
                <div>
                    <h3>"Rota"</h3>
                    <p class="muted" id="about-version">
                        {move || ui.info.get().map(|i| format!("Version {}", i.version)).unwrap_or_default()}
                    </p>
                    <p class="about-tagline">"One pool for your Claude, ChatGPT and Copilot subscriptions."</p>
                </div>
            </div>

            <section class="group" aria-labelledby="links-title">
                <h4 id="links-title" class="group-title">"Links"</h4>
                <div class="link-grid">
                    {move || {
                        ui.info
                            .get()
                            .map(|i| i.links)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|link| {
                                let label = link.label.clone();
                                let url = link.url.clone();
                                view! {
                                    <button class="link-card" title=url.clone() on:click=move |_| { open.dispatch_local(link.clone()); }>
                                        <span class="link-label">{label}</span>
                                        <span class="link-url">{url.trim_start_matches("https://").to_owned()}</span>
                                    </button>
                                }
                            })
                            .collect_view()
                    }}
                </div>
            </section>

            <BehaviourSettings />

            <section class="group" aria-labelledby="shortcuts-title">
                <h4 id="shortcuts-title" class="group-title">"Keyboard shortcuts"</h4>
                <table class="shortcuts">
                    <tbody>
                        {SHORTCUTS
                            .iter()
                            .map(|(keys, action)| view! {
                                <tr><td><kbd>{*keys}</kbd></td><td>{*action}</td></tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>

            <section class="group" aria-labelledby="data-title">
                <h4 id="data-title" class="group-title">"Data"</h4>
                <p class="muted">"Accounts, rotation state and the secret vault are stored in:"</p>
                <CopyLine text=Signal::derive(move || ui.info.get().map(|i| i.data_dir).unwrap_or_default()) />
                <p class="muted">"Set ROTA_HOME to keep them elsewhere."</p>
                <div class="fact-row" id="secret-backend">
                    <span class="fact-label">"Secret backend"</span>
                    <span class="fact-value">
                        {move || ui.info.get().map(|i| i.secret_backend.label).unwrap_or_default()}
                    </span>
                </div>
                {move || ui.info.get().and_then(|i| i.secret_backend.warning).map(|w| view! {
                    <div class="callout warning" id="secret-backend-warning" role="note">
                        <strong>"Tokens are stored unencrypted."</strong>
                        <span>{w}</span>
                        <span class="muted">"Set ROTA_SECRET_STORE=keychain once a keychain (Secret Service) is available."</span>
                    </div>
                })}
            </section>
        </div>
    }
}

/// Background usage polling and notifications (app settings, saved at once).
#[component]
fn BehaviourSettings() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let settings = fetched_on::<SettingsGetCmd>(ui, None);
    let save =
        Action::new_local(move |&next: &AppSettings| settings.save::<SettingsSetCmd>(ui, next));
    let change = move |f: fn(&mut AppSettings, bool), on: bool| {
        let Some(mut next) = settings.get_untracked() else {
            return;
        };
        f(&mut next, on);
        save.dispatch_local(next);
    };
    let toggle = move |id: &'static str,
                       title: &'static str,
                       hint: &'static str,
                       get: fn(&AppSettings) -> bool,
                       set: fn(&mut AppSettings, bool)| {
        view! {
            <ToggleRow
                id=id
                title=title
                hint=hint
                checked=move || settings.with(|s| s.is_some_and(get))
                disabled=move || settings.with(|s| s.is_none())
                on_change=move |on| change(set, on)
            />
        }
    };

    view! {
        <section class="group" aria-labelledby="behaviour-title">
            <h4 id="behaviour-title" class="group-title">"Behaviour"</h4>
            {toggle(
                "setting-usage-polling",
                "Fetch usage in the background",
                "Polls each account's usage endpoint (the active one more often). Off: usage updates only from gateway traffic and Refresh.",
                |s| s.usage_polling,
                |s, on| s.usage_polling = on,
            )}
            {toggle(
                "setting-notifications",
                "Desktop notifications",
                "For automatic switches, an exhausted pool and accounts that need a new login.",
                |s| s.notifications,
                |s, on| s.notifications = on,
            )}
        </section>
    }
}
