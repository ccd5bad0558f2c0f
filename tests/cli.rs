//! The `metronome` binary: flags, exit codes, the JSON summary and interruption.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{StderrLines, demo, metronome};
use metronome::demo::DemoConfig;
use serde_json::Value;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_flags_exit_2_before_anything_is_sent() {
    let target = demo(DemoConfig::default());
    let url = format!("{}/health", target.base_url());
    let cases: &[(&[&str], &str)] = &[
        (&["--rate", "-5", "--duration", "1s"], "--rate"),
        (&["--rate", "0", "--duration", "1s"], "positive"),
        (&["--rate", "10", "--duration", "10parsecs"], "500ms, 30s"),
        (
            &["--rate", "10", "--duration", "1s", "--connections", "0"],
            "--connections",
        ),
        (
            &["--rate", "10", "--duration", "1s", "-H", "NoColon"],
            "colon",
        ),
        (
            &["--rate", "10", "--duration", "1s", "--method", "GE T"],
            "method",
        ),
        (
            &["--rate", "10", "--duration", "1s", "--method", "get"],
            "upper case",
        ),
        (
            &["--rate", "1e12", "--duration", "1s"],
            "--rate 1e12 is over",
        ),
        (
            &[
                "--rate",
                "10",
                "--duration",
                "1s",
                "--json",
                "/nonexistent-dir/x.json",
            ],
            "does not exist",
        ),
        (
            &["--rate", "10", "--duration", "1s", "--demo-stall", "2s/1s"],
            "demo",
        ),
        (
            &["--rate", "10", "--duration", "1s", "--max-body", "0"],
            "--max-body must be more than zero",
        ),
        (
            &["--rate", "10", "--duration", "1s", "--max-body", "lots"],
            "not a size",
        ),
        (&["--rate", "10", "--duration", "1s", "--bogus"], "--bogus"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--url", &url];
        args.extend_from_slice(extra);
        let out = metronome(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(target.stats().requests(), 0, "nothing was sent");
    assert_eq!(
        target.stats().connections(),
        0,
        "no connection was even opened"
    );
}

#[test]
fn a_quick_run_whose_requests_all_fail_does_not_pass() {
    // The demo target answers 404 to a path it does not serve: every request is an error, and
    // the quick run's error-rate gate (fail above 5 %) fails the run.
    let target = demo(DemoConfig::default());
    let url = format!("{}/no-such-path", target.base_url());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let out = metronome(&[
        "run",
        "--url",
        &url,
        "--rate",
        "20",
        "--duration",
        "1s",
        "-q",
        "--json",
        json.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        common::verdict_code(&read_json(&json)),
        1,
        "{text}{}",
        stderr(&out)
    );
    assert!(text.contains("FAIL  quick/constant: error rate"), "{text}");
    assert!(target.stats().requests() >= 20);
}

#[test]
fn the_completed_rate_of_a_short_run_is_over_its_schedule() {
    // 2/s for 3 s: 6 arrivals, the last due at 2.5 s, so the drain ends near 2.5 s. Over that
    // the rate would read 2.4/s, more than was asked; over the 3 s schedule it is 2.0/s.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.json");
    let out = metronome(&[
        "run",
        "--rate",
        "2",
        "--duration",
        "3s",
        "-q",
        "--json",
        path.to_str().unwrap(),
    ]);
    let v = read_json(&path);
    assert_eq!(common::verdict_code(&v), 0, "{}", stderr(&out));
    assert_eq!(v["requests"], 6);
    let completed = v["completed_rate"].as_f64().unwrap();
    assert!(completed <= 2.0 + 1e-9, "completed {completed}/s");
}

#[test]
fn a_dead_target_fails_preflight_with_exit_3_within_seconds() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let out = metronome(&[
        "run",
        "--url",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "10",
        "--duration",
        "10s",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("preflight failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("JSON written")).expect("valid JSON")
}

fn sum(v: &Value, list: &str, field: &str) -> u64 {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_u64().unwrap())
        .sum()
}

#[test]
fn the_json_summary_has_every_field_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    let out = metronome(&[
        "run",
        "--rate",
        "200",
        "--duration",
        "2s",
        "--demo-error-rate",
        "0.1",
        "--quiet",
        "--json",
        path.to_str().unwrap(),
    ]);
    // 10 % errors is over the quick run's 5 % error-rate gate: the run fails, and says so.
    let v = read_json(&path);
    assert_eq!(common::verdict_code(&v), 1, "{}", stderr(&out));
    assert_eq!(out.status.code(), v["exit_code"].as_i64().map(|c| c as i32));
    for field in [
        "schema",
        "metronome_version",
        "seed",
        "threads",
        "started_at",
        "target_rate",
        "achieved_rate",
        "completed_rate",
        "on_time_share",
        "lateness",
        "requests",
        "errors",
        "dropped",
        "passed",
        "valid",
        "partial",
        "latency_us",
        "service_time_us",
        "queue_wait_us",
        "connect_us",
        "dispatch_lag_us",
        "by_name",
        "by_stage",
        "criteria",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    for p in [
        "latency_us",
        "service_time_us",
        "queue_wait_us",
        "connect_us",
        "dispatch_lag_us",
    ] {
        for k in [
            "p50", "p90", "p95", "p99", "p99_9", "p99_99", "max", "mean", "count",
        ] {
            assert!(v[p].get(k).is_some(), "missing {p}.{k}");
        }
    }
    assert_eq!(v["schema"], "metronome.summary.v1");
    let requests = v["requests"].as_u64().unwrap();
    let errors = v["errors"].as_u64().unwrap();
    assert_eq!(requests, 400);
    assert_eq!(sum(&v, "by_name", "requests"), requests);
    assert_eq!(sum(&v, "by_stage", "requests"), requests);
    assert_eq!(sum(&v, "by_name", "errors"), errors);
    assert_eq!(
        v["scheduled"].as_u64().unwrap(),
        requests + v["dropped"].as_u64().unwrap()
    );
    let kinds: u64 = v["error_kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(kinds, errors);
    assert_eq!(v["successes"].as_u64().unwrap() + errors, requests);
    assert_eq!(
        v["latency_us"]["count"].as_u64().unwrap(),
        requests - errors
    );
    // 10 % injected 500s out of 400: binomial sd 6, so 40 ± 30 is 5 sd.
    assert!((10..=70).contains(&errors), "{errors}");
    for key in [
        "scenario",
        "name",
        "requests",
        "errors",
        "error_kinds",
        "latency_us",
        "service_time_us",
    ] {
        assert!(v["by_name"][0].get(key).is_some(), "by_name missing {key}");
    }
    for key in [
        "scenario",
        "name",
        "target_rate",
        "achieved_rate",
        "requests",
        "errors",
        "latency_us",
    ] {
        assert!(
            v["by_stage"][0].get(key).is_some(),
            "by_stage missing {key}"
        );
    }
    for c in v["criteria"].as_array().unwrap() {
        assert!(["passed", "warned", "failed"].contains(&c["verdict"].as_str().unwrap()));
        assert!(c["name"].is_string() && c["detail"].is_string());
    }
    // Valid, unless the engine fell behind on this machine (set apart above).
    assert_eq!(v["valid"], v["exit_code"] != 3);
    assert_eq!(v["partial"], false);
}

/// interrupt sends SIGINT to `child`, as Ctrl-C in a terminal does.
fn interrupt(child: &Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

#[test]
fn ctrl_c_during_the_preflight_ends_the_run_at_once() {
    // A target that accepts connections and never answers keeps the preflight waiting for up
    // to 5 s; Ctrl-C must not wait for that. The signal is sent once this listener has read the
    // preflight's request, so the run is inside its preflight with its Ctrl-C handler in place,
    // however long the binary took to start on a busy machine.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (asked_tx, asked) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(8) {
            let Ok(c) = c else { continue };
            // The request's head, not only the connection: the run may connect before it first
            // polls its Ctrl-C handler into place, but it sends only on a later turn.
            let mut head = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            while head.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = asked_tx.send(());
            held.push(c);
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(["run", "--url", &format!("http://127.0.0.1:{port}/")])
        .args(["--rate", "10", "--duration", "10s", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waited = asked.recv_timeout(Duration::from_secs(30));
    if waited.is_err() {
        let _ = child.kill();
    }
    waited.expect("the preflight asks within 30 s");
    let signalled = Instant::now();
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted before the schedule started"),
        "{}",
        stderr(&out)
    );
    // Stopping takes a debug build milliseconds; the preflight it must not wait out holds the
    // run for 5 s. 3 s is generous for a loaded machine and still fails a run that waits for
    // the preflight's timeout.
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "took {:?} after the signal",
        signalled.elapsed()
    );
}

#[test]
fn ctrl_c_stops_the_schedule_and_still_writes_a_partial_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.json");
    // Not quiet: away from a terminal the run prints a progress line each second of the
    // schedule, and the first one says the schedule has been running for a second (100
    // arrivals), whatever the time the binary and its demo target took to start.
    let mut child = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args([
            "run",
            "--rate",
            "100",
            "--duration",
            "30s",
            "--json",
            path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = StderrLines::follow(&mut child);
    let progress = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lines.wait_for("progress line", Duration::from_secs(30), |l| {
            l.starts_with("[constant] ")
        })
    }));
    if let Err(panic) = progress {
        let _ = child.kill();
        std::panic::resume_unwind(panic);
    }
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    let printed = lines.rest();
    assert_eq!(out.status.code(), Some(3), "{printed}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PARTIAL"));
    let v = read_json(&path);
    assert_eq!(v["partial"], true);
    assert_eq!(v["valid"], false);
    // At least the second the progress line reported (less what the run may have dropped at
    // the stop); far fewer than the 3,000 of the whole schedule, even if the machine is slow
    // to deliver the line and the signal (1,000 is 10 s at 100/s).
    let scheduled = v["scheduled"].as_u64().unwrap();
    assert!(
        scheduled > 50 && scheduled < 1000,
        "stopped early: {scheduled} of 3000"
    );
    assert_eq!(
        v["requests"].as_u64().unwrap() + v["dropped"].as_u64().unwrap(),
        scheduled
    );
}

#[test]
fn bench_prints_the_floor_then_a_step_per_rate_with_its_verdict() {
    // Two low steps against the in-process target. Whether a step holds depends on how busy
    // the machine is (other tests run beside this one), so the test checks that each verdict
    // follows from the step's own figures rather than expecting both to hold.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = metronome(&[
        "bench",
        "--duration",
        "1s",
        "--rates",
        "200,400",
        "--threads",
        "1",
        "--connections",
        "10",
        "--json",
        json.to_str().unwrap(),
    ]);
    let printed = common::text(&out);
    assert!(out.status.success(), "{printed}{}", stderr(&out));
    assert!(printed.contains("timer floor"), "{printed}");
    assert!(printed.contains("sleep CPU µs/wake"), "{printed}");
    assert!(
        printed.contains("sparse arrivals (20/s, 20 arrivals"),
        "{printed}"
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let floors = report["floor"].as_array().unwrap();
    assert_eq!(floors.len(), 2);
    for f in floors {
        // A sleeping loop costs the kernel something per wake-up, and a spinning one never
        // wakes before its deadline: both are real measurements, not placeholders.
        assert!(f["sleep_cpu_us_per_wake"].as_f64().unwrap() > 0.0, "{f}");
    }
    // The engine at 20/s beside a bare loop at 20/s: both measured, both woke (a lag of 0 µs
    // at every percentile would be a placeholder, not a sleeping thread's wake-up).
    let sparse = &report["sparse"];
    assert_eq!(sparse["rate"], 20.0, "{sparse}");
    assert!(
        sparse["bare_loop_cpu_us_per_wake"].as_f64().unwrap() > 0.0,
        "{sparse}"
    );
    assert!(
        sparse["engine_cpu_us_per_request"].as_f64().unwrap() > 0.0,
        "{sparse}"
    );
    for who in ["bare_loop", "engine"] {
        assert!(sparse[who]["max_us"].as_u64().unwrap() > 0, "{sparse}");
    }
    let curve = &report["curves"][0];
    let steps = curve["steps"].as_array().unwrap();
    // The climb runs 200 then 400 and stops at the first that breaks; only after a break
    // between a held and a broken rate do refinement steps follow, each inside that gap.
    let climb: Vec<_> = steps.iter().filter(|s| s["refinement"] == false).collect();
    assert!(!climb.is_empty() && climb.len() <= 2, "{curve}");
    let mut highest: Option<f64> = None;
    let (mut low, mut high) = (0.0, f64::INFINITY);
    for (i, step) in steps.iter().enumerate() {
        let rate = step["target_rate"].as_f64().unwrap();
        if step["refinement"] == true {
            assert!(
                i >= climb.len(),
                "refinement comes after the climb: {curve}"
            );
            assert!(
                rate > low && rate < high,
                "{rate} outside ({low}, {high}): {curve}"
            );
        } else {
            assert_eq!(rate, [200.0, 400.0][i]);
        }
        let achieved = step["achieved_rate"].as_f64().unwrap();
        // However busy the machine, a few hundred requests a second reach the in-process target
        // and are answered: a step that sent nothing must fail this, not pass as "not held".
        assert!(achieved >= 0.5 * rate, "{step}");
        assert_eq!(step["errors"].as_u64(), Some(0), "{step}");
        let lag_p99 = step["dispatch_lag"]["p99_us"].as_u64().unwrap();
        let should_hold = achieved >= metronome::bench::HOLD_SHARE * rate
            && u128::from(lag_p99) <= metronome::bench::HOLD_LAG_P99.as_micros()
            && step["dropped"].as_u64() == Some(0);
        assert_eq!(step["held"].as_bool(), Some(should_hold), "{step}");
        if should_hold {
            highest = Some(highest.map_or(rate, |h| h.max(rate)));
            low = rate;
        } else {
            if step["refinement"] == false {
                assert_eq!(
                    i,
                    climb.len() - 1,
                    "the climb stops at the first step that breaks"
                );
            }
            high = rate;
        }
        assert!(step["cpu_us_per_request"].as_f64().unwrap() > 0.0, "{step}");
        assert!(step["peak_rss_mib"].as_f64().unwrap() > 1.0, "{step}");
    }
    assert_eq!(curve["highest_rate_held"].as_f64(), highest);
    match highest {
        Some(r) => assert!(
            printed.contains(&format!("highest rate held with 1 thread(s): {r:.0}/s")),
            "{printed}"
        ),
        None => assert!(printed.contains("no step held"), "{printed}"),
    }
}
