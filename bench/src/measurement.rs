//! Throughput and latency percentiles of one step, from an HDR histogram of microseconds.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A fresh histogram: 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

/// Records `micros` (clamped into the histogram's range).
pub fn record(histogram: &mut Histogram<u64>, micros: u64) {
    let value = micros.clamp(1, histogram.high());
    histogram.saturating_record(value);
}

/// The value at quantile `q` of a histogram of microseconds, in milliseconds (0 when empty).
pub fn quantile_ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    if histogram.is_empty() {
        0.0
    } else {
        histogram.value_at_quantile(q) as f64 / 1000.0
    }
}

/// What one step measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Concurrent clients.
    pub clients: usize,
    /// Successful requests (or transactions) completed in the recorded window.
    pub requests: u64,
    /// Failed ones in the same window.
    pub errors: u64,
    /// Length of the recorded window.
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first error seen, for the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Measurement {
    /// Summarises `histogram` (µs) over a window of `seconds`.
    pub fn from_histogram(
        clients: usize,
        histogram: &Histogram<u64>,
        errors: u64,
        seconds: f64,
        first_error: Option<String>,
    ) -> Self {
        let ms = |q: f64| {
            if histogram.is_empty() {
                0.0
            } else {
                histogram.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let requests = histogram.len();
        Self {
            clients,
            requests,
            errors,
            seconds,
            throughput: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: if histogram.is_empty() {
                0.0
            } else {
                histogram.max() as f64 / 1000.0
            },
            first_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput_come_from_the_recorded_values() {
        let mut h = histogram();
        for ms in 1..=100 {
            record(&mut h, ms * 1000);
        }
        let m = Measurement::from_histogram(4, &h, 2, 2.0, None);
        assert_eq!(m.requests, 100);
        assert!((m.throughput - 50.0).abs() < 1e-9);
        assert!((m.p50_ms - 50.0).abs() < 0.1, "{}", m.p50_ms);
        assert!((m.p99_ms - 99.0).abs() < 0.1, "{}", m.p99_ms);
        assert!((m.max_ms - 100.0).abs() < 0.1, "{}", m.max_ms);
    }

    #[test]
    fn an_empty_step_has_zero_figures() {
        let m = Measurement::from_histogram(1, &histogram(), 0, 1.0, None);
        assert_eq!(m.requests, 0);
        assert_eq!(m.p99_ms, 0.0);
    }
}
