//! metronome: an open-model HTTP load generator.
//!
//! Requests leave on a fixed arrival schedule that never waits for responses, and every latency
//! counts from the moment its request should have been sent. Data flows one way through the
//! modules:
//!
//! - [`plan`]: a validated description of a run (target, scenarios, stages, limits, pacing, and
//!   the response checks in [`plan::checks`]); it imports nothing of the engine.
//! - [`schedule`]: intended times, a pure function of stages, arrival process and seed
//!   ([`draw`] makes the seeded draws).
//! - [`engine`]: worker threads that pace arrivals, own connections, and issue requests.
//! - [`record`]: the histograms and counters workers fill, and the `Handover` that carries them;
//!   [`recorder`] merges the handovers.
//! - [`summary`]: results and verdicts, built once, judged by [`criteria`] (the engine's own
//!   lateness weighed in [`lateness`]); [`report`] writes them (terminal, JSON, CSV, HTML, hlog).
//! - [`plan_file`]: TOML test plans read into a [`plan::Plan`]; [`check`] describes a plan.
//! - [`clock`]: the wall-clock start instant shards line up on (`--start-at`).
//! - [`shard`]: a run split over processes: the run file each writes, and their exact merge.
//! - [`watch`]: the target's memory and CPU sampled during a run (a process, a cgroup, a
//!   metrics endpoint), and the memory criteria judged on them.
//! - [`run`]: one run from preflight to summary; [`cli`]: the command line, one file per verb.
//! - `fuzzing` (hidden): the parsers the fuzz properties in `tests/fuzz.rs` reach that are
//!   not public otherwise.
//! - [`demo`]: the built-in demo target (the plant backend API); [`bench`](mod@bench): the
//!   engine measured by itself.

/// say writes a line to standard error, as `eprintln!` does, but never panics: when nobody
/// reads standard error any more (a `| head` that exited, a `tee` that died), the run goes on
/// and still writes its reports, instead of dying at its next warning with its figures lost.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// show writes a line to standard output, as `println!` does, but never panics: a reader that
/// has gone (`metronome check plan.toml | head -1`) does not turn the exit code into a crash.
#[macro_export]
macro_rules! show {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

// The unit tests count allocations (engine::handover's test); the binary uses mimalloc.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: engine::Counting = engine::Counting;

pub mod bench;
pub mod check;
pub mod cli;
pub mod clock;
pub mod criteria;
pub mod demo;
pub mod draw;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod lateness;
pub mod live;
pub mod plan;
pub mod plan_file;
pub mod problem;
pub mod record;
pub mod recorder;
pub mod report;
pub mod run;
pub mod schedule;
pub mod shard;
pub mod signals;
pub mod steer;
pub mod summary;
pub mod template;
pub mod units;
pub mod watch;
