//! The tray icon and its menu. The menu is built from [`menu_model`], which tests assert
//! (a tray cannot be clicked in a test); later the model grows per-provider account lists.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Runtime};

use crate::{EVENT_OPEN_SETTINGS, MAIN_WINDOW, show_main_window};

pub const TRAY_ID: &str = "rota";

/// One line of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayEntry {
    Item {
        id: &'static str,
        label: &'static str,
    },
    Separator,
}

pub const OPEN: &str = "open";
pub const SETTINGS: &str = "settings";
pub const QUIT: &str = "quit";

/// What the tray menu shows, top to bottom.
pub fn menu_model() -> Vec<TrayEntry> {
    vec![
        TrayEntry::Item {
            id: OPEN,
            label: "Open Rota",
        },
        TrayEntry::Item {
            id: SETTINGS,
            label: "Settings…",
        },
        TrayEntry::Separator,
        TrayEntry::Item {
            id: QUIT,
            label: "Quit",
        },
    ]
}

fn build_menu<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for entry in menu_model() {
        match entry {
            TrayEntry::Item { id, label } => {
                menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
            }
            TrayEntry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// Creates the tray icon. Without a status-notifier host (bare X, CI) this only logs warnings.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Rota")
        .menu(&build_menu(app)?)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| handle(app, event.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

fn handle<R: Runtime>(app: &AppHandle<R>, id: &str) {
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
    fn tray_offers_open_settings_quit_with_quit_last() {
        let items: Vec<_> = menu_model()
            .into_iter()
            .filter_map(|e| match e {
                TrayEntry::Item { id, label } => Some((id, label)),
                TrayEntry::Separator => None,
            })
            .collect();
        assert_eq!(
            items,
            vec![(OPEN, "Open Rota"), (SETTINGS, "Settings…"), (QUIT, "Quit")]
        );
        assert_eq!(
            menu_model().last(),
            Some(&TrayEntry::Item {
                id: QUIT,
                label: "Quit"
            })
        );
    }
}
