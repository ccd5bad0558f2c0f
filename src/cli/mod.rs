//! Command line: the verb table, dispatch and exit codes.
//!
//! Each verb is one file that owns its flags, their validation and what it runs: `run.rs`,
//! `check.rs`, `report.rs`, `merge.rs`, `serve.rs`, `bench.rs` and `ui.rs`; flags two verbs share are declared once in
//! `flags.rs`. Parsing code only validates; a bad flag is refused with exit 2 before anything is
//! sent. This module knows no verb's flags: it parses, dispatches, and maps the outcome to the
//! process exit code (0, 1 for a failed run, 2 for bad usage, 3 for a run that cannot be valid).

mod bench;
mod check;
mod flags;
mod merge;
mod report;
mod run;
mod serve;
mod ui;
mod watch;

use clap::{Parser, Subcommand};

use crate::run::Failure;

/// metronome: an open-model HTTP load generator. Requests leave on a fixed schedule that never
/// waits for responses; latency counts from each request's intended start.
#[derive(Debug, Parser)]
#[command(name = "metronome", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Command is the verb table: one variant per verb, its help the verb's one line.
#[derive(Debug, Subcommand)]
enum Command {
    /// Send requests at a fixed rate and report latency corrected for coordinated omission.
    Run(Box<run::RunArgs>),
    /// Validate test plans and print their schedules, mixes and criteria.
    Check(check::CheckArgs),
    /// Render the HTML and CSV reports again from a run's saved results (--out DIR), without
    /// running anything.
    Report(report::ReportArgs),
    /// Merge the output directories of a run's shards (run --shard I/N --out DIR) into one
    /// result, judged by the plan's criteria, with the exit code of a single run.
    Merge(merge::MergeArgs),
    /// Serve the built-in demo target (the plant backend API) on loopback.
    Serve(serve::ServeArgs),
    /// Measure the engine itself: the machine's timer floor, then rising rates until the
    /// schedule no longer holds, with dispatch lag, CPU per request and memory.
    Bench(bench::BenchArgs),
    /// Serve a start page to pick a plan (shipped, uploaded, or quick mode), check it, start
    /// it, watch it live and list past runs with their verdicts, one run at a time.
    Ui(ui::UiArgs),
}

/// main parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::command(*args),
        Command::Check(args) => Ok(check::command(args)),
        Command::Report(args) => report::command(args),
        Command::Merge(args) => merge::command(args),
        Command::Bench(args) => bench::command(args),
        Command::Serve(args) => serve::command(args),
        Command::Ui(args) => ui::command(args),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            crate::say!("error: {f}");
            f.exit_code()
        }
    }
}

/// usage is a bad-usage failure (exit 2) with this message.
fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}
