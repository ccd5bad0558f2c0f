//! Steering a running run (`POST /api/rate`, what the live page's Set rate sends) against the
//! built-in demo target over loopback: the change is refused when it cannot be made, and once
//! made the run is the plan plus that change, arrival for arrival, as a rerun with the
//! `--steer` flag its summary gives shows.

mod common;

use std::time::{Duration, Instant};

use common::{exchange, metronome, text};
use serde_json::Value;

/// body is a response's body, parsed.
fn body(response: &str) -> Value {
    let at = response.find("\r\n\r\n").expect("a whole response") + 4;
    serde_json::from_str(&response[at..]).unwrap_or_else(|e| panic!("{e}: {response}"))
}

#[test]
fn a_run_steered_from_its_api_is_the_plan_plus_the_change_arrival_for_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let (out, live_list, again_list) = (
        dir.path().join("out"),
        dir.path().join("live.txt"),
        dir.path().join("again.txt"),
    );
    let plan = ["--rate", "200", "--duration", "8s"];
    let mut args = plan.to_vec();
    args.extend([
        "--web",
        "127.0.0.1:0",
        "--linger",
        "0s",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--debug-arrivals",
        live_list.to_str().unwrap(),
    ]);
    let mut args: Vec<&str> = ["run"].into_iter().chain(args).collect();
    args.shrink_to_fit();
    let common::Serving {
        mut child,
        addr,
        stderr,
        ..
    } = common::serving(&args, "live page at http://");
    // Once a second of the schedule has been published.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, r) = exchange(addr, "GET", "/api/snapshot", "", "");
        if body(&r)["elapsed_s"].as_f64().unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no second published: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let json = "Content-Type: application/json\r\n";
    let (status, r) = exchange(addr, "GET", "/api/rate", "", "");
    assert_eq!(status, 405, "{r}");
    let cross = format!("{json}Origin: http://elsewhere.example\r\n");
    let (status, r) = exchange(addr, "POST", "/api/rate", &cross, r#"{"rate": 600}"#);
    assert_eq!(status, 403, "{r}");
    let (status, r) = exchange(addr, "POST", "/api/rate", json, r#"{"rate": "fast"}"#);
    assert_eq!(status, 400, "{r}");
    let unknown = r#"{"scenario": "checkout", "rate": 600}"#;
    let (status, r) = exchange(addr, "POST", "/api/rate", json, unknown);
    assert_eq!(status, 409, "{r}");
    assert!(
        body(&r)["message"]
            .as_str()
            .unwrap()
            .contains("no scenario `checkout`; name one of `quick`"),
        "{r}"
    );
    let asked = Instant::now();
    let (status, r) = exchange(addr, "POST", "/api/rate", json, r#"{"rate": 600}"#);
    assert_eq!(status, 200, "{r}");
    let said = body(&r);
    let at = said["at_s"].as_f64().unwrap();
    let (_, timeline) = exchange(addr, "GET", "/api/timeline", "", "");
    let stages = body(&timeline);
    assert_eq!(stages[1]["name"], "steer #1 600/s", "{stages}");
    assert!(
        (stages[1]["start_s"].as_f64().unwrap() - at).abs() < 1e-9,
        "{stages}"
    );
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the steered run passes: {}",
        stderr.rest()
    );
    assert!(asked.elapsed() < Duration::from_secs(60));

    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let steering = summary["steering"].as_array().unwrap();
    assert_eq!(steering.len(), 1, "{steering:?}");
    assert_eq!(
        (
            steering[0]["scenario"].as_str(),
            steering[0]["at_s"].as_f64()
        ),
        (Some("quick"), Some(at))
    );
    let flag = format!("{}ms:quick=600", (at * 1000.0).round());
    let run_file = std::fs::read_to_string(out.join("recording.json")).unwrap();
    assert!(
        run_file.contains(&format!(r#""--steer","{flag}""#)),
        "the run file repeats it"
    );
    // Before the change 200/s, after it 600/s to the end: the stage table has both.
    let by_stage = summary["by_stage"].as_array().unwrap();
    let scheduled: Vec<u64> = by_stage
        .iter()
        .map(|b| b["scheduled"].as_u64().unwrap())
        .collect();
    let want = [200.0 * at, 600.0 * (8.0 - at)];
    for (got, want) in scheduled.iter().zip(want) {
        assert!(
            (*got as f64 - want).abs() <= 1.0,
            "{scheduled:?} against {want:?}"
        );
    }

    // The plan plus the change, given up front, is the same schedule.
    let mut again: Vec<&str> = ["run"].into_iter().chain(plan).collect();
    again.extend([
        "--steer",
        &flag,
        "--quiet",
        "--debug-arrivals",
        again_list.to_str().unwrap(),
    ]);
    let o = metronome(&again);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (live, rerun) = (
        std::fs::read_to_string(&live_list).unwrap(),
        std::fs::read_to_string(&again_list).unwrap(),
    );
    assert_eq!(live.lines().count() as u64, scheduled.iter().sum::<u64>());
    assert!(
        live == rerun,
        "the live-steered listing differs from the rerun's"
    );
}

#[test]
fn a_change_that_cannot_be_made_is_refused_before_anything_is_sent() {
    for (steer, says) in [
        ("9s=5", "ends at 4.000 s"),
        ("1s:checkout=5", "no scenario `checkout`"),
        ("1s=fast", "is not a rate"),
        ("1.0005s=3", "whole millisecond"),
    ] {
        let o = metronome(&["run", "--rate", "10", "--duration", "4s", "--steer", steer]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{steer}: {t}");
        assert!(t.contains(says), "{steer}: {t}");
        assert!(
            !t.contains("demo target listening"),
            "{steer}: something started: {t}"
        );
    }
}
