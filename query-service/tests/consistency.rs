//! Read-your-writes with `X-Consistency-Token`, the OpenAPI document and the standalone binary.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use projections::ProjectorRuntime;
use projector::{catch_up_all, quick_settings, World};
use query_service::{Application, QuerySettings};
use sqlx::PgPool;
use support::{get, login, router, strings, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Sends a message, asks for bob's inbox with its token before any projector runs, starts the
/// projector `delay` later, and returns the answer and how long it took.
async fn inbox_with_token(
    pool: &PgPool,
    in_process: bool,
    delay: Duration,
) -> Result<(StatusCode, serde_json::Value, Duration, String)> {
    let world = World::new(pool.clone()).await?;
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings());
    let app = router(
        pool,
        in_process.then(|| runtime.progress()),
        Duration::from_secs(5),
    )?;
    let id = world
        .send("alice", "bob", Some("Fresh"), "just sent")
        .await?;
    let token = world.token_of(id).await?.to_string();
    let bob = login(pool, "bob").await?;
    let started = Instant::now();
    let request = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(
            async move { get(&app, "/api/messages/inbox", Some(&bob), Some(&token)).await },
        )
    };
    tokio::time::sleep(delay).await;
    assert!(!request.is_finished(), "the query waits for the projection");
    let shutdown = CancellationToken::new();
    let projector = runtime.spawn(shutdown.clone());
    let (status, body) = request.await??;
    let took = started.elapsed();
    shutdown.cancel();
    projector.await?;
    Ok((status, body, took, id.to_string()))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_query_with_a_consistency_token_waits_until_the_write_is_projected(
    pool: PgPool,
) -> Result<()> {
    let delay = Duration::from_millis(400);
    let (status, body, took, id) = inbox_with_token(&pool, true, delay).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversations"][0]["last_message"]["message_id"], id);
    assert!(took >= delay && took < Duration::from_secs(4), "{took:?}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_projector_in_another_process_wakes_the_wait_through_notify(pool: PgPool) -> Result<()> {
    let delay = Duration::from_millis(400);
    let (status, body, took, id) = inbox_with_token(&pool, false, delay).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversations"][0]["last_message"]["message_id"], id);
    assert!(took < Duration::from_secs(4), "{took:?}");
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_token_already_reached_answers_at_once_and_a_malformed_one_is_invalid_input(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let id = world.send("alice", "bob", None, "old news").await?;
    catch_up_all(&pool).await?;
    let token = world.token_of(id).await?.to_string();
    let app = router(&pool, None, Duration::from_secs(5))?;
    let alice = login(&pool, "alice").await?;
    let started = Instant::now();
    for path in [
        "/api/messages/sent",
        "/api/messages/inbox",
        "/api/messages/unread-count",
        "/api/messages/search?q=news",
        "/api/messages/conversation/bob",
    ] {
        let (status, body) = get(&app, path, Some(&alice), Some(&token)).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let admin = login(&pool, "admin").await?;
    let (status, _) = get(
        &app,
        "/api/admin/messages/deleted",
        Some(&admin),
        Some(&token),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(3));
    let sent = get(&app, "/api/messages/sent", Some(&alice), Some(&token))
        .await?
        .1;
    assert_eq!(strings(&sent["messages"], "message_id"), [id.to_string()]);
    for bad in ["garbage", "v2.1.1", "v1.zz.1", ""] {
        let (status, body) = get(&app, "/api/messages/inbox", Some(&alice), Some(bad)).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(body["error"]["code"], "invalid_input");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_token_the_projections_do_not_reach_in_time_answers_503(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    let app = router(&pool, None, Duration::from_millis(300))?;
    let alice = login(&pool, "alice").await?;
    let started = Instant::now();
    let future = "v1.ffffffff.1";
    let (status, body) = get(&app, "/api/messages/inbox", Some(&alice), Some(future)).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    Ok(())
}

#[test]
fn the_openapi_document_describes_every_query_path() {
    let doc = query_service::openapi();
    for path in [
        "/api/messages/inbox",
        "/api/messages/sent",
        "/api/messages/conversation/{user}",
        "/api/messages/search",
        "/api/messages/unread-count",
        "/api/clinician/patients",
        "/api/clinician/triage",
        "/api/messages/search-recipients",
        "/api/admin/messages/deleted",
    ] {
        assert!(doc.paths.paths.contains_key(path), "{path}");
    }
    let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
    for schema in ["InboxResponse", "SearchHit", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
}

async fn raw_get(port: u16, path: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_standalone_service_binds_a_free_port_and_answers_in_the_envelope(
    pool: PgPool,
) -> Result<()> {
    let options = pool.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    let settings = QuerySettings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "QUERY_PORT" => Some("0".into()),
        _ => None,
    })?;
    let app = Application::build(settings).await?;
    let port = app.port();
    assert_ne!(port, 0);
    let server = tokio::spawn(app.run_until_stopped());
    let inbox = raw_get(port, "/api/messages/inbox").await?;
    assert!(inbox.starts_with("HTTP/1.1 401"), "{inbox}");
    assert!(inbox.contains("\"unauthenticated\""), "{inbox}");
    let unknown = raw_get(port, "/api/nope").await?;
    assert!(
        unknown.starts_with("HTTP/1.1 404") && unknown.contains("not_found"),
        "{unknown}"
    );
    server.abort();
    Ok(())
}
