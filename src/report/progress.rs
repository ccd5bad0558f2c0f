//! Progress: a line a second while the run goes on, on standard error.
//!
//! On a terminal the line rewrites itself in place; elsewhere (CI logs, pipes) each second is
//! a plain line of its own.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::plan::Plan;
use crate::record::Hist;
use crate::recorder::Recorder;
use crate::schedule::Schedule;
use crate::units::{format_duration, format_us};

/// Progress prints the live view of a run.
pub struct Progress {
    enabled: bool,
    tty: bool,
    total: Duration,
    schedules: Vec<Schedule>,
    /// Whether a line is on screen without its newline yet.
    open_line: bool,
}

impl Progress {
    /// new prepares the live view of `plan`; `quiet` silences it.
    pub fn new(plan: &Plan, quiet: bool) -> Progress {
        let schedules: Vec<_> = (plan.scenarios.iter().enumerate())
            .map(|(k, s)| s.schedule(plan.seed, k as u64))
            .collect();
        Progress {
            enabled: !quiet,
            tty: std::io::stderr().is_terminal(),
            total: schedules
                .iter()
                .map(|s| s.duration())
                .max()
                .unwrap_or_default(),
            schedules,
            open_line: false,
        }
    }

    /// line renders the progress line for `elapsed` from the recorder's state.
    pub fn line(&self, elapsed: Duration, rec: &Recorder) -> String {
        let stage = self
            .schedules
            .first()
            .and_then(|s| s.stage_at(elapsed).map(|k| s.stages()[k].name.clone()))
            .unwrap_or_else(|| "drain".into());
        let target: f64 = self.schedules.iter().map(|s| s.rate_at(elapsed)).sum();
        let last = rec.intervals.last().cloned().unwrap_or_default();
        let mut latency = Hist::default();
        for c in &rec.totals.cells {
            latency.merge(&c.latency);
        }
        let (_, cells) = rec.totals.totals();
        let dropped: u64 = rec.totals.stages.iter().map(|s| s.dropped).sum();
        let p99 = if latency.count() > 0 {
            format_us(latency.histogram().value_at_quantile(0.99))
        } else {
            "-".into()
        };
        format!(
            "[{:>7} / {}] {stage} · target {target:.0}/s · achieved {}/s · in flight {} · errors {} · dropped {dropped} · p99 {p99}",
            format_duration(elapsed.min(self.total.max(elapsed))),
            format_duration(self.total),
            last.scheduled - last.dropped,
            rec.in_flight(),
            cells.errors.total(),
        )
    }

    /// tick prints the line for `elapsed`.
    pub fn tick(&mut self, elapsed: Duration, rec: &Recorder) {
        if !self.enabled {
            return;
        }
        let line = self.line(elapsed, rec);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.open_line = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// note prints a message on a line of its own.
    pub fn note(&mut self, message: &str) {
        self.finish();
        eprintln!("{message}");
    }

    /// finish ends an in-place line so that what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.open_line {
            eprintln!();
            self.open_line = false;
        }
    }
}
