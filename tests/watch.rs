//! Watching the target: a separate `metronome serve` process (leaking or not) watched by pid,
//! a target killed mid-run, a Prometheus endpoint the test serves itself, and quick mode's
//! `--watch-pid` / `--watch-url`. Runs are short, sampled every 100 ms, and their bounds are
//! wide: memory figures are the kernel's, and this machine may be busy.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{StderrLines, metronome, text, verdict_code};
use serde_json::Value;

/// Served is a `metronome serve` process on 127.0.0.1 with a port the system chose.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    /// start runs `metronome serve --leak LEAK` and waits until it listens.
    fn start(leak: &str) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_metronome"))
            .args(["serve", "--addr", "127.0.0.1:0", "--leak", leak])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("metronome serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("serve says where it listens").unwrap();
            if let Some(at) = line.find("http://127.0.0.1:") {
                let url = line[at..].split_whitespace().next().unwrap();
                break url
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .to_string();
            }
        };
        // Keep reading its standard error so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served { child, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// plan is a 4 s run at 200/s against `url`, watched by pid every 100 ms, its first second
/// left out, with the playbook's 20 % and a trend extrapolated over a minute (15 times the run).
fn plan(url: &str, pid: u32) -> String {
    format!(
        r#"[target]
base_url = "{url}"

[[stage]]
name = "soak"
duration = "4s"
rate = 200

[[request]]
name = "health"
path = "/health"

[watch]
pid = {pid}
interval = "100ms"
settle = "1s"
max_memory_growth = 0.20
memory_horizon = "1m"
"#
    )
}

/// run_plan runs a plan file and returns its summary and everything it printed.
fn run_plan(dir: &Path, plan: &str) -> (Value, String) {
    let path = dir.join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    let out = dir.join("out");
    let o = metronome(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let summary = std::fs::read(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary ({e}):\n{}", text(&o)));
    let summary: Value = serde_json::from_slice(&summary).unwrap();
    assert_eq!(
        o.status.code(),
        Some(summary["exit_code"].as_i64().unwrap() as i32),
        "{}",
        text(&o)
    );
    (summary, text(&o))
}

fn criterion<'a>(s: &'a Value, starts: &str) -> &'a Value {
    s["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(starts))
        .unwrap_or_else(|| panic!("no criterion `{starts}` in {:#}", s["criteria"]))
}

#[test]
fn a_leaking_target_fails_its_memory_growth() {
    // 16 KiB a request, 800 requests: about 12 MiB on a target of about 20 MiB.
    let target = Served::start("16KiB");
    let dir = tempfile::tempdir().unwrap();
    let (s, out) = run_plan(dir.path(), &plan(&target.url, target.pid()));
    let growth = criterion(&s, "target memory growth");
    assert_eq!(growth["verdict"], "failed", "{out}");
    assert_eq!(growth["rule"]["kind"], "memory_growth");
    assert!(
        s["watch"]["growth"].as_f64().unwrap() > 0.3,
        "{:#}",
        s["watch"]
    );
    assert_eq!(criterion(&s, "target memory trend")["verdict"], "warned");
    assert_eq!(criterion(&s, "target running")["verdict"], "passed");
    assert_eq!(verdict_code(&s), 1, "{out}");
    // Every sample is a comment line of the interval log.
    let hlog = std::fs::read_to_string(dir.path().join("out/latency.hlog")).unwrap();
    let lines = hlog
        .lines()
        .filter(|l| l.starts_with("#metronome-watch t="))
        .count();
    assert!(lines >= 20, "{lines} sample lines");
    assert_eq!(lines as u64, s["watch"]["samples"].as_u64().unwrap());
}

#[test]
fn a_slow_leak_warns_by_its_trend_before_it_grows_too_much() {
    // 2 KiB a request: a few % over the run, far past 20 % over the minute of the horizon.
    let target = Served::start("2KiB");
    let dir = tempfile::tempdir().unwrap();
    let (s, out) = run_plan(dir.path(), &plan(&target.url, target.pid()));
    let growth = criterion(&s, "target memory growth");
    assert_eq!(growth["verdict"], "passed", "{out}");
    let trend = criterion(&s, "target memory trend");
    assert_eq!(trend["verdict"], "warned", "{out}");
    assert_eq!(trend["rule"]["kind"], "memory_trend");
    assert!(s["watch"]["trend"]["slope_bytes_per_s"].as_f64().unwrap() > 50_000.0);
    assert_eq!(verdict_code(&s), 0, "{out}");
}

#[test]
fn a_flat_target_passes() {
    let target = Served::start("0");
    let dir = tempfile::tempdir().unwrap();
    let (s, out) = run_plan(dir.path(), &plan(&target.url, target.pid()));
    for name in [
        "target running",
        "target watched",
        "target memory growth",
        "target memory trend",
    ] {
        assert_eq!(criterion(&s, name)["verdict"], "passed", "{name}: {out}");
    }
    assert_eq!(verdict_code(&s), 0, "{out}");
    let w = &s["watch"];
    assert!(
        w["memory_bytes"]["max"].as_u64().unwrap() > 1 << 20,
        "{w:#}"
    );
    assert!(w["cpu_mean"].as_f64().is_some(), "{w:#}");
}

#[test]
fn a_target_killed_mid_run_is_a_crash_with_its_time() {
    let mut target = Served::start("0");
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&target.url, target.pid());
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    let json = dir.path().join("s.json");
    let mut run = Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(["run", path.to_str().unwrap(), "--json"])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line (about a second in) says the schedule is running: kill then.
    let mut lines = StderrLines::follow(&mut run);
    lines.wait_for("a progress line", Duration::from_secs(30), |l| {
        l.starts_with("[soak]")
    });
    target.child.kill().unwrap();
    target.child.wait().unwrap();
    let mut stdout = String::new();
    run.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = run.wait().unwrap();
    let s: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let running = criterion(&s, "target running");
    assert_eq!(running["verdict"], "failed", "{stdout}");
    let detail = running["detail"].as_str().unwrap();
    assert!(detail.starts_with("the target crashed at 20"), "{detail}");
    assert!(
        detail.contains("is gone") || detail.contains("exited"),
        "{detail}"
    );
    let gone = &s["watch"]["events"][0];
    assert_eq!(gone["kind"], "gone", "{:#}", s["watch"]);
    let t = gone["t"].as_f64().unwrap();
    // Killed after the first progress line, before the 4 s schedule's end.
    assert!((0.5..4.5).contains(&t), "gone at {t} s");
    assert!(
        lines.rest().contains("GONE at "),
        "the progress line says so"
    );
    assert_eq!(s["watch"]["gone_at"], gone["at"]);
    assert!(
        stdout.contains("FAIL  target running: the target crashed at"),
        "{stdout}"
    );
    assert_eq!(status.code(), Some(s["exit_code"].as_i64().unwrap() as i32));
    assert_eq!(verdict_code(&s), 1, "{stdout}");
}

/// metrics serves /metrics with a gauge for job "api" that grows by 1 MB a scrape, beside one
/// for another job, until the test ends; the 6th to 8th scrapes are answered 503.
fn metrics() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let scrapes = Arc::new(AtomicU64::new(0));
    let counted = scrapes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let k = counted.fetch_add(1, Ordering::Relaxed);
            let body = format!(
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                 # TYPE process_resident_memory_bytes gauge\n\
                 process_resident_memory_bytes{{job=\"worker\"}} 5\n\
                 process_resident_memory_bytes{{instance=\"a\",job=\"api\"}} {}\n\
                 process_cpu_seconds_total{{job=\"api\"}} 1.5\n",
                100_000_000 + 1_000_000 * k
            );
            if (5..8).contains(&k) {
                // The endpoint is down for three scrapes.
                let _ = write!(
                    stream,
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                );
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, scrapes)
}

#[test]
fn a_metrics_endpoint_is_read_with_a_label_matcher_in_quick_mode() {
    let (url, scrapes) = metrics();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = metronome(&[
        "run",
        "--url",
        "/health",
        "--rate",
        "50",
        "--duration",
        "2s",
        "--watch-url",
        &url,
        "--watch-metric",
        r#"process_resident_memory_bytes{job="api"}"#,
        "--watch-interval",
        "100ms",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let s: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let w = &s["watch"];
    assert_eq!(
        w["source"],
        format!(r#"process_resident_memory_bytes{{job="api"}} at {url}"#)
    );
    let n = w["samples"].as_u64().unwrap();
    assert!(n >= 8, "{n} samples: {}", text(&o));
    assert!(scrapes.load(Ordering::Relaxed) >= n + 3);
    let m = &w["memory_bytes"];
    // Only job="api": never the other job's 5 bytes, nor the two summed.
    assert_eq!(m["first"].as_u64().unwrap() % 1_000_000, 0, "{m:#}");
    assert!(m["min"].as_u64().unwrap() >= 100_000_000, "{m:#}");
    assert!(
        m["max"].as_u64().unwrap() >= m["min"].as_u64().unwrap() + 5_000_000,
        "{m:#}"
    );
    // A metrics endpoint cannot see a crash: no "target running" criterion, and no CPU.
    let names: Vec<&str> = (s["criteria"].as_array().unwrap().iter())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"target running"), "{names:?}");
    // The three failed scrapes: counted, one event with its time, then one for the recovery.
    assert_eq!(w["failed_reads"], 3, "{w:#}");
    assert_eq!(w["events"][0]["kind"], "read_failed", "{w:#}");
    assert!(
        w["events"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("answered 503")
    );
    // (Its time may fall before the schedule's start on a slow machine: the watch starts at the
    // preflight.)
    let t = w["events"][0]["t"].as_f64().unwrap();
    assert!(t > -10.0 && t < s["elapsed_s"].as_f64().unwrap(), "{t}");
    assert_eq!(w["events"][1]["kind"], "recovered", "{w:#}");
    let watched = criterion(&s, "target watched");
    assert_eq!(watched["verdict"], "warned");
    assert!(
        watched["detail"].as_str().unwrap().starts_with("3 of "),
        "{watched:#}"
    );
    assert!(w["cpu_mean"].is_null());
    assert_eq!(verdict_code(&s), 0, "{}", text(&o));
}

#[test]
fn quick_mode_watches_a_pid_into_every_output() {
    let target = Served::start("0");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let pid = target.pid().to_string();
    let o = metronome(&[
        "run",
        "--url",
        &format!("{}/health", target.url),
        "--rate",
        "100",
        "--duration",
        "2s",
        "--watch-pid",
        &pid,
        "--watch-interval",
        "100ms",
        "--out",
        out.to_str().unwrap(),
    ]);
    let all = text(&o);
    let s: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["watch"]["source"], format!("pid {pid}"));
    assert_eq!(
        criterion(&s, "target running")["verdict"],
        "passed",
        "{all}"
    );
    assert!(all.contains("PASS  target watched: "), "{all}");
    // The progress line (plain lines off a terminal) shows the target's memory.
    assert!(all.contains(" · target mem "), "{all}");
    let history = std::fs::read_to_string(out.join("stats_history.csv")).unwrap();
    let header = history.lines().next().unwrap();
    assert!(header.ends_with(",Target Memory"), "{header}");
    let last = history.lines().last().unwrap();
    let memory: u64 = last.rsplit(',').next().unwrap().parse().unwrap();
    assert!(memory > 1 << 20, "{last}");
    // The report charts memory beside latency, and links to it.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<a href=\"#target\">Target memory</a>"));
    assert!(
        html.contains("<title>Target memory over time</title>"),
        "no chart"
    );
    // `metronome report` renders the same from the saved files.
    let again = dir.path().join("again.html");
    let o = metronome(&[
        "report",
        out.to_str().unwrap(),
        "--html",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(again).unwrap(), html);
    assert_eq!(verdict_code(&s), 0, "{all}");
}

#[test]
fn a_watch_of_a_missing_target_refuses_the_run() {
    let o = metronome(&[
        "run",
        "--url",
        "/health",
        "--rate",
        "10",
        "--duration",
        "1s",
        "--watch-pid",
        "4294967294",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot watch pid 4294967294"),
        "{}",
        text(&o)
    );
}

/// own_cgroup is this test's own memory cgroup: the v2 directory, or v1's memory hierarchy.
fn own_cgroup() -> std::path::PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v2 = text.lines().find_map(|l| l.strip_prefix("0::"));
    if let Some(p) = v2 {
        let dir = Path::new("/sys/fs/cgroup").join(p.trim_start_matches('/'));
        if dir.join("memory.current").is_file() {
            return dir;
        }
    }
    let v1 = (text.lines())
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p))
        .expect("a v2 cgroup with memory.current, or a v1 memory cgroup");
    let dir = Path::new("/sys/fs/cgroup/memory").join(v1.trim_start_matches('/'));
    assert!(
        dir.join("memory.usage_in_bytes").is_file(),
        "{}",
        dir.display()
    );
    dir
}

#[test]
fn a_cgroup_is_watched_by_its_memory_charge() {
    let cgroup = own_cgroup();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("s.json");
    let o = metronome(&[
        "run",
        "--url",
        "/health",
        "--rate",
        "50",
        "--duration",
        "1s",
        "--watch-cgroup",
        cgroup.to_str().unwrap(),
        "--watch-interval",
        "100ms",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let s: Value = serde_json::from_slice(&std::fs::read(&json).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let w = &s["watch"];
    assert_eq!(w["source"], format!("cgroup {}", cgroup.display()));
    assert!(w["samples"].as_u64().unwrap() >= 5, "{w:#}");
    // The run itself is in this cgroup: its charge is at least the binary's few MiB.
    assert!(
        w["memory_bytes"]["min"].as_u64().unwrap() > 1 << 20,
        "{w:#}"
    );
    assert_eq!(criterion(&s, "target running")["verdict"], "passed");
    assert_eq!(verdict_code(&s), 0, "{}", text(&o));
}
