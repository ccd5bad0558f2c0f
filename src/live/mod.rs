//! Live: what a run has done so far, published once a second for the metrics endpoint (and, in
//! time, the live page), so nothing outside the run ever reads the recorder or touches the hot
//! path.
//!
//! The run loop calls [`Live::publish`] after each closed second, on the recorder's thread; the
//! snapshot is built outside the lock and swapped in, so a scrape waits for a pointer swap at
//! most. Everything in it is cumulative from the start (counters only grow), except the gauges.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::plan::Plan;
use crate::record::{ErrorKind, Hist};
use crate::recorder::Recorder;
use crate::schedule::Schedule;
use crate::steer::RateChange;
use crate::summary::Percentiles;

pub mod metrics;
pub mod process;
pub mod rate;
pub mod server;
pub mod ui;
pub mod web;

/// BUCKETS_US are the upper bounds of the latency histograms' buckets, in µs (Prometheus's
/// `le`, in seconds, once written): 100 µs to 30 s, so loopback and a slow API both resolve.
pub const BUCKETS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Buckets is one histogram in Prometheus's form: cumulative counts per bound, sum and count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Endpoint {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub path: String,
    pub sla_class: Option<String>,
    /// Successful responses.
    pub successes: u64,
    /// Errors by kind, in `ErrorKind::ALL` order, kinds never seen left out.
    pub errors: Vec<(&'static str, u64)>,
    /// The first few reasons a response check failed.
    pub check_failures: Vec<String>,
    /// Latency (from the intended time) of successful responses, in Prometheus's buckets and
    /// exactly (µs).
    #[serde(skip)]
    pub latency: Buckets,
    pub latency_us: Percentiles,
    /// Service time (sent → complete) of successful responses.
    #[serde(skip)]
    pub service_time: Buckets,
    pub service_time_us: Percentiles,
}

/// ScenarioCounts are one scenario's arrivals so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScenarioCounts {
    pub name: String,
    /// Arrivals the engine got to: issued or dropped.
    pub scheduled: u64,
    pub dropped: u64,
    /// The stage running now (by the schedule's clock), if the schedule is still going.
    pub stage: Option<String>,
}

/// Point is one second of the run, for the live charts: rates, percentiles read from that
/// second's own histogram (never averaged), errors, in flight and the generator's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Point {
    /// End of the second, from the start.
    pub t: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub completed_rate: f64,
    pub errors: u64,
    pub error_kinds: Vec<(&'static str, u64)>,
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub service_p99_us: Option<u64>,
    pub in_flight: u64,
    pub lag_p99_us: Option<u64>,
    /// Cores this process used over the second, and its resident memory.
    pub cpu: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// Stage is one stage of the timeline, as planned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stage {
    pub scenario: String,
    pub name: String,
    pub start_s: f64,
    pub duration_s: f64,
    pub from_rate: f64,
    pub to_rate: f64,
}

/// Headline is the report's headline tiles, as of now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Headline {
    pub scheduled: u64,
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub dropped: u64,
    pub latency_us: Percentiles,
    pub service_time_us: Percentiles,
    pub dispatch_lag_us: Percentiles,
    /// Issued arrivals dispatched within `lateness::LAG_BOUND` of their intended time.
    pub on_time_share: f64,
}

/// Snapshot is the run as of its last closed second.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    pub headline: Headline,
    /// How late the engine got to the arrivals it issued.
    #[serde(skip)]
    pub dispatch_lag: Buckets,
    /// The latest second, as the series has it.
    pub now: Option<Point>,
    /// The rate changes made so far (see `steer`).
    pub steering: Vec<RateChange>,
    /// True once the run has ended and these are its final figures.
    pub finished: bool,
    /// True before the first second closed.
    pub starting: bool,
    /// When the final figures were published.
    #[serde(skip)]
    pub finished_at: Option<Instant>,
    /// When this snapshot was published (Unix time in ms), so the page can tell how late it
    /// shows it.
    pub published_unix_ms: u64,
}

/// Live is the snapshot shared between the run and whoever serves it, with the whole run's
/// per-second series (so a reloaded page has its history), the stage timeline, and the page's
/// Stop.
#[derive(Debug)]
pub struct Live {
    snapshot: Mutex<Arc<Snapshot>>,
    series: Mutex<Vec<Point>>,
    /// The stages as planned (and steered), every scenario's.
    timeline: Mutex<Vec<Stage>>,
    /// Where the page's rate changes go, and the run's end of it until the run takes it.
    asks: mpsc::UnboundedSender<SteerAsk>,
    asks_taken: Mutex<Option<mpsc::UnboundedReceiver<SteerAsk>>>,
    /// Bumped on every publish, for the page's event stream.
    changed: watch::Sender<u64>,
    stop: Notify,
    stop_asked: Mutex<Option<f64>>,
    /// Where the run writes its files, offered for download once written.
    pub out_dir: Option<PathBuf>,
    outputs_written: AtomicBool,
    cpu: Mutex<process::CpuClock>,
}

impl Live {
    /// new starts with an empty snapshot of `plan`, marked starting.
    pub fn new(plan: &Plan, out_dir: Option<PathBuf>) -> Arc<Live> {
        let (asks, asks_taken) = mpsc::unbounded_channel();
        Arc::new(Live {
            snapshot: Mutex::new(Arc::new(Snapshot {
                plan: plan.name.clone(),
                target: plan.target.url(),
                starting: true,
                ..Snapshot::default()
            })),
            series: Mutex::new(Vec::new()),
            timeline: Mutex::new(timeline(plan)),
            asks,
            asks_taken: Mutex::new(Some(asks_taken)),
            changed: watch::channel(0).0,
            stop: Notify::new(),
            stop_asked: Mutex::new(None),
            out_dir,
            outputs_written: AtomicBool::new(false),
            cpu: Mutex::new(process::CpuClock::start()),
        })
    }

    /// retarget names the target the run reaches, once known (the demo target's port is
    /// chosen after the page is served), until the first second is published.
    pub fn retarget(&self, target: String) {
        let mut snapshot = self
            .snapshot
            .lock()
            .expect("a publisher never panics holding it");
        if snapshot.starting {
            *snapshot = Arc::new(Snapshot {
                target,
                ..(**snapshot).clone()
            });
        }
    }

    /// timeline is every scenario's stages, as planned and steered so far.
    pub fn timeline(&self) -> Vec<Stage> {
        self.timeline.lock().expect("never poisoned").clone()
    }

    /// steered shows the stages of the plan as steered now.
    pub fn steered(&self, plan: &Plan) {
        *self.timeline.lock().expect("never poisoned") = timeline(plan);
        self.changed.send_modify(|v| *v += 1);
    }

    /// take_asks gives the run the page's rate changes; None once taken.
    pub fn take_asks(&self) -> Option<mpsc::UnboundedReceiver<SteerAsk>> {
        self.asks_taken.lock().expect("never poisoned").take()
    }

    /// ask_rate asks the run to set `scenario`'s rate; the answer is the change made, or why
    /// it was not.
    pub async fn ask_rate(&self, scenario: String, rate: f64) -> Result<RateChange, String> {
        let (reply, answer) = oneshot::channel();
        let ask = SteerAsk {
            scenario,
            rate,
            reply,
        };
        if self.asks.send(ask).is_err() {
            return Err("the run has ended: nothing to steer".into());
        }
        match tokio::time::timeout(Duration::from_secs(10), answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the run has ended: nothing to steer".into()),
            Err(_) => Err("the run did not answer within 10 s; nothing was changed".into()),
        }
    }

    /// snapshot is the latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .lock()
            .expect("a publisher never panics holding it")
            .clone()
    }

    /// series is every second published so far.
    pub fn series(&self) -> Vec<Point> {
        self.series.lock().expect("never poisoned").clone()
    }

    /// changes is told of every publish.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// publish replaces the snapshot with the recorder's figures at `elapsed` and, when a
    /// second closed since the last publish, adds it to the series.
    pub fn publish(
        &self,
        plan: &Plan,
        schedules: &[Schedule],
        rec: &Recorder,
        elapsed: Duration,
        finished: bool,
    ) {
        let mut next = build(plan, schedules, rec, elapsed, finished);
        let point = rec.intervals.last().map(|i| {
            let (cpu, rss) = self.cpu.lock().expect("never poisoned").sample();
            point(i, rec.last_second.as_ref(), schedules, plan, cpu, rss)
        });
        {
            let mut series = self.series.lock().expect("never poisoned");
            if let Some(p) = &point
                && series.last().is_none_or(|l| l.t < p.t)
            {
                series.push(p.clone());
            }
        }
        next.now = point;
        *self
            .snapshot
            .lock()
            .expect("a publisher never panics holding it") = Arc::new(next);
        self.changed.send_modify(|v| *v += 1);
    }

    /// ask_stop asks the run to stop as Ctrl-C does; it returns false when the run had already
    /// ended or a stop was already asked for.
    pub fn ask_stop(&self) -> bool {
        let s = self.snapshot();
        let mut asked = self.stop_asked.lock().expect("never poisoned");
        if s.finished || asked.is_some() {
            return false;
        }
        *asked = Some(s.elapsed_s);
        self.stop.notify_one();
        true
    }

    /// stop_asked is when (seconds into the run, as last published) the page asked to stop.
    pub fn stop_asked(&self) -> Option<f64> {
        *self.stop_asked.lock().expect("never poisoned")
    }

    /// stopped completes when the page asks the run to stop.
    pub async fn stopped(&self) {
        self.stop.notified().await
    }

    /// outputs_written says the run's files are complete, to be offered for download.
    pub fn outputs_written(&self) {
        self.outputs_written.store(true, Ordering::Release);
        self.changed.send_modify(|v| *v += 1);
    }

    /// outputs are the files written so far, once the run has written them all.
    pub fn outputs(&self) -> Vec<String> {
        let (Some(dir), true) = (&self.out_dir, self.outputs_written.load(Ordering::Acquire))
        else {
            return Vec::new();
        };
        web::DOWNLOADS
            .iter()
            .filter(|f| dir.join(f).is_file())
            .map(|f| f.to_string())
            .collect()
    }
}

/// SteerAsk is a request to set a scenario's rate while the run goes on (see `steer`).
#[derive(Debug)]
pub struct SteerAsk {
    /// The scenario's name; empty for a plan's only one.
    pub scenario: String,
    pub rate: f64,
    /// The change made, or why none was.
    pub reply: oneshot::Sender<Result<RateChange, String>>,
}

/// timeline is every scenario's stages, in this shard's share of the rates.
fn timeline(plan: &Plan) -> Vec<Stage> {
    let mut timeline = Vec::new();
    for (si, sc) in plan.scenarios.iter().enumerate() {
        let schedule = sc.schedule(plan.seed, si as u64);
        for (k, st) in sc.stages.iter().enumerate() {
            timeline.push(Stage {
                scenario: sc.name.clone(),
                name: st.name.clone(),
                start_s: schedule.stage_start(k).as_secs_f64(),
                duration_s: st.duration.as_secs_f64(),
                from_rate: plan.shard.share(st.from),
                to_rate: plan.shard.share(st.to),
            });
        }
    }
    timeline
}

fn kinds(e: &crate::record::ErrorCounts) -> Vec<(&'static str, u64)> {
    ErrorKind::ALL
        .iter()
        .filter(|&&k| e.get(k) > 0)
        .map(|&k| (k.name(), e.get(k)))
        .collect()
}

fn point(
    i: &crate::recorder::Interval,
    second: Option<&crate::recorder::Second>,
    schedules: &[Schedule],
    plan: &Plan,
    cpu: Option<f64>,
    rss_bytes: Option<u64>,
) -> Point {
    let q = |h: &Hist, q: f64| (h.count() > 0).then(|| h.histogram().value_at_quantile(q));
    let mid = Duration::from_secs_f64((i.end_s - 0.5).max(0.0));
    let mut p = Point {
        t: i.end_s,
        target_rate: plan
            .shard
            .share(schedules.iter().map(|s| s.rate_at(mid)).sum()),
        achieved_rate: (i.scheduled - i.dropped) as f64,
        completed_rate: (i.successes + i.errors) as f64,
        errors: i.errors,
        in_flight: i.in_flight,
        cpu,
        rss_bytes,
        ..Point::default()
    };
    if let Some(s) = second {
        p.p50_us = q(&s.latency, 0.5);
        p.p95_us = q(&s.latency, 0.95);
        p.p99_us = q(&s.latency, 0.99);
        p.service_p99_us = q(&s.service_time, 0.99);
        p.lag_p99_us = q(&s.dispatch_lag, 0.99);
        p.error_kinds = kinds(&s.errors);
    }
    p
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
        let schedule = &schedules[si];
        let mut counts = ScenarioCounts {
            name: scenario.name.clone(),
            stage: (schedule.stage_at(elapsed)).map(|k| scenario.stages[k].name.clone()),
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
                method: spec.method.to_string(),
                path: spec.path.source().to_string(),
                sla_class: spec.sla_class.clone(),
                ..Endpoint::default()
            };
            let mut all = crate::record::Cell::default();
            for slot in layout.slots(si) {
                let c = totals.cell(si, ri, slot);
                e.latency.add(&c.latency);
                e.service_time.add(&c.service_time);
                all.merge(c);
            }
            e.successes = all.latency.count();
            e.errors = kinds(&all.errors);
            e.check_failures = all.check_failures.clone();
            e.latency_us = Percentiles::of(&all.latency);
            e.service_time_us = Percentiles::of(&all.service_time);
            endpoints.push(e);
        }
    }
    let (engine, all) = totals.totals();
    let whole = crate::lateness::Lateness::of(&engine.dispatch_lag, plan.limits.timeout);
    let headline = Headline {
        scheduled: engine.scheduled,
        requests: all.requests(),
        successes: all.latency.count(),
        errors: all.errors.total(),
        error_rate: if all.requests() == 0 {
            0.0
        } else {
            all.errors.total() as f64 / all.requests() as f64
        },
        dropped: engine.dropped,
        latency_us: Percentiles::of(&all.latency),
        service_time_us: Percentiles::of(&all.service_time),
        dispatch_lag_us: Percentiles::of(&engine.dispatch_lag),
        on_time_share: whole.on_time_share(),
    };
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
        headline,
        dispatch_lag,
        now: None,
        steering: plan.steering.clone(),
        finished,
        starting: false,
        finished_at: finished.then(std::time::Instant::now),
        published_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_named_once_known_until_the_first_second_is_published() {
        let (target, _) = crate::plan::Target::parse("http://127.0.0.1:1").unwrap();
        let plan = Plan::quick(
            target,
            hyper::Method::GET,
            "/",
            10.0,
            std::time::Duration::from_secs(1),
        );
        let live = Live::new(&plan, None);
        assert_eq!(live.snapshot().target, "http://127.0.0.1:1");
        live.retarget("http://127.0.0.1:4242".into());
        assert_eq!(live.snapshot().target, "http://127.0.0.1:4242");
        assert!(live.snapshot().starting);
    }
}
