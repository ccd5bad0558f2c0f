//! Reports: one writer per output format, each rendering a finished `Summary` (and, for the
//! progress line, the recorder's running view). Reports know nothing of the engine.

pub mod csv;
pub mod data;
pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod progress;
pub mod results;
pub mod terminal;

use std::fs::OpenOptions;
use std::path::Path;

/// check_writable refuses, before a run starts, an output path that could not be written at
/// its end: a missing directory, no permission, or a directory where a file should be.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory; give a file path for the output",
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "cannot write {}: directory {} does not exist; create it first",
            path.display(),
            dir.display()
        ));
    }
    let probe = dir.join(format!(".metronome-write-check-{}", std::process::id()));
    match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot write {}: {e}; choose a path in a writable directory",
            path.display()
        )),
    }
}

/// write_atomically writes `bytes` to `path` through a temporary file in the same directory, so
/// an existing file is replaced whole or not at all.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// csv_path is the file Locust writes for `--csv PREFIX`: `PREFIX_stats.csv` and so on.
pub fn csv_path(prefix: &Path, file: &str) -> std::path::PathBuf {
    let mut p = prefix.as_os_str().to_owned();
    p.push("_");
    p.push(file);
    p.into()
}

/// Targets are where rendered reports go.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Every format into this directory (the streamed files are already there).
    pub out_dir: Option<std::path::PathBuf>,
    /// The HTML report.
    pub html: Option<std::path::PathBuf>,
    /// Locust-style CSV files with this prefix.
    pub csv_prefix: Option<std::path::PathBuf>,
    /// The streamed stats_history.csv to copy for `csv_prefix`.
    pub history_from: Option<std::path::PathBuf>,
}

/// write_reports renders the HTML, CSV and percentile-spectrum files from report data; `hlog`
/// is the run's interval log (the spectrum file is read from its merged latency).
pub fn write_reports(
    data: &data::ReportData,
    baseline: Option<&data::ReportData>,
    hlog_bytes: &[u8],
    to: &Targets,
) -> std::io::Result<()> {
    let html = html::render(data, baseline);
    let mut stats = Vec::new();
    csv::write_stats(data, &mut stats)?;
    let mut failures = Vec::new();
    csv::write_failures(&data.summary, &mut failures)?;
    if let Some(dir) = &to.out_dir {
        write_atomically(&dir.join(results::REPORT_HTML), html.as_bytes())?;
        write_atomically(&dir.join(results::STATS_CSV), &stats)?;
        write_atomically(&dir.join(results::FAILURES_CSV), &failures)?;
        let mut hgrm = Vec::new();
        hgrm::write_hgrm(
            &results::merged_latency(hlog_bytes).map_err(std::io::Error::other)?,
            1000.0,
            &mut hgrm,
        )?;
        write_atomically(&dir.join(results::HGRM), &hgrm)?;
    }
    if let Some(path) = &to.html {
        write_atomically(path, html.as_bytes())?;
    }
    if let Some(prefix) = &to.csv_prefix {
        write_atomically(&csv_path(prefix, results::STATS_CSV), &stats)?;
        write_atomically(&csv_path(prefix, results::FAILURES_CSV), &failures)?;
        if let Some(history) = &to.history_from {
            let dest = csv_path(prefix, results::HISTORY_CSV);
            if history != &dest {
                std::fs::copy(history, dest)?;
            }
        }
    }
    Ok(())
}
