//! Live: what a run has done so far, published once a second for the metrics endpoint (and, in
//! time, the live page), so nothing outside the run ever reads the recorder or touches the hot
//! path.
//!
//! The run loop calls [`Live::publish`] after each closed second, on the recorder's thread; the
//! snapshot is built outside the lock and swapped in, so a scrape waits for a pointer swap at
//! most. Everything in it is cumulative from the start (counters only grow), except the gauges.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::plan::Plan;
use crate::record::{ErrorKind, Hist};
use crate::recorder::Recorder;
use crate::schedule::Schedule;

pub mod metrics;
pub mod server;

/// BUCKETS_US are the upper bounds of the latency histograms' buckets, in µs (Prometheus's
/// `le`, in seconds, once written): 100 µs to 30 s, so loopback and a slow API both resolve.
pub const BUCKETS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Buckets is one histogram in Prometheus's form: cumulative counts per bound, sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// Values at or below each of `BUCKETS_US`.
    pub cumulative: Vec<u64>,
    /// Sum of every value, in µs (each value as its histogram bucket holds it: 3 digits).
    pub sum_us: f64,
    pub count: u64,
}

impl Buckets {
    fn add(&mut self, h: &Hist) {
        if self.cumulative.is_empty() {
            self.cumulative = vec![0; BUCKETS_US.len()];
        }
        for v in h.histogram().iter_recorded() {
            let value = v.value_iterated_to();
            let n = v.count_at_value();
            self.sum_us += value as f64 * n as f64;
            self.count += n;
            let first = BUCKETS_US.partition_point(|&b| b < value);
            for c in &mut self.cumulative[first..] {
                *c += n;
            }
        }
    }
}

/// Endpoint is one request name of one scenario, over every stage so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub scenario: String,
    pub name: String,
    /// Successful responses.
    pub successes: u64,
    /// Errors by kind, in `ErrorKind::ALL` order, kinds never seen left out.
    pub errors: Vec<(&'static str, u64)>,
    /// Latency (from the intended time) of successful responses.
    pub latency: Buckets,
    /// Service time (sent → complete) of successful responses.
    pub service_time: Buckets,
}

/// ScenarioCounts are one scenario's arrivals so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioCounts {
    pub name: String,
    /// Arrivals the engine got to: issued or dropped.
    pub scheduled: u64,
    pub dropped: u64,
}

/// Snapshot is the run as of its last closed second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub plan: String,
    pub target: String,
    /// Seconds since the schedule started, and how long it is.
    pub elapsed_s: f64,
    pub duration_s: f64,
    /// The schedule's rate now, all scenarios together (this shard's share).
    pub target_rate: f64,
    /// Arrivals issued in the last closed second.
    pub achieved_rate: f64,
    pub in_flight: u64,
    pub scenarios: Vec<ScenarioCounts>,
    pub endpoints: Vec<Endpoint>,
    /// How late the engine got to the arrivals it issued.
    pub dispatch_lag: Buckets,
    /// True once the run has ended and these are its final figures.
    pub finished: bool,
    /// True before the first second closed.
    pub starting: bool,
    /// When the final figures were published.
    pub finished_at: Option<std::time::Instant>,
}

/// Live is the snapshot shared between the run and whoever serves it.
#[derive(Debug)]
pub struct Live {
    snapshot: Mutex<Arc<Snapshot>>,
}

impl Live {
    /// new starts with an empty snapshot of `plan`, marked starting.
    pub fn new(plan: &Plan) -> Arc<Live> {
        Arc::new(Live {
            snapshot: Mutex::new(Arc::new(Snapshot {
                plan: plan.name.clone(),
                target: plan.target.url(),
                starting: true,
                ..Snapshot::default()
            })),
        })
    }

    /// snapshot is the latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .lock()
            .expect("a publisher never panics holding it")
            .clone()
    }

    /// publish replaces the snapshot with the recorder's figures at `elapsed`.
    pub fn publish(
        &self,
        plan: &Plan,
        schedules: &[Schedule],
        rec: &Recorder,
        elapsed: Duration,
        finished: bool,
    ) {
        let next = Arc::new(build(plan, schedules, rec, elapsed, finished));
        *self
            .snapshot
            .lock()
            .expect("a publisher never panics holding it") = next;
    }
}

fn build(
    plan: &Plan,
    schedules: &[Schedule],
    rec: &Recorder,
    elapsed: Duration,
    finished: bool,
) -> Snapshot {
    let totals = &rec.totals;
    let layout = totals.layout();
    let mut scenarios = Vec::new();
    let mut endpoints = Vec::new();
    let mut dispatch_lag = Buckets::default();
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        let mut counts = ScenarioCounts {
            name: scenario.name.clone(),
            ..ScenarioCounts::default()
        };
        for slot in layout.slots(si) {
            let s = totals.stage(si, slot);
            counts.scheduled += s.scheduled;
            counts.dropped += s.dropped;
            dispatch_lag.add(&s.dispatch_lag);
        }
        scenarios.push(counts);
        for (ri, spec) in scenario.requests.iter().enumerate() {
            let mut e = Endpoint {
                scenario: scenario.name.clone(),
                name: spec.name.clone(),
                ..Endpoint::default()
            };
            let mut errors = [0u64; ErrorKind::ALL.len()];
            for slot in layout.slots(si) {
                let c = totals.cell(si, ri, slot);
                e.successes += c.latency.count();
                e.latency.add(&c.latency);
                e.service_time.add(&c.service_time);
                for (k, kind) in ErrorKind::ALL.iter().enumerate() {
                    errors[k] += c.errors.get(*kind);
                }
            }
            e.errors = (ErrorKind::ALL.iter().zip(errors))
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.name(), n))
                .collect();
            endpoints.push(e);
        }
    }
    let last = rec.intervals.last();
    let duration = schedules
        .iter()
        .map(|s| s.duration())
        .max()
        .unwrap_or_default();
    Snapshot {
        plan: plan.name.clone(),
        target: plan.target.url(),
        elapsed_s: elapsed.as_secs_f64(),
        duration_s: duration.as_secs_f64(),
        target_rate: plan
            .shard
            .share(schedules.iter().map(|s| s.rate_at(elapsed)).sum()),
        achieved_rate: last.map_or(0.0, |i| (i.scheduled - i.dropped) as f64),
        in_flight: rec.in_flight(),
        scenarios,
        endpoints,
        dispatch_lag,
        finished,
        starting: false,
        finished_at: finished.then(std::time::Instant::now),
    }
}
