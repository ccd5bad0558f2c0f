//! The merge: shards' results added into the one result a single process would have written,
//! the plan's criteria judged once on the whole.
//!
//! Counts add; histograms merge (percentiles are read from the merged histograms, never
//! averaged); per-second figures line up on the shards' start instants. Outputs that cannot be
//! one run (different plans, seeds or shard counts, a shard missing or given twice) are refused
//! before anything is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::check;
use crate::clock;
use crate::plan::Plan;
use crate::recorder::{Interval, Recorder};
use crate::report::{self, results};
use crate::schedule::ShardOf;
use crate::summary::{self, Criterion, Merged, Rule, RunFacts, ShardHealth, Summary};

use super::file::RunFile;
use super::log;

/// Shard is one shard's output directory, read back, with its plan rebuilt.
pub struct Shard {
    pub dir: PathBuf,
    pub file: RunFile,
    pub summary: Summary,
    pub hlog: Vec<u8>,
    /// The plan as the shard ran it, rebuilt from its invocation.
    pub plan: Plan,
}

/// MergeError is why shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The outputs are not the shards of one run (exit 2).
    #[error("{0}")]
    Refused(String),
    /// They are, but the merged result could not be written (exit 3).
    #[error("{0}")]
    Failed(String),
}

/// identity is what every shard of one run shares: the plan as `check` describes it, with the
/// limits each shard sets for itself (threads, connections, in flight) left out.
fn identity(plan: &Plan) -> String {
    let mut p = plan.clone();
    p.shard = ShardOf::WHOLE;
    p.threads = 1;
    p.limits.connections = 1;
    p.limits.max_in_flight = 1;
    check::describe(&p, true)
}

fn name(s: &Shard) -> String {
    format!("{} (shard {})", s.dir.display(), s.file.shard)
}

/// refuse_mismatches says why shards cannot be one run, if they cannot.
fn refuse_mismatches(shards: &[Shard]) -> Result<(), MergeError> {
    let refuse = |m: String| Err(MergeError::Refused(m));
    let Some(first) = shards.first() else {
        return refuse("nothing to merge: give the output directories of every shard".into());
    };
    let count = first.file.shard.count;
    for s in shards {
        if s.file.shard.count != count {
            return refuse(format!(
                "{} and {} were split into different shard counts: merge the shards of one run, all run with --shard I/{count} or all with the same N",
                name(first),
                name(s)
            ));
        }
        if s.plan.seed != first.plan.seed {
            return refuse(format!(
                "{} ran with seed {} and {} with seed {}: shards of one run share the seed, or together they do not make its schedule",
                name(first),
                first.plan.seed,
                name(s),
                s.plan.seed
            ));
        }
        let (a, b) = (identity(&first.plan), identity(&s.plan));
        if a != b {
            let (la, lb) = (a.lines().zip(b.lines()))
                .find(|(x, y)| x != y)
                .unwrap_or(("(shorter)", "(longer)"));
            return refuse(format!(
                "{} and {} ran different plans; the first difference:\n  {}\n  {}",
                name(first),
                name(s),
                la.trim(),
                lb.trim()
            ));
        }
    }
    let mut by_index: Vec<Option<&Shard>> = vec![None; count as usize];
    for s in shards {
        let i = s.file.shard.index as usize;
        match by_index.get(i) {
            Some(Some(other)) => {
                return refuse(format!(
                    "shard {} is given twice: {} and {}; give each shard's directory once",
                    s.file.shard,
                    other.dir.display(),
                    s.dir.display()
                ));
            }
            Some(None) => by_index[i] = Some(s),
            None => {
                return refuse(format!(
                    "{} says shard {}, which is not below its count",
                    s.dir.display(),
                    s.file.shard
                ));
            }
        }
    }
    let missing: Vec<String> = (by_index.iter().enumerate())
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return refuse(format!(
            "shard{} {} of {count} {} missing: a merge without every shard would not be the plan's run; give the output directory of every shard",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    Ok(())
}

/// merge checks that `shards` are one run's, merges them, judges the plan's criteria on the
/// whole, and writes every output a single run writes into `out`.
pub fn merge(mut shards: Vec<Shard>, out: &Path) -> Result<Summary, MergeError> {
    refuse_mismatches(&shards)?;
    shards.sort_by_key(|s| s.file.shard.index);
    let failed = |m: String| MergeError::Failed(m);
    let mut starts = Vec::new();
    for s in &shards {
        starts.push(s.file.started_at().ok_or_else(|| {
            MergeError::Refused(format!(
                "{}: the start instant `{}` cannot be read",
                s.dir.display(),
                s.file.started_at
            ))
        })?);
    }
    let t0 = *starts.iter().min().expect("there is a shard");
    let offsets: Vec<f64> = starts.iter().map(|&t| clock::between(t0, t)).collect();
    let spread = offsets.iter().cloned().fold(0.0, f64::max);

    let mut totals = None;
    let mut cpu = Duration::ZERO;
    let mut cpu_wait: Option<Duration> = None;
    let mut intervals: Vec<Interval> = Vec::new();
    let mut facts = RunFacts {
        started_at: t0,
        elapsed: Duration::ZERO,
        interrupted_at: None,
        connections_opened: 0,
        preflight_answered: true,
        start_requested: shards[0].file.facts().and_then(|f| f.start_requested),
        started_late: Duration::ZERO,
        clock: shards[0].file.clock.clone(),
        aborted: shards.iter().find_map(|s| s.summary.aborted.clone()),
    };
    for (s, &offset) in shards.iter().zip(&offsets) {
        let r = s.file.recording.recording().map_err(|e| {
            MergeError::Refused(format!(
                "{}: the recording cannot be read: {e}",
                s.dir.display()
            ))
        })?;
        match &mut totals {
            None => totals = Some(r),
            Some(t) => t.merge(&r),
        }
        cpu += Duration::from_secs_f64(s.file.engine_cpu_s.max(0.0));
        if let Some(w) = s.file.engine_cpu_wait_s {
            *cpu_wait.get_or_insert(Duration::ZERO) += Duration::from_secs_f64(w.max(0.0));
        }
        let shift = Duration::from_secs_f64(offset);
        facts.elapsed = facts
            .elapsed
            .max(shift + Duration::from_secs_f64(s.file.elapsed_s.max(0.0)));
        if let Some(at) = s.file.interrupted_at_s {
            let at = shift + Duration::from_secs_f64(at.max(0.0));
            facts.interrupted_at = Some(facts.interrupted_at.map_or(at, |x: Duration| x.min(at)));
        }
        facts.connections_opened += s.file.connections_opened;
        facts.started_late =
            (facts.started_late).max(Duration::from_secs_f64(s.file.started_late_s.max(0.0)));
        facts.preflight_answered &= s.file.preflight_answered;
        for i in &s.file.intervals {
            let end = i.end_s + offset;
            let k = (end - 1e-6).ceil().max(1.0) as usize;
            if intervals.len() < k {
                intervals.resize_with(k, Interval::default);
            }
            intervals[k - 1].add(&Interval {
                end_s: end,
                ..i.clone()
            });
        }
    }
    for (k, i) in intervals.iter_mut().enumerate() {
        if i.end_s == 0.0 {
            i.end_s = (k + 1) as f64;
        }
    }
    let totals = totals.expect("there is a shard");

    // The merged run's limits are the sum of the shards' own.
    let mut plan = shards[0].plan.clone();
    plan.shard = ShardOf::WHOLE;
    plan.threads = shards.iter().map(|s| s.summary.threads).sum();
    plan.limits.connections = shards.iter().map(|s| s.summary.connections).sum();
    plan.limits.max_in_flight = shards.iter().map(|s| s.summary.max_in_flight).sum();

    let mut rec = Recorder::new(totals.layout().clone(), 1);
    rec.totals = totals;
    rec.intervals = intervals;
    rec.engine_cpu = cpu;
    rec.engine_cpu_wait = cpu_wait;
    let mut summary = summary::build(&plan, &rec, &facts);
    summary.target = shards[0].summary.target.clone();
    // Windows are judged where the seconds were seen: each shard's verdict, on its share.
    summary.adopt(shards.iter().flat_map(|s| {
        let of = s.file.shard;
        (s.summary.criteria.iter())
            .filter(|c| matches!(c.rule, Some(Rule::Window { .. })))
            .map(move |c| Criterion {
                name: format!("shard {of}: {}", c.name),
                ..c.clone()
            })
    }));
    summary.merged = Some(Merged {
        shard_count: shards[0].file.shard.count,
        start_spread_s: spread,
        shards: (shards.iter().zip(&offsets))
            .map(|(s, &offset)| health(s, offset))
            .collect(),
    });

    std::fs::create_dir_all(out).map_err(|e| {
        failed(format!(
            "cannot create --out directory {}: {e}",
            out.display()
        ))
    })?;
    let logs: Vec<(&[u8], f64)> = (shards.iter().zip(&offsets))
        .map(|(s, &o)| (s.hlog.as_slice(), o))
        .collect();
    log::write(&logs, &plan, t0, out).map_err(failed)?;
    let path = out.join(results::SUMMARY_JSON);
    report::json::write(&summary, &path)
        .map_err(|e| failed(format!("could not write {}: {e}", path.display())))?;
    let hlog = std::fs::read(out.join(results::HLOG))
        .map_err(|e| failed(format!("could not read back the merged interval log: {e}")))?;
    let data = results::build(summary.clone(), &hlog).map_err(failed)?;
    let targets = report::Targets {
        out_dir: Some(out.to_path_buf()),
        html: None,
        csv_prefix: None,
        history_from: None,
    };
    report::write_reports(&data, None, &hlog, &targets)
        .map_err(|e| failed(format!("could not write the reports: {e}")))?;
    Ok(summary)
}

/// health is one shard's engine figures, from its own summary.
fn health(s: &Shard, offset: f64) -> ShardHealth {
    let m = &s.summary;
    ShardHealth {
        index: s.file.shard.index,
        dir: s.dir.display().to_string(),
        started_at: s.file.started_at.clone(),
        start_offset_s: offset,
        started_late_s: s.file.started_late_s,
        clock: s.file.clock.clone(),
        threads: m.threads,
        connections: m.connections,
        scheduled: m.scheduled,
        dropped: m.dropped,
        target_rate: m.target_rate,
        achieved_rate: m.achieved_rate,
        on_time_share: m.on_time_share,
        late: m.lateness.late,
        dispatch_lag_us: m.dispatch_lag_us.clone(),
        requests: m.requests,
        errors: m.errors,
        valid: m.valid,
        partial: m.partial,
        engine_cpu_us_per_request: m.engine_cpu_us_per_request,
    }
}
