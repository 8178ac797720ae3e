//! `GET /api/audit/log` and `GET /api/audit/access` through the router: who may call them,
//! the answer's shape, every filter with pages that join up, the 400s, and read-your-writes.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use projections::ProjectorRuntime;
use projector::world::mixed_workload;
use projector::{catch_up_all, quick_settings, World};
use serde_json::Value;
use sqlx::PgPool;
use support::{encode, get, login, ok, router, Result};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);

/// An entry of the full, unfiltered log.
#[derive(Debug, Clone)]
struct Seen {
    position: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    message_id: String,
}

fn seen(entry: &Value) -> Result<Seen> {
    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
    Ok(Seen {
        position: entry["position"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no position: {entry}"))?,
        occurred_at: DateTime::parse_from_rfc3339(&text("occurred_at"))?.with_timezone(&Utc),
        actor: text("actor"),
        action: text("action"),
        message_id: text("message_id"),
    })
}

/// Every page of `path` (which has a `?`), `limit` at a time; the positions in answer order.
async fn all_pages(app: &axum::Router, path: &str, cookie: &str, limit: u32) -> Result<Vec<i64>> {
    let mut positions = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..500 {
        let page = match &cursor {
            Some(c) => format!("{path}&limit={limit}&cursor={}", encode(c)),
            None => format!("{path}&limit={limit}"),
        };
        let body = ok(app, &page, cookie).await?;
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(entries.len() <= limit as usize, "{page}: page too long");
        positions.extend(entries.iter().filter_map(|e| e["position"].as_i64()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(positions),
        }
    }
    anyhow::bail!("{path}: pages never end")
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn auditors_and_admins_read_the_trail_and_patients_and_clinicians_get_403(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    world.send("alice", "bob", None, "hello").await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    for path in ["/api/audit/log", "/api/audit/access"] {
        let (status, body) = get(&app, path, None, None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        for (user, expected) in [
            ("auditor", StatusCode::OK),
            ("admin", StatusCode::OK),
            ("alice", StatusCode::FORBIDDEN),
            ("dr_carol", StatusCode::FORBIDDEN),
        ] {
            let cookie = login(&pool, user).await?;
            let (status, body) = get(&app, path, Some(&cookie), None).await?;
            assert_eq!(status, expected, "{user} {path}: {body}");
            if expected == StatusCode::OK {
                assert!(body["entries"].is_array(), "{body}");
            } else {
                assert_eq!(body["error"]["code"], "forbidden");
                assert!(body.get("entries").is_none());
            }
            // The role is checked before the filters: no 400 tells a patient anything.
            let (status, _) = get(&app, &format!("{path}?from=x"), Some(&cookie), None).await?;
            let bad = if expected == StatusCode::OK {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, bad, "{user} {path}?from=x");
        }
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_audit_log_lists_every_event_oldest_first_with_its_position_and_no_content(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let auditor = login(&pool, "auditor").await?;
    let body = ok(&app, "/api/audit/log?limit=100", &auditor).await?;
    assert_eq!(body["next_cursor"], Value::Null);
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    let in_log_order: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events ORDER BY transaction_id, global_position",
    )
    .fetch_all(&pool)
    .await?;
    let positions: Vec<i64> = entries
        .iter()
        .filter_map(|e| e["position"].as_i64())
        .collect();
    assert_eq!(positions, in_log_order);

    let first = &entries[0];
    let keys: Vec<&str> = first
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for key in [
        "position",
        "occurred_at",
        "actor",
        "action",
        "message_id",
        "request_id",
        "client_ip",
        "details",
    ] {
        assert!(keys.contains(&key), "{key} missing in {first}");
    }
    assert_eq!(first["action"], "message_sent");
    assert_eq!(first["actor"], "alice");
    assert_eq!(first["client_ip"], "127.0.0.1");
    assert!(first["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(first["details"]["recipient"], "bob");
    assert_eq!(first["details"]["channel"], "direct");
    let text = body.to_string();
    for content in [
        "Numbers for Q1",
        "Budget meeting notes",
        "How are you feeling",
    ] {
        assert!(!text.contains(content), "{content} in the audit log");
    }
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "message_sent",
        "message_read",
        "message_deleted_by_sender",
        "message_deleted_by_recipient",
        "message_hidden",
        "message_restored",
    ] {
        assert!(actions.contains(&action), "{action} missing");
    }
    // A rebuild swaps the table under the prepared statements; the answer stays the same.
    projections::operator::rebuild(&pool, projections::Projection::AuditLog, 10, &|_| {}).await?;
    assert_eq!(ok(&app, "/api/audit/log?limit=100", &auditor).await?, body);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_filter_selects_its_entries_oldest_first_and_pages_join_up(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let admin = login(&pool, "admin").await?;
    let full = ok(&app, "/api/audit/log?limit=100", &admin).await?;
    let log: Vec<Seen> = full["entries"]
        .as_array()
        .map(|entries| entries.iter().map(seen).collect())
        .transpose()?
        .unwrap_or_default();
    let budget = log[0].message_id.clone();
    let (early, late) = (log[4].occurred_at, log[15].occurred_at);
    let stamp = |t: DateTime<Utc>| encode(&t.to_rfc3339());
    type Keep = Box<dyn Fn(&Seen) -> bool>;
    let cases: Vec<(String, Keep, bool)> = vec![
        ("?".into(), Box::new(|_| true), false),
        (
            "?actor=alice".into(),
            Box::new(|e| e.actor == "alice"),
            false,
        ),
        (
            format!("?message_id={budget}"),
            Box::new({
                let budget = budget.clone();
                move |e| e.message_id == budget
            }),
            false,
        ),
        (
            format!("?message_id={budget}&actor=alice"),
            Box::new({
                let budget = budget.clone();
                move |e| e.message_id == budget && e.actor == "alice"
            }),
            false,
        ),
        (
            "?action=message_read".into(),
            Box::new(|e| e.action == "message_read"),
            false,
        ),
        (
            "?actor=eve&action=message_deleted_by_recipient".into(),
            Box::new(|e| e.actor == "eve" && e.action == "message_deleted_by_recipient"),
            false,
        ),
        (
            format!("?from={}", stamp(early)),
            Box::new(move |e| e.occurred_at >= early),
            true,
        ),
        (
            format!("?from={}&to={}", stamp(early), stamp(late)),
            Box::new(move |e| e.occurred_at >= early && e.occurred_at < late),
            true,
        ),
        (
            format!("?to={}", stamp(late)),
            Box::new(move |e| e.occurred_at < late),
            true,
        ),
        (
            format!("?actor=alice&from={}&to={}", stamp(early), stamp(late)),
            Box::new(move |e| e.actor == "alice" && e.occurred_at >= early && e.occurred_at < late),
            false,
        ),
        (
            format!("?action=message_sent&from={}", stamp(early)),
            Box::new(move |e| e.action == "message_sent" && e.occurred_at >= early),
            false,
        ),
        ("?actor=nobody".into(), Box::new(|_| false), false),
    ];
    for (query, keep, by_time) in cases {
        let mut expected: Vec<(usize, &Seen)> =
            log.iter().enumerate().filter(|(_, e)| keep(e)).collect();
        if by_time {
            expected.sort_by_key(|(seq, e)| (e.occurred_at, *seq));
        }
        let expected: Vec<i64> = expected.iter().map(|(_, e)| e.position).collect();
        let path = format!("/api/audit/log{query}");
        for limit in [2, 100] {
            let positions = all_pages(&app, &path, &admin, limit).await?;
            assert_eq!(positions, expected, "{query} limit {limit}");
        }
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn bad_filters_limits_and_cursors_are_invalid_input(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    for _ in 0..3 {
        world.send("alice", "bob", None, "hello").await?;
    }
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;
    let auditor = login(&pool, "auditor").await?;
    let page = ok(&app, "/api/audit/log?actor=alice&limit=1", &auditor).await?;
    let alice_cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!alice_cursor.is_empty());
    for endpoint in ["/api/audit/log", "/api/audit/access"] {
        for query in [
            "actor=Not%20A%20User".to_owned(),
            "actor=".to_owned() + &"a".repeat(65),
            "counterpart=semi%3Bcolon".to_owned(),
            "message_id=42".to_owned(),
            "action=MessageSent".to_owned(),
            "action=message%20sent".to_owned(),
            "from=yesterday".to_owned(),
            "to=2026-02-30T00:00:00Z".to_owned(),
            "from=2026-01-01".to_owned(),
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
            "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_owned(),
            "limit=0".to_owned(),
            "limit=101".to_owned(),
            "limit=many".to_owned(),
            "cursor=garbage".to_owned(),
            format!("actor=bob&cursor={}", encode(&alice_cursor)),
            "actor=%ZZ".to_owned(),
        ] {
            let path = format!("{endpoint}?{query}");
            let (status, body) = get(&app, &path, Some(&auditor), None).await?;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["error"]["code"], "invalid_input", "{path}");
        }
    }
    let (status, _) = get(&app, "/api/audit/log?counterpart=bob", Some(&auditor), None).await?;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "counterpart is an access-log filter"
    );
    // The cursor continues its own filter.
    let next = format!(
        "/api/audit/log?actor=alice&limit=1&cursor={}",
        encode(&alice_cursor)
    );
    assert_eq!(
        ok(&app, &next, &auditor).await?["entries"][0]["actor"],
        "alice"
    );
    // An offset written with `+` that arrived as a space still parses; blank filters are none.
    for query in ["from=2026-01-01T00:00:00+01:00", "actor=&action=&from="] {
        let (status, body) = get(
            &app,
            &format!("/api/audit/log?{query}"),
            Some(&auditor),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_audit_log_waits_for_a_consistency_token(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let runtime = ProjectorRuntime::new(pool.clone(), quick_settings());
    let app = router(&pool, Some(runtime.progress()), WAIT)?;
    let id = world.send("alice", "bob", None, "fresh").await?;
    let token = world.token_of(id).await?.to_string();
    let auditor = login(&pool, "auditor").await?;
    let path = format!("/api/audit/log?message_id={id}");
    let started = Instant::now();
    let request = {
        let (app, token, path) = (app.clone(), token.clone(), path.clone());
        tokio::spawn(async move { get(&app, &path, Some(&auditor), Some(&token)).await })
    };
    let delay = Duration::from_millis(300);
    tokio::time::sleep(delay).await;
    assert!(!request.is_finished(), "the query waits for the audit log");
    let shutdown = CancellationToken::new();
    let projector = runtime.spawn(shutdown.clone());
    let (status, body) = request.await??;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"][0]["message_id"], id.to_string());
    assert_eq!(body["entries"][0]["action"], "message_sent");
    assert!(started.elapsed() >= delay);
    shutdown.cancel();
    projector.await?;
    Ok(())
}

#[test]
fn the_openapi_document_describes_the_audit_endpoints() {
    let doc = query_service::openapi();
    for path in ["/api/audit/log", "/api/audit/access"] {
        assert!(doc.paths.paths.contains_key(path), "{path}");
    }
    let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
    for schema in [
        "AuditLogResponse",
        "AuditLogEntry",
        "AccessLogResponse",
        "AccessLogEntry",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
}
