//! An audit entry: who did what to which message, when and from where — no message content.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::chain::LoggedEvent;

/// One entry of `audit_log`, derived from one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    /// `message_sent`, `message_read`, `message_deleted_by_sender`, ...
    pub action: String,
    pub message_id: Option<Uuid>,
    /// The other participant, seen from the actor (none when the actor is not a participant).
    pub counterpart: Option<String>,
    /// Both participants of the message.
    pub participants: Vec<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Event-specific facts that are not clinical content (channel, parent, roles, the ids of
    /// templates, scheduled messages and broadcasts, a scheduled delivery's failure reason).
    pub details: Value,
}

/// `MessageDeletedBySender` → `message_deleted_by_sender`.
pub fn action_name(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    for (i, c) in event_type.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The entry for `event`. Only named, non-clinical fields of the payload are copied: never the
/// subject or the content.
pub fn audit_entry(event: &LoggedEvent) -> AuditEntry {
    // Payloads are `{"EventType": {fields}}`.
    let fields = event
        .payload
        .get(&event.event_type)
        .cloned()
        .unwrap_or(Value::Null);
    let actor = text(&event.metadata, "actor");
    // A message's sender, a scheduled message's author, a template's owner, a broadcast's
    // clinician; then the recipient, when there is one.
    let participants: Vec<String> = ["sender", "author", "owner", "clinician", "recipient"]
        .into_iter()
        .filter_map(|k| text(&fields, k))
        .collect();
    let counterpart = actor.as_ref().and_then(|actor| {
        if participants.contains(actor) {
            participants.iter().find(|p| *p != actor).cloned()
        } else {
            None
        }
    });
    let mut details = serde_json::Map::new();
    for key in [
        "channel",
        "parent_message_id",
        "sender",
        "recipient",
        "sender_role",
        "recipient_role",
        "restored_by",
        "erased_by",
        "held",
        "set_by",
        "author",
        "owner",
        "clinician",
        "template_id",
        "scheduled_id",
        "broadcast_id",
        "send_at",
        "reason",
        "recipients",
    ] {
        if let Some(value) = fields.get(key).filter(|v| !v.is_null()) {
            details.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(role) = event.metadata.get("role") {
        details.insert("actor_role".to_owned(), role.clone());
    }
    details.insert("event_version".to_owned(), json!(event.event_version));
    AuditEntry {
        occurred_at: event.recorded_at,
        actor,
        action: action_name(&event.event_type),
        // A message's own events, and the delivery of a scheduled one, name the message.
        message_id: if event.aggregate_type == events::AGGREGATE_TYPE {
            event.aggregate_id.parse().ok()
        } else {
            text(&fields, "message_id").and_then(|id| id.parse().ok())
        },
        counterpart,
        participants,
        request_id: text(&event.metadata, "request_id"),
        client_ip: text(&event.metadata, "client_ip"),
        user_agent: text(&event.metadata, "user_agent"),
        details: Value::Object(details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::LogPosition;

    #[test]
    fn action_names_are_snake_case() {
        assert_eq!(action_name("MessageSent"), "message_sent");
        assert_eq!(
            action_name("MessageDeletedByRecipient"),
            "message_deleted_by_recipient"
        );
    }

    #[test]
    fn an_entry_carries_who_and_where_but_never_the_content() {
        let event = LoggedEvent {
            position: LogPosition {
                transaction_id: 5,
                global_position: 9,
            },
            event_id: Uuid::from_u128(7),
            aggregate_type: "message".into(),
            aggregate_id: Uuid::from_u128(3).to_string(),
            sequence: 1,
            event_type: "MessageSent".into(),
            event_version: "1.0".into(),
            payload: json!({"MessageSent": {
                "sender": "alice", "recipient": "bob", "subject": "Secret subject",
                "content": "Secret content", "channel": "direct", "parent_message_id": null,
                "sender_role": "patient", "recipient_role": "patient"}}),
            metadata: json!({"actor": "alice", "role": "patient", "request_id": "r-1",
                "client_ip": "10.0.0.7", "user_agent": "ua"}),
            recorded_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        };
        let entry = audit_entry(&event);
        assert_eq!(entry.action, "message_sent");
        assert_eq!(entry.actor.as_deref(), Some("alice"));
        assert_eq!(entry.counterpart.as_deref(), Some("bob"));
        assert_eq!(entry.message_id, Some(Uuid::from_u128(3)));
        assert_eq!(entry.request_id.as_deref(), Some("r-1"));
        let text = serde_json::to_string(&entry).unwrap_or_default();
        assert!(!text.contains("Secret"), "{text}");
    }
}
