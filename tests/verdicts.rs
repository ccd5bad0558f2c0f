//! The summary's criteria and exit codes, judged on synthetic recordings: each test fills a
//! recorder with the arrivals and outcomes it names, builds the summary, and checks the verdict
//! the spec gives (exit 0 passed, 1 failed, 3 not valid, the highest winning). No network and
//! no clock: these are the rules, apart from the engine that feeds them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use metronome::plan::{Plan, SlaClass, Target};
use metronome::record::{Outcome, Slot};
use metronome::recorder::{Interval, Recorder};
use metronome::schedule::Stage;
use metronome::summary::{Criterion, RunFacts, Summary, Verdict, build};

const MS: Duration = Duration::from_millis(1);

/// plan is a quick plan with one stage per (name, arrivals/s, seconds).
fn plan(stages: &[(&str, f64, u64)]) -> Plan {
    let (target, _) = Target::parse("http://127.0.0.1:9/").unwrap();
    let mut p = Plan::quick(
        target,
        hyper::http::Method::GET,
        "/",
        1.0,
        Duration::from_secs(1),
    );
    let scenario = &mut p.scenarios[0];
    scenario.stages = stages
        .iter()
        .map(|&(name, rate, secs)| Stage::constant(name, rate, Duration::from_secs(secs)))
        .collect();
    scenario.criteria = vec![Default::default(); stages.len()];
    p
}

/// Run fills a recorder as the engine would.
struct Run {
    rec: Recorder,
}

impl Run {
    fn new(plan: &Plan) -> Run {
        let layout = Arc::new(metronome::engine::layout(plan, 0));
        Run {
            rec: Recorder::new(layout, 1),
        }
    }

    /// arrivals records `n` arrivals of `stage`, each dispatched `lag` late, answered after
    /// `latency` with success or `error`.
    fn arrivals(
        &mut self,
        stage: usize,
        n: u64,
        lag: Duration,
        latency: Duration,
        error: Option<metronome::record::ErrorKind>,
    ) {
        for _ in 0..n {
            self.rec
                .totals
                .dispatched(0, Slot::new(stage, false), lag, false);
            self.rec.totals.outcome(&Outcome {
                scenario: 0,
                request: 0,
                slot: Slot::new(stage, false),
                latency: latency + lag,
                queue_wait: Duration::ZERO,
                connect: None,
                tls: None,
                service_time: latency,
                result: error.map_or(Ok(100), Err),
                check_failure: None,
            });
        }
    }

    /// judge builds the summary of a run whose target answered every second of `secs`.
    fn judge(mut self, plan: &Plan, secs: u64, interrupted_at: Option<Duration>) -> Summary {
        for s in 1..=secs {
            self.rec.intervals.push(Interval {
                end_s: s as f64,
                scheduled: 10,
                answered: 10,
                ..Interval::default()
            });
        }
        build(
            plan,
            &self.rec,
            &RunFacts {
                started_at: SystemTime::now(),
                elapsed: Duration::from_secs(secs),
                interrupted_at,
                connections_opened: 1,
                preflight_answered: true,
                start_requested: None,
                started_late: Duration::ZERO,
                clock: Default::default(),
                aborted: None,
            },
        )
    }
}

fn criterion<'a>(s: &'a Summary, name: &str) -> &'a Criterion {
    s.criteria
        .iter()
        .find(|c| c.name.contains(name))
        .unwrap_or_else(|| panic!("no criterion {name}: {:#?}", s.criteria))
}

#[test]
fn a_run_on_time_with_every_answer_a_success_passes() {
    let p = plan(&[("steady", 20.0, 1)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 20, Duration::from_micros(100), MS, None);
    let s = run.judge(&p, 1, None);
    assert_eq!(
        (s.exit_code, s.valid, s.passed),
        (0, true, true),
        "{:#?}",
        s.criteria
    );
    assert_eq!(criterion(&s, "schedule kept").verdict, Verdict::Passed);
    assert_eq!(s.lateness.late, 0);
    assert!(s.lateness.percentiles_touched.is_empty());
}

#[test]
fn one_late_wake_in_twenty_arrivals_warns_and_marks_what_it_could_make() {
    let p = plan(&[("steady", 20.0, 1)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 19, Duration::from_micros(180), MS, None);
    run.arrivals(0, 1, Duration::from_micros(10_500), MS, None);
    let s = run.judge(&p, 1, None);
    assert_eq!(s.exit_code, 0, "{:#?}", s.criteria);
    let kept = criterion(&s, "schedule kept");
    assert_eq!(kept.verdict, Verdict::Warned);
    assert!(
        kept.detail.contains("1 of 20 late, the latest by 10.5ms"),
        "{}",
        kept.detail
    );
    assert!(kept.detail.contains("chance of 18%"), "{}", kept.detail);
    assert!(
        matches!(kept.rule, Some(metronome::summary::Rule::ScheduleKept { chance, .. }) if (chance - 0.182).abs() < 1e-3),
        "{:?}",
        kept.rule
    );
    assert_eq!(
        s.lateness.percentiles_touched,
        ["p99", "p99_9", "p99_99", "max"]
    );
    assert_eq!(s.by_stage[0].late, 1);
}

#[test]
fn five_percent_late_of_ten_thousand_is_not_valid() {
    let p = plan(&[("steady", 1000.0, 10)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 9_500, Duration::from_micros(50), MS, None);
    run.arrivals(0, 500, Duration::from_millis(25), MS, None);
    let s = run.judge(&p, 10, None);
    assert_eq!((s.exit_code, s.valid), (3, false));
    let kept = criterion(&s, "schedule kept");
    assert_eq!(kept.verdict, Verdict::Failed);
    assert!(kept.validity);
    assert!(
        kept.detail.contains("fell behind its schedule"),
        "{}",
        kept.detail
    );
}

#[test]
fn three_arrivals_past_the_timeout_are_flagged_in_a_valid_run() {
    let p = plan(&[("steady", 1000.0, 10)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 9_997, Duration::from_micros(50), MS, None);
    run.arrivals(0, 3, p.limits.timeout + Duration::from_secs(1), MS, None);
    let s = run.judge(&p, 10, None);
    assert_eq!(s.exit_code, 0, "{:#?}", s.criteria);
    assert_eq!(s.lateness.past_timeout, 3);
    let kept = criterion(&s, "schedule kept");
    assert_eq!(kept.verdict, Verdict::Warned);
    assert!(
        kept.detail.contains("3 of them later than the"),
        "{}",
        kept.detail
    );
}

#[test]
fn a_stage_that_fell_behind_decides_though_the_whole_run_kept_up() {
    // 1,000 arrivals on time, then a 30-arrival stage with 5 late: 0.5 % of the run (a chance
    // of 98 % for a 1%-late engine) but a sixth of that stage (a chance of 1 in 86,000).
    let p = plan(&[("warm", 100.0, 10), ("peak", 10.0, 3)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 1_000, Duration::from_micros(50), MS, None);
    run.arrivals(1, 25, Duration::from_micros(50), MS, None);
    run.arrivals(1, 5, Duration::from_millis(30), MS, None);
    let s = run.judge(&p, 13, None);
    assert_eq!(s.exit_code, 3, "{:#?}", s.criteria);
    assert_eq!(s.lateness.scope.as_deref(), Some("quick/peak"));
    let kept = criterion(&s, "schedule kept");
    assert!(
        kept.detail.contains("in quick/peak (5 of its 30 late)"),
        "{}",
        kept.detail
    );
    assert_eq!((s.by_stage[0].late, s.by_stage[1].late), (0, 5));
}

#[test]
fn an_sla_percentile_late_arrivals_could_make_says_so() {
    // 20 arrivals, 2 late by 150 ms: the p95 is the 19th of 20 values, and 2 late arrivals can
    // be the 19th and 20th.
    let mut p = plan(&[("steady", 20.0, 1)]);
    p.sla_classes.insert(
        "read".into(),
        SlaClass {
            p95: Some(Duration::from_millis(100)),
            ..SlaClass::default()
        },
    );
    p.scenarios[0].requests[0].sla_class = Some("read".into());
    p.scenarios[0].criteria[0].sla_percentiles = vec![metronome::plan::Quantile::P95];
    let mut run = Run::new(&p);
    run.arrivals(0, 18, Duration::from_micros(100), MS, None);
    run.arrivals(0, 2, Duration::from_millis(150), MS, None);
    let s = run.judge(&p, 1, None);
    let sla = criterion(&s, "p95 ≤");
    // The p95 is over its target by more than half because of the engine, and says so; the
    // run is still valid (2 of 20), so the SLA verdict stands as a failure.
    assert_eq!(sla.verdict, Verdict::Failed, "{}", sla.detail);
    assert!(
        sla.detail.contains("may be the engine's lateness"),
        "{}",
        sla.detail
    );
    assert_eq!(s.exit_code, 1, "{:#?}", s.criteria);
}

#[test]
fn errors_over_the_stage_limit_fail_and_not_valid_outranks_failed() {
    let mut p = plan(&[("steady", 100.0, 10)]);
    p.scenarios[0].criteria[0].max_error_rate = Some(0.05);
    // 10 % of 1,000 answered 5xx, on time.
    let ten_percent_errors = || {
        let mut run = Run::new(&p);
        run.arrivals(0, 900, Duration::from_micros(50), MS, None);
        run.arrivals(
            0,
            100,
            Duration::from_micros(50),
            MS,
            Some(metronome::record::ErrorKind::Http5xx),
        );
        run
    };
    let s = ten_percent_errors().judge(&p, 10, None);
    assert_eq!((s.exit_code, s.valid, s.passed), (1, true, false));
    assert_eq!(criterion(&s, "error rate").verdict, Verdict::Failed);

    // The same run interrupted: not valid (exit 3) wins over failed, and it is partial.
    let run = ten_percent_errors();
    let s = run.judge(&p, 10, Some(Duration::from_secs(5)));
    assert_eq!((s.exit_code, s.valid, s.partial), (3, false, true));
    assert_eq!(criterion(&s, "run completed").verdict, Verdict::Failed);
}

#[test]
fn local_resource_errors_make_the_run_not_valid() {
    let p = plan(&[("steady", 20.0, 1)]);
    let mut run = Run::new(&p);
    run.arrivals(0, 19, Duration::from_micros(50), MS, None);
    run.arrivals(
        0,
        1,
        Duration::from_micros(50),
        MS,
        Some(metronome::record::ErrorKind::LocalResource),
    );
    let s = run.judge(&p, 1, None);
    assert_eq!(s.exit_code, 3);
    assert_eq!(
        criterion(&s, "no local resource errors").verdict,
        Verdict::Failed
    );
}
