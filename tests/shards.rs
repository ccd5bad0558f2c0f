//! Shards: N processes with `--shard I/N` issue together exactly the schedule one process
//! issues, and `metronome merge` adds their results exactly; every refusal of a merge that
//! could not be one run exits 2 with its reason.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{metronome, text};
use metronome::plan_file;
use metronome::schedule::{Arrival, Shard};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_metronome"))
}

/// Runs are the outputs the tests share: the progression plan (two scenarios, Poisson
/// arrivals, a weighted mix, random template values), compressed, run whole and as 2 and 4
/// shards, all started at one instant, each against its own in-process demo target.
struct Runs {
    root: tempfile::TempDir,
}

impl Runs {
    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

const PLAN: &str = "plans/progression.toml";
const SCALE: &str = "0.004";

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAN);
        // One absolute instant for every process: `+3s` would be 3 s after each one's start.
        let at =
            humantime::format_rfc3339_micros(std::time::SystemTime::now() + Duration::from_secs(3))
                .to_string();
        let mut children: Vec<(String, Child)> = Vec::new();
        let mut start = |name: String, shard: Option<String>| {
            let out = root.path().join(&name);
            let mut c = bin();
            c.arg("run")
                .arg(&plan)
                .args(["--time-scale", SCALE, "--start-at", &at, "--quiet"])
                .arg("--out")
                .arg(&out)
                .arg("--debug-arrivals")
                .arg(root.path().join(format!("{name}.arrivals")));
            if let Some(s) = shard {
                c.args(["--shard", &s]);
            }
            let child = c
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            children.push((name, child));
        };
        start("whole".into(), None);
        for n in [2, 4] {
            for i in 0..n {
                start(format!("{i}of{n}"), Some(format!("{i}/{n}")));
            }
        }
        for (name, child) in children {
            let out = child.wait_with_output().unwrap();
            // Not refused, and no crash: the verdicts (SLA against a busy machine's demo
            // target, the schedule kept on a loaded one) are not the subject here.
            assert!(
                matches!(out.status.code(), Some(0 | 1 | 3)),
                "{name}: {}",
                text(&out)
            );
        }
        Runs { root }
    })
}

fn summary(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join("summary.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn arrivals(runs: &Runs, names: &[String]) -> Vec<String> {
    let mut all: Vec<String> = names
        .iter()
        .flat_map(|n| {
            let text = std::fs::read_to_string(runs.dir(&format!("{n}.arrivals"))).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all
}

fn shard_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i}of{n}")).collect()
}

fn merge(runs: &Runs, dirs: &[PathBuf], out: &str) -> Output {
    let mut c = bin();
    c.arg("merge").args(dirs).arg("--out").arg(runs.dir(out));
    c.output().unwrap()
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v:#}"))
}

#[test]
fn two_and_four_shards_issue_exactly_what_one_process_issues() {
    let runs = runs();
    let whole = arrivals(runs, &["whole".to_string()]);
    assert!(whole.len() > 150, "{} arrivals", whole.len());
    // Each line: scenario, arrival index, intended offset (ns), request name, method and the
    // rendered target with its template values.
    assert!(
        whole
            .iter()
            .any(|l| l.contains("industry=") || l.contains("/customers/")),
        "template values are rendered: {:?}",
        &whole[..3]
    );
    for n in [2, 4] {
        let names = shard_names(n);
        let sharded = arrivals(runs, &names);
        assert_eq!(sharded.len(), whole.len(), "{n} shards: as many arrivals");
        assert_eq!(
            sharded, whole,
            "{n} shards: the same arrivals, times and requests"
        );
        // No arrival issued twice: the union has as many distinct lines as lines.
        let distinct: BTreeSet<&String> = sharded.iter().collect();
        assert_eq!(distinct.len(), sharded.len());

        let dirs: Vec<PathBuf> = names.iter().map(|n| runs.dir(n)).collect();
        let out = merge(runs, &dirs, &format!("merged{n}"));
        assert!(
            matches!(out.status.code(), Some(0 | 1 | 3)),
            "{}",
            text(&out)
        );
        let merged = summary(&runs.dir(&format!("merged{n}")));
        let parts: Vec<Value> = dirs.iter().map(|d| summary(d)).collect();
        for key in ["scheduled", "requests", "successes", "errors", "dropped"] {
            let sum: u64 = parts.iter().map(|p| u(p, key)).sum();
            assert_eq!(
                u(&merged, key),
                sum,
                "{n} shards: merged {key} is the shards' sum"
            );
        }
        assert_eq!(
            u(&merged, "scheduled"),
            u(&summary(&runs.dir("whole")), "scheduled")
        );
        // Per endpoint and per stage the counts add up as well.
        for (list, key) in [("by_name", "requests"), ("by_stage", "scheduled")] {
            for (k, row) in merged[list].as_array().unwrap().iter().enumerate() {
                let sum: u64 = parts.iter().map(|p| u(&p[list][k], key)).sum();
                assert_eq!(u(row, key), sum, "{list}[{k}].{key}");
            }
        }
        // A shard's plan criteria wait for the merge; the merge judges them.
        assert!(parts.iter().all(|p| {
            p["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["stage"].is_string())
                .all(|c| c["verdict"] == "deferred")
        }));
        assert!(
            merged["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["verdict"] != "deferred")
        );
        let m = &merged["merged"];
        assert_eq!(m["shard_count"], n);
        assert_eq!(m["shards"].as_array().unwrap().len(), n);
        assert_eq!(merged["shard"], Value::Null);
        // The shards started at one instant (--start-at), as their summaries say.
        let first = parts[0]["start"]["at"].clone();
        assert!(parts.iter().all(|p| p["start"]["at"] == first), "{first}");
        assert_eq!(m["start_spread_s"], 0.0);
        // The report shows each shard's engine health, so one bad generator stands out.
        let html =
            std::fs::read_to_string(runs.dir(&format!("merged{n}")).join("report.html")).unwrap();
        assert!(
            html.contains(&format!("Merged from {n} shards")),
            "the shards table"
        );
        assert_eq!(
            html.matches(&format!("/{n}<small>")).count(),
            n,
            "a row per shard"
        );
        for f in [
            "report.html",
            "stats.csv",
            "stats_history.csv",
            "failures.csv",
            "latency.hlog",
            "latency.hgrm",
        ] {
            assert!(
                runs.dir(&format!("merged{n}")).join(f).is_file(),
                "merged {f}"
            );
        }
    }
}

#[test]
fn a_run_merged_alone_gives_back_its_own_figures() {
    // The merge rebuilds the plan from the run's invocation and the summary from its saved
    // recording: of one unsharded run, it is that run's summary again, figure for figure.
    let runs = runs();
    let out = merge(runs, &[runs.dir("whole")], "whole-again");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&out)
    );
    let a = summary(&runs.dir("whole"));
    let b = summary(&runs.dir("whole-again"));
    for key in [
        "scheduled",
        "requests",
        "successes",
        "errors",
        "error_kinds",
        "dropped",
        "latency_us",
        "service_time_us",
        "dispatch_lag_us",
        "queue_wait_us",
        "by_name",
        "by_stage",
        "criteria",
        "lateness",
        "exit_code",
        "target_rate",
        "achieved_rate",
        "on_time_share",
        "engine_cpu_s",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    // The history has a row for every second of the run, as the run's own has.
    let rows = |d: &str| {
        std::fs::read_to_string(runs.dir(d).join("stats_history.csv"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(rows("whole"), rows("whole-again"));
}

/// quick is a tiny quick-mode run (40/s for 300 ms, unless `extra` sets the rate) against its
/// own demo target.
fn quick(root: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = root.join(name);
    let o = out.to_str().unwrap();
    let rate = if extra.contains(&"--rate") {
        vec![]
    } else {
        vec!["--rate", "40"]
    };
    let mut args = vec!["run", "--duration", "300ms", "-q", "--out", o];
    args.extend(rate);
    args.extend_from_slice(extra);
    let r = metronome(&args);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    out
}

#[test]
fn a_merge_that_could_not_be_one_run_is_refused_with_its_reason() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let s0 = quick(r, "s0", &["--shard", "0/3"]);
    // One shard watched on a live page: its recording (whose layout held spare stages for
    // steering) is saved in the plan's layout, like the others'.
    let s1 = quick(
        r,
        "s1",
        &["--shard", "1/3", "--web", "127.0.0.1:0", "--linger", "0s"],
    );
    let s2 = quick(r, "s2", &["--shard", "2/3"]);
    let steered = |name, shard| quick(r, name, &["--shard", shard, "--steer", "150ms=80"]);
    let (t0, t1, t2) = (
        steered("t0", "0/3"),
        steered("t1", "1/3"),
        steered("t2", "2/3"),
    );
    let other_seed = quick(r, "seed", &["--shard", "2/3", "--seed", "7"]);
    let other_rate = quick(r, "rate", &["--shard", "2/3", "--rate", "41"]);
    let other_count = quick(r, "count", &["--shard", "1/2"]);
    let copy = r.join("s1-copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&s1).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let p = |d: &PathBuf| d.to_str().unwrap().to_string();
    let out = r.join("merged");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![p(&s0), p(&s2)], "shard 1/3 of 3 is missing"),
        (vec![p(&s0), p(&s1), p(&s1), p(&s2)], "is given twice"),
        (
            vec![p(&s0), p(&s1), p(&copy), p(&s2)],
            "shard 1/3 is given twice",
        ),
        (vec![p(&s0), p(&s1), p(&other_seed)], "seed 1"),
        (vec![p(&s0), p(&s1), p(&other_rate)], "ran different plans"),
        (vec![p(&s0), p(&s1), p(&t2)], "ran different plans"),
        (
            vec![p(&s0), p(&s1), p(&other_count)],
            "different shard counts",
        ),
        (vec![p(&s0), r.to_str().unwrap().into()], "recording.json"),
    ];
    for (dirs, why) in cases {
        let mut args = vec!["merge".to_string()];
        args.extend(dirs.iter().cloned());
        args.extend(["--out".into(), p(&out)]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = metronome(&args);
        assert_eq!(o.status.code(), Some(2), "{dirs:?}: {}", text(&o));
        assert!(
            text(&o).contains(why),
            "{dirs:?}: want `{why}` in {}",
            text(&o)
        );
        assert!(
            !out.join("summary.json").exists(),
            "nothing merged: {dirs:?}"
        );
    }
    // And the three of one run merge.
    let o = metronome(&["merge", &p(&s0), &p(&s1), &p(&s2), "--out", &p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(u(&summary(&out), "scheduled"), 12);
    // Shards steered alike merge into the steered run: 40/s to 150 ms, then 80/s.
    let o = metronome(&["merge", &p(&t0), &p(&t1), &p(&t2), "--out", &p(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let merged = summary(&out);
    assert_eq!(u(&merged, "scheduled"), 6 + 12);
    assert_eq!(merged["steering"][0]["rate"], 80.0, "{merged}");
}

#[test]
fn a_bad_shard_or_start_is_refused_before_anything_is_sent() {
    for (args, env, why) in [
        (vec!["--shard", "4/4"], None, "shard 4 of 4 does not exist"),
        (vec!["--shard", "1"], None, "is not a shard"),
        (
            vec!["--shard", "auto/4"],
            None,
            "JOB_COMPLETION_INDEX, which is not set",
        ),
        (
            vec!["--shard", "auto/4"],
            Some("4"),
            "not a shard index below 4",
        ),
        (
            vec!["--shard", "auto/4"],
            Some("x"),
            "not a shard index below 4",
        ),
        (vec!["--start-at", "tomorrow"], None, "RFC 3339"),
        (
            vec!["--start-at", "2026-12-02T18:30:00"],
            None,
            "ending in Z",
        ),
    ] {
        let mut c = bin();
        c.args([
            "run",
            "--url",
            "http://127.0.0.1:9/",
            "--rate",
            "10",
            "--duration",
            "1s",
        ])
        .args(&args)
        .env_remove("JOB_COMPLETION_INDEX");
        if let Some(v) = env {
            c.env("JOB_COMPLETION_INDEX", v);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(why),
            "{args:?}: want `{why}` in {}",
            text(&o)
        );
        // Refused before the preflight: nothing was tried against port 9.
        assert!(!text(&o).contains("preflight"), "{}", text(&o));
    }
}

#[test]
fn a_shard_waits_for_its_start_instant_and_one_late_issues_its_overdue_arrivals_at_once() {
    let root = tempfile::tempdir().unwrap();
    let at = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + Duration::from_millis(2500),
    )
    .to_string();
    let on_time = quick(
        root.path(),
        "on-time",
        &["--shard", "0/2", "--start-at", &at],
    );
    let s = summary(&on_time);
    assert_eq!(s["start"]["requested"].as_str().unwrap()[..23], at[..23]);
    assert_eq!(s["start"]["at"], s["start"]["requested"]);
    assert!(
        s["start"]["clock"]["clock"]
            .as_str()
            .unwrap()
            .contains("CLOCK_REALTIME")
    );
    assert_eq!(s["shard"]["index"], 0);
    // Two seconds behind its instant: every arrival is overdue, and says so as dispatch lag.
    let past =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() - Duration::from_secs(2))
            .to_string();
    let out = root.path().join("late");
    let o = metronome(&[
        "run",
        "--rate",
        "40",
        "--duration",
        "300ms",
        "-q",
        "--shard",
        "1/2",
        "--start-at",
        &past,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text(&o).contains("after --start-at"), "{}", text(&o));
    let s = summary(&out);
    assert_eq!(u(&s, "scheduled"), 6);
    assert!(
        u(&s["dispatch_lag_us"], "p50") > 1_000_000,
        "overdue by about 2 s: {}",
        s["dispatch_lag_us"]
    );
    assert_eq!(
        s["valid"], false,
        "an engine 2 s late did not keep its schedule"
    );
    assert!(
        s["start"]["late_s"].as_f64().unwrap() >= 2.0,
        "{}",
        s["start"]
    );
}

#[test]
fn schedules_of_100_and_1000_shards_are_disjoint_cover_the_plan_and_share_each_stage() {
    // No network: the progression plan's schedules split by Shard as the processes split them.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAN);
    let overrides = plan_file::Overrides {
        time_scale: Some(0.1),
        ..Default::default()
    };
    let plan = plan_file::load(&file, &overrides).unwrap().plan;
    let schedules: Vec<_> = (plan.scenarios.iter().enumerate())
        .map(|(k, s)| s.schedule(plan.seed, k as u64))
        .collect();
    let key = |(k, a): (usize, Arrival)| (k, a.index, a.offset, a.stage);
    let whole: Vec<_> = Shard::new(schedules.clone(), 0, 1).map(key).collect();
    assert!(whole.len() > 5_000, "{}", whole.len());
    // Arrivals per (scenario, stage) in the whole schedule.
    let per_stage = |arrivals: &[(usize, u64, Duration, usize)]| {
        let mut m = std::collections::BTreeMap::new();
        for &(k, _, _, st) in arrivals {
            *m.entry((k, st)).or_insert(0u64) += 1;
        }
        m
    };
    let whole_stages = per_stage(&whole);
    for n in [100u64, 1000] {
        let mut union = Vec::with_capacity(whole.len());
        for i in 0..n {
            let part: Vec<_> = Shard::new(schedules.clone(), i, n).map(key).collect();
            assert!(part.iter().all(|&(_, idx, _, _)| idx % n == i));
            // Each stage's arrivals have consecutive indices, so a shard holds ⌊c/n⌋ or ⌈c/n⌉
            // of them: its rate is the plan's divided by n, to one arrival.
            let stages = per_stage(&part);
            for (st, &c) in &whole_stages {
                let got = *stages.get(st).unwrap_or(&0);
                assert!(
                    got == c / n || got == c.div_ceil(n),
                    "{n} shards, shard {i}, stage {st:?}: {got} of {c}"
                );
            }
            union.extend(part);
        }
        union.sort();
        let mut want = whole.clone();
        want.sort();
        assert_eq!(
            union.len(),
            want.len(),
            "{n} shards: no arrival twice or lost"
        );
        assert_eq!(union, want, "{n} shards: together, the whole schedule");
    }
}

#[test]
fn a_local_indexed_job_runs_four_shards_at_one_instant_and_merges_them() {
    // deploy/local-indexed-job.sh does on one machine what the Kubernetes Indexed Job does:
    // JOB_COMPLETION_INDEX=0..3, one --start-at, ROOT/<index>, then merge.
    let target = common::demo(metronome::demo::DemoConfig::default());
    let root = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(repo.join("deploy/local-indexed-job.sh"))
        .arg("4")
        .arg(repo.join("plans/load-50.toml"))
        .arg(target.base_url())
        .arg(root.path())
        .args(["--time-scale", "0.005"])
        .env("METRONOME", env!("CARGO_BIN_EXE_metronome"))
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&out)
    );
    let merged = summary(&root.path().join("merged"));
    let parts: Vec<Value> = (0..4)
        .map(|i| summary(&root.path().join(i.to_string())))
        .collect();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(
            p["shard"]["index"], i,
            "JOB_COMPLETION_INDEX gave shard {i}"
        );
        assert_eq!(p["shard"]["count"], 4);
    }
    let sum: u64 = parts.iter().map(|p| u(p, "scheduled")).sum();
    assert_eq!(u(&merged, "scheduled"), sum);
    assert!(sum > 30, "{sum} arrivals");
    assert_eq!(
        merged["merged"]["start_spread_s"], 0.0,
        "one instant for all"
    );
    assert!(text(&out).contains(&format!("merge: exit {}", merged["exit_code"])));
}

#[test]
fn histograms_split_over_shards_merge_to_the_percentiles_of_one_histogram() {
    use metronome::record::{Outcome, Recording, Slot};
    use metronome::recorder::Recorder;
    use metronome::schedule::ShardOf;
    use metronome::shard::{self, Invocation, RunFile};
    use metronome::summary::{self, Percentiles, RunFacts};
    use std::sync::Arc;

    let plan = common::quick("http://127.0.0.1:9", "/", 1000.0, Duration::from_secs(10));
    let layout = Arc::new(metronome::engine::layout(&plan, 0));
    let facts = RunFacts {
        started_at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        elapsed: Duration::from_secs(10),
        interrupted_at: None,
        connections_opened: 1,
        preflight_answered: true,
        start_requested: None,
        started_late: Duration::ZERO,
        clock: Default::default(),
        aborted: None,
    };
    // 10,000 known values from 1 µs to about 4 s, spread so every decade is filled.
    let value = |i: u64| Duration::from_micros(1 + (i * 7_919) % 4_000_000 / (1 + i % 97));
    let outcome = |i: u64| Outcome {
        scenario: 0,
        request: 0,
        slot: Slot::new(0, false),
        latency: value(i),
        queue_wait: value(i) / 3,
        connect: None,
        tls: None,
        service_time: value(i) / 2,
        result: Ok(100),
        check_failure: None,
    };
    let mut one = Recording::new(layout.clone());
    for i in 0..10_000 {
        one.dispatched(0, Slot::new(0, false), value(i) / 100, false);
        one.outcome(&outcome(i));
    }
    let (one_engine, one_cells) = one.totals();
    for n in [2u64, 3, 7] {
        let root = tempfile::tempdir().unwrap();
        let shards: Vec<shard::Shard> = (0..n)
            .map(|k| {
                let mut rec = Recorder::new(layout.clone(), 1);
                for i in (k..10_000).step_by(n as usize) {
                    rec.totals
                        .dispatched(0, Slot::new(0, false), value(i) / 100, false);
                    rec.totals.outcome(&outcome(i));
                }
                let mut p = plan.clone();
                p.shard = ShardOf { index: k, count: n };
                let file = RunFile::of(Invocation::default(), &p, &rec, &facts);
                shard::Shard {
                    dir: root.path().join(k.to_string()),
                    summary: summary::build(&p, &rec, &facts),
                    // Read back as from a shard's directory: the histograms go through JSON.
                    file: serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap(),
                    hlog: Vec::new(),
                    plan: p,
                }
            })
            .collect();
        let merged = shard::merge(shards, &root.path().join("merged")).unwrap();
        assert_eq!(
            merged.latency_us,
            Percentiles::of(&one_cells.latency),
            "{n} shards"
        );
        assert_eq!(
            merged.service_time_us,
            Percentiles::of(&one_cells.service_time)
        );
        assert_eq!(
            merged.dispatch_lag_us,
            Percentiles::of(&one_engine.dispatch_lag)
        );
        assert_eq!(
            merged.queue_wait_us,
            Percentiles::of(&one_engine.queue_wait)
        );
        assert_eq!(merged.requests, 10_000);
        assert_eq!(merged.bytes_received, 1_000_000);
    }
}

#[test]
fn ctrl_c_while_waiting_for_the_start_instant_ends_the_run_before_anything_is_sent() {
    let mut child = bin()
        .args([
            "run",
            "--rate",
            "10",
            "--duration",
            "1s",
            "--start-at",
            "+60s",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = common::StderrLines::follow(&mut child);
    lines.wait_for("the wait", Duration::from_secs(30), |l| {
        l.contains("waiting")
    });
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let rest = lines.rest();
    assert_eq!(status.code(), Some(3), "{rest}");
    assert!(rest.contains("nothing was sent"), "{rest}");
}
