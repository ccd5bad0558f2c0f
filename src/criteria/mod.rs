//! Criteria: the rules a run is judged by, each with the figure that decided it.
//!
//! The run's own (the schedule kept, the target answered, no local resource ran out, nothing
//! dropped, the run completed) and a plan's per stage (error rates, dropped arrivals, each
//! request's SLA percentiles, its settle time left out). Each criterion carries its rule as
//! data beside its printed name. The summary gathers them and derives the exit code; this
//! module neither builds figures for reports nor prints anything.

use std::time::Duration;

pub mod windows;

use serde::{Deserialize, Serialize};

use crate::lateness::{self, Judgement, LAG_BOUND, Lateness};
use crate::plan::Plan;
use crate::record::{Cell, ErrorKind, Recording, Slot, StageCell};
use crate::recorder::{Recorder, UNRESPONSIVE_AFTER};
use crate::units::format_share;

/// Verdict is a criterion's outcome; only `Failed` sets a failing exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Not judged here: a shard's plan criteria are judged on the merged result, since one
    /// shard's share of the arrivals does not decide the whole run's (`metronome merge`).
    Deferred,
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
    /// The rule it judged, as data, so reports read it instead of parsing `name` (absent for
    /// the run's own checks that have no bound to show, and in summaries written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
}

/// Rule is what a criterion judged, as data: the figure and the bounds it was held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// The engine's late arrivals against the share the run's highest judged percentile leaves
    /// (see `lateness`): not valid when their chance is below `alpha`.
    ScheduleKept {
        on_time_bound_us: u64,
        tolerance: f64,
        chance: f64,
        alpha: f64,
    },
    /// A stage's error rate against its bounds.
    ErrorRate {
        value: f64,
        warn_above: Option<f64>,
        fail_above: Option<f64>,
    },
    /// A stage's dropped arrivals against the most it allows.
    Dropped { value: u64, max: u64 },
    /// One request's latency percentile in one stage, over its successful responses, against
    /// its SLA class's target; `value_us` is null when there was no success.
    Sla {
        class: String,
        percentile: String,
        target_us: u64,
        fail_above_us: u64,
        value_us: Option<u64>,
    },
    /// The watched target was there from the first sample to the last (`watch`); `gone_at`
    /// is when it was seen gone (RFC 3339).
    TargetRunning { gone_at: Option<String> },
    /// The watched target's mean memory in the last window against the first window's.
    MemoryGrowth {
        first_mean_bytes: Option<f64>,
        last_mean_bytes: Option<f64>,
        growth: Option<f64>,
        max_growth: f64,
    },
    /// A stage's error rate (`of` = "error_rate") or one request's percentile (`of` = "p95", of
    /// its SLA `class`) judged in every window of `window_s` sliding by `step_s`, the worst
    /// window deciding. `worst_value` is a fraction for an error rate, µs for a percentile, and
    /// null when not one response of the window succeeded.
    Window {
        of: String,
        class: Option<String>,
        window_s: f64,
        step_s: f64,
        windows: u64,
        failed_windows: u64,
        warned_windows: u64,
        worst_from_s: f64,
        worst_to_s: f64,
        worst_value: Option<f64>,
        warn_above: Option<f64>,
        fail_above: Option<f64>,
        abort: bool,
    },
    /// The watched target's highest memory sample against the most allowed.
    MaxMemory { peak_bytes: u64, max_bytes: u64 },
    /// The watched target's fitted memory trend, extrapolated over `horizon_s`, against the
    /// growth allowed: a warning, never a failure.
    MemoryTrend {
        slope_bytes_per_s: Option<f64>,
        horizon_s: f64,
        projected_growth: Option<f64>,
        max_growth: f64,
    },
}

pub(crate) fn criterion(name: &str, verdict: Verdict, detail: String, validity: bool) -> Criterion {
    Criterion {
        name: name.to_string(),
        verdict,
        detail,
        validity,
        scenario: None,
        stage: None,
        request: None,
        rule: None,
    }
}

/// plan_criteria judges every stage by its criteria, its settle time left out: error rate,
/// each request's percentiles against its SLA class, dropped arrivals.
pub(crate) fn plan_criteria(plan: &Plan, totals: &Recording) -> Vec<Criterion> {
    use crate::units::format_us;
    let mut out = Vec::new();
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        for (k, stage) in scenario.stages.iter().enumerate() {
            let Some(rules) = scenario.criteria.get(k) else {
                continue;
            };
            let at = |name: String, verdict, detail, request: Option<&str>, rule| Criterion {
                name,
                verdict,
                detail,
                validity: false,
                scenario: Some(scenario.name.clone()),
                stage: Some(stage.name.clone()),
                request: request.map(str::to_string),
                rule: Some(rule),
            };
            let (engine, cells) = totals.stage_totals(si, k, false);
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
                .filter_map(|(w, b)| b.map(|b| format!("{w} {}", format_share(b))))
                .collect();
                out.push(at(
                    format!("{}/{}: error rate", scenario.name, stage.name),
                    Verdict::judge(rate, rules.warn_error_rate, rules.max_error_rate),
                    format!(
                        "{} errors ({errors} of {requests}); {}",
                        format_share(rate),
                        bounds.join(", ")
                    ),
                    None,
                    Rule::ErrorRate {
                        value: rate,
                        warn_above: rules.warn_error_rate,
                        fail_above: rules.max_error_rate,
                    },
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
                    Rule::Dropped {
                        value: engine.dropped,
                        max,
                    },
                ));
            }
            for (ri, spec) in scenario.requests.iter().enumerate() {
                let Some(class_name) = &spec.sla_class else {
                    continue;
                };
                let Some(class) = plan.sla_classes.get(class_name) else {
                    continue;
                };
                let cell = totals.cell(si, ri, Slot::new(k, false));
                if cell.requests() == 0 {
                    continue;
                }
                for &q in &rules.sla_percentiles {
                    let Some(target) = class.target(q) else {
                        continue;
                    };
                    let target_us = target.as_micros() as u64;
                    let fail_above_us = (target_us as f64 * (1.0 + rules.sla_fail_over)) as u64;
                    let rule = |value_us| Rule::Sla {
                        class: class_name.clone(),
                        percentile: q.name().to_string(),
                        target_us,
                        fail_above_us,
                        value_us,
                    };
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
                            rule(None),
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
                            format_us(fail_above_us),
                            if lateness::reaches(late, latency.len(), q.value()) {
                                format!("; the stage's {late} late arrivals could make this percentile: it may be the engine's lateness")
                            } else {
                                String::new()
                            }
                        ),
                        Some(&spec.name),
                        rule(Some(value)),
                    ));
                }
            }
        }
    }
    out
}

/// defer_to_merge marks a shard's plan criteria as judged at merge, keeping this shard's own
/// figure in the detail: its share alone decides nothing of the whole run.
pub(crate) fn defer_to_merge(criteria: &mut [Criterion]) {
    for c in criteria {
        c.verdict = Verdict::Deferred;
        c.detail = format!("judged at merge; this shard alone: {}", c.detail);
    }
}

/// judge_lateness weighs the engine's late arrivals over the whole run and in every stage (its
/// settle time left out, as its criteria leave it out): the scope whose count is least likely
/// for an engine late no more often than the tolerance decides.
pub(crate) fn judge_lateness(
    plan: &Plan,
    totals: &Recording,
    whole: &Lateness,
    successes: u64,
) -> Judgement {
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
    let mut decided = *whole;
    for (si, scenario) in plan.scenarios.iter().enumerate() {
        for (k, stage) in scenario.stages.iter().enumerate() {
            let (e, _) = totals.stage_totals(si, k, false);
            let l = Lateness::of(&e.dispatch_lag, plan.limits.timeout);
            let c = l.chance(tolerance);
            if c < chance {
                chance = c;
                decided = l;
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
        scope_late: decided.late,
        scope_issued: decided.issued,
        percentiles_touched: lateness::touched(whole.late, successes),
    }
}

/// schedule_kept is the criterion on the engine's own lateness: not valid when its late
/// arrivals are beyond chance (see `lateness`), a warning that counts them when there are any.
pub(crate) fn schedule_kept(whole: &Lateness, j: &Judgement, timeout: Duration) -> Criterion {
    use crate::units::format_us;
    let kept = |verdict, detail| Criterion {
        rule: Some(Rule::ScheduleKept {
            on_time_bound_us: LAG_BOUND.as_micros() as u64,
            tolerance: j.tolerance,
            chance: j.chance,
            alpha: j.alpha,
        }),
        ..criterion("schedule kept", verdict, detail, true)
    };
    let mut detail = format!(
        "{} of issued arrivals dispatched within {} ms of their intended time",
        format_share(whole.on_time_share()),
        LAG_BOUND.as_millis()
    );
    if whole.late == 0 {
        detail.push_str(" (none late)");
        return kept(Verdict::Passed, detail);
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
        format_share(j.tolerance),
        j.scope
            .as_deref()
            .map(|s| format!(" in {s} ({} of its {} late)", j.scope_late, j.scope_issued))
            .unwrap_or_default(),
        lateness::chance_text(j.chance),
        lateness::chance_text(j.alpha),
    ));
    if fell_behind {
        detail.push_str(": the engine fell behind its schedule");
    }
    kept(
        if fell_behind {
            Verdict::Failed
        } else {
            Verdict::Warned
        },
        detail,
    )
}

/// engine_criteria judges the run itself: did the engine keep its schedule, did the target
/// answer, did anything local run out, was the run cut short.
pub(crate) fn engine_criteria(
    rec: &Recorder,
    engine: &StageCell,
    all: &Cell,
    preflight_answered: bool,
    interrupted_at: Option<Duration>,
    aborted: Option<&str>,
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
            if preflight_answered {
                format!("the target answered the preflight request, then none of the {requests} requests")
            } else {
                format!("the target never answered: all {requests} requests failed before a response arrived")
            },
            !preflight_answered,
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
    if let (Some(at), Some(why)) = (interrupted_at, aborted) {
        // Stopped by the plan's own rule: the run failed, and what it measured up to then holds.
        out.push(criterion(
            "run completed",
            Failed,
            format!(
                "stopped {:.1} s into the {:.1} s schedule by an abort = true criterion ({why}): results are partial, and valid up to then",
                at.as_secs_f64(),
                schedule.as_secs_f64()
            ),
            false,
        ));
    } else if let Some(at) = interrupted_at {
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
