//! Flags more than one verb takes, declared once: the demo target's six settings, which
//! `serve` gives the target it serves and `run` the target it starts in-process.
//!
//! It owns their declaration (type, default, parser) and how a verb turns them into a
//! [`DemoConfig`]; the rules they must meet are `demo`'s ([`DemoConfig::validate`]), worded
//! here for the flags.

use std::time::Duration;

use clap::{Arg, Args};

use super::usage;
use crate::demo::{DemoConfig, DemoConfigError, Stall};
use crate::run::Failure;
use crate::units::parse_duration;

/// DemoFlags are the demo target's settings, spelled as `serve` takes them. `run` takes them as
/// `--demo-*`, with its own help (see [`IN_RUN`]): there they sit among the run's own flags.
#[derive(Debug, Args, Clone)]
pub(super) struct DemoFlags {
    /// Base latency of every response.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    latency: Duration,
    /// Extra uniform random delay in [0, JITTER].
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    jitter: Duration,
    /// Fraction of requests answered 500, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Periodic stall PAUSE/PERIOD, e.g. 200ms/2s.
    #[arg(long, value_name = "PAUSE/PERIOD")]
    stall: Option<Stall>,
    /// At most this many requests processed at once (others wait their turn).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Bytes every request retains until the target stops (written to, so resident): a memory
    /// leak for a watch to find.
    #[arg(long, value_name = "BYTES_PER_REQUEST", value_parser = crate::plan::checks::parse_size)]
    leak: Option<usize>,
}

/// IN_RUN is how `run` spells each demo flag (by its field's id) and what its help says. Help
/// given here is printed as written: like the doc comments clap reads, it has no final period.
const IN_RUN: [(&str, &str, &str); 6] = [
    (
        "latency",
        "demo-latency",
        "Demo target: base latency of every response",
    ),
    (
        "jitter",
        "demo-jitter",
        "Demo target: extra uniform random delay in [0, JITTER]",
    ),
    (
        "error_rate",
        "demo-error-rate",
        "Demo target: fraction of requests answered 500, 0 to 1",
    ),
    (
        "stall",
        "demo-stall",
        "Demo target: periodic stall PAUSE/PERIOD, e.g. 200ms/2s (nothing answered for 200 ms \
         every 2 s)",
    ),
    (
        "concurrency",
        "demo-concurrency",
        "Demo target: at most this many requests processed at once",
    ),
    (
        "leak",
        "demo-leak",
        "Demo target: bytes every request retains until the target stops (a memory leak, e.g. \
         4KiB)",
    ),
];

impl DemoFlags {
    /// in_run respells an argument of `run` as `--demo-*` when it is one of these flags; for
    /// clap's `mut_args`, so it is handed every argument of the verb.
    pub(super) fn in_run(arg: Arg) -> Arg {
        match IN_RUN.iter().find(|(id, _, _)| arg.get_id() == *id) {
            Some(&(_, long, help)) => arg.long(long).help(help),
            None => arg,
        }
    }

    /// given says whether any demo flag differs from its default.
    pub(super) fn given(&self) -> bool {
        self.stall.is_some()
            || self.concurrency.is_some()
            || self.error_rate != 0.0
            || !self.jitter.is_zero()
            || !self.latency.is_zero()
            || self.leak.is_some_and(|n| n > 0)
    }

    /// settings are the flags as the demo target's configuration, not yet validated: `serve`
    /// lets the target refuse them, in the target's words.
    pub(super) fn settings(&self, seed: u64) -> DemoConfig {
        DemoConfig {
            latency: self.latency,
            jitter: self.jitter,
            error_rate: self.error_rate,
            stall: self.stall,
            concurrency: self.concurrency,
            seed,
            tls: None,
            leak: self.leak.unwrap_or(0),
        }
    }

    /// in_run_config validates the flags into the settings of the target `run` starts, refusing
    /// them in the words of `run`'s flags.
    pub(super) fn in_run_config(&self, seed: u64) -> Result<DemoConfig, Failure> {
        let config = self.settings(seed);
        config.validate().map_err(|e| match e {
            DemoConfigError::ErrorRate(rate) => {
                usage(format!("--demo-error-rate {rate} must be between 0 and 1"))
            }
            DemoConfigError::NoConcurrency => usage("--demo-concurrency must be at least 1"),
            // Refused already as the flag was parsed (`Stall::from_str` checks it).
            DemoConfigError::Stall(msg) => usage(msg),
        })?;
        Ok(config)
    }
}
