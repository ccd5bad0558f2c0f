//! Summary: the run's results, built once from the recorder, then written by each report.
//!
//! It holds figures, verdicts and the exit code; it does not print or write anything. Its
//! serde form is the stable JSON schema `metronome.summary.v1` (docs/summary-schema.md).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::lateness::{self, Judgement, Lateness};
use crate::plan::Plan;
use crate::record::{Cell, ErrorCounts, ErrorKind, Hist, Recording, StageCell, slot};
use crate::recorder::{Recorder, UNRESPONSIVE_AFTER};

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

/// Verdict is a criterion's outcome; only `Failed` sets a failing exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Warned,
    Failed,
}

impl Verdict {
    /// judge compares a figure with the bound above which it warns and the bound above which it
    /// fails.
    pub fn judge(value: f64, warn_above: Option<f64>, fail_above: Option<f64>) -> Verdict {
        if fail_above.is_some_and(|f| value > f) {
            Verdict::Failed
        } else if warn_above.is_some_and(|w| value > w) {
            Verdict::Warned
        } else {
            Verdict::Passed
        }
    }
}

/// Criterion is one judged rule with the figure that decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    /// True when failing this criterion makes the run not valid (exit 3) rather than failed.
    pub validity: bool,
    /// The scenario it judges, for criteria of a stage.
    pub scenario: Option<String>,
    /// The stage it judges, for criteria of a stage.
    pub stage: Option<String>,
    /// The request name it judges, for SLA criteria.
    pub request: Option<String>,
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

/// build makes the summary of a finished (or interrupted) run.
pub fn build(plan: &Plan, rec: &Recorder, facts: &RunFacts) -> Summary {
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
        expected += schedule.expected_arrivals();
        let span = covered(Duration::ZERO, schedule.duration(), facts.interrupted_at);
        for (ri, spec) in scenario.requests.iter().enumerate() {
            let mut c = Cell::default();
            for k in 0..layout.stages(si) {
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
            let (e, c) = stage_totals(totals, si, k, true);
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
                    stage.arrivals() / stage.duration.as_secs_f64()
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
    criteria.extend(engine_criteria(rec, &engine, &all, facts, duration));
    if plan.target.transport.tls && plan.target.transport.insecure {
        criteria.push(criterion(
            "TLS certificates verified",
            Verdict::Warned,
            "verification was OFF (insecure): the target's identity was not checked".into(),
            false,
        ));
    }
    criteria.extend(plan_criteria(plan, totals));
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
        engine_cpu_us_per_request: if engine.scheduled == 0 {
            0.0
        } else {
            rec.engine_cpu.as_secs_f64() * 1e6 / engine.scheduled as f64
        },
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
    }
}

/// stage_totals merges a stage's engine figures and outcomes over all its requests; with
/// `settle` false, its settle time is left out.
pub fn stage_totals(
    totals: &Recording,
    scenario: usize,
    stage: usize,
    settle: bool,
) -> (StageCell, Cell) {
    let layout = totals.layout();
    let mut e = StageCell::default();
    let mut c = Cell::default();
    for settling in [false, true] {
        if settling && !settle {
            continue;
        }
        let k = slot(stage, settling);
        e.merge(totals.stage(scenario, k));
        for r in 0..layout.requests(scenario) {
            c.merge(totals.cell(scenario, r, k));
        }
    }
    (e, c)
}

fn criterion(name: &str, verdict: Verdict, detail: String, validity: bool) -> Criterion {
    Criterion {
        name: name.to_string(),
        verdict,
        detail,
        validity,
        scenario: None,
        stage: None,
        request: None,
    }
}

fn percent(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// plan_criteria judges every stage by its criteria, its settle time left out: error rate,
/// each request's percentiles against its SLA class, dropped arrivals.
fn plan_criteria(plan: &Plan, totals: &Recording) -> Vec<Criterion> {
    use crate::units::format_us;
    let mut out = Vec::new();
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        for (k, stage) in scenario.stages.iter().enumerate() {
            let Some(rules) = scenario.criteria.get(k) else {
                continue;
            };
            let at = |name: String, verdict, detail, request: Option<&str>| Criterion {
                name,
                verdict,
                detail,
                validity: false,
                scenario: Some(scenario.name.clone()),
                stage: Some(stage.name.clone()),
                request: request.map(str::to_string),
            };
            let (engine, cells) = stage_totals(totals, si, k, false);
            // Which endpoint an arrival asks for is drawn independently of when the engine got
            // to it, but not knowing how the stage's late arrivals split, count them all.
            let late = Lateness::of(&engine.dispatch_lag, plan.limits.timeout).late;
            let requests = cells.requests();
            if (rules.warn_error_rate.is_some() || rules.max_error_rate.is_some()) && requests > 0 {
                let errors = cells.errors.total();
                let rate = errors as f64 / requests as f64;
                let bounds: Vec<String> = [
                    ("warn above", rules.warn_error_rate),
                    ("fail above", rules.max_error_rate),
                ]
                .iter()
                .filter_map(|(w, b)| b.map(|b| format!("{w} {}", percent(b))))
                .collect();
                out.push(at(
                    format!("{}/{}: error rate", scenario.name, stage.name),
                    Verdict::judge(rate, rules.warn_error_rate, rules.max_error_rate),
                    format!(
                        "{} errors ({errors} of {requests}); {}",
                        percent(rate),
                        bounds.join(", ")
                    ),
                    None,
                ));
            }
            if let Some(max) = rules.max_dropped {
                out.push(at(
                    format!("{}/{}: dropped", scenario.name, stage.name),
                    if engine.dropped > max {
                        Verdict::Failed
                    } else {
                        Verdict::Passed
                    },
                    format!("{} arrivals dropped; at most {max} allowed", engine.dropped),
                    None,
                ));
            }
            for (ri, spec) in scenario.requests.iter().enumerate() {
                let Some(class_name) = &spec.sla_class else {
                    continue;
                };
                let Some(class) = plan.sla_classes.get(class_name) else {
                    continue;
                };
                let cell = totals.cell(si, ri, slot(k, false));
                if cell.requests() == 0 {
                    continue;
                }
                for &q in &rules.sla_percentiles {
                    let Some(target) = class.target(q) else {
                        continue;
                    };
                    let target_us = target.as_micros() as u64;
                    let name = format!(
                        "{}/{}/{}: {} ≤ {} ({class_name})",
                        scenario.name,
                        stage.name,
                        spec.name,
                        q.name(),
                        format_us(target_us)
                    );
                    let latency = cell.latency.histogram();
                    if latency.is_empty() {
                        // Not one success: the endpoint kept no service level at all, however
                        // small its share of the stage's error rate.
                        out.push(at(
                            name,
                            Verdict::Failed,
                            format!(
                                "none of its {} requests succeeded, so none met the target",
                                cell.requests()
                            ),
                            Some(&spec.name),
                        ));
                        continue;
                    }
                    let value = latency.value_at_quantile(q.value());
                    let t = target_us as f64;
                    out.push(at(
                        name,
                        Verdict::judge(
                            value as f64,
                            Some(t),
                            Some(t * (1.0 + rules.sla_fail_over)),
                        ),
                        format!(
                            "{} {} over {} successful responses; warn above {}, fail above {}{}",
                            q.name(),
                            format_us(value),
                            latency.len(),
                            format_us(target_us),
                            format_us((t * (1.0 + rules.sla_fail_over)) as u64),
                            if lateness::reaches(late, latency.len(), q.value()) {
                                format!("; the stage's {late} late arrivals could make this percentile: it may be the engine's lateness")
                            } else {
                                String::new()
                            }
                        ),
                        Some(&spec.name),
                    ));
                }
            }
        }
    }
    out
}

/// judge_lateness weighs the engine's late arrivals over the whole run and in every stage (its
/// settle time left out, as its criteria leave it out): the scope whose count is least likely
/// for an engine late no more often than the tolerance decides.
fn judge_lateness(plan: &Plan, totals: &Recording, whole: &Lateness, successes: u64) -> Judgement {
    let highest = plan
        .scenarios
        .iter()
        .flat_map(|s| &s.criteria)
        .flat_map(|c| &c.sla_percentiles)
        .map(|q| q.value())
        .fold(0.0, f64::max);
    let tolerance = lateness::tolerance(highest);
    let mut scope = None;
    let mut chance = whole.chance(tolerance);
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        for (k, stage) in scenario.stages.iter().enumerate() {
            let (e, _) = stage_totals(totals, si, k, false);
            let c = Lateness::of(&e.dispatch_lag, plan.limits.timeout).chance(tolerance);
            if c < chance {
                chance = c;
                scope = Some(format!("{}/{}", scenario.name, stage.name));
            }
        }
    }
    Judgement {
        late: whole.late,
        past_timeout: whole.past_timeout,
        max_lag_us: whole.max_lag_us,
        tolerance,
        chance,
        alpha: lateness::ALPHA,
        scope,
        percentiles_touched: lateness::touched(whole.late, successes),
    }
}

/// schedule_kept is the criterion on the engine's own lateness: not valid when its late
/// arrivals are beyond chance (see `lateness`), a warning that counts them when there are any.
fn schedule_kept(whole: &Lateness, j: &Judgement, timeout: Duration) -> Criterion {
    use crate::units::format_us;
    let mut detail = format!(
        "{} of issued arrivals dispatched within {} ms of their intended time",
        percent(whole.on_time_share()),
        LAG_BOUND.as_millis()
    );
    if whole.late == 0 {
        detail.push_str(" (none late)");
        return criterion("schedule kept", Verdict::Passed, detail, true);
    }
    detail.push_str(&format!(
        ": {} of {} late, the latest by {}",
        whole.late,
        whole.issued,
        format_us(whole.max_lag_us)
    ));
    if whole.past_timeout > 0 {
        detail.push_str(&format!(
            ", {} of them later than the {} request timeout",
            whole.past_timeout,
            format_us(timeout.as_micros().min(u64::MAX as u128) as u64)
        ));
    }
    if let Some(first) = j.percentiles_touched.first() {
        detail.push_str(&format!(
            "; latency from {} up may be the engine's lateness, not the target's",
            first.replace('_', ".")
        ));
    }
    let fell_behind = j.chance < j.alpha;
    let highest = ((1.0 - j.tolerance) * 100.0 * 1e4).round() / 1e4;
    detail.push_str(&format!(
        ". An engine late on {} of its arrivals (the tail above p{highest}, the highest percentile judged) would be late this often{} with a chance of {}; the run is not valid below {}",
        percent(j.tolerance),
        j.scope.as_deref().map(|s| format!(" in {s}")).unwrap_or_default(),
        lateness::chance_text(j.chance),
        lateness::chance_text(j.alpha),
    ));
    if fell_behind {
        detail.push_str(": the engine fell behind its schedule");
    }
    criterion(
        "schedule kept",
        if fell_behind {
            Verdict::Failed
        } else {
            Verdict::Warned
        },
        detail,
        true,
    )
}

/// engine_criteria judges the run itself: did the engine keep its schedule, did the target
/// answer, did anything local run out, was the run cut short.
fn engine_criteria(
    rec: &Recorder,
    engine: &StageCell,
    all: &Cell,
    facts: &RunFacts,
    schedule: Duration,
) -> Vec<Criterion> {
    use Verdict::*;
    let mut out = Vec::new();
    let requests = all.requests();
    match rec.longest_silence() {
        // Never answered at all makes the run not valid; having answered the preflight and then
        // nothing is a target that stopped answering: a failure.
        None if requests > 0 => out.push(criterion(
            "target answered",
            Failed,
            if facts.preflight_answered {
                format!("the target answered the preflight request, then none of the {requests} requests")
            } else {
                format!("the target never answered: all {requests} requests failed before a response arrived")
            },
            !facts.preflight_answered,
        )),
        None => {}
        Some(s) if s.span >= UNRESPONSIVE_AFTER => out.push(criterion(
            "target answered",
            Failed,
            if s.from_start {
                format!(
                    "the target answered nothing for the first {:.0} s of the run while {} arrivals were issued",
                    s.span.as_secs_f64(),
                    s.arrivals
                )
            } else {
                format!(
                    "the target stopped answering for {:.0} s while {} arrivals were issued",
                    s.span.as_secs_f64(),
                    s.arrivals
                )
            },
            false,
        )),
        Some(_) => out.push(criterion(
            "target answered",
            Passed,
            format!("no silence of {} s or more", UNRESPONSIVE_AFTER.as_secs()),
            false,
        )),
    }
    let local = all.errors.get(ErrorKind::LocalResource);
    out.push(criterion(
        "no local resource errors",
        if local == 0 { Passed } else { Failed },
        if local == 0 {
            "the generator never ran out of file descriptors, ports or memory".into()
        } else {
            format!("{local} arrivals failed because this machine ran out of file descriptors, ports or memory: the generator, not the target, failed")
        },
        true,
    ));
    out.push(criterion(
        "no arrivals dropped",
        if engine.dropped == 0 { Passed } else { Warned },
        if engine.dropped == 0 {
            "every scheduled arrival was issued".into()
        } else {
            format!(
                "{} of {} arrivals were dropped (in-flight bound reached, or the run ended before a connection was free): percentiles are lower bounds",
                engine.dropped, engine.scheduled
            )
        },
        false,
    ));
    if let Some(at) = facts.interrupted_at {
        out.push(criterion(
            "run completed",
            Failed,
            if at > schedule {
                // Every arrival had come due: what the interrupt cut short was the wait for
                // responses in flight.
                format!(
                    "interrupted {:.1} s into the run, while waiting for responses after the {:.1} s schedule: results are partial",
                    at.as_secs_f64(),
                    schedule.as_secs_f64()
                )
            } else {
                format!(
                    "interrupted {:.1} s into the {:.1} s schedule: results are partial",
                    at.as_secs_f64(),
                    schedule.as_secs_f64()
                )
            },
            true,
        ));
    }
    out
}
