//! Commands on the streams of the clinician tools (a clinician's templates, a scheduled
//! message, a broadcast): load, decide, append, again on a conflict; and the pieces to append
//! the events of several streams in one statement (a scheduled delivery, a broadcast).

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore as _};
use events::{LogPosition, MessageError, MessagingServices};
use sqlx::PgPool;

use crate::execute::{count, outcome, store_error, ExecuteError, CONFLICT_RETRIES};
use crate::metadata::EventMetadata;
use crate::signal::CommitSignal;
use crate::store::{append_events, EventStore};

/// What appending needs: the log, the domain's directory, and the projector's wake-up. The
/// command handlers take it from their state; the scheduler runs on one of its own.
#[derive(Clone)]
pub struct Writer {
    pub pool: PgPool,
    pub directory: MessagingServices,
    pub signal: CommitSignal,
}

/// A committed command on a stream.
#[derive(Debug)]
pub struct Done<A: Aggregate> {
    /// Where its last event is in the log.
    pub position: LogPosition,
    /// The stream as they leave it.
    pub aggregate: A,
}

/// A stream loaded from the log, to decide on.
pub type Context<A> = EventStoreAggregateContext<A>;

/// Loads stream `id` of `A` (every event of it, in order).
pub async fn load<A>(pool: &PgPool, id: &str) -> Result<Context<A>, ExecuteError>
where
    A: Aggregate<Error = MessageError>,
{
    PersistedEventStore::<EventStore, A>::new_event_store(EventStore::new(pool.clone()))
        .load_aggregate(id)
        .await
        .map_err(store_error)
}

/// Lets the domain decide `command` on `context`, which then holds the stream as the new
/// events leave it; returns them serialized at their sequences, beside the events.
pub async fn decide<A>(
    directory: &MessagingServices,
    context: &mut Context<A>,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<(Vec<A::Event>, Vec<SerializedEvent>), ExecuteError>
where
    A: Aggregate<Error = MessageError, Services = MessagingServices>,
{
    let sink: EventSink<A> = EventSink::default();
    context
        .aggregate
        .handle(command, directory, &sink)
        .await
        .map_err(ExecuteError::Domain)?;
    let events = sink.collect().await;
    let serialized = serialize(context, &events, metadata.pairs())?;
    Ok((events, serialized))
}

/// `events` as the log stores them, after the context's last sequence (which they advance).
fn serialize<A>(
    context: &mut Context<A>,
    events: &[A::Event],
    metadata: &HashMap<String, String>,
) -> Result<Vec<SerializedEvent>, ExecuteError>
where
    A: Aggregate<Error = MessageError>,
{
    let mut serialized = Vec::with_capacity(events.len());
    for event in events {
        context.current_sequence += 1;
        let envelope = EventEnvelope::<A> {
            aggregate_id: context.aggregate_id.clone(),
            sequence: context.current_sequence,
            payload: event.clone(),
            metadata: metadata.clone(),
        };
        serialized.push(
            SerializedEvent::try_from(&envelope)
                .map_err(|err| store_error(AggregateError::from(err)))?,
        );
    }
    Ok(serialized)
}

/// Appends `events` (of any streams) in one statement and wakes the projector. `Ok(None)`:
/// another writer appended to one of the streams first (nothing of these was stored).
pub async fn append(
    writer: &Writer,
    events: &[SerializedEvent],
) -> Result<Option<Option<LogPosition>>, ExecuteError> {
    match append_events(&writer.pool, events).await {
        Ok(position) => {
            if position.is_some() {
                writer.signal.committed().await;
            }
            Ok(Some(position))
        }
        Err(err) => match AggregateError::<MessageError>::from(err) {
            AggregateError::AggregateConflict => Ok(None),
            err => Err(store_error(err)),
        },
    }
}

/// The position of the last event of stream `id` of `aggregate_type` ([`LogPosition::START`]
/// when it has none).
pub async fn stream_position(
    pool: &PgPool,
    aggregate_type: &str,
    id: &str,
) -> Result<LogPosition, http_edge::ApiError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position FROM events
         WHERE aggregate_type = $1 AND aggregate_id = $2
         ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match row {
        None => Ok(LogPosition::START),
        Some((xid, global_position)) => Ok(LogPosition {
            transaction_id: xid.parse().map_err(http_edge::ApiError::internal)?,
            global_position,
        }),
    }
}

/// Runs `command` on stream `id` of `A`, retrying optimistic-concurrency conflicts (the domain
/// then decides on the other command's events too). Counted in `commands_total` as `name`.
pub async fn execute_on<A>(
    writer: &Writer,
    name: &'static str,
    id: &str,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<Done<A>, ExecuteError>
where
    A: Aggregate<Error = MessageError, Services = MessagingServices>,
    A::Command: Clone,
{
    let result = run(writer, id, command, metadata).await;
    count(name, outcome(&result), 1);
    result
}

async fn run<A>(
    writer: &Writer,
    id: &str,
    command: A::Command,
    metadata: &EventMetadata,
) -> Result<Done<A>, ExecuteError>
where
    A: Aggregate<Error = MessageError, Services = MessagingServices>,
    A::Command: Clone,
{
    let mut attempt = 0;
    loop {
        let mut context = load::<A>(&writer.pool, id).await?;
        let (_, serialized) =
            decide(&writer.directory, &mut context, command.clone(), metadata).await?;
        match append(writer, &serialized).await? {
            Some(position) => {
                return Ok(Done {
                    // Every command of these streams that succeeds appends an event.
                    position: position.unwrap_or(LogPosition::START),
                    aggregate: context.aggregate,
                });
            }
            None if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                tracing::debug!(id, attempt, "optimistic concurrency conflict, retrying");
            }
            None => return Err(store_error(AggregateError::AggregateConflict)),
        }
    }
}
