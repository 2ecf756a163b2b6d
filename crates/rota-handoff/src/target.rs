//! Where a tool keeps its login, written with the store's durable write (`rota_store::write_durably`:
//! temp file, fsync, rename, directory fsync, 0600), so a crash leaves the old file or the new one.

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rota_store::WriteStep;
use rota_store::platform::{Host, Os};
use rota_types::HandoffTool;
use sha2::{Digest as _, Sha256};
use unicode_normalization::UnicodeNormalization as _;

use crate::error::HandoffError;

/// Claude Code's keychain service on macOS (without `CLAUDE_CONFIG_DIR`).
pub const CLAUDE_KEYCHAIN_SERVICE: &str = "Claude Code-credentials";

/// Claude Code's login item on macOS, as Claude Code names it: service
/// `Claude Code-credentials`, plus `-<first 8 hex digits of the SHA-256 of its config dir>` when
/// `CLAUDE_CONFIG_DIR` is set (the dir in Unicode NFC, as Claude Code normalises it), so each
/// config dir has its own login; account `$USER`, or `claude-code-user` when that is unset or
/// holds anything but letters, digits, `.`, `_` and `-`.
#[must_use]
pub fn claude_keychain_item(host: &Host) -> Option<(String, String)> {
    let mut service = CLAUDE_KEYCHAIN_SERVICE.to_owned();
    if host.var("CLAUDE_CONFIG_DIR").is_some() {
        let dir: String = host.claude_config_dir()?.to_string_lossy().nfc().collect();
        let digest = Sha256::digest(dir.as_bytes());
        service.push('-');
        for byte in &digest[..4] {
            let _ = write!(service, "{byte:02x}"); // writing to a String cannot fail
        }
    }
    let account = host
        .user_name()
        .filter(|u| {
            u.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .unwrap_or_else(|| "claude-code-user".to_owned());
    Some((service, account))
}

/// A tool's credential store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    /// A generic password item (macOS login keychain), holding the same JSON as the file.
    Keychain {
        service: String,
        account: String,
    },
}

impl Target {
    /// The tool's own location on this system: Claude Code's login keychain item on macOS,
    /// else the file the importer reads ([`ImportSource::path_on`](rota_store::import::ImportSource::path_on)).
    pub fn default_for(tool: HandoffTool) -> Result<Self, HandoffError> {
        Self::on(tool, &Host::current())
    }

    /// The tool's location on `host`'s system.
    pub fn on(tool: HandoffTool, host: &Host) -> Result<Self, HandoffError> {
        let missing =
            || HandoffError::Invalid("no home directory to find the tool's login in".into());
        if tool == HandoffTool::ClaudeCode && host.os == Os::MacOs {
            let (service, account) = claude_keychain_item(host).ok_or_else(missing)?;
            return Ok(Self::Keychain { service, account });
        }
        crate::format::source(tool)
            .path_on(host)
            .map(Self::File)
            .ok_or_else(missing)
    }

    /// Shown to people: the path, or `keychain:<service>`.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Keychain { service, .. } => format!("keychain:{service}"),
        }
    }

    /// The current content; `None` when there is none yet.
    pub fn read(&self) -> Result<Option<Vec<u8>>, HandoffError> {
        match self {
            Self::File(path) => match fs::read(path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(HandoffError::io("cannot read", path, e)),
            },
            Self::Keychain { service, account } => keychain::read(service, account),
        }
    }

    /// Replaces the content atomically. `bytes` must be a complete login (checked by the caller).
    pub fn write(&self, bytes: &[u8]) -> Result<(), HandoffError> {
        if bytes.is_empty() {
            return Err(HandoffError::Invalid(
                "refusing to write an empty login".into(),
            ));
        }
        match self {
            Self::File(path) => write_atomic(path, bytes),
            Self::Keychain { service, account } => keychain::write(service, account, bytes),
        }
    }
}

/// The file a write lands in: a symlink's target (dotfile managers link these files), so the
/// link survives.
fn resolve(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HandoffError> {
    let path = resolve(path);
    // Callers hold the target's hand-off lock, so no temp file next to it is being written.
    rota_store::remove_stale_temps(&path);
    rota_store::write_durably_with(&path, bytes, &mut |step| {
        match step {
            WriteStep::Written => failpoint("after_write"),
            WriteStep::Synced { .. } => failpoint("after_fsync"),
            WriteStep::Renamed => failpoint("after_rename"),
            WriteStep::DirSynced => {}
        }
        Ok(())
    })?;
    Ok(())
}

/// Fault injection for the crash test: `ROTA_HANDOFF_FAILPOINT=<point>` aborts the process at
/// `after_write`, `after_fsync` or `after_rename`. Unset in normal use; read once.
fn failpoint(point: &str) {
    static SPEC: OnceLock<Option<String>> = OnceLock::new();
    if SPEC
        .get_or_init(|| std::env::var(rota_config::env::HANDOFF_FAILPOINT).ok())
        .as_deref()
        == Some(point)
    {
        std::process::abort();
    }
}

#[cfg(target_os = "macos")]
mod keychain {
    use super::HandoffError;

    pub(super) fn read(service: &str, account: &str) -> Result<Option<Vec<u8>>, HandoffError> {
        let entry = keyring::Entry::new(service, account)
            .map_err(|e| HandoffError::Keychain(e.to_string()))?;
        match entry.get_password() {
            Ok(s) => Ok(Some(s.into_bytes())),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(HandoffError::Keychain(e.to_string())),
        }
    }

    pub(super) fn write(service: &str, account: &str, bytes: &[u8]) -> Result<(), HandoffError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| HandoffError::Invalid("the login is not UTF-8".into()))?;
        keyring::Entry::new(service, account)
            .and_then(|e| e.set_password(text))
            .map_err(|e| HandoffError::Keychain(e.to_string()))
    }
}

#[cfg(not(target_os = "macos"))]
mod keychain {
    use super::HandoffError;

    pub(super) fn read(_service: &str, _account: &str) -> Result<Option<Vec<u8>>, HandoffError> {
        Err(HandoffError::Keychain(
            "keychain targets exist only on macOS".into(),
        ))
    }

    pub(super) fn write(_service: &str, _account: &str, _bytes: &[u8]) -> Result<(), HandoffError> {
        Err(HandoffError::Keychain(
            "keychain targets exist only on macOS".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> Host {
        Host::new(Os::MacOs, Some("/Users/ann".into())).with_var("USER", "ann")
    }

    #[test]
    fn claude_code_on_macos_is_its_keychain_item() {
        assert_eq!(
            Target::on(HandoffTool::ClaudeCode, &mac()).unwrap(),
            Target::Keychain {
                service: "Claude Code-credentials".into(),
                account: "ann".into()
            }
        );
    }

    #[test]
    fn a_config_dir_gets_its_own_keychain_item() {
        // Expected suffixes: sha256 of the NFC path, first 8 hex digits (computed outside Rust).
        let host = mac().with_var("CLAUDE_CONFIG_DIR", "/Users/ann/.claude-work");
        assert_eq!(
            claude_keychain_item(&host).unwrap().0,
            "Claude Code-credentials-202f7ba6"
        );
        // A decomposed ("zoe" + combining diaeresis) path hashes as its composed form.
        let host = mac().with_var("CLAUDE_CONFIG_DIR", "/Users/zoe\u{308}/cc");
        assert_eq!(
            claude_keychain_item(&host).unwrap().0,
            "Claude Code-credentials-10b76ea4"
        );
        // Set but empty is unset.
        let host = mac().with_var("CLAUDE_CONFIG_DIR", "");
        assert_eq!(
            claude_keychain_item(&host).unwrap().0,
            CLAUDE_KEYCHAIN_SERVICE
        );
    }

    #[test]
    fn the_keychain_account_is_a_safe_user_name_or_claude_code_user() {
        let account = |user: Option<&str>| {
            let mut host = Host::new(Os::MacOs, Some("/Users/x".into()));
            if let Some(u) = user {
                host = host.with_var("USER", u);
            }
            claude_keychain_item(&host).unwrap().1
        };
        assert_eq!(account(Some("ann.lee_2-x")), "ann.lee_2-x");
        assert_eq!(account(Some("ann lee")), "claude-code-user");
        assert_eq!(account(Some("zoë")), "claude-code-user");
        assert_eq!(account(None), "claude-code-user");
    }

    #[test]
    fn claude_code_elsewhere_is_its_credentials_file() {
        let linux = Host::new(Os::Linux, Some("/home/ann".into()));
        assert_eq!(
            Target::on(HandoffTool::ClaudeCode, &linux).unwrap(),
            Target::File("/home/ann/.claude/.credentials.json".into())
        );
        let windows = Host::new(Os::Windows, Some(r"C:\Users\ann".into()));
        assert_eq!(
            Target::on(HandoffTool::ClaudeCode, &windows).unwrap(),
            Target::File(
                std::path::Path::new(r"C:\Users\ann")
                    .join(".claude")
                    .join(".credentials.json")
            )
        );
        // Codex and opencode are files on macOS too.
        assert_eq!(
            Target::on(HandoffTool::Codex, &mac()).unwrap(),
            Target::File("/Users/ann/.codex/auth.json".into())
        );
        assert!(Target::on(HandoffTool::Opencode, &Host::new(Os::MacOs, None)).is_err());
    }
}
