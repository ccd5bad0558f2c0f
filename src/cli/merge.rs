//! `metronome merge`: the output directories of a run's shards merged into one result.
//!
//! It owns the verb's flags, reading each shard's files and rebuilding the plan each ran from
//! its invocation; checking that they are one run's shards and merging them is `shard`'s.

use std::path::PathBuf;

use clap::Args;

use super::usage;
use crate::report::{self, results};
use crate::run::Failure;
use crate::shard::{self, MergeError, RunFile};
use crate::summary::Summary;

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    /// The shards' output directories (each from run --shard I/N --out DIR), every shard once.
    #[arg(required = true, value_name = "DIR")]
    shards: Vec<PathBuf>,
    /// Write the merged result here (created if missing): the files a single run writes.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the merged criteria as JUnit XML to this path.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
}

/// command merges the shards, prints the merged summary, and returns its exit code.
pub(super) fn command(args: MergeArgs) -> Result<i32, Failure> {
    std::fs::create_dir_all(&args.out).map_err(|e| {
        usage(format!(
            "cannot create --out directory {}: {e}",
            args.out.display()
        ))
    })?;
    report::check_writable(&args.out.join(results::SUMMARY_JSON)).map_err(usage)?;
    if let Some(p) = &args.junit {
        report::check_writable(p).map_err(usage)?;
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut shards = Vec::new();
    for dir in &args.shards {
        let real = dir.canonicalize().map_err(|e| {
            usage(format!(
                "cannot read {}: {e}; give the output directories (--out DIR) of the shards",
                dir.display()
            ))
        })?;
        if seen.contains(&real) {
            return Err(usage(format!(
                "{} is given twice; give each shard's directory once",
                dir.display()
            )));
        }
        seen.push(real);
        shards.push(read_shard(dir)?);
    }
    let summary = shard::merge(shards, &args.out).map_err(|e| match e {
        MergeError::Refused(m) => usage(m),
        MergeError::Failed(m) => Failure::NotValid(m),
    })?;
    if let Some(p) = &args.junit {
        report::junit::write(&summary, p)
            .map_err(|e| Failure::NotValid(format!("could not write {}: {e}", p.display())))?;
    }
    crate::report::terminal::print(&summary);
    let _ = std::io::Write::flush(&mut std::io::stdout());
    crate::say!("merged results written to {}", args.out.display());
    Ok(summary.exit_code)
}

/// read_shard reads one shard's run file, summary and interval log, and rebuilds its plan.
fn read_shard(dir: &std::path::Path) -> Result<shard::Shard, Failure> {
    let file = RunFile::read(dir).map_err(usage)?;
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| {
            usage(format!(
                "cannot read {}: {e}; a shard's directory holds every file run --out writes",
                path.display()
            ))
        })
    };
    let summary: Summary = serde_json::from_slice(&read(results::SUMMARY_JSON)?).map_err(|e| {
        usage(format!(
            "{} is not a metronome summary: {e}",
            dir.join(results::SUMMARY_JSON).display()
        ))
    })?;
    let hlog = read(results::HLOG)?;
    let mut plan = super::run::rebuild(&file.invocation).map_err(|e| {
        usage(format!(
            "{}: the plan it ran cannot be rebuilt from its invocation (`metronome run {}`): {e}",
            dir.display(),
            file.invocation.args.join(" ")
        ))
    })?;
    plan.shard = file.shard;
    Ok(shard::Shard {
        dir: dir.to_path_buf(),
        file,
        summary,
        hlog,
        plan,
    })
}
