//! The cached directory and its listener against a real PostgreSQL: every writer of `users` and
//! `patient_approvals` is heard, and a lost listener turns the cache off until it is back.

use std::time::Duration;

use accounts::{
    create_user, set_approval, AccountCaches, ApprovalStatus, ChangeListener, NewUser, PgDirectory,
};
use events::{Directory, Role};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};
use tokio_util::sync::CancellationToken;

mod support;

use support::{eventually, silently, Result};

async fn seed(pool: &PgPool) -> Result {
    for (username, role) in [("alice", Role::Patient), ("dr_carol", Role::Clinician)] {
        let user = NewUser {
            username: username.into(),
            role,
            password: "healing-demo".into(),
            display_name: None,
        };
        create_user(pool, user).await?;
    }
    set_approval(pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
    Ok(())
}

/// A cached directory over `pool` whose listener is connected.
async fn listening_directory(
    pool: &PgPool,
) -> Result<(PgDirectory, ChangeListener, CancellationToken)> {
    let directory = PgDirectory::cached(pool.clone(), 100);
    let stop = CancellationToken::new();
    let caches = AccountCaches::default();
    caches.register(directory.cache());
    let listener = ChangeListener::start(pool, caches, stop.clone()).await;
    listener.listening().wait_for(|on| *on).await?;
    Ok((directory, listener, stop))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_cached_directory_answers_from_memory_until_a_change_is_announced(
    pool: PgPool,
) -> Result {
    seed(&pool).await?;
    let (directory, listener, stop) = listening_directory(&pool).await?;
    assert!(directory.is_assigned("dr_carol", "alice").await?);
    assert_eq!(directory.find_user("newbie").await?, None);

    // Unannounced, a change is not seen: the answers come from memory.
    silently(
        &pool,
        "patient_approvals",
        "patient_approvals_announce",
        "UPDATE patient_approvals SET status = 'revoked'",
    )
    .await?;
    silently(
        &pool,
        "users",
        "users_announce",
        "INSERT INTO users (username, display_name, role, password_hash)
         VALUES ('newbie', 'Newbie', 'patient', 'x')",
    )
    .await?;
    assert!(directory.is_assigned("dr_carol", "alice").await?);
    assert_eq!(directory.find_user("newbie").await?, None);

    // Announced, whoever writes: the services' statements, or plain SQL.
    set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Revoked).await?;
    eventually("the revoked approval is seen", || async {
        Ok(!directory.is_assigned("dr_carol", "alice").await?)
    })
    .await?;
    sqlx::query("UPDATE users SET display_name = 'New' WHERE username = 'newbie'")
        .execute(&pool)
        .await?;
    eventually("the new user is found", || async {
        Ok(directory.find_user("newbie").await?.map(|u| u.role) == Some(Role::Patient))
    })
    .await?;
    sqlx::query("DELETE FROM patient_approvals")
        .execute(&pool)
        .await?;
    set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
    eventually("the approval granted again is seen", || async {
        Ok(directory.is_assigned("dr_carol", "alice").await?)
    })
    .await?;
    stop.cancel();
    listener.stopped().await;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_lost_listener_turns_the_cache_off_until_it_is_back(pool: PgPool) -> Result {
    seed(&pool).await?;
    // One connection, opened before the database stops accepting new ones.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let (directory, listener, stop) = listening_directory(&pool).await?;
    let mut listening = listener.listening();
    assert_eq!(directory.find_user("newbie").await?, None, "cached");

    // Keep the listener out while a change is made that it cannot hear (from the server's
    // main database: no session may lock itself out of its own).
    let test_db = pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    let mut main = sqlx::PgConnection::connect(&std::env::var("DATABASE_URL")?).await?;
    let keep_out = |allow: bool| format!("ALTER DATABASE \"{test_db}\" ALLOW_CONNECTIONS {allow}");
    sqlx::query(&keep_out(false)).execute(&mut main).await?;
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(accounts::changes::APPLICATION_NAME)
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        terminated,
        vec![true],
        "one listener connection per process"
    );
    listening.wait_for(|on| !*on).await?;
    assert!(!directory.cache().is_live());
    sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash)
         VALUES ('newbie', 'Newbie', 'patient', 'x')",
    )
    .execute(&pool)
    .await?;
    // Off, the cache is bypassed: the database answers.
    assert!(directory.find_user("newbie").await?.is_some());
    sqlx::query("UPDATE users SET role = 'clinician' WHERE username = 'newbie'")
        .execute(&pool)
        .await?;
    assert_eq!(
        directory.find_user("newbie").await?.map(|u| u.role),
        Some(Role::Clinician),
        "nothing was kept while off"
    );

    sqlx::query(&keep_out(true)).execute(&mut main).await?;
    tokio::time::timeout(Duration::from_secs(10), listening.wait_for(|on| *on)).await??;
    assert!(directory.cache().is_live());
    assert_eq!(
        directory.find_user("newbie").await?.map(|u| u.role),
        Some(Role::Clinician)
    );
    stop.cancel();
    listener.stopped().await;
    pool.close().await;
    Ok(())
}
