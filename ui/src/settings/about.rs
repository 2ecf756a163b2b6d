//! About: version, links, keyboard shortcuts, where data lives.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rota_types::command::{AppLink, OpenLinkCmd, OpenLinkRequest};

use crate::app::Ui;
use crate::components::copy_line::CopyLine;
use crate::components::icons::Logo;
use crate::ipc;

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
    let open = move |link: AppLink| {
        spawn_local(async move {
            if let Err(e) = ipc::call::<OpenLinkCmd>(&OpenLinkRequest { kind: link.kind }).await {
                ui.notify(e.message);
            }
        });
    };

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
                                    <button class="link-card" title=url.clone() on:click=move |_| open(link.clone())>
                                        <span class="link-label">{label}</span>
                                        <span class="link-url">{url.trim_start_matches("https://").to_owned()}</span>
                                    </button>
                                }
                            })
                            .collect_view()
                    }}
                </div>
            </section>

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
