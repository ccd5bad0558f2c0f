//! The HTML report of a saved run, byte for byte: `metronome report` on the results directories
//! under tests/data/ (a compressed progression with 5 % injected errors, and a clean run of the
//! same plan as its baseline) must write exactly the committed golden files. Real runs vary, so
//! these inputs are frozen; the goldens prove that reshaping the report code changes no byte.
//!
//! An intended change to the report rewrites them: `METRONOME_BLESS=1 cargo test --test
//! report_golden`, then read the diff before committing it.

use std::path::{Path, PathBuf};

mod common;

use common::{metronome, text};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// render runs `metronome report` on the saved run (with `extra` flags) into a temporary file
/// and returns what it wrote.
fn render(extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let run = data("saved-run");
    let mut args = vec![
        "report",
        run.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = metronome(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::read(&html).unwrap()
}

/// matches_golden compares `got` with the golden file, showing where they first part (a
/// 50 KB document is no use printed whole).
fn matches_golden(got: &[u8], golden: &str) {
    let path = data("golden").join(golden);
    if std::env::var_os("METRONOME_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(&want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let around = |b: &[u8]| {
        let (lo, hi) = (at.saturating_sub(120), (at + 120).min(b.len()));
        String::from_utf8_lossy(&b[lo..hi]).into_owned()
    };
    panic!(
        "{golden}: {} bytes rendered, {} in the golden file, first difference at byte {at}\n\
         rendered: …{}…\n  golden: …{}…",
        got.len(),
        want.len(),
        around(got),
        around(&want)
    );
}

#[test]
fn the_report_of_a_saved_run_is_the_golden_file_byte_for_byte() {
    matches_golden(&render(&[]), "report.html");
}

#[test]
fn the_report_beside_a_baseline_is_the_golden_file_byte_for_byte() {
    let base = data("saved-baseline");
    matches_golden(
        &render(&["--baseline", base.to_str().unwrap()]),
        "report-vs-baseline.html",
    );
}
