//! The notification feed written by the mailbox fold: what each event tells whom, with running
//! unread totals; the retention window (old events get no row on replay, old rows are pruned
//! live); and `projector verify` comparing the window alone.

mod common;

use common::{append_raw, catch_up_all, connect, quick_settings, sent_event, Result, World};
use projections::operator::{rebuild, verify};
use projections::{apply_next_batch, Projection, ProjectorRuntime};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type Row = (String, String, Option<Uuid>, Option<String>, Option<i32>);

async fn feed(pool: &PgPool) -> Result<Vec<Row>> {
    Ok(sqlx::query_as(
        "SELECT recipient, kind, message_id, counterpart, total_unread FROM notifications
         ORDER BY transaction_id, global_position, recipient",
    )
    .fetch_all(pool)
    .await?)
}

fn row(
    recipient: &str,
    kind: &str,
    id: Uuid,
    counterpart: Option<&str>,
    total: Option<i32>,
) -> Row {
    (
        recipient.into(),
        kind.into(),
        Some(id),
        counterpart.map(str::to_owned),
        total,
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn each_event_tells_its_participants_what_changed_for_them(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let older = world.send("alice", "bob", Some("Private"), "older").await?;
    let newest = world.send("alice", "bob", None, "newest").await?;
    world.read("bob", newest).await?;
    world.delete("alice", newest).await?;
    world.delete("bob", newest).await?;
    world.restore("admin", newest).await?;
    world.delete("bob", older).await?;
    let reply = world.reply("bob", newest, "answer").await?;
    // The whole life in one batch: the totals run event by event all the same.
    let mut conn = connect(&pool).await?;
    apply_next_batch(&mut conn, Projection::Mailbox, 100).await?;
    let expected = vec![
        row("bob", "message", older, Some("alice"), Some(1)),
        row("bob", "message", newest, Some("alice"), Some(2)),
        // The first read: the sender's ✓✓, the reader's badge.
        row("alice", "read", newest, Some("bob"), None),
        row("bob", "unread", newest, None, Some(1)),
        // Deletes and the hide of a read message change no total; the restore of a read one
        // neither. Deleting the unread one does.
        row("bob", "unread", older, None, Some(0)),
        row("alice", "message", reply, Some("bob"), Some(1)),
    ];
    assert_eq!(feed(&pool).await?, expected);
    // The same, whatever the batch size.
    for batch_size in [1, 2, 10_000] {
        let report = verify(&pool, Projection::Mailbox, batch_size, &|_| {}).await?;
        assert!(report.is_clean(), "batches of {batch_size}: {report:?}");
    }
    let stored: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM notifications t")
        .fetch_one(&pool)
        .await?;
    assert!(
        !stored.contains("Private") && !stored.contains("older"),
        "{stored}"
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_feed_keeps_its_retention_window_live_and_on_replay(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    // An event appended eight days ago (the log is append-only: written so, not changed later).
    let mut conn = connect(&pool).await?;
    let old = sent_event("alice", "bob", "long ago");
    sqlx::query(
        "ALTER TABLE events ALTER COLUMN recorded_at SET DEFAULT now() - interval '8 days'",
    )
    .execute(&mut conn)
    .await?;
    append_raw(&mut conn, &old.message_id().to_string(), 0, &old).await?;
    sqlx::query("ALTER TABLE events ALTER COLUMN recorded_at SET DEFAULT now()")
        .execute(&mut conn)
        .await?;
    let recent = world.send("alice", "bob", None, "today").await?;
    catch_up_all(&pool).await?;
    let recipients = |rows: Vec<Row>| rows.into_iter().map(|r| r.2).collect::<Vec<_>>();
    // Live, the old event was applied long after it was appended: outside the window already.
    assert_eq!(recipients(feed(&pool).await?), [Some(recent)]);
    let report = verify(&pool, Projection::Mailbox, 10, &|_| {}).await?;
    assert!(report.is_clean(), "{report:?}");

    // The row the old event got when it was applied in time, eight days ago: outside the
    // window, it makes no difference for verify, and the leading projector deletes it.
    sqlx::query(
        "INSERT INTO notifications (recipient, transaction_id, global_position, kind,
             message_id, counterpart, at, total_unread, occurred_at)
         SELECT 'bob', transaction_id, global_position, 'message', $1, 'alice', recorded_at, 1,
                recorded_at
         FROM events WHERE aggregate_id = $2",
    )
    .bind(old.message_id())
    .bind(old.message_id().to_string())
    .execute(&pool)
    .await?;
    let report = verify(&pool, Projection::Mailbox, 10, &|_| {}).await?;
    assert!(report.is_clean(), "{report:?}");
    let stop = CancellationToken::new();
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings()).spawn(stop.clone());
    let pruned = common::eventually(std::time::Duration::from_secs(10), || async {
        Ok(recipients(feed(&pool).await?) == [Some(recent)])
    })
    .await?;
    stop.cancel();
    runtime.await?;
    assert!(pruned, "{:?}", feed(&pool).await?);

    // A rebuild writes only the window, and nothing before the feed's start.
    rebuild(&pool, Projection::Mailbox, 10_000, &|_| {}).await?;
    assert_eq!(recipients(feed(&pool).await?), [Some(recent)]);
    sqlx::query(
        "UPDATE notification_feed SET (starts_after_transaction_id, starts_after_position) =
             (SELECT transaction_id, global_position FROM events ORDER BY transaction_id DESC,
                     global_position DESC LIMIT 1)",
    )
    .execute(&pool)
    .await?;
    rebuild(&pool, Projection::Mailbox, 10_000, &|_| {}).await?;
    assert_eq!(feed(&pool).await?, Vec::<Row>::new());
    Ok(())
}
