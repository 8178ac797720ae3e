//! The scheduler: delivers each due scheduled message as an ordinary message, exactly once.
//!
//! One instance leads (a PostgreSQL session advisory lock on a connection of its own, like the
//! projector's leader: a crash ends the session and another instance takes over); the others
//! wait. Exactly-once does not rest on the lock, though: the delivered message's id is derived
//! from the scheduled id, and the message's `MessageSent` and the scheduled message's
//! `ScheduledMessageDelivered` are appended in one statement, so two instances racing, a crash
//! at any point or a restart leave exactly one message and one status, whichever wins. At start
//! and then every `SCHEDULER_POLL_MS` the leader delivers every pending message whose `send_at`
//! has come (those that fell due while everything was down, first).
//!
//! At delivery the domain checks the policy again (the recipient exists, the approval holds);
//! a refusal becomes `ScheduledMessageFailed` with the reason, and nothing is sent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use events::{
    delivered_message_id, Channel, Message, MessageCommand, MessageError, ScheduledCommand,
    ScheduledMessage, ScheduledStatus, SendMessage,
};
use http_edge::ApiError;
use sqlx::{ConnectOptions, Connection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::execute::ExecuteError;
use crate::messages::now;
use crate::metadata::EventMetadata;
use crate::streams::{append, decide, load, Writer};

/// Advisory lock class of the scheduler's leader (beside the projector's `0x4853_000x`).
const LEADER_LOCK: i32 = 0x4853_0010;
/// How many due messages one round delivers at most (the next round takes the rest at once).
const ROUND: i64 = 200;
/// How often a delivery that lost a race is decided again on the fresh state.
const RETRIES: usize = 4;

/// The due pending messages, oldest `send_at` first (a partial index of the pending ones).
pub const DUE_SCHEDULED: &str = "SELECT scheduled_id FROM scheduled_messages
     WHERE status = 'pending' AND send_at <= $1
     ORDER BY send_at, scheduled_id LIMIT $2";

/// The scheduler's settings (environment variables, documented in docs/operations.md).
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// `SCHEDULER_POLL_MS` (default 500): how often the leader looks for due messages.
    pub poll: Duration,
    /// How often a standby tries to become the leader (default 2 s).
    pub standby_retry: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            standby_retry: Duration::from_secs(2),
        }
    }
}

impl SchedulerSettings {
    /// From the environment.
    pub fn from_env() -> Result<Self, http_edge::SettingsError> {
        let env = |name: &str| std::env::var(name).ok();
        let poll: u64 = http_edge::parse_setting(&env, "SCHEDULER_POLL_MS", 500)?;
        Ok(Self {
            poll: Duration::from_millis(poll.max(10)),
            ..Self::default()
        })
    }
}

/// What one delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent now as this message.
    Sent(Uuid),
    /// Refused by the policy; recorded as failed with this reason.
    Failed(String),
    /// Nothing to do: not pending any more, not due yet, or unknown.
    Skipped,
}

/// Runs the scheduler of a process without a command service (the projector in split mode):
/// its own uncached directory, and the projector woken through `NOTIFY hs_events`.
pub fn spawn_standalone(
    pool: sqlx::PgPool,
    settings: SchedulerSettings,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let writer = Writer {
        directory: std::sync::Arc::new(accounts::PgDirectory::new(pool.clone())),
        signal: crate::CommitSignal::relay_to_postgres(pool.clone(), Duration::from_millis(10)),
        pool,
    };
    spawn(writer, settings, stop)
}

/// Runs the scheduler until `stop`: standby, then leader until `stop` or a lost connection.
pub fn spawn(
    writer: Writer,
    settings: SchedulerSettings,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        while !stop.is_cancelled() {
            match lead(&writer, settings, &stop).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(err) => {
                    metrics::gauge!("scheduler_leader").set(0.0);
                    tracing::warn!(error = %err, "scheduler lost its connection; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        metrics::gauge!("scheduler_leader").set(0.0);
    })
}

async fn lead(
    writer: &Writer,
    settings: SchedulerSettings,
    stop: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut conn = writer.pool.connect_options().connect().await?;
    loop {
        let leader: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext('scheduler'))")
                .bind(LEADER_LOCK)
                .fetch_one(&mut conn)
                .await?;
        if leader {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.standby_retry) => {}
            _ = stop.cancelled() => return Ok(()),
        }
    }
    metrics::gauge!("scheduler_leader").set(1.0);
    tracing::info!("scheduler leading");
    loop {
        // A failed round (the database away) is tried again at the next tick.
        if let Err(err) = deliver_due(writer, now()).await {
            tracing::warn!(error = %err, "scheduler round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            _ = stop.cancelled() => break,
        }
        // The lock lives with this connection: check it is still there.
        sqlx::query("SELECT 1").execute(&mut conn).await?;
    }
    metrics::gauge!("scheduler_leader").set(0.0);
    conn.close().await
}

/// Delivers every pending message due at `at`, in rounds of [`ROUND`]; returns what each did.
pub async fn deliver_due(writer: &Writer, at: DateTime<Utc>) -> Result<Vec<Delivery>, ApiError> {
    let mut done = Vec::new();
    loop {
        let due: Vec<Uuid> = sqlx::query_scalar(DUE_SCHEDULED)
            .bind(at)
            .bind(ROUND)
            .fetch_all(&writer.pool)
            .await?;
        let full = due.len() as i64 == ROUND;
        let mut progressed = false;
        for scheduled_id in due {
            let delivery = deliver(writer, scheduled_id)
                .await
                .map_err(ApiError::from)?;
            progressed |= delivery != Delivery::Skipped;
            done.push(delivery);
        }
        // The read table lags the log by a moment: a round of only skips waits for it.
        if !full || !progressed {
            return Ok(done);
        }
    }
}

/// Delivers `scheduled_id` if it is pending and due: the message and the status in one append.
pub async fn deliver(writer: &Writer, scheduled_id: Uuid) -> Result<Delivery, ExecuteError> {
    let mut attempt = 0;
    loop {
        match try_deliver(writer, scheduled_id).await? {
            Some(delivery) => {
                let outcome = match &delivery {
                    Delivery::Sent(_) => "sent",
                    Delivery::Failed(_) => "failed",
                    Delivery::Skipped => "skipped",
                };
                metrics::counter!("scheduled_deliveries_total", "outcome" => outcome).increment(1);
                return Ok(delivery);
            }
            None if attempt < RETRIES => attempt += 1,
            None => return Ok(Delivery::Skipped),
        }
    }
}

/// `None`: another writer appended first; decide again.
async fn try_deliver(
    writer: &Writer,
    scheduled_id: Uuid,
) -> Result<Option<Delivery>, ExecuteError> {
    let at = now();
    let mut scheduled = load::<ScheduledMessage>(&writer.pool, &scheduled_id.to_string()).await?;
    let Some(state) = scheduled.aggregate.state.clone() else {
        return Ok(Some(Delivery::Skipped));
    };
    if state.status != ScheduledStatus::Pending || state.send_at > at {
        return Ok(Some(Delivery::Skipped));
    }
    let role = writer
        .directory
        .find_user(&state.author)
        .await
        .map_err(MessageError::from)?
        .map(|user| user.role.to_string())
        .unwrap_or_default();
    let metadata = EventMetadata::scheduler(&state.author, &role, scheduled_id);
    let message_id = delivered_message_id(scheduled_id);
    let mut message = load::<Message>(&writer.pool, &message_id.to_string()).await?;
    let send = MessageCommand::Send(SendMessage {
        message_id,
        sender: state.author.clone(),
        recipient: state.recipient.clone(),
        subject: state.subject.clone(),
        content: state.content.clone(),
        channel: Channel::Scheduled,
        sent_at: at,
    });
    let (mut events, delivery) =
        match decide(&writer.directory, &mut message, send, &metadata).await {
            Ok((_, sent)) => (sent, Delivery::Sent(message_id)),
            // Only a delivery appends this id, always with the status: never reached in
            // practice, and if it were, the message exists and the status says so.
            Err(ExecuteError::Domain(MessageError::AlreadySent(id))) => {
                (Vec::new(), Delivery::Sent(id))
            }
            // The policy, the recipient's existence or a rule refused: the author learns why.
            Err(ExecuteError::Domain(err)) if !matches!(err, MessageError::Directory(_)) => {
                (Vec::new(), Delivery::Failed(err.to_string()))
            }
            Err(err) => return Err(err),
        };
    let status = match &delivery {
        Delivery::Sent(message_id) => ScheduledCommand::MarkDelivered {
            message_id: *message_id,
            at,
        },
        Delivery::Failed(reason) => ScheduledCommand::MarkFailed {
            reason: reason.clone(),
            at,
        },
        Delivery::Skipped => return Ok(Some(Delivery::Skipped)),
    };
    let (_, marked) = decide(&writer.directory, &mut scheduled, status, &metadata).await?;
    events.extend(marked);
    Ok(append(writer, &events).await?.map(|_| delivery))
}
