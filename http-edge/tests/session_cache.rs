//! Cached sessions against a real PostgreSQL: answered from memory while fresh, never past their
//! expiry, their last use still recorded once a minute, and ended at once by a revocation.

use std::time::Duration;

use accounts::{AccountCaches, ChangeListener, NewUser};
use events::Role;
use http_edge::sessions::SessionStore;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

#[path = "../../accounts/tests/support/mod.rs"]
mod support;

use support::{eventually, silently, Result};

/// A store with a cache of 100 sessions and its listener connected, and alice and bob.
async fn cached_store(pool: &PgPool, ttl: Duration) -> Result<(SessionStore, Listening)> {
    for username in ["alice", "bob"] {
        let user = NewUser {
            username: username.into(),
            role: Role::Patient,
            password: "healing-demo".into(),
            display_name: None,
        };
        accounts::create_user(pool, user).await?;
    }
    let store = SessionStore::new(pool.clone(), ttl, Duration::from_secs(30 * 60)).with_cache(100);
    let stop = CancellationToken::new();
    let caches = AccountCaches::default();
    caches.register(store.cache());
    let listener = ChangeListener::start(pool, caches, stop.clone()).await;
    listener.listening().wait_for(|on| *on).await?;
    Ok((store, Listening { listener, stop }))
}

struct Listening {
    listener: ChangeListener,
    stop: CancellationToken,
}

impl Listening {
    async fn stop(self) {
        self.stop.cancel();
        self.listener.stopped().await;
    }
}

/// Revokes every session with the announcing trigger off: a change nobody hears of.
async fn revoke_silently(pool: &PgPool) -> Result {
    silently(
        pool,
        "sessions",
        "sessions_announce_update",
        "UPDATE sessions SET revoked_at = now()",
    )
    .await
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_used_session_is_answered_from_memory_until_its_revocation_is_announced(
    pool: PgPool,
) -> Result {
    let (store, listening) = cached_store(&pool, Duration::from_secs(3600)).await?;
    let (alice, _) = store.create("alice").await?;
    let (bob, _) = store.create("bob").await?;
    for token in [&alice, &bob] {
        assert!(store.find(token).await?.is_some());
    }
    assert_eq!(store.cache().len(), 2);

    // Unannounced, the revocation is not seen: the answer came from memory.
    revoke_silently(&pool).await?;
    assert!(store.find(&alice).await?.is_some());

    // Announced, it is: by whoever revokes (here plain SQL, as an operator would).
    sqlx::query("UPDATE sessions SET revoked_at = now() - interval '1 second'")
        .execute(&pool)
        .await?;
    eventually("the revocation is heard", || async {
        Ok(store.find(&alice).await?.is_none() && store.find(&bob).await?.is_none())
    })
    .await?;

    // This process's own logout needs no notification.
    let (alice, _) = store.create("alice").await?;
    assert!(store.find(&alice).await?.is_some());
    store.revoke(&alice).await?;
    assert!(store.find(&alice).await?.is_none());

    // Disabling the user ends their cached sessions.
    let (bob, _) = store.create("bob").await?;
    assert!(store.find(&bob).await?.is_some());
    accounts::disable_user(&pool, "bob").await?;
    eventually("the disabled user's session ends", || async {
        Ok(store.find(&bob).await?.is_none())
    })
    .await?;
    listening.stop().await;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_cached_session_is_never_answered_past_its_expiry(pool: PgPool) -> Result {
    let (store, listening) = cached_store(&pool, Duration::from_millis(1500)).await?;
    let (alice, _) = store.create("alice").await?;
    assert!(store.find(&alice).await?.is_some());
    assert_eq!(store.cache().len(), 1);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(store.find(&alice).await?.is_none());
    listening.stop().await;
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_cached_session_still_records_its_use_once_a_minute(pool: PgPool) -> Result {
    let (store, listening) = cached_store(&pool, Duration::from_secs(3600)).await?;
    let (alice, _) = store.create("alice").await?;
    let last_use_age = || async {
        let age: f64 = sqlx::query_scalar(
            "SELECT extract(epoch FROM now() - last_seen_at)::float8 FROM sessions",
        )
        .fetch_one(&pool)
        .await?;
        Result::Ok(age)
    };
    // Last used 59.5 s ago: no refresh due yet, so cached for the half second left.
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '59.5 seconds'")
        .execute(&pool)
        .await?;
    assert!(store.find(&alice).await?.is_some());
    assert!(store.find(&alice).await?.is_some());
    assert!(
        last_use_age().await? > 59.0,
        "not refreshed before a minute"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    // A minute has passed: the next request asks the database and records the use.
    assert!(store.find(&alice).await?.is_some());
    assert!(last_use_age().await? < 5.0, "refreshed once due");
    listening.stop().await;
    Ok(())
}
