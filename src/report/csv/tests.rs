//! The tests of what the tables share (quoting, number formats) and of the three files byte
//! for byte against committed golden files; and the fixture the tables' tests (and other
//! reports' tests) build on: a finished two-scenario run's summary and report data.

use serde_json::{Value, json};

use super::*;
use crate::report::data::{NamePercentiles, ReportData};
use crate::summary::{Percentiles, Summary};

fn pct(values: Option<[u64; 7]>, mean: f64, count: u64) -> Value {
    match values {
        Some([p50, p90, p95, p99, p99_9, p99_99, max]) => json!({
            "p50": p50, "p90": p90, "p95": p95, "p99": p99, "p99_9": p99_9,
            "p99_99": p99_99, "max": max, "mean": mean, "count": count
        }),
        None => json!({
            "p50": null, "p90": null, "p95": null, "p99": null, "p99_9": null,
            "p99_99": null, "max": null, "mean": null, "count": 0
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn by_name(
    scenario: &str,
    name: &str,
    method: &str,
    requests: u64,
    errors: u64,
    kinds: Value,
    rate: f64,
    bytes: u64,
    latency: Value,
) -> Value {
    json!({
        "scenario": scenario, "name": name, "method": method, "path": "/x",
        "sla_class": null, "requests": requests, "errors": errors, "error_kinds": kinds,
        "rate": rate, "bytes_received": bytes, "latency_us": latency,
        "service_time_us": pct(None, 0.0, 0), "error_latency_us": pct(None, 0.0, 0),
        "sla_verdict": null
    })
}

/// summary is a two-scenario run shaped like a real `metronome.summary.v1`: three requests
/// with errors, one with a comma in its name, one that got no arrival.
/// summary is a finished run's summary with every part filled in, for report tests.
pub(crate) fn summary() -> Summary {
    let none = pct(None, 0.0, 0);
    let names = vec![
        by_name(
            "journey",
            "list_agents",
            "GET",
            80,
            8,
            json!({"http_5xx": 5, "request_timeout": 3}),
            8.0,
            10800,
            pct(
                Some([1500, 8000, 11000, 24000, 40000, 40000, 40000]),
                2100.4,
                72,
            ),
        ),
        by_name(
            "journey",
            "create_goal, quick",
            "POST",
            20,
            2,
            json!({"http_5xx": 2}),
            2.0,
            2700,
            pct(
                Some([2400, 9500, 12000, 20000, 21000, 21000, 21000]),
                3000.0,
                18,
            ),
        ),
        by_name(
            "journey",
            "deliverables",
            "GET",
            0,
            0,
            json!({}),
            0.0,
            0,
            none.clone(),
        ),
        by_name(
            "health_check",
            "health",
            "GET",
            20,
            0,
            json!({}),
            2.0,
            3000,
            pct(Some([900, 1200, 1300, 1500, 1600, 1600, 1600]), 950.0, 20),
        ),
    ];
    // In pieces: one json! of every field overflows the macro recursion limit.
    let parts = [
        json!({
            "schema": "metronome.summary.v1", "metronome_version": "0.1.0",
            "plan": "fixture", "target": "http://127.0.0.1:8001", "seed": 1, "threads": 2,
            "connections": 200, "max_in_flight": 10000, "timeout_s": 10.0,
            "started_at": "2026-01-01T00:00:00.000Z", "duration_s": 10.0, "elapsed_s": 10.5,
        }),
        json!({
            "target_rate": 12.0, "achieved_rate": 12.0, "completed_rate": 11.428571428571429,
            "on_time_share": 1.0, "on_time_bound_us": 10000, "scheduled": 120,
            "requests": 120, "successes": 110, "errors": 10,
            "error_kinds": {"http_5xx": 7, "request_timeout": 3}, "dropped": 0,
        }),
        json!({
            "percentiles_are_lower_bounds": false, "connections_opened_before_start": 200,
            "new_connections": 0, "bytes_received": 16500, "clamped_values": 0,
            "passed": true, "valid": true, "partial": false, "exit_code": 0,
        }),
        json!({
            "latency_us": pct(Some([1716, 9000, 12000, 25000, 40000, 40000, 40000]), 2345.6789, 110),
            "service_time_us": none, "queue_wait_us": none, "connect_us": none,
            "dispatch_lag_us": none, "error_latency_us": none,
            "by_name": names, "by_stage": [], "criteria": [], "plan_description": "",
        }),
    ];
    let mut v = serde_json::Map::new();
    for part in parts {
        let Value::Object(fields) = part else {
            unreachable!()
        };
        v.extend(fields);
    }
    let v = Value::Object(v);
    serde_json::from_value(v).expect("fixture is a valid summary")
}

fn detail(scenario: &str, name: &str, p: [u64; 11], min_us: u64) -> NamePercentiles {
    NamePercentiles {
        scenario: scenario.into(),
        name: name.into(),
        percentiles: PERCENTILES.iter().copied().zip(p).collect(),
        min_us,
    }
}

pub(super) fn report_data() -> ReportData {
    ReportData {
        watch_samples: Vec::new(),
        summary: summary(),
        buckets: Vec::new(),
        latency_spectrum: Vec::new(),
        service_spectrum: Vec::new(),
        name_percentiles: vec![
            detail(
                "journey",
                "list_agents",
                [
                    1500, 2000, 3000, 4000, 8000, 11000, 20000, 24000, 40000, 40000, 40000,
                ],
                400,
            ),
            detail(
                "journey",
                "create_goal, quick",
                [
                    2400, 3000, 4000, 5000, 9500, 12000, 15000, 20000, 21000, 21000, 21000,
                ],
                1000,
            ),
            detail(
                "health_check",
                "health",
                [
                    900, 1000, 1100, 1100, 1200, 1300, 1400, 1500, 1600, 1600, 1600,
                ],
                700,
            ),
            detail(
                "",
                "Aggregated",
                [
                    1716, 2000, 3000, 4000, 9000, 12000, 20000, 25000, 40000, 40000, 40000,
                ],
                400,
            ),
        ],
        plan_text: String::new(),
    }
}

pub(super) fn stats_text(data: &ReportData) -> String {
    let mut out = Vec::new();
    write_stats(data, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub(super) fn history_row(second: u64) -> HistoryRow {
    HistoryRow {
        timestamp: 1_767_225_600 + second,
        in_flight: 3 + second,
        target_rate: 12.5,
        requests_per_s: 12.0,
        failures_per_s: 0.5,
        percentiles: PERCENTILES
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, Some(1000 * (i as u64 + 1))))
            .collect(),
        total_requests: 12 * (second + 1),
        total_failures: second,
        total_median_us: Some(2000),
        total_mean_us: Some(2345.0),
        total_min_us: Some(321),
        total_max_us: Some(40_123),
        total_avg_content_size: 150.25,
        // A watched target's memory from the third second on (empty before: nothing watched).
        target_memory: (second >= 2).then(|| 52_428_800 + 4096 * second),
    }
}

/// quote is how write_row writes one field.
fn quote(field: &str) -> String {
    let mut out = Vec::new();
    write_row(&mut out, &[field, "next"]).unwrap();
    let text = String::from_utf8(out).unwrap();
    text.strip_suffix(",next\r\n").unwrap().to_string()
}

#[test]
fn quoting_follows_rfc4180() {
    assert_eq!(quote("plain"), "plain");
    assert_eq!(quote("a,b"), "\"a,b\"");
    assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    let mut out = Vec::new();
    write_row(&mut out, &["a,b", "c\"d", "e\r\nf", ""]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text, "\"a,b\",\"c\"\"d\",\"e\r\nf\",\r\n");
    let back = parse_records(&text).unwrap();
    assert_eq!(
        back,
        vec![(
            1,
            vec!["a,b".into(), "c\"d".into(), "e\r\nf".into(), String::new()]
        )]
    );
}

#[test]
fn records_start_on_their_lines() {
    // Blank lines and a quoted line break between records, CRLF and LF line ends.
    let text = "a,b\r\n\r\n\"x\ny\",1\n\nlast,2";
    let lines: Vec<usize> = parse_records(text).unwrap().iter().map(|r| r.0).collect();
    assert_eq!(lines, [1, 3, 6]);
}

#[test]
fn floats_as_python_writes_them() {
    assert_eq!(py_float(0.0), "0.0");
    assert_eq!(py_float(2.0), "2.0");
    assert_eq!(py_float(0.1), "0.1");
    assert_eq!(py_float(11.428571428571429), "11.428571428571429");
    assert_eq!(ms_int(1499), "1");
    assert_eq!(ms_int(1500), "2");
    assert_eq!(ms_float(1716.0), "1.716");
    assert_eq!(ms_float(2000.0), "2.0");
}

/// golden compares `bytes` with the committed file `tests/data/csv/golden/NAME`; with
/// METRONOME_BLESS=1 it writes the file instead, for a change that means to alter the output
/// (read the diff before committing it).
fn golden(name: &str, bytes: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/csv/golden")
        .join(name);
    if std::env::var_os("METRONOME_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (METRONOME_BLESS=1 writes it)", path.display()));
    assert!(
        bytes == want.as_slice(),
        "{name} differs from {}:\n--- written\n{}\n--- golden\n{}",
        path.display(),
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&want)
    );
}

/// The three files, byte for byte, for the fixture and for the corners of their formatting:
/// names that need quoting (comma, quote, line breaks), an error kind this version does not
/// know, rows without detail or without successes, and floats from tiny to huge.
#[test]
fn csv_files_match_the_golden_bytes() {
    let stats = |data: &ReportData| stats_text(data).into_bytes();
    let failures = |s: &Summary| {
        let mut out = Vec::new();
        write_failures(s, &mut out).unwrap();
        out
    };

    let data = report_data();
    golden("stats.csv", &stats(&data));
    golden("failures.csv", &failures(&data.summary));

    let mut bare = report_data();
    bare.name_percentiles.clear();
    golden("stats_summary_percentiles.csv", &stats(&bare));
    bare.summary.by_name[0].latency_us = Percentiles::default();
    bare.summary.latency_us = Percentiles::default();
    golden("stats_no_successes.csv", &stats(&bare));

    let mut odd = report_data();
    odd.summary.by_name.retain(|n| n.scenario == "journey");
    odd.summary.by_name[0].name = "say \"hi\"".into();
    odd.summary.by_name[1].name = "two\nlines, and\r\na CR".into();
    odd.summary.by_name[2].name = " spaced ".into();
    odd.summary.by_name[0].method = "PATCH".into();
    (odd.summary.by_name[0].error_kinds).insert("from_a_later_version".into(), 4);
    odd.summary.by_name[0].rate = 0.1 + 0.2;
    odd.summary.completed_rate = 1e16;
    golden("stats_odd.csv", &stats(&odd));
    golden("failures_odd.csv", &failures(&odd.summary));

    let mut rows: Vec<HistoryRow> = (0..3).map(history_row).collect();
    rows[1].percentiles.iter_mut().for_each(|p| p.1 = None);
    rows[1].total_failures = rows[1].total_requests;
    rows[2].target_rate = 0.1 + 0.2;
    rows[2].requests_per_s = 1e-7;
    rows[2].failures_per_s = 2.0 / 3.0;
    rows[2].total_mean_us = Some(1e21);
    rows[2].total_avg_content_size = 1e-7;
    let mut empty = history_row(3);
    empty.total_requests = 0;
    empty.total_failures = 0;
    empty.target_rate = f64::INFINITY;
    rows.push(empty);
    let mut w = StatsHistoryWriter::new(Vec::new()).unwrap();
    for r in &rows {
        w.write(r).unwrap();
    }
    golden("stats_history.csv", &w.into_inner());
}
