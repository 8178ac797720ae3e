//! The terminal table of a report.

use std::fmt::Write;

use crate::report::{Comparison, Report};

fn number(value: f64) -> String {
    if !value.is_finite() {
        "-".into()
    } else if value >= 1000.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn share(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", ratio * 100.0)
    } else {
        "-".into()
    }
}

fn times(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{ratio:.1}x")
    } else {
        "-".into()
    }
}

fn comparison_row(out: &mut String, c: &Comparison) {
    let _ = write!(out, "{:<13}{:>4} ", c.figure, c.clients);
    match &c.service.value {
        Some(s) => {
            let _ = write!(
                out,
                "{:>9} {:>8} {:>8} {:>8} {:>5} |",
                number(s.throughput),
                number(s.p50_ms),
                number(s.p95_ms),
                number(s.p99_ms),
                s.errors
            );
        }
        None => {
            let _ = write!(out, "{:>42} |", "not measured");
        }
    }
    match &c.raw.value {
        Some(r) => {
            let _ = write!(
                out,
                "{:>9} {:>8} {:>8} |",
                number(r.throughput),
                number(r.p50_ms),
                number(r.p99_ms)
            );
        }
        None => {
            let _ = write!(out, "{:>27} |", "not measured");
        }
    }
    match &c.ratio {
        Some(ratio) => {
            let _ = writeln!(
                out,
                "{:>8} {:>8} {:>8}",
                share(ratio.throughput),
                times(ratio.p50),
                times(ratio.p99)
            );
        }
        None => {
            let _ = writeln!(out, "{:>8} {:>8} {:>8}", "-", "-", "-");
        }
    }
}

/// The table: load, replay, every comparison, lag and memory, then why anything is missing.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let d = &report.data;
    let _ = writeln!(
        out,
        "data: {} users ({} patients, {} clinicians), {} messages, {} events; \
         loaded in {:.1} s ({} events/s, generate + COPY)",
        d.users,
        d.patients,
        d.clinicians,
        d.messages,
        d.events,
        d.load_seconds,
        number(d.load_events_per_second)
    );
    let m = &report.machine;
    let settings: Vec<String> = m
        .postgres_settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "machine: {} CPUs, {} busy before the start, load average {} at start, {} at end; \
         PostgreSQL {}",
        m.cpus,
        m.cpu_busy_percent_at_start
            .map_or("?".into(), |b| format!("{b:.0}%")),
        m.load_average_at_start,
        m.load_average_at_end,
        settings.join(" ")
    );
    if !m.gateway_env.is_empty() {
        let _ = writeln!(out, "gateway environment: {}", m.gateway_env.join(" "));
    }
    let _ = writeln!(
        out,
        "\n{:<13}{:>4} {:>9} {:>8} {:>8} {:>8} {:>5} |{:>9} {:>8} {:>8} |{:>8} {:>8} {:>8}",
        "figure",
        "cli",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "err",
        "raw tx/s",
        "raw p50",
        "raw p99",
        "tput",
        "p50",
        "p99"
    );
    let _ = writeln!(
        out,
        "{:<13}{:>4} {:>42} |{:>27} |{:>26}",
        "", "", "service (HTTP, full path)", "raw PostgreSQL (pgbench)", "service vs raw"
    );
    for c in report.sends.iter().chain(&report.queries) {
        comparison_row(&mut out, c);
    }
    out.push('\n');
    match (&report.replay.value, &report.raw_replay.value) {
        (Some(r), raw) => {
            let _ = write!(
                out,
                "replay   projector rebuild --all: {} events x {} projections in {:.1} s = {} events/s",
                r.events,
                r.projections,
                r.seconds,
                number(r.events_per_second)
            );
            match raw {
                Some(raw) => {
                    let _ = writeln!(
                        out,
                        "; raw set-based SQL {} events/s; ratio {}",
                        number(raw.events_per_second),
                        share(r.events_per_second / raw.events_per_second)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "; raw not measured: {}",
                        report.raw_replay.unavailable.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "replay   not measured: {}",
                report.replay.unavailable.as_deref().unwrap_or("-")
            );
        }
    }
    let _ = writeln!(
        out,
        "crypto   {}",
        match &report.encryption.value {
            Some(cost) => cost.line(),
            None => format!(
                "encryption cost not measured: {}",
                report.encryption.unavailable.as_deref().unwrap_or("-")
            ),
        }
    );
    match &report.standby.value {
        Some(figures) => {
            for f in figures {
                let _ = writeln!(out, "standby  {}", f.line());
            }
        }
        None => {
            let _ = writeln!(
                out,
                "standby  not measured: {}",
                report.standby.unavailable.as_deref().unwrap_or("-")
            );
        }
    }
    for run in &report.projection_lag {
        match &run.figure.value {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "lag      {}: send 201 -> visible in inbox: p50 {} ms, p95 {} ms, p99 {} ms, \
                     max {} ms over {} probes ({} timeouts), {} background sends/s done; raw: n/a",
                    run.condition,
                    number(l.p50_ms),
                    number(l.p95_ms),
                    number(l.p99_ms),
                    number(l.max_ms),
                    l.probes,
                    l.timeouts,
                    number(l.background_per_second)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "lag      {}: not measured: {}",
                    run.condition,
                    run.figure.unavailable.as_deref().unwrap_or("-")
                );
            }
        }
    }
    match (
        &report.notifications.value,
        &report.notifications.unavailable,
    ) {
        (Some(n), _) => {
            let _ = writeln!(
                out,
                "notify   {} idle streams: {} KiB each; send 201 -> event at the recipient: p50 {} \
                 ms, p95 {} ms, p99 {} ms, max {} ms over {} probes ({} timeouts), {} background \
                 sends/s done; raw: n/a",
                n.idle_streams,
                number(n.bytes_per_stream / 1024.0),
                number(n.p50_ms),
                number(n.p95_ms),
                number(n.p99_ms),
                number(n.max_ms),
                n.probes,
                n.timeouts,
                number(n.background_per_second)
            );
        }
        (None, reason) => {
            let _ = writeln!(
                out,
                "notify   not measured: {}",
                reason.as_deref().unwrap_or("-")
            );
        }
    }
    match (&report.login_flood.value, &report.login_flood.unavailable) {
        (Some(f), _) => {
            let _ = writeln!(out, "logins   {}", f.line());
        }
        (None, why) => {
            let _ = writeln!(
                out,
                "logins   not measured: {}",
                why.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(m) = &report.http_floor.value {
        let _ = writeln!(
            out,
            "http     {}",
            crate::service::summary("GET /healthz", m)
        );
    }
    for d in &report.drivers {
        let _ = writeln!(out, "drivers  {}", d.line());
    }
    match &report.gateway_peak_rss_bytes.value {
        Some(bytes) => {
            let _ = writeln!(
                out,
                "memory   gateway peak RSS (VmHWM): {:.1} MiB; raw: n/a",
                *bytes as f64 / (1024.0 * 1024.0)
            );
            let phases: Vec<String> = report
                .gateway_rss_bytes
                .iter()
                .map(|(phase, b)| format!("{phase} {:.0}", *b as f64 / (1024.0 * 1024.0)))
                .collect();
            if !phases.is_empty() {
                let _ = writeln!(out, "         RSS MiB {}", phases.join(", "));
            }
        }
        None => {
            let _ = writeln!(out, "memory   not measured");
        }
    }
    let mut missing: Vec<String> = Vec::new();
    for c in report.sends.iter().chain(&report.queries) {
        for (side, why) in [
            ("service", &c.service.unavailable),
            ("raw", &c.raw.unavailable),
        ] {
            if let Some(why) = why {
                let line = format!("{} ({side}) not measured: {why}", c.figure);
                if !missing.contains(&line) {
                    missing.push(line);
                }
            }
        }
    }
    for line in missing.iter().chain(&report.notes) {
        let _ = writeln!(out, "note: {line}");
    }
    out
}
