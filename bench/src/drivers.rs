//! The two-driver question, settled by a number: the query service's own read statements
//! (`query_service::sql`), with the same parameters as the HTTP steps, run through the query
//! service's pool (deadpool-postgres over tokio-postgres, `prepare_cached`) and through an sqlx
//! pool (its per-connection statement cache) at the same concurrency, with no HTTP in front.
//! Both sides receive every row of the answer and count them; neither builds JSON.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::error::{BenchError, BenchResult};
use crate::measurement::Measurement;
use crate::progress::Progress;
use crate::report::{Outcome, Ratio};
use crate::runner::{closed_loop, StepTiming};
use crate::scenarios::queries::{Probe, QueryKind};

/// One read through both drivers.
#[derive(Debug, Clone, Serialize)]
pub struct DriverComparison {
    pub figure: String,
    pub clients: usize,
    pub tokio_postgres: Outcome<Measurement>,
    pub sqlx: Outcome<Measurement>,
    /// tokio-postgres ÷ sqlx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Ratio>,
}

/// A bound parameter of a read statement.
#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Time(DateTime<Utc>),
    Id(Uuid),
    Rows(i64),
    Rank(f32),
    Flag(bool),
}

/// The statements one read runs for `probe`, in order, each with its parameters: the first
/// page at the default size (`limit + 1` = 21 rows), as the handlers bind them.
fn statements(kind: QueryKind, probe: &Probe) -> Vec<(&'static str, Vec<Param>)> {
    use query_service::sql;
    let me = Param::Text(probe.username.clone());
    let counterpart = Param::Text(probe.counterpart.clone());
    let far = Param::Time(first_page_at());
    let last = Param::Id(Uuid::max());
    let rows = Param::Rows(21);
    match kind {
        QueryKind::Inbox => vec![
            (
                sql::INBOX,
                vec![
                    me.clone(),
                    far,
                    Param::Text(String::new()),
                    rows,
                    Param::Flag(false),
                ],
            ),
            (sql::UNREAD, vec![me]),
        ],
        QueryKind::Sent => vec![(sql::SENT, vec![me, far, last, rows])],
        QueryKind::Conversation => vec![
            (sql::USER, vec![counterpart.clone()]),
            (sql::CONVERSATION, vec![me, counterpart, far, last, rows]),
        ],
        QueryKind::Search => vec![(
            sql::SEARCH,
            vec![
                me,
                Param::Text(probe.word.clone()),
                Param::Rank(f32::INFINITY),
                far,
                last,
                rows,
            ],
        )],
    }
}

/// The keyset position of a first page, as the handlers bind it (9999-12-31).
fn first_page_at() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

type Work = Arc<Vec<Vec<(&'static str, Vec<Param>)>>>;

/// Each read kind at `clients` through both drivers, one after the other.
pub async fn measure_drivers(
    server_url: &str,
    probes: &[Probe],
    clients: usize,
    timing: StepTiming,
    progress: &Progress,
) -> BenchResult<Vec<DriverComparison>> {
    let config = query_service::pg_config(server_url)
        .map_err(|e| BenchError::Other(format!("the read pool's settings: {e}")))?;
    let deadpool = query_service::read_pool(config, clients)
        .map_err(|e| BenchError::Other(format!("the read pool: {e}")))?;
    let sqlx_pool = PgPoolOptions::new()
        .max_connections(u32::try_from(clients).unwrap_or(u32::MAX))
        .connect(server_url)
        .await?;
    let mut figures = Vec::new();
    for kind in QueryKind::ALL {
        let work: Work = Arc::new(
            probes
                .iter()
                .take(clients)
                .map(|p| statements(kind, p))
                .collect(),
        );
        let bar = progress.timed(&format!(
            "drivers: {} x{clients}, tokio-postgres",
            kind.name()
        ));
        let tokio_postgres = through_tokio_postgres(&deadpool, &work, timing, &bar).await;
        bar.finish_and_clear();
        let bar = progress.timed(&format!("drivers: {} x{clients}, sqlx", kind.name()));
        let sqlx = through_sqlx(&sqlx_pool, &work, timing, &bar).await;
        bar.finish_and_clear();
        eprintln!(
            "bench: drivers, {} x{clients}: tokio-postgres {:.0}/s, sqlx {:.0}/s",
            kind.name(),
            tokio_postgres.throughput,
            sqlx.throughput
        );
        figures.push(DriverComparison {
            figure: kind.name().to_owned(),
            clients,
            ratio: Ratio::of(&tokio_postgres, &sqlx),
            tokio_postgres: Outcome::measured(tokio_postgres),
            sqlx: Outcome::measured(sqlx),
        });
    }
    sqlx_pool.close().await;
    Ok(figures)
}

async fn through_tokio_postgres(
    pool: &deadpool_postgres::Pool,
    work: &Work,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let (pool, work) = (pool.clone(), work.clone());
    closed_loop(work.len(), timing, bar, move |client, _| {
        let (pool, work) = (pool.clone(), work.clone());
        async move {
            let conn = pool.get().await.map_err(|e| e.to_string())?;
            let mut rows = 0;
            for (sql, params) in work.get(client).into_iter().flatten() {
                let statement = conn.prepare_cached(sql).await.map_err(|e| e.to_string())?;
                let bound: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| -> &(dyn tokio_postgres::types::ToSql + Sync) {
                        match p {
                            Param::Text(v) => v,
                            Param::Time(v) => v,
                            Param::Id(v) => v,
                            Param::Rows(v) => v,
                            Param::Rank(v) => v,
                            Param::Flag(v) => v,
                        }
                    })
                    .collect();
                rows += conn
                    .query(&statement, &bound)
                    .await
                    .map_err(|e| e.to_string())?
                    .len();
            }
            std::hint::black_box(rows);
            Ok(())
        }
    })
    .await
}

async fn through_sqlx(
    pool: &sqlx::PgPool,
    work: &Work,
    timing: StepTiming,
    bar: &ProgressBar,
) -> Measurement {
    let (pool, work) = (pool.clone(), work.clone());
    closed_loop(work.len(), timing, bar, move |client, _| {
        let (pool, work) = (pool.clone(), work.clone());
        async move {
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            let mut rows = 0;
            for (sql, params) in work.get(client).into_iter().flatten() {
                let query = params.iter().fold(sqlx::query(sql), |q, p| match p {
                    Param::Text(v) => q.bind(v.as_str()),
                    Param::Time(v) => q.bind(*v),
                    Param::Id(v) => q.bind(*v),
                    Param::Rows(v) => q.bind(*v),
                    Param::Rank(v) => q.bind(*v),
                    Param::Flag(v) => q.bind(*v),
                });
                rows += query
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?
                    .len();
            }
            std::hint::black_box(rows);
            Ok(())
        }
    })
    .await
}

impl DriverComparison {
    /// The figure in one line, for the table and the Markdown report.
    pub fn line(&self) -> String {
        let side = |m: &Outcome<Measurement>| match &m.value {
            Some(m) => format!(
                "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                m.throughput, m.p50_ms, m.p99_ms
            ),
            None => format!("not measured ({})", m.unavailable.as_deref().unwrap_or("-")),
        };
        format!(
            "{} x{}: tokio-postgres {}; sqlx {}; tokio-postgres / sqlx {}",
            self.figure,
            self.clients,
            side(&self.tokio_postgres),
            side(&self.sqlx),
            self.ratio
                .as_ref()
                .map_or("-".into(), |r| format!("{:.0}%", r.throughput * 100.0)),
        )
    }
}
