//! Which fields of which events are sealed, under whose key, and the payload transforms.
//!
//! Payloads are cqrs-es's serialized events: `{"MessageSent": {"message_id": …, …}}`. A sealed
//! event keeps its shape; each sealed field's JSON value is replaced by the string
//! `"sealed:v1:" + base64(nonce || AES-256-GCM(value))`, bound to the field's name, and the event
//! is stored with [`SEALED_VERSION`]. Opening restores the plain payload and the plain version
//! ([`events::EVENT_VERSION`]); with the key destroyed (an erased message) each field becomes
//! its blank (`null`, or `""` for a required text) so that every reader sees the same thing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::VaultError;
use crate::keyring::{decrypt, encrypt, DataKey};

/// The `event_version` of an event whose text is sealed.
pub const SEALED_VERSION: &str = "2.0";

const PREFIX: &str = "sealed:v1:";

/// What a sealed field becomes once its key is destroyed.
#[derive(Debug, Clone, Copy)]
enum Blank {
    Null,
    EmptyText,
}

impl Blank {
    fn value(self) -> Value {
        match self {
            Blank::Null => Value::Null,
            Blank::EmptyText => Value::String(String::new()),
        }
    }
}

/// Where an event's data key comes from.
#[derive(Debug, Clone, Copy)]
enum KeyOf {
    /// The UUID in this field (`message_id`, `broadcast_id`).
    Field(&'static str),
    /// The message a scheduled message becomes: its text is sealed under that message's key,
    /// so that erasing the delivered message erases the scheduled copy too.
    Delivered,
}

/// How an event type is sealed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    key: KeyOf,
    fields: &'static [(&'static str, Blank)],
    /// Whether the event brings a new key (`false`: it reuses its message's key if one exists).
    pub(crate) creates_key: bool,
}

const TEXT: &[(&str, Blank)] = &[("subject", Blank::Null), ("content", Blank::EmptyText)];

/// The sealing rule of `event_type`, if its events carry message text.
pub(crate) fn rule(event_type: &str, inner: &Map<String, Value>) -> Option<Rule> {
    Some(match event_type {
        "MessageSent" => Rule {
            key: KeyOf::Field("message_id"),
            fields: TEXT,
            // A scheduled delivery reuses the key its scheduled message was sealed with.
            creates_key: inner.get("channel").and_then(Value::as_str) != Some("scheduled"),
        },
        "MessageScheduled" => Rule {
            key: KeyOf::Delivered,
            fields: TEXT,
            creates_key: true,
        },
        "ScheduledMessageChanged" => Rule {
            key: KeyOf::Delivered,
            fields: TEXT,
            creates_key: false,
        },
        "BroadcastSent" => Rule {
            key: KeyOf::Field("broadcast_id"),
            fields: &[("subject", Blank::Null)],
            creates_key: true,
        },
        _ => return None,
    })
}

/// The event whose append destroys a message's key, and the field naming the message.
pub(crate) const ERASURE: (&str, &str) = ("MessageErased", "message_id");

/// The object inside `{"EventType": {…}}`.
pub(crate) fn inner_mut<'a>(
    event_type: &str,
    payload: &'a mut Value,
) -> Result<&'a mut Map<String, Value>, VaultError> {
    payload
        .get_mut(event_type)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            VaultError::Payload(format!(
                "{event_type} payload is not {{\"{event_type}\": {{…}}}}"
            ))
        })
}

pub(crate) fn uuid_field(inner: &Map<String, Value>, field: &str) -> Result<Uuid, VaultError> {
    inner
        .get(field)
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| VaultError::Payload(format!("no UUID `{field}`")))
}

impl Rule {
    /// The id of the data key of an event.
    pub(crate) fn key_id(&self, inner: &Map<String, Value>) -> Result<Uuid, VaultError> {
        match self.key {
            KeyOf::Field(field) => uuid_field(inner, field),
            KeyOf::Delivered => Ok(events::delivered_message_id(uuid_field(
                inner,
                "scheduled_id",
            )?)),
        }
    }

    /// Replaces each sealed field with its ciphertext.
    pub(crate) fn seal(
        &self,
        inner: &mut Map<String, Value>,
        key: &DataKey,
    ) -> Result<(), VaultError> {
        let cipher = key.cipher();
        for (field, _) in self.fields {
            if let Some(value) = inner.get_mut(*field) {
                let plain =
                    serde_json::to_vec(value).map_err(|e| VaultError::Payload(e.to_string()))?;
                let sealed = encrypt(&cipher, &plain, field.as_bytes());
                *value = Value::String(format!("{PREFIX}{}", STANDARD.encode(sealed)));
            }
        }
        Ok(())
    }

    /// Restores each sealed field, or blanks it when `key` is `None` (destroyed).
    pub(crate) fn open(
        &self,
        inner: &mut Map<String, Value>,
        key_id: Uuid,
        key: Option<&DataKey>,
    ) -> Result<(), VaultError> {
        let cipher = key.map(DataKey::cipher);
        for (field, blank) in self.fields {
            let Some(value) = inner.get_mut(*field) else {
                continue;
            };
            let Some(cipher) = &cipher else {
                *value = blank.value();
                continue;
            };
            let corrupt = || VaultError::Corrupt {
                key_id,
                field: (*field).to_owned(),
            };
            let sealed = value
                .as_str()
                .and_then(|text| text.strip_prefix(PREFIX))
                .and_then(|text| STANDARD.decode(text).ok())
                .ok_or_else(corrupt)?;
            let plain = decrypt(cipher, &sealed, field.as_bytes()).ok_or_else(corrupt)?;
            *value = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_text_opens_with_its_key_and_blanks_without() -> Result<(), VaultError> {
        let id = Uuid::new_v4();
        let plain =
            json!({"message_id": id, "subject": "Hello", "content": "Secret", "channel": "direct"});
        let mut inner = plain.as_object().cloned().unwrap_or_default();
        let rule = rule("MessageSent", &inner).ok_or(VaultError::MissingDataKey(id))?;
        assert!(rule.creates_key);
        assert_eq!(rule.key_id(&inner)?, id);
        let key = DataKey::generate();
        rule.seal(&mut inner, &key)?;
        let text = Value::Object(inner.clone()).to_string();
        assert!(!text.contains("Secret") && !text.contains("Hello"));
        let mut opened = inner.clone();
        rule.open(&mut opened, id, Some(&key))?;
        assert_eq!(Value::Object(opened), plain);
        let mut erased = inner.clone();
        rule.open(&mut erased, id, None)?;
        assert_eq!(erased.get("subject"), Some(&Value::Null));
        assert_eq!(erased.get("content"), Some(&json!("")));
        // Another key, or a field moved to another name, does not open.
        assert!(rule
            .open(&mut inner.clone(), id, Some(&DataKey::generate()))
            .is_err());
        let mut swapped = inner.clone();
        let subject = swapped.get("subject").cloned();
        let content = swapped.get("content").cloned();
        swapped.insert("subject".into(), content.unwrap_or_default());
        swapped.insert("content".into(), subject.unwrap_or_default());
        assert!(rule.open(&mut swapped, id, Some(&key)).is_err());
        Ok(())
    }

    #[test]
    fn a_scheduled_message_is_sealed_under_the_key_of_the_message_it_becomes(
    ) -> Result<(), VaultError> {
        let scheduled = Uuid::new_v4();
        let inner = json!({"scheduled_id": scheduled, "content": "x"});
        let inner = inner.as_object().cloned().unwrap_or_default();
        let rule = rule("MessageScheduled", &inner).ok_or(VaultError::MissingDataKey(scheduled))?;
        assert_eq!(
            rule.key_id(&inner)?,
            events::delivered_message_id(scheduled)
        );
        let delivery = json!({"message_id": scheduled, "channel": "scheduled"});
        let delivery = delivery.as_object().cloned().unwrap_or_default();
        assert!(rule_creates("MessageSent", &delivery) == Some(false));
        Ok(())
    }

    fn rule_creates(event_type: &str, inner: &Map<String, Value>) -> Option<bool> {
        rule(event_type, inner).map(|r| r.creates_key)
    }
}
