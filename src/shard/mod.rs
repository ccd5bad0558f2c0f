//! Shards: one plan's schedule split over several processes (`--shard I/N`), and their results
//! merged back into one (`metronome merge`).
//!
//! Shard i of n issues the arrivals i, i+n, i+2n, … of every scenario (`schedule::ShardOf`), so
//! no coordinator is needed: the processes share only the plan, the seed and a start instant.
//! Each writes its run file (`file.rs`) beside its reports; the merge (`merge.rs`) adds their
//! recordings as the recorder adds its workers' handovers, lines their per-second logs up on
//! their start instants (`log.rs`), and judges the plan's criteria once on the whole.

mod file;
mod log;
mod merge;

pub use file::{Invocation, RUN_FILE, RunFile};
pub use merge::{MergeError, Shard, merge};
