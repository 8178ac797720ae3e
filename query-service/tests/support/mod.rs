//! Router tests' helpers: a query router over a test database, sessions, and requests.

#![allow(dead_code)]

use std::time::Duration;

use audit::access::{AccessLogger, OnFailure, DEFAULT_CAPACITY};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use http_edge::sessions::SessionStore;
use http_edge::{Edge, EdgeSettings, RateSettings};
use projections::Checkpoints;
use query_service::{pg_config_from_sqlx, read_pool, CursorKey, ProgressTracker, QueryState};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use tower::ServiceExt;

pub type Result<T> = anyhow::Result<T>;

/// Edge settings that never rate-limit a test.
pub fn edge_settings() -> EdgeSettings {
    EdgeSettings {
        rate: RateSettings {
            user_per_second: 10_000.0,
            user_burst: 10_000,
            ip_per_second: 10_000.0,
            ip_burst: 10_000,
            ..RateSettings::default()
        },
        ..EdgeSettings::default()
    }
}

/// The query router over `pool`, as the gateway builds it (plus the common layers).
pub fn router(
    pool: &PgPool,
    in_process: Option<watch::Receiver<Checkpoints>>,
    consistency_wait: Duration,
) -> Result<Router> {
    let config = pg_config_from_sqlx(&pool.connect_options());
    let state = QueryState::new(
        Edge::new(pool.clone(), edge_settings()),
        read_pool(config.clone(), 4)?,
        ProgressTracker::start(config, in_process),
        CursorKey::random(),
        consistency_wait,
    );
    Ok(http_edge::common_layers(
        query_service::routes(state),
        64 * 1024,
    ))
}

/// The query router over `pool` recording reads in the access log (as the gateway runs it).
pub fn audited_router(pool: &PgPool, consistency_wait: Duration) -> Result<Router> {
    audited_router_with(pool, consistency_wait, DEFAULT_CAPACITY, OnFailure::Refuse)
}

/// [`audited_router`] with an access-log buffer of `capacity` entries and `on_failure`.
pub fn audited_router_with(
    pool: &PgPool,
    consistency_wait: Duration,
    capacity: usize,
    on_failure: OnFailure,
) -> Result<Router> {
    let config = pg_config_from_sqlx(&pool.connect_options());
    let (logger, _writer) = AccessLogger::spawn(pool.clone(), capacity);
    let state = QueryState::new(
        Edge::new(pool.clone(), edge_settings()),
        read_pool(config.clone(), 4)?,
        ProgressTracker::start(config, None),
        CursorKey::random(),
        consistency_wait,
    )
    .with_access_log(logger)
    .with_access_log_on_failure(on_failure);
    Ok(http_edge::common_layers(
        query_service::routes(state),
        64 * 1024,
    ))
}

/// Waits (up to 3 s) until the access log holds at least `count` rows; returns how many.
pub async fn access_rows(pool: &PgPool, count: i64) -> Result<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log")
            .fetch_one(pool)
            .await?;
        if rows >= count || tokio::time::Instant::now() > deadline {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The cookie header of a fresh session of `username`.
pub async fn login(pool: &PgPool, username: &str) -> Result<String> {
    let store = SessionStore::new(
        pool.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(1800),
    );
    let (token, _csrf) = store.create(username).await?;
    Ok(format!("hs_session={token}"))
}

/// A GET with optional cookie and consistency token; the status and the JSON body.
pub async fn get(
    router: &Router,
    path: &str,
    cookie: Option<&str>,
    token: Option<&str>,
) -> Result<(StatusCode, Value)> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(token) = token {
        request = request.header("x-consistency-token", token);
    }
    let response = router.clone().oneshot(request.body(Body::empty())?).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, body))
}

/// A GET that must answer 200; its body.
pub async fn ok(router: &Router, path: &str, cookie: &str) -> Result<Value> {
    let (status, body) = get(router, path, Some(cookie), None).await?;
    anyhow::ensure!(status == StatusCode::OK, "{path}: {status} {body}");
    Ok(body)
}

/// The `field` of every element of `list` as strings.
pub fn strings(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
