//! Bench: the engine measured by itself on this machine.
//!
//! First the machine's timer floor: how late a bare loop wakes when it sleeps to absolute
//! deadlines (`clock_nanosleep`, 1 ns timer slack) and when it spins, at the bench's rates — what
//! precision this machine allows at all. Then the engine at a sparse rate (20/s) beside a bare
//! sleeping loop at that rate, where an idle vCPU's slow wake-ups show. Then real runs against a minimal target (the demo
//! target on its own thread, or `--url`), stepping the rate up until the schedule no longer
//! holds, each step with its dispatch lag beside the floor, the CPU the engine's worker threads
//! used per request (from their own CPU clocks, so the in-process target's work is not
//! counted), and the peak memory of the process.

use std::time::Duration;

use serde::Serialize;

use crate::demo::{DemoConfig, DemoTarget};
use crate::engine::thread_cpu_time;
use crate::plan::{Pacing, Plan, Target};
use crate::record::Hist;
use crate::run::{self, Failure, Options};
use crate::units::format_us;

/// HOLD_SHARE is the achieved share of the target rate a step must reach to hold.
pub const HOLD_SHARE: f64 = 0.995;

/// HOLD_LAG_P99 is the dispatch-lag p99 a step must stay under to hold.
pub const HOLD_LAG_P99: Duration = Duration::from_millis(1);

/// Lateness summarises how late something woke, in µs.
#[derive(Debug, Clone, Serialize)]
pub struct Lateness {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Lateness {
    /// shown is the figures as the bench prints them: "p50 / p99 / max".
    fn shown(&self) -> String {
        format!(
            "{} / {} / {}",
            format_us(self.p50_us),
            format_us(self.p99_us),
            format_us(self.max_us)
        )
    }

    fn of(h: &Hist) -> Lateness {
        let h = h.histogram();
        Lateness {
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// Floor is the machine's timer floor at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    pub rate: f64,
    /// A bare loop sleeping to absolute deadlines.
    pub sleep: Lateness,
    /// A bare loop spinning to its deadlines.
    pub spin: Lateness,
    /// CPU time (user and system) the sleeping loop's thread used per wake-up: what waking
    /// once per arrival costs on this machine before any request is sent.
    pub sleep_cpu_us_per_wake: f64,
}

/// SPARSE_RATE is the rate at which the bench sets the engine's sparse-arrival pacing beside a
/// bare sleeping loop: a quick run's, where a thread sleeps 50 ms between arrivals and the host
/// may deschedule its idle vCPU meanwhile.
pub const SPARSE_RATE: f64 = 20.0;

/// Sparse is the engine's dispatch lag at `SPARSE_RATE` beside a bare sleeping loop's lateness
/// at the same rate, measured one after the other.
#[derive(Debug, Clone, Serialize)]
pub struct Sparse {
    pub rate: f64,
    /// How late a bare loop sleeping to absolute deadlines woke.
    pub bare_loop: Lateness,
    /// CPU time the bare loop's thread used per wake-up.
    pub bare_loop_cpu_us_per_wake: f64,
    /// The engine's dispatch lag, default pacing or `--pacing`, one worker thread.
    pub engine: Lateness,
    /// CPU time the engine's worker thread used per arrival.
    pub engine_cpu_us_per_request: f64,
}

/// Step is one rate of the bench.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub dispatch_lag: Lateness,
    pub latency_p50_us: u64,
    pub cpu_us_per_request: f64,
    pub peak_rss_mib: f64,
    pub dropped: u64,
    pub errors: u64,
    pub held: bool,
    /// True for a step between the last rate held and the first one broken, run after the
    /// climb to narrow down the highest rate held.
    pub refinement: bool,
}

/// Report is the whole bench.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pacing: Pacing,
    pub step_duration_s: f64,
    pub floor: Vec<Floor>,
    /// The engine at a sparse rate beside a bare loop.
    pub sparse: Sparse,
    /// One climb of the rates per thread count: the throughput curve over threads.
    pub curves: Vec<Curve>,
}

/// Curve is the climb of the rates with one number of worker threads.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub threads: usize,
    pub steps: Vec<Step>,
    /// The highest rate whose step held.
    pub highest_rate_held: Option<f64>,
}

/// Settings are what `metronome bench` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A target to use instead of the in-process one.
    pub url: Option<String>,
    /// Length of each step.
    pub duration: Duration,
    /// Worker thread counts to climb with, in order.
    pub threads: Vec<usize>,
    /// Rates to step through, in order.
    pub rates: Vec<f64>,
    /// Pacing of the workers.
    pub pacing: Pacing,
    /// Connections.
    pub connections: usize,
    /// Steps of bisection between the last rate held and the first one broken.
    pub refine: usize,
}

fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// bare_loop wakes `n` times at `rate` on a fresh thread, sleeping (or spinning) to absolute
/// deadlines, and records how late each wake-up was, and the CPU time the thread used.
fn bare_loop(rate: f64, n: u64, spin: bool) -> (Hist, Duration) {
    std::thread::spawn(move || {
        // SAFETY: prctl with constant arguments on the calling thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        let gap = 1e9 / rate;
        let start = monotonic_ns() + 1_000_000;
        let mut h = Hist::default();
        let cpu_before = thread_cpu_time();
        for i in 0..n {
            let deadline = start + (i as f64 * gap) as u128;
            if spin {
                while monotonic_ns() < deadline {
                    std::hint::spin_loop();
                }
            } else {
                let ts = libc::timespec {
                    tv_sec: (deadline / 1_000_000_000) as libc::time_t,
                    tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
                };
                // SAFETY: an absolute sleep on the monotonic clock with a valid timespec.
                unsafe {
                    libc::clock_nanosleep(
                        libc::CLOCK_MONOTONIC,
                        libc::TIMER_ABSTIME,
                        &ts,
                        std::ptr::null_mut(),
                    )
                };
            }
            let late = monotonic_ns().saturating_sub(deadline);
            h.record(Duration::from_nanos(late as u64));
        }
        (h, thread_cpu_time().saturating_sub(cpu_before))
    })
    .join()
    .expect("the timer loop does not panic")
}

/// floor measures the machine's timer floor at `rate` for about `d`.
pub fn floor(rate: f64, d: Duration) -> Floor {
    let n = (rate * d.as_secs_f64()).max(100.0) as u64;
    let (sleep, sleep_cpu) = bare_loop(rate, n, false);
    let (spin, _) = bare_loop(rate, n, true);
    Floor {
        rate,
        sleep: Lateness::of(&sleep),
        spin: Lateness::of(&spin),
        sleep_cpu_us_per_wake: sleep_cpu.as_secs_f64() * 1e6 / n as f64,
    }
}

/// bare_sleep_p50 is the median lateness of a bare sleeping loop at `rate` over `n` wake-ups.
pub fn bare_sleep_p50(rate: f64, n: u64) -> Duration {
    Duration::from_micros(
        bare_loop(rate, n, false)
            .0
            .histogram()
            .value_at_quantile(0.5),
    )
}

fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage fills a struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// run performs the bench, printing each line as it is measured.
pub fn run(settings: &Settings) -> Result<Report, Failure> {
    crate::show!(
        "metronome bench · worker threads {:?} · {} pacing · {:.0} s per step",
        settings.threads,
        settings.pacing.name(),
        settings.duration.as_secs_f64()
    );
    crate::show!("\ntimer floor (how late a bare loop wakes at each rate, no HTTP):");
    crate::show!(
        "  {:>10}  {:>26}  {:>17}  {:>26}",
        "rate/s",
        "sleep p50 / p99 / max",
        "sleep CPU µs/wake",
        "spin p50 / p99 / max"
    );
    let mut floors = Vec::new();
    for rate in [1_000.0, 10_000.0] {
        let f = floor(rate, Duration::from_secs(2));
        crate::show!(
            "  {:>10.0}  {:>26}  {:>17.1}  {:>26}",
            rate,
            f.sleep.shown(),
            f.sleep_cpu_us_per_wake,
            f.spin.shown(),
        );
        floors.push(f);
    }
    let local = match &settings.url {
        Some(_) => None,
        None => Some(DemoTarget::start(DemoConfig::default()).map_err(|e| {
            Failure::NotValid(format!("could not start the in-process target: {e}"))
        })?),
    };
    let url = match (&settings.url, &local) {
        (Some(u), _) => u.clone(),
        (None, Some(t)) => format!("{}/health", t.base_url()),
        (None, None) => unreachable!("a target is either given or started"),
    };
    let sparse = sparse(settings, &url)?;
    crate::show!(
        "\nsteps against {url} (a step holds when achieved ≥ {:.1} % of target and dispatch lag p99 ≤ {} ms):",
        HOLD_SHARE * 100.0,
        HOLD_LAG_P99.as_millis()
    );
    let mut curves = Vec::new();
    for &threads in &settings.threads {
        crate::show!("\n{threads} worker thread(s):");
        let (steps, highest) = climb(settings, &url, threads)?;
        match highest {
            Some(r) => crate::show!("  highest rate held with {threads} thread(s): {r:.0}/s"),
            None => crate::show!(
                "  no step held with {threads} thread(s): even the lowest rate broke the schedule"
            ),
        }
        curves.push(Curve {
            threads,
            steps,
            highest_rate_held: highest,
        });
    }
    if curves.len() > 1 {
        crate::show!("\nthroughput over threads (highest rate held):");
        for c in &curves {
            crate::show!(
                "  {:>3} thread(s): {}",
                c.threads,
                c.highest_rate_held
                    .map_or("none".to_string(), |r| format!("{r:.0}/s"))
            );
        }
    }
    Ok(Report {
        pacing: settings.pacing,
        step_duration_s: settings.duration.as_secs_f64(),
        floor: floors,
        sparse,
        curves,
    })
}

/// climb steps the rate up with `threads` workers until a step does not hold, then bisects
/// between the last rate held and the first one broken.
fn climb(
    settings: &Settings,
    url: &str,
    threads: usize,
) -> Result<(Vec<Step>, Option<f64>), Failure> {
    crate::show!(
        "  {:>10} {:>10} {:>24} {:>10} {:>12} {:>10}  held",
        "target/s",
        "achieved",
        "dispatch lag p50/p99/max",
        "p50",
        "CPU µs/req",
        "peak RSS"
    );
    let mut steps = Vec::new();
    let mut highest = None;
    let mut broken = None;
    for &rate in &settings.rates {
        let step = step(settings, url, threads, rate, false)?;
        let held = step.held;
        steps.push(step);
        if held {
            highest = Some(rate);
        } else {
            broken = Some(rate);
            break;
        }
    }
    if let (Some(mut low), Some(mut high)) = (highest, broken) {
        if settings.refine > 0 {
            crate::show!("  refining between {low:.0}/s (held) and {high:.0}/s (broken):");
        }
        for _ in 0..settings.refine {
            let Some(rate) = midpoint(low, high) else {
                break;
            };
            let step = step(settings, url, threads, rate, true)?;
            if step.held {
                low = rate;
                highest = Some(rate);
            } else {
                high = rate;
            }
            steps.push(step);
        }
    }
    Ok((steps, highest))
}

/// midpoint is the rate halfway between a rate held and a higher one broken, rounded to two
/// significant figures so the printed rates stay readable; None once the two are that close.
pub fn midpoint(held: f64, broken: f64) -> Option<f64> {
    let mid = (held + broken) / 2.0;
    let unit = 10f64.powi((mid.log10().floor() as i32) - 1).max(1.0);
    let rounded = (mid / unit).round() * unit;
    (rounded > held && rounded < broken).then_some(rounded)
}

/// sparse measures a bare sleeping loop and then the engine at `SPARSE_RATE`, for the step
/// length (at least 20 arrivals), and prints them side by side.
fn sparse(settings: &Settings, url: &str) -> Result<Sparse, Failure> {
    let d = settings
        .duration
        .max(Duration::from_secs_f64(20.0 / SPARSE_RATE));
    let n = (SPARSE_RATE * d.as_secs_f64()).round() as u64;
    let (bare, bare_cpu) = bare_loop(SPARSE_RATE, n, false);
    let s = quick_run(settings, url, 1, SPARSE_RATE, d)?;
    let sparse = Sparse {
        rate: SPARSE_RATE,
        bare_loop: Lateness::of(&bare),
        bare_loop_cpu_us_per_wake: bare_cpu.as_secs_f64() * 1e6 / n as f64,
        engine: Lateness {
            p50_us: s.dispatch_lag_us.p50.unwrap_or(0),
            p99_us: s.dispatch_lag_us.p99.unwrap_or(0),
            max_us: s.dispatch_lag_us.max.unwrap_or(0),
        },
        engine_cpu_us_per_request: s.engine_cpu_us_per_request,
    };
    crate::show!(
        "\nsparse arrivals ({SPARSE_RATE:.0}/s, {n} arrivals; a late wake here is the host rescheduling an idle vCPU):"
    );
    crate::show!(
        "  {:<34} {:>26}  {:>12}",
        "",
        "lag p50 / p99 / max",
        "CPU µs/arrival"
    );
    crate::show!(
        "  {:<34} {:>26}  {:>12.1}",
        "bare loop sleeping to deadlines",
        sparse.bare_loop.shown(),
        sparse.bare_loop_cpu_us_per_wake
    );
    crate::show!(
        "  {:<34} {:>26}  {:>12.1}",
        format!("engine, {} pacing, dispatch lag", settings.pacing.name()),
        sparse.engine.shown(),
        sparse.engine_cpu_us_per_request
    );
    Ok(sparse)
}

/// quick_run runs the engine at `rate` for `d` against `url`, quietly.
fn quick_run(
    settings: &Settings,
    url: &str,
    threads: usize,
    rate: f64,
    d: Duration,
) -> Result<crate::summary::Summary, Failure> {
    let (target, path) = Target::parse(url).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut plan = Plan::quick(target, hyper::http::Method::GET, &path, rate, d);
    plan.threads = threads;
    plan.pacing = settings.pacing;
    plan.limits.connections = settings.connections;
    plan.limits.timeout = Duration::from_secs(5);
    run::execute(
        plan,
        &Options {
            quiet: true,
            ..Options::default()
        },
        std::future::pending(),
    )
}

/// step runs one rate of the bench and prints its line.
fn step(
    settings: &Settings,
    url: &str,
    threads: usize,
    rate: f64,
    refinement: bool,
) -> Result<Step, Failure> {
    let s = quick_run(settings, url, threads, rate, settings.duration)?;
    let lag = Lateness {
        p50_us: s.dispatch_lag_us.p50.unwrap_or(0),
        p99_us: s.dispatch_lag_us.p99.unwrap_or(0),
        max_us: s.dispatch_lag_us.max.unwrap_or(0),
    };
    let held = s.achieved_rate >= HOLD_SHARE * rate
        && (lag.p99_us as u128) <= HOLD_LAG_P99.as_micros()
        && s.dropped == 0;
    let step = Step {
        target_rate: rate,
        achieved_rate: s.achieved_rate,
        latency_p50_us: s.latency_us.p50.unwrap_or(0),
        cpu_us_per_request: s.engine_cpu_us_per_request,
        peak_rss_mib: peak_rss_mib(),
        dropped: s.dropped,
        errors: s.errors,
        dispatch_lag: lag,
        held,
        refinement,
    };
    crate::show!(
        "  {:>10.0} {:>10.0} {:>24} {:>10} {:>12.1} {:>8.1}MiB  {}",
        rate,
        step.achieved_rate,
        step.dispatch_lag.shown(),
        format_us(step.latency_p50_us),
        step.cpu_us_per_request,
        step.peak_rss_mib,
        if held { "yes" } else { "NO" }
    );
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinement_halves_the_gap_on_readable_rates_and_stops_when_it_cannot() {
        assert_eq!(midpoint(50_000.0, 100_000.0), Some(75_000.0));
        assert_eq!(midpoint(75_000.0, 100_000.0), Some(88_000.0));
        assert_eq!(midpoint(50_000.0, 75_000.0), Some(63_000.0));
        assert_eq!(midpoint(1_000.0, 2_000.0), Some(1_500.0));
        assert_eq!(midpoint(200.0, 400.0), Some(300.0));
        // Rounding would land on one of the ends: nothing is left to learn.
        assert_eq!(midpoint(99_000.0, 100_000.0), None);
        assert_eq!(midpoint(1.0, 2.0), None);
    }
}
