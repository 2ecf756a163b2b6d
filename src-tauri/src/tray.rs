//! The tray icon and its menu. The menu is built from [`menu_model`], which tests assert
//! (a tray cannot be clicked in a test): per connected provider a radio list of its accounts
//! (the active one marked, usage hint such as `5h 42%`), then *Open Rota*, *Settings…*,
//! *Quit*. [`refresh`] rebuilds it on every pool change, whoever made it.

use rota_core::{PoolState, Ulid};
use rota_store::platform::Os;
use rota_types::display::{remaining_text, usage_hint};
use rota_types::{DEFAULT_NAMESPACE, ProviderId, SwitchReason, UnixMs};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::{AppState, EVENT_OPEN_SETTINGS, MAIN_WINDOW, show_main_window};

pub const TRAY_ID: &str = "rota";

/// One line of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayEntry {
    Item {
        id: String,
        label: String,
    },
    /// A provider's name above its accounts (not clickable).
    Header {
        label: String,
    },
    /// An account: one of a radio list, marked when active; clicking it switches to it.
    Account {
        id: String,
        label: String,
        active: bool,
    },
    Separator,
}

pub const OPEN: &str = "open";
pub const SETTINGS: &str = "settings";
pub const QUIT: &str = "quit";
const SWITCH_PREFIX: &str = "switch:";

fn item(id: &str, label: &str) -> TrayEntry {
    TrayEntry::Item {
        id: id.to_owned(),
        label: label.to_owned(),
    }
}

/// The menu id of an account entry: `switch:<provider>:<record id>`.
pub fn switch_id(provider: ProviderId, id: &str) -> String {
    format!("{SWITCH_PREFIX}{}:{id}", provider.as_str())
}

/// The provider and account an entry id names, for ids made by [`switch_id`].
pub fn parse_switch_id(id: &str) -> Option<(ProviderId, Ulid)> {
    let (provider, record) = id.strip_prefix(SWITCH_PREFIX)?.split_once(':')?;
    Some((
        ProviderId::parse(provider)?,
        rota_core::parse_id(record).ok()?,
    ))
}

/// What the tray menu shows for `state` at `now`, top to bottom.
pub fn menu_model(state: &PoolState, now: UnixMs) -> Vec<TrayEntry> {
    let mut providers: Vec<ProviderId> = ProviderId::ALL
        .into_iter()
        .filter(|p| state.count(*p, DEFAULT_NAMESPACE) > 0)
        .collect();
    providers.sort_by_key(|p| p.display_name());
    let mut entries = Vec::new();
    for provider in providers {
        entries.push(TrayEntry::Header {
            label: provider.display_name().to_owned(),
        });
        for account in state.get_accounts(provider, DEFAULT_NAMESPACE, now) {
            let mut label = account.label.clone();
            if let Some(hint) = account.usage.as_ref().and_then(usage_hint) {
                label = format!("{label}  ·  {hint}");
            }
            if account.health.needs_reauth {
                label.push_str("  ·  needs re-login");
            } else if let Some(left) = account
                .health
                .cooldown_until
                .and_then(|until| remaining_text(until, now))
            {
                label = format!("{label}  ·  cooling {left}");
            }
            entries.push(TrayEntry::Account {
                id: switch_id(provider, &account.id),
                label,
                active: account.is_active,
            });
        }
        entries.push(TrayEntry::Separator);
    }
    entries.extend([
        item(OPEN, "Open Rota"),
        item(SETTINGS, "Settings…"),
        TrayEntry::Separator,
        item(QUIT, "Quit"),
    ]);
    entries
}

fn build_menu<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let state = match app.state::<AppState>().store.load() {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!("tray: cannot read the account store: {e}");
            PoolState::default()
        }
    };
    let menu = Menu::new(app)?;
    for entry in menu_model(&state, rota_store::now_ms()) {
        match entry {
            TrayEntry::Item { id, label } => {
                menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
            }
            TrayEntry::Header { label } => {
                menu.append(&MenuItem::new(app, label, false, None::<&str>)?)?;
            }
            TrayEntry::Account { id, label, active } => {
                append_radio(app, &menu, id, label, active)?;
            }
            TrayEntry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// One item of a provider's radio list. The menu library has no radio items: macOS marks the
/// chosen item of a radio group with a check mark, so a check item is the native look there;
/// GTK and Windows draw radio groups with a dot, which a check item would render as a box
/// (and toggle on click), so there the item is plain with the dot in its text.
fn append_radio<R: Runtime>(
    app: &AppHandle<R>,
    menu: &Menu<R>,
    id: String,
    label: String,
    active: bool,
) -> tauri::Result<()> {
    if cfg!(target_os = "macos") {
        menu.append(&CheckMenuItem::with_id(
            app,
            id,
            label,
            true,
            active,
            None::<&str>,
        )?)
    } else {
        let marker = if active { RADIO_ON } else { RADIO_OFF };
        menu.append(&MenuItem::with_id(
            app,
            id,
            format!("{marker}{label}"),
            true,
            None::<&str>,
        )?)
    }
}

/// The radio marks drawn in the text where the menu has no radio items (see [`append_radio`]).
const RADIO_ON: &str = "\u{25C9}  ";
const RADIO_OFF: &str = "\u{25CB}  ";
/// What a left click on the tray icon does, by the system's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftClick {
    /// macOS (a menu bar item opens its menu on click) and Linux (the `AppIndicator` tray
    /// reports no clicks at all; its menu is all there is).
    ShowsMenu,
    /// Windows: a notification-area icon opens its window; the menu is on the right click.
    OpensWindow,
}

#[must_use]
pub fn left_click(os: Os) -> LeftClick {
    match os {
        Os::Windows => LeftClick::OpensWindow,
        Os::MacOs | Os::Linux => LeftClick::ShowsMenu,
    }
}

/// Creates the tray icon. Without a status-notifier host (bare X, CI) this only logs warnings.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let click = left_click(Os::CURRENT);
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Rota")
        .menu(&build_menu(app)?)
        .show_menu_on_left_click(click == LeftClick::ShowsMenu)
        .on_menu_event(|app, event| handle(app, event.id().as_ref()))
        .on_tray_icon_event(move |tray, event| {
            if click == LeftClick::OpensWindow
                && let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
            {
                show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// Rebuilds the tray menu from the store (after any pool change).
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match build_menu(app) {
        Ok(menu) => {
            if let Err(e) = tray.set_menu(Some(menu)) {
                tracing::warn!("could not update the tray menu: {e}");
            }
        }
        Err(e) => tracing::warn!("could not build the tray menu: {e}"),
    }
}

fn handle<R: Runtime>(app: &AppHandle<R>, id: &str) {
    if let Some((provider, record)) = parse_switch_id(id) {
        let store = app.state::<AppState>().store.clone();
        let app = app.clone();
        // Off the main thread: the store may wait for its lock (another process is writing).
        tauri::async_runtime::spawn_blocking(move || {
            let target = rota_ops::Target {
                provider,
                namespace: DEFAULT_NAMESPACE.to_owned(),
                account: record.into(),
            };
            match rota_ops::set_active(&store, &target, SwitchReason::ManualTray) {
                // The switch stands, but an account that cannot serve is not switched to in
                // silence: the notification says who serves meanwhile.
                Ok(switched) => {
                    if let Some(body) = switched.caveat_text(provider) {
                        crate::live::notify_user(
                            &app,
                            &crate::notify::Notice {
                                title: format!("{} switched", provider.display_name()),
                                body,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!("tray switch failed: {e}"),
            }
            // Re-check the right entry even when nothing changed (a radio item unchecks on
            // click).
            refresh(&app);
        });
        return;
    }
    match id {
        OPEN => show_main_window(app),
        SETTINGS => {
            show_main_window(app);
            if let Err(e) = app.emit_to(MAIN_WINDOW, EVENT_OPEN_SETTINGS, ()) {
                tracing::warn!("could not ask the window to open Settings: {e}");
            }
        }
        QUIT => app.exit(0),
        other => tracing::warn!("unknown tray menu item {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_click_follows_each_systems_convention() {
        assert_eq!(left_click(Os::Windows), LeftClick::OpensWindow);
        assert_eq!(left_click(Os::MacOs), LeftClick::ShowsMenu);
        assert_eq!(left_click(Os::Linux), LeftClick::ShowsMenu);
    }
    use rota_core::NewLogin;
    use rota_types::{
        AccountIdentity, AnthropicExtra, ProviderUsage, UsageSnapshot, UsageWindow, WindowKind,
    };

    const NOW: UnixMs = 1_800_000_000_000;

    fn login(email: &str) -> NewLogin {
        NewLogin {
            identity: AccountIdentity {
                email: Some(email.to_owned()),
                ..AccountIdentity::default()
            },
            label: None,
        }
    }

    fn id(n: u128) -> Ulid {
        Ulid::from_parts(1, n)
    }

    fn items(model: &[TrayEntry]) -> Vec<(String, String)> {
        model
            .iter()
            .filter_map(|e| match e {
                TrayEntry::Item { id, label } => Some((id.clone(), label.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_empty_pool_offers_open_settings_quit_with_quit_last() {
        let model = menu_model(&PoolState::default(), NOW);
        assert_eq!(
            items(&model),
            vec![
                (OPEN.to_owned(), "Open Rota".to_owned()),
                (SETTINGS.to_owned(), "Settings…".to_owned()),
                (QUIT.to_owned(), "Quit".to_owned())
            ]
        );
        assert_eq!(model.last(), Some(&item(QUIT, "Quit")));
        assert!(!model.iter().any(|e| matches!(e, TrayEntry::Header { .. })));
    }

    #[test]
    fn each_provider_lists_its_accounts_with_the_active_one_marked() {
        let mut s = PoolState::default();
        s.upsert(ProviderId::OpenAi, "default", login("o@x.io"), id(1), NOW)
            .unwrap();
        s.upsert(
            ProviderId::Anthropic,
            "default",
            login("work@x.io"),
            id(2),
            NOW,
        )
        .unwrap();
        s.upsert(
            ProviderId::Anthropic,
            "default",
            login("home@x.io"),
            id(3),
            NOW,
        )
        .unwrap();
        s.record_usage(
            ProviderId::Anthropic,
            id(2),
            UsageSnapshot {
                fetched_at: NOW,
                status: None,
                windows: vec![
                    UsageWindow::new(WindowKind::FiveHour, 42.0, None),
                    UsageWindow::new(WindowKind::SevenDay, 10.0, None),
                ],
                usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
            },
        )
        .unwrap();
        // The OpenAI account is cooling down for 12 minutes; home@ needs a new login.
        let pools = &mut s.providers;
        pools.get_mut(&ProviderId::OpenAi).unwrap().records[0]
            .health
            .cooldown_until = Some(NOW + 12 * 60_000);
        pools
            .get_mut(&ProviderId::Anthropic)
            .unwrap()
            .records
            .iter_mut()
            .find(|r| r.id == id(3))
            .unwrap()
            .health
            .needs_reauth = true;

        let model = menu_model(&s, NOW);
        let a = |rid: Ulid, label: &str, active| TrayEntry::Account {
            id: switch_id(ProviderId::Anthropic, &rid.to_string()),
            label: label.to_owned(),
            active,
        };
        assert_eq!(
            model[..7],
            [
                TrayEntry::Header {
                    label: "Anthropic".to_owned()
                },
                // The newest login is active and first in rotation order.
                a(id(3), "home@x.io  ·  needs re-login", true),
                a(id(2), "work@x.io  ·  5h 42%", false),
                TrayEntry::Separator,
                TrayEntry::Header {
                    label: "OpenAI".to_owned()
                },
                TrayEntry::Account {
                    id: switch_id(ProviderId::OpenAi, &id(1).to_string()),
                    label: "o@x.io  ·  cooling 12m".to_owned(),
                    active: true,
                },
                TrayEntry::Separator,
            ]
        );
        assert_eq!(model.last(), Some(&item(QUIT, "Quit")));
    }

    #[test]
    fn switch_ids_round_trip_and_junk_is_ignored() {
        let rid = id(7);
        let menu_id = switch_id(ProviderId::GithubCopilot, &rid.to_string());
        assert_eq!(
            parse_switch_id(&menu_id),
            Some((ProviderId::GithubCopilot, rid))
        );
        for junk in [
            "open",
            "switch:",
            "switch:bogus:01J",
            "switch:anthropic:nope",
            "switch:anthropic",
        ] {
            assert_eq!(parse_switch_id(junk), None, "{junk}");
        }
    }
}
