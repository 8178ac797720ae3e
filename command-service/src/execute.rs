//! Running a command through the cqrs-es aggregate and the event store, and reporting what it
//! did: where its events landed in the log, the events, and the message they leave behind, so
//! a handler answers from them without reading anything back.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use events::{
    LogPosition, Message, MessageCommand, MessageError, MessageEvent, MessageState, AGGREGATE_TYPE,
};
use http_edge::ApiError;
use uuid::Uuid;

use crate::metadata::EventMetadata;
use crate::state::CommandState;
use crate::store::capture_append;

/// How often a command is retried when another command on the same message committed first.
pub const CONFLICT_RETRIES: usize = 4;

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Domain(#[from] MessageError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<ExecuteError> for ApiError {
    fn from(err: ExecuteError) -> Self {
        match err {
            ExecuteError::Domain(domain) => domain.into(),
            ExecuteError::Api(api) => api,
        }
    }
}

/// A committed command.
#[derive(Debug)]
pub struct Committed {
    /// Where the message's last event is in the log (its consistency token).
    pub position: LogPosition,
    /// The events this command appended (none for a repeated read receipt or delete).
    pub events: Vec<MessageEvent>,
    /// The message as its events tell it now.
    pub message: Option<MessageState>,
}

pub(crate) fn store_error(err: AggregateError<MessageError>) -> ExecuteError {
    match err {
        AggregateError::UserError(domain) => ExecuteError::Domain(domain),
        AggregateError::AggregateConflict => ExecuteError::Api(ApiError::Conflict(
            "the message was changed concurrently; retry".into(),
        )),
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            ExecuteError::Api(ApiError::from_store(cause))
        }
        other => ExecuteError::Api(ApiError::internal(other)),
    }
}

/// Runs `command` on message `id`, retrying optimistic-concurrency conflicts (the domain then
/// sees the other command's events), and signals the projector.
pub async fn execute(
    state: &CommandState,
    id: Uuid,
    command: MessageCommand,
    metadata: &EventMetadata,
) -> Result<Committed, ExecuteError> {
    let name = command.name();
    counted(name, run(state, id, command, metadata).await)
}

/// [`execute`] for a message that cannot exist yet (a fresh random id, or an idempotency-keyed
/// id just found absent): the domain decides on an empty aggregate and the events are appended
/// at sequence 1 without loading anything first. Should the id exist after all (a racing
/// repeat of the same key), the unique key refuses the append and the command runs the usual
/// way, loading the message, so the domain answers as it always would.
pub async fn execute_new(
    state: &CommandState,
    id: Uuid,
    command: MessageCommand,
    metadata: &EventMetadata,
) -> Result<Committed, ExecuteError> {
    let name = command.name();
    let result = match append_new(state, id, command.clone(), metadata).await {
        Ok(Some(done)) => Ok(done),
        // The id existed after all.
        Ok(None) => run(state, id, command, metadata).await,
        Err(err) => Err(err),
    };
    counted(name, result)
}

/// Lets the domain decide `command` on the message of `context`, which then holds the message
/// as the new events leave it.
pub(crate) async fn decide(
    state: &CommandState,
    context: &mut EventStoreAggregateContext<Message>,
    command: MessageCommand,
) -> Result<Vec<MessageEvent>, MessageError> {
    let sink: EventSink<Message> = EventSink::default();
    context
        .aggregate
        .handle(command, &state.directory, &sink)
        .await?;
    Ok(sink.collect().await)
}

/// `Ok(None)` when the unique key refused the append: the message exists.
async fn append_new(
    state: &CommandState,
    id: Uuid,
    command: MessageCommand,
    metadata: &EventMetadata,
) -> Result<Option<Committed>, ExecuteError> {
    let context = EventStoreAggregateContext {
        aggregate_id: id.to_string(),
        aggregate: Message::default(),
        current_sequence: 0,
        current_snapshot: None,
    };
    match decide_and_append(state, context, command, metadata).await? {
        Ok(done) => Ok(Some(done)),
        Err(AggregateError::AggregateConflict) => Ok(None),
        Err(err) => Err(store_error(err)),
    }
}

/// Decides `command` on the message of `context` and appends what the domain decided. A
/// refused append (a conflict, an outage) is returned inside for the caller to judge.
async fn decide_and_append(
    state: &CommandState,
    mut context: EventStoreAggregateContext<Message>,
    command: MessageCommand,
    metadata: &EventMetadata,
) -> Result<Result<Committed, AggregateError<MessageError>>, ExecuteError> {
    let aggregate_id = context.aggregate_id.clone();
    let events = decide(state, &mut context, command).await?;
    let message = context.aggregate.state.clone();
    let commit = state
        .store
        .commit(events.clone(), context, metadata.pairs().clone());
    let (outcome, appended) = capture_append(commit).await;
    if let Err(err) = outcome {
        return Ok(Err(err));
    }
    Ok(Ok(Committed {
        position: committed(state, &aggregate_id, appended).await?,
        events,
        message,
    }))
}

/// After a commit: wakes the projector and answers the position the append reported. From here
/// on the command is done, and nothing may turn it into an error answer; only a command that
/// recorded nothing new (a repeated read receipt or delete) reads the message's current
/// position, and only that read can fail, harmlessly.
async fn committed(
    state: &CommandState,
    aggregate_id: &str,
    appended: Option<LogPosition>,
) -> Result<LogPosition, ApiError> {
    state.signal.committed().await;
    match appended {
        Some(position) => Ok(position),
        None => last_position(state, aggregate_id).await,
    }
}

/// Counts the command's outcome in `commands_total`.
fn counted<T>(name: &'static str, result: Result<T, ExecuteError>) -> Result<T, ExecuteError> {
    count(name, outcome(&result), 1);
    result
}

/// The `outcome` label of a command's result.
pub(crate) fn outcome<T>(result: &Result<T, ExecuteError>) -> &'static str {
    match result {
        Ok(_) => "accepted",
        Err(ExecuteError::Domain(err)) => ApiError::from_kind(err.kind()),
        Err(ExecuteError::Api(err)) => err.code(),
    }
}

/// Adds `commands` commands of `name` with `outcome` to `commands_total`.
pub(crate) fn count(name: &'static str, outcome: &'static str, commands: u64) {
    metrics::counter!("commands_total", "command" => name, "outcome" => outcome)
        .increment(commands);
}

/// Load, decide, append; again on a conflict.
async fn run(
    state: &CommandState,
    id: Uuid,
    command: MessageCommand,
    metadata: &EventMetadata,
) -> Result<Committed, ExecuteError> {
    let aggregate_id = id.to_string();
    let mut attempt = 0;
    loop {
        let context = state
            .store
            .load_aggregate(&aggregate_id)
            .await
            .map_err(store_error)?;
        match decide_and_append(state, context, command.clone(), metadata).await? {
            Ok(done) => return Ok(done),
            Err(AggregateError::AggregateConflict) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                tracing::debug!(%id, attempt, "optimistic concurrency conflict, retrying");
            }
            Err(err) => return Err(store_error(err)),
        }
    }
}

/// The position of the message's last event ([`LogPosition::START`] when it has none).
pub async fn last_position(
    state: &CommandState,
    aggregate_id: &str,
) -> Result<LogPosition, ApiError> {
    crate::streams::stream_position(&state.pool, AGGREGATE_TYPE, aggregate_id).await
}

/// The message as its events tell it, or `None` when it was never sent.
pub async fn load_message(
    state: &CommandState,
    id: Uuid,
) -> Result<Option<MessageState>, ApiError> {
    let context = state
        .store
        .load_aggregate(&id.to_string())
        .await
        .map_err(|err| ApiError::from(store_error(err)))?;
    Ok(context.aggregate.state)
}
