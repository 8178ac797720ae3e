//! The hash chain: `hash(n) = SHA-256(hash(n-1) ‖ canonical(event n))`, from [`GENESIS`].

use chrono::SecondsFormat;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A link of the chain.
pub type ChainHash = [u8; 32];

/// The hash before the first entry.
pub const GENESIS: ChainHash = [0; 32];

/// An event row as the log stores it: everything the chain covers (one definition, shared with
/// the projector: `read_side::StoredEvent`).
pub use read_side::StoredEvent as LoggedEvent;

/// The SQL columns [`LoggedEvent::from_row`] reads (select them from `events`).
pub const LOGGED_EVENT_COLUMNS: &str = "transaction_id::text AS xid, global_position, event_id, \
     aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, \
     recorded_at";

/// JSON with object keys sorted at every level and no insignificant whitespace, so the same
/// value always gives the same bytes whatever order a JSON library or `jsonb` keeps.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The canonical bytes of an event: every stored column, in a fixed order.
pub fn canonical_event(event: &LoggedEvent) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    out.push_str(&format!(
        "v1|{}|{}|{}|{}|{}|{}|{}|{}|{}|",
        event.position.transaction_id,
        event.position.global_position,
        event.event_id,
        event.aggregate_type,
        event.aggregate_id,
        event.sequence,
        event.event_type,
        event.event_version,
        event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    ));
    canonical_json(&event.payload, &mut out);
    out.push('|');
    canonical_json(&event.metadata, &mut out);
    out.into_bytes()
}

/// The next link: SHA-256 of the previous hash followed by the canonical event.
pub fn link(previous: &ChainHash, event: &LoggedEvent) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical_event(event));
    hasher.finalize().into()
}

/// Reads a stored hash (32 bytes).
pub fn hash_from_bytes(bytes: &[u8]) -> Option<ChainHash> {
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use events::LogPosition;
    use serde_json::json;
    use uuid::Uuid;

    fn event(payload: Value) -> LoggedEvent {
        LoggedEvent {
            position: LogPosition {
                transaction_id: 900,
                global_position: 1,
            },
            event_id: Uuid::from_u128(1),
            aggregate_type: "message".into(),
            aggregate_id: "m1".into(),
            sequence: 1,
            event_type: "MessageSent".into(),
            event_version: "1.0".into(),
            payload,
            metadata: json!({"actor": "alice", "request_id": "r1"}),
            recorded_at: DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap_or_default(),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut a = String::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}}),
            &mut a,
        );
        assert_eq!(a, r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#);
    }

    #[test]
    fn any_change_of_the_event_or_the_previous_hash_changes_the_link() {
        let base = event(json!({"MessageSent": {"sender": "alice"}}));
        let h = link(&GENESIS, &base);
        assert_eq!(h, link(&GENESIS, &base.clone()), "deterministic");
        let mut edited = base.clone();
        edited.payload = json!({"MessageSent": {"sender": "mallory"}});
        assert_ne!(h, link(&GENESIS, &edited));
        let mut moved = base.clone();
        moved.position.global_position = 2;
        assert_ne!(h, link(&GENESIS, &moved));
        assert_ne!(h, link(&[1; 32], &base));
    }
}
