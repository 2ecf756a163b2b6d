//! The vault file codec: plaintext (`cipher: "none"`, file backend, mode 0600) or sealed with
//! XChaCha20-Poly1305 under a 32-byte key kept in the OS keychain.
//!
//! This is the one place where secrets are turned into bytes.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use rota_core::Secret;

use crate::secret::{SecretBundle, Vault};

const AAD: &[u8] = b"rota-vault-v1";
const VERSION: u32 = 1;

/// The vault's symmetric key. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey([u8; 32]);

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

impl VaultKey {
    /// A fresh random key from the OS random source.
    pub(crate) fn generate() -> Result<Self, String> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| format!("no OS randomness: {e}"))?;
        Ok(Self(k))
    }

    /// The form kept in the keychain (base64).
    pub(crate) fn to_text(&self) -> Secret {
        Secret::new(B64.encode(self.0))
    }

    pub(crate) fn from_text(text: &Secret) -> Result<Self, String> {
        let bytes = B64
            .decode(text.expose().trim())
            .map_err(|_| "the keychain item is not a base64 key".to_owned())?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the keychain item is not a 32-byte key".to_owned())?;
        Ok(Self(arr))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBundle {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    extras: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "cipher", deny_unknown_fields)]
enum VaultFile {
    #[serde(rename = "none")]
    Plain {
        version: u32,
        /// The store generation this vault was written for (see [`Decoded::commit`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<u64>,
        entries: BTreeMap<String, WireBundle>,
    },
    #[serde(rename = "xchacha20poly1305")]
    Sealed {
        version: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<u64>,
        nonce: String,
        ciphertext: String,
    },
}

/// A decoded vault file.
pub(crate) struct Decoded {
    pub vault: Vault,
    /// The state generation of the mutation that wrote this vault: lets the store tell, after a
    /// crash between the vault write and the state write, that the vault is already the new one
    /// (and finish the commit). Not secret; `None` in vaults written before it existed.
    pub commit: Option<u64>,
}

/// Why a vault file could not be turned into a [`Vault`].
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The bytes are not a vault file (truncated, empty, garbage).
    Corrupt(String),
    /// A well-formed sealed vault the key at hand does not open (or no key).
    Undecryptable(String),
    /// A file of a newer format than this build reads: never moved aside or overwritten.
    Newer { version: u32, supported: u32 },
}

/// The commit tag of a vault file (readable without its key); `None` when absent or unreadable.
pub(crate) fn commit_of(bytes: &[u8]) -> Option<u64> {
    match serde_json::from_slice::<VaultFile>(bytes).ok()? {
        VaultFile::Plain { commit, .. } | VaultFile::Sealed { commit, .. } => commit,
    }
}

/// Whether a vault file's bytes are sealed (`None` when they are not a vault file at all).
pub(crate) fn is_sealed(bytes: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<VaultFile>(bytes).ok()? {
        VaultFile::Plain { .. } => Some(false),
        VaultFile::Sealed { .. } => Some(true),
    }
}

fn to_wire(vault: &Vault) -> BTreeMap<String, WireBundle> {
    vault
        .iter()
        .map(|(id, b)| {
            let wire = WireBundle {
                access_token: b.access_token.expose().to_owned(),
                refresh_token: b.refresh_token.as_ref().map(|s| s.expose().to_owned()),
                expires_at: b.expires_at,
                extras: b
                    .extras
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                    .collect(),
            };
            (id.to_owned(), wire)
        })
        .collect()
}

fn from_wire(entries: BTreeMap<String, WireBundle>) -> Vault {
    let mut vault = Vault::default();
    for (id, w) in entries {
        vault.insert(
            id,
            SecretBundle {
                access_token: Secret::new(w.access_token),
                refresh_token: w.refresh_token.map(Secret::new),
                expires_at: w.expires_at,
                extras: w
                    .extras
                    .into_iter()
                    .map(|(k, v)| (k, Secret::new(v)))
                    .collect(),
            },
        );
    }
    vault
}

/// Serialises the vault (tagged with the generation `commit`); sealed when a key is given.
pub(crate) fn encode(
    vault: &Vault,
    key: Option<&VaultKey>,
    commit: Option<u64>,
) -> Result<Vec<u8>, String> {
    let entries = to_wire(vault);
    let file = match key {
        None => VaultFile::Plain {
            version: VERSION,
            commit,
            entries,
        },
        Some(key) => {
            let plain = serde_json::to_vec(&entries).map_err(|e| e.to_string())?;
            let mut nonce = [0u8; 24];
            getrandom::fill(&mut nonce).map_err(|e| format!("no OS randomness: {e}"))?;
            let cipher = XChaCha20Poly1305::new((&key.0).into());
            let sealed = cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &plain,
                        aad: AAD,
                    },
                )
                .map_err(|_| "encryption failed".to_owned())?;
            VaultFile::Sealed {
                version: VERSION,
                commit,
                nonce: B64.encode(nonce),
                ciphertext: B64.encode(sealed),
            }
        }
    };
    serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())
}

/// Parses a vault file. A sealed file needs `key`.
pub(crate) fn decode(bytes: &[u8], key: Option<&VaultKey>) -> Result<Decoded, DecodeError> {
    // The version first: a newer Rota's vault may have fields this build does not know.
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes)
        && let Some(version) = map.get("version").and_then(serde_json::Value::as_u64)
    {
        check_version(u32::try_from(version).unwrap_or(u32::MAX))?;
    }
    let file: VaultFile = serde_json::from_slice(bytes).map_err(|e| {
        DecodeError::Corrupt(format!("not a vault file ({})", json_error_position(&e)))
    })?;
    match file {
        VaultFile::Plain {
            version,
            commit,
            entries,
        } => {
            check_version(version)?;
            Ok(Decoded {
                vault: from_wire(entries),
                commit,
            })
        }
        VaultFile::Sealed {
            version,
            commit,
            nonce,
            ciphertext,
        } => {
            check_version(version)?;
            let nonce = B64
                .decode(nonce)
                .ok()
                .filter(|n| n.len() == 24)
                .ok_or_else(|| DecodeError::Corrupt("bad nonce".to_owned()))?;
            let sealed = B64
                .decode(ciphertext)
                .map_err(|_| DecodeError::Corrupt("ciphertext is not base64".to_owned()))?;
            let Some(key) = key else {
                return Err(DecodeError::Undecryptable(
                    "it is encrypted and its key is not available".to_owned(),
                ));
            };
            let cipher = XChaCha20Poly1305::new((&key.0).into());
            let plain = cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: AAD,
                    },
                )
                .map_err(|_| {
                    DecodeError::Undecryptable(
                        "authentication failed (wrong key in the keychain, or damaged)".to_owned(),
                    )
                })?;
            let entries: BTreeMap<String, WireBundle> =
                serde_json::from_slice(&plain).map_err(|e| {
                    DecodeError::Corrupt(format!(
                        "decrypted content is not a vault ({})",
                        json_error_position(&e)
                    ))
                })?;
            Ok(Decoded {
                vault: from_wire(entries),
                commit,
            })
        }
    }
}

fn check_version(version: u32) -> Result<(), DecodeError> {
    match version {
        VERSION => Ok(()),
        v if v > VERSION => Err(DecodeError::Newer {
            version: v,
            supported: VERSION,
        }),
        v => Err(DecodeError::Corrupt(format!(
            "unsupported vault version {v}"
        ))),
    }
}

/// Where a JSON error is, without serde's message (which can quote a value, i.e. a secret).
pub(crate) fn json_error_position(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}
