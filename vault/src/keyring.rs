//! Key-encryption keys (KEKs), read from `HS_KEK_FILE`, and the data keys they wrap.
//!
//! The file holds one key per line, `KEY_ID BASE64`, where the base64 text is 32 random bytes
//! (`openssl rand -base64 32`); blank lines and `#` comments are ignored. The first key is the
//! *active* one: new data keys are wrapped with it. The others stay to unwrap data keys that
//! `hs-admin keys rotate` has not moved yet.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Bytes of an AES-GCM nonce, stored before each ciphertext.
pub(crate) const NONCE_LEN: usize = 12;

/// What a KEK encrypts to prove it is the key that was registered under its id.
const CHECK_PLAINTEXT: &[u8] = b"healing-space key-encryption key check v1";

/// A 256-bit data key (one per message), zeroed when dropped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(key.as_slice());
        Self(bytes)
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// AES-256-GCM of `plaintext` with a fresh random nonce, bound to `aad`: `nonce || ciphertext`.
pub(crate) fn encrypt(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = Aes256Gcm::generate_nonce(OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // AES-GCM fails only for inputs over 64 GiB.
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(nonce.as_slice());
    out.extend_from_slice(&sealed);
    out
}

/// The inverse of [`encrypt`]; `None` when the key, the data or `aad` do not match.
pub(crate) fn decrypt(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
        .ok()
}

/// The key-encryption keys of this process.
pub struct Keyring {
    active: String,
    keys: HashMap<String, Aes256Gcm>,
    /// The active key's check value, made once (every append that stores keys registers it).
    active_check: Vec<u8>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("ids", &ids)
            .finish()
    }
}

impl Keyring {
    /// Reads the keys of `path` (see the module's documentation for the format).
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            VaultError::KekFile {
                path: path.display().to_string(),
                source,
            }
        })?);
        Self::parse(&text).map_err(|reason| VaultError::KekFormat {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses the text of a KEK file; the error says which line is wrong (never the key).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut active = None;
        let mut keys = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(id), Some(encoded), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "line {}: expected `KEY_ID BASE64_OF_32_BYTES`",
                    number + 1
                ));
            };
            if !valid_id(id) {
                return Err(format!(
                    "line {}: a key id is 1 to 64 letters, digits, `-`, `_` or `.`",
                    number + 1
                ));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| format!("line {}: the key is not base64", number + 1))?,
            );
            if bytes.len() != 32 {
                return Err(format!(
                    "line {}: a key is 32 bytes (base64 of `openssl rand 32`), this one is {}",
                    number + 1,
                    bytes.len()
                ));
            }
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
            if keys.insert(id.to_owned(), cipher).is_some() {
                return Err(format!("line {}: key id `{id}` appears twice", number + 1));
            }
            active.get_or_insert_with(|| id.to_owned());
        }
        let active = active.ok_or_else(|| "the file holds no key".to_owned())?;
        let mut ring = Self {
            active,
            keys,
            active_check: Vec::new(),
        };
        ring.active_check = ring.check_value(&ring.active).map_err(|e| e.to_string())?;
        Ok(ring)
    }

    /// The id of the key new data keys are wrapped with (the file's first).
    pub fn active(&self) -> &str {
        &self.active
    }

    /// [`Keyring::check_value`] of the active key, made when the file was read.
    pub fn active_check(&self) -> &[u8] {
        &self.active_check
    }

    /// Whether the file holds key `id`.
    pub fn has(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    fn key(&self, id: &str) -> Result<&Aes256Gcm, VaultError> {
        self.keys
            .get(id)
            .ok_or_else(|| VaultError::MissingKek(id.to_owned()))
    }

    /// `data_key` wrapped by KEK `kek_id`, bound to the key's id.
    pub fn wrap(
        &self,
        kek_id: &str,
        key_id: Uuid,
        data_key: &DataKey,
    ) -> Result<Vec<u8>, VaultError> {
        Ok(encrypt(
            self.key(kek_id)?,
            data_key.0.as_slice(),
            key_id.as_bytes(),
        ))
    }

    /// The data key `key_id` that KEK `kek_id` wrapped into `wrapped`.
    pub fn unwrap_key(
        &self,
        kek_id: &str,
        key_id: Uuid,
        wrapped: &[u8],
    ) -> Result<DataKey, VaultError> {
        let plain = Zeroizing::new(
            decrypt(self.key(kek_id)?, wrapped, key_id.as_bytes()).ok_or_else(|| {
                VaultError::Unwrap {
                    key_id,
                    kek_id: kek_id.to_owned(),
                }
            })?,
        );
        if plain.len() != 32 {
            return Err(VaultError::Unwrap {
                key_id,
                kek_id: kek_id.to_owned(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&plain);
        Ok(DataKey(bytes))
    }

    /// The check value registered with KEK `kek_id` (see [`Keyring::verify_check`]).
    pub fn check_value(&self, kek_id: &str) -> Result<Vec<u8>, VaultError> {
        Ok(encrypt(
            self.key(kek_id)?,
            CHECK_PLAINTEXT,
            kek_id.as_bytes(),
        ))
    }

    /// Whether KEK `kek_id` of this file is the key that produced `check` when it was
    /// registered: a wrong key under a known id is caught at start-up, not at the first read.
    pub fn verify_check(&self, kek_id: &str, check: &[u8]) -> Result<(), VaultError> {
        match decrypt(self.key(kek_id)?, check, kek_id.as_bytes()) {
            Some(plain) if plain == CHECK_PLAINTEXT => Ok(()),
            _ => Err(VaultError::WrongKek(kek_id.to_owned())),
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "HxwdHhscGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwI=";

    #[test]
    fn the_first_key_is_active_and_bad_files_say_which_line() {
        let ring = Keyring::parse(&format!("# keys\nnew {KEY_B}\n\nold {KEY_A}\n"));
        let ring = ring.as_ref().map(|r| (r.active().to_owned(), r.has("old")));
        assert_eq!(ring, Ok(("new".to_owned(), true)));
        let too_short = Keyring::parse("k AAEC").err();
        assert!(too_short.is_some_and(|e| e.contains("line 1") && e.contains("32 bytes")));
        let twice = Keyring::parse(&format!("k {KEY_A}\nk {KEY_B}")).err();
        assert!(twice.is_some_and(|e| e.contains("line 2")));
        assert!(Keyring::parse("# nothing\n").is_err());
        assert!(Keyring::parse(&format!("bad/id {KEY_A}")).is_err());
    }

    #[test]
    fn a_wrapped_key_opens_only_with_its_kek_and_its_id() -> Result<(), VaultError> {
        let ring = Keyring::parse(&format!("a {KEY_A}\nb {KEY_B}"))
            .map_err(|_| VaultError::WrongKek("test".into()))?;
        let id = Uuid::new_v4();
        let key = DataKey::generate();
        let wrapped = ring.wrap("a", id, &key)?;
        let opened = ring.unwrap_key("a", id, &wrapped)?;
        assert_eq!(opened.0.as_slice(), key.0.as_slice());
        assert!(ring.unwrap_key("b", id, &wrapped).is_err());
        assert!(ring.unwrap_key("a", Uuid::new_v4(), &wrapped).is_err());
        let check = ring.check_value("a")?;
        assert!(ring.verify_check("a", &check).is_ok());
        assert!(matches!(
            ring.verify_check("b", &check),
            Err(VaultError::WrongKek(_))
        ));
        Ok(())
    }
}
