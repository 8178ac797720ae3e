//! `Idempotency-Key`: a repeated send by the same user answers the first 201 and appends nothing.
//!
//! The message id is derived from (user, key), so racing repeats all target the same aggregate and
//! the event store's optimistic concurrency lets exactly one `MessageSent` in.

use axum::http::HeaderMap;
use http_edge::ApiError;
use uuid::Uuid;

/// Namespace of ids derived from idempotency keys.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0a3c_4b7e_4c59_9a0e_2f1d_8c3b_5e71);

/// The request's `Idempotency-Key`: 1 to 128 printable ASCII characters, or none.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .ok_or_else(|| {
            ApiError::InvalidInput("Idempotency-Key must be 1 to 128 printable characters".into())
        })?;
    Ok(Some(key.to_owned()))
}

/// The id of the message that `username` creates with `key`, or a fresh one without a key.
pub fn message_id(username: &str, key: Option<&str>) -> Uuid {
    match key {
        Some(key) => Uuid::new_v5(&NAMESPACE, format!("{username}\n{key}").as_bytes()),
        None => Uuid::new_v4(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_same_user_and_key_give_the_same_id_and_nobody_else_does() {
        assert_eq!(
            message_id("alice", Some("k1")),
            message_id("alice", Some("k1"))
        );
        assert_ne!(
            message_id("alice", Some("k1")),
            message_id("bob", Some("k1"))
        );
        assert_ne!(
            message_id("alice", Some("k1")),
            message_id("alice", Some("k2"))
        );
        assert_ne!(message_id("alice", None), message_id("alice", None));
    }

    #[test]
    fn keys_are_validated() {
        let mut headers = HeaderMap::new();
        assert!(matches!(idempotency_key(&headers), Ok(None)));
        headers.insert("idempotency-key", HeaderValue::from_static("abc-123"));
        assert!(matches!(idempotency_key(&headers), Ok(Some(k)) if k == "abc-123"));
        headers.insert("idempotency-key", HeaderValue::from_static(""));
        assert!(idempotency_key(&headers).is_err());
        let long = HeaderValue::from_str(&"k".repeat(129)).expect("header");
        headers.insert("idempotency-key", long);
        assert!(idempotency_key(&headers).is_err());
    }
}
