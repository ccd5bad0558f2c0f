//! Recorder: merges the workers' handovers into the run's totals and per-second history.
//!
//! It is fed `Handover`s and ticks; it owns the merged `Recording` and one `Interval` of counts
//! per second, from which the progress line, the target-responsiveness check and the
//! time-series reports are made. It knows nothing of HTTP, threads or output formats.

use std::sync::Arc;
use std::time::Duration;

use crate::criteria::windows::Windows;
use crate::record::{Handover, Hist, Layout, Recording};

/// Interval is what happened in one second of the run (as the recorder received it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// End of the interval, in seconds from the start.
    pub end_s: f64,
    /// Arrivals the engine got to.
    pub scheduled: u64,
    /// Arrivals dropped.
    pub dropped: u64,
    /// Successful responses.
    pub successes: u64,
    /// Errors of any kind.
    pub errors: u64,
    /// Arrivals for which the target sent a response (successes and HTTP errors).
    pub answered: u64,
    /// Arrivals in flight at the end of the interval (sum over workers' last reports).
    pub in_flight: u64,
}

impl Interval {
    /// add adds another interval's counts (another shard's, over the same second); its end is
    /// the later of the two.
    pub fn add(&mut self, o: &Interval) {
        self.end_s = self.end_s.max(o.end_s);
        self.scheduled += o.scheduled;
        self.dropped += o.dropped;
        self.successes += o.successes;
        self.errors += o.errors;
        self.answered += o.answered;
        self.in_flight += o.in_flight;
    }
}

/// IntervalSink receives every closed interval: where per-second results are streamed (the
/// HdrHistogram log, the history CSV), so memory stays flat however long the run.
pub trait IntervalSink {
    /// interval is called once per closed interval [start, end) with what it recorded, the run's
    /// totals so far, and its counts.
    fn interval(
        &mut self,
        start: Duration,
        end: Duration,
        interval: &Recording,
        totals: &Recording,
        counts: &Interval,
    ) -> std::io::Result<()>;

    /// steered says the plan's stages changed (see `steer`): the next intervals follow `plan`.
    fn steered(&mut self, _plan: &crate::plan::Plan) {}
}

/// Recorder holds the run's merged results.
pub struct Recorder {
    /// Everything recorded so far.
    pub totals: Recording,
    /// One entry per closed interval.
    pub intervals: Vec<Interval>,
    current: Interval,
    /// What the current interval recorded, for the sink.
    interval: Recording,
    in_flight: Vec<u64>,
    done: Vec<bool>,
    sink: Option<Box<dyn IntervalSink>>,
    /// Latency of the last few intervals, for a rolling p99.
    recent: std::collections::VecDeque<Hist>,
    /// The first error the sink returned; the run goes on, and it is reported at the end.
    pub sink_error: Option<std::io::Error>,
    /// CPU time the worker threads used, summed when they finish.
    pub engine_cpu: Duration,
    /// CPU time the run's own thread used from the start to the end of the drain: merging the
    /// handovers, closing each second, the progress line, the streamed files, the live view.
    pub recorder_cpu: Duration,
    /// How long the worker threads waited for a CPU while ready to run, summed when they
    /// finish; None when the kernel did not say for any of them.
    pub engine_cpu_wait: Option<Duration>,
    /// The plan's windowed criteria, judged on every closed second.
    pub windows: Option<Windows>,
    /// The last closed second's histograms, kept for the live view when it asks (`keep_seconds`).
    pub last_second: Option<Second>,
    keep_seconds: bool,
}

/// Second is what one closed second recorded, all requests together, for the live view's series.
#[derive(Debug, Clone, Default)]
pub struct Second {
    pub latency: Hist,
    pub service_time: Hist,
    pub dispatch_lag: Hist,
    pub errors: crate::record::ErrorCounts,
}

/// RECENT_INTERVALS is how many intervals the rolling p99 covers.
pub const RECENT_INTERVALS: usize = 10;

/// UNRESPONSIVE_AFTER is how long the target may go without answering, while arrivals keep
/// being issued, before the run says it stopped answering.
pub const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(5);

/// UNRESPONSIVE_MIN_ARRIVALS is how many arrivals must go unanswered in that stretch, so a
/// slow endpoint at a low rate is not mistaken for a dead one.
pub const UNRESPONSIVE_MIN_ARRIVALS: u64 = 5;

impl Recorder {
    /// new makes a recorder for `workers` workers.
    pub fn new(layout: Arc<Layout>, workers: usize) -> Recorder {
        Recorder {
            totals: Recording::new(layout.clone()),
            intervals: Vec::new(),
            current: Interval::default(),
            interval: Recording::new(layout),
            in_flight: vec![0; workers],
            done: vec![false; workers],
            sink: None,
            sink_error: None,
            engine_cpu: Duration::ZERO,
            engine_cpu_wait: None,
            recorder_cpu: Duration::ZERO,
            recent: Default::default(),
            windows: None,
            last_second: None,
            keep_seconds: false,
        }
    }

    /// keep_seconds keeps each closed second's histograms in `last_second`.
    pub fn keep_seconds(mut self, keep: bool) -> Recorder {
        self.keep_seconds = keep;
        self
    }

    /// with_windows judges windowed criteria on every closed second.
    pub fn with_windows(mut self, windows: Option<Windows>) -> Recorder {
        self.windows = windows;
        self
    }

    /// with_sink streams every closed interval to `sink`.
    pub fn with_sink(mut self, sink: Box<dyn IntervalSink>) -> Recorder {
        self.sink = Some(sink);
        self
    }

    /// steered follows a change of the plan's stages (see `steer`): the windows of the stages
    /// it cut or added, and the sink's labels and rates.
    pub fn steered(&mut self, plan: &crate::plan::Plan) {
        if let Some(w) = &mut self.windows {
            w.steered(plan);
        }
        if let Some(s) = &mut self.sink {
            s.steered(plan);
        }
    }

    /// absorb merges one handover.
    pub fn absorb(&mut self, h: Handover) {
        let c = &mut self.current;
        for s in &h.recording.stages {
            c.scheduled += s.scheduled;
            c.dropped += s.dropped;
        }
        for cell in &h.recording.cells {
            c.successes += cell.latency.count();
            c.errors += cell.errors.total();
            c.answered += cell.latency.count() + cell.errors.answered();
        }
        self.in_flight[h.worker] = h.in_flight;
        self.engine_cpu += h.cpu.unwrap_or_default();
        if let Some(w) = h.cpu_wait {
            *self.engine_cpu_wait.get_or_insert(Duration::ZERO) += w;
        }
        self.done[h.worker] |= h.last;
        self.totals.merge(&h.recording);
        self.interval.merge(&h.recording);
        let mut spent = h.recording;
        spent.reset();
        let _ = h.give_back.send(spent);
    }

    /// close_interval ends the current second at `elapsed` and returns it.
    pub fn close_interval(&mut self, elapsed: Duration) -> &Interval {
        let mut closed = std::mem::take(&mut self.current);
        closed.end_s = elapsed.as_secs_f64();
        closed.in_flight = self.in_flight.iter().sum();
        let start = Duration::from_secs_f64(self.intervals.last().map_or(0.0, |i| i.end_s));
        if let Some(sink) = self.sink.as_mut()
            && let Err(e) = sink.interval(start, elapsed, &self.interval, &self.totals, &closed)
        {
            self.sink_error.get_or_insert(e);
        }
        let mut latency = Hist::default();
        for c in &self.interval.cells {
            latency.merge(&c.latency);
        }
        if self.recent.len() == RECENT_INTERVALS {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
        if let Some(w) = self.windows.as_mut() {
            w.observe(start, elapsed, &self.interval);
        }
        if self.keep_seconds {
            let (engine, all) = self.interval.totals();
            self.last_second = Some(Second {
                latency: all.latency,
                service_time: all.service_time,
                dispatch_lag: engine.dispatch_lag,
                errors: all.errors,
            });
        }
        self.interval.reset();
        self.intervals.push(closed);
        self.intervals.last().unwrap()
    }

    /// finish closes the last (partial) interval if anything happened in it.
    pub fn finish(&mut self, elapsed: Duration) {
        if self.current != Interval::default() {
            self.close_interval(elapsed);
        }
        if let Some(w) = self.windows.as_mut() {
            w.finish();
        }
    }

    /// rolling_latency is the latency of successful responses over the last
    /// `RECENT_INTERVALS` intervals.
    pub fn rolling_latency(&self) -> Hist {
        let mut h = Hist::default();
        for r in &self.recent {
            h.merge(r);
        }
        h
    }

    /// in_flight is the sum of the workers' last in-flight reports.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.iter().sum()
    }

    /// all_done says whether every worker sent its final handover.
    pub fn all_done(&self) -> bool {
        self.done.iter().all(|&d| d)
    }

    /// longest_silence is the longest stretch in which the target answered nothing though at
    /// least `UNRESPONSIVE_MIN_ARRIVALS` arrivals came due (issued or dropped: a full in-flight
    /// bound must not hide a dead target): from the start of the run to its first answer, or
    /// from one answer to the next. None when the target never answered.
    pub fn longest_silence(&self) -> Option<Silence> {
        if !self.intervals.iter().any(|i| i.answered > 0) {
            return None;
        }
        let mut best = Silence::default();
        let mut start_s = 0.0;
        let mut issued = 0;
        let mut answered_yet = false;
        for i in &self.intervals {
            if i.answered > 0 {
                start_s = i.end_s;
                issued = 0;
                answered_yet = true;
                continue;
            }
            issued += i.scheduled;
            let span = Duration::from_secs_f64(i.end_s - start_s);
            if issued >= UNRESPONSIVE_MIN_ARRIVALS && span > best.span {
                best = Silence {
                    span,
                    arrivals: issued,
                    from_start: !answered_yet,
                };
            }
        }
        Some(best)
    }
}

/// Silence is a stretch in which the target answered nothing.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Silence {
    /// How long it lasted, to the whole interval.
    pub span: Duration,
    /// Arrivals that came due in it.
    pub arrivals: u64,
    /// True when it ran from the start of the run: the target had not answered yet.
    pub from_start: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(r: &mut Recorder, s: f64, scheduled: u64, answered: u64) {
        tick_dropping(r, s, scheduled, 0, answered);
    }

    fn tick_dropping(r: &mut Recorder, s: f64, scheduled: u64, dropped: u64, answered: u64) {
        r.current.scheduled = scheduled;
        r.current.dropped = dropped;
        r.current.answered = answered;
        r.close_interval(Duration::from_secs_f64(s));
    }

    #[test]
    fn a_full_in_flight_bound_does_not_hide_a_dead_target() {
        // Every arrival is dropped because the few in flight never come back: the target is
        // silent all the same, and arrivals dropped later than they were scheduled (the end of
        // a drain) must not make the count wrap.
        let mut r = Recorder::new(Arc::new(Layout::new(vec![(1, 1)])), 1);
        tick(&mut r, 1.0, 10, 10);
        for s in 2..=8 {
            tick_dropping(&mut r, s as f64, 10, 10, 0);
        }
        tick_dropping(&mut r, 9.0, 0, 40, 0);
        assert_eq!(r.longest_silence(), Some(silence(8, 70, false)));
    }

    #[test]
    fn silence_is_measured_from_the_last_answer() {
        let mut r = Recorder::new(Arc::new(Layout::new(vec![(1, 1)])), 1);
        assert_eq!(r.longest_silence(), None);
        tick(&mut r, 1.0, 0, 0);
        tick(&mut r, 2.0, 10, 10);
        for s in 3..=9 {
            tick(&mut r, s as f64, 10, 0);
        }
        tick(&mut r, 10.0, 10, 5);
        assert_eq!(r.longest_silence(), Some(silence(7, 70, false)));
    }

    fn silence(secs: u64, arrivals: u64, from_start: bool) -> Silence {
        Silence {
            span: Duration::from_secs(secs),
            arrivals,
            from_start,
        }
    }

    #[test]
    fn a_target_silent_from_the_start_is_silent_too() {
        // Answers (the preflight's, or none at all) before the schedule prove nothing: 8 s
        // without an answer from the first arrival on is a silence like any other.
        let mut r = Recorder::new(Arc::new(Layout::new(vec![(1, 1)])), 1);
        for s in 1..=8 {
            tick(&mut r, s as f64, 20, 0);
        }
        for s in 9..=12 {
            tick(&mut r, s as f64, 20, 20);
        }
        assert_eq!(r.longest_silence(), Some(silence(8, 160, true)));
    }
}
