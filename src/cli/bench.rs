//! `metronome bench`: the engine measured by itself, at rising rates.
//!
//! It owns the verb's flags and their validation; the measuring is `bench`'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::usage;
use crate::bench;
use crate::plan::Pacing;
use crate::report;
use crate::run::Failure;
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Target URL; without it a minimal target runs in-process on its own thread.
    #[arg(long)]
    url: Option<String>,
    /// Length of each step.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Worker thread counts to climb with, comma-separated: `1,2` shows the throughput curve
    /// over threads.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Rates to step through, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,10000,20000,50000,100000,150000,200000"
    )]
    rates: Vec<f64>,
    /// Pacing of the workers.
    #[arg(long, value_enum, default_value_t = Pacing::Default)]
    pacing: Pacing,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// After the first rate that breaks, this many steps of bisection between it and the last
    /// rate held, to narrow down the highest rate held; 0 turns it off.
    #[arg(long, default_value_t = 3, value_name = "STEPS")]
    refine: usize,
    /// Write the bench results as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

/// command validates the flags, runs the bench and writes its JSON when asked.
pub(super) fn command(args: BenchArgs) -> Result<i32, Failure> {
    if args.threads.is_empty() || args.threads.iter().any(|&t| t == 0 || t > 1024) {
        return Err(usage(
            "--threads must be counts between 1 and 1024, e.g. --threads 1,2",
        ));
    }
    if args.rates.is_empty() || args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(usage(
            "--rates must be positive numbers, e.g. --rates 1000,10000",
        ));
    }
    if args.duration.is_zero() {
        return Err(usage("--duration must be longer than zero, e.g. 5s"));
    }
    if let Some(p) = &args.json {
        report::check_writable(p).map_err(Failure::Usage)?;
    }
    let settings = bench::Settings {
        url: args.url.clone(),
        duration: args.duration,
        threads: args.threads.clone(),
        rates: args.rates.clone(),
        pacing: args.pacing,
        connections: args.connections.max(1),
        refine: args.refine,
    };
    let report = bench::run(&settings)?;
    if let Some(p) = &args.json {
        let text =
            serde_json::to_vec_pretty(&report).map_err(|e| Failure::NotValid(e.to_string()))?;
        report::write_atomically(p, &text)
            .map_err(|e| Failure::NotValid(format!("could not write {}: {e}", p.display())))?;
        crate::say!("bench results written to {}", p.display());
    }
    Ok(0)
}
