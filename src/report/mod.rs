//! Reports: one writer per output format, each rendering a finished `Summary` (and, for the
//! progress line, the recorder's running view); `results` streams the per-second files and
//! loads a saved run back, `chart` is the SVG chart library the HTML report draws with. Reports
//! know nothing of the engine: they read the plan, the recordings and the summary.

pub mod chart;
pub mod csv;
pub mod data;
pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod junit;
pub mod progress;
pub mod results;
pub mod terminal;

use std::fs::OpenOptions;
use std::path::Path;

/// check_writable refuses, before a run starts, an output path that could not be written at
/// its end: a missing directory, no permission, or a directory where a file should be. A
/// symbolic link is judged by what it points to; a pipe or device by whether it may be written.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory; give a file path for the output",
            path.display()
        ));
    }
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
    {
        return match writable(path) {
            true => Ok(()),
            false => Err(format!(
                "cannot write {}: permission denied; choose a path you may write",
                path.display()
            )),
        };
    }
    let real = real_path(path);
    let dir = match real.parent() {
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

/// writable asks the kernel whether this process may write `path`, without opening it (opening
/// a pipe for writing waits for its reader).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a NUL-terminated path we own.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// real_path is where a symbolic link to a file leads, so a report replaces the file and keeps
/// the link; any other path is itself.
fn real_path(path: &Path) -> std::path::PathBuf {
    if path.is_symlink()
        && let Ok(real) = std::fs::canonicalize(path)
    {
        return real;
    }
    path.to_path_buf()
}

/// write_atomically writes `bytes` to `path` through a temporary file in the same directory, so
/// an existing file is replaced whole or not at all. A symbolic link keeps pointing where it did
/// (the file it leads to is replaced), and a pipe, terminal or device (`/dev/stdout`, a named
/// pipe) is written to directly: replacing those would lose the output.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // metadata follows links: it fails for a dangling one, which is written through too.
    let direct = match std::fs::metadata(path) {
        Ok(m) => !m.is_file(),
        Err(_) => path.is_symlink(),
    };
    if direct {
        use std::io::Write;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        return f.write_all(bytes);
    }
    let real = real_path(path);
    let mut tmp = real.as_os_str().to_owned();
    tmp.push(".tmp");
    if let Err(e) = std::fs::write(&tmp, bytes) {
        // A half-written temporary file (a full disk) would only take more of the space left.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &real)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbolic_link_keeps_pointing_at_the_report_it_leads_to() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // Dangling at first: the report is created where the link points.
        check_writable(&link).unwrap();
        write_atomically(&link, b"one").unwrap();
        assert!(link.is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"one");
        // Then the file it leads to is replaced, and the link stays.
        write_atomically(&link, b"two").unwrap();
        assert!(link.is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"two");
    }

    #[test]
    fn a_named_pipe_is_written_to_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        check_writable(&fifo).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"{\"ok\":true}").unwrap();
        // Checked before joining: had the pipe been replaced, its reader would wait forever.
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"{\"ok\":true}");
    }

    #[test]
    fn a_device_is_written_to_and_its_errors_are_reported() {
        // Nodes of our own for /dev/null (1, 3) and /dev/full (1, 7), so a regression replaces
        // these and never the machine's. Making them needs root (CI has it); without it the
        // machine's own are used: a process that is not root cannot replace them either (/dev
        // is not writable to it), so the check still runs, and a regression that tries to
        // replace a device fails on the write beside it instead of passing unseen.
        let dir = tempfile::tempdir().unwrap();
        let node = |name: &str, minor: u32| {
            let path = dir.path().join(name);
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: mknod reads a NUL-terminated path we own.
            let made =
                unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
            (made == 0).then_some(path)
        };
        let (null, full) = match (node("null", 3), node("full", 7)) {
            (Some(null), Some(full)) => (null, full),
            _ => {
                // Root could replace the machine's devices: it must never fall back to them.
                // SAFETY: a plain syscall without arguments.
                let root = unsafe { libc::geteuid() } == 0;
                assert!(
                    !root,
                    "root could not make device nodes in {:?}",
                    dir.path()
                );
                crate::say!("not root: writing to the machine's /dev/null and /dev/full");
                ("/dev/null".into(), "/dev/full".into())
            }
        };
        use std::os::unix::fs::FileTypeExt;
        check_writable(&null).unwrap();
        write_atomically(&null, b"gone").unwrap();
        assert!(
            std::fs::metadata(&null)
                .unwrap()
                .file_type()
                .is_char_device()
        );
        // Writes to a full device fail: the error must reach the caller, the node must stay.
        let err = write_atomically(&full, b"full").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        assert!(
            std::fs::metadata(&full)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn a_directory_or_a_missing_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            check_writable(dir.path())
                .unwrap_err()
                .contains("is a directory")
        );
        let missing = dir.path().join("no/such/dir/out.json");
        assert!(
            check_writable(&missing)
                .unwrap_err()
                .contains("does not exist")
        );
    }
}
