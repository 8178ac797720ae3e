//! Envelope encryption of message text in the event log (crypto-shredding).
//!
//! Each message's subject and content are sealed with a data key of their own (AES-256-GCM)
//! before the event enters the log; the data key is stored in `data_keys`, wrapped by a
//! key-encryption key (KEK) of `HS_KEK_FILE`, never in the event. Readers of the log (the
//! projector, the command side loading a stream) open sealed events with the keys of the batch,
//! fetched in one statement. Erasing a message destroys its data key in the same statement that
//! appends `MessageErased`: from then on its text opens to blanks everywhere, in replays too,
//! while the log itself, and the audit chain over it, stay untouched. See docs/privacy.md.

mod error;
mod keyring;
mod sealing;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use uuid::Uuid;

pub use error::VaultError;
pub use keyring::{DataKey, Keyring};
pub use sealing::SEALED_VERSION;
pub use store::{KeyChanges, RotatedBatch, RotationProgress};

use sealing::{inner_mut, rule, uuid_field, ERASURE};

/// This process's vault, read from the environment once (`HS_KEK_FILE`, `HS_ENCRYPTION`): the
/// keys are configuration of the process, like its database URL, and every reader and writer of
/// the log in it uses the same ones. Binaries call it (and [`store::check`]) at start-up so that
/// a missing or malformed key file stops them before they change anything.
pub fn process() -> Result<&'static Vault, VaultError> {
    static VAULT: OnceLock<Result<Vault, String>> = OnceLock::new();
    VAULT
        .get_or_init(|| Vault::from_env().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| VaultError::Config(reason.clone()))
}

/// Start-up of a process that reads or writes message text: the keys of the environment
/// ([`process`]), checked against the database's registered KEKs ([`store::check`]). Call
/// [`process`] before connecting, so that a missing or malformed file changes nothing, and this
/// after the migrations.
pub async fn check_at_start(pool: &sqlx::PgPool) -> Result<&'static Vault, VaultError> {
    let vault = process()?;
    if let Some(keyring) = vault.keyring() {
        store::check(pool, keyring).await?;
        if vault.enabled() {
            tracing::info!(active_kek = keyring.active(), "message text is sealed");
        }
    }
    Ok(vault)
}

/// A data key made by [`Vault::seal_fresh`], to store in `data_keys`.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key_id: Uuid,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

/// A new data key for `key_id`, and its row wrapped by the active KEK.
fn fresh_key(keyring: &Keyring, key_id: Uuid) -> Result<(DataKey, NewKey), VaultError> {
    let key = DataKey::generate();
    let wrapped = keyring.wrap(keyring.active(), key_id, &key)?;
    let new = NewKey {
        key_id,
        kek_id: keyring.active().to_owned(),
        wrapped,
    };
    Ok((key, new))
}

/// The parts of a stored event that sealing and opening touch.
#[derive(Debug)]
pub struct EventParts<'a> {
    pub event_type: &'a str,
    pub version: &'a mut String,
    pub payload: &'a mut Value,
}

/// An event as some reader of the log holds it (cqrs-es's `SerializedEvent` for the command
/// side, `read_side::StoredEvent` for the projector).
pub trait LoggedEvent {
    fn version(&self) -> &str;
    fn parts(&mut self) -> EventParts<'_>;
}

impl LoggedEvent for cqrs_es::persist::SerializedEvent {
    fn version(&self) -> &str {
        &self.event_version
    }

    fn parts(&mut self) -> EventParts<'_> {
        EventParts {
            event_type: &self.event_type,
            version: &mut self.event_version,
            payload: &mut self.payload,
        }
    }
}

/// Whether any of `events` is sealed (opening them then needs their keys).
pub fn any_sealed<E: LoggedEvent>(events: &[E]) -> bool {
    events.iter().any(|e| e.version() == SEALED_VERSION)
}

/// This process's keys, and whether it seals new text (always, but for the bench's comparison).
#[derive(Debug, Clone)]
pub struct Vault {
    keyring: Option<Arc<Keyring>>,
    sealing: bool,
}

impl Vault {
    /// Sealing with `keyring`.
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring: Some(Arc::new(keyring)),
            sealing: true,
        }
    }

    /// No sealing: new events are stored in plain text; sealed ones are still opened when
    /// `keyring` is given. Only for measuring what encryption costs (`HS_ENCRYPTION=off`).
    pub fn not_sealing(keyring: Option<Keyring>) -> Self {
        Self {
            keyring: keyring.map(Arc::new),
            sealing: false,
        }
    }

    /// The keys of `HS_KEK_FILE`, sealing; `HS_ENCRYPTION=off` (the bench's switch) seals
    /// nothing new and needs the file only to read what was sealed before. Unset, unreadable
    /// or malformed, it is an error that names the problem (never a key).
    pub fn from_env() -> Result<Self, VaultError> {
        let path = std::env::var_os("HS_KEK_FILE");
        match std::env::var("HS_ENCRYPTION").ok().as_deref() {
            None | Some("") | Some("on") => {}
            Some("off") => {
                tracing::warn!(
                    "HS_ENCRYPTION=off: new message text is stored in plain text (for the bench only)"
                );
                let keyring = path.map(|p| Keyring::load(Path::new(&p))).transpose()?;
                return Ok(Self::not_sealing(keyring));
            }
            Some(other) => return Err(VaultError::BadSwitch(other.to_owned())),
        }
        let path = path.ok_or(VaultError::NoKekFile)?;
        Ok(Self::new(Keyring::load(Path::new(&path))?))
    }

    /// Whether new message text is sealed.
    pub fn enabled(&self) -> bool {
        self.sealing && self.keyring.is_some()
    }

    /// Seals an event whose rule gives it a key of its own (a message, a scheduled message, a
    /// broadcast), with a fresh data key, without the database: the key to store, or `None`
    /// when the event carries no text or nothing is sealed. (The bench's loader writes a sealed
    /// history with it; the services use [`Vault::seal`].)
    pub fn seal_fresh(&self, event: &mut EventParts<'_>) -> Result<Option<NewKey>, VaultError> {
        let Some(keyring) = self.keyring.as_ref().filter(|_| self.sealing) else {
            return Ok(None);
        };
        let inner = inner_mut(event.event_type, event.payload)?;
        let Some(rule) = rule(event.event_type, inner) else {
            return Ok(None);
        };
        if !rule.creates_key {
            return Err(VaultError::Payload(format!(
                "{} reuses a stored key",
                event.event_type
            )));
        }
        let (key, new) = fresh_key(keyring, rule.key_id(inner)?)?;
        rule.seal(inner, &key)?;
        *event.version = SEALED_VERSION.to_owned();
        Ok(Some(new))
    }

    /// The keys, if any.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Seals the text of `events` (about to be appended) and says which data keys to store and
    /// which to destroy, in the statement that appends them. Keys of messages that have one
    /// already (a scheduled delivery) are read in one statement.
    pub async fn seal<'c>(
        &self,
        db: impl sqlx::PgExecutor<'c>,
        events: &mut [EventParts<'_>],
    ) -> Result<KeyChanges, VaultError> {
        let mut changes = KeyChanges::default();
        for event in events.iter_mut() {
            if event.event_type == ERASURE.0 {
                let inner = inner_mut(event.event_type, event.payload)?;
                changes.destroy.push(uuid_field(inner, ERASURE.1)?);
            }
        }
        let Some(keyring) = self.keyring.as_ref().filter(|_| self.sealing) else {
            return Ok(changes);
        };
        // Which key each sealed event needs, and which of them may exist already.
        let mut needs = Vec::new();
        let mut maybe_stored = Vec::new();
        for (index, event) in events.iter_mut().enumerate() {
            let inner = inner_mut(event.event_type, event.payload);
            let Ok(inner) = inner else { continue };
            if let Some(rule) = rule(event.event_type, inner) {
                let key_id = rule.key_id(inner)?;
                if !rule.creates_key {
                    maybe_stored.push(key_id);
                }
                needs.push((index, rule, key_id));
            }
        }
        if needs.is_empty() {
            return Ok(changes);
        }
        let mut keys: HashMap<Uuid, DataKey> = HashMap::new();
        if !maybe_stored.is_empty() {
            for (key_id, stored) in store::fetch(db, &maybe_stored).await? {
                match stored {
                    Some((kek_id, wrapped)) => {
                        keys.insert(key_id, keyring.unwrap_key(&kek_id, key_id, &wrapped)?);
                    }
                    None => return Err(VaultError::MissingDataKey(key_id)),
                }
            }
        }
        for (index, rule, key_id) in needs {
            let key = match keys.get(&key_id) {
                Some(key) => key.clone(),
                None => {
                    let (key, new) = fresh_key(keyring, key_id)?;
                    changes.insert(new);
                    keys.insert(key_id, key.clone());
                    key
                }
            };
            let event = &mut events[index];
            rule.seal(inner_mut(event.event_type, event.payload)?, &key)?;
            *event.version = SEALED_VERSION.to_owned();
        }
        Ok(changes)
    }

    /// [`Vault::open`] for the events of a reader of the log.
    pub async fn open_events<'c, E: LoggedEvent>(
        &self,
        db: impl sqlx::PgExecutor<'c>,
        events: &mut [E],
    ) -> Result<(), VaultError> {
        let mut parts: Vec<EventParts<'_>> = events.iter_mut().map(LoggedEvent::parts).collect();
        self.open(db, &mut parts).await
    }

    /// Opens the sealed events among `events` (fetching their keys in one statement): each gets
    /// its plain payload and version back, or blanks where its key was destroyed. Plain events
    /// (written before sealing, or with it off) are left as they are.
    pub async fn open<'c>(
        &self,
        db: impl sqlx::PgExecutor<'c>,
        events: &mut [EventParts<'_>],
    ) -> Result<(), VaultError> {
        let mut sealed = Vec::new();
        for (index, event) in events.iter_mut().enumerate() {
            if event.version.as_str() != SEALED_VERSION {
                continue;
            }
            let inner = inner_mut(event.event_type, event.payload)?;
            let rule = rule(event.event_type, inner).ok_or_else(|| {
                VaultError::Payload(format!("{} is not a sealed event type", event.event_type))
            })?;
            sealed.push((index, rule, rule.key_id(inner)?));
        }
        if sealed.is_empty() {
            return Ok(());
        }
        let Some(keyring) = &self.keyring else {
            return Err(VaultError::SealedWithoutKeys {
                event_type: events[sealed[0].0].event_type.to_owned(),
            });
        };
        let ids: Vec<Uuid> = sealed.iter().map(|(_, _, id)| *id).collect();
        let mut keys: HashMap<Uuid, Option<DataKey>> = HashMap::new();
        for (key_id, stored) in store::fetch(db, &ids).await? {
            let key = match stored {
                Some((kek_id, wrapped)) => Some(keyring.unwrap_key(&kek_id, key_id, &wrapped)?),
                None => None,
            };
            keys.insert(key_id, key);
        }
        for (index, rule, key_id) in sealed {
            let key = keys
                .get(&key_id)
                .ok_or(VaultError::MissingDataKey(key_id))?;
            let event = &mut events[index];
            rule.open(
                inner_mut(event.event_type, event.payload)?,
                key_id,
                key.as_ref(),
            )?;
            *event.version = events::EVENT_VERSION.to_owned();
        }
        Ok(())
    }
}
