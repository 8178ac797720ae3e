//! The report as a Markdown table, for `docs/benchmarks.md` and the README.

use std::fmt::Write;

use crate::report::{Comparison, Report};

fn cell(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".into(),
    }
}

fn row(out: &mut String, c: &Comparison) {
    let s = c.service.value.as_ref();
    let r = c.raw.value.as_ref();
    let ratio = c.ratio.as_ref();
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        c.figure,
        c.clients,
        cell(s.map(|m| m.throughput), 0),
        cell(s.map(|m| m.p50_ms), 2),
        cell(s.map(|m| m.p95_ms), 2),
        cell(s.map(|m| m.p99_ms), 2),
        cell(r.map(|m| m.throughput), 0),
        cell(r.map(|m| m.p50_ms), 2),
        cell(r.map(|m| m.p99_ms), 2),
        ratio.map_or("-".into(), |x| format!("{:.1}%", x.throughput * 100.0)),
        ratio.map_or("-".into(), |x| format!("{:.1}x / {:.1}x", x.p50, x.p99)),
    );
}

/// The figures of `report` as Markdown: one table of the HTTP steps, then the other figures.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let d = &report.data;
    let _ = writeln!(
        out,
        "Run of {} (`{}`): {} users, {} messages, {} events; {} CPUs, load average {} at \
         start.\n",
        report.started_at,
        report.command,
        d.users,
        d.messages,
        d.events,
        report.machine.cpus,
        report.machine.load_average_at_start
    );
    if !report.machine.gateway_env.is_empty() {
        let _ = writeln!(
            out,
            "Gateway environment: `{}`.\n",
            report.machine.gateway_env.join(" ")
        );
    }
    out.push_str(
        "| figure | clients | req/s | p50 ms | p95 ms | p99 ms | raw tx/s | raw p50 ms \
         | raw p99 ms | throughput vs raw | p50 / p99 vs raw |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in report.sends.iter().chain(&report.queries) {
        row(&mut out, c);
    }
    out.push('\n');
    if let Some(r) = &report.replay.value {
        let raw = report.raw_replay.value.as_ref();
        let _ =
            writeln!(
            out,
            "- replay (`projector rebuild --all`, {} projections): {:.0} events/s ({} events in \
             {:.1} s); raw set-based SQL: {}; ratio {}",
            r.projections,
            r.events_per_second,
            r.events,
            r.seconds,
            raw.map_or("-".into(), |x| format!("{:.0} events/s", x.events_per_second)),
            raw.map_or("-".into(), |x| format!(
                "{:.1}%",
                r.events_per_second / x.events_per_second * 100.0
            )),
        );
    }
    match &report.encryption.value {
        Some(cost) => {
            let _ = writeln!(out, "- {} (docs/privacy.md)", cost.line());
        }
        None => {
            let _ = writeln!(
                out,
                "- encryption cost not measured: {}",
                report.encryption.unavailable.as_deref().unwrap_or("-")
            );
        }
    }
    match &report.standby.value {
        Some(figures) => {
            for f in figures {
                let _ = writeln!(out, "- {}", f.line());
            }
        }
        None => {
            let _ = writeln!(
                out,
                "- reads through a standby not measured: {}",
                report.standby.unavailable.as_deref().unwrap_or("-")
            );
        }
    }
    for run in &report.projection_lag {
        if let Some(l) = &run.figure.value {
            let _ = writeln!(
                out,
                "- projection lag, {} (send 201 → visible in the recipient's inbox): p50 {:.1} ms, \
                 p99 {:.1} ms, max {:.1} ms over {} probes ({} timeouts), {:.0} background \
                 sends/s done; raw: n/a",
                run.condition,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.probes,
                l.timeouts,
                l.background_per_second
            );
        }
    }
    match (
        &report.notifications.value,
        &report.notifications.unavailable,
    ) {
        (Some(n), _) => {
            let _ = writeln!(
                out,
                "- notifications: {} idle streams cost {:.1} KiB each (gateway RSS {:.0} → {:.0} \
                 MiB); send 201 → `message` event at the recipient's stream, {:.0} background \
                 sends/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} probes ({} \
                 timeouts); raw: n/a",
                n.idle_streams,
                n.bytes_per_stream / 1024.0,
                n.rss_before_bytes as f64 / (1024.0 * 1024.0),
                n.rss_with_streams_bytes as f64 / (1024.0 * 1024.0),
                n.background_per_second,
                n.p50_ms,
                n.p99_ms,
                n.max_ms,
                n.probes,
                n.timeouts
            );
        }
        (None, reason) => {
            let _ = writeln!(
                out,
                "- notifications: not measured: {}",
                reason.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(f) = &report.login_flood.value {
        let _ = writeln!(out, "- {}; raw: n/a", f.line());
    }
    if let Some(m) = &report.http_floor.value {
        let _ = writeln!(
            out,
            "- HTTP floor (no session, no database): {}",
            crate::service::summary("GET /healthz", m)
        );
    }
    for d in &report.drivers {
        let _ = writeln!(out, "- drivers (the read statements alone): {}", d.line());
    }
    if let Some(bytes) = report.gateway_peak_rss_bytes.value {
        let _ = writeln!(
            out,
            "- gateway peak RSS (VmHWM): {:.0} MiB; raw: n/a",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let _ = writeln!(
        out,
        "- load (generate + COPY into `events`): {:.0} events/s",
        d.load_events_per_second
    );
    out
}
