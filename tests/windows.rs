//! Windowed criteria end to end: a stall the whole stage hides fails its window, and the shipped
//! soak plan, compressed, stops itself on a slow target with its reports and JUnit written.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{metronome, text};
use metronome::demo::{DemoConfig, Stall};
use metronome::plan_file::{Overrides, parse};
use metronome::summary::{Criterion, Rule, Verdict};
use serde_json::Value;

#[test]
fn a_stall_the_whole_stage_hides_fails_its_window() {
    // One 500 ms stall, 8 s after the target starts: inside the run, which starts after the
    // stall at the target's start is over.
    let target = common::demo(DemoConfig {
        stall: Some(Stall {
            pause: Duration::from_millis(500),
            period: Duration::from_secs(8),
        }),
        ..DemoConfig::default()
    });
    let started = Instant::now();
    let src = format!(
        r#"[target]
base_url = "{}"

[sla.fast]
p95 = "100ms"

[criteria]
sla = ["p95"]
sla_window = "3s"

[[stage]]
name = "hold"
rate = 100
duration = "12s"

[[request]]
name = "health"
path = "/health"
sla = "fast"
"#,
        target.base_url()
    );
    let plan = parse(&src, Path::new("windows.toml"), &Overrides::default())
        .unwrap()
        .plan;
    std::thread::sleep(Duration::from_millis(700).saturating_sub(started.elapsed()));
    let s = common::run(plan);
    let find = |windowed: bool| -> &Criterion {
        (s.criteria.iter())
            .find(|c| {
                c.request.as_deref() == Some("health") && c.name.contains("window") == windowed
            })
            .unwrap_or_else(|| panic!("no criterion (windowed {windowed}): {:#?}", s.criteria))
    };
    let (whole, windowed) = (find(false), find(true));
    // About 35 of 1,200 responses waited out the stall past 150 ms: 3 % of the stage, but
    // more than 5 % of any 3 s window around it.
    assert_eq!(whole.verdict, Verdict::Passed, "{}", whole.detail);
    assert_eq!(windowed.verdict, Verdict::Failed, "{}", windowed.detail);
    let Some(Rule::Window {
        window_s,
        worst_from_s,
        worst_to_s,
        worst_value: Some(p95_us),
        fail_above: Some(fail_us),
        failed_windows,
        windows,
        ..
    }) = windowed.rule
    else {
        panic!("{:?}", windowed.rule)
    };
    assert_eq!((window_s, worst_to_s - worst_from_s), (3.0, 3.0));
    assert!(p95_us > fail_us, "{p95_us} ≤ {fail_us}");
    assert!(
        (1..windows).contains(&failed_windows),
        "{failed_windows} of {windows} failed"
    );
    // The stall came 8 s after the target started, which in run time is 8 s less when the run
    // started (about now less its elapsed time); its responses completed as it ended, 0.5 s
    // later. The worst window holds them, give or take the recorder's whole seconds.
    let stall_at = 8.0 - (started.elapsed().as_secs_f64() - s.elapsed_s);
    assert!(
        worst_from_s < stall_at + 2.0 && worst_to_s > stall_at - 1.0,
        "worst window {worst_from_s}–{worst_to_s} s, the stall at {stall_at:.1} s"
    );
    assert!(
        windowed.detail.contains("worst: the window"),
        "{}",
        windowed.detail
    );
    assert!(s.aborted.is_none() && !s.partial);
    // Failed by the window (1), unless the engine was late enough on this machine to make the
    // run not valid (3): then it says so, and the window still failed.
    assert!(
        s.exit_code == 1 || !s.valid,
        "exit {}: {:#?}",
        s.exit_code,
        s.criteria
    );
}

#[test]
fn the_soak_plan_compressed_stops_itself_on_a_slow_target() {
    let target = common::demo(DemoConfig {
        latency: Duration::from_millis(200),
        ..DemoConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (out, junit) = (dir.path().join("out"), dir.path().join("junit.xml"));
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/soak-24h.toml");
    let o = metronome(&[
        "run",
        plan.to_str().unwrap(),
        "--host",
        &target.base_url(),
        "--time-scale",
        "0.001",
        "--out",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--quiet",
    ]);
    let out_text = text(&o);
    let s: Value = serde_json::from_slice(
        &std::fs::read(out.join("summary.json"))
            .unwrap_or_else(|e| panic!("no summary ({e}): {out_text}")),
    )
    .unwrap();
    // Every response takes 200 ms: each p95 is past 150 ms (its class's 100 ms + 50 %) in the
    // first window, clearly, and the 86 s schedule stops there.
    assert_eq!(o.status.code(), Some(1), "{out_text}");
    assert_eq!(
        (s["valid"].as_bool(), s["partial"].as_bool()),
        (Some(true), Some(true))
    );
    let why = s["aborted"]
        .as_str()
        .unwrap_or_else(|| panic!("not aborted: {out_text}"));
    assert!(why.contains("in every 5m window"), "{why}");
    assert!(why.contains("p95"), "{why}");
    assert!(
        s["elapsed_s"].as_f64().unwrap() < 30.0,
        "stopped after {} s",
        s["elapsed_s"]
    );
    let criteria = s["criteria"].as_array().unwrap();
    let completed = criteria
        .iter()
        .find(|c| c["name"] == "run completed")
        .unwrap();
    assert_eq!(completed["verdict"], "failed");
    assert_eq!(completed["validity"], false);
    assert!(
        completed["detail"]
            .as_str()
            .unwrap()
            .contains("abort = true")
    );
    let windows: Vec<&Value> = criteria
        .iter()
        .filter(|c| c["rule"]["kind"] == "window" && c["verdict"] == "failed")
        .collect();
    assert!(!windows.is_empty(), "{criteria:#?}");
    // Every arrival is accounted for, aborted or not.
    let (scheduled, requests, dropped) = (
        s["scheduled"].as_u64().unwrap(),
        s["requests"].as_u64().unwrap(),
        s["dropped"].as_u64().unwrap(),
    );
    assert_eq!(requests + dropped, scheduled);
    // The reports say so: the HTML's verdict and the JUnit failure of a window.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<b>aborted</b>"), "no abort in the report");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failed_window = doc.descendants().any(|n| {
        n.has_tag_name("testcase")
            && n.attribute("name").is_some_and(|a| a.contains("window"))
            && n.children().any(|c| c.has_tag_name("failure"))
    });
    assert!(failed_window, "{xml}");
    assert!(
        out_text.contains("aborted") || out_text.contains("aborting"),
        "{out_text}"
    );
}
