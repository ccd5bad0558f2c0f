//! Checkpoints: the summary written every few seconds while a run goes on, so a run killed
//! (`kill -9`, a crash, the machine lost) still leaves a summary beside its streamed interval
//! log, and `metronome report` renders everything up to the last checkpoint. The run's own
//! summary replaces it when the run ends.

use std::path::Path;
use std::time::Duration;

use crate::plan::Plan;
use crate::recorder::Recorder;
use crate::report::{self, results};
use crate::summary::{self, RunFacts};

/// EVERY is how often a checkpoint is written: what a killed run can lose at most.
pub const EVERY: Duration = Duration::from_secs(5);

/// RUN_COMPLETED is the criterion a checkpoint fails: the run had not ended.
const RUN_COMPLETED: &str = "run completed";

/// write saves the summary of the run so far into `dir`, marked partial, its "run completed"
/// criterion saying the run had not ended when it was written.
pub fn write(plan: &Plan, rec: &Recorder, facts: &RunFacts, dir: &Path) -> std::io::Result<()> {
    let mut facts = facts.clone();
    facts.interrupted_at = Some(facts.elapsed);
    let mut s = summary::build(plan, rec, &facts);
    for c in s.criteria.iter_mut().filter(|c| c.name == RUN_COMPLETED) {
        c.detail = format!(
            "the run had not ended when this summary was written, {:.0} s into it: it was killed, crashed, or is still going; figures are up to then, and the interval log beside it may hold a few seconds more",
            facts.elapsed.as_secs_f64()
        );
    }
    report::json::write(&s, &dir.join(results::SUMMARY_JSON))
}
