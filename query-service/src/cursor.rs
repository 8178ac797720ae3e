//! Opaque, tamper-evident page cursors: `base64url(json) "." base64url(hmac)`.
//!
//! The MAC (HMAC-SHA256, truncated to 128 bits) covers the endpoint, the caller and the
//! endpoint's own context (the search words, the conversation partner), so a cursor altered,
//! made up, or taken from another endpoint, user or search answers 400.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use http_edge::ApiError;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const TAG_BYTES: usize = 16;
/// Longer cursors are refused before any work.
const MAX_CURSOR_CHARS: usize = 512;

/// The key that signs cursors.
#[derive(Clone)]
pub struct CursorKey(Arc<[u8; 32]>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

/// What a cursor is bound to besides its position.
pub(crate) struct Scope<'a> {
    pub endpoint: &'static str,
    pub caller: &'a str,
    pub context: &'a str,
}

impl CursorKey {
    /// A key derived from a configured secret (`CURSOR_SECRET`), the same in every instance.
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"healing-space cursor key v1\0");
        hasher.update(secret);
        Self(Arc::new(hasher.finalize().into()))
    }

    /// A random key for this process.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(Arc::new(key))
    }

    fn mac(&self, scope: &Scope<'_>, payload: &[u8]) -> HmacSha256 {
        // `new_from_slice` accepts keys of any length for HMAC; 32 bytes never fails.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in [
            scope.endpoint.as_bytes(),
            scope.caller.as_bytes(),
            scope.context.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(payload);
        mac
    }

    /// The cursor of `position`.
    pub(crate) fn seal<T: Serialize>(
        &self,
        scope: &Scope<'_>,
        position: &T,
    ) -> Result<String, ApiError> {
        let payload = serde_json::to_vec(position).map_err(ApiError::internal)?;
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        ))
    }

    /// The position of a cursor this service issued for `scope`; 400 for anything else.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        scope: &Scope<'_>,
        cursor: &str,
    ) -> Result<T, ApiError> {
        let bad = || ApiError::InvalidInput("invalid cursor".into());
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        if tag.len() != TAG_BYTES {
            return Err(bad());
        }
        self.mac(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| bad())?;
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: Scope<'static> = Scope {
        endpoint: "sent",
        caller: "alice",
        context: "",
    };

    #[test]
    fn a_cursor_opens_only_unaltered_and_in_its_own_scope() -> Result<(), ApiError> {
        let key = CursorKey::random();
        let cursor = key.seal(&SCOPE, &(1_700_000_000_000_000_i64, "x"))?;
        let (at, id): (i64, String) = key.open(&SCOPE, &cursor)?;
        assert_eq!((at, id.as_str()), (1_700_000_000_000_000, "x"));

        let other_user = Scope {
            caller: "bob",
            ..SCOPE
        };
        assert!(key.open::<(i64, String)>(&other_user, &cursor).is_err());
        let other_endpoint = Scope {
            endpoint: "inbox",
            ..SCOPE
        };
        assert!(key.open::<(i64, String)>(&other_endpoint, &cursor).is_err());
        assert!(CursorKey::random()
            .open::<(i64, String)>(&SCOPE, &cursor)
            .is_err());

        let forged = URL_SAFE_NO_PAD.encode(br#"[0,"x"]"#);
        let (_, tag) = cursor.split_once('.').unwrap_or_default();
        for bad in [
            format!("{forged}.{tag}"),
            "garbage".into(),
            String::new(),
            "a.b".into(),
        ] {
            assert!(key.open::<(i64, String)>(&SCOPE, &bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn the_same_secret_gives_the_same_key() -> Result<(), ApiError> {
        let cursor = CursorKey::from_secret(b"s").seal(&SCOPE, &1)?;
        assert_eq!(
            CursorKey::from_secret(b"s").open::<i32>(&SCOPE, &cursor)?,
            1
        );
        assert!(CursorKey::from_secret(b"t")
            .open::<i32>(&SCOPE, &cursor)
            .is_err());
        Ok(())
    }
}
