//! `--metrics ADDR`: the run's figures in the Prometheus text format, scraped during a real run
//! over loopback and read by a Prometheus text-format parser (the `prometheus-parse` crate):
//! counters only grow, and at the end they equal the summary's. And it is safe by default.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{metronome, text};
use metronome::demo::DemoConfig;
use prometheus_parse::{Scrape, Value};

/// get sends one HTTP/1.1 request to `addr` and returns its status line and whole response.
fn get(addr: SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String) {
    common::exchange(addr, method, path, headers, "")
}

/// Figures are one scrape, by metric name and its labels (sorted, as `k=v,…`).
type Figures = BTreeMap<(String, String), f64>;

/// scrape reads /metrics and parses it as Prometheus does; histograms yield `_count` only.
fn scrape(addr: SocketAddr) -> Figures {
    let (status, response) = get(addr, "GET", "/metrics", "");
    assert_eq!(status, 200, "{response}");
    let head_end = response.find("\r\n\r\n").unwrap();
    assert!(
        response[..head_end].contains("text/plain; version=0.0.4"),
        "{}",
        &response[..head_end]
    );
    let body = &response[head_end + 4..];
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    assert!(!parsed.samples.is_empty(), "{body}");
    let mut out = Figures::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(buckets) => {
                // Cumulative buckets never decrease, and +Inf holds every value.
                for w in buckets.windows(2) {
                    assert!(w[0].count <= w[1].count, "{} buckets decrease", s.metric);
                }
                let inf = buckets.iter().find(|b| b.less_than.is_infinite());
                inf.expect("a +Inf bucket").count
            }
            Value::Summary(_) => panic!("no summaries are served"),
        };
        out.insert((s.metric, labels.join(",")), value);
    }
    out
}

fn sum(f: &Figures, metric: &str) -> f64 {
    f.iter()
        .filter(|((m, _), _)| m == metric)
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn metrics_scraped_during_a_run_only_grow_and_end_equal_to_the_summary() {
    let target = common::demo(DemoConfig {
        error_rate: 0.05,
        ..DemoConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let common::Serving {
        mut child,
        stderr,
        addr,
        ..
    } = common::serving(
        &[
            "run",
            "--url",
            &format!("{}/health", target.base_url()),
            "--rate",
            "400",
            "--duration",
            "4s",
            "--metrics",
            "127.0.0.1:0",
            "--linger",
            "60s",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "metrics at http://",
    );
    let mut scrapes: Vec<Figures> = Vec::new();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let f = scrape(addr);
        let finished = f.get(&("metronome_run_finished".into(), String::new())) == Some(&1.0);
        scrapes.push(f);
        if finished {
            break;
        }
        assert!(Instant::now() < until, "the run never finished");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Ctrl-C ends the linger; the process then exits with the run's code.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let printed = stderr.rest();
    let during = scrapes
        .iter()
        .filter(|f| sum(f, "metronome_arrivals_sent_total") > 0.0);
    assert!(
        during.count() >= 3,
        "too few scrapes saw the run going: {scrapes:?}"
    );
    for pair in scrapes.windows(2) {
        for (key, was) in &pair[0] {
            if key.0.ends_with("_total") || key.0.ends_with("_seconds") && key.1.is_empty() {
                let now = pair[1].get(key).copied().unwrap_or(0.0);
                assert!(now >= *was, "{key:?} went from {was} to {now}");
            }
        }
    }
    let last = scrapes.last().unwrap();
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        status.code(),
        Some(s["exit_code"].as_i64().unwrap() as i32),
        "{printed}"
    );
    let n = |k: &str| s[k].as_u64().unwrap() as f64;
    assert_eq!(
        sum(last, "metronome_arrivals_scheduled_total"),
        n("scheduled")
    );
    assert_eq!(sum(last, "metronome_arrivals_dropped_total"), n("dropped"));
    assert_eq!(sum(last, "metronome_arrivals_sent_total"), n("requests"));
    assert_eq!(sum(last, "metronome_responses_total"), n("requests"));
    let by_kind = |kind: &str| {
        last.iter()
            .filter(|((m, l), _)| {
                m == "metronome_responses_total" && l.contains(&format!("kind={kind}"))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    assert_eq!(by_kind("success"), n("successes"));
    assert_eq!(
        by_kind("http_5xx"),
        s["error_kinds"]["http_5xx"].as_u64().unwrap() as f64
    );
    assert!(by_kind("http_5xx") > 0.0, "the target injects 5 % errors");
    assert_eq!(sum(last, "metronome_latency_seconds"), n("successes"));
    assert_eq!(sum(last, "metronome_service_time_seconds"), n("successes"));
    assert_eq!(
        sum(last, "metronome_dispatch_lag_seconds"),
        n("scheduled") - n("dropped")
    );
    assert!(printed.contains("serving the final figures"), "{printed}");
}

#[test]
fn a_network_address_without_a_password_is_refused_before_anything_is_sent() {
    let target = common::demo(DemoConfig::default());
    let url = format!("{}/health", target.base_url());
    let o = metronome(&[
        "run",
        "--url",
        &url,
        "--rate",
        "50",
        "--duration",
        "2s",
        "--metrics",
        "0.0.0.0:0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--web-auth USER:PASS"), "{}", text(&o));
    assert_eq!(target.stats().requests(), 0, "a request was sent");
    // The auth flags without --metrics are refused too, as is a malformed USER:PASS.
    let o = metronome(&[
        "run",
        "--url",
        &url,
        "--rate",
        "5",
        "--duration",
        "1s",
        "--web-auth",
        "a:b",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = metronome(&[
        "run",
        "--url",
        &url,
        "--rate",
        "5",
        "--duration",
        "1s",
        "--metrics",
        "0",
        "--web-auth",
        "nopass",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(target.stats().requests(), 0, "a request was sent");
}

#[test]
fn with_web_auth_every_request_needs_the_password() {
    let target = common::demo(DemoConfig::default());
    let common::Serving {
        mut child,
        mut stderr,
        addr,
        ..
    } = common::serving(
        &[
            "run",
            "--url",
            &format!("{}/health", target.base_url()),
            "--rate",
            "50",
            "--duration",
            "1s",
            "--metrics",
            "127.0.0.1:0",
            "--web-auth",
            "admin:s3cret",
            "--linger",
            "60s",
            "--quiet",
        ],
        "metrics at http://",
    );
    use base64::Engine;
    let basic = |creds: &str| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    for path in ["/metrics", "/", "/api/snapshot"] {
        for headers in [String::new(), basic("admin:wrong"), basic("admin")] {
            let (status, response) = get(addr, "GET", path, &headers);
            assert_eq!(status, 401, "{path} with {headers:?}: {response}");
            assert!(
                response.contains("WWW-Authenticate: Basic")
                    || response.contains("www-authenticate: Basic"),
                "{response}"
            );
        }
        let (status, _) = get(addr, "POST", path, "");
        assert_eq!(status, 401, "POST {path}");
    }
    let (status, response) = get(addr, "GET", "/metrics", &basic("admin:s3cret"));
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("metronome_arrivals_scheduled_total"));
    let (status, _) = get(addr, "POST", "/metrics", &basic("admin:s3cret"));
    assert_eq!(status, 405);
    // A stop signal during the run stops the run; one after it ends the linger.
    stderr.wait_for("the linger", Duration::from_secs(60), |l| {
        l.starts_with("serving the final figures")
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().code().is_some());
    let printed = stderr.rest();
    assert!(
        !printed.contains("s3cret"),
        "the password was printed: {printed}"
    );
}

#[test]
fn behind_a_reverse_proxy_the_page_lives_under_its_base_path() {
    let target = common::demo(DemoConfig::default());
    let common::Serving {
        mut child,
        mut stderr,
        addr,
        line,
    } = common::serving(
        &[
            "run",
            "--url",
            &format!("{}/health", target.base_url()),
            "--rate",
            "50",
            "--duration",
            "1s",
            "--web",
            "127.0.0.1:0",
            "--web-base-path",
            "/lt/run1/",
            "--linger",
            "60s",
            "--quiet",
        ],
        "live page at http://",
    );
    assert!(line.ends_with("/lt/run1/"), "{line}");
    let (status, page) = get(addr, "GET", "/lt/run1/", "");
    assert_eq!(status, 200);
    assert!(
        page.contains("api/snapshot") && !page.contains("\"/api/"),
        "the page's links are relative"
    );
    assert_eq!(get(addr, "GET", "/lt/run1/api/snapshot", "").0, 200);
    assert_eq!(get(addr, "GET", "/lt/run1/metrics", "").0, 200);
    let (status, moved) = get(addr, "GET", "/lt/run1", "");
    assert_eq!(status, 308);
    assert!(
        moved.to_ascii_lowercase().contains("location: /lt/run1/"),
        "{moved}"
    );
    for outside in ["/", "/api/snapshot", "/lt/run10/api/snapshot"] {
        assert_eq!(get(addr, "GET", outside, "").0, 404, "{outside}");
    }
    stderr.wait_for("the linger", Duration::from_secs(60), |l| {
        l.starts_with("serving the final figures")
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().code().is_some());
    // A base path needs the page, and must look like one.
    let url = format!("{}/health", target.base_url());
    for bad in [
        &["--web-base-path", "/x"][..],
        &["--web", "0", "--web-base-path", "x"][..],
    ] {
        let mut args = vec!["run", "--url", &url, "--rate", "5", "--duration", "1s"];
        args.extend_from_slice(bad);
        let o = metronome(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
}

#[test]
fn the_start_page_is_as_safe_as_a_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("runs");
    let root = root.to_str().unwrap();
    // Off loopback without a password: refused before it serves.
    let o = metronome(&["ui", "0.0.0.0:0", "--out-root", root]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--web-auth USER:PASS"), "{}", text(&o));
    // An --out-root it cannot write: refused before it serves.
    let o = metronome(&["ui", "127.0.0.1:0", "--out-root", "/proc/metronome-runs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--out-root"), "{}", text(&o));

    let common::Serving {
        mut child, addr, ..
    } = common::serving(
        &[
            "ui",
            "127.0.0.1:0",
            "--out-root",
            root,
            "--web-auth",
            "admin:s3cret",
        ],
        "start page at http://",
    );
    use base64::Engine;
    let basic = format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode("admin:s3cret")
    );
    for path in [
        "/",
        "/api/runs",
        "/api/plans",
        "/run/api/snapshot",
        "/runs/x/summary.json",
    ] {
        let (status, response) = get(addr, "GET", path, "");
        assert_eq!(status, 401, "{path}: {response}");
    }
    for path in ["/api/check", "/api/start"] {
        let (status, response) = get(addr, "POST", path, "");
        assert_eq!(status, 401, "POST {path}: {response}");
        // With the password, another site's page still cannot start or check a run here.
        let cross = format!("{basic}Origin: http://elsewhere.example\r\n");
        let (status, response) = get(addr, "POST", path, &cross);
        assert_eq!(status, 403, "cross-origin POST {path}: {response}");
        let (status, _) = get(addr, "GET", path, &basic);
        assert_eq!(status, 405, "GET {path}");
    }
    let (status, response) = get(addr, "GET", "/api/plans", &basic);
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("soak-24h.toml"), "{response}");
    // Only the files a run writes are served from its folder, never a path out of it.
    for path in [
        "/runs/../Cargo.toml",
        "/runs/x/../../etc/passwd",
        "/runs/x/plan.toml",
    ] {
        let (status, _) = get(addr, "GET", path, &basic);
        assert_eq!(status, 404, "{path}");
    }
    assert!(
        std::fs::read_dir(root).unwrap().next().is_none(),
        "nothing was started"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
