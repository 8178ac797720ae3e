//! One command on each of many messages as one batch: the messages are loaded in one statement,
//! the domain decides each, and every new event is appended in one statement (one transaction).
//! A conflict on any of them (another command appended to one of the messages meanwhile) fails
//! the whole append, and the batch runs again against the fresh state, as a single command does.

use std::collections::HashMap;

use cqrs_es::persist::{EventStoreAggregateContext, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope};
use events::{LogPosition, Message, MessageCommand, MessageError, AGGREGATE_TYPE};
use http_edge::ApiError;
use uuid::Uuid;

use crate::execute::{count, decide, outcome, store_error, ExecuteError, CONFLICT_RETRIES};
use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::store::{append_events, events_of_many};

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Batch {
    /// Where its last event is in the log (`None` when it appended nothing).
    pub position: Option<LogPosition>,
    /// How many messages got new events.
    pub changed: u64,
}

/// Runs each `(message, command)` pair in one batch (`name` for metrics). A command that the
/// domain refuses with an error for which `skip` holds leaves its message alone; any other
/// refusal fails the batch, and nothing of it is stored.
pub async fn execute_batch(
    state: &CommandState,
    name: &'static str,
    commands: &[(Uuid, MessageCommand)],
    metadata: &EventMetadata,
    skip: impl Fn(&MessageError) -> bool,
) -> Result<Batch, ExecuteError> {
    if commands.is_empty() {
        return Ok(Batch::default());
    }
    let mut attempt = 0;
    loop {
        let decided = match decide_all(state, commands, metadata, &skip).await {
            Ok(decided) => decided,
            Err(err) => return failed(name, commands, err),
        };
        match append_events(&state.pool, &decided.events).await {
            Ok(position) => {
                if position.is_some() {
                    state.signal.committed().await;
                }
                count(
                    name,
                    "accepted",
                    (commands.len() - decided.skipped.len()) as u64,
                );
                for refused in decided.skipped {
                    count(name, refused, 1);
                }
                return Ok(Batch {
                    position,
                    changed: decided.changed,
                });
            }
            Err(err) => match AggregateError::<MessageError>::from(err) {
                AggregateError::AggregateConflict if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(
                        attempt,
                        "optimistic concurrency conflict in a batch, retrying"
                    );
                }
                err => return failed(name, commands, store_error(err)),
            },
        }
    }
}

/// A batch that stored nothing: every command counts as failed.
fn failed(
    name: &'static str,
    commands: &[(Uuid, MessageCommand)],
    err: ExecuteError,
) -> Result<Batch, ExecuteError> {
    let result = Err(err);
    count(name, outcome(&result), commands.len() as u64);
    result
}

/// The batch as decided: its events, serialized with their sequences.
struct Decided {
    events: Vec<SerializedEvent>,
    /// How many messages got new events.
    changed: u64,
    /// The outcome of each skipped command.
    skipped: Vec<&'static str>,
}

/// Loads every message and lets the domain decide each command.
async fn decide_all(
    state: &CommandState,
    commands: &[(Uuid, MessageCommand)],
    metadata: &EventMetadata,
    skip: &impl Fn(&MessageError) -> bool,
) -> Result<Decided, ExecuteError> {
    let mut messages = load_all(state, commands).await?;
    let mut decided = Decided {
        events: Vec::new(),
        changed: 0,
        skipped: Vec::new(),
    };
    for (id, command) in commands {
        let Some(context) = messages.get_mut(id) else {
            continue;
        };
        let events = match decide(state, context, command.clone()).await {
            Ok(events) => events,
            Err(err) if skip(&err) => {
                decided.skipped.push(ApiError::from_kind(err.kind()));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if !events.is_empty() {
            decided.changed += 1;
        }
        for event in events {
            context.current_sequence += 1;
            let envelope = EventEnvelope::<Message> {
                aggregate_id: context.aggregate_id.clone(),
                sequence: context.current_sequence,
                payload: event,
                metadata: metadata.pairs().clone(),
            };
            let event = SerializedEvent::try_from(&envelope)
                .map_err(|err| store_error(AggregateError::from(err)))?;
            decided.events.push(event);
        }
    }
    Ok(decided)
}

/// The messages of `commands` as their events tell them, in one statement.
async fn load_all(
    state: &CommandState,
    commands: &[(Uuid, MessageCommand)],
) -> Result<HashMap<Uuid, EventStoreAggregateContext<Message>>, ExecuteError> {
    let mut messages: HashMap<Uuid, EventStoreAggregateContext<Message>> = commands
        .iter()
        .map(|(id, _)| {
            let context = EventStoreAggregateContext {
                aggregate_id: id.to_string(),
                aggregate: Message::default(),
                current_sequence: 0,
                current_snapshot: None,
            };
            (*id, context)
        })
        .collect();
    let ids: Vec<String> = messages.values().map(|m| m.aggregate_id.clone()).collect();
    let stored = events_of_many(&state.pool, AGGREGATE_TYPE, &ids)
        .await
        .map_err(|err| store_error(AggregateError::from(err)))?;
    for event in stored {
        let envelope = EventEnvelope::<Message>::try_from(event)
            .map_err(|err| store_error(AggregateError::from(err)))?;
        let Some(context) = envelope
            .aggregate_id
            .parse()
            .ok()
            .and_then(|id: Uuid| messages.get_mut(&id))
        else {
            continue;
        };
        context.current_sequence = envelope.sequence;
        context.aggregate.apply(envelope.payload);
    }
    Ok(messages)
}
