//! The clinician's triage, part of the `mailbox` projection (migration 20261202400003): for each
//! (clinician, patient) pair that exchanged a message, since when the patient has waited for an
//! answer, and each wait a clinician message ended.
//!
//! Only sends between a clinician and a patient count, in commit order: a patient message starts
//! a wait unless one is running (the wait keeps its first message's `sent_at`); a clinician
//! message ends a running wait (a row of `triage_replies`). Deletes, reads and restores change
//! nothing: the triage follows what happened, not what is shown now. The batch reads the waits of
//! the pairs it touches (one probe), folds in memory and writes each pair's final wait and the
//! batch's replies in one statement each, so batch boundaries do not change the result.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::{MessageEvent, Role};
use sqlx::PgConnection;
use uuid::Uuid;

/// `(clinician, patient)`.
type Pair = (String, String);

/// A send between a clinician and a patient.
struct Send<'a> {
    pair: Pair,
    from_patient: bool,
    message_id: Uuid,
    sent_at: &'a DateTime<Utc>,
}

fn care_send(event: &MessageEvent) -> Option<Send<'_>> {
    let MessageEvent::MessageSent {
        message_id,
        sender,
        sender_role,
        recipient,
        recipient_role,
        sent_at,
        ..
    } = event
    else {
        return None;
    };
    let (pair, from_patient) = match (sender_role, recipient_role) {
        (Role::Patient, Role::Clinician) => ((recipient.clone(), sender.clone()), true),
        (Role::Clinician, Role::Patient) => ((sender.clone(), recipient.clone()), false),
        _ => return None,
    };
    Some(Send {
        pair,
        from_patient,
        message_id: *message_id,
        sent_at,
    })
}

/// The waits of the pairs `$1`/`$2` before the batch.
pub const READ_WAITS: &str = "SELECT w.clinician, w.patient, w.waiting_since
    FROM unnest($1::text[], $2::text[]) AS k (clinician, patient)
    JOIN triage_waits w ON w.clinician = k.clinician AND w.patient = k.patient";

/// Each pair's wait after the batch (a pair seen for the first time gets its row).
pub const UPSERT_WAITS: &str = "INSERT INTO triage_waits (clinician, patient, waiting_since)
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
    ON CONFLICT (clinician, patient) DO UPDATE SET waiting_since = excluded.waiting_since";

/// The waits the batch's clinician messages ended.
pub const INSERT_REPLIES: &str = "INSERT INTO triage_replies
        (clinician, patient, message_id, waited_since, replied_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[],
                         $5::timestamptz[])";

/// Folds the batch's sends between clinicians and patients into `triage_waits` and
/// `triage_replies`.
pub(crate) async fn write(
    conn: &mut PgConnection,
    events: &[&MessageEvent],
) -> Result<(), sqlx::Error> {
    let sends: Vec<Send<'_>> = events.iter().filter_map(|e| care_send(e)).collect();
    if sends.is_empty() {
        return Ok(());
    }
    let mut waits: HashMap<Pair, Option<DateTime<Utc>>> = HashMap::new();
    let mut order: Vec<Pair> = Vec::new();
    for send in &sends {
        if !waits.contains_key(&send.pair) {
            waits.insert(send.pair.clone(), None);
            order.push(send.pair.clone());
        }
    }
    let before: Vec<(String, String, Option<DateTime<Utc>>)> = sqlx::query_as(READ_WAITS)
        .bind(order.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>())
        .bind(order.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    for (clinician, patient, since) in before {
        waits.insert((clinician, patient), since);
    }
    let mut replies: Vec<(&Pair, Uuid, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for send in &sends {
        let Some(wait) = waits.get_mut(&send.pair) else {
            continue;
        };
        if send.from_patient {
            wait.get_or_insert(*send.sent_at);
        } else if let Some(since) = wait.take() {
            replies.push((&send.pair, send.message_id, since, *send.sent_at));
        }
    }
    sqlx::query(UPSERT_WAITS)
        .bind(order.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>())
        .bind(order.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>())
        .bind(
            order
                .iter()
                .map(|pair| waits.get(pair).copied().flatten())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    if !replies.is_empty() {
        sqlx::query(INSERT_REPLIES)
            .bind(replies.iter().map(|r| r.0 .0.as_str()).collect::<Vec<_>>())
            .bind(replies.iter().map(|r| r.0 .1.as_str()).collect::<Vec<_>>())
            .bind(replies.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(replies.iter().map(|r| r.2).collect::<Vec<_>>())
            .bind(replies.iter().map(|r| r.3).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
