//! `metronome report`: the HTML and CSV reports rendered again from a run's saved results.
//!
//! It owns the verb's flags, where the reports go by default, and the help its read errors
//! get; reading the saved files is `report::results`', rendering them `report`'s.

use std::path::PathBuf;

use clap::Args;

use super::usage;
use crate::report::{self, results};
use crate::run::Failure;

#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    /// A run's output directory (from --out), or its latency.hlog (summary.json beside it).
    results: PathBuf,
    /// Write the HTML report here [default: report.html in the results directory, when no
    /// --csv is given].
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Write Locust-style CSV files with this prefix.
    #[arg(long, value_name = "PREFIX")]
    csv: Option<PathBuf>,
    /// Another run's output directory: every figure stands beside the baseline's, with the change.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
}

/// command writes the reports of a saved run, beside a baseline's figures when given one.
pub(super) fn command(args: ReportArgs) -> Result<i32, Failure> {
    let saved = results::load(&args.results).map_err(|e| {
        usage(match e {
            results::LoadError::NoLog { .. } => {
                format!("{e}; give a directory written by run --out, or its latency.hlog")
            }
            results::LoadError::NoSummary { .. } => {
                format!("{e}; the summary must sit beside the interval log")
            }
            _ => e.to_string(),
        })
    })?;
    let baseline = match &args.baseline {
        Some(b) => Some(results::load(b).map_err(|e| usage(e.to_string()))?.data),
        None => None,
    };
    let html = match (&args.html, &args.csv) {
        (None, None) => Some(saved.dir.join(results::REPORT_HTML)),
        (h, _) => h.clone(),
    };
    for p in [
        &html,
        &args
            .csv
            .as_ref()
            .map(|c| report::csv_path(c, results::STATS_CSV)),
    ]
    .into_iter()
    .flatten()
    {
        report::check_writable(p).map_err(usage)?;
    }
    let targets = report::Targets {
        out_dir: None,
        html: html.clone(),
        csv_prefix: args.csv.clone(),
        history_from: Some(saved.dir.join(results::HISTORY_CSV)),
    };
    report::write_reports(&saved.data, baseline.as_ref(), &saved.hlog, &targets)
        .map_err(|e| Failure::NotValid(format!("could not write the reports: {e}")))?;
    if let Some(h) = &html {
        crate::say!("HTML report written to {}", h.display());
    }
    if let Some(c) = &args.csv {
        crate::say!("CSV files written to {}_*.csv", c.display());
    }
    Ok(0)
}
