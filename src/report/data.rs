//! ReportData: everything a rendered report (HTML, CSV) shows, gathered from a run's saved
//! results — the summary, the per-second history and the HdrHistogram interval log — so a report
//! renders the same whether it is written at the end of a run or again later by `report`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::summary::Summary;

/// Quantiles are a few percentiles of one time bucket, in µs; None when the bucket has no value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

/// Bucket is one span of the run's timeline: 1 s for runs up to 10 minutes, coarser for longer
/// ones (histograms merged, never percentiles averaged), so a 24 h report stays small.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket, in seconds from the schedule's start.
    pub start_s: f64,
    /// End of the bucket.
    pub end_s: f64,
    /// Mean rate the schedule asked for over the bucket (all scenarios).
    pub target_rate: f64,
    /// Arrivals issued per second in the bucket.
    pub achieved_rate: f64,
    /// Successful responses in the bucket.
    pub successes: u64,
    /// Errors in the bucket.
    pub errors: u64,
    /// Errors by kind (only kinds that occurred).
    pub error_kinds: BTreeMap<String, u64>,
    /// Arrivals dropped in the bucket.
    pub dropped: u64,
    /// Arrivals in flight at the end of the bucket.
    pub in_flight: u64,
    /// Latency of the bucket's successful responses.
    pub latency: Quantiles,
    /// Service time of the bucket's successful responses.
    pub service_time: Quantiles,
    /// Dispatch lag of the bucket's arrivals.
    pub dispatch_lag: Quantiles,
}

/// SpectrumPoint is one point of a percentile spectrum: the value at `percentile` (0..100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpectrumPoint {
    /// Percentile, e.g. 99.9.
    pub percentile: f64,
    /// Value at that percentile, in µs.
    pub value_us: u64,
}

/// NameHistogram holds the full latency distribution of one (scenario, request name): the CSV
/// needs percentiles the summary does not carry (66 %, 75 %, 80 %, 98 %).
#[derive(Debug, Clone)]
pub struct NamePercentiles {
    pub scenario: String,
    pub name: String,
    /// (percentile 0..100, value in µs) for 50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100.
    pub percentiles: Vec<(f64, u64)>,
    /// Smallest latency, µs.
    pub min_us: u64,
}

/// ReportData is what a report is rendered from.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The run's summary (figures, verdicts, per-name and per-stage tables).
    pub summary: Summary,
    /// The timeline, in order.
    pub buckets: Vec<Bucket>,
    /// Percentile spectrum of latency (successes, all names).
    pub latency_spectrum: Vec<SpectrumPoint>,
    /// Percentile spectrum of service time (successes, all names).
    pub service_spectrum: Vec<SpectrumPoint>,
    /// Locust's percentile columns per (scenario, name), plus "Aggregated" (scenario "").
    pub name_percentiles: Vec<NamePercentiles>,
    /// The plan as run, as `metronome check` describes it.
    pub plan_text: String,
    /// The watched target's samples, from the interval log (empty when nothing was watched).
    pub watch_samples: Vec<crate::watch::Sample>,
}
