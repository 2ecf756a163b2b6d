//! Where results go: text or JSON on stdout, errors on stderr; colour only when stdout is a
//! terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};
use std::path::Path;

use console::Style;
use serde::Serialize;

use crate::error::CliError;

#[derive(Debug)]
pub struct Output {
    pub json: bool,
    color: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color {
            // cliclack draws through `console`; switch its colours off for both streams.
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        let color = !no_color && std::io::stdout().is_terminal();
        Self { json, color }
    }

    /// Writes text to stdout. A closed pipe (`rota auth list | head -1`) is not an error.
    #[allow(clippy::unused_self)] // every result goes through `Output`: one place to redirect
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Writes one `rota-types` value as pretty JSON.
    pub fn print_json<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
            format!("{{\"error\":{{\"code\":\"internal\",\"message\":\"{e}\"}}}}")
        });
        self.print(&format!("{text}\n"));
    }

    /// Reports an error on stderr: one line (plus the usage line), or the HTTP API's error body
    /// with `--json`.
    pub fn error(&self, e: &CliError) {
        let mut err = std::io::stderr().lock();
        if self.json {
            let body = rota_types::HttpErrorBody { error: e.to_api() };
            let _ = writeln!(err, "{}", serde_json::to_string(&body).unwrap_or_default());
            return;
        }
        match e {
            CliError::Usage { message, usage, .. } => {
                let _ = writeln!(
                    err,
                    "error: {message}\n\nUsage: {usage}\n\nFor more information, try '--help'."
                );
            }
            CliError::Failed(api) => {
                let _ = writeln!(err, "error: {}", api.message);
            }
            CliError::Cancelled => {
                let _ = writeln!(err, "cancelled");
            }
        }
    }

    fn style(&self, style: Style) -> Style {
        if self.color {
            style.force_styling(true)
        } else {
            style.force_styling(false)
        }
    }

    pub fn bold(&self, s: &str) -> String {
        self.style(Style::new().bold()).apply_to(s).to_string()
    }

    pub fn dim(&self, s: &str) -> String {
        self.style(Style::new().dim()).apply_to(s).to_string()
    }

    pub fn green(&self, s: &str) -> String {
        self.style(Style::new().green()).apply_to(s).to_string()
    }

    pub fn yellow(&self, s: &str) -> String {
        self.style(Style::new().yellow()).apply_to(s).to_string()
    }

    pub fn red(&self, s: &str) -> String {
        self.style(Style::new().red()).apply_to(s).to_string()
    }

    /// Colours a percentage text like the UI's bars: green ≤ 50, yellow ≤ 80, red above.
    pub fn usage_color(&self, utilization: f64, s: &str) -> String {
        use rota_types::display::UsageColor;
        match UsageColor::for_utilization(utilization) {
            UsageColor::Green => self.green(s),
            UsageColor::Yellow => self.yellow(s),
            UsageColor::Red => self.red(s),
        }
    }
}

/// The path with the home directory shortened to `~`.
pub fn tilde(path: &Path) -> String {
    if let Some(home) = dirs::home_dir()
        && let Ok(rest) = path.strip_prefix(&home)
    {
        return if rest.as_os_str().is_empty() {
            "~".to_owned()
        } else {
            format!("~/{}", rest.display())
        };
    }
    path.display().to_string()
}
