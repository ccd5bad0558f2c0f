//! Reports end to end: a real compressed run against the demo target writes every format, and
//! each file is parsed back and checked against the JSON summary.

use std::path::Path;
use std::process::Command;

mod common;

use common::{metronome, text};
use serde_json::Value;

/// A compressed progression with 5 % injected errors: several stages, two scenarios, errors.
fn run_into(dir: &Path) -> Value {
    let out = metronome(&[
        "run",
        "plans/progression.toml",
        "--time-scale",
        "0.003",
        "--demo-error-rate",
        "0.05",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let written = std::fs::read_to_string(dir.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}): {}", text(&out)));
    let summary: Value = serde_json::from_str(&written).unwrap();
    // These tests check the files a run writes, whatever its verdict: failed (the injected
    // errors) or passed, the engine's punctuality set apart.
    assert_eq!(
        out.status.code(),
        summary["exit_code"].as_i64().map(|c| c as i32)
    );
    assert!(
        matches!(common::verdict_code(&summary), 0 | 1),
        "{}",
        text(&out)
    );
    summary
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap();
    (reader.records())
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn out_writes_every_format_and_each_parses_back_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run_into(dir.path());
    for f in [
        "summary.json",
        "report.html",
        "stats.csv",
        "stats_history.csv",
        "failures.csv",
        "latency.hlog",
        "latency.hgrm",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let requests = summary["requests"].as_u64().unwrap();
    let errors = summary["errors"].as_u64().unwrap();
    assert!(errors > 0, "the run injected errors");

    // stats.csv: Locust's columns, and the Aggregated row counts what the JSON counts.
    let stats = csv_rows(&dir.path().join("stats.csv"));
    assert_eq!(
        stats[0].join(","),
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    );
    let aggregated = stats
        .iter()
        .find(|r| r[1] == "Aggregated")
        .expect("Aggregated row");
    assert_eq!(aggregated[2].parse::<u64>().unwrap(), requests);
    assert_eq!(aggregated[3].parse::<u64>().unwrap(), errors);
    assert_eq!(
        stats.len(),
        1 + summary["by_name"].as_array().unwrap().len() + 1
    );

    // failures.csv adds up to the errors.
    let failures = csv_rows(&dir.path().join("failures.csv"));
    assert_eq!(failures[0].join(","), "Method,Name,Error,Occurrences");
    let occurrences: u64 = failures[1..]
        .iter()
        .map(|r| r[3].parse::<u64>().unwrap())
        .sum();
    assert_eq!(occurrences, errors);

    // stats_history.csv: Locust's columns first, one row a second, totals ending at the JSON's.
    let history = csv_rows(&dir.path().join("stats_history.csv"));
    assert!(
        history[0]
            .join(",")
            .starts_with("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%")
    );
    let last = history.last().unwrap();
    let total_col = history[0]
        .iter()
        .position(|h| h == "Total Request Count")
        .unwrap();
    assert_eq!(last[total_col].parse::<u64>().unwrap(), requests);
    let elapsed = summary["elapsed_s"].as_f64().unwrap();
    assert!(
        (history.len() as f64 - 1.0 - elapsed).abs() <= 2.0,
        "{} rows for {elapsed} s",
        history.len() - 1
    );

    // latency.hlog, read back with the hdrhistogram crate's own log reader, holds the same
    // successes, with the same p99 within the histogram's precision.
    let bytes = std::fs::read(dir.path().join("latency.hlog")).unwrap();
    let mut merged = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    use base64::Engine;
    for entry in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&bytes) {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(h) = entry.unwrap()
            && h.tag().is_none()
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let hist: hdrhistogram::Histogram<u64> =
                deserializer.deserialize(&mut &raw[..]).unwrap();
            merged.add(&hist).unwrap();
        }
    }
    assert_eq!(
        merged.len(),
        summary["latency_us"]["count"].as_u64().unwrap()
    );
    let p99 = summary["latency_us"]["p99"].as_u64().unwrap();
    assert!(
        merged.equivalent(merged.value_at_quantile(0.99), p99),
        "{} vs {p99}",
        merged.value_at_quantile(0.99)
    );
    let header = String::from_utf8_lossy(&bytes[..400]).to_string();
    assert!(
        header.contains("microseconds"),
        "the unit is stated: {header}"
    );

    // latency.hgrm is the classic percentile spectrum.
    let hgrm = std::fs::read_to_string(dir.path().join("latency.hgrm")).unwrap();
    assert!(
        hgrm.contains("Value     Percentile TotalCount 1/(1-Percentile)"),
        "{hgrm}"
    );
    assert!(
        hgrm.contains(&format!("Total count    = {:>12}", merged.len())),
        "{hgrm}"
    );
}

#[test]
fn the_html_report_has_every_section_and_nothing_external() {
    let dir = tempfile::tempdir().unwrap();
    run_into(dir.path());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for id in [
        "verdict",
        "rate",
        "latency-over-time",
        "spectrum",
        "endpoints",
        "stages",
        "errors",
        "engine",
        "plan",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert!(html.contains("<title>metronome report"), "title");
    for bad in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<link",
        "<script src",
    ] {
        assert!(!html.contains(bad), "external reference: {bad}");
    }
    let mut svgs = 0;
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("closed svg") + start + "</svg>".len();
        roxmltree::Document::parse(&rest[start..end])
            .unwrap_or_else(|e| panic!("SVG is not XML: {e}"));
        svgs += 1;
        rest = &rest[end..];
    }
    assert!(svgs >= 5, "{svgs} charts");
}

#[test]
fn report_rerenders_the_same_numbers_from_a_saved_directory() {
    let dir = tempfile::tempdir().unwrap();
    run_into(dir.path());
    let again = dir.path().join("again");
    let out = metronome(&[
        "report",
        dir.path().to_str().unwrap(),
        "--html",
        dir.path().join("again.html").to_str().unwrap(),
        "--csv",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let original = std::fs::read_to_string(dir.path().join("stats.csv")).unwrap();
    let rerendered = std::fs::read_to_string(dir.path().join("again_stats.csv")).unwrap();
    assert_eq!(original, rerendered);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.html")).unwrap(),
        std::fs::read_to_string(dir.path().join("again.html")).unwrap()
    );
    // With a baseline (here the run itself), figures stand beside the baseline's.
    let out = metronome(&[
        "report",
        dir.path().to_str().unwrap(),
        "--baseline",
        dir.path().to_str().unwrap(),
        "--html",
        dir.path().join("vs.html").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        std::fs::read_to_string(dir.path().join("vs.html"))
            .unwrap()
            .to_lowercase()
            .contains("baseline")
    );
}

/// A saved run (tests/data/csv/run: summary.json, latency.hlog and the files that run wrote)
/// renders its CSV files again byte for byte: what `report` writes today is what it wrote then.
#[test]
fn report_writes_a_saved_runs_csv_files_byte_for_byte() {
    let saved = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csv/run");
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again");
    let out = metronome(&[
        "report",
        saved.to_str().unwrap(),
        "--csv",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in ["stats.csv", "failures.csv", "stats_history.csv"] {
        let want = std::fs::read(saved.join(f)).unwrap();
        let got = std::fs::read(dir.path().join(format!("again_{f}"))).unwrap();
        assert!(
            got == want,
            "{f} differs:\n--- written\n{}\n--- saved\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

#[test]
fn csv_prefix_works_alone_as_locust_users_type_it() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("load_100users");
    let out = metronome(&[
        "run",
        "--rate",
        "100",
        "--duration",
        "2s",
        "--quiet",
        "--csv",
        prefix.to_str().unwrap(),
        "--html",
        dir.path().join("r.html").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in [
        "load_100users_stats.csv",
        "load_100users_stats_history.csv",
        "load_100users_failures.csv",
        "r.html",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
}

#[test]
fn an_output_directory_that_cannot_be_written_is_refused_before_the_run() {
    let out = metronome(&[
        "run",
        "--rate",
        "10",
        "--duration",
        "30s",
        "--out",
        "/proc/metronome-cannot-write-here",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--out"), "{}", text(&out));
}

#[test]
fn the_report_renders_in_a_headless_browser() {
    let dir = tempfile::tempdir().unwrap();
    run_into(dir.path());
    let report = dir.path().join("report.html");
    let shot = dir.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ];
        let user_data = format!("--user-data-dir={}", profile.path().display());
        args.push(&user_data);
        args.extend_from_slice(extra);
        Command::new("chromium")
            .args(&args)
            .output()
            .expect("chromium is installed by scripts/test.sh")
    };
    let url = format!("file://{}", report.display());
    let dom = chromium(&["--dump-dom", &url]);
    assert!(
        String::from_utf8_lossy(&dom.stdout).contains("<title>metronome report"),
        "{}",
        text(&dom)
    );
    let screenshot = format!("--screenshot={}", shot.display());
    let out = chromium(&[&screenshot, "--window-size=1280,2400", &url]);
    assert!(shot.is_file(), "no screenshot: {}", text(&out));
    let png = std::fs::read(&shot).unwrap();
    // A blank page compresses to a few KB; a rendered report with charts is far larger.
    assert!(
        png.len() > 30_000,
        "screenshot is {} bytes: blank?",
        png.len()
    );
}
