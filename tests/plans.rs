//! Test plans end to end: the shipped plans, stage mechanics, verdicts and secrets, through the
//! `metronome` binary against the built-in demo target on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{metronome, text};
use serde_json::Value;

/// run_plan runs `plan` with extra flags, writing JSON to a temp dir; returns (exit, output,
/// JSON), the exit code with the engine's punctuality set apart (`common::verdict_code`).
/// ONE_RUN_AT_A_TIME keeps this file's runs from overlapping. Each run is a debug build of the
/// engine with its own demo target, and several at once on a 2-core machine can starve each
/// other's pacing threads past the 10 ms on-time bound often enough for the runs to end not
/// valid (exit 3), which says the machine was busy, not how the plan behaves, which is what
/// these tests check.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_plan(plan: &Path, extra: &[&str]) -> (i32, String, Value) {
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = metronome(&args);
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|_| panic!("{}", text(&out))),
    )
    .expect("valid JSON");
    assert_eq!(out.status.code(), v["exit_code"].as_i64().map(|c| c as i32));
    (common::verdict_code(&v), text(&out), v)
}

fn write_plan(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_plan_checks() {
    let plans = shipped();
    assert_eq!(plans.len(), 7, "{plans:?}");
    let mut args = vec!["check"];
    args.extend(plans.iter().map(|p| p.to_str().unwrap()));
    let out = metronome(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for p in &plans {
        assert!(text(&out).contains(&format!("{}: ok", p.display())));
    }
}

/// Time scales that bring each shipped plan to a few seconds against the demo target.
fn scale_for(name: &str) -> &'static str {
    match name {
        "smoke.toml" => "0.1",
        "load-10.toml" | "spike-200.toml" => "0.015",
        "load-50.toml" => "0.008",
        "load-100.toml" => "0.005",
        "soak-24h.toml" => "0.00005",
        "progression.toml" => "0.002",
        other => panic!("no time scale for {other}"),
    }
}

#[test]
fn every_shipped_plan_runs_compressed_with_its_stages_and_scenarios() {
    for plan in shipped() {
        let name = plan.file_name().unwrap().to_str().unwrap().to_string();
        let (code, out, v) = run_plan(&plan, &["--time-scale", scale_for(&name)]);
        assert_eq!(code, 0, "{name}: {out}");
        let scenarios: Vec<&str> = v["by_name"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["scenario"].as_str().unwrap())
            .collect();
        assert!(
            scenarios.contains(&"journey") && scenarios.contains(&"health_check"),
            "{name}"
        );
        let journey_names = v["by_name"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["scenario"] == "journey")
            .count();
        assert_eq!(
            journey_names, 8,
            "{name}: the reference mix has eight requests"
        );
        let source = std::fs::read_to_string(&plan).unwrap();
        let stages_per_scenario = source.matches("[[scenario.stage]]").count() / 2;
        assert_eq!(
            v["by_stage"].as_array().unwrap().len(),
            2 * stages_per_scenario,
            "{name}"
        );
        assert!(v["requests"].as_u64().unwrap() > 0, "{name}");
        assert_eq!(v["errors"], 0, "{name}");
        let sla_judged = v["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap().contains("p95"))
            .count();
        assert!(sla_judged > 0, "{name}: SLA criteria were judged");
    }
}

#[test]
fn a_ramp_from_zero_issues_its_integral_and_boundaries_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 0 → 400/s over 5 s is 1,000 arrivals; then 2.5 s at 200/s adds 500 (7.5 s in all). A
    // uniform schedule places them by the cumulative count, so the counts are exact.
    let plan = write_plan(
        dir.path(),
        "ramp.toml",
        r#"
[[stage]]
name = "up"
from = 0
to = 400
duration = "5s"

[[stage]]
name = "hold"
rate = 200
duration = "2.5s"

[[request]]
name = "health"
path = "/health"
"#,
    );
    let (code, out, v) = run_plan(&plan, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["by_stage"][0]["scheduled"], 1000);
    assert_eq!(v["by_stage"][1]["scheduled"], 500);
    assert_eq!(v["requests"], 1500);
}

#[test]
fn the_mix_follows_the_weights() {
    // The reference mix at 1,000/s for 3 s: each name's count is binomial(3000, w/39); the bound
    // is 5 standard deviations.
    let plan = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/plans/load-50.toml"));
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(plan).unwrap();
    let fast = source.replace(
        "users = 50\nduration = \"590s\"",
        "rate = 1000\nduration = \"3s\"",
    );
    assert_ne!(fast, source);
    let plan = write_plan(dir.path(), "mix.toml", &fast);
    let (_, out, v) = run_plan(&plan, &["--time-scale", "1"]);
    let weights = [
        ("health", 10.0),
        ("list_agents", 8.0),
        ("filter_agents", 5.0),
        ("customer_agents", 6.0),
        ("agent_configuration", 4.0),
        ("list_goals", 3.0),
        ("deliverables", 2.0),
        ("create_goal", 1.0),
    ];
    let by_name = v["by_name"].as_array().unwrap();
    let total: u64 = by_name
        .iter()
        .filter(|n| n["scenario"] == "journey")
        .map(|n| n["requests"].as_u64().unwrap())
        .sum();
    assert!(total > 2900, "{out}");
    for (name, w) in weights {
        let n = by_name
            .iter()
            .find(|n| n["scenario"] == "journey" && n["name"] == name)
            .unwrap()["requests"]
            .as_f64()
            .unwrap();
        let p = w / 39.0;
        let (mean, sd) = (total as f64 * p, (total as f64 * p * (1.0 - p)).sqrt());
        assert!(
            (n - mean).abs() < 5.0 * sd,
            "{name}: {n} vs {mean:.0} ± {:.0}",
            5.0 * sd
        );
    }
}

#[test]
fn an_arrival_counts_in_the_stage_of_its_intended_time() {
    let dir = tempfile::tempdir().unwrap();
    // Every response takes 1.5 s, so every response to stage "a" comes back during "b" (or
    // after): it must still count in "a".
    let plan = write_plan(
        dir.path(),
        "stages.toml",
        r#"
[[stage]]
name = "a"
rate = 20
duration = "1s"

[[stage]]
name = "b"
rate = 30
duration = "1s"

[[request]]
name = "health"
path = "/health"
"#,
    );
    let (_, out, v) = run_plan(&plan, &["--demo-latency", "1500ms"]);
    assert_eq!(v["by_stage"][0]["requests"], 20, "{out}");
    assert_eq!(v["by_stage"][1]["requests"], 30, "{out}");
    assert!(v["by_stage"][0]["latency_us"]["p50"].as_u64().unwrap() >= 1_500_000);
}

// 200/s: a 2 s stage of 400 arrivals is not valid only from 12 late (the chance of 12 or more
// for an engine late on 1 % is under 1 in 1,000), so hiccups of the test machine past the
// 10 ms on-time bound (seen once in CI, 10.4 ms) cannot turn the SLA verdicts into exit 3.
const VERDICT_PLAN: &str = r#"
[sla.health]
p95 = "100ms"

[criteria]
sla = ["p95"]
error_rate = { warn = 0.01, fail = 0.05 }

[[stage]]
name = "steady"
rate = 200
duration = "2s"

[[request]]
name = "health"
path = "/health"
sla = "health"
"#;

fn verdict(v: &Value) -> String {
    v["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().contains("p95"))
        .unwrap()["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn latency_below_just_over_and_far_over_target_pass_warn_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "verdict.toml", VERDICT_PLAN);
    // Target p95 100 ms; warned above it, failed above 150 ms (50 % over).
    for (latency, want, code) in [
        ("50ms", "passed", 0),
        ("120ms", "warned", 0),
        ("200ms", "failed", 1),
    ] {
        let (got_code, out, v) = run_plan(&plan, &["--demo-latency", latency]);
        assert_eq!(verdict(&v), want, "{latency}: {out}");
        assert_eq!(got_code, code, "{latency}: {out}");
        assert_eq!(v["by_name"][0]["sla_verdict"], want, "{latency}");
    }
}

#[test]
fn an_error_rate_over_the_stage_limit_fails() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "verdict.toml", VERDICT_PLAN);
    let (code, out, v) = run_plan(&plan, &["--demo-error-rate", "0.3"]);
    assert_eq!(code, 1, "{out}");
    let c = v["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().ends_with("error rate"))
        .unwrap();
    assert_eq!(c["verdict"], "failed", "{c}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("FAIL") && l.contains("error rate")),
        "{out}"
    );
}

#[test]
fn an_endpoint_with_no_success_fails_its_sla_whatever_the_error_rate_gate() {
    // Error-rate gates that never trip, and every request fails: the SLA has no successful
    // latency to read, and an endpoint that never answered well kept no service level.
    let dir = tempfile::tempdir().unwrap();
    let body = VERDICT_PLAN.replace(
        "error_rate = { warn = 0.01, fail = 0.05 }",
        "error_rate = { warn = 1, fail = 1 }",
    );
    let plan = write_plan(dir.path(), "all-errors.toml", &body);
    let (code, out, v) = run_plan(&plan, &["--demo-error-rate", "1"]);
    assert_eq!(verdict(&v), "failed", "{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("none of its"), "{out}");
}

#[test]
fn settle_time_is_left_out_of_the_criteria() {
    let dir = tempfile::tempdir().unwrap();
    // The demo target stalls for its first 1.5 s (stall 1500ms every 100 s): arrivals then wait
    // up to 1.5 s. With a 2 s settle the stage is judged on what follows, and passes; without it
    // the p95 includes the stall, and fails.
    for (settle, want) in [("2s", "passed"), ("0s", "failed")] {
        let body = VERDICT_PLAN.replace(
            "duration = \"2s\"",
            &format!("duration = \"4s\"\nsettle = \"{settle}\""),
        );
        let body = if settle == "0s" {
            body.replace("settle = \"0s\"\n", "")
        } else {
            body
        };
        let plan = write_plan(dir.path(), "settle.toml", &body);
        // No preflight: it would wait out the stall before the schedule starts.
        let (_, out, v) = run_plan(&plan, &["--demo-stall", "1500ms/100s", "--no-preflight"]);
        assert_eq!(verdict(&v), want, "settle {settle}: {out}");
    }
}

#[test]
fn an_env_header_value_appears_in_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-token-5b0e1c";
    let plan = write_plan(
        dir.path(),
        "secret.toml",
        r#"
[target]
headers = { Authorization = "Bearer ${env:METRONOME_TEST_SECRET}" }

[[stage]]
name = "s"
rate = 20
duration = "1s"

[[request]]
name = "health"
path = "/health"
"#,
    );
    let json = dir.path().join("out.json");
    let run = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args([
            "run",
            plan.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .env("METRONOME_TEST_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let check = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(["check", plan.to_str().unwrap()])
        .env("METRONOME_TEST_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        text(&check).to_lowercase().contains("authorization"),
        "the header's name is shown"
    );
    for out in [
        text(&run),
        text(&check),
        std::fs::read_to_string(&json).unwrap(),
    ] {
        assert!(!out.contains(secret), "secret leaked: {out}");
    }
    // Unset, the plan is refused before anything is sent.
    let unset = metronome(&["run", plan.to_str().unwrap()]);
    assert_eq!(unset.status.code(), Some(2), "{}", text(&unset));
    assert!(
        text(&unset).contains("METRONOME_TEST_SECRET"),
        "{}",
        text(&unset)
    );
}
