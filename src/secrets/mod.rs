//! Encryption at rest of OAuth client secrets.
//!
//! A [`MasterKey`] (32 random bytes, given base64-encoded in `SWITCHBOARD_MASTER_KEY` or in a key file)
//! seals each client secret with ChaCha20-Poly1305 (an AEAD cipher: it encrypts and authenticates). A
//! [`Sealed`] value records which key sealed it (the key's [`MasterKey::id`]), the random nonce and the
//! ciphertext; [`Sealed::to_text`] turns it into the single text column the store keeps.
//!
//! The associated data of each seal names the secret's owner ([`client_aad`]): a sealed value copied onto
//! another client's row does not open. Neither the key nor a secret ever appears in `Debug` output or in an
//! error message: errors name the variable, the file or the key id, never a value.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use sha2::{Digest, Sha256};

use crate::settings::Secret;

/// The environment variable that holds the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "SWITCHBOARD_MASTER_KEY";

/// Length of a master key, in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a nonce, in bytes (96 bits, as ChaCha20-Poly1305 takes).
pub const NONCE_LEN: usize = 12;
/// Length of a key id, in hex characters.
const KEY_ID_LEN: usize = 16;
/// Length of the authentication tag that ends every ciphertext.
const TAG_LEN: usize = 16;
/// The version tag that starts [`Sealed::to_text`].
const TEXT_VERSION: &str = "v1";

/// Errors of reading a master key or opening a sealed secret. Messages name the variable, the file or the
/// key id involved, never a key or a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The environment variable is set but does not hold a usable key.
    #[error("environment variable {var}: {problem}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with it (never its value).
        problem: String,
    },
    /// The key file cannot be read or does not hold a usable key.
    #[error("master key file {}: {problem}", path.display())]
    File {
        /// The file's path.
        path: PathBuf,
        /// What is wrong with it (never its content).
        problem: String,
    },
    /// Both the environment variable and a key file were given.
    #[error(
        "both environment variable {var} and key file {} give a master key: give only one",
        path.display()
    )]
    Ambiguous {
        /// The variable's name.
        var: String,
        /// The key file's path.
        path: PathBuf,
    },
    /// The value was sealed by another key than the one trying to open it.
    #[error(
        "the secret was sealed with master key {sealed_with}, not with the key given ({given})"
    )]
    WrongKey {
        /// Id of the key that sealed the value.
        sealed_with: String,
        /// Id of the key that tried to open it.
        given: String,
    },
    /// The ciphertext does not authenticate: it was altered, or it was sealed for another owner.
    #[error(
        "the secret sealed with master key {key_id} does not authenticate: it was altered, or it was \
         sealed for another client"
    )]
    Tampered {
        /// Id of the key that sealed the value.
        key_id: String,
    },
    /// The sealed text is not in the format [`Sealed::to_text`] writes.
    #[error("the sealed secret is malformed: {0}")]
    Malformed(String),
}

/// The key that seals client secrets. 32 bytes.
///
/// `Debug` prints only the key's [`id`](MasterKey::id). The bytes are overwritten when the key is dropped.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
}

impl MasterKey {
    /// A new random key, from the operating system's random source.
    pub fn generate() -> MasterKey {
        MasterKey {
            bytes: rand::random::<[u8; KEY_LEN]>(),
        }
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey { bytes }
    }

    /// Reads the master key from the environment variable `env_var` (normally [`MASTER_KEY_ENV`]) or from
    /// `file`, each holding the key as base64 text (surrounding whitespace ignored).
    ///
    /// `Ok(None)` when neither is given (the variable is unset and `file` is `None`). It is an error to give
    /// both, to set the variable to an empty value, or to give a value that is not base64 of exactly 32
    /// bytes. Errors name the variable or the file, never the value.
    pub fn from_env_or_file(
        env_var: &str,
        file: Option<&Path>,
    ) -> Result<Option<MasterKey>, SecretsError> {
        let from_env = match std::env::var(env_var) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(SecretsError::Env {
                    var: env_var.to_owned(),
                    problem: "is not valid Unicode".to_owned(),
                });
            }
        };
        MasterKey::from_sources(env_var, from_env, file)
    }

    /// [`MasterKey::from_env_or_file`] with the variable's value already looked up.
    fn from_sources(
        env_var: &str,
        env_value: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<MasterKey>, SecretsError> {
        match (env_value, file) {
            (None, None) => Ok(None),
            (Some(_), Some(path)) => Err(SecretsError::Ambiguous {
                var: env_var.to_owned(),
                path: path.to_owned(),
            }),
            (Some(value), None) => {
                MasterKey::from_base64(&value)
                    .map(Some)
                    .map_err(|problem| SecretsError::Env {
                        var: env_var.to_owned(),
                        problem,
                    })
            }
            (None, Some(path)) => {
                let file_error = |problem: String| SecretsError::File {
                    path: path.to_owned(),
                    problem,
                };
                // Only the kind of an I/O error is shown, and never the content: it is the key.
                let bytes = std::fs::read(path)
                    .map_err(|e| file_error(format!("cannot be read: {}", e.kind())))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| file_error("is not base64 text (not valid UTF-8)".to_owned()))?;
                MasterKey::from_base64(&text).map(Some).map_err(file_error)
            }
        }
    }

    /// Decodes a key from base64 text (standard or URL-safe alphabet, padded or not; surrounding
    /// whitespace ignored). The error says what is wrong without repeating the text.
    pub fn from_base64(text: &str) -> Result<MasterKey, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty: expected the base64 encoding of 32 bytes".to_owned());
        }
        // The decoder's own message quotes the offending character: it is part of the key, so drop it.
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| {
                "is not valid base64: expected the base64 encoding of 32 bytes".to_owned()
            })?;
        let bytes: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "decodes to {} bytes: a master key is exactly {KEY_LEN} bytes",
                bytes.len()
            )
        })?;
        Ok(MasterKey { bytes })
    }

    /// The key as standard, padded base64: what `SWITCHBOARD_MASTER_KEY` and key files hold.
    ///
    /// This is the key itself: write it only where the key is meant to go, never to a log.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Identifies the key without revealing it: the first 16 hex characters of the SHA-256 of its bytes.
    /// Every [`Sealed`] value records the id of the key that sealed it.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.bytes);
        let mut id = String::with_capacity(KEY_ID_LEN);
        for byte in &digest[..KEY_ID_LEN / 2] {
            id.push_str(&format!("{byte:02x}"));
        }
        id
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.bytes))
    }

    /// Encrypts and authenticates `secret` under a fresh random nonce. `aad` (associated data, not stored)
    /// binds the sealed value to its owner: [`MasterKey::open`] must be given the same `aad`. For client
    /// secrets use [`client_aad`].
    pub fn seal(&self, secret: &Secret, aad: &str) -> Sealed {
        let nonce = rand::random::<[u8; NONCE_LEN]>();
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            // ChaCha20-Poly1305 fails only on messages of 256 GiB and more.
            .expect("ChaCha20-Poly1305 encrypts any message shorter than 256 GiB");
        Sealed {
            key_id: self.id(),
            nonce,
            ciphertext,
        }
    }

    /// Decrypts a value sealed by this key with the same `aad`.
    ///
    /// Fails with [`SecretsError::WrongKey`] when another key sealed it, [`SecretsError::Tampered`] when
    /// the ciphertext or the `aad` differ from what was sealed, [`SecretsError::Malformed`] when the
    /// decrypted bytes are not UTF-8.
    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<Secret, SecretsError> {
        let id = self.id();
        if sealed.key_id != id {
            return Err(SecretsError::WrongKey {
                sealed_with: sealed.key_id.clone(),
                given: id,
            });
        }
        let plaintext = self
            .cipher()
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Tampered { key_id: id.clone() })?;
        String::from_utf8(plaintext).map(Secret::new).map_err(|_| {
            SecretsError::Malformed(format!(
                "the secret sealed with master key {id} is not UTF-8 text"
            ))
        })
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id()).finish()
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        // Best effort: do not leave the key in freed memory. `black_box` keeps the compiler from
        // discarding the write as dead.
        self.bytes.fill(0);
        std::hint::black_box(&mut self.bytes);
    }
}

/// The associated data that binds a client secret to its tenant and client id, for [`MasterKey::seal`]
/// and [`MasterKey::open`]. The tenant's length is included so that no two (tenant, client) pairs give
/// the same text, whatever characters the ids hold.
pub fn client_aad(tenant: &str, client_id: &str) -> String {
    format!(
        "switchboard/client-secret/v1/{}:{tenant}/{client_id}",
        tenant.len()
    )
}

/// A secret sealed by a [`MasterKey`]: opaque without that key.
///
/// `Debug` shows the key id and the sizes, not the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// [`MasterKey::id`] of the key that sealed the value.
    pub key_id: String,
    /// The random nonce the value was sealed under.
    pub nonce: [u8; NONCE_LEN],
    /// The encrypted secret followed by its 16-byte authentication tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// The single-line text form the store keeps: `v1:<key id>:<base64 nonce>:<base64 ciphertext>`
    /// (URL-safe base64 without padding).
    pub fn to_text(&self) -> String {
        format!(
            "{TEXT_VERSION}:{}:{}:{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(self.nonce),
            URL_SAFE_NO_PAD.encode(&self.ciphertext)
        )
    }

    /// Parses what [`Sealed::to_text`] wrote. Errors say which part is wrong, without repeating the text.
    pub fn from_text(text: &str) -> Result<Sealed, SecretsError> {
        let malformed = |what: &str| SecretsError::Malformed(what.to_owned());
        let mut parts = text.split(':');
        let (Some(version), Some(key_id), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed(
                "expected four ':'-separated parts (version, key id, nonce, ciphertext)",
            ));
        };
        if version != TEXT_VERSION {
            return Err(SecretsError::Malformed(format!(
                "unknown format version {:?} (this build reads {TEXT_VERSION})",
                version.chars().take(8).collect::<String>()
            )));
        }
        if key_id.len() != KEY_ID_LEN
            || !key_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed("the key id is not 16 lowercase hex characters"));
        }
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| malformed("the nonce is not base64 of 12 bytes"))?;
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ciphertext)
            .map_err(|_| malformed("the ciphertext is not base64"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(malformed(
                "the ciphertext is shorter than its authentication tag",
            ));
        }
        Ok(Sealed {
            key_id: key_id.to_owned(),
            nonce,
            ciphertext,
        })
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
