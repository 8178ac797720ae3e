//! Writes a generated history into `events` with COPY, chunk by chunk, while the next chunk is
//! being generated on a blocking thread.

use std::time::Instant;

use chrono::Utc;
use events::MessageEvent;
use indicatif::ProgressBar;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::data::csv::{write_row, COPY_EVENTS, COPY_KEYS};
use crate::data::generator::{Activity, Generator};
use crate::data::population::Population;
use crate::error::{BenchError, BenchResult};

/// Rows per COPY (one transaction each, so the log is written in order).
const CHUNK_ROWS: u64 = 20_000;

/// What the load wrote.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub messages: u64,
    pub events: u64,
    pub seconds: f64,
    pub activity: Activity,
}

struct Chunk {
    csv: Vec<u8>,
    /// The data keys of the chunk's sealed events (empty for a plain history).
    keys: Vec<u8>,
    rows: u64,
    messages: u64,
}

impl Chunk {
    fn new() -> Self {
        Self {
            csv: Vec::with_capacity(8 << 20),
            keys: Vec::new(),
            rows: 0,
            messages: 0,
        }
    }
}

/// Generates `messages` messages among `population` and COPYs their events into `events`;
/// with `vault`, their text sealed as the command side seals it (and their keys stored).
pub async fn load_events(
    pool: &PgPool,
    population: &Population,
    messages: u64,
    seed: u64,
    vault: Option<vault::Vault>,
    bar: &ProgressBar,
) -> BenchResult<LoadReport> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<BenchResult<Chunk>>(4);
    let generator_population = population.clone();
    let generator = tokio::task::spawn_blocking(move || {
        generate(generator_population, messages, seed, vault.as_ref(), &tx)
    });
    let mut conn = pool.acquire().await?;
    let (mut events, mut sent) = (0, 0);
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        if !chunk.keys.is_empty() {
            let mut copy = conn.copy_in_raw(COPY_KEYS).await?;
            copy.send(chunk.keys).await?;
            copy.finish().await?;
        }
        let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
        copy.send(chunk.csv).await?;
        copy.finish().await?;
        events += chunk.rows;
        sent += chunk.messages;
        bar.set_position(sent);
    }
    let activity = generator
        .await
        .map_err(|e| BenchError::Other(format!("generator failed: {e}")))?;
    Ok(LoadReport {
        messages: sent,
        events,
        seconds: started.elapsed().as_secs_f64(),
        activity,
    })
}

fn generate(
    population: Population,
    messages: u64,
    seed: u64,
    vault: Option<&vault::Vault>,
    tx: &mpsc::Sender<BenchResult<Chunk>>,
) -> Activity {
    let mut generator = Generator::new(population.clone(), messages, seed, Utc::now());
    let mut chunk = Chunk::new();
    for event in generator.by_ref() {
        if let Err(e) = write_row(&mut chunk.csv, &mut chunk.keys, vault, &population, &event) {
            let _ = tx.blocking_send(Err(e));
            return Activity::default();
        }
        chunk.rows += 1;
        if matches!(event.event, MessageEvent::MessageSent { .. }) {
            chunk.messages += 1;
        }
        if chunk.rows == CHUNK_ROWS {
            let full = std::mem::replace(&mut chunk, Chunk::new());
            if tx.blocking_send(Ok(full)).is_err() {
                return Activity::default();
            }
        }
    }
    if chunk.rows > 0 {
        let _ = tx.blocking_send(Ok(chunk));
    }
    generator.into_activity()
}
