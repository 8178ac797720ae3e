//! Rows of the `events` table as COPY csv: the columns postgres-es writes, plus `recorded_at`.

use std::io::Write;

use events::{AGGREGATE_TYPE, EVENT_VERSION};

use crate::data::generator::GeneratedEvent;
use crate::data::population::Population;
use crate::error::BenchResult;

/// The COPY statement the rows of [`write_row`] are for.
pub const COPY_EVENTS: &str = "COPY events (aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata, recorded_at) FROM STDIN WITH (FORMAT csv)";

/// The metadata the command side records, as JSON.
pub fn metadata_json(population: &Population, event: &GeneratedEvent) -> BenchResult<String> {
    let request_id = event.request_id.to_string();
    Ok(serde_json::to_string(&serde_json::json!({
        "actor": population.username(event.actor),
        "role": population.role(event.actor).as_str(),
        "request_id": request_id,
        "correlation_id": request_id,
        "client_ip": "127.0.0.1",
        "user_agent": "hs-bench (generated history)",
    }))?)
}

/// The COPY statement of the data keys [`write_row`] writes for a sealed history.
pub const COPY_KEYS: &str = "COPY data_keys (key_id, kek_id, wrapped) FROM STDIN WITH (FORMAT csv)";

/// Appends one CSV row for `event` to `out`; with `vault`, its text sealed as the command side
/// seals it and its new data key appended to `keys`.
pub fn write_row(
    out: &mut Vec<u8>,
    keys: &mut Vec<u8>,
    vault: Option<&vault::Vault>,
    population: &Population,
    event: &GeneratedEvent,
) -> BenchResult<()> {
    let mut payload = serde_json::to_value(&event.event)?;
    let mut version = EVENT_VERSION.to_owned();
    if let Some(vault) = vault {
        let mut parts = vault::EventParts {
            event_type: event.event.name(),
            version: &mut version,
            payload: &mut payload,
        };
        let sealed = vault
            .seal_fresh(&mut parts)
            .map_err(|e| crate::error::BenchError::Other(format!("sealing: {e}")))?;
        if let Some(key) = sealed {
            writeln!(
                keys,
                "{},{},\\x{}",
                key.key_id,
                key.kek_id,
                hex::encode(&key.wrapped)
            )?;
        }
    }
    let payload = payload.to_string();
    let metadata = metadata_json(population, event)?;
    write!(
        out,
        "{AGGREGATE_TYPE},{},{},{},{version},",
        event.event.message_id(),
        event.sequence,
        event.event.name(),
    )?;
    quoted(out, &payload);
    out.push(b',');
    quoted(out, &metadata);
    writeln!(out, ",{}", event.at.to_rfc3339())?;
    Ok(())
}

fn quoted(out: &mut Vec<u8>, field: &str) {
    out.push(b'"');
    for byte in field.bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}
