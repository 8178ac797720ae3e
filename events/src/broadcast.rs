//! A clinician's broadcast: one `broadcast` stream per broadcast, whose one event names every
//! message it sent. It is appended in the same statement as those messages, so a broadcast is
//! in the log whole or not at all, and a repeat (same `Idempotency-Key`) finds it and answers it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::{MessagingServices, Role};
use crate::error::MessageError;
use crate::event::EVENT_VERSION;

/// The aggregate type of broadcasts in the event log.
pub const BROADCAST_AGGREGATE_TYPE: &str = "broadcast";
/// The most patients one broadcast reaches.
pub const MAX_BROADCAST_RECIPIENTS: usize = 500;

/// Namespace of the ids of a broadcast's messages.
const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x7c0d_5a92_e14b_4d38_b6f2_91a7_3e08_c5d4);

/// The id of the message that broadcast `broadcast_id` sends to `patient`: a retry computes the
/// same ids, so it can never send a patient a second copy.
pub fn broadcast_message_id(broadcast_id: Uuid, patient: &str) -> Uuid {
    let mut name = broadcast_id.as_bytes().to_vec();
    name.extend_from_slice(patient.as_bytes());
    Uuid::new_v5(&MESSAGE_NAMESPACE, &name)
}

/// Send one message to each of these patients (the clinician's approved patients, read by the
/// caller at this moment).
#[derive(Debug, Clone)]
pub struct BroadcastCommand {
    pub broadcast_id: Uuid,
    pub clinician: String,
    pub clinician_role: Role,
    pub subject: Option<String>,
    pub patients: Vec<String>,
    pub at: DateTime<Utc>,
}

/// A broadcast was sent: the messages themselves are ordinary `MessageSent` events (channel
/// `broadcast`) appended with this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BroadcastEvent {
    BroadcastSent {
        broadcast_id: Uuid,
        clinician: String,
        subject: Option<String>,
        recipients: Vec<String>,
        message_ids: Vec<Uuid>,
        sent_at: DateTime<Utc>,
    },
}

impl BroadcastEvent {
    /// The stable `event_type` name stored in the log.
    pub fn name(&self) -> &'static str {
        match self {
            BroadcastEvent::BroadcastSent { .. } => "BroadcastSent",
        }
    }
}

impl DomainEvent for BroadcastEvent {
    fn event_type(&self) -> String {
        self.name().to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

/// A broadcast as its event tells it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    pub sent: Option<BroadcastSent>,
}

/// What a sent broadcast answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastSent {
    pub broadcast_id: Uuid,
    pub clinician: String,
    pub recipients: Vec<String>,
    pub message_ids: Vec<Uuid>,
}

impl Aggregate for Broadcast {
    const TYPE: &'static str = BROADCAST_AGGREGATE_TYPE;
    type Command = BroadcastCommand;
    type Event = BroadcastEvent;
    type Error = MessageError;
    type Services = MessagingServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let BroadcastEvent::BroadcastSent {
            broadcast_id,
            clinician,
            recipients,
            message_ids,
            ..
        } = event;
        self.sent = Some(BroadcastSent {
            broadcast_id,
            clinician,
            recipients,
            message_ids,
        });
    }
}

impl Broadcast {
    /// The event of `command`: the ids of its messages, one per patient, in the patients' order.
    pub fn decide(&self, command: BroadcastCommand) -> Result<Vec<BroadcastEvent>, MessageError> {
        if command.clinician_role != Role::Clinician {
            return Err(MessageError::ClinicianOnly);
        }
        if self.sent.is_some() {
            return Err(MessageError::AlreadyBroadcast(command.broadcast_id));
        }
        if command.patients.len() > MAX_BROADCAST_RECIPIENTS {
            return Err(MessageError::TooManyRecipients {
                max: MAX_BROADCAST_RECIPIENTS,
                patients: command.patients.len(),
            });
        }
        let message_ids = command
            .patients
            .iter()
            .map(|patient| broadcast_message_id(command.broadcast_id, patient))
            .collect();
        Ok(vec![BroadcastEvent::BroadcastSent {
            broadcast_id: command.broadcast_id,
            clinician: command.clinician,
            subject: command.subject,
            recipients: command.patients,
            message_ids,
            sent_at: command.at,
        }])
    }
}
