//! The read models after real commands: mailbox rows, conversation summaries, unread counters
//! and the original `messages` table.

mod common;

use chrono::NaiveDateTime;
use common::{catch_up_all, Result, World};
use sqlx::PgPool;
use uuid::Uuid;

type Summary = (Uuid, i32);

async fn summary(pool: &PgPool, owner: &str, counterpart: &str) -> Result<Option<Summary>> {
    Ok(sqlx::query_as(
        "SELECT last_message_id, unread_count FROM conversations
         WHERE owner = $1 AND counterpart = $2",
    )
    .bind(owner)
    .bind(counterpart)
    .fetch_optional(pool)
    .await?)
}

async fn unread(pool: &PgPool, owner: &str) -> Result<i32> {
    Ok(
        sqlx::query_scalar::<_, i32>("SELECT unread FROM unread_counters WHERE owner = $1")
            .bind(owner)
            .fetch_optional(pool)
            .await?
            .unwrap_or(0),
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_sent_message_gives_each_side_a_row_a_conversation_and_an_unread_count(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let id = world
        .send("alice", "bob", Some("Budget"), "Numbers for Q1")
        .await?;
    catch_up_all(&pool).await?;
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT owner, counterpart, direction, deleted FROM mailbox WHERE message_id = $1
         ORDER BY owner",
    )
    .bind(id)
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        rows,
        [
            ("alice".into(), "bob".into(), "sent".into(), false),
            ("bob".into(), "alice".into(), "received".into(), false)
        ]
    );
    assert_eq!(summary(&pool, "alice", "bob").await?, Some((id, 0)));
    assert_eq!(summary(&pool, "bob", "alice").await?, Some((id, 1)));
    assert_eq!(
        (unread(&pool, "bob").await?, unread(&pool, "alice").await?),
        (1, 0)
    );
    let weighted: bool = sqlx::query_scalar(
        "SELECT search @@ to_tsquery('english', 'budget') AND search::text LIKE '%''budget'':1A%'
         FROM mailbox WHERE owner = 'bob' AND message_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await?;
    assert!(weighted, "the subject is indexed with weight A");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn unread_counts_drop_on_read_and_on_the_recipients_delete(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let first = world.send("alice", "bob", None, "one").await?;
    let second = world.send("alice", "bob", None, "two").await?;
    let third = world.send("alice", "bob", None, "three").await?;
    catch_up_all(&pool).await?;
    assert_eq!(unread(&pool, "bob").await?, 3);
    world.read("bob", first).await?;
    world.delete("bob", second).await?;
    world.delete("alice", third).await?; // the sender's delete leaves bob's copy unread
    catch_up_all(&pool).await?;
    assert_eq!(unread(&pool, "bob").await?, 1);
    assert_eq!(summary(&pool, "bob", "alice").await?, Some((third, 1)));
    assert_eq!(summary(&pool, "alice", "bob").await?, Some((second, 0)));
    let read_on_both: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mailbox WHERE message_id = $1 AND read_at IS NOT NULL",
    )
    .bind(first)
    .fetch_one(&pool)
    .await?;
    assert_eq!(read_on_both, 2, "the sender's row shows the read time too");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn deletes_move_the_last_message_back_and_empty_conversations_leave_until_restored(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let older = world.send("alice", "bob", None, "older").await?;
    let newer = world.reply("bob", older, "newer").await?;
    catch_up_all(&pool).await?;
    assert_eq!(summary(&pool, "alice", "bob").await?, Some((newer, 1)));

    world.delete("alice", newer).await?;
    catch_up_all(&pool).await?;
    assert_eq!(summary(&pool, "alice", "bob").await?, Some((older, 0)));
    assert_eq!(unread(&pool, "alice").await?, 0);

    world.delete("alice", older).await?;
    catch_up_all(&pool).await?;
    assert_eq!(
        summary(&pool, "alice", "bob").await?,
        None,
        "no visible message left"
    );
    assert_eq!(
        summary(&pool, "bob", "alice").await?,
        Some((newer, 1)),
        "bob never read `older`"
    );

    world.delete("bob", older).await?; // both sides deleted: hidden
    world.restore("admin", older).await?;
    world.restore("admin", newer).await?;
    catch_up_all(&pool).await?;
    assert_eq!(summary(&pool, "alice", "bob").await?, Some((newer, 1)));
    assert_eq!(
        unread(&pool, "alice").await?,
        1,
        "the restored reply is unread again"
    );
    assert_eq!(
        summary(&pool, "bob", "alice").await?,
        Some((newer, 1)),
        "and bob's `older`"
    );
    Ok(())
}

type MessageRow = (
    String,
    String,
    Option<String>,
    Option<Uuid>,
    Option<bool>,
    Option<bool>,
    Option<bool>,
    Option<NaiveDateTime>,
);

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_messages_table_follows_the_original_lifecycle(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let id = world
        .clinician_send("dr_carol", "alice", "How are you feeling?")
        .await?;
    let reply = world.reply("alice", id, "Better, thanks").await?;
    world.read("alice", id).await?;
    world.delete("dr_carol", id).await?;
    world.delete("alice", id).await?;
    catch_up_all(&pool).await?;
    let select = "SELECT sender_username::text, recipient_username::text, subject::text,
                         parent_message_id, is_read, is_deleted_by_sender,
                         is_deleted_by_recipient, deleted_at
                  FROM messages WHERE id = $1";
    let row: MessageRow = sqlx::query_as(select).bind(id).fetch_one(&pool).await?;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("dr_carol", "alice"));
    assert_eq!((row.4, row.5, row.6), (Some(true), Some(true), Some(true)));
    assert!(row.7.is_some(), "hidden once both sides deleted");
    let answer: MessageRow = sqlx::query_as(select).bind(reply).fetch_one(&pool).await?;
    assert_eq!(answer.3, Some(id));
    assert_eq!(
        answer.2, None,
        "a reply to a message without subject has none"
    );

    world.restore("admin", id).await?;
    catch_up_all(&pool).await?;
    let row: MessageRow = sqlx::query_as(select).bind(id).fetch_one(&pool).await?;
    assert_eq!((row.5, row.6, row.7), (Some(false), Some(false), None));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn an_unreadable_event_stops_its_projection_without_moving_the_checkpoint(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world.send("alice", "bob", None, "fine").await?;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('message', 'broken', 1, 'MessageSent', '7.0', '{}', '{}')",
    )
    .execute(&pool)
    .await?;
    let mut conn = common::connect(&pool).await?;
    let mut result;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Other tests' transactions may hold the horizon back for a moment.
        result =
            projections::apply_next_batch(&mut conn, projections::Projection::Mailbox, 10).await;
        if !matches!(result, Ok(ref o) if o.applied == 0) || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(matches!(
        result,
        Err(projections::ProjectorError::Log(
            read_side::LogError::UnreadableEvent { .. }
        ))
    ));
    let (applied, _) = common::checkpoint(&pool, projections::Projection::Mailbox).await?;
    assert_eq!(
        applied, 0,
        "the whole batch rolled back, the good event with it"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 0);
    Ok(())
}
