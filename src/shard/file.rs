//! The run file (`recording.json`): what a run writes beside its reports so that `metronome
//! merge` can rebuild the run exactly: how it was invoked (to rebuild its plan), which shard it
//! was, when and by which clock it started, its per-second counts, and its whole recording.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::{self, ClockSource};
use crate::plan::Plan;
use crate::record::SavedRecording;
use crate::recorder::{Interval, Recorder};
use crate::schedule::ShardOf;
use crate::summary::RunFacts;

/// RUN_FILE is the file's name in an output directory.
pub const RUN_FILE: &str = "recording.json";

/// SCHEMA names the file's layout.
pub const SCHEMA: &str = "metronome.recording.v1";

/// Invocation is how a run was started: its arguments after `run`, and the plan file's text as
/// it was read, so the plan can be rebuilt even where the file has changed or is not there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub args: Vec<String>,
    pub plan_file: Option<String>,
    pub plan_text: Option<String>,
}

/// RunFile is a run's whole result in one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    pub schema: String,
    pub metronome_version: String,
    pub invocation: Invocation,
    pub shard: ShardOf,
    /// The schedule's start instant (RFC 3339, µs).
    pub started_at: String,
    pub start_requested: Option<String>,
    /// Seconds after `start_requested` the engine got going.
    #[serde(default)]
    pub started_late_s: f64,
    pub clock: ClockSource,
    pub elapsed_s: f64,
    pub interrupted_at_s: Option<f64>,
    pub connections_opened: usize,
    pub preflight_answered: bool,
    pub engine_cpu_s: f64,
    /// How long the worker threads waited for a CPU (absent where the kernel does not say).
    #[serde(default)]
    pub engine_cpu_wait_s: Option<f64>,
    /// The recorder's per-second counts, by end of second from this run's start.
    pub intervals: Vec<Interval>,
    pub recording: SavedRecording,
}

impl RunFile {
    /// of keeps what a run of `plan` (as run: steered, if it was) recorded and knows.
    pub fn of(invocation: Invocation, plan: &Plan, rec: &Recorder, facts: &RunFacts) -> RunFile {
        let stages: Vec<usize> = plan.scenarios.iter().map(|s| s.stages.len()).collect();
        RunFile {
            schema: SCHEMA.into(),
            metronome_version: env!("CARGO_PKG_VERSION").into(),
            invocation,
            shard: plan.shard,
            started_at: clock::format(facts.started_at),
            start_requested: facts.start_requested.map(clock::format),
            started_late_s: facts.started_late.as_secs_f64(),
            clock: facts.clock.clone(),
            elapsed_s: facts.elapsed.as_secs_f64(),
            interrupted_at_s: facts.interrupted_at.map(|d| d.as_secs_f64()),
            connections_opened: facts.connections_opened,
            preflight_answered: facts.preflight_answered,
            engine_cpu_s: rec.engine_cpu.as_secs_f64(),
            engine_cpu_wait_s: rec.engine_cpu_wait.map(|w| w.as_secs_f64()),
            intervals: rec.intervals.clone(),
            recording: SavedRecording::of(&rec.totals.trimmed(&stages)),
        }
    }

    /// started_at is the start instant as a time.
    pub fn started_at(&self) -> Option<SystemTime> {
        clock::parse(&self.started_at)
    }

    /// facts are the run's facts as the summary is built from them.
    pub fn facts(&self) -> Option<RunFacts> {
        Some(RunFacts {
            started_at: self.started_at()?,
            elapsed: Duration::from_secs_f64(self.elapsed_s.max(0.0)),
            interrupted_at: self
                .interrupted_at_s
                .map(|s| Duration::from_secs_f64(s.max(0.0))),
            connections_opened: self.connections_opened,
            preflight_answered: self.preflight_answered,
            start_requested: self.start_requested.as_deref().and_then(clock::parse),
            started_late: Duration::from_secs_f64(self.started_late_s.max(0.0)),
            clock: self.clock.clone(),
            aborted: None,
        })
    }

    /// write saves the file into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::report::write_atomically(&dir.join(RUN_FILE), &json)
    }

    /// read loads the file from a run's output directory.
    pub fn read(dir: &Path) -> Result<RunFile, String> {
        let path = dir.join(RUN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "cannot read {}: {e}; merge reads the output directories (--out DIR) of `metronome run`",
                path.display()
            )
        })?;
        let file: RunFile = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a metronome run file: {e}", path.display()))?;
        if file.schema != SCHEMA {
            return Err(format!(
                "{} has schema {}, this metronome reads {SCHEMA}",
                path.display(),
                file.schema
            ));
        }
        Ok(file)
    }
}
