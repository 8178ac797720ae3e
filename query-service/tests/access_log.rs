//! The access log of the query side: each answered read is recorded (who, which messages, a
//! search's length and never its text), the unread-count poll is not, `GET /api/audit/access`
//! lists the reads by filter, and no audit or access entry contains message content.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::Duration;

use axum::http::StatusCode;
use projector::world::mixed_workload;
use projector::{catch_up_all, World};
use sqlx::PgPool;
use support::{access_rows, audited_router, encode, get, login, ok, strings, Result};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

/// A recorded read, as stored.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    actor: String,
    role: String,
    action: String,
    counterpart: Option<String>,
    message_ids: Vec<Uuid>,
    query_length: Option<i32>,
    result_count: i32,
    request_id: Option<String>,
    client_ip: Option<String>,
}

async fn recorded(pool: &PgPool) -> Result<Vec<Row>> {
    Ok(sqlx::query_as(
        "SELECT actor, role, action, counterpart, message_ids, query_length, result_count,
                request_id, client_ip
         FROM access_log ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

fn uuids(ids: Vec<String>) -> Vec<Uuid> {
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

fn read(actor: &str, role: &str, action: &str, ids: Vec<Uuid>) -> Row {
    Row {
        actor: actor.into(),
        role: role.into(),
        action: action.into(),
        counterpart: None,
        result_count: ids.len() as i32,
        message_ids: ids,
        query_length: None,
        request_id: None,
        client_ip: Some("127.0.0.1".into()),
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn every_answered_read_is_recorded_with_the_ids_shown_and_never_the_search_text(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = audited_router(&pool, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let conversation = ok(&app, "/api/messages/conversation/bob", &alice).await?;
    let query = "budget numbers —";
    let search = ok(
        &app,
        &format!("/api/messages/search?q={}", encode(query)),
        &alice,
    )
    .await?;
    let inbox = ok(&app, "/api/messages/inbox", &alice).await?;
    let sent = ok(&app, "/api/messages/sent", &alice).await?;
    ok(&app, "/api/messages/unread-count", &alice).await?;
    let (status, _) = get(
        &app,
        "/api/messages/conversation/nobody",
        Some(&alice),
        None,
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a failed read records nothing"
    );
    let carol = login(&pool, "dr_carol").await?;
    let patients = ok(&app, "/api/clinician/patients", &carol).await?;
    let admin = login(&pool, "admin").await?;
    let deleted = ok(&app, "/api/admin/messages/deleted", &admin).await?;
    let auditor = login(&pool, "auditor").await?;
    let trail = ok(&app, "/api/audit/log?actor=alice", &auditor).await?;
    ok(&app, "/api/audit/access?counterpart=bob", &auditor).await?;

    assert_eq!(access_rows(&pool, 8).await?, 8);
    let mut rows = recorded(&pool).await?;
    for row in &mut rows {
        assert!(row.request_id.as_deref().is_some_and(|r| !r.is_empty()));
        row.request_id = None;
    }
    let mut trail_ids = uuids(strings(&trail["entries"], "message_id"));
    trail_ids.sort_unstable();
    trail_ids.dedup();
    let inbox_ids: Vec<String> = inbox["conversations"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["last_message"]["message_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let expected = vec![
        Row {
            counterpart: Some("bob".into()),
            ..read(
                "alice",
                "patient",
                "conversation_viewed",
                uuids(strings(&conversation["messages"], "message_id")),
            )
        },
        Row {
            query_length: Some(query.chars().count() as i32),
            ..read(
                "alice",
                "patient",
                "search",
                uuids(strings(&search["results"], "message_id")),
            )
        },
        read("alice", "patient", "inbox_listed", uuids(inbox_ids)),
        read(
            "alice",
            "patient",
            "sent_listed",
            uuids(strings(&sent["messages"], "message_id")),
        ),
        Row {
            result_count: patients["patients"].as_array().map_or(0, Vec::len) as i32,
            ..read("dr_carol", "clinician", "patients_listed", vec![])
        },
        read(
            "admin",
            "admin",
            "deleted_listed",
            uuids(strings(&deleted["messages"], "message_id")),
        ),
        Row {
            counterpart: Some("alice".into()),
            result_count: trail["entries"].as_array().map_or(0, Vec::len) as i32,
            ..read("auditor", "auditor", "audit_viewed", trail_ids)
        },
        Row {
            counterpart: Some("bob".into()),
            result_count: 0,
            ..read("auditor", "auditor", "access_log_viewed", vec![])
        },
    ];
    assert_eq!(rows, expected);
    assert_eq!(query.chars().count(), 16);
    assert_ne!(query.len(), 16, "the length counts characters, not bytes");
    assert!(rows[0].message_ids.len() >= 2 && !rows[1].message_ids.is_empty());
    for needle in ["%budg%", "%numbers%"] {
        let found: i64 =
            sqlx::query_scalar("SELECT count(*) FROM access_log WHERE access_log::text LIKE $1")
                .bind(needle)
                .fetch_one(&pool)
                .await?;
        assert_eq!(found, 0, "the search text {needle} is in the access log");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_access_log_endpoint_lists_reads_by_reader_counterpart_message_and_action(
    pool: PgPool,
) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let hello = world.send("bob", "alice", None, "hello").await?;
    world.send("eve", "alice", None, "hi").await?;
    catch_up_all(&pool).await?;
    let app = audited_router(&pool, WAIT)?;
    let alice = login(&pool, "alice").await?;
    let bob = login(&pool, "bob").await?;
    ok(&app, "/api/messages/conversation/bob", &alice).await?;
    ok(&app, "/api/messages/conversation/eve", &alice).await?;
    ok(&app, "/api/messages/conversation/alice", &bob).await?;
    ok(&app, "/api/messages/search?q=hello", &bob).await?;
    ok(&app, "/api/messages/inbox", &alice).await?;
    assert_eq!(access_rows(&pool, 5).await?, 5);
    let middle: String = sqlx::query_scalar(
        "SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
         FROM access_log ORDER BY id OFFSET 2 LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;

    let auditor = login(&pool, "auditor").await?;
    let listed = |query: String| {
        let (app, auditor) = (app.clone(), auditor.clone());
        async move {
            let mut seen = Vec::new();
            let mut cursor = None::<String>;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/api/audit/access?{query}&limit=1&cursor={}", encode(c)),
                    None => format!("/api/audit/access?{query}&limit=1"),
                };
                let body = ok(&app, &path, &auditor).await?;
                for entry in body["entries"].as_array().cloned().unwrap_or_default() {
                    seen.push((
                        entry["actor"].as_str().unwrap_or_default().to_owned(),
                        entry["action"].as_str().unwrap_or_default().to_owned(),
                        entry["counterpart"].as_str().map(str::to_owned),
                    ));
                }
                match body["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => return Result::Ok(seen),
                }
            }
        }
    };
    let conversation = |actor: &str, with: &str| {
        (
            actor.to_owned(),
            "conversation_viewed".to_owned(),
            Some(with.to_owned()),
        )
    };
    let search = ("bob".to_owned(), "search".to_owned(), None);
    let inbox = ("alice".to_owned(), "inbox_listed".to_owned(), None);
    let everything = vec![
        conversation("alice", "bob"),
        conversation("alice", "eve"),
        conversation("bob", "alice"),
        search.clone(),
        inbox.clone(),
    ];
    assert_eq!(listed(String::new()).await?, everything);
    assert_eq!(
        listed("actor=alice".into()).await?,
        vec![
            conversation("alice", "bob"),
            conversation("alice", "eve"),
            inbox.clone()
        ]
    );
    assert_eq!(
        listed("counterpart=alice".into()).await?,
        vec![conversation("bob", "alice")]
    );
    assert_eq!(
        listed("actor=alice&counterpart=eve".into()).await?,
        vec![conversation("alice", "eve")]
    );
    assert_eq!(listed("action=search".into()).await?, vec![search.clone()]);
    assert_eq!(
        listed(format!("message_id={hello}")).await?,
        vec![
            conversation("alice", "bob"),
            conversation("bob", "alice"),
            search.clone(),
            inbox.clone()
        ]
    );
    assert_eq!(
        listed(format!("message_id={hello}&actor=bob")).await?,
        vec![conversation("bob", "alice"), search.clone()]
    );
    assert_eq!(
        listed(format!("from={middle}")).await?,
        everything[2..].to_vec()
    );
    assert_eq!(
        listed(format!("to={middle}")).await?,
        everything[..2].to_vec()
    );
    assert_eq!(
        listed(format!("action=conversation_viewed&from={middle}")).await?,
        vec![conversation("bob", "alice")]
    );

    let body = ok(&app, "/api/audit/access?action=search", &auditor).await?;
    let entry = &body["entries"][0];
    assert_eq!(entry["role"], "patient");
    assert_eq!(entry["query_length"], 5);
    assert_eq!(entry["result_count"], 1);
    assert_eq!(entry["message_ids"][0], hello.to_string());
    assert_eq!(entry["client_ip"], "127.0.0.1");
    assert!(entry["id"].is_i64() && entry["request_id"].is_string());
    assert!(entry["occurred_at"].is_string());
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn no_audit_or_access_entry_contains_message_content(pool: PgPool) -> Result<()> {
    let world = World::new(pool.clone()).await?;
    let subject = "Distinctsubject Quokka";
    let content = "Distinctcontent about my panic attacks";
    let id = world.send("alice", "bob", Some(subject), content).await?;
    world.reply("bob", id, "Distinctreply we can talk").await?;
    world.read("bob", id).await?;
    catch_up_all(&pool).await?;
    let app = audited_router(&pool, WAIT)?;
    let bob = login(&pool, "bob").await?;
    let alice = login(&pool, "alice").await?;
    ok(&app, "/api/messages/conversation/alice", &bob).await?;
    ok(&app, "/api/messages/inbox", &bob).await?;
    ok(&app, "/api/messages/sent", &alice).await?;
    let found = ok(&app, "/api/messages/search?q=Distinctcontent%20panic", &bob).await?;
    assert_eq!(found["results"].as_array().map(Vec::len), Some(1));
    let auditor = login(&pool, "auditor").await?;
    let trail = ok(&app, &format!("/api/audit/log?message_id={id}"), &auditor).await?;
    assert_eq!(trail["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(access_rows(&pool, 5).await?, 5);
    let reads = ok(&app, "/api/audit/access?limit=100", &auditor).await?;
    for body in [&trail, &reads] {
        let text = body.to_string();
        assert!(
            !text.contains("Distinct") && !text.contains("panic"),
            "{text}"
        );
    }
    for table in ["audit_log", "access_log"] {
        for needle in ["%Distinct%", "%Quokka%", "%panic%", "%talk%"] {
            let count: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {table} WHERE {table}::text LIKE $1"
            ))
            .bind(needle)
            .fetch_one(&pool)
            .await?;
            assert_eq!(count, 0, "{needle} is in {table}");
        }
    }
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await?;
    assert_eq!(
        entries, 3,
        "the entries exist, only their content is absent"
    );
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_standalone_service_records_reads_and_flushes_them_when_it_stops(
    pool: PgPool,
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    World::new(pool.clone()).await?;
    let options = pool.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    let settings = query_service::QuerySettings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "QUERY_PORT" => Some("0".into()),
        _ => None,
    })?;
    let app = query_service::Application::build(settings).await?;
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        stopped.await.ok();
    }));
    let cookie = login(&pool, "alice").await?;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "GET /api/messages/sent HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\
         X-Request-Id: standalone-1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    server.await??;
    // No waiting: stopping wrote what the logger still held.
    let recorded: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT actor, action, request_id FROM access_log")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        recorded,
        [(
            "alice".to_owned(),
            "sent_listed".to_owned(),
            Some("standalone-1".to_owned())
        )]
    );
    Ok(())
}
