//! The access log while the database refuses its writes: reads are answered while their
//! records fit in the buffer, then answer 503 `unavailable` (never unrecorded), and every
//! buffered record is written, in order, once writes succeed again. With
//! `ACCESS_LOG_ON_FAILURE=serve` reads go on and each unrecorded one is counted in `/metrics`.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::sync::OnceLock;
use std::time::Duration;

use audit::access::OnFailure;
use axum::http::StatusCode;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use projector::world::mixed_workload;
use projector::{catch_up_all, World};
use sqlx::PgPool;
use support::{access_rows, audited_router_with, get, login, ok, Result};

const WAIT: Duration = Duration::from_secs(5);
const BUFFER: usize = 3;

/// The metrics are process-wide: tests that read them take turns (under `cargo test`).
static METRICS_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The value of an unlabelled series in the Prometheus text (0 when absent).
fn metric(name: &str) -> f64 {
    metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Every insert into the access log fails until [`end_outage`] (as while the database is
/// read-only), and nothing else does.
async fn start_outage(pool: &PgPool) -> Result<()> {
    sqlx::query(
        "CREATE TRIGGER access_log_outage BEFORE INSERT ON access_log
         FOR EACH STATEMENT EXECUTE FUNCTION forbid_change()",
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn end_outage(pool: &PgPool) -> Result<()> {
    sqlx::query("DROP TRIGGER access_log_outage ON access_log")
        .execute(pool)
        .await?;
    Ok(())
}

async fn recorded_actions(pool: &PgPool) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT action FROM access_log ORDER BY id")
            .fetch_all(pool)
            .await?,
    )
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn reads_answer_503_once_the_buffer_is_full_and_the_buffered_records_are_written_after_the_outage(
    pool: PgPool,
) -> Result<()> {
    let _turn = METRICS_TURN.lock().await;
    metrics();
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = audited_router_with(&pool, WAIT, BUFFER, OnFailure::Refuse)?;
    let alice = login(&pool, "alice").await?;
    let refused_before = metric("access_log_reads_refused_total");

    start_outage(&pool).await?;
    let reads = [
        "/api/messages/inbox",
        "/api/messages/sent",
        "/api/messages/conversation/bob",
    ];
    for path in reads {
        ok(&app, path, &alice).await?;
    }
    // Longer than the old logger retried before it dropped a batch (about 6 s).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(metric("access_log_records_buffered"), BUFFER as f64);
    for path in ["/api/messages/inbox", "/api/messages/search?q=budget"] {
        let (status, body) = get(&app, path, Some(&alice), None).await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unavailable");
    }
    assert_eq!(
        metric("access_log_reads_refused_total") - refused_before,
        2.0
    );
    // The unread badge is not recorded, so it is still answered.
    ok(&app, "/api/messages/unread-count", &alice).await?;
    assert_eq!(access_rows(&pool, 0).await?, 0);

    end_outage(&pool).await?;
    assert_eq!(access_rows(&pool, 3).await?, 3);
    assert_eq!(
        recorded_actions(&pool).await?,
        ["inbox_listed", "sent_listed", "conversation_viewed"],
        "every read answered during the outage is recorded, in order"
    );
    ok(&app, "/api/messages/search?q=budget", &alice).await?;
    assert_eq!(access_rows(&pool, 4).await?, 4);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn with_serve_on_failure_reads_go_on_and_each_unrecorded_one_is_counted(
    pool: PgPool,
) -> Result<()> {
    let _turn = METRICS_TURN.lock().await;
    metrics();
    let world = World::new(pool.clone()).await?;
    mixed_workload(&world).await?;
    catch_up_all(&pool).await?;
    let app = audited_router_with(&pool, WAIT, BUFFER, OnFailure::Serve)?;
    let alice = login(&pool, "alice").await?;
    let dropped_before = metric("access_log_records_dropped_total");

    start_outage(&pool).await?;
    for _ in 0..BUFFER + 2 {
        ok(&app, "/api/messages/inbox", &alice).await?;
    }
    assert_eq!(
        metric("access_log_records_dropped_total") - dropped_before,
        2.0
    );
    assert_eq!(metric("access_log_records_buffered"), BUFFER as f64);

    end_outage(&pool).await?;
    assert_eq!(access_rows(&pool, 3).await?, 3, "what was buffered is kept");
    Ok(())
}
