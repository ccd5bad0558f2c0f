//! JSON summary writer: the `Summary` as `metronome.summary.v1` (docs/summary-schema.md).

use std::path::Path;

use crate::summary::Summary;

/// write writes the summary to `path`, pretty-printed, replacing any file there whole.
pub fn write(summary: &Summary, path: &Path) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    text.push(b'\n');
    super::write_atomically(path, &text)
}
