//! Criterion benchmarks of the engine's own costs, per item:
//!
//! - schedule generation (ns per arrival): constant rate, a ramp from zero, Poisson, and one
//!   worker's shard of four;
//! - recording a sample into a worker's histograms (`Recording::outcome`, `dispatched`);
//! - merging a worker's handover into the totals (`Recording::merge`);
//! - building the summary (`summary::build`) from a recorder full of samples.
//!
//! Run: `cargo bench --bench engine` (about a minute and a half on 2 cores). Nothing here opens
//! a socket: these are CPU costs of pure functions and data structures.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use metronome::plan::{Plan, Target};
use metronome::plan_file;
use metronome::record::{ErrorKind, Layout, Outcome, Recording, Slot};
use metronome::recorder::Recorder;
use metronome::schedule::{ArrivalProcess, Schedule, Shard, Stage};
use metronome::summary::{self, RunFacts};

/// ARRIVALS is how many arrivals each schedule benchmark walks.
const ARRIVALS: u64 = 100_000;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ramp(from: f64, to: f64, d: f64) -> Stage {
    Stage {
        name: "ramp".into(),
        from,
        to,
        duration: secs(d),
        settle: Duration::ZERO,
    }
}

/// Pseudo-random but fixed microsecond values, spread like loopback latencies with a tail
/// (mostly 50–500 µs, some up to ~50 ms), so histogram buckets are exercised realistically.
fn latencies(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let us = match x % 100 {
                0 => 5_000 + x % 45_000,
                1..=9 => 500 + x % 4_500,
                _ => 50 + x % 450,
            };
            Duration::from_micros(us)
        })
        .collect()
}

/// outcomes makes `n` outcomes spread over every (request, stage slot) cell of a layout with
/// `requests` requests and `slots` stage slots in one scenario; one in 50 is an error.
fn outcomes(n: usize, requests: usize, slots: usize) -> Vec<Outcome> {
    latencies(n)
        .into_iter()
        .enumerate()
        .map(|(i, latency)| {
            let k = (i / requests) % slots;
            let slot = Slot::new(k / 2, k % 2 == 1);
            outcome(i, 0, i % requests, slot, latency, 50)
        })
        .collect()
}

/// outcome is the `i`-th synthetic outcome in a cell: its parts are fixed shares of its
/// latency, one in 500 opened a connection, and one in `error_every` is a 5xx.
fn outcome(
    i: usize,
    scenario: usize,
    request: usize,
    slot: Slot,
    latency: Duration,
    error_every: usize,
) -> Outcome {
    Outcome {
        scenario,
        request,
        slot,
        latency,
        queue_wait: latency / 20,
        connect: i.is_multiple_of(500).then(|| latency / 4),
        tls: None,
        check_failure: None,
        service_time: latency - latency / 10,
        result: if i.is_multiple_of(error_every) {
            Err(ErrorKind::Http5xx)
        } else {
            Ok(2)
        },
    }
}

fn schedules(c: &mut Criterion) {
    let cases = [
        (
            "constant",
            Schedule::new(
                vec![Stage::constant("c", 10_000.0, secs(10.0))],
                ArrivalProcess::Uniform,
                1,
                0,
            ),
        ),
        // 0 → 20,000/s over 10 s: Λ = 100,000.
        (
            "ramp",
            Schedule::new(
                vec![ramp(0.0, 20_000.0, 10.0)],
                ArrivalProcess::Uniform,
                1,
                0,
            ),
        ),
        (
            "poisson",
            Schedule::new(
                vec![Stage::constant("c", 10_000.0, secs(10.0))],
                ArrivalProcess::Poisson,
                1,
                0,
            ),
        ),
    ];
    let mut g = c.benchmark_group("schedule");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for (name, schedule) in &cases {
        let n = schedule.arrivals().count() as u64;
        assert!(n.abs_diff(ARRIVALS) < ARRIVALS / 50, "{name}: {n} arrivals");
        g.throughput(Throughput::Elements(n));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut last = Duration::ZERO;
                for a in black_box(schedule).arrivals() {
                    last = black_box(a.offset);
                }
                last
            })
        });
    }

    // One worker's share of four over two scenarios (50,000 arrivals each, like a journey
    // beside a health check): 25,000 arrivals yielded, while all 100,000 are generated.
    let two = vec![
        Schedule::new(
            vec![Stage::constant("c", 5_000.0, secs(10.0))],
            ArrivalProcess::Uniform,
            1,
            0,
        ),
        Schedule::new(
            vec![Stage::constant("c", 5_000.0, secs(10.0))],
            ArrivalProcess::Poisson,
            1,
            1,
        ),
    ];
    let share = Shard::new(two.clone(), 0, 4).count() as u64;
    g.throughput(Throughput::Elements(share));
    g.bench_function("shard_0_of_4", |b| {
        b.iter(|| {
            let mut last = Duration::ZERO;
            for (_, a) in Shard::new(black_box(two.clone()), 0, 4) {
                last = black_box(a.offset);
            }
            last
        })
    });
    g.finish();
}

fn recording(c: &mut Criterion) {
    // 8 requests × 2 stage slots (one stage: its settle time and the rest).
    const BATCH: usize = 4_096;
    let layout = Arc::new(Layout::new(vec![(8, 1)]));
    let samples = outcomes(BATCH, 8, 2);
    let lags = latencies(BATCH);

    let mut g = c.benchmark_group("record");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut r = Recording::new(layout.clone());
    g.bench_function("outcome", |b| {
        b.iter(|| {
            for o in &samples {
                r.outcome(black_box(o));
            }
        })
    });
    let mut r = Recording::new(layout.clone());
    g.bench_function("dispatched", |b| {
        b.iter(|| {
            for (i, &lag) in lags.iter().enumerate() {
                r.dispatched(0, Slot::new(0, i % 16 == 0), black_box(lag), false);
            }
        })
    });
    g.finish();
}

fn merging(c: &mut Criterion) {
    // A worker's handover: ~10,000 samples spread over the 16 cells and 2 stage cells.
    const SAMPLES: usize = 10_000;
    let layout = Arc::new(Layout::new(vec![(8, 1)]));
    let mut worker = Recording::new(layout.clone());
    for (i, o) in outcomes(SAMPLES, 8, 2).iter().enumerate() {
        worker.dispatched(0, o.slot, o.queue_wait, i % 1000 == 999);
        worker.outcome(o);
    }
    // Totals that have already seen a long run's worth of values.
    let mut totals = Recording::new(layout.clone());
    for _ in 0..10 {
        totals.merge(&worker);
    }

    let mut g = c.benchmark_group("merge");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.bench_function("worker_10k_samples_into_totals", |b| {
        b.iter(|| totals.merge(black_box(&worker)))
    });
    g.finish();
}

/// filled is a recorder for `plan` whose totals hold `n` outcomes and dispatches spread over
/// every scenario, request and stage slot.
fn filled(plan: &Plan, n: usize) -> Recorder {
    let layout = Arc::new(metronome::engine::layout(plan, 0));
    let mut rec = Recorder::new(layout.clone(), 2);
    let mut worker = Recording::new(layout.clone());
    let lat = latencies(n);
    for (i, &latency) in lat.iter().enumerate() {
        let scenario = i % layout.scenarios();
        let request = (i / layout.scenarios()) % layout.requests(scenario);
        let slots: Vec<Slot> = layout.slots(scenario).collect();
        let slot = slots[(i / 7) % slots.len()];
        worker.dispatched(scenario, slot, latency / 50, false);
        worker.outcome(&outcome(i, scenario, request, slot, latency, 100));
    }
    rec.totals.merge(&worker);
    rec
}

fn summaries(c: &mut Criterion) {
    let facts = |elapsed: Duration| RunFacts {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        elapsed,
        interrupted_at: None,
        connections_opened: 50,
        preflight_answered: true,
        start_requested: None,
        started_late: Duration::ZERO,
        clock: Default::default(),
        aborted: None,
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/load-50.toml");
    let mut plan50 = plan_file::load(&file, &Default::default())
        .expect("plans/load-50.toml loads")
        .plan;
    plan50.target = Target::parse("http://127.0.0.1:8001/").unwrap().0;
    let rec50 = filled(&plan50, 200_000);
    let quick = Plan::quick(
        Target::parse("http://127.0.0.1:8001/").unwrap().0,
        hyper::Method::GET,
        "/",
        10_000.0,
        secs(15.0),
    );
    let rec_quick = filled(&quick, 150_000);

    let mut g = c.benchmark_group("summary");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("build_quick", |b| {
        b.iter(|| summary::build(black_box(&quick), &rec_quick, &facts(secs(15.0))))
    });
    g.bench_function("build_load_50_plan", |b| {
        b.iter(|| summary::build(black_box(&plan50), &rec50, &facts(secs(600.0))))
    });
    g.finish();
}

criterion_group!(benches, schedules, recording, merging, summaries);
criterion_main!(benches);
