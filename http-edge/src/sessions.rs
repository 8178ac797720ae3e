//! Server-side sessions: a random cookie token (stored as its SHA-256) and a CSRF token each.
//!
//! A session ends at the first of: logout, its absolute lifetime (`SESSION_TTL_MINUTES`), an
//! idle spell (`SESSION_IDLE_MINUTES` without a request; `last_seen_at` is refreshed at most once
//! a minute, so the idle bound is exact to a minute and costs no write per request), or the
//! account being disabled (every session revoked at once, and a disabled user's session is
//! refused even before that). Ended sessions are purged a day later.
//!
//! A session that served a request less than a minute ago is answered from memory
//! ([`SessionCache`]) without a round trip: each entry knows its expiry and last use, so it is
//! used only until the first of its expiry, its idle bound and its next due refresh of
//! `last_seen_at`, after which the database is asked (and the use recorded) as before. Every
//! revocation reaches every process's cache through `NOTIFY hs_accounts`, confirmed before the
//! revoking request answers ([`accounts::changes`]); while a process's listener is down its
//! cache is off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::cache::Cache;
use accounts::{AccountChange, Invalidate};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use events::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hs_session";

/// Its name when cookies are `Secure`: the `__Host-` prefix makes browsers refuse it from a
/// sibling domain, over plain HTTP, with a `Domain` or with a path other than `/`.
pub const SECURE_COOKIE_NAME: &str = "__Host-hs_session";

/// The cookie name in use for these settings.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The live session of a token hash (`$1`) and idle bound (`$2`): two primary-key probes.
pub const FIND_SESSION: &str =
    "SELECT u.username, u.role, u.display_name, s.csrf_token, s.expires_at, s.last_seen_at
     FROM sessions s JOIN users u ON u.username = s.username
     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - $2::interval AND u.disabled_at IS NULL";

/// How often `last_seen_at` is refreshed at most.
const TOUCH_EVERY_SECS: i64 = 60;

/// The same, as the longest a cached session is used without asking the database.
const TOUCH_EVERY: Duration = Duration::from_secs(TOUCH_EVERY_SECS as u64);

/// A live session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub display_name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A session as cached, and until when it may be used without asking the database.
#[derive(Debug, Clone)]
struct CachedSession {
    session: Session,
    fresh_until: Instant,
}

/// Live sessions by the SHA-256 of their cookie token, as last read from the database.
#[derive(Debug)]
pub struct SessionCache(Cache<[u8; 32], CachedSession>);

impl SessionCache {
    /// At most `capacity` sessions (0: none); dark until a listener turns it on.
    pub fn new(capacity: usize) -> Self {
        Self(Cache::new("sessions", capacity))
    }

    /// Whether it answers from memory (its process hears every change).
    pub fn is_live(&self) -> bool {
        self.0.is_live()
    }

    /// How many sessions it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Invalidate for SessionCache {
    fn invalidate(&self, change: &AccountChange) {
        match change {
            AccountChange::Session(hash) => self.0.invalidate(hash),
            // Disabled, or another role or display name: every session of theirs.
            AccountChange::User(username) => self
                .0
                .invalidate_where(|_, cached| cached.session.username == *username),
            AccountChange::Approval { .. } => {}
        }
    }

    fn go_dark(&self) {
        self.0.go_dark();
    }

    fn go_live(&self) {
        self.0.go_live();
    }
}

/// Statements on the `sessions` table, and the cache in front of the look-up.
#[derive(Debug, Clone)]
pub struct SessionStore {
    pool: PgPool,
    ttl: Duration,
    idle: chrono::Duration,
    cache: Arc<SessionCache>,
}

/// 256 random bits, URL-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a session's cookie token is stored and announced (`hs_accounts`): its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl SessionStore {
    /// Sessions in `pool`, each living `ttl` from login and ending after `idle` without a
    /// request; every look-up asks the database.
    pub fn new(pool: PgPool, ttl: Duration, idle: Duration) -> Self {
        let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::minutes(30));
        Self {
            pool,
            ttl,
            idle,
            cache: Arc::new(SessionCache::new(0)),
        }
    }

    /// The same store, keeping up to `capacity` sessions in memory once its
    /// [`SessionStore::cache`] is registered with the process's [`accounts::AccountCaches`].
    pub fn with_cache(self, capacity: usize) -> Self {
        Self {
            cache: Arc::new(SessionCache::new(capacity)),
            ..self
        }
    }

    /// Its cache, for the process's listener.
    pub fn cache(&self) -> Arc<SessionCache> {
        self.cache.clone()
    }

    /// The pool the sessions live in.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a session for `username`; returns the cookie token and the CSRF token.
    pub async fn create(&self, username: &str) -> Result<(String, String), sqlx::Error> {
        let token = random_token();
        let csrf = random_token();
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(12));
        sqlx::query(
            "INSERT INTO sessions (token_hash, username, csrf_token, expires_at)
             VALUES ($1, $2, $3, now() + $4)",
        )
        .bind(&token_hash(&token)[..])
        .bind(username)
        .bind(&csrf)
        .bind(ttl)
        .execute(&self.pool)
        .await?;
        Ok((token, csrf))
    }

    /// The live session of a cookie token: not expired, not idle too long, not revoked, and
    /// its user not disabled. Refreshes `last_seen_at` when it is a minute old (best effort: a
    /// database that refuses writes still serves reads). Answered from the cache while the
    /// session was used less than a minute ago and cannot have expired since.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, sqlx::Error> {
        let hash = token_hash(token);
        let fresh = |cached: &CachedSession| Instant::now() < cached.fresh_until;
        if let Some(cached) = self.cache.0.get_if(&hash, fresh) {
            return Ok(Some(cached.session));
        }
        let ticket = self.cache.0.ticket();
        let row: Option<SessionRow> = sqlx::query_as(FIND_SESSION)
            .bind(&hash[..])
            .bind(self.idle)
            .fetch_optional(&self.pool)
            .await?;
        let Some(mut session) = row.and_then(session_from_row) else {
            return Ok(None);
        };
        if Utc::now() - session.last_seen_at > chrono::Duration::seconds(TOUCH_EVERY_SECS) {
            match sqlx::query_scalar(
                "UPDATE sessions SET last_seen_at = now()
                 WHERE token_hash = $1 AND last_seen_at < now() - make_interval(secs => $2)
                 RETURNING last_seen_at",
            )
            .bind(&hash[..])
            .bind(TOUCH_EVERY_SECS as f64)
            .fetch_optional(&self.pool)
            .await
            {
                Ok(Some(touched)) => session.last_seen_at = touched,
                // Another process refreshed it meanwhile.
                Ok(None) => {}
                Err(err) => {
                    crate::db::note_error(&err);
                    tracing::warn!(error = %err, "could not refresh the session's last use");
                }
            }
        }
        if let Some(ticket) = ticket {
            let fresh_for = self.fresh_for(&session);
            if !fresh_for.is_zero() {
                let cached = CachedSession {
                    session: session.clone(),
                    fresh_until: Instant::now() + fresh_for,
                };
                self.cache.0.insert(ticket, hash, cached);
            }
        }
        Ok(Some(session))
    }

    /// How long `session` may be used without asking the database: until the first of its
    /// expiry, its idle bound and its next refresh of `last_seen_at` (so the refresh still
    /// happens at most, and at least, once a minute of use).
    fn fresh_for(&self, session: &Session) -> Duration {
        let now = Utc::now();
        let left = |delta: chrono::Duration| delta.to_std().unwrap_or(Duration::ZERO);
        let used = now - session.last_seen_at;
        let until_touch = left(chrono::Duration::seconds(TOUCH_EVERY_SECS) - used);
        let until_idle = left(self.idle - used);
        let until_expiry = left(session.expires_at - now);
        until_touch
            .min(until_idle)
            .min(until_expiry)
            .min(TOUCH_EVERY)
    }

    /// Revokes the session of a cookie token (a no-op when it is already gone) and forgets it
    /// here; returns the change, for the other processes ([`accounts::AccountCaches::propagate`]).
    pub async fn revoke(&self, token: &str) -> Result<AccountChange, sqlx::Error> {
        let hash = token_hash(token);
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash[..])
        .execute(&self.pool)
        .await?;
        let change = AccountChange::Session(hash);
        self.cache.invalidate(&change);
        Ok(change)
    }

    /// Deletes sessions that ended (expired, revoked or idle) more than a day ago; returns how
    /// many.
    pub async fn purge_stale(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM sessions
             WHERE expires_at < now() - interval '1 day'
                OR revoked_at < now() - interval '1 day'
                OR last_seen_at < now() - $1 - interval '1 day'",
        )
        .bind(self.idle)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Purges ended sessions every `every` until `stop` (the table would otherwise only grow).
    pub fn spawn_purger(
        &self,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                match store.purge_stale().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "purged ended sessions"),
                    Err(err) => tracing::warn!(error = %err, "could not purge ended sessions"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        })
    }
}

type SessionRow = (String, String, String, String, DateTime<Utc>, DateTime<Utc>);

fn session_from_row(row: SessionRow) -> Option<Session> {
    let (username, role, display_name, csrf_token, expires_at, last_seen_at) = row;
    Some(Session {
        username,
        role: role.parse().ok()?,
        display_name,
        csrf_token,
        expires_at,
        last_seen_at,
    })
}
