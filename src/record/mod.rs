//! Recording: the histograms and counters one worker fills, and the recorder merges.
//!
//! A `Recording` holds, per (scenario, request, slot), latency and service time of successful
//! responses, latency of errors and error counts by kind (`errors.rs`); per (scenario, slot) the
//! engine's own figures: dispatch lag, queue wait, connect time, scheduled and dropped
//! arrivals, each in a `Hist` (`hist.rs`). A slot is a stage's settle time or the rest of it.
//! Workers each fill their own and hand it over once per interval (a `Handover`); the recorder
//! adds them with `merge`. This module knows no HTTP and no clock: it is given durations and
//! outcomes.

mod errors;
mod hist;
mod saved;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use errors::{ErrorCounts, ErrorKind};
pub use hist::{Hist, MAX_US};
pub use saved::{SavedRecording, SavedRecordingError};
/// Slot is where a stage's arrivals are recorded: every stage has two, its settle time and the
/// rest, so criteria can leave the settle time out while the reports show the whole stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(usize);

impl Slot {
    /// new is the slot of `stage`'s settle time (`settling`) or of the rest of it.
    pub fn new(stage: usize, settling: bool) -> Slot {
        Slot(stage * 2 + usize::from(settling))
    }

    /// stage is the index of the stage the slot belongs to.
    pub fn stage(self) -> usize {
        self.0 / 2
    }

    /// settling says whether the slot holds the stage's settle time.
    pub fn settling(self) -> bool {
        self.0 % 2 == 1
    }
}

/// FULL_HIST_BYTES is about what one full-range histogram costs.
const FULL_HIST_BYTES: usize = 190 * 1024;

/// FULL_RANGE_BUDGET is how much one recording may spend on full-range histograms.
const FULL_RANGE_BUDGET: usize = 4 << 20;

/// Layout says how many requests and stages each scenario has, to index cells: one per
/// (scenario, request, slot), one stage cell per (scenario, slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// (requests, slots) per scenario: two slots per stage.
    scenarios: Vec<(usize, usize)>,
    /// First cell index of each scenario.
    cell_base: Vec<usize>,
    /// First stage-cell index of each scenario.
    stage_base: Vec<usize>,
    /// Slots per scenario of the stages planned; those past them are spare, for the stages
    /// steering may add, and cost nothing until recorded into.
    planned: Vec<usize>,
}

impl Layout {
    /// with_spare is `new` with `spare` stages more per scenario, held for steering.
    pub fn with_spare(scenarios: Vec<(usize, usize)>, spare: usize) -> Layout {
        let planned = scenarios.iter().map(|&(_, stages)| 2 * stages).collect();
        Layout {
            planned,
            ..Layout::new(scenarios.into_iter().map(|(r, s)| (r, s + spare)).collect())
        }
    }

    /// new takes (number of requests, number of stages) for each scenario.
    pub fn new(scenarios: Vec<(usize, usize)>) -> Layout {
        let scenarios: Vec<(usize, usize)> = scenarios
            .into_iter()
            .map(|(r, stages)| (r, 2 * stages))
            .collect();
        let mut cell_base = Vec::new();
        let mut stage_base = Vec::new();
        let (mut c, mut s) = (0, 0);
        for &(requests, stages) in &scenarios {
            cell_base.push(c);
            stage_base.push(s);
            c += requests * stages;
            s += stages;
        }
        cell_base.push(c);
        stage_base.push(s);
        Layout {
            planned: scenarios.iter().map(|&(_, slots)| slots).collect(),
            scenarios,
            cell_base,
            stage_base,
        }
    }

    /// cell is the index of (scenario, request, slot).
    pub fn cell(&self, scenario: usize, request: usize, slot: Slot) -> usize {
        self.cell_base[scenario] + request * self.scenarios[scenario].1 + slot.0
    }

    /// stage_cell is the index of (scenario, slot).
    pub fn stage_cell(&self, scenario: usize, slot: Slot) -> usize {
        self.stage_base[scenario] + slot.0
    }

    /// shape is what the layout was made from: (requests, stages) per scenario.
    pub fn shape(&self) -> Vec<(usize, usize)> {
        self.scenarios
            .iter()
            .map(|&(r, slots)| (r, slots / 2))
            .collect()
    }

    /// scenarios is the number of scenarios.
    pub fn scenarios(&self) -> usize {
        self.scenarios.len()
    }

    /// requests is the number of requests in a scenario's mix.
    pub fn requests(&self, scenario: usize) -> usize {
        self.scenarios[scenario].0
    }

    /// slots are a scenario's slots, two per stage, in order.
    pub fn slots(&self, scenario: usize) -> impl Iterator<Item = Slot> {
        (0..self.scenarios[scenario].1).map(Slot)
    }
}

/// KEPT_CHECK_FAILURES is how many distinct check-failure reasons a cell keeps for the report.
pub const KEPT_CHECK_FAILURES: usize = 5;

/// Cell holds the outcomes of one request name in one stage of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Latency of successful responses.
    pub latency: Hist,
    /// Service time of successful responses.
    pub service_time: Hist,
    /// Latency of errors, kept apart so SLA percentiles read successes only.
    pub error_latency: Hist,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Response body bytes read.
    pub bytes: u64,
    /// The first few distinct reasons a response check failed.
    pub check_failures: Vec<String>,
}

impl Cell {
    /// requests is the number of arrivals that ended, in success or error.
    pub fn requests(&self) -> u64 {
        self.latency.count() + self.errors.total()
    }

    /// merge adds another cell's outcomes.
    pub fn merge(&mut self, other: &Cell) {
        self.latency.merge(&other.latency);
        self.service_time.merge(&other.service_time);
        self.error_latency.merge(&other.error_latency);
        self.errors.merge(&other.errors);
        self.bytes += other.bytes;
        for m in &other.check_failures {
            self.note_check_failure(m);
        }
    }

    /// note_check_failure keeps a check failure's reason, if it is new and there is room.
    pub fn note_check_failure(&mut self, why: &str) {
        if self.check_failures.len() < KEPT_CHECK_FAILURES
            && !self.check_failures.iter().any(|m| m == why)
        {
            self.check_failures.push(why.to_string());
        }
    }
}

/// StageCell holds the engine's own figures for one stage of one scenario.
#[derive(Debug, Clone, Default)]
pub struct StageCell {
    /// How late the engine got to each arrival it issued (dropped ones have none).
    pub dispatch_lag: Hist,
    /// From the engine getting to an arrival until a connection was free for it.
    pub queue_wait: Hist,
    /// Time to open a connection for an arrival (0 when a pooled one was reused).
    pub connect: Hist,
    /// TLS handshakes of the connections arrivals opened.
    pub tls_handshake: Hist,
    /// Arrivals the engine got to (issued or dropped).
    pub scheduled: u64,
    /// Arrivals that could not be issued.
    pub dropped: u64,
    /// Arrivals that had to open a new connection.
    pub new_connections: u64,
}

impl StageCell {
    /// merge adds another stage cell's figures.
    pub fn merge(&mut self, other: &StageCell) {
        self.dispatch_lag.merge(&other.dispatch_lag);
        self.queue_wait.merge(&other.queue_wait);
        self.connect.merge(&other.connect);
        self.tls_handshake.merge(&other.tls_handshake);
        self.scheduled += other.scheduled;
        self.dropped += other.dropped;
        self.new_connections += other.new_connections;
    }
}

/// Outcome is what became of one issued arrival.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario index.
    pub scenario: usize,
    /// Request index within the scenario's mix.
    pub request: usize,
    /// Slot of the arrival's intended time: its stage, settle time or not.
    pub slot: Slot,
    /// Response complete (or failure) − intended time.
    pub latency: Duration,
    /// Waiting for a connection.
    pub queue_wait: Duration,
    /// Opening a connection, if one was opened (TLS handshake included).
    pub connect: Option<Duration>,
    /// The TLS handshake of that connection, if there was one.
    pub tls: Option<Duration>,
    /// Request sent → response complete.
    pub service_time: Duration,
    /// Body bytes read, or why it failed.
    pub result: Result<u64, ErrorKind>,
    /// Why a response check failed.
    pub check_failure: Option<String>,
}

/// Recording is one worker's (or the recorder's merged) histograms and counters.
#[derive(Debug, Clone)]
pub struct Recording {
    layout: Arc<Layout>,
    /// One per (scenario, request, stage).
    pub cells: Vec<Cell>,
    /// One per (scenario, stage).
    pub stages: Vec<StageCell>,
    /// Values clamped to `MAX_US`.
    pub clamped: u64,
}

impl Recording {
    /// new makes an empty recording for a layout.
    pub fn new(layout: Arc<Layout>) -> Recording {
        let (n_cells, n_stages) = (
            *layout.cell_base.last().unwrap(),
            *layout.stage_base.last().unwrap(),
        );
        // Small layouts (quick mode, small plans) get full-range histograms, so their memory is
        // flat from the start; large ones grow each histogram only as far as its values reach,
        // or they would cost hundreds of MB up front. Spare slots take none until used.
        let planned: usize = (0..layout.scenarios()).map(|k| layout.planned[k]).sum();
        let planned_cells: usize = (0..layout.scenarios())
            .map(|k| layout.requests(k) * layout.planned[k])
            .sum();
        let full = (planned_cells * 3 + planned * 4) * FULL_HIST_BYTES <= FULL_RANGE_BUDGET;
        let hist = |k: usize, slot: usize| {
            if full && slot < layout.planned[k] {
                Hist::full()
            } else {
                Hist::default()
            }
        };
        let mut cells = Vec::with_capacity(n_cells);
        let mut stages = Vec::with_capacity(n_stages);
        for (k, &(requests, slots)) in layout.scenarios.iter().enumerate() {
            for _ in 0..requests {
                cells.extend((0..slots).map(|slot| Cell {
                    latency: hist(k, slot),
                    service_time: hist(k, slot),
                    error_latency: hist(k, slot),
                    ..Cell::default()
                }));
            }
            stages.extend((0..slots).map(|slot| StageCell {
                dispatch_lag: hist(k, slot),
                queue_wait: hist(k, slot),
                connect: hist(k, slot),
                tls_handshake: hist(k, slot),
                ..StageCell::default()
            }));
        }
        Recording {
            layout,
            cells,
            stages,
            clamped: 0,
        }
    }

    /// trimmed is this recording with `stages[k]` stages for scenario k, the slots past them
    /// left out: a steerable run's spare slots (see `Layout::with_spare`) are not saved, so
    /// its saved recording has the layout of the plan as run, like any other run's.
    pub fn trimmed(&self, stages: &[usize]) -> Recording {
        let shape: Vec<(usize, usize)> = (0..self.layout.scenarios())
            .map(|k| (self.layout.requests(k), stages[k]))
            .collect();
        let layout = Arc::new(Layout::new(shape));
        let mut cells = Vec::new();
        let mut stage_cells = Vec::new();
        for k in 0..layout.scenarios() {
            for r in 0..layout.requests(k) {
                cells.extend(layout.slots(k).map(|slot| self.cell(k, r, slot).clone()));
            }
            stage_cells.extend(layout.slots(k).map(|slot| self.stage(k, slot).clone()));
        }
        Recording {
            layout,
            cells,
            stages: stage_cells,
            clamped: self.clamped,
        }
    }

    /// layout is the layout cells are indexed by.
    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    /// cell is the cell of (scenario, request, slot).
    pub fn cell(&self, scenario: usize, request: usize, slot: Slot) -> &Cell {
        &self.cells[self.layout.cell(scenario, request, slot)]
    }

    /// stage is the stage cell of (scenario, slot).
    pub fn stage(&self, scenario: usize, slot: Slot) -> &StageCell {
        &self.stages[self.layout.stage_cell(scenario, slot)]
    }

    /// stage_totals merges a stage's engine figures and outcomes over all its requests; with
    /// `settle` false, its settle time is left out.
    pub fn stage_totals(&self, scenario: usize, stage: usize, settle: bool) -> (StageCell, Cell) {
        let layout = self.layout();
        let mut e = StageCell::default();
        let mut c = Cell::default();
        for settling in [false, true] {
            if settling && !settle {
                continue;
            }
            let k = Slot::new(stage, settling);
            e.merge(self.stage(scenario, k));
            for r in 0..layout.requests(scenario) {
                c.merge(self.cell(scenario, r, k));
            }
        }
        (e, c)
    }

    /// dispatched records that the engine got to an arrival `lag` after its intended time;
    /// `dropped` when it could not be issued.
    pub fn dispatched(&mut self, scenario: usize, slot: Slot, lag: Duration, dropped: bool) {
        let s = &mut self.stages[self.layout.stage_cell(scenario, slot)];
        s.scheduled += 1;
        if dropped {
            // A dropped arrival was never issued: like its latency, its lag is not a figure of
            // the schedule kept (dropped promptly, it would count as on time).
            s.dropped += 1;
        } else {
            self.clamped += u64::from(s.dispatch_lag.record(lag));
        }
    }

    /// abandoned records an issued arrival that never got a connection before the run ended:
    /// it becomes dropped.
    pub fn abandoned(&mut self, scenario: usize, slot: Slot) {
        self.stages[self.layout.stage_cell(scenario, slot)].dropped += 1;
    }

    /// outcome records what became of an issued arrival.
    pub fn outcome(&mut self, o: &Outcome) {
        let mut clamped = 0;
        let s = &mut self.stages[self.layout.stage_cell(o.scenario, o.slot)];
        clamped += u64::from(s.queue_wait.record(o.queue_wait));
        clamped += u64::from(s.connect.record(o.connect.unwrap_or_default()));
        s.new_connections += u64::from(o.connect.is_some());
        if let Some(t) = o.tls {
            clamped += u64::from(s.tls_handshake.record(t));
        }
        let c = &mut self.cells[self.layout.cell(o.scenario, o.request, o.slot)];
        match o.result {
            Ok(bytes) => {
                clamped += u64::from(c.latency.record(o.latency));
                clamped += u64::from(c.service_time.record(o.service_time));
                c.bytes += bytes;
            }
            Err(kind) => {
                clamped += u64::from(c.error_latency.record(o.latency));
                c.errors.add(kind);
                if let Some(why) = &o.check_failure {
                    c.note_check_failure(why);
                }
            }
        }
        self.clamped += clamped;
    }

    /// reset empties every histogram and counter, keeping the memory for the next interval.
    pub fn reset(&mut self) {
        for c in &mut self.cells {
            c.latency.reset();
            c.service_time.reset();
            c.error_latency.reset();
            c.errors = ErrorCounts::default();
            c.bytes = 0;
            c.check_failures.clear();
        }
        for s in &mut self.stages {
            s.dispatch_lag.reset();
            s.queue_wait.reset();
            s.connect.reset();
            s.tls_handshake.reset();
            s.scheduled = 0;
            s.dropped = 0;
            s.new_connections = 0;
        }
        self.clamped = 0;
    }

    /// merge adds another recording of the same layout.
    pub fn merge(&mut self, other: &Recording) {
        debug_assert_eq!(self.layout, other.layout);
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            a.merge(b);
        }
        for (a, b) in self.stages.iter_mut().zip(&other.stages) {
            a.merge(b);
        }
        self.clamped += other.clamped;
    }

    /// totals sums the per-stage engine figures and per-cell outcomes over everything.
    pub fn totals(&self) -> (StageCell, Cell) {
        let mut s = StageCell::default();
        for x in &self.stages {
            s.merge(x);
        }
        let mut c = Cell::default();
        for x in &self.cells {
            c.merge(x);
        }
        (s, c)
    }
}

/// Handover is one interval of a worker's recording, sent by the engine to the recorder. It
/// lives here, beside what it carries, so neither of the two knows the other.
#[derive(Debug)]
pub struct Handover {
    /// Which worker sent it.
    pub worker: usize,
    /// What the worker recorded since its previous handover.
    pub recording: Recording,
    /// Arrivals issued and not yet ended, at the moment of the handover.
    pub in_flight: u64,
    /// True for the worker's final handover: it has drained and stopped.
    pub last: bool,
    /// Where the recorder sends the recording back, emptied, for the worker to reuse.
    pub give_back: mpsc::UnboundedSender<Recording>,
    /// With the last handover: the CPU time this worker thread used in all.
    pub cpu: Option<Duration>,
    /// With the last handover: how long this worker thread was ready to run but waited for a
    /// CPU, in all, where the kernel says (`/proc/thread-self/schedstat`).
    pub cpu_wait: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// served is a successful exchange of 100 bytes in (scenario, request, slot).
    fn served(scenario: usize, request: usize, slot: Slot) -> Outcome {
        Outcome {
            scenario,
            request,
            slot,
            latency: ms(20),
            queue_wait: ms(5),
            connect: None,
            tls: None,
            service_time: ms(15),
            result: Ok(100),
            check_failure: None,
        }
    }

    #[test]
    fn spare_slots_hold_nothing_until_used_and_are_trimmed_off_when_saved() {
        let spare = Arc::new(Layout::with_spare(vec![(2, 1), (1, 2)], 3));
        let mut r = Recording::new(spare);
        assert!(r.cells.iter().all(|c| c.latency.histogram().is_empty()));
        // A steered stage of scenario 0 (its second, the first spare one) is recorded into.
        let steered = Slot::new(1, false);
        let ok = served(0, 1, steered);
        r.outcome(&ok);
        r.outcome(&Outcome {
            scenario: 1,
            request: 0,
            slot: Slot::new(1, true),
            ..ok.clone()
        });
        let t = r.trimmed(&[2, 2]);
        assert_eq!(**t.layout(), Layout::new(vec![(2, 2), (1, 2)]));
        assert_eq!(t.cell(0, 1, steered).latency.count(), 1);
        assert_eq!(t.cell(1, 0, Slot::new(1, true)).bytes, 100);
        assert_eq!(t.totals().1.requests(), 2);
    }

    #[test]
    fn outcomes_land_in_their_cell_and_merge_adds() {
        let layout = Arc::new(Layout::new(vec![(2, 3), (1, 1)]));
        let mut a = Recording::new(layout.clone());
        // Scenario 0's second stage, outside its settle time.
        let k = Slot::new(1, false);
        let first = Slot::new(0, false);
        let ok = served(0, 1, k);
        a.outcome(&ok);
        a.outcome(&Outcome {
            scenario: 1,
            request: 0,
            slot: first,
            result: Err(ErrorKind::Http5xx),
            connect: Some(ms(1)),
            ..ok.clone()
        });
        a.dispatched(0, k, ms(1), false);
        a.dispatched(0, k, ms(1), true);
        let mut b = Recording::new(layout);
        b.merge(&a);
        b.merge(&a);
        assert_eq!(b.cell(0, 1, k).latency.count(), 2);
        assert_eq!(b.cell(0, 1, k).bytes, 200);
        assert_eq!(b.cell(1, 0, first).errors.get(ErrorKind::Http5xx), 2);
        assert_eq!(b.cell(1, 0, first).error_latency.count(), 2);
        assert_eq!(b.stage(1, first).new_connections, 2);
        assert_eq!(b.stage(0, k).scheduled, 4);
        assert_eq!(b.stage(0, k).dropped, 2);
        // The dropped arrivals were never issued: no dispatch lag for them.
        assert_eq!(b.stage(0, k).dispatch_lag.count(), 2);
        let (s, c) = b.totals();
        assert_eq!(c.requests(), 4);
        assert_eq!(s.connect.count(), 4);
    }

    #[test]
    fn values_past_an_hour_are_clamped_and_counted() {
        let mut r = Recording::new(Arc::new(Layout::new(vec![(1, 1)])));
        r.dispatched(0, Slot::new(0, false), Duration::from_secs(7200), false);
        assert_eq!(r.clamped, 1);
        // Read back within the histogram's 3 significant digits.
        let max = r
            .stage(0, Slot::new(0, false))
            .dispatch_lag
            .histogram()
            .max();
        assert!(max.abs_diff(MAX_US) <= MAX_US / 1000, "{max}");
    }
}
