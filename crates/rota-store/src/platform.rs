//! Where other tools keep their logins, per operating system, as pure rules over the home
//! directory and a few environment variables. [`Host::current`] reads them from this process;
//! tests build a [`Host`] for each system and check its rules on any machine.
//!
//! The rules follow the tools themselves (`docs/platforms.md` has the details):
//!
//! - **Claude Code**: its config dir is `$CLAUDE_CONFIG_DIR`, else `~/.claude` (`%USERPROFILE%`
//!   on Windows); the login is `.credentials.json` in it on Linux and Windows. On macOS the login
//!   is a keychain item (rota-handoff's `claude_keychain_item`); the file is only its fallback.
//! - **Codex CLI**: `$CODEX_HOME/auth.json`, else `~/.codex/auth.json`, on every system.
//! - **opencode**: `$XDG_DATA_HOME/opencode/auth.json`, else `~/.local/share/opencode/auth.json`,
//!   on every system (it uses the XDG layout on macOS and Windows too).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// An operating system whose conventions a path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
}

impl Os {
    /// The system this binary was built for (other Unixes follow Linux's rules).
    pub const CURRENT: Os = if cfg!(target_os = "macos") {
        Os::MacOs
    } else if cfg!(windows) {
        Os::Windows
    } else {
        Os::Linux
    };
}

/// The variables the rules read.
const VARS: &[&str] = &[
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "XDG_DATA_HOME",
    "USER",
    "USERNAME",
];

/// What the path rules depend on: the system, the home directory and a few variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub os: Os,
    pub home: Option<PathBuf>,
    vars: BTreeMap<String, OsString>,
}

impl Host {
    /// This process: [`Os::CURRENT`], the user's home directory and the environment.
    #[must_use]
    pub fn current() -> Self {
        let mut host = Self::new(Os::CURRENT, dirs::home_dir());
        for name in VARS {
            if let Some(value) = std::env::var_os(name) {
                host = host.with_var(name, value);
            }
        }
        host
    }

    /// A host with no variables set.
    #[must_use]
    pub fn new(os: Os, home: Option<PathBuf>) -> Self {
        Self {
            os,
            home,
            vars: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with_var(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// A variable's value; set but empty counts as unset, as the tools treat it.
    #[must_use]
    pub fn var(&self, name: &str) -> Option<&OsString> {
        self.vars.get(name).filter(|v| !v.is_empty())
    }

    /// Claude Code's config dir: `$CLAUDE_CONFIG_DIR`, else `<home>/.claude`.
    #[must_use]
    pub fn claude_config_dir(&self) -> Option<PathBuf> {
        match self.var("CLAUDE_CONFIG_DIR") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(self.home.as_ref()?.join(".claude")),
        }
    }

    /// Codex CLI's home: `$CODEX_HOME`, else `<home>/.codex`.
    #[must_use]
    pub fn codex_home(&self) -> Option<PathBuf> {
        match self.var("CODEX_HOME") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(self.home.as_ref()?.join(".codex")),
        }
    }

    /// The XDG data dir opencode uses on every system: `$XDG_DATA_HOME`, else
    /// `<home>/.local/share`.
    #[must_use]
    pub fn xdg_data_home(&self) -> Option<PathBuf> {
        match self.var("XDG_DATA_HOME") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(self.home.as_ref()?.join(".local").join("share")),
        }
    }

    /// The login name as the system's tools see it: `$USER` on Unix, `%USERNAME%` on Windows.
    #[must_use]
    pub fn user_name(&self) -> Option<String> {
        let name = match self.os {
            Os::Windows => "USERNAME",
            Os::Linux | Os::MacOs => "USER",
        };
        self.var(name).map(|v| v.to_string_lossy().into_owned())
    }
}

/// Rota's own data dir without `ROTA_HOME`: `<platform data dir>/rota` as `dirs` finds it
/// (`~/.local/share/rota` or `$XDG_DATA_HOME/rota`, `~/Library/Application Support/rota`,
/// `%APPDATA%\rota`). Settings and vault stay together: on Windows the vault key's Credential
/// Manager item roams with the roaming profile, as `%APPDATA%` does.
#[must_use]
pub fn rota_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("rota"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::import::ImportSource;

    fn linux() -> Host {
        Host::new(Os::Linux, Some("/home/ann".into()))
    }
    fn macos() -> Host {
        Host::new(Os::MacOs, Some("/Users/ann".into()))
    }
    fn windows() -> Host {
        Host::new(Os::Windows, Some(r"C:\Users\ann".into()))
    }

    #[test]
    fn claude_code_login_file_is_in_the_config_dir_on_every_system() {
        let cases = [
            (linux(), "/home/ann"),
            (macos(), "/Users/ann"),
            // Windows: %USERPROFILE%\.claude\.credentials.json
            (windows(), r"C:\Users\ann"),
        ];
        for (host, home) in cases {
            assert_eq!(
                ImportSource::ClaudeCode.path_on(&host),
                Some(Path::new(home).join(".claude").join(".credentials.json")),
                "{:?}",
                host.os
            );
            let moved = host.with_var("CLAUDE_CONFIG_DIR", "/srv/cc");
            assert_eq!(
                ImportSource::ClaudeCode.path_on(&moved),
                Some(Path::new("/srv/cc").join(".credentials.json"))
            );
        }
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let host = linux()
            .with_var("CLAUDE_CONFIG_DIR", "")
            .with_var("CODEX_HOME", "")
            .with_var("XDG_DATA_HOME", "");
        assert_eq!(
            ImportSource::ClaudeCode.path_on(&host),
            Some("/home/ann/.claude/.credentials.json".into())
        );
        assert_eq!(
            ImportSource::Codex.path_on(&host),
            Some("/home/ann/.codex/auth.json".into())
        );
        assert_eq!(
            ImportSource::Opencode.path_on(&host),
            Some("/home/ann/.local/share/opencode/auth.json".into())
        );
    }

    #[test]
    fn codex_and_opencode_use_the_same_layout_on_every_system() {
        for host in [linux(), macos(), windows()] {
            let home = host.home.clone().expect("home");
            assert_eq!(
                ImportSource::Codex.path_on(&host),
                Some(home.join(".codex").join("auth.json"))
            );
            // opencode keeps the XDG layout on macOS and Windows too (not ~/Library, not
            // %APPDATA%).
            assert_eq!(
                ImportSource::Opencode.path_on(&host),
                Some(
                    home.join(".local")
                        .join("share")
                        .join("opencode")
                        .join("auth.json")
                )
            );
            let moved = host
                .with_var("CODEX_HOME", "/x/codex")
                .with_var("XDG_DATA_HOME", "/x/data");
            assert_eq!(
                ImportSource::Codex.path_on(&moved),
                Some(Path::new("/x/codex").join("auth.json"))
            );
            assert_eq!(
                ImportSource::Opencode.path_on(&moved),
                Some(Path::new("/x/data").join("opencode").join("auth.json"))
            );
        }
    }

    #[test]
    fn no_home_and_no_variable_means_no_path() {
        let host = Host::new(Os::Windows, None);
        for source in ImportSource::ALL {
            assert_eq!(source.path_on(&host), None, "{source:?}");
        }
        let host = host.with_var("CODEX_HOME", r"D:\codex");
        assert_eq!(
            ImportSource::Codex.path_on(&host),
            Some(Path::new(r"D:\codex").join("auth.json"))
        );
    }

    #[test]
    fn the_user_name_comes_from_the_systems_own_variable() {
        let both = |h: Host| {
            h.with_var("USER", "unix-ann")
                .with_var("USERNAME", "win-ann")
        };
        assert_eq!(both(linux()).user_name().as_deref(), Some("unix-ann"));
        assert_eq!(both(macos()).user_name().as_deref(), Some("unix-ann"));
        assert_eq!(both(windows()).user_name().as_deref(), Some("win-ann"));
        assert_eq!(macos().user_name(), None);
    }

    /// Rota's own data dir follows each system's convention (`dirs`); this runs on the system
    /// it names (the release workflow runs the store's tests on macOS and Windows).
    #[test]
    fn rota_data_dir_follows_the_platform_convention() {
        let dir = rota_data_dir().expect("a data dir");
        let home = dirs::home_dir().expect("a home dir");
        assert!(dir.ends_with("rota"), "{}", dir.display());
        let base = dir.parent().expect("a parent");
        match Os::CURRENT {
            Os::MacOs => assert_eq!(base, home.join("Library").join("Application Support")),
            // %APPDATA% (roaming): the vault key in Credential Manager roams with it.
            Os::Windows => assert_eq!(base, home.join("AppData").join("Roaming")),
            Os::Linux => match std::env::var_os("XDG_DATA_HOME") {
                Some(x) if Path::new(&x).is_absolute() => assert_eq!(base, Path::new(&x)),
                _ => assert_eq!(base, home.join(".local").join("share")),
            },
        }
    }
}
