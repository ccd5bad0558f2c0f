//! Summary: the run's results, built once from the recorder, then written by each report.
//!
//! It holds figures, verdicts and the exit code; it does not print or write anything. Its
//! serde form is the stable JSON schema `metronome.summary.v1` (docs/summary-schema.md).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::{self, ClockSource};
use crate::criteria::{
    criterion, defer_to_merge, engine_criteria, judge_lateness, plan_criteria, schedule_kept,
};
use crate::lateness::{Judgement, Lateness};
use crate::plan::Plan;
use crate::record::{Cell, ErrorCounts, ErrorKind, Hist, StageCell};
use crate::recorder::Recorder;
use crate::schedule::ShardOf;

/// The summary's criteria are the `criteria` module's.
pub use crate::criteria::{Criterion, Rule, Verdict};

/// SCHEMA names the JSON layout; it changes only when a field changes meaning or goes away.
pub const SCHEMA: &str = "metronome.summary.v1";

pub use crate::lateness::LAG_BOUND;

/// Percentiles summarises one histogram, in microseconds; null when it holds no value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
    pub p99_9: Option<u64>,
    pub p99_99: Option<u64>,
    pub max: Option<u64>,
    pub mean: Option<f64>,
    pub count: u64,
}

impl Percentiles {
    /// of reads a histogram.
    pub fn of(h: &Hist) -> Percentiles {
        let h = h.histogram();
        let count = h.len();
        let q = |q: f64| (count > 0).then(|| h.value_at_quantile(q));
        Percentiles {
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: (count > 0).then(|| h.max()),
            mean: (count > 0).then(|| h.mean()),
            count,
        }
    }
}

/// ByName holds the results of one (scenario, request name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ByName {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub path: String,
    pub sla_class: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub rate: f64,
    pub bytes_received: u64,
    pub latency_us: Percentiles,
    pub service_time_us: Percentiles,
    pub error_latency_us: Percentiles,
    /// The worst verdict of this request's SLA criteria over all stages (null when not judged).
    pub sla_verdict: Option<Verdict>,
    /// The first few distinct reasons its response checks failed.
    #[serde(default)]
    pub check_failures: Vec<String>,
}

/// ByStage holds the results of one stage of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ByStage {
    pub scenario: String,
    pub name: String,
    pub start_s: f64,
    pub duration_s: f64,
    pub from_rate: f64,
    pub to_rate: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub scheduled: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub dropped: u64,
    /// Issued arrivals of the stage dispatched more than `on_time_bound_us` late.
    #[serde(default)]
    pub late: u64,
    pub latency_us: Percentiles,
    pub dispatch_lag_us: Percentiles,
}

/// Summary is everything a report shows about a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub metronome_version: String,
    pub plan: String,
    pub target: String,
    pub seed: u64,
    pub threads: usize,
    pub connections: usize,
    pub max_in_flight: usize,
    pub timeout_s: f64,
    pub started_at: String,
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub completed_rate: f64,
    pub on_time_share: f64,
    pub on_time_bound_us: u64,
    /// The engine's late arrivals and what they could reach (`lateness` module).
    #[serde(default)]
    pub lateness: Judgement,
    pub scheduled: u64,
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub dropped: u64,
    pub percentiles_are_lower_bounds: bool,
    pub connections_opened_before_start: usize,
    pub new_connections: u64,
    pub bytes_received: u64,
    pub clamped_values: u64,
    /// CPU time the engine's worker threads used (not the recorder's, nor an in-process target's).
    #[serde(default)]
    pub engine_cpu_s: f64,
    /// engine_cpu_s per scheduled arrival, in µs.
    #[serde(default)]
    pub engine_cpu_us_per_request: f64,
    /// CPU time the run's own thread used from the start to the end of the drain (the
    /// recorder merging handovers and closing seconds, the progress line, the streamed files,
    /// the live view), per scheduled arrival, in µs; 0 on a merged result.
    #[serde(default)]
    pub recorder_cpu_us_per_request: f64,
    /// How long the worker threads were ready to run but waited for a CPU the machine gave to
    /// something else: the part of dispatch lag no engine could avoid. Absent where the kernel
    /// does not say (no `/proc/thread-self/schedstat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_cpu_wait_s: Option<f64>,
    /// How workers waited for intended times.
    #[serde(default)]
    pub pacing: crate::plan::Pacing,
    /// The HTTP version asked for.
    #[serde(default)]
    pub http: crate::plan::HttpVersion,
    /// Whether the target was reached over TLS, and whether its certificate was verified.
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub tls_verified: bool,
    /// TLS handshakes of connections opened for arrivals (count in `count`).
    #[serde(default)]
    pub tls_handshake_us: Percentiles,
    pub passed: bool,
    pub valid: bool,
    pub partial: bool,
    pub exit_code: i32,
    pub latency_us: Percentiles,
    pub service_time_us: Percentiles,
    pub queue_wait_us: Percentiles,
    pub connect_us: Percentiles,
    pub dispatch_lag_us: Percentiles,
    pub error_latency_us: Percentiles,
    pub by_name: Vec<ByName>,
    pub by_stage: Vec<ByStage>,
    pub criteria: Vec<Criterion>,
    /// The plan as run, as `metronome check` describes it (header values never included).
    #[serde(default)]
    pub plan_description: String,
    /// The share of the schedule this run issued (`--shard I/N`); absent for the whole of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOf>,
    /// When the schedule started, what was asked for, and the clock it was read from.
    #[serde(default)]
    pub start: Start,
    /// Outputs that could not be written while the run went on (a full disk, say): the run went
    /// on and this summary keeps every figure; the files named stop where they failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results_incomplete: Vec<String>,
    /// Set on a merged result (`metronome merge`): the shards it was merged from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
    /// Why an `abort = true` criterion stopped the run early; absent when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// The rate changes made to the plan (`--steer`, or on the live page), in time order; the
    /// stages in `by_stage` and `plan_description` have them. Absent when none were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steering: Vec<crate::steer::RateChange>,
    /// What the watch saw of the target (`[watch]`, `--watch-*`); absent when nothing was
    /// watched, and on a merged result (samples are not merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::WatchSummary>,
}

/// Start is when a run's schedule started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// The start instant (RFC 3339, µs).
    pub at: String,
    /// The instant `--start-at` asked for, if it did.
    pub requested: Option<String>,
    /// Seconds after `requested` the engine got going (0 when it was ready in time).
    #[serde(default)]
    pub late_s: f64,
    /// The clock both were read from.
    pub clock: ClockSource,
}

/// Merged says which shards a merged result was made of, and how each generator did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// How many shards the schedule was split into.
    pub shard_count: u64,
    /// Latest start instant minus earliest, in seconds: how well the shards lined up.
    pub start_spread_s: f64,
    /// One entry per shard, by index.
    pub shards: Vec<ShardHealth>,
}

/// ShardHealth is one shard's engine figures, so one bad generator machine stands out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardHealth {
    pub index: u64,
    /// The output directory it was read from.
    pub dir: String,
    pub started_at: String,
    /// Its start instant minus the earliest shard's, in seconds.
    pub start_offset_s: f64,
    /// Seconds after its start instant it got going (its overdue arrivals went at once).
    #[serde(default)]
    pub started_late_s: f64,
    pub clock: ClockSource,
    pub threads: usize,
    pub connections: usize,
    pub scheduled: u64,
    pub dropped: u64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub on_time_share: f64,
    pub late: u64,
    pub dispatch_lag_us: Percentiles,
    pub requests: u64,
    pub errors: u64,
    pub valid: bool,
    pub partial: bool,
    pub engine_cpu_us_per_request: f64,
}

/// RunFacts are what the run knows beyond the recorder.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Wall-clock time of the schedule's start.
    pub started_at: SystemTime,
    /// From the start until every worker drained.
    pub elapsed: Duration,
    /// Offset from the start at which the run was told to stop, if it was interrupted.
    pub interrupted_at: Option<Duration>,
    /// Connections open before the first arrival.
    pub connections_opened: usize,
    /// Whether a preflight request got an answer before the schedule started.
    pub preflight_answered: bool,
    /// The start instant asked for (`--start-at`), if one was.
    pub start_requested: Option<SystemTime>,
    /// How long after that instant the engine got going (zero when it was ready in time): the
    /// arrivals due by then were issued at once, late by up to this much.
    pub started_late: Duration,
    /// The clock the start instant was read from.
    pub clock: crate::clock::ClockSource,
    /// Why an `abort = true` criterion stopped the run (then `interrupted_at` is when).
    pub aborted: Option<String>,
}

/// verdicts derives validity, the verdict and the exit code from the criteria: a failed
/// validity criterion makes the run not valid (3), any other failure fails it (1).
fn verdicts(criteria: &[Criterion]) -> (bool, bool, i32) {
    let valid = !criteria
        .iter()
        .any(|c| c.validity && c.verdict == Verdict::Failed);
    let passed = !criteria.iter().any(|c| c.verdict == Verdict::Failed);
    let exit_code = if !valid {
        3
    } else if !passed {
        1
    } else {
        0
    };
    (valid, passed, exit_code)
}

impl Summary {
    /// adopt adds criteria judged elsewhere (a merged run's shards' windows) and derives the
    /// verdict again.
    pub fn adopt(&mut self, extra: impl IntoIterator<Item = Criterion>) {
        self.criteria.extend(extra);
        (self.valid, self.passed, self.exit_code) = verdicts(&self.criteria);
    }
}

fn error_kinds(e: &ErrorCounts) -> BTreeMap<String, u64> {
    ErrorKind::ALL
        .iter()
        .filter(|&&k| e.get(k) > 0)
        .map(|&k| (k.name().to_string(), e.get(k)))
        .collect()
}

fn rate(n: u64, span: Duration) -> f64 {
    if span.is_zero() {
        0.0
    } else {
        n as f64 / span.as_secs_f64()
    }
}

/// covered is how much of [start, start + len) the run got through before `stop`.
fn covered(start: Duration, len: Duration, stop: Option<Duration>) -> Duration {
    match stop {
        None => len,
        Some(s) => s.saturating_sub(start).min(len),
    }
}

/// build makes the summary of a finished (or interrupted) run; a watch the plan has is not
/// judged (a merge has no samples).
pub fn build(plan: &Plan, rec: &Recorder, facts: &RunFacts) -> Summary {
    build_inner(plan, rec, facts, None)
}

/// build_watched makes the summary of a run that sampled its target as the plan's `watch`
/// said (`watch`: the samples; none when the plan's watch named no target).
pub fn build_watched(
    plan: &Plan,
    rec: &Recorder,
    facts: &RunFacts,
    watch: Option<&crate::watch::WatchLog>,
) -> Summary {
    build_inner(plan, rec, facts, Some(watch))
}

/// per_arrival_us is CPU time `cpu` per scheduled arrival, in µs (0 when none was scheduled).
fn per_arrival_us(cpu: Duration, scheduled: u64) -> f64 {
    if scheduled == 0 {
        0.0
    } else {
        cpu.as_secs_f64() * 1e6 / scheduled as f64
    }
}

fn build_inner(
    plan: &Plan,
    rec: &Recorder,
    facts: &RunFacts,
    watch_log: Option<Option<&crate::watch::WatchLog>>,
) -> Summary {
    let totals = &rec.totals;
    let layout = totals.layout().clone();
    let (engine, all): (StageCell, Cell) = totals.totals();

    let mut by_name = Vec::new();
    let mut by_stage = Vec::new();
    let mut expected = 0.0;
    let mut duration = Duration::ZERO;
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        let schedule = scenario.schedule(plan.seed, si as u64);
        duration = duration.max(schedule.duration());
        expected += plan.shard.share(schedule.expected_arrivals());
        let span = covered(Duration::ZERO, schedule.duration(), facts.interrupted_at);
        for (ri, spec) in scenario.requests.iter().enumerate() {
            let mut c = Cell::default();
            for k in layout.slots(si) {
                c.merge(totals.cell(si, ri, k));
            }
            by_name.push(ByName {
                scenario: scenario.name.clone(),
                name: spec.name.clone(),
                method: spec.method.to_string(),
                path: spec.path.source().to_string(),
                sla_class: spec.sla_class.clone(),
                requests: c.requests(),
                errors: c.errors.total(),
                error_kinds: error_kinds(&c.errors),
                rate: rate(c.requests(), span),
                bytes_received: c.bytes,
                latency_us: Percentiles::of(&c.latency),
                service_time_us: Percentiles::of(&c.service_time),
                error_latency_us: Percentiles::of(&c.error_latency),
                sla_verdict: None,
                check_failures: c.check_failures.clone(),
            });
        }
        for (k, stage) in scenario.stages.iter().enumerate() {
            let (e, c) = totals.stage_totals(si, k, true);
            let start = schedule.stage_start(k);
            let span = covered(start, stage.duration, facts.interrupted_at);
            by_stage.push(ByStage {
                scenario: scenario.name.clone(),
                name: stage.name.clone(),
                start_s: start.as_secs_f64(),
                duration_s: stage.duration.as_secs_f64(),
                from_rate: stage.from,
                to_rate: stage.to,
                target_rate: if stage.duration.is_zero() {
                    0.0
                } else {
                    plan.shard.share(stage.arrivals()) / stage.duration.as_secs_f64()
                },
                achieved_rate: rate(e.scheduled - e.dropped, span),
                scheduled: e.scheduled,
                requests: c.requests(),
                errors: c.errors.total(),
                error_rate: if c.requests() == 0 {
                    0.0
                } else {
                    c.errors.total() as f64 / c.requests() as f64
                },
                dropped: e.dropped,
                late: Lateness::of(&e.dispatch_lag, plan.limits.timeout).late,
                latency_us: Percentiles::of(&c.latency),
                dispatch_lag_us: Percentiles::of(&e.dispatch_lag),
            });
        }
    }

    let span = covered(Duration::ZERO, duration, facts.interrupted_at);
    let issued = engine.scheduled - engine.dropped;
    // Over the arrivals the engine issued: those dropped have no dispatch lag, and how many
    // there were is judged apart.
    let whole = Lateness::of(&engine.dispatch_lag, plan.limits.timeout);
    let on_time_share = whole.on_time_share();
    let judgement = judge_lateness(plan, totals, &whole, all.latency.count());
    let mut criteria = vec![schedule_kept(&whole, &judgement, plan.limits.timeout)];
    criteria.extend(engine_criteria(
        rec,
        &engine,
        &all,
        facts.preflight_answered,
        facts.interrupted_at,
        facts.aborted.as_deref(),
        duration,
    ));
    if plan.target.transport.tls && plan.target.transport.insecure {
        criteria.push(criterion(
            "TLS certificates verified",
            Verdict::Warned,
            "verification was OFF (insecure): the target's identity was not checked".into(),
            false,
        ));
    }
    let mut judged_by_plan = plan_criteria(plan, totals);
    if !plan.shard.is_whole() {
        defer_to_merge(&mut judged_by_plan);
    }
    criteria.extend(judged_by_plan);
    // A window is judged on what this process saw: a shard's share of a window estimates the
    // whole's percentile and error rate, so its verdict stands (the merge carries it over).
    if let Some(w) = &rec.windows {
        criteria.extend(w.criteria(facts.started_at));
    }
    // The target's memory is the same whichever shard watches it: judged here, not deferred.
    let watch = match (&plan.watch, watch_log) {
        (Some(w), Some(log)) => {
            let (watched, judged) = crate::watch::criteria::judge(w, log, duration);
            criteria.extend(judged);
            Some(watched)
        }
        _ => None,
    };
    for n in &mut by_name {
        n.sla_verdict = criteria
            .iter()
            .filter(|c| {
                c.request.as_deref() == Some(n.name.as_str())
                    && c.scenario.as_deref() == Some(n.scenario.as_str())
            })
            .map(|c| c.verdict)
            .max();
    }
    let (valid, passed, exit_code) = verdicts(&criteria);
    let requests = all.requests();
    Summary {
        schema: SCHEMA.to_string(),
        metronome_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: plan.name.clone(),
        target: plan.target.url(),
        seed: plan.seed,
        threads: plan.worker_threads(),
        connections: plan.limits.connections,
        max_in_flight: plan.limits.max_in_flight,
        timeout_s: plan.limits.timeout.as_secs_f64(),
        started_at: humantime::format_rfc3339_millis(facts.started_at).to_string(),
        duration_s: duration.as_secs_f64(),
        elapsed_s: facts.elapsed.as_secs_f64(),
        target_rate: if duration.is_zero() {
            0.0
        } else {
            expected / duration.as_secs_f64()
        },
        achieved_rate: rate(issued, span),
        // Over the run's length, which is at least the schedule's unless it was interrupted: a
        // drain that ends before the schedule does (its last arrival is due just before the
        // end) would otherwise inflate the rate of a short run.
        completed_rate: rate(
            requests,
            match facts.interrupted_at {
                Some(_) => facts.elapsed,
                None => facts.elapsed.max(duration),
            },
        ),
        on_time_share,
        on_time_bound_us: LAG_BOUND.as_micros() as u64,
        lateness: judgement,
        scheduled: engine.scheduled,
        requests,
        successes: all.latency.count(),
        errors: all.errors.total(),
        error_kinds: error_kinds(&all.errors),
        dropped: engine.dropped,
        percentiles_are_lower_bounds: engine.dropped > 0,
        connections_opened_before_start: facts.connections_opened,
        new_connections: engine.new_connections,
        bytes_received: all.bytes,
        clamped_values: totals.clamped,
        engine_cpu_s: rec.engine_cpu.as_secs_f64(),
        engine_cpu_us_per_request: per_arrival_us(rec.engine_cpu, engine.scheduled),
        engine_cpu_wait_s: rec.engine_cpu_wait.map(|w| w.as_secs_f64()),
        recorder_cpu_us_per_request: per_arrival_us(rec.recorder_cpu, engine.scheduled),
        pacing: plan.pacing,
        http: plan.target.transport.http,
        tls: plan.target.transport.tls,
        tls_verified: plan.target.transport.tls && !plan.target.transport.insecure,
        tls_handshake_us: Percentiles::of(&engine.tls_handshake),
        passed,
        valid,
        partial: facts.interrupted_at.is_some(),
        exit_code,
        latency_us: Percentiles::of(&all.latency),
        service_time_us: Percentiles::of(&all.service_time),
        queue_wait_us: Percentiles::of(&engine.queue_wait),
        connect_us: Percentiles::of(&engine.connect),
        dispatch_lag_us: Percentiles::of(&engine.dispatch_lag),
        error_latency_us: Percentiles::of(&all.error_latency),
        by_name,
        by_stage,
        criteria,
        plan_description: crate::check::describe(plan, true),
        steering: plan.steering.clone(),
        shard: (!plan.shard.is_whole()).then_some(plan.shard),
        start: Start {
            at: clock::format(facts.started_at),
            requested: facts.start_requested.map(clock::format),
            late_s: facts.started_late.as_secs_f64(),
            clock: facts.clock.clone(),
        },
        results_incomplete: Vec::new(),
        merged: None,
        aborted: facts.aborted.clone(),
        watch,
    }
}
