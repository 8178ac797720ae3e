//! The event stream of a generated history: messages with replies, reads and deletes, in the
//! order a live system would have appended them (time order; a message's follow-ups come later
//! in the log than the message, a reply later than its parent).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use events::{Channel, MessageEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::data::population::Population;
use crate::data::skew::Zipf;
use crate::data::text;

/// One event ready for the log.
#[derive(Debug, Clone)]
pub struct GeneratedEvent {
    pub sequence: i64,
    pub event: MessageEvent,
    pub actor: u32,
    pub request_id: Uuid,
    pub at: DateTime<Utc>,
}

/// What the history says about each user, for picking realistic query probes.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Messages each user sent or received.
    pub messages: Vec<u32>,
    /// The first counterpart each user exchanged a message with (`u32::MAX`: none).
    pub counterpart: Vec<u32>,
}

#[derive(Debug)]
struct Pending {
    at: DateTime<Utc>,
    order: u64,
    event: GeneratedEvent,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

#[derive(Debug, Clone)]
struct Recent {
    id: Uuid,
    sender: u32,
    recipient: u32,
    subject: Option<String>,
    recipient_deleted_at: Option<DateTime<Utc>>,
}

const RECENT: usize = 2048;
const REPLY_SHARE: f64 = 0.3;
const CLINICIAN_SHARE: f64 = 0.35;
const READ_SHARE: f64 = 0.7;
const RECIPIENT_DELETE_SHARE: f64 = 0.08;
const SENDER_DELETE_SHARE: f64 = 0.06;

/// Generates `total` messages over the 90 days before `end`, with their follow-up events.
#[derive(Debug)]
pub struct Generator {
    population: Population,
    rng: StdRng,
    patients: Zipf,
    clinicians: Zipf,
    total: u64,
    made: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pending: BinaryHeap<Reverse<Pending>>,
    order: u64,
    recent: VecDeque<Recent>,
    activity: Activity,
}

impl Generator {
    /// A generator of `total` messages among `population`, seeded.
    pub fn new(population: Population, total: u64, seed: u64, end: DateTime<Utc>) -> Self {
        let people = population.people() as usize;
        Self {
            patients: Zipf::new(population.patients, 1.0),
            clinicians: Zipf::new(population.clinicians, 1.0),
            population,
            rng: StdRng::seed_from_u64(seed),
            total,
            made: 0,
            start: end - Duration::days(90),
            end,
            pending: BinaryHeap::new(),
            order: 0,
            recent: VecDeque::with_capacity(RECENT),
            activity: Activity {
                messages: vec![0; people],
                counterpart: vec![u32::MAX; people],
            },
        }
    }

    /// The per-user activity of everything generated so far.
    pub fn into_activity(self) -> Activity {
        self.activity
    }

    fn time_of(&self, index: u64) -> DateTime<Utc> {
        let span = (self.end - self.start).num_milliseconds().max(1) as f64;
        let offset = span * index as f64 / self.total.max(1) as f64;
        self.start + Duration::milliseconds(offset as i64)
    }

    fn push(&mut self, event: GeneratedEvent) {
        self.order += 1;
        self.pending.push(Reverse(Pending {
            at: event.at,
            order: self.order,
            event,
        }));
    }

    /// Some minutes to a few days, most short.
    fn delay(&mut self) -> Duration {
        let minutes = 2f64.powf(self.rng.gen_range(0.0..12.0));
        Duration::seconds((minutes * 60.0) as i64 + self.rng.gen_range(1..60))
    }

    fn other_patient(&mut self, than: u32) -> u32 {
        let pick = self.patients.sample(&mut self.rng);
        if pick == than {
            (than + 1) % self.population.patients
        } else {
            pick
        }
    }

    /// `(sender, recipient, channel, parent)` of the next message.
    fn participants(&mut self, at: DateTime<Utc>) -> (u32, u32, Channel, Option<Recent>) {
        if !self.recent.is_empty() && self.rng.gen_bool(REPLY_SHARE) {
            let index = self.rng.gen_range(0..self.recent.len());
            if let Some(parent) = self.recent.get(index).cloned() {
                let deleted = parent.recipient_deleted_at.is_some_and(|d| d <= at);
                if !deleted {
                    return (
                        parent.recipient,
                        parent.sender,
                        Channel::Reply,
                        Some(parent),
                    );
                }
            }
        }
        let p = &self.population;
        if self.rng.gen_bool(CLINICIAN_SHARE) {
            let clinician = p.clinician(self.clinicians.sample(&mut self.rng));
            let count = p.patient_count(clinician);
            if count > 0 && self.rng.gen_bool(0.75) {
                let k = self.rng.gen_range(0..count);
                let patient = self.population.patient_of(clinician, k);
                let channel = if self.rng.gen_bool(0.5) {
                    Channel::Clinician
                } else {
                    Channel::Direct
                };
                return (clinician, patient, channel, None);
            }
            let mut other = self
                .population
                .clinician(self.clinicians.sample(&mut self.rng));
            if other == clinician {
                other = self
                    .population
                    .clinician(other - self.population.patients + 1);
            }
            return (clinician, other, Channel::Direct, None);
        }
        let sender = self.patients.sample(&mut self.rng);
        let recipient = self.other_patient(sender);
        (sender, recipient, Channel::Direct, None)
    }

    fn note_activity(&mut self, a: u32, b: u32) {
        for (user, other) in [(a, b), (b, a)] {
            let i = user as usize;
            if let Some(count) = self.activity.messages.get_mut(i) {
                *count += 1;
            }
            if let Some(first) = self.activity.counterpart.get_mut(i) {
                if *first == u32::MAX {
                    *first = other;
                }
            }
        }
    }

    /// Creates message number `made` and schedules its follow-ups; returns its `MessageSent`.
    fn make_message(&mut self) -> GeneratedEvent {
        let at = self.time_of(self.made);
        self.made += 1;
        let (sender, recipient, channel, parent) = self.participants(at);
        let subject = match &parent {
            Some(parent) => events::reply_subject(parent.subject.as_deref()),
            None if self.rng.gen_bool(0.85) => Some(text::subject(&mut self.rng)),
            None => None,
        };
        let message_id = Uuid::from_u128(self.rng.gen());
        let (s, r) = (
            self.population.username(sender),
            self.population.username(recipient),
        );
        self.note_activity(sender, recipient);
        let recipient_deleted_at = self.schedule_follow_ups(message_id, sender, recipient, at);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Recent {
            id: message_id,
            sender,
            recipient,
            subject: subject.clone(),
            recipient_deleted_at,
        });
        GeneratedEvent {
            sequence: 1,
            event: MessageEvent::MessageSent {
                message_id,
                sender: s,
                sender_role: self.population.role(sender),
                recipient: r,
                recipient_role: self.population.role(recipient),
                subject,
                content: text::content(&mut self.rng),
                parent_message_id: parent.map(|p| p.id),
                channel,
                sent_at: at,
            },
            actor: sender,
            request_id: Uuid::from_u128(self.rng.gen()),
            at,
        }
    }

    /// Schedules read and deletes of a message sent at `at`; returns when the recipient
    /// deletes it, if they do.
    fn schedule_follow_ups(
        &mut self,
        message_id: Uuid,
        sender: u32,
        recipient: u32,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let read_at = self.rng.gen_bool(READ_SHARE).then(|| at + self.delay());
        let after_read = read_at.unwrap_or(at);
        let by_recipient = self
            .rng
            .gen_bool(RECIPIENT_DELETE_SHARE)
            .then(|| after_read + self.delay());
        let by_sender = self
            .rng
            .gen_bool(SENDER_DELETE_SHARE)
            .then(|| at + self.delay());
        // (time, kind): 0 read, 1 deleted by sender, 2 deleted by recipient.
        let mut plan: Vec<(DateTime<Utc>, u8)> = [(read_at, 0), (by_sender, 1), (by_recipient, 2)]
            .into_iter()
            .filter_map(|(t, kind)| t.map(|t| (t, kind)))
            .filter(|(t, _)| *t < self.end)
            .collect();
        plan.sort();
        let (s, r) = (
            self.population.username(sender),
            self.population.username(recipient),
        );
        let mut sequence = 1;
        let mut deleted = 0;
        let mut recipient_deleted_at = None;
        for (t, kind) in plan {
            sequence += 1;
            let request_id = Uuid::from_u128(self.rng.gen());
            let (event, actor) = match kind {
                0 => (
                    MessageEvent::MessageRead {
                        message_id,
                        sender: s.clone(),
                        recipient: r.clone(),
                        read_at: t,
                    },
                    recipient,
                ),
                1 => (
                    MessageEvent::MessageDeletedBySender {
                        message_id,
                        sender: s.clone(),
                        recipient: r.clone(),
                        deleted_at: t,
                    },
                    sender,
                ),
                _ => {
                    recipient_deleted_at = Some(t);
                    (
                        MessageEvent::MessageDeletedByRecipient {
                            message_id,
                            sender: s.clone(),
                            recipient: r.clone(),
                            deleted_at: t,
                        },
                        recipient,
                    )
                }
            };
            self.push(GeneratedEvent {
                sequence,
                event,
                actor,
                request_id,
                at: t,
            });
            if kind > 0 {
                deleted += 1;
                if deleted == 2 {
                    sequence += 1;
                    self.push(GeneratedEvent {
                        sequence,
                        event: MessageEvent::MessageHidden {
                            message_id,
                            sender: s.clone(),
                            recipient: r.clone(),
                            deleted_at: t,
                        },
                        actor,
                        request_id,
                        at: t,
                    });
                }
            }
        }
        recipient_deleted_at
    }
}

impl Iterator for Generator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        if self.made < self.total {
            let next_at = self.time_of(self.made);
            if self
                .pending
                .peek()
                .is_some_and(|Reverse(p)| p.at <= next_at)
            {
                return self.pending.pop().map(|Reverse(p)| p.event);
            }
            return Some(self.make_message());
        }
        self.pending.pop().map(|Reverse(p)| p.event)
    }
}
