//! Progress: the live view of a run, on standard error.
//!
//! On a terminal, a bar per stage (the first scenario's stages; a finished stage's bar stays on
//! screen with its last figures) followed by the elapsed time, target and achieved rate, in
//! flight, errors, dropped and a rolling p99. Elsewhere (CI logs, pipes) a plain line a second.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::Plan;
use crate::recorder::{RECENT_INTERVALS, Recorder};
use crate::schedule::{Schedule, ShardOf};
use crate::units::{format_duration, format_us};

/// Progress prints the live view of a run.
pub struct Progress {
    enabled: bool,
    tty: bool,
    total: Duration,
    schedules: Vec<Schedule>,
    /// This process's share of the schedules' rates.
    shard: ShardOf,
    multi: MultiProgress,
    /// The bar of the stage running now, and its index.
    bar: Option<(usize, ProgressBar)>,
    /// The watched target's samples, whose latest the line shows.
    watch: Option<crate::watch::Shared>,
}

impl Progress {
    /// new prepares the live view of `plan`; `quiet` silences it.
    pub fn new(plan: &Plan, quiet: bool) -> Progress {
        let schedules = plan.schedules();
        Progress {
            enabled: !quiet,
            tty: std::io::stderr().is_terminal(),
            total: plan.schedule_duration(),
            schedules,
            shard: plan.shard,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bar: None,
            watch: None,
        }
    }

    /// steered follows a change of the plan's stages (see `steer`).
    pub fn steered(&mut self, plan: &Plan) {
        self.schedules = plan.schedules();
    }

    /// watching shows the watched target's latest memory (and CPU) on the line.
    pub fn watching(&mut self, log: Option<crate::watch::Shared>) {
        self.watch = log;
    }

    /// target_figures are the watch's part of the line: the latest sample, and how many reads
    /// failed or whether the target is gone.
    fn target_figures(&self) -> String {
        let Some(log) = &self.watch else {
            return String::new();
        };
        let log = log.lock().expect("not poisoned");
        let mut out = match log.latest() {
            Some(s) => format!(
                " · target mem {}{}",
                crate::watch::format_bytes(s.memory as f64),
                s.cpu
                    .map_or_else(String::new, |c| format!(" cpu {:.0} %", c * 100.0))
            ),
            None => " · target mem -".to_string(),
        };
        if let Some(g) = &log.gone {
            out.push_str(&format!(" (GONE at {})", g.at));
        } else if log.failed_reads > 0 {
            out.push_str(&format!(" ({} reads failed)", log.failed_reads));
        }
        out
    }

    /// figures renders the live figures for `elapsed` from the recorder's state.
    pub fn figures(&self, elapsed: Duration, rec: &Recorder) -> String {
        let target: f64 = self
            .shard
            .share(self.schedules.iter().map(|s| s.rate_at(elapsed)).sum());
        let last = rec.intervals.last().cloned().unwrap_or_default();
        let (_, cells) = rec.totals.totals();
        let dropped: u64 = rec.totals.stages.iter().map(|s| s.dropped).sum();
        let recent = rec.rolling_latency();
        let p99 = if recent.count() > 0 {
            format_us(recent.histogram().value_at_quantile(0.99))
        } else {
            "-".into()
        };
        format!(
            "{} / {} · target {target:.0}/s · achieved {}/s · in flight {} · errors {} · dropped {dropped} · p99 (last {RECENT_INTERVALS} s) {p99}",
            format_duration(elapsed),
            format_duration(self.total),
            last.scheduled - last.dropped,
            rec.in_flight(),
            cells.errors.total(),
        ) + &self.target_figures()
    }

    fn stage(&self, elapsed: Duration) -> Option<(usize, String, Duration, Duration)> {
        let s = self.schedules.first()?;
        let k = s.stage_at(elapsed)?;
        let st = &s.stages()[k];
        Some((k, st.name.clone(), s.stage_start(k), st.duration))
    }

    /// tick shows the state at `elapsed`.
    pub fn tick(&mut self, elapsed: Duration, rec: &Recorder) {
        if !self.enabled {
            return;
        }
        let figures = self.figures(elapsed, rec);
        let stage = self.stage(elapsed);
        if !self.tty {
            let name = stage.map_or_else(|| "drain".to_string(), |s| s.1);
            crate::say!("[{name}] {figures}");
            return;
        }
        match stage {
            Some((k, name, start, length)) => {
                if self.bar.as_ref().is_none_or(|(current, _)| *current != k) {
                    self.finish();
                    let bar = self.multi.add(ProgressBar::new(length.as_millis() as u64));
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>14} [{bar:24.cyan/blue}] {msg}")
                            .expect("the template is valid")
                            .progress_chars("=> "),
                    );
                    bar.set_prefix(name);
                    self.bar = Some((k, bar));
                }
                if let Some((_, bar)) = &self.bar {
                    bar.set_position(elapsed.saturating_sub(start).as_millis() as u64);
                    bar.set_message(figures);
                }
            }
            None => {
                if let Some((_, bar)) = &self.bar {
                    bar.set_position(bar.length().unwrap_or(0));
                    bar.set_message(format!("drain · {figures}"));
                }
            }
        }
    }

    /// note prints a message on a line of its own, above the bars.
    pub fn note(&mut self, message: &str) {
        if self.bar.is_some() {
            let _ = self.multi.println(message);
        } else {
            crate::say!("{message}");
        }
    }

    /// finish leaves the current bar on screen as it is, so what follows starts below it.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.abandon();
        }
    }
}
