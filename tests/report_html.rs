//! The HTML report: one self-contained document, every section present, every chart valid SVG,
//! every string from the data escaped, a baseline shown beside each figure, and a day-long run
//! still small. The realistic fixture comes from a real run of the binary (its summary), with a
//! timeline and spectra synthesized around it; it is written to target/report-fixture.html.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use metronome::report::data::{Bucket, NamePercentiles, Quantiles, ReportData, SpectrumPoint};
use metronome::report::html::render;
use metronome::summary::{Criterion, Summary, Verdict};

const SECTION_IDS: [&str; 9] = [
    "verdict",
    "rate",
    "latency-over-time",
    "spectrum",
    "endpoints",
    "stages",
    "errors",
    "engine",
    "plan",
];

/// Rng is a small deterministic generator, so fixtures are the same on every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (a, b) = (self.unit(), self.unit());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }

    /// around is `v` times a factor in [1 − spread, 1 + spread].
    fn around(&mut self, v: f64, spread: f64) -> f64 {
        v * (1.0 + spread * (2.0 * self.unit() - 1.0))
    }
}

/// real_run runs the shipped progression plan, compressed, against the in-process demo target,
/// once per test process, and returns its summary and the plan as `check` describes it.
fn real_run() -> &'static (Summary, String) {
    static RUN: OnceLock<(Summary, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let bin = env!("CARGO_BIN_EXE_metronome");
        let json =
            std::env::temp_dir().join(format!("metronome-report-html-{}.json", std::process::id()));
        let out = Command::new(bin)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "plans/progression.toml", "--time-scale", "0.002"])
            .args(["--quiet", "--json"])
            .arg(&json)
            .output()
            .expect("metronome runs");
        let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
            panic!(
                "no JSON summary ({e}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let _ = std::fs::remove_file(&json);
        let mut summary: Summary = serde_json::from_str(&text).expect("summary parses");
        // A busy machine may make the engine late enough to mark the run not valid, which it
        // then rightly says; these tests are about the report, so they need every other
        // criterion to pass, and the run's exit code to be the summary's.
        assert_eq!(
            out.status.code(),
            Some(summary.exit_code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            common::summary_verdict_code(&summary),
            0,
            "run failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // The fixtures below start from a passed run; an engine made late by a busy machine is
        // the only failure allowed above, and it is made a warning here, where only the
        // report's rendering is tested (tests/lateness.rs tests the verdict itself).
        for c in summary.criteria.iter_mut() {
            if c.name == "schedule kept" && c.verdict == Verdict::Failed {
                c.verdict = Verdict::Warned;
            }
        }
        summary.adopt([]);
        let check = Command::new(bin)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["check", "plans/progression.toml"])
            .output()
            .expect("metronome check runs");
        (summary, String::from_utf8_lossy(&check.stdout).into_owned())
    })
}

/// target_between is the schedule's mean rate over [t0, t1), from the summary's stages.
fn target_between(s: &Summary, t0: f64, t1: f64) -> f64 {
    let mut arrivals = 0.0;
    for st in &s.by_stage {
        let (a, b) = (t0.max(st.start_s), t1.min(st.start_s + st.duration_s));
        if b <= a || st.duration_s <= 0.0 {
            continue;
        }
        let rate =
            |t: f64| st.from_rate + (st.to_rate - st.from_rate) * (t - st.start_s) / st.duration_s;
        arrivals += (b - a) * (rate(a) + rate(b)) / 2.0;
    }
    arrivals / (t1 - t0)
}

fn q(rng: &mut Rng, p50: f64, spread: f64) -> Quantiles {
    let p50 = rng.around(p50, spread);
    let p95 = p50 * (2.0 + rng.unit());
    let p99 = p95 * (1.3 + 0.4 * rng.unit());
    let max = p99 * (1.1 + rng.unit());
    Quantiles {
        p50: Some(p50 as u64),
        p95: Some(p95 as u64),
        p99: Some(p99 as u64),
        max: Some(max as u64),
    }
}

/// buckets synthesizes a timeline over `edges` (bucket boundaries in seconds) that follows the
/// summary's schedule and figures; with `errors`, the second half returns some 5xx and timeouts.
fn buckets(s: &Summary, edges: &[f64], errors: bool, seed: u64) -> Vec<Bucket> {
    let mut rng = Rng(seed);
    let p50 = s.latency_us.p50.unwrap_or(1_500) as f64;
    let svc = s.service_time_us.p50.unwrap_or(400) as f64;
    let lag = s.dispatch_lag_us.p50.unwrap_or(800) as f64;
    let end = edges.last().copied().unwrap_or(1.0);
    edges
        .windows(2)
        .map(|w| {
            let (start_s, end_s) = (w[0], w[1]);
            let len = end_s - start_s;
            let target_rate = target_between(s, start_s, end_s);
            let achieved_rate = rng.around(target_rate, 0.08).max(0.0);
            let issued = (achieved_rate * len).round() as u64;
            let late = start_s > end / 2.0;
            let mut error_kinds = std::collections::BTreeMap::new();
            if errors && late {
                let five = (issued as f64 * 0.03 * rng.unit()).round() as u64;
                let timeouts = (issued as f64 * 0.01 * rng.unit()).round() as u64;
                if five > 0 {
                    error_kinds.insert("http_5xx".to_string(), five);
                }
                if timeouts > 0 {
                    error_kinds.insert("request_timeout".to_string(), timeouts);
                }
            }
            let errors: u64 = error_kinds.values().sum();
            let successes = issued.saturating_sub(errors);
            let slow = if errors > 0 { 3.0 } else { 1.0 };
            let latency = if successes == 0 {
                Quantiles::default()
            } else {
                q(&mut rng, p50 * slow, 0.2)
            };
            let service_time = if successes == 0 {
                Quantiles::default()
            } else {
                q(&mut rng, svc * slow, 0.2)
            };
            let dispatch_lag = if issued == 0 {
                Quantiles::default()
            } else {
                q(&mut rng, lag, 0.3)
            };
            Bucket {
                start_s,
                end_s,
                target_rate,
                achieved_rate,
                successes,
                errors,
                error_kinds,
                dropped: 0,
                in_flight: (achieved_rate * p50 * slow / 1e6 * 20.0 * rng.unit()).round() as u64,
                latency,
                service_time,
                dispatch_lag,
            }
        })
        .collect()
}

/// spectra fills histograms with service times and latencies (service time plus a wait) of the
/// run's order of magnitude and reads their percentile spectra.
fn spectra(
    s: &Summary,
    n: usize,
    slow: f64,
    seed: u64,
) -> (Vec<SpectrumPoint>, Vec<SpectrumPoint>) {
    let mut rng = Rng(seed);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut service = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let svc = s.service_time_us.p50.unwrap_or(400) as f64 * slow;
    let wait = (s.latency_us.p50.unwrap_or(1_500) as f64 - svc / slow).max(100.0);
    // The stall's size: what the run's own tail shows beyond its median.
    let stall = (s.latency_us.max.unwrap_or(10_000) as f64
        - s.latency_us.p50.unwrap_or(1_500) as f64)
        .max(1_000.0)
        * slow;
    for i in 0..n {
        let mut st = svc * (0.5 * rng.normal()).exp();
        if i % 97 == 0 {
            st *= 8.0 * rng.unit() + 2.0;
        }
        let mut w = wait * (0.4 * rng.normal()).exp();
        // A short stall: arrivals pile up behind it, which only latency shows.
        if i % 1000 < 8 {
            w += stall * (8 - i % 1000) as f64 / 8.0;
        }
        service.record(st.max(1.0) as u64).unwrap();
        latency.record((st + w).max(1.0) as u64).unwrap();
    }
    let read = |h: &Histogram<u64>| {
        h.iter_quantiles(2)
            .map(|v| SpectrumPoint {
                percentile: v.quantile_iterated_to() * 100.0,
                value_us: v.value_iterated_to(),
            })
            .collect()
    };
    (read(&latency), read(&service))
}

fn name_percentiles(s: &Summary) -> Vec<NamePercentiles> {
    s.by_name
        .iter()
        .map(|n| NamePercentiles {
            scenario: n.scenario.clone(),
            name: n.name.clone(),
            percentiles: [50.0, 90.0, 95.0, 99.0, 99.9, 100.0]
                .iter()
                .zip([
                    n.latency_us.p50,
                    n.latency_us.p90,
                    n.latency_us.p95,
                    n.latency_us.p99,
                    n.latency_us.p99_9,
                    n.latency_us.max,
                ])
                .map(|(&p, v)| (p, v.unwrap_or(0)))
                .collect(),
            min_us: n.latency_us.p50.unwrap_or(0) / 2,
        })
        .collect()
}

/// realistic is the real run's summary with a timeline of one bucket per second of its elapsed
/// time, and spectra of its order of magnitude.
fn realistic() -> ReportData {
    let (summary, plan_text) = real_run().clone();
    let whole = summary.elapsed_s.ceil().max(1.0) as usize;
    let mut edges: Vec<f64> = (0..=whole).map(|i| i as f64).collect();
    if let Some(last) = edges.last_mut() {
        *last = summary.elapsed_s.max(whole as f64 - 1.0 + 0.1);
    }
    let (latency_spectrum, service_spectrum) = spectra(&summary, 20_000, 1.0, 7);
    ReportData {
        watch_samples: Vec::new(),
        buckets: buckets(&summary, &edges, false, 11),
        latency_spectrum,
        service_spectrum,
        name_percentiles: name_percentiles(&summary),
        plan_text,
        summary,
    }
}

/// regressed is the realistic run made worse, as a later build might: slower, with errors on
/// one endpoint, a warned SLA and a failed error-rate criterion.
fn regressed() -> ReportData {
    let mut d = realistic();
    let s = &mut d.summary;
    let slower = |p: &mut metronome::summary::Percentiles, f: f64| {
        for v in [
            &mut p.p50,
            &mut p.p90,
            &mut p.p95,
            &mut p.p99,
            &mut p.p99_9,
            &mut p.p99_99,
            &mut p.max,
        ] {
            *v = v.map(|v| (v as f64 * f) as u64);
        }
        p.mean = p.mean.map(|m| m * f);
    };
    slower(&mut s.latency_us, 1.6);
    slower(&mut s.service_time_us, 1.4);
    for n in &mut s.by_name {
        slower(
            &mut n.latency_us,
            if n.name == "deliverables" { 2.5 } else { 1.3 },
        );
        slower(&mut n.service_time_us, 1.3);
    }
    if let Some(n) = s.by_name.iter_mut().find(|n| n.name == "deliverables") {
        n.errors = 2;
        n.error_kinds.insert("http_5xx".into(), 2);
        n.error_latency_us.p50 = Some(12_000);
        n.error_latency_us.p99 = Some(30_000);
        n.error_latency_us.count = 2;
        n.sla_verdict = Some(Verdict::Warned);
    }
    s.errors = 2;
    s.error_kinds.insert("http_5xx".into(), 2);
    s.successes -= 2;
    s.completed_rate *= 0.97;
    s.passed = false;
    s.exit_code = 1;
    s.criteria.push(Criterion {
        name: "journey/peak-100/deliverables: p95 ≤ 500.0ms (read_heavy)".into(),
        verdict: Verdict::Warned,
        detail: "p95 612.0ms over 5 successful responses; warn above 500.0ms, fail above 750.0ms"
            .into(),
        validity: false,
        scenario: Some("journey".into()),
        stage: Some("peak-100".into()),
        request: Some("deliverables".into()),
        rule: None,
    });
    s.criteria.push(Criterion {
        name: "journey/normal-50: error rate".into(),
        verdict: Verdict::Failed,
        detail: "6.25% errors (2 of 32); warn above 1.00%, fail above 5.00%".into(),
        validity: false,
        scenario: Some("journey".into()),
        stage: Some("normal-50".into()),
        request: None,
        rule: None,
    });
    if let Some(st) = s
        .by_stage
        .iter_mut()
        .find(|st| st.scenario == "journey" && st.name == "normal-50")
    {
        st.errors = 2;
        st.error_rate = 2.0 / st.requests.max(1) as f64;
    }
    let whole = s.elapsed_s.ceil().max(1.0) as usize;
    let mut edges: Vec<f64> = (0..=whole).map(|i| i as f64).collect();
    if let Some(last) = edges.last_mut() {
        *last = s.elapsed_s.max(whole as f64 - 1.0 + 0.1);
    }
    d.buckets = buckets(&d.summary, &edges, true, 12);
    let (l, sv) = spectra(&d.summary, 20_000, 1.4, 8);
    d.latency_spectrum = l;
    d.service_spectrum = sv;
    d
}

/// day is a 24 h run downsampled to 1,000 buckets, with errors of two kinds.
fn day() -> ReportData {
    let mut d = realistic();
    let s = &mut d.summary;
    let scale = 86_400.0 / s.duration_s;
    for st in &mut s.by_stage {
        st.start_s *= scale;
        st.duration_s *= scale;
    }
    s.duration_s = 86_400.0;
    s.elapsed_s = 86_401.0;
    let edges: Vec<f64> = (0..=1000).map(|i| i as f64 * 86.4).collect();
    d.buckets = buckets(&d.summary, &edges, true, 13);
    d
}

fn write_fixture(name: &str, html: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).expect("target directory");
    std::fs::write(dir.join(name), html).expect("fixture written");
}

/// svgs returns every inline SVG of a document.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").expect("every <svg> is closed") + i + "</svg>".len();
        out.push(&rest[i..end]);
        rest = &rest[end..];
    }
    out
}

/// assert_well_formed checks what every rendered document must be: all sections, the title,
/// nothing fetched from the network, every chart valid XML with a viewBox.
fn assert_well_formed(html: &str, plan: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(&format!("<title>metronome report — {plan}</title>")),
        "title"
    );
    for id in SECTION_IDS {
        let open = format!("<section id=\"{id}\">");
        assert_eq!(html.matches(&open).count(), 1, "section {id}");
        let at = html.find(&open).unwrap();
        assert!(
            html[at..].starts_with(&format!("{open}\n<h2>")),
            "{id} has an <h2>"
        );
    }
    for banned in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<link",
        "<script src",
        "src='http",
        "href='http",
    ] {
        assert!(!html.contains(banned), "document contains {banned}");
    }
    for svg in svgs(html) {
        let doc = roxmltree::Document::parse(svg)
            .unwrap_or_else(|e| panic!("SVG does not parse: {e}\n{}", &svg[..svg.len().min(400)]));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert!(root.attribute("viewBox").is_some(), "viewBox");
        for node in doc.descendants() {
            for a in node.attributes() {
                assert!(
                    !a.value().contains("http://") && !a.value().contains("https://"),
                    "URL in an SVG attribute: {}",
                    a.value()
                );
            }
        }
    }
}

#[test]
fn realistic_report_has_every_section_and_is_self_contained() {
    let data = realistic();
    let html = render(&data, None);
    write_fixture("report-fixture.html", &html);
    assert_well_formed(&html, &data.summary.plan);
    assert!(!html.contains("<script"), "no JavaScript");
    // Rate, latency over time, spectrum, dispatch lag, in flight: no errors, so no error chart.
    assert_eq!(svgs(&html).len(), 5);
    assert!(html.contains("✓ PASSED"), "the real run passed");
    // Every endpoint and stage has its row; SLA class targets come from the criteria.
    for n in &data.summary.by_name {
        assert!(html.contains(&format!("<b>{}/<wbr>{}</b>", n.scenario, n.name)));
    }
    for st in &data.summary.by_stage {
        assert!(html.contains(&format!("<b>{}/<wbr>{}</b>", st.scenario, st.name)));
    }
    assert!(html.contains("read_medium<small>p95 ≤ 400.0ms</small>"));
    assert!(html.contains("<pre>plans/progression.toml: ok"));
    assert!(html.contains("No errors over the run"));
    assert!(html.contains("generator's own lateness"));
}

#[test]
fn strings_from_the_data_are_escaped() {
    let mut data = realistic();
    data.summary.plan = "p&q <i>".into();
    data.summary.by_name[0].name = "<script>alert(1)</script>".into();
    data.summary.by_name[0].path = "/x?a=1&b=\"2\"".into();
    data.summary.by_stage[0].name = "<b>ramp</b>".into();
    data.summary.criteria[0].detail = "1 < 2 & 3 > 2".into();
    data.plan_text = "plan <script>x</script> & more".into();
    if let Some(b) = data.buckets.first_mut() {
        b.error_kinds.insert("<kind>".into(), 1);
    }
    let html = render(&data, None);
    assert_well_formed(&html, "p&amp;q &lt;i&gt;");
    assert!(!html.contains("<script"), "no script tag leaks through");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("/x?a=1&amp;b=&quot;2&quot;"));
    assert!(html.contains("&lt;b&gt;ramp&lt;/b&gt;"));
    assert!(html.contains("1 &lt; 2 &amp; 3 &gt; 2"));
    assert!(html.contains("<pre>plan &lt;script&gt;x&lt;/script&gt; &amp; more</pre>"));
    assert!(!html.contains("<b>ramp</b>"));
}

#[test]
fn baseline_shows_both_values_and_the_change() {
    let base = realistic();
    let mut now = regressed();
    now.summary.latency_us.p99 = Some(10_000);
    let mut base = base;
    base.summary.latency_us.p99 = Some(8_000);
    let i = now
        .summary
        .by_name
        .iter()
        .position(|n| n.name == "list_agents")
        .unwrap();
    now.summary.by_name[i].latency_us.p50 = Some(3_000);
    let j = base
        .summary
        .by_name
        .iter()
        .position(|n| n.scenario == now.summary.by_name[i].scenario && n.name == "list_agents")
        .unwrap();
    base.summary.by_name[j].latency_us.p50 = Some(2_000);
    let html = render(&now, Some(&base));
    write_fixture("report-fixture-baseline.html", &html);
    assert_well_formed(&html, &now.summary.plan);
    // Headline: latency p99 10.0ms now, 8.00ms before: +2.00ms, +25.0%, worse.
    assert!(html.contains("10.0ms<span class=\"base\">baseline\u{a0}8.00ms</span>"));
    assert!(html.contains("▲\u{a0}+2.00ms (+25.0%) worse"));
    // Per endpoint: p50 3.00ms beside 2.00ms, +1.00ms (+50.0%).
    assert!(html.contains("3.00ms<span class=\"base\">base\u{a0}2.00ms</span><span class=\"chg worse\">▲\u{a0}+1.00ms (+50.0%)</span>"));
    // The verdicts of both runs, the baseline latency in the spectrum.
    assert!(html.contains("✗ FAILED"));
    assert!(html.contains("baseline: <b>✓ PASSED</b>"));
    assert!(html.contains("baseline latency"));
    // Errors by kind, with the baseline's count (none).
    assert!(html.contains("http_5xx"));
    assert_eq!(svgs(&html).len(), 6, "the error chart appears");
}

#[test]
fn a_day_of_buckets_stays_under_a_megabyte() {
    let data = day();
    let base = realistic();
    let html = render(&data, Some(&base));
    write_fixture("report-fixture-24h.html", &html);
    assert_well_formed(&html, &data.summary.plan);
    assert!(
        html.len() < 1_000_000,
        "{} bytes for 1,000 buckets",
        html.len()
    );
    // One path per series, not one element per point.
    for svg in svgs(&html) {
        let doc = roxmltree::Document::parse(svg).unwrap();
        let paths = doc.descendants().filter(|n| n.has_tag_name("path")).count();
        assert!(paths <= 8, "{paths} paths in one chart");
    }
    assert!(html.contains("time since the start of the schedule (h)"));
}

#[test]
fn sparse_and_empty_data_render_notes_not_broken_charts() {
    // No timeline and no spectra at all.
    let mut empty = realistic();
    empty.buckets.clear();
    empty.latency_spectrum.clear();
    empty.service_spectrum.clear();
    let html = render(&empty, None);
    assert_well_formed(&html, &empty.summary.plan);
    assert!(svgs(&html).is_empty());
    assert!(html.matches("class=\"nodata\"").count() >= 4);

    // One bucket, with gaps: no successes (no latency), lag only.
    let mut one = realistic();
    one.buckets.truncate(1);
    one.buckets[0].latency = Quantiles::default();
    one.buckets[0].service_time = Quantiles::default();
    let html = render(&one, None);
    assert_well_formed(&html, &one.summary.plan);
    assert!(html.contains("no successful response was recorded"));

    // Gaps in the middle of the timeline, zero values on a log axis.
    let mut gaps = realistic();
    for (i, b) in gaps.buckets.iter_mut().enumerate() {
        if i % 2 == 1 {
            b.latency = Quantiles::default();
            b.dispatch_lag.p99 = Some(0);
        }
    }
    let html = render(&gaps, None);
    assert_well_formed(&html, &gaps.summary.plan);
    for svg in svgs(&html) {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    // A run that was not valid.
    let mut invalid = realistic();
    invalid.summary.valid = false;
    invalid.summary.exit_code = 3;
    invalid.summary.criteria[0].verdict = Verdict::Failed;
    let html = render(&invalid, None);
    assert!(html.contains("⚠ NOT VALID"));
    assert!(html.contains("(makes the run not valid)"));

    // A few late arrivals: the percentiles they could make are named, and the engine section
    // shows the verdict the run was judged with, in its own words.
    let mut late = realistic();
    late.summary.lateness.late = 2;
    late.summary.lateness.max_lag_us = 12_500;
    late.summary.lateness.percentiles_touched = vec!["p99_9".into(), "max".into()];
    late.summary.criteria[0].verdict = Verdict::Warned;
    late.summary.criteria[0].detail = "2 of 400 late, as judged when it ran".into();
    let html = render(&late, None);
    assert_well_formed(&html, &late.summary.plan);
    assert!(
        html.contains("2 arrivals were dispatched late</b> (more than 10.0ms, the latest by 12.5ms): latency from p99.9 up"),
        "no lateness note"
    );
    assert!(html.contains("2 of 400 late, as judged when it ran"));
}
