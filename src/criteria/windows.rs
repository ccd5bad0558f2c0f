//! Windows: a stage's error rate and its requests' SLA percentiles judged in every window of a
//! set length as the run goes, so a service that degrades in hour 20 fails a 24 h stage whose
//! whole-stage figures still pass, and an `abort = true` criterion can stop the run early.
//!
//! Fed the recorder's closed seconds. A window slides by a fifth of its length, in whole
//! seconds; it is judged on what completed within it (responses of the stage's arrivals, its
//! settle time left out). Completions after the stage's schedule ended (the drain) join its last
//! window. A window "clearly" failed when the responses beyond its fail bound are too many for
//! a target that met the bound, at the same chance `lateness` uses (`ALPHA`): one slow response
//! in a small window never stops a run.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::criteria::{Criterion, Rule, Verdict};
use crate::lateness::{ALPHA, binomial_tail};
use crate::plan::{Plan, Quantile, Window};
use crate::record::{Hist, Recording, Slot};
use crate::units::{format_share, format_us};

/// STEPS is how many steps a window slides by over its own length.
const STEPS: u64 = 5;

/// Windows holds every windowed criterion of a plan, and the first clear failure of one that
/// aborts.
pub struct Windows {
    rules: Vec<Windowed>,
    /// The first clear failure of an `abort = true` criterion: why the run should stop.
    pub abort: Option<Abort>,
}

/// Abort is why an `abort = true` criterion stops the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Abort {
    /// When the deciding window closed, in seconds from the start.
    pub at_s: f64,
    /// The criterion's name, its window and figure.
    pub reason: String,
}

/// What is judged: a stage's error rate, or one request's percentile against its class.
#[derive(Debug, Clone)]
enum Judge {
    ErrorRate {
        warn: Option<f64>,
        fail: Option<f64>,
    },
    Sla {
        request: usize,
        class: String,
        quantile: Quantile,
        target_us: u64,
        fail_above_us: u64,
    },
}

/// Step is what one stretch of seconds recorded.
#[derive(Debug, Clone, Default)]
struct Step {
    from_s: f64,
    to_s: f64,
    seconds: u64,
    requests: u64,
    errors: u64,
    latency: Hist,
}

/// Judged is one window's figure and verdict.
#[derive(Debug, Clone)]
struct Judged {
    from_s: f64,
    to_s: f64,
    /// Requests (error rate) or successful responses (SLA) it was judged on.
    count: u64,
    /// Errors, for an error rate.
    errors: u64,
    /// The error rate, or the percentile in µs; None when not one response succeeded.
    value: Option<f64>,
    verdict: Verdict,
    clear: bool,
}

impl Judged {
    /// worse says whether `self` is a worse window than `other`.
    fn worse(&self, other: &Judged) -> bool {
        (
            self.verdict,
            self.value.is_none(),
            self.value.unwrap_or(0.0),
        ) > (
            other.verdict,
            other.value.is_none(),
            other.value.unwrap_or(0.0),
        )
    }
}

struct Windowed {
    scenario: usize,
    scenario_name: String,
    stage: usize,
    stage_name: String,
    request_name: Option<String>,
    judge: Judge,
    window: Window,
    /// The window and its step in whole seconds, as the recorder closes them.
    span_s: u64,
    step_s: u64,
    /// When the stage's schedule ends, in seconds from the start: later completions join the
    /// last window.
    stage_end_s: f64,
    steps: VecDeque<Step>,
    current: Option<Step>,
    /// Whether the steps held now were judged as a window.
    judged_now: bool,
    windows: u64,
    failed: u64,
    warned: u64,
    worst: Option<Judged>,
}

impl Windows {
    /// of finds the plan's windowed criteria; None when it has none.
    pub fn of(plan: &Plan) -> Option<Windows> {
        let mut rules = Vec::new();
        for (si, scenario) in plan.scenarios.iter().enumerate() {
            let schedule = scenario.schedule(plan.seed, si as u64);
            for (k, stage) in scenario.stages.iter().enumerate() {
                let Some(c) = scenario.criteria.get(k) else {
                    continue;
                };
                let end = schedule.stage_start(k) + stage.duration;
                let mut add = |judge, window: Window, request_name: Option<&str>| {
                    let span_s = window.length.as_secs_f64().ceil().max(1.0) as u64;
                    rules.push(Windowed {
                        scenario: si,
                        scenario_name: scenario.name.clone(),
                        stage: k,
                        stage_name: stage.name.clone(),
                        request_name: request_name.map(str::to_string),
                        judge,
                        window,
                        span_s,
                        step_s: (span_s / STEPS).max(1),
                        stage_end_s: end.as_secs_f64(),
                        steps: VecDeque::new(),
                        current: None,
                        judged_now: false,
                        windows: 0,
                        failed: 0,
                        warned: 0,
                        worst: None,
                    });
                };
                if let Some(w) = c.error_window
                    && (c.warn_error_rate.is_some() || c.max_error_rate.is_some())
                {
                    let judge = Judge::ErrorRate {
                        warn: c.warn_error_rate,
                        fail: c.max_error_rate,
                    };
                    add(judge, w, None);
                }
                let Some(w) = c.sla_window else {
                    continue;
                };
                for (ri, spec) in scenario.requests.iter().enumerate() {
                    let Some(class_name) = &spec.sla_class else {
                        continue;
                    };
                    let Some(class) = plan.sla_classes.get(class_name) else {
                        continue;
                    };
                    for &q in &c.sla_percentiles {
                        let Some(target) = class.target(q) else {
                            continue;
                        };
                        let target_us = target.as_micros() as u64;
                        let judge = Judge::Sla {
                            request: ri,
                            class: class_name.clone(),
                            quantile: q,
                            target_us,
                            fail_above_us: (target_us as f64 * (1.0 + c.sla_fail_over)) as u64,
                        };
                        add(judge, w, Some(&spec.name));
                    }
                }
            }
        }
        (!rules.is_empty()).then_some(Windows { rules, abort: None })
    }

    /// steered follows a change of the plan's stages (see `steer`): a rule whose stage is still
    /// there carries on, to that stage's end now; the stages added start with fresh rules, and
    /// the rules of stages dropped (none of them had begun) go.
    pub fn steered(&mut self, plan: &Plan) {
        let fresh = Windows::of(plan).map(|w| w.rules).unwrap_or_default();
        let mut rules = Vec::with_capacity(fresh.len());
        for f in fresh {
            let kept = (self.rules.iter())
                .position(|r| (r.scenario, r.stage, r.name()) == (f.scenario, f.stage, f.name()));
            rules.push(match kept {
                Some(i) => Windowed {
                    stage_end_s: f.stage_end_s,
                    ..self.rules.swap_remove(i)
                },
                None => f,
            });
        }
        self.rules = rules;
    }

    /// observe takes one closed second [start, end) of the run and what completed in it.
    pub fn observe(&mut self, start: Duration, end: Duration, interval: &Recording) {
        for rule in &mut self.rules {
            if let Some(judged) = rule.observe(start, end, interval)
                && rule.window.abort
                && judged.clear
                && self.abort.is_none()
            {
                self.abort = Some(Abort {
                    at_s: end.as_secs_f64(),
                    reason: format!("{}: {}", rule.name(), rule.describe(&judged, None)),
                });
            }
        }
    }

    /// finish judges what the last windows of every stage left unjudged.
    pub fn finish(&mut self) {
        for rule in &mut self.rules {
            rule.finish();
        }
    }

    /// criteria are the verdicts, one per windowed criterion that had anything to judge.
    pub fn criteria(&self, started_at: SystemTime) -> Vec<Criterion> {
        self.rules
            .iter()
            .filter_map(|r| r.criterion(started_at))
            .collect()
    }
}

impl Windowed {
    fn slot_figures(&self, rec: &Recording) -> (u64, u64, Option<Hist>) {
        let slot = Slot::new(self.stage, false);
        match &self.judge {
            Judge::ErrorRate { .. } => {
                let (mut requests, mut errors) = (0, 0);
                for ri in 0..rec.layout().requests(self.scenario) {
                    let c = rec.cell(self.scenario, ri, slot);
                    requests += c.requests();
                    errors += c.errors.total();
                }
                (requests, errors, None)
            }
            Judge::Sla { request, .. } => {
                let c = rec.cell(self.scenario, *request, slot);
                (c.requests(), c.errors.total(), Some(c.latency.clone()))
            }
        }
    }

    fn observe(&mut self, start: Duration, end: Duration, rec: &Recording) -> Option<Judged> {
        let (requests, errors, latency) = self.slot_figures(rec);
        if self.current.is_none() && self.steps.is_empty() && requests == 0 {
            return None;
        }
        let step = self.current.get_or_insert_with(|| Step {
            from_s: start.as_secs_f64(),
            ..Step::default()
        });
        step.to_s = end.as_secs_f64();
        step.seconds += 1;
        step.requests += requests;
        step.errors += errors;
        if let Some(h) = latency {
            step.latency.merge(&h);
        }
        // Once the stage's schedule has ended, what still completes joins its last window.
        if step.seconds < self.step_s || end.as_secs_f64() > self.stage_end_s + 1e-9 {
            return None;
        }
        let step = self.current.take().expect("a step is open");
        self.push(step)
    }

    /// push adds a full step and judges the window it completes.
    fn push(&mut self, step: Step) -> Option<Judged> {
        self.steps.push_back(step);
        self.judged_now = false;
        while self.steps.iter().map(|s| s.seconds).sum::<u64>() > self.span_s {
            self.steps.pop_front();
        }
        if self.steps.iter().map(|s| s.seconds).sum::<u64>() < self.span_s {
            return None;
        }
        self.judge_window()
    }

    fn finish(&mut self) {
        if let Some(step) = self.current.take() {
            // The stage's last completions, with the steps before them filling out a window.
            self.steps.push_back(step);
            while self.steps.len() > 1
                && self.steps.iter().skip(1).map(|s| s.seconds).sum::<u64>() >= self.span_s
            {
                self.steps.pop_front();
            }
            self.judged_now = false;
        }
        if !self.judged_now {
            self.judge_window();
        }
    }

    /// judge_window judges the steps held now as one window.
    fn judge_window(&mut self) -> Option<Judged> {
        self.judged_now = true;
        let (first, last) = (self.steps.front()?, self.steps.back()?);
        let (from_s, to_s) = (first.from_s, last.to_s);
        let requests: u64 = self.steps.iter().map(|s| s.requests).sum();
        let errors: u64 = self.steps.iter().map(|s| s.errors).sum();
        if requests == 0 {
            return None;
        }
        let judged = match &self.judge {
            Judge::ErrorRate { warn, fail } => {
                let rate = errors as f64 / requests as f64;
                let verdict = Verdict::judge(rate, *warn, *fail);
                Judged {
                    from_s,
                    to_s,
                    count: requests,
                    errors,
                    value: Some(rate),
                    verdict,
                    clear: verdict == Verdict::Failed
                        && binomial_tail(requests, errors, fail.unwrap_or(1.0)) < ALPHA,
                }
            }
            Judge::Sla {
                quantile,
                target_us,
                fail_above_us,
                ..
            } => {
                let mut latency = Hist::default();
                for s in &self.steps {
                    latency.merge(&s.latency);
                }
                let n = latency.count();
                let beyond = 1.0 - quantile.value();
                if n == 0 {
                    // Not one success: no service level kept, clearly so once there were enough
                    // requests that a target meeting it would have answered some in time.
                    Judged {
                        from_s,
                        to_s,
                        count: 0,
                        errors,
                        value: None,
                        verdict: Verdict::Failed,
                        clear: binomial_tail(requests, requests, beyond) < ALPHA,
                    }
                } else {
                    let h = latency.histogram();
                    let value = h.value_at_quantile(quantile.value());
                    let t = *target_us as f64;
                    let verdict =
                        Verdict::judge(value as f64, Some(t), Some(*fail_above_us as f64));
                    let over = n - h.count_between(0, *fail_above_us);
                    Judged {
                        from_s,
                        to_s,
                        count: n,
                        errors,
                        value: Some(value as f64),
                        verdict,
                        clear: verdict == Verdict::Failed && binomial_tail(n, over, beyond) < ALPHA,
                    }
                }
            }
        };
        self.windows += 1;
        match judged.verdict {
            Verdict::Failed => self.failed += 1,
            Verdict::Warned => self.warned += 1,
            _ => {}
        }
        if self.worst.as_ref().is_none_or(|w| judged.worse(w)) {
            self.worst = Some(judged.clone());
        }
        Some(judged)
    }

    fn window_text(&self) -> String {
        humantime::format_duration(self.window.written).to_string()
    }

    fn name(&self) -> String {
        let window = self.window_text();
        match &self.judge {
            Judge::ErrorRate { .. } => format!(
                "{}/{}: error rate in every {window} window",
                self.scenario_name, self.stage_name
            ),
            Judge::Sla {
                class,
                quantile,
                target_us,
                ..
            } => format!(
                "{}/{}/{}: {} ≤ {} ({class}) in every {window} window",
                self.scenario_name,
                self.stage_name,
                self.request_name.as_deref().unwrap_or_default(),
                quantile.name(),
                format_us(*target_us)
            ),
        }
    }

    /// describe writes one window's figure against its bounds.
    fn describe(&self, j: &Judged, started_at: Option<SystemTime>) -> String {
        let at = |s: f64| {
            let offset = crate::units::format_duration(Duration::from_secs_f64(s));
            match started_at {
                Some(t0) => format!(
                    "{offset} ({})",
                    humantime::format_rfc3339_seconds(t0 + Duration::from_secs_f64(s))
                ),
                None => offset,
            }
        };
        let when = format!("the window {} to {} into the run", at(j.from_s), at(j.to_s));
        match &self.judge {
            Judge::ErrorRate { warn, fail } => {
                let bounds: Vec<String> = [("warn above", warn), ("fail above", fail)]
                    .iter()
                    .filter_map(|(w, b)| b.map(|b| format!("{w} {}", format_share(b))))
                    .collect();
                format!(
                    "{when} had {} errors ({} of {}); {}",
                    format_share(j.value.unwrap_or(0.0)),
                    j.errors,
                    j.count,
                    bounds.join(", ")
                )
            }
            Judge::Sla {
                quantile,
                target_us,
                fail_above_us,
                ..
            } => match j.value {
                None => format!(
                    "{when} had none of its {} requests succeed, so none met the target",
                    j.errors
                ),
                Some(v) => format!(
                    "{when} had {} {} over {} successful responses; warn above {}, fail above {}",
                    quantile.name(),
                    format_us(v as u64),
                    j.count,
                    format_us(*target_us),
                    format_us(*fail_above_us)
                ),
            },
        }
    }

    fn criterion(&self, started_at: SystemTime) -> Option<Criterion> {
        let worst = self.worst.as_ref()?;
        let mut detail = format!(
            "worst: {}; {} of {} windows failed, {} warned (windows of {} s sliding by {} s)",
            self.describe(worst, Some(started_at)),
            self.failed,
            self.windows,
            self.warned,
            self.span_s,
            self.step_s
        );
        if self.window.length != self.window.written {
            detail.push_str(&format!(
                "; {} scaled by --time-scale to {}",
                self.window_text(),
                crate::units::format_duration(self.window.length)
            ));
        }
        let (of, class, warn_above, fail_above) = match &self.judge {
            Judge::ErrorRate { warn, fail } => ("error_rate".to_string(), None, *warn, *fail),
            Judge::Sla {
                class,
                quantile,
                target_us,
                fail_above_us,
                ..
            } => (
                quantile.name().to_string(),
                Some(class.clone()),
                Some(*target_us as f64),
                Some(*fail_above_us as f64),
            ),
        };
        Some(Criterion {
            name: self.name(),
            verdict: worst.verdict,
            detail,
            validity: false,
            scenario: Some(self.scenario_name.clone()),
            stage: Some(self.stage_name.clone()),
            request: self.request_name.clone(),
            rule: Some(Rule::Window {
                of,
                class,
                window_s: self.span_s as f64,
                step_s: self.step_s as f64,
                windows: self.windows,
                failed_windows: self.failed,
                warned_windows: self.warned,
                worst_from_s: worst.from_s,
                worst_to_s: worst.to_s,
                worst_value: worst.value,
                warn_above,
                fail_above,
                abort: self.window.abort,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::plan_file::{Overrides, parse};
    use crate::record::{ErrorKind, Outcome};

    /// plan is a one-stage plan of 60 s, one request of class `c` (p95 100 ms, fail above
    /// 150 ms), with `criteria` laid over it.
    fn plan(criteria: &str, scale: f64) -> Plan {
        let src = format!(
            "[sla.c]\np95 = \"100ms\"\n[criteria]\nsla = [\"p95\"]\n{criteria}\n[[stage]]\nname = \"hold\"\nrate = 100\nduration = \"60s\"\n[[request]]\nname = \"r\"\npath = \"/\"\nsla = \"c\"\n"
        );
        let overrides = Overrides {
            time_scale: Some(scale),
            ..Overrides::default()
        };
        parse(&src, Path::new("t.toml"), &overrides)
            .expect("the plan is valid")
            .plan
    }

    /// second is one second's completions: `fast` at 10 ms, `slow` at 300 ms, `failed` errors.
    fn second(plan: &Plan, fast: u64, slow: u64, failed: u64) -> Recording {
        let mut rec = Recording::new(Arc::new(crate::engine::layout(plan, 0)));
        let mut put = |ms: u64, result: Result<u64, ErrorKind>| {
            rec.outcome(&Outcome {
                scenario: 0,
                request: 0,
                slot: Slot::new(0, false),
                latency: Duration::from_millis(ms),
                queue_wait: Duration::ZERO,
                connect: None,
                tls: None,
                service_time: Duration::from_millis(ms),
                result,
                check_failure: None,
            })
        };
        (0..fast).for_each(|_| put(10, Ok(10)));
        (0..slow).for_each(|_| put(300, Ok(10)));
        (0..failed).for_each(|_| put(10, Err(ErrorKind::Http5xx)));
        rec
    }

    /// feed runs `w` over `seconds` seconds, asking `each` what completed in second k.
    fn feed(w: &mut Windows, seconds: u64, mut each: impl FnMut(u64) -> Recording) {
        for k in 0..seconds {
            let rec = each(k);
            w.observe(Duration::from_secs(k), Duration::from_secs(k + 1), &rec);
        }
        w.finish();
    }

    fn rule_of(c: &Criterion) -> (f64, f64, u64, u64) {
        match &c.rule {
            Some(Rule::Window {
                worst_from_s,
                worst_to_s,
                windows,
                failed_windows,
                ..
            }) => (*worst_from_s, *worst_to_s, *windows, *failed_windows),
            other => panic!("not a window rule: {other:?}"),
        }
    }

    #[test]
    fn a_bad_stretch_fails_its_window_though_the_whole_stage_passes() {
        let p = plan("sla_window = \"10s\"", 1.0);
        let mut w = Windows::of(&p).expect("a windowed criterion");
        // 20 % slow for 5 s of 60: 1.7 % of the stage, 10 % of the window around it.
        feed(&mut w, 60, |k| {
            let slow = if (30..35).contains(&k) { 20 } else { 0 };
            second(&p, 100 - slow, slow, 0)
        });
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Failed, "{}", c[0].detail);
        let (from, to, windows, failed) = rule_of(&c[0]);
        assert!(from < 35.0 && to > 30.0, "worst window {from}–{to}");
        assert_eq!(to - from, 10.0);
        // Windows of 10 s sliding by 2 s over 60 s: (60 − 10) / 2 + 1 of them.
        assert_eq!(windows, 26);
        assert!((1..windows).contains(&failed), "{failed} failed");
        assert!(c[0].name.contains("in every 10s window"), "{}", c[0].name);
        assert!(c[0].detail.contains("p95 300.0ms"), "{}", c[0].detail);
        // The stage as a whole: its p95 is fast.
        let mut whole = Hist::default();
        for k in 0..60 {
            let slow = if (30..35).contains(&k) { 20 } else { 0 };
            whole.merge(&second(&p, 100 - slow, slow, 0).cells[0].latency);
        }
        assert!(whole.histogram().value_at_quantile(0.95) < 100_000);
    }

    #[test]
    fn a_steady_target_passes_every_window() {
        let p = plan("sla_window = \"10s\"", 1.0);
        let mut w = Windows::of(&p).unwrap();
        feed(&mut w, 60, |_| second(&p, 100, 1, 0));
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        assert_eq!(c[0].verdict, Verdict::Passed, "{}", c[0].detail);
        assert!(w.abort.is_none());
    }

    #[test]
    fn abort_waits_for_a_clear_failure() {
        let p = plan("sla_window = \"10s\"\nsla_abort = true", 1.0);
        // A window of 10 responses, one slow: its p95 fails, but one slow response in ten is
        // what a target meeting p95 ≤ 100 ms gives often enough: no abort.
        let mut w = Windows::of(&p).unwrap();
        feed(&mut w, 10, |k| {
            second(&p, (k != 3) as u64, (k == 3) as u64, 0)
        });
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        assert_eq!(c[0].verdict, Verdict::Failed, "{}", c[0].detail);
        assert!(w.abort.is_none(), "{:?}", w.abort);
        // Half of every second slow: clear from the first full window on, at its end.
        let mut w = Windows::of(&p).unwrap();
        for k in 0..20 {
            w.observe(
                Duration::from_secs(k),
                Duration::from_secs(k + 1),
                &second(&p, 50, if k >= 4 { 50 } else { 0 }, 0),
            );
            if k < 9 {
                assert!(w.abort.is_none(), "aborted before a full window, at {k}");
            }
        }
        let a = w.abort.expect("aborted");
        assert_eq!(a.at_s, 10.0);
        assert!(a.reason.contains("p95"), "{}", a.reason);
    }

    #[test]
    fn the_error_rate_in_every_window() {
        let p = plan(
            "error_rate = { fail = 0.05, window = \"20s\", abort = true }",
            1.0,
        );
        let mut w = Windows::of(&p).unwrap();
        let mut aborted_at = None;
        for k in 0..60 {
            let failed = if k >= 40 { 30 } else { 0 };
            w.observe(
                Duration::from_secs(k),
                Duration::from_secs(k + 1),
                &second(&p, 100 - failed, 0, failed),
            );
            if aborted_at.is_none() && w.abort.is_some() {
                aborted_at = Some(k);
            }
        }
        w.finish();
        // 30 % errors from second 40: the window ending at 44 s holds 120 of 2,000 (6 %), within
        // chance of 5 %; the one ending at 48 s holds 240 (12 %), clearly above it.
        let at = aborted_at.expect("aborted");
        assert!((40..50).contains(&at), "aborted at {at}");
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        let errors: Vec<_> = c.iter().filter(|c| c.request.is_none()).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].verdict, Verdict::Failed);
        assert!(errors[0].detail.contains("30.00%"), "{}", errors[0].detail);
    }

    #[test]
    fn a_stage_shorter_than_its_window_is_judged_whole() {
        let p = plan("sla_window = \"5m\"", 1.0);
        let mut w = Windows::of(&p).unwrap();
        feed(&mut w, 60, |_| second(&p, 10, 10, 0));
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        let (from, to, windows, _) = rule_of(&c[0]);
        assert_eq!((from, to, windows), (0.0, 60.0, 1));
        assert_eq!(c[0].verdict, Verdict::Failed);
    }

    #[test]
    fn completions_after_the_stage_join_its_last_window() {
        let p = plan("sla_window = \"10s\"", 1.0);
        let mut w = Windows::of(&p).unwrap();
        // The stage ends at 60 s; slow responses drain in until 63 s.
        feed(&mut w, 64, |k| {
            if k < 60 {
                second(&p, 100, 0, 0)
            } else {
                second(&p, 0, 30, 0)
            }
        });
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        let (from, to, _, _) = rule_of(&c[0]);
        assert_eq!(to, 64.0);
        assert!(from <= 54.0, "the last window is a full one: from {from}");
        assert_eq!(c[0].verdict, Verdict::Failed, "{}", c[0].detail);
    }

    #[test]
    fn windows_scale_with_the_stages() {
        let p = plan("sla_window = \"5m\"", 0.1);
        let win = p.scenarios[0].criteria[0].sla_window.unwrap();
        assert_eq!(win.written, Duration::from_secs(300));
        assert_eq!(win.length, Duration::from_secs(30));
        let mut w = Windows::of(&p).unwrap();
        feed(&mut w, 6, |_| second(&p, 10, 0, 0));
        let c = w.criteria(SystemTime::UNIX_EPOCH);
        assert!(
            c[0].detail.contains("scaled by --time-scale"),
            "{}",
            c[0].detail
        );
    }

    #[test]
    fn abort_without_a_window_is_refused_where_it_is_written() {
        let src = "[sla.c]\np95 = \"100ms\"\n[criteria]\nsla = [\"p95\"]\nsla_abort = true\n[[stage]]\nname = \"hold\"\nrate = 1\nduration = \"6s\"\n[[request]]\nname = \"r\"\npath = \"/\"\nsla = \"c\"\n";
        let e = parse(src, Path::new("t.toml"), &Overrides::default()).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.to_string().contains("needs a window"), "{e}");
        // Its window may come from another level: the plan's, laid under a stage's abort.
        let src = src
            .replace("sla_abort = true\n", "sla_window = \"1m\"\n")
            .replace(
                "duration = \"6s\"\n",
                "duration = \"6s\"\ncriteria = { sla_abort = true }\n",
            );
        let p = parse(&src, Path::new("t.toml"), &Overrides::default()).unwrap();
        assert!(p.plan.scenarios[0].criteria[0].sla_window.unwrap().abort);
    }
}
