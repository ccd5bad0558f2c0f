//! Reports: one writer per output format, each rendering a finished `Summary` (and, for the
//! progress line, the recorder's running view). Reports know nothing of the engine.

pub mod data;
pub mod hlog;
pub mod json;
pub mod progress;
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
