//! The results of a run: what was measured, each service figure beside its raw-PostgreSQL
//! counterpart and their ratio; written as JSON and printed as a table.

use serde::Serialize;

use crate::drivers::DriverComparison;
use crate::measurement::Measurement;
use crate::replay::ReplayFigure;
use crate::scenarios::lag::LagRun;
use crate::scenarios::notifications::NotificationFigure;
use crate::scenarios::LoginFlood;

/// A figure that was measured, or why it could not be.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl<T> Outcome<T> {
    pub fn measured(value: T) -> Self {
        Self {
            value: Some(value),
            unavailable: None,
        }
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self {
            value: None,
            unavailable: Some(reason.into()),
        }
    }

    pub fn from_result(result: Result<T, String>) -> Self {
        match result {
            Ok(value) => Self::measured(value),
            Err(reason) => Self::unavailable(reason),
        }
    }
}

/// Service figure ÷ raw figure: below 1 for throughput means slower than PostgreSQL alone,
/// above 1 for latency means slower.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    pub throughput: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Ratio {
    /// The ratio of two measurements, when the raw one has data.
    pub fn of(service: &Measurement, raw: &Measurement) -> Option<Self> {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        (raw.requests > 0 && service.requests > 0).then(|| Ratio {
            throughput: div(service.throughput, raw.throughput),
            p50: div(service.p50_ms, raw.p50_ms),
            p95: div(service.p95_ms, raw.p95_ms),
            p99: div(service.p99_ms, raw.p99_ms),
        })
    }
}

/// One step of the service with the same step of raw PostgreSQL.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `send`, `inbox`, `sent`, `conversation` or `search`.
    pub figure: String,
    pub clients: usize,
    pub service: Outcome<Measurement>,
    pub raw: Outcome<Measurement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Ratio>,
}

impl Comparison {
    pub fn new(
        figure: &str,
        clients: usize,
        service: Outcome<Measurement>,
        raw: Outcome<Measurement>,
    ) -> Self {
        let ratio = match (&service.value, &raw.value) {
            (Some(s), Some(r)) => Ratio::of(s, r),
            _ => None,
        };
        Self {
            figure: figure.to_owned(),
            clients,
            service,
            raw,
            ratio,
        }
    }
}

/// The data set the run loaded.
#[derive(Debug, Clone, Serialize)]
pub struct DataFigure {
    pub users: u64,
    pub patients: u32,
    pub clinicians: u32,
    pub messages: u64,
    pub events: u64,
    /// Generating the history and writing it into `events` with COPY.
    pub load_seconds: f64,
    pub load_events_per_second: f64,
}

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub postgres: String,
    /// `fsync`, `synchronous_commit`, `shared_buffers`, `max_connections` of the server.
    pub postgres_settings: Vec<(String, String)>,
    pub gateway_pool_max: String,
    /// Extra environment of the gateway (`--gateway-env`), e.g. another allocator.
    pub gateway_env: Vec<String>,
    /// `/proc/loadavg` (1, 5, 15 min) when the run started and when it ended: other work on
    /// the machine makes every figure lower.
    pub load_average_at_start: String,
    pub load_average_at_end: String,
    /// Share of all CPUs in use (by anything) during the second before the run started.
    pub cpu_busy_percent_at_start: Option<f64>,
}

/// What sealing message text costs (docs/privacy.md): the same send step and the same replay,
/// with encryption on (the run's own figures) and off (`HS_ENCRYPTION=off`; a plain history in a
/// second database), in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptionCost {
    pub send_clients: usize,
    pub send_on: Measurement,
    pub send_off: Measurement,
    pub replay_on: ReplayFigure,
    pub replay_off: ReplayFigure,
}

impl EncryptionCost {
    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "encryption: send x{} {:.0} req/s on vs {:.0} off ({:.1}%), p50 {:.1} vs {:.1} ms; \
             replay {:.0} events/s on vs {:.0} off ({:.1}%)",
            self.send_clients,
            self.send_on.throughput,
            self.send_off.throughput,
            self.send_on.throughput / self.send_off.throughput.max(1e-9) * 100.0,
            self.send_on.p50_ms,
            self.send_off.p50_ms,
            self.replay_on.events_per_second,
            self.replay_off.events_per_second,
            self.replay_on.events_per_second / self.replay_off.events_per_second.max(1e-9) * 100.0,
        )
    }
}

/// A query step through a hot standby beside the same step on the primary.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyFigure {
    pub query: String,
    pub clients: usize,
    pub standby: Outcome<Measurement>,
    pub primary: Outcome<Measurement>,
}

impl StandbyFigure {
    /// One line for the report.
    pub fn line(&self) -> String {
        let figure = |o: &Outcome<Measurement>| match &o.value {
            Some(m) => format!(
                "{:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
                m.throughput, m.p50_ms, m.p99_ms
            ),
            None => format!("not measured ({})", o.unavailable.as_deref().unwrap_or("-")),
        };
        format!(
            "{} x{} through the standby: {}; on the primary: {}",
            self.query,
            self.clients,
            figure(&self.standby),
            figure(&self.primary)
        )
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub command: String,
    pub database: String,
    pub machine: Machine,
    pub data: DataFigure,
    /// `projector rebuild --all` over the loaded log; raw: PostgreSQL building the same read
    /// rows from the log with set-based SQL.
    pub replay: Outcome<ReplayFigure>,
    pub raw_replay: Outcome<ReplayFigure>,
    /// Send and replay with message text sealed (the run's figures) against not sealed.
    pub encryption: Outcome<EncryptionCost>,
    /// The query steps through a hot standby of the same server (`QUERY_DATABASE_URL`).
    pub standby: Outcome<Vec<StandbyFigure>>,
    pub sends: Vec<Comparison>,
    pub queries: Vec<Comparison>,
    /// The lag at the usual send rate, at a higher one, and with a writer idle elsewhere.
    pub projection_lag: Vec<LagRun>,
    /// Memory per idle notification stream, and send 201 → `message` event at the recipient.
    pub notifications: Outcome<NotificationFigure>,
    /// Logins of many users at once: how the password queue answered and the memory after.
    pub login_flood: Outcome<LoginFlood>,
    /// `GET /healthz` (no session, no database) at the drivers' concurrency: HTTP alone.
    pub http_floor: Outcome<Measurement>,
    /// The read statements through the query service's driver and through sqlx.
    pub drivers: Vec<DriverComparison>,
    /// VmHWM of the gateway process at the end of the run.
    pub gateway_peak_rss_bytes: Outcome<u64>,
    /// VmRSS of the gateway after each phase (where the memory went).
    pub gateway_rss_bytes: Vec<(String, u64)>,
    pub notes: Vec<String>,
    pub seconds: f64,
}
