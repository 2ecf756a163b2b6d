//! The steps every tool shares: backup and manifest, merge, atomic write, undo, state.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rota_store::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Connected, ConnectionState, Endpoint, Settings, Tool, Undone, claude, codex, opencode,
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no home directory to find the tool's config in")]
    NoHome,
    /// The tool's file does not parse; it is never overwritten.
    #[error(
        "{tool}'s {path} cannot be read ({reason}); it was left untouched — fix it or move it aside, then connect again"
    )]
    Unparseable {
        tool: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] rota_store::StoreError),
    #[error(transparent)]
    Write(#[from] rota_handoff::HandoffError),
}

impl ConnectError {
    #[must_use]
    pub fn code(&self) -> rota_types::ErrorCode {
        use rota_types::ErrorCode;
        match self {
            Self::NoHome | Self::Io { .. } => ErrorCode::Os,
            Self::Unparseable { .. } => ErrorCode::Unreadable,
            Self::Store(e) => e.code(),
            Self::Write(e) => e.code(),
        }
    }
}

impl From<ConnectError> for rota_types::ApiError {
    fn from(e: ConnectError) -> Self {
        rota_types::ApiError::new(e.code(), e.to_string())
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> ConnectError {
    ConnectError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// What Rota remembers about one connection's file (`<data dir>/connections/<tool>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    path: PathBuf,
    /// Whether the file existed before Rota's first change (`<tool>.orig` holds its bytes).
    existed: bool,
    /// SHA-256 (hex) of the bytes Rota last wrote.
    written_sha256: String,
    /// The values Rota's settings replaced (`None`: the key was absent).
    previous: Settings,
}

fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("connections")
}

fn manifest_path(data_dir: &Path, tool: Tool) -> PathBuf {
    dir(data_dir).join(format!("{}.json", tool.name()))
}

fn orig_path(data_dir: &Path, tool: Tool) -> PathBuf {
    dir(data_dir).join(format!("{}.orig", tool.name()))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ConnectError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", path, e)),
    }
}

fn read_manifest(data_dir: &Path, tool: Tool) -> Option<Manifest> {
    let bytes = fs::read(manifest_path(data_dir, tool)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Atomic owner-only write of Rota's own files (manifest, backup).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConnectError> {
    if let Some(parent) = path.parent() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(parent)
            .map_err(|e| io("cannot create directory", parent, e))?;
    }
    write_file(path, bytes)
}

/// The tool's file (or Rota's own) replaced atomically: temp file, fsync, rename, directory
/// fsync, 0600 (rota-handoff's writer, which also writes through a symlink).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ConnectError> {
    if bytes.is_empty() {
        // The writer refuses empty content (a login must never be empty); an empty original
        // is put back as it was.
        return Ok(rota_store::write_durably(path, bytes)?);
    }
    rota_handoff::Target::File(path.to_owned()).write(bytes)?;
    Ok(())
}

/// The dotted paths Rota sets in `tool`'s file, with their values.
fn desired(tool: Tool, endpoint: &Endpoint) -> (Settings, Vec<String>) {
    match tool {
        Tool::ClaudeCode => (claude::desired(endpoint), Vec::new()),
        Tool::Codex => (codex::desired(endpoint), Vec::new()),
        Tool::Opencode => opencode::desired(endpoint),
    }
}

/// Reads the current values of `paths`; `Err(reason)` when the file does not parse.
fn read_values(tool: Tool, bytes: &[u8], paths: &Settings) -> Result<Settings, String> {
    match tool {
        Tool::ClaudeCode | Tool::Opencode => crate::claude::json_values(bytes, paths),
        Tool::Codex => codex::values(bytes, paths),
    }
}

/// Applies `changes` (`None`: remove the key) to the file's bytes, keeping everything else.
fn apply(tool: Tool, bytes: Option<&[u8]>, changes: &Settings) -> Result<Vec<u8>, String> {
    match tool {
        Tool::ClaudeCode => claude::json_apply(bytes, changes, None),
        Tool::Opencode => claude::json_apply(bytes, changes, Some(opencode::SCHEMA)),
        Tool::Codex => codex::apply(bytes, changes),
    }
}

/// Where the file sends the tool and with which credential.
fn pointing(tool: Tool, bytes: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    match tool {
        Tool::ClaudeCode => claude::pointing(bytes),
        Tool::Codex => codex::pointing(bytes),
        Tool::Opencode => opencode::pointing(bytes),
    }
}

fn our_url(tool: Tool, base_url: &str) -> String {
    match tool {
        Tool::ClaudeCode => format!("{base_url}/anthropic"),
        Tool::Codex | Tool::Opencode => format!("{base_url}/openai"),
    }
}

fn unparseable(tool: Tool, path: &Path, reason: String) -> ConnectError {
    ConnectError::Unparseable {
        tool: tool.display_name(),
        path: path.to_owned(),
        reason,
    }
}

pub(crate) fn connect(
    tool: Tool,
    path: &Path,
    data_dir: &Path,
    endpoint: &Endpoint,
) -> Result<Connected, ConnectError> {
    let current = read_optional(path)?;
    let (want, notes) = desired(tool, endpoint);
    let before = match &current {
        Some(bytes) => read_values(tool, bytes, &want).map_err(|r| unparseable(tool, path, r))?,
        None => want.keys().map(|k| (k.clone(), None)).collect(),
    };
    let manifest = read_manifest(data_dir, tool).filter(|m| m.path == path);
    // Settings an earlier connect wrote that this one no longer wants (opencode's Anthropic
    // provider once the gateway serves Anthropic to Claude Code only) go back to what they were.
    let retired = match (&manifest, &current) {
        (Some(m), Some(bytes)) => retired(tool, bytes, &m.previous, &want, endpoint)
            .map_err(|r| unparseable(tool, path, r))?,
        _ => Settings::new(),
    };
    let unchanged = before == want && retired.is_empty();
    let new_bytes = if unchanged {
        current.clone().unwrap_or_default()
    } else {
        let mut changes = want.clone();
        changes.extend(retired.clone());
        apply(tool, current.as_deref(), &changes).map_err(|r| unparseable(tool, path, r))?
    };
    // The first change keeps the file's original bytes; later ones keep that first copy, and
    // the values from before Rota of the settings each connect adds or gives back.
    let manifest = if let Some(mut m) = manifest {
        m.written_sha256 = sha256(&new_bytes);
        for (k, v) in &before {
            m.previous.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for k in retired.keys() {
            m.previous.remove(k);
        }
        m
    } else {
        if let Some(bytes) = &current {
            write_private(&orig_path(data_dir, tool), bytes)?;
        }
        Manifest {
            path: path.to_owned(),
            existed: current.is_some(),
            written_sha256: sha256(&new_bytes),
            previous: before,
        }
    };
    let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_private(&manifest_path(data_dir, tool), &body)?;
    if !unchanged {
        write_file(path, &new_bytes)?;
    }
    Ok(Connected {
        tool,
        path: path.to_owned(),
        unchanged,
        backup: manifest.existed.then(|| orig_path(data_dir, tool)),
        notes,
    })
}

/// Of the settings Rota set before (`previous` holds their values from before Rota), those
/// `want` no longer has and that still hold what Rota writes for them, each with the value to
/// restore (`None`: remove). A setting edited by hand since is left alone.
fn retired(
    tool: Tool,
    bytes: &[u8],
    previous: &Settings,
    want: &Settings,
    endpoint: &Endpoint,
) -> Result<Settings, String> {
    let gone: Settings = previous
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(|k| (k.clone(), None))
        .collect();
    if gone.is_empty() {
        return Ok(Settings::new());
    }
    // Every setting Rota may write for this endpoint, whatever the Anthropic choice.
    let (every, _) = desired(
        tool,
        &Endpoint {
            anthropic_for_other_clients: true,
            ..endpoint.clone()
        },
    );
    let now = read_values(tool, bytes, &gone)?;
    Ok(gone
        .keys()
        .filter(|k| {
            now.get(*k)
                .is_some_and(|v| v.is_some() && every.get(*k) == Some(v))
        })
        .map(|k| (k.clone(), previous.get(k).cloned().flatten()))
        .collect())
}

pub(crate) fn undo(tool: Tool, path: &Path, data_dir: &Path) -> Result<Undone, ConnectError> {
    let Some(manifest) = read_manifest(data_dir, tool) else {
        return Ok(Undone::NothingToUndo {
            path: path.to_owned(),
        });
    };
    let path = manifest.path.clone();
    let current = read_optional(&path)?;
    let done = if current.as_deref().map(sha256).as_deref() == Some(&manifest.written_sha256) {
        // Untouched since Rota's write: the original comes back byte for byte.
        if manifest.existed {
            let orig_file = orig_path(data_dir, tool);
            let orig =
                fs::read(&orig_file).map_err(|e| io("cannot read the backup", &orig_file, e))?;
            write_file(&path, &orig)?;
            Undone::Restored {
                path: path.clone(),
                removed: false,
            }
        } else {
            fs::remove_file(&path).map_err(|e| io("cannot remove", &path, e))?;
            Undone::Restored {
                path: path.clone(),
                removed: true,
            }
        }
    } else if let Some(bytes) = current {
        // Edited since: take out only the settings that still hold Rota's values.
        let ours = read_values(tool, &bytes, &manifest.previous)
            .map_err(|r| unparseable(tool, &path, r))?;
        let changes: Settings = manifest
            .previous
            .iter()
            .filter(|(k, _)| ours.get(*k).is_some_and(|v| is_rota_value(v.as_deref())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !changes.is_empty() {
            let new =
                apply(tool, Some(&bytes), &changes).map_err(|r| unparseable(tool, &path, r))?;
            write_file(&path, &new)?;
        }
        Undone::RemovedSettings { path: path.clone() }
    } else {
        // The file was deleted by hand: nothing of Rota's is left in it.
        Undone::RemovedSettings { path: path.clone() }
    };
    let _ = fs::remove_file(manifest_path(data_dir, tool));
    let _ = fs::remove_file(orig_path(data_dir, tool));
    Ok(done)
}

/// Whether a value still looks like the one Rota set: a loopback URL, a `rota_` key, or one of
/// the fixed values Rota writes.
fn is_rota_value(value: Option<&str>) -> bool {
    let Some(v) = value else { return false };
    v.starts_with("http://127.0.0.1:")
        || v.starts_with("rota_")
        || matches!(v, "rota" | "Rota" | "responses")
}

pub(crate) fn state(
    tool: Tool,
    path: &Path,
    data_dir: &Path,
    base_url: &str,
    key: Option<&Secret>,
) -> ConnectionState {
    let manifest = read_manifest(data_dir, tool).filter(|m| m.path == path);
    let bytes = match read_optional(path) {
        Ok(Some(b)) => b,
        Ok(None) if manifest.is_some() => return ConnectionState::ChangedByHand { url: None },
        Ok(None) => return ConnectionState::NotConnected,
        Err(e) => {
            return ConnectionState::Unreadable {
                reason: e.to_string(),
            };
        }
    };
    let (url, file_key) = match pointing(tool, &bytes) {
        Ok(p) => p,
        Err(reason) => return ConnectionState::Unreadable { reason },
    };
    let ours = our_url(tool, base_url);
    match url {
        Some(u) if u.trim_end_matches('/') == ours => {
            if key.is_some_and(|k| file_key.as_deref() == Some(k.expose())) {
                ConnectionState::Connected
            } else {
                ConnectionState::StaleKey
            }
        }
        url if manifest.is_some() => ConnectionState::ChangedByHand { url },
        Some(url) => ConnectionState::Elsewhere { url },
        None => ConnectionState::NotConnected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(key: &str) -> Endpoint {
        Endpoint {
            base_url: "http://127.0.0.1:4141".to_owned(),
            key: Secret::new(key),
            anthropic_for_other_clients: false,
        }
    }

    #[test]
    fn connect_then_undo_restores_bytes_and_states_follow() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = dir.path().join("claude/settings.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = b"{ \"model\" : \"opus\" }\n";
        fs::write(&path, original).unwrap();
        let key = Secret::new("rota_k1");
        let st =
            |k: Option<&Secret>| state(Tool::ClaudeCode, &path, &data, "http://127.0.0.1:4141", k);
        assert_eq!(st(Some(&key)), ConnectionState::NotConnected);

        let done = connect(Tool::ClaudeCode, &path, &data, &endpoint("rota_k1")).unwrap();
        assert!(!done.unchanged);
        assert_eq!(fs::read(done.backup.unwrap()).unwrap(), original);
        assert_eq!(st(Some(&key)), ConnectionState::Connected);
        // Another key (revoked and re-issued) is told apart; another port is not this Rota.
        assert_eq!(st(Some(&Secret::new("rota_k2"))), ConnectionState::StaleKey);
        assert!(matches!(
            state(
                Tool::ClaudeCode,
                &path,
                &data,
                "http://127.0.0.1:9999",
                Some(&key)
            ),
            ConnectionState::ChangedByHand { .. }
        ));
        // Connecting again changes nothing.
        assert!(
            connect(Tool::ClaudeCode, &path, &data, &endpoint("rota_k1"))
                .unwrap()
                .unchanged
        );

        assert!(matches!(
            undo(Tool::ClaudeCode, &path, &data).unwrap(),
            Undone::Restored { removed: false, .. }
        ));
        assert_eq!(fs::read(&path).unwrap(), original);
        assert_eq!(st(Some(&key)), ConnectionState::NotConnected);
        assert!(matches!(
            undo(Tool::ClaudeCode, &path, &data).unwrap(),
            Undone::NothingToUndo { .. }
        ));
    }

    /// opencode's Anthropic provider comes and goes with the client setting: what the user had
    /// there before comes back, a value they edited since stays, and undo still restores all.
    #[test]
    fn settings_a_reconnect_no_longer_wants_go_back_to_what_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = dir.path().join("opencode/opencode.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original =
            b"{\"theme\": \"dark\", \"provider\": {\"anthropic\": {\"options\": {\"apiKey\": \"mine\"}}}}\n";
        fs::write(&path, original).unwrap();
        let json =
            || -> serde_json::Value { serde_json::from_slice(&fs::read(&path).unwrap()).unwrap() };
        let with_anthropic = |on| Endpoint {
            anthropic_for_other_clients: on,
            ..endpoint("rota_k")
        };

        connect(Tool::Opencode, &path, &data, &with_anthropic(false)).unwrap();
        assert_eq!(json()["provider"]["anthropic"]["options"]["apiKey"], "mine");
        connect(Tool::Opencode, &path, &data, &with_anthropic(true)).unwrap();
        assert_eq!(
            json()["provider"]["anthropic"]["options"]["apiKey"],
            "rota_k"
        );
        let off = connect(Tool::Opencode, &path, &data, &with_anthropic(false)).unwrap();
        assert!(!off.unchanged);
        let v = json();
        assert_eq!(
            v["provider"]["anthropic"]["options"]["apiKey"], "mine",
            "{v}"
        );
        assert!(
            v.pointer("/provider/anthropic/options/baseURL").is_none(),
            "{v}"
        );
        assert_eq!(v["provider"]["openai"]["options"]["apiKey"], "rota_k");
        assert_eq!(v["theme"], "dark");
        // Nothing more to give back.
        assert!(
            connect(Tool::Opencode, &path, &data, &with_anthropic(false))
                .unwrap()
                .unchanged
        );

        // On again, then the user points Anthropic elsewhere by hand: going off keeps theirs.
        connect(Tool::Opencode, &path, &data, &with_anthropic(true)).unwrap();
        let mut v = json();
        v["provider"]["anthropic"]["options"]["baseURL"] = "https://proxy.example/v1".into();
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        connect(Tool::Opencode, &path, &data, &with_anthropic(false)).unwrap();
        let v = json();
        assert_eq!(
            v["provider"]["anthropic"]["options"]["baseURL"],
            "https://proxy.example/v1"
        );
        assert_eq!(
            v["provider"]["anthropic"]["options"]["apiKey"], "mine",
            "{v}"
        );

        // Undo: the settings Rota still holds go; the user's own edit stays.
        undo(Tool::Opencode, &path, &data).unwrap();
        let v = json();
        assert!(v.pointer("/provider/openai").is_none(), "{v}");
        assert_eq!(
            v["provider"]["anthropic"]["options"]["apiKey"], "mine",
            "{v}"
        );
    }

    #[test]
    fn undo_after_hand_edits_removes_only_rotas_settings() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = dir.path().join("codex/config.toml");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "model_provider = \"ollama\"\n").unwrap();
        connect(Tool::Codex, &path, &data, &endpoint("rota_k")).unwrap();
        let mut edited = fs::read_to_string(&path).unwrap();
        edited.push_str("\n[tui]\nnotifications = true\n");
        fs::write(&path, &edited).unwrap();
        assert!(matches!(
            undo(Tool::Codex, &path, &data).unwrap(),
            Undone::RemovedSettings { .. }
        ));
        let back = fs::read_to_string(&path).unwrap();
        assert!(back.contains("model_provider = \"ollama\""), "{back}");
        assert!(back.contains("notifications = true"), "{back}");
        assert!(!back.contains("rota"), "{back}");
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = dir.path().join("opencode.json");
        let broken = b"{ \"provider\": { // a comment\n } }";
        fs::write(&path, broken).unwrap();
        let err = connect(Tool::Opencode, &path, &data, &endpoint("rota_k")).unwrap_err();
        assert!(matches!(err, ConnectError::Unparseable { .. }), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), broken);
        assert!(!manifest_path(&data, Tool::Opencode).exists());
    }

    #[test]
    fn a_new_file_is_removed_again_by_undo() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("rota");
        let path = dir.path().join("new/opencode.json");
        let done = connect(Tool::Opencode, &path, &data, &endpoint("rota_k")).unwrap();
        assert!(done.backup.is_none());
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["$schema"], "https://opencode.ai/config.json");
        assert_eq!(v["provider"]["openai"]["options"]["apiKey"], "rota_k");
        assert!(matches!(
            undo(Tool::Opencode, &path, &data).unwrap(),
            Undone::Restored { removed: true, .. }
        ));
        assert!(!path.exists());
    }
}
