//! HTML report: one self-contained document for a run, rendered from a [`ReportData`] (and,
//! optionally, a baseline run's, so two builds can be compared figure by figure).
//!
//! This module owns the document's layout, its inline CSS and its charts, which it draws itself
//! as inline SVG (no script, no font, no stylesheet or image is fetched: the file opens offline
//! and prints in black and white, every colour doubled by a word, a symbol or a dash pattern).
//! It does not compute any figure: percentiles, rates and verdicts come from the summary and the
//! timeline as they are, and it neither reads nor writes files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::report::chart::{
    Axis, Chart, Series, count_axis, esc, has_points, linear_axis, log_axis, put, time_axis,
    y_extent,
};
use crate::report::data::{Bucket, Quantiles, ReportData, SpectrumPoint};
use crate::summary::{ByName, ByStage, Criterion, Percentiles, Summary, Verdict};
use crate::units::{format_duration, format_us};

/// render returns one self-contained HTML document for a run; with a baseline, every headline
/// figure and per-endpoint figure stands beside the baseline's with the change (absolute and %),
/// so a regression between two builds shows at a glance.
pub fn render(data: &ReportData, baseline: Option<&ReportData>) -> String {
    let s = &data.summary;
    let mut out = String::with_capacity(96 * 1024);
    put!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"metronome {}\">\n\
         <title>metronome report — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&s.metronome_version),
        esc(&s.plan)
    );
    header(&mut out, data, baseline);
    verdict_section(&mut out, data, baseline);
    rate_section(&mut out, data);
    latency_section(&mut out, data);
    spectrum_section(&mut out, data, baseline);
    endpoints_section(&mut out, data, baseline);
    stages_section(&mut out, data, baseline);
    errors_section(&mut out, data, baseline);
    engine_section(&mut out, data, baseline);
    plan_section(&mut out, data);
    put!(
        out,
        "<footer>metronome {} · schema {} · latency counts from each arrival's intended time \
         (corrected for coordinated omission)</footer>\n</main>\n</body>\n</html>\n",
        esc(&s.metronome_version),
        esc(&s.schema)
    );
    out
}

const CSS: &str = r#"
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:12px 24px 40px}
h1{font-size:22px;margin:10px 0 2px}
h2{font-size:18px;margin:4px 0 10px}
h3{font-size:15px;margin:16px 0 6px}
p{margin:6px 0}
.meta{color:var(--muted);margin:2px 0}
nav{margin:10px 0 4px;font-size:13px}
nav a{margin-right:12px;color:#0550ae;text-decoration:none}
section{border-top:1px solid var(--line);margin-top:22px;padding-top:10px}
.note{color:var(--muted);font-size:13px}
.nodata{border:1px dashed var(--line);color:var(--muted);padding:22px;text-align:center;margin:8px 0}
.badge{display:inline-block;font-size:26px;font-weight:800;letter-spacing:.04em;padding:4px 16px;border:3px solid;border-radius:6px;margin:4px 14px 4px 0}
.badge.pass{color:var(--pass);background:#dafbe1}
.badge.fail{color:var(--fail);background:#ffebe9}
.badge.invalid{color:#fff;background:var(--fail);border-color:#82071e}
.facts{display:inline-block;vertical-align:middle}
.facts span{margin-right:14px}
ul.why{list-style:none;padding:0;margin:6px 0}
ul.why li{padding:3px 0 3px 8px;border-left:4px solid var(--line);margin:3px 0}
ul.why li.fail{border-left-color:var(--fail)}
ul.why li.warn{border-left-color:var(--warn);border-left-style:dashed}
.v{font-weight:700;white-space:nowrap}
.v.pass{color:var(--pass)}
.v.warn{color:var(--warn)}
.v.fail{color:var(--fail)}
.v.none{color:var(--muted);font-weight:400}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(178px,1fr));gap:8px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:7px 10px}
.card .label{color:var(--muted);font-size:12px}
.card .value{font-size:20px;font-weight:700;font-variant-numeric:tabular-nums}
.card .sub{font-size:12px;color:var(--muted)}
.base,.chg{display:block;font-size:11px;color:var(--muted);font-weight:400;white-space:normal}
.chg.worse{color:var(--fail);font-weight:700}
.chg.better{color:var(--pass)}
.card .base,.card .chg{font-size:12px}
.scroll{overflow-x:auto}
table.narrow{width:auto;min-width:60%}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:4px 5px;border-bottom:1px solid #e5e9ee;text-align:right;vertical-align:top;white-space:nowrap}
th{background:var(--soft);font-weight:600;border-bottom:1px solid var(--line)}
th.l,td.l{text-align:left}
td.l{white-space:normal;min-width:9em}
td small,th small,td .path{display:block;color:var(--muted);font-size:11px;white-space:normal;word-break:break-all}
tr.total td{font-weight:600;border-top:2px solid var(--line)}
table.crit td.detail{white-space:normal;text-align:left}
details summary{cursor:pointer;color:#0550ae;margin:8px 0}
figure{margin:8px 0 4px}
figcaption{color:var(--muted);font-size:12px}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font-family:inherit}
pre{background:var(--soft);border:1px solid var(--line);padding:10px 12px;overflow-x:auto;font-size:12px;line-height:1.35}
footer{margin-top:28px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@media print{nav{display:none}main{max-width:none;padding:0}section{break-inside:avoid-page}figure,table{break-inside:avoid}.scroll{overflow:visible}}
"#;

// ---------------------------------------------------------------------------------------------
// Text helpers

fn us_text(v: Option<u64>) -> String {
    v.map(format_us).unwrap_or_else(|| "—".into())
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn secs_text(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}s")
    } else {
        format_duration(Duration::from_secs_f64(s.max(0.0)))
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "pass",
        Verdict::Warned => "warn",
        Verdict::Failed => "fail",
    }
}

/// verdict_tag is a verdict readable without colour: a symbol and a word.
fn verdict_tag(v: Option<Verdict>) -> String {
    match v {
        Some(Verdict::Passed) => "<span class=\"v pass\">✓ PASS</span>".into(),
        Some(Verdict::Warned) => "<span class=\"v warn\">! WARN</span>".into(),
        Some(Verdict::Failed) => "<span class=\"v fail\">✗ FAIL</span>".into(),
        None => "<span class=\"v none\">– not judged</span>".into(),
    }
}

fn error_rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Figures beside their baseline

/// Kind says how a figure is written.
#[derive(Clone, Copy)]
enum Kind {
    /// Microseconds, written with a fitting unit.
    Us,
    Count,
    /// Per second.
    Rate,
    /// A fraction 0..1, written as a percentage.
    Share,
}

/// Better says which way a figure improves; a change the other way is a regression.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Lower,
    Higher,
    Neither,
}

/// NOISE is the relative change under which a difference is not called better or worse.
const NOISE: f64 = 0.05;

fn value_text(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Us => format_us(v.max(0.0).round() as u64),
        Kind::Count => format!("{}", v.round() as i64),
        Kind::Rate => format!("{v:.1}/s"),
        Kind::Share => pct(v),
    }
}

fn delta_text(kind: Kind, d: f64) -> String {
    let sign = if d < 0.0 { "−" } else { "+" };
    let a = d.abs();
    match kind {
        Kind::Us => format!("{sign}{}", format_us(a.round() as u64)),
        Kind::Count => format!("{sign}{}", a.round() as u64),
        Kind::Rate => format!("{sign}{a:.1}/s"),
        Kind::Share => format!("{sign}{:.2} pp", a * 100.0),
    }
}

/// Change is a figure's difference from its baseline, judged.
struct Change {
    text: String,
    class: &'static str,
    word: &'static str,
}

fn change(kind: Kind, better: Better, now: f64, base: f64) -> Change {
    let d = now - base;
    if d == 0.0 || value_text(kind, now) == value_text(kind, base) {
        return Change {
            text: "±0".into(),
            class: "same",
            word: "",
        };
    }
    let rel = if base != 0.0 {
        d / base.abs()
    } else {
        f64::INFINITY * d.signum()
    };
    let arrow = if d > 0.0 { "▲" } else { "▼" };
    let rel_text = if rel.is_finite() {
        let sign = if rel < 0.0 { "−" } else { "+" };
        format!("{sign}{:.1}%", rel.abs() * 100.0)
    } else {
        "from\u{a0}0".into()
    };
    let (class, word) = if rel.abs() < NOISE || better == Better::Neither {
        ("same", "")
    } else if (d > 0.0) == (better == Better::Higher) {
        ("better", "better")
    } else {
        ("worse", "worse")
    };
    Change {
        text: format!("{arrow}\u{a0}{} ({rel_text})", delta_text(kind, d)),
        class,
        word,
    }
}

/// Fig is one figure of this run, with the baseline's when there is a baseline
/// (`base: Some(None)` when the baseline lacks it).
struct Fig {
    kind: Kind,
    better: Better,
    now: Option<f64>,
    base: Option<Option<f64>>,
    /// Latency percentiles are lower bounds when arrivals were dropped.
    at_least: bool,
    base_at_least: bool,
}

impl Fig {
    fn new(kind: Kind, better: Better, now: Option<f64>, base: Option<Option<f64>>) -> Fig {
        Fig {
            kind,
            better,
            now,
            base,
            at_least: false,
            base_at_least: false,
        }
    }

    fn bounds(mut self, now: bool, base: bool) -> Fig {
        self.at_least = now;
        self.base_at_least = base;
        self
    }

    fn text(&self, v: Option<f64>, at_least: bool) -> String {
        match v {
            Some(v) => format!(
                "{}{}",
                if at_least { "≥ " } else { "" },
                value_text(self.kind, v)
            ),
            None => "—".into(),
        }
    }

    /// html is the figure, then (with a baseline) the baseline's and the change, one per line;
    /// `words` spells the baseline out and adds "better"/"worse" to the change (for the
    /// headline cards; table cells stay narrow).
    fn html(&self, words: bool) -> String {
        let mut h = esc(&self.text(self.now, self.at_least));
        let Some(base) = self.base else {
            return h;
        };
        put!(
            h,
            "<span class=\"base\">{}\u{a0}{}</span>",
            if words { "baseline" } else { "base" },
            esc(&self.text(base, self.base_at_least))
        );
        match (self.now, base) {
            (Some(n), Some(b)) => {
                let c = change(self.kind, self.better, n, b);
                let word = if words && !c.word.is_empty() {
                    format!(" {}", c.word)
                } else {
                    String::new()
                };
                put!(
                    h,
                    "<span class=\"chg {}\">{}{word}</span>",
                    c.class,
                    esc(&c.text)
                );
            }
            (Some(_), None) => {
                h.push_str("<span class=\"chg\">new</span>");
            }
            (None, Some(_)) => {
                h.push_str("<span class=\"chg\">gone</span>");
            }
            (None, None) => {}
        }
        h
    }

    fn td(&self) -> String {
        format!("<td>{}</td>", self.html(false))
    }
}

fn opt_us(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// bfig reads a figure from the baseline, when there is one.
fn bfig<T>(b: Option<&T>, f: impl Fn(&T) -> Option<f64>) -> Option<Option<f64>> {
    b.map(f)
}

// ---------------------------------------------------------------------------------------------
// Header and verdict

fn header(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    put!(
        out,
        "<header>\n<h1>metronome report — {}</h1>\n",
        esc(&s.plan)
    );
    put!(
        out,
        "<p class=\"meta\">target {} · started {} · schedule {} · elapsed {} (with the drain) · seed {} · {} thread{} · {} connections</p>\n",
        esc(&s.target),
        esc(&s.started_at),
        esc(&secs_text(s.duration_s)),
        esc(&secs_text(s.elapsed_s)),
        s.seed,
        s.threads,
        if s.threads == 1 { "" } else { "s" },
        s.connections
    );
    if let Some(b) = baseline {
        let b = &b.summary;
        put!(
            out,
            "<p class=\"meta\"><b>Compared with a baseline run:</b> plan {} · target {} · started {} · metronome {} · verdict {}. \
             Under each figure: the baseline's value and the change (▲ up, ▼ down; <b>bold</b> when more than {:.0}% worse).</p>\n",
            esc(&b.plan),
            esc(&b.target),
            esc(&b.started_at),
            esc(&b.metronome_version),
            verdict_word(b).0,
            NOISE * 100.0
        );
    }
    out.push_str("<nav>");
    for (id, title) in SECTIONS {
        put!(out, "<a href=\"#{id}\">{title}</a>");
    }
    out.push_str("</nav>\n</header>\n");
}

const SECTIONS: [(&str, &str); 9] = [
    ("verdict", "Verdict"),
    ("rate", "Rate"),
    ("latency-over-time", "Latency over time"),
    ("spectrum", "Percentile spectrum"),
    ("endpoints", "Endpoints"),
    ("stages", "Stages"),
    ("errors", "Errors"),
    ("engine", "Engine"),
    ("plan", "Plan"),
];

fn open_section(out: &mut String, id: &str) {
    let title = SECTIONS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, t)| t);
    put!(out, "<section id=\"{id}\">\n<h2>{title}</h2>\n");
}

/// verdict_word is the run's outcome: (word, css class, symbol).
fn verdict_word(s: &Summary) -> (&'static str, &'static str, &'static str) {
    if s.exit_code == 3 || !s.valid {
        ("NOT VALID", "invalid", "⚠")
    } else if s.exit_code == 1 || !s.passed {
        ("FAILED", "fail", "✗")
    } else {
        ("PASSED", "pass", "✓")
    }
}

fn criterion_li(out: &mut String, c: &Criterion) {
    put!(
        out,
        "<li class=\"{}\">{} <b>{}</b>{}: {}</li>\n",
        verdict_class(c.verdict),
        verdict_tag(Some(c.verdict)),
        esc(&c.name),
        if c.validity && c.verdict == Verdict::Failed {
            " (makes the run not valid)"
        } else {
            ""
        },
        esc(&c.detail)
    );
}

fn verdict_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "verdict");
    let (word, class, sym) = verdict_word(s);
    put!(
        out,
        "<div><span class=\"badge {class}\">{sym} {word}</span><span class=\"facts\"><span>valid: <b>{}</b></span><span>partial: <b>{}</b></span><span>exit code <b>{}</b></span>",
        if s.valid { "yes" } else { "no" },
        if s.partial {
            "yes — interrupted"
        } else {
            "no"
        },
        s.exit_code
    );
    if let Some(b) = b {
        let (bw, _, bs) = verdict_word(b);
        put!(out, "<span>baseline: <b>{bs} {bw}</b></span>");
    }
    out.push_str("</span></div>\n");

    let failed: Vec<&Criterion> = s
        .criteria
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .collect();
    let warned: Vec<&Criterion> = s
        .criteria
        .iter()
        .filter(|c| c.verdict == Verdict::Warned)
        .collect();
    out.push_str("<h3>Why</h3>\n");
    if !s.valid {
        out.push_str("<p>The run is <b>not valid</b>: its figures cannot be trusted to describe the target (a validity criterion failed below).</p>\n");
    }
    if s.partial {
        out.push_str(
            "<p>The run was <b>interrupted</b>: results are partial, covering only the schedule up to the interruption.</p>\n",
        );
    }
    if failed.is_empty() && warned.is_empty() {
        put!(out, "<p>All {} criteria passed.</p>\n", s.criteria.len());
    } else {
        out.push_str("<ul class=\"why\">\n");
        // Validity failures first: they decide whether anything else means something.
        for c in failed.iter().filter(|c| c.validity) {
            criterion_li(out, c);
        }
        for c in failed.iter().filter(|c| !c.validity) {
            criterion_li(out, c);
        }
        for c in &warned {
            criterion_li(out, c);
        }
        out.push_str("</ul>\n");
        put!(
            out,
            "<p class=\"note\">{} failed, {} warned, {} passed of {} criteria. A warning is shown and recorded, but does not fail the run.</p>\n",
            failed.len(),
            warned.len(),
            s.criteria.len() - failed.len() - warned.len(),
            s.criteria.len()
        );
    }
    if s.percentiles_are_lower_bounds {
        put!(
            out,
            "<p><b>! {} arrivals were dropped</b> and have no latency: every latency percentile is a lower bound (marked ≥).</p>\n",
            s.dropped
        );
    }
    if let Some(first) = s.lateness.percentiles_touched.first() {
        put!(
            out,
            "<p><b>! {} arrivals were dispatched late</b> (more than {}, the latest by {}): latency from {} up may be the engine's own lateness rather than the target's.</p>\n",
            s.lateness.late,
            format_us(s.on_time_bound_us),
            format_us(s.lateness.max_lag_us),
            esc(&first.replace('_', "."))
        );
    }

    out.push_str("<h3>Headline figures</h3>\n<div class=\"cards\">\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    let cards: Vec<(&str, Fig, String)> = vec![
        (
            "target rate",
            Fig::new(
                Kind::Rate,
                Better::Neither,
                Some(s.target_rate),
                bfig(b, |b| Some(b.target_rate)),
            ),
            "what the schedule asked for".into(),
        ),
        (
            "achieved rate",
            Fig::new(
                Kind::Rate,
                Better::Higher,
                Some(s.achieved_rate),
                bfig(b, |b| Some(b.achieved_rate)),
            ),
            "arrivals issued per second".into(),
        ),
        (
            "completed rate",
            Fig::new(
                Kind::Rate,
                Better::Higher,
                Some(s.completed_rate),
                bfig(b, |b| Some(b.completed_rate)),
            ),
            "responses per second".into(),
        ),
        (
            "requests",
            Fig::new(
                Kind::Count,
                Better::Neither,
                Some(s.requests as f64),
                bfig(b, |b| Some(b.requests as f64)),
            ),
            format!("{} scheduled · {} ok", s.scheduled, s.successes),
        ),
        (
            "errors",
            Fig::new(
                Kind::Count,
                Better::Lower,
                Some(s.errors as f64),
                bfig(b, |b| Some(b.errors as f64)),
            ),
            format!("{} of requests", pct(error_rate(s.errors, s.requests))),
        ),
        (
            "error rate",
            Fig::new(
                Kind::Share,
                Better::Lower,
                Some(error_rate(s.errors, s.requests)),
                bfig(b, |b| Some(error_rate(b.errors, b.requests))),
            ),
            "errors ÷ requests".into(),
        ),
        (
            "dropped",
            Fig::new(
                Kind::Count,
                Better::Lower,
                Some(s.dropped as f64),
                bfig(b, |b| Some(b.dropped as f64)),
            ),
            "arrivals never issued".into(),
        ),
        (
            "latency p50",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.latency_us.p50),
                bfig(b, |b| opt_us(b.latency_us.p50)),
            )
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "latency p99",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.latency_us.p99),
                bfig(b, |b| opt_us(b.latency_us.p99)),
            )
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "latency max",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.latency_us.max),
                bfig(b, |b| opt_us(b.latency_us.max)),
            )
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "service time p99",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.service_time_us.p99),
                bfig(b, |b| opt_us(b.service_time_us.p99)),
            )
            .bounds(lb, blb),
            "request sent → response complete".into(),
        ),
        (
            "on-time share",
            Fig::new(
                Kind::Share,
                Better::Higher,
                Some(s.on_time_share),
                bfig(b, |b| Some(b.on_time_share)),
            ),
            format!(
                "dispatch lag ≤ {}; {} late",
                format_us(s.on_time_bound_us),
                s.lateness.late
            ),
        ),
    ];
    for (label, fig, sub) in cards {
        put!(
            out,
            "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>\n",
            fig.html(true),
            esc(&sub)
        );
    }
    out.push_str("</div>\n");

    put!(
        out,
        "<details><summary>All {} criteria</summary>\n<table class=\"crit\"><tr><th class=\"l\">verdict</th><th class=\"l\">criterion</th><th class=\"l\">detail</th></tr>\n",
        s.criteria.len()
    );
    for c in &s.criteria {
        put!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"detail\">{}</td></tr>\n",
            verdict_tag(Some(c.verdict)),
            esc(&c.name),
            esc(&c.detail)
        );
    }
    out.push_str("</table>\n</details>\n</section>\n");
}

// ---------------------------------------------------------------------------------------------
// Charts of the run

fn figure(out: &mut String, chart: &Chart, caption: &str) {
    put!(
        out,
        "<figure>{}<figcaption>{}</figcaption></figure>\n",
        chart.svg(),
        caption
    );
}

fn no_data(out: &mut String, what: &str) {
    put!(out, "<p class=\"nodata\">No data: {}</p>\n", esc(what));
}

fn mid(b: &Bucket) -> f64 {
    (b.start_s + b.end_s) / 2.0
}

fn span(b: &Bucket) -> f64 {
    let d = b.end_s - b.start_s;
    if d > 0.0 { d } else { 1.0 }
}

/// time_range is the timeline's extent in seconds.
fn time_range(buckets: &[Bucket]) -> Option<(f64, f64)> {
    let lo = buckets.first()?.start_s;
    let hi = buckets
        .iter()
        .map(|b| b.end_s)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    Some((lo, hi))
}

/// stage_marks are the stage boundaries, one per distinct start time (scenarios often share
/// them), labelled with the names of the stages that start there, and the schedule's end.
fn stage_marks(s: &Summary, labelled: bool) -> Vec<(f64, String)> {
    let mut starts: BTreeMap<i64, (f64, Vec<String>)> = BTreeMap::new();
    let mut end: f64 = 0.0;
    for st in &s.by_stage {
        let key = (st.start_s * 1e6).round() as i64;
        let e = starts.entry(key).or_insert((st.start_s, Vec::new()));
        if !e.1.contains(&st.name) {
            e.1.push(st.name.clone());
        }
        end = end.max(st.start_s + st.duration_s);
    }
    let mut out: Vec<(f64, String)> = starts
        .into_values()
        .map(|(x, names)| {
            (
                x,
                if labelled {
                    names.join(" / ")
                } else {
                    String::new()
                },
            )
        })
        .collect();
    if end > 0.0 && !out.iter().any(|(x, _)| (x - end).abs() < 1e-6) {
        out.push((
            end,
            if labelled {
                "end".into()
            } else {
                String::new()
            },
        ));
    }
    out
}

/// QuantileOf picks one percentile of a bucket's quantiles.
type QuantileOf = fn(&Quantiles) -> Option<u64>;

fn quantile_series(
    buckets: &[Bucket],
    pick: impl Fn(&Bucket) -> &Quantiles,
    which: &[(&str, QuantileOf)],
    first: usize,
) -> Vec<Series> {
    which
        .iter()
        .enumerate()
        .map(|(i, (label, get))| {
            let width = if *label == "max" { 1.2 } else { 1.8 };
            Series::new(
                label,
                first + i,
                width,
                buckets
                    .iter()
                    .map(|b| get(pick(b)).map(|v| (mid(b), ms(v))))
                    .collect(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Sections over time

fn rate_section(out: &mut String, data: &ReportData) {
    let s = &data.summary;
    open_section(out, "rate");
    put!(
        out,
        "<p>The schedule asked for <b>{:.1}/s</b> on average; the engine issued <b>{:.1}/s</b> (achieved rate) and <b>{:.1}/s</b> responses completed. \
         The achieved rate follows the target when the engine keeps its schedule, whatever the target does; completions fall behind when the target slows down.</p>\n",
        s.target_rate,
        s.achieved_rate,
        s.completed_rate
    );
    let Some((lo, hi)) = time_range(&data.buckets) else {
        no_data(out, "the run has no timeline to chart.");
        out.push_str("</section>\n");
        return;
    };
    let b = &data.buckets;
    let lines = vec![
        Series {
            dash: "7 4",
            ..Series::new(
                "target rate",
                6,
                1.6,
                b.iter().map(|b| Some((mid(b), b.target_rate))).collect(),
            )
        },
        Series::new(
            "achieved rate (issued)",
            0,
            2.2,
            b.iter().map(|b| Some((mid(b), b.achieved_rate))).collect(),
        ),
        Series {
            dash: "2 3",
            ..Series::new(
                "completed (responses/s)",
                1,
                1.6,
                b.iter()
                    .map(|b| Some((mid(b), (b.successes + b.errors) as f64 / span(b))))
                    .collect(),
            )
        },
    ];
    let (_, ymax) = y_extent(&lines);
    let chart = Chart {
        title: "Target and achieved rate over time".into(),
        x: time_axis(lo, hi),
        y: linear_axis(ymax, "requests per second (/s)"),
        series: lines,
        vlines: stage_marks(s, true),
        hlines: Vec::new(),
    };
    figure(
        out,
        &chart,
        "Each point is one time bucket. Dotted vertical lines mark stage boundaries (stages of several scenarios that start together share a line).",
    );
    out.push_str("</section>\n");
}

fn latency_section(out: &mut String, data: &ReportData) {
    let s = &data.summary;
    open_section(out, "latency-over-time");
    out.push_str("<p>Latency of successful responses, per time bucket, counted from each arrival's intended time (so a stalled target shows here instead of being hidden). Percentiles are read from each bucket's merged histogram; the y axis is logarithmic.</p>\n");
    if s.percentiles_are_lower_bounds {
        out.push_str(
            "<p><b>!</b> Arrivals were dropped: these percentiles are lower bounds.</p>\n",
        );
    }
    let lines = quantile_series(
        &data.buckets,
        |b| &b.latency,
        &[
            ("p50", |q| q.p50),
            ("p95", |q| q.p95),
            ("p99", |q| q.p99),
            ("max", |q| q.max),
        ],
        0,
    );
    let Some((lo, hi)) = time_range(&data.buckets).filter(|_| has_points(&lines)) else {
        no_data(
            out,
            "no successful response was recorded, so there is no latency to chart.",
        );
        out.push_str("</section>\n");
        return;
    };
    let (ymin, ymax) = y_extent(&lines);
    let chart = Chart {
        title: "Latency percentiles over time".into(),
        x: time_axis(lo, hi),
        y: log_axis(ymin, ymax, "latency (ms, log scale)"),
        series: lines,
        vlines: stage_marks(s, false),
        hlines: Vec::new(),
    };
    figure(
        out,
        &chart,
        "Gaps are buckets without a successful response. Dotted vertical lines mark stage boundaries.",
    );
    out.push_str("</section>\n");
}

/// spectrum_x places a percentile on the classic axis: log10(1 / (1 − q)); 100 % goes to `cap`.
fn spectrum_x(percentile: f64, cap: f64) -> f64 {
    let q = percentile / 100.0;
    if q >= 1.0 {
        return cap;
    }
    (1.0 / (1.0 - q)).log10().clamp(0.0, cap)
}

fn spectrum_points(points: &[SpectrumPoint], cap: f64) -> Vec<Option<(f64, f64)>> {
    points
        .iter()
        .map(|p| Some((spectrum_x(p.percentile, cap), ms(p.value_us))))
        .collect()
}

fn spectrum_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    open_section(out, "spectrum");
    out.push_str("<p>The whole distribution, with the tail stretched out: each step to the right is ten times rarer. \
        <b>Latency</b> counts from the intended time; <b>service time</b> from when the request was actually sent, close to what a closed-loop tool reports. \
        The gap between the two curves is the time requests waited before being sent — the cost of coordinated omission that a closed-loop measurement would hide.</p>\n");
    let all = data
        .latency_spectrum
        .iter()
        .chain(&data.service_spectrum)
        .chain(baseline.map_or(&[][..], |b| &b.latency_spectrum[..]));
    let finite_max = all
        .filter(|p| p.percentile < 100.0)
        .map(|p| (1.0 / (1.0 - p.percentile / 100.0)).log10())
        .fold(0.0f64, f64::max);
    let cap = finite_max.ceil().clamp(5.0, 7.0);
    if data.latency_spectrum.is_empty() && data.service_spectrum.is_empty() {
        no_data(
            out,
            "no successful response was recorded, so there is no distribution to draw.",
        );
    } else {
        let mut lines = vec![
            Series::new(
                "latency (corrected)",
                0,
                2.2,
                spectrum_points(&data.latency_spectrum, cap),
            ),
            Series::new(
                "service time",
                1,
                1.8,
                spectrum_points(&data.service_spectrum, cap),
            ),
        ];
        lines[1].dash = "2 3";
        if let Some(b) = baseline.filter(|b| !b.latency_spectrum.is_empty()) {
            lines.push(Series {
                dash: "8 4",
                color: "#6e7781",
                ..Series::new(
                    "baseline latency",
                    6,
                    1.8,
                    spectrum_points(&b.latency_spectrum, cap),
                )
            });
        }
        let (_, ymax) = y_extent(&lines);
        let ticks = (0..=cap as usize)
            .map(|k| {
                let label = match k {
                    0 => "0%".to_string(),
                    1 => "90%".to_string(),
                    k => format!("99.{}%", "9".repeat(k - 2)),
                };
                (k as f64, label)
            })
            .map(|(x, l)| (x, if x == cap { format!("{l} (max)") } else { l }))
            .collect();
        let chart = Chart {
            title: "Percentile spectrum of latency and service time".into(),
            x: Axis {
                lo: 0.0,
                hi: cap,
                log: false,
                ticks,
                label: "percentile (log scale of 1 / (1 − q))".into(),
            },
            y: linear_axis(ymax, "value (ms)"),
            series: lines,
            vlines: Vec::new(),
            hlines: Vec::new(),
        };
        figure(
            out,
            &chart,
            "Successful responses of all requests. The maximum is drawn at the right edge.",
        );
    }

    out.push_str("<h3>Latency and its parts</h3>\n<div class=\"scroll\"><table><tr><th class=\"l\">figure</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th><th>count</th></tr>\n");
    let b = baseline.map(|b| &b.summary);
    type Get = fn(&Summary) -> &Percentiles;
    let rows: [(&str, Get, &str); 5] = [
        (
            "latency",
            |s| &s.latency_us,
            "intended time → response complete",
        ),
        (
            "dispatch lag",
            |s| &s.dispatch_lag_us,
            "intended time → the engine got to the arrival",
        ),
        (
            "queue wait",
            |s| &s.queue_wait_us,
            "waiting for a free connection or in-flight slot",
        ),
        (
            "connect time",
            |s| &s.connect_us,
            "opening a connection, when one had to be opened",
        ),
        (
            "service time",
            |s| &s.service_time_us,
            "request sent → response complete",
        ),
    ];
    for (label, get, what) in rows {
        let p = get(s);
        let bp = b.map(get);
        let lb = s.percentiles_are_lower_bounds && matches!(label, "latency" | "service time");
        let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds)
            && matches!(label, "latency" | "service time");
        put!(out, "<tr><td class=\"l\">{label}<small>{what}</small></td>");
        let fields: [fn(&Percentiles) -> Option<u64>; 5] =
            [|p| p.p50, |p| p.p90, |p| p.p99, |p| p.p99_9, |p| p.max];
        for f in fields {
            out.push_str(
                &Fig::new(
                    Kind::Us,
                    Better::Lower,
                    opt_us(f(p)),
                    bp.map(|bp| opt_us(f(bp))),
                )
                .bounds(lb, blb)
                .td(),
            );
        }
        out.push_str(&Fig::new(Kind::Us, Better::Lower, p.mean, bp.map(|bp| bp.mean)).td());
        put!(out, "<td>{}</td></tr>\n", p.count);
    }
    out.push_str("</table></div>\n<p class=\"note\">Latency is the sum of dispatch lag, queue wait, connect time and service time for each response; percentiles of the parts do not add up, since each is read from its own histogram.</p>\n</section>\n");
}

// ---------------------------------------------------------------------------------------------
// Tables

/// class_targets reads each SLA class's targets back from the criteria's names, which look like
/// `journey/normal-50/list_agents: p95 ≤ 400.0ms (read_medium)`.
fn class_targets(criteria: &[Criterion]) -> BTreeMap<String, BTreeMap<u32, String>> {
    let mut out: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
    for c in criteria.iter().filter(|c| c.request.is_some()) {
        let Some((_, rule)) = c.name.rsplit_once(": ") else {
            continue;
        };
        let Some((rule, class)) = rule.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) else {
            continue;
        };
        let Some((q, target)) = rule.split_once(" ≤ ") else {
            continue;
        };
        // Order p50 < p95 < p99 < p99.9 by the digits after "p".
        let order = q
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .map_or(u32::MAX, |n| (n * 1000.0) as u32);
        out.entry(class.to_string())
            .or_default()
            .insert(order, format!("{q} ≤ {target}"));
    }
    out
}

/// worst_criterion is the criterion that set an endpoint's verdict.
fn worst_criterion<'a>(s: &'a Summary, n: &ByName) -> Option<&'a Criterion> {
    s.criteria
        .iter()
        .filter(|c| {
            c.request.as_deref() == Some(n.name.as_str())
                && c.scenario.as_deref() == Some(n.scenario.as_str())
        })
        .max_by_key(|c| c.verdict)
}

fn endpoints_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "endpoints");
    if s.by_name.is_empty() {
        no_data(out, "the plan has no requests.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str("<p>Per scenario and request name. Latency percentiles are over successful responses of the whole run; the SLA verdict is judged per stage (the worst stage counts), over successes, settle time left out. Rate is requests per second of the schedule.</p>\n");
    let targets = class_targets(&s.criteria);
    out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">scenario / name</th><th>count</th><th>rate</th><th>errors<small>rate</small></th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>service p99</th><th class=\"l\">SLA class</th><th class=\"l\">SLA verdict</th></tr>\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    for n in &s.by_name {
        let bn = b.map(|b| {
            b.by_name
                .iter()
                .find(|x| x.scenario == n.scenario && x.name == n.name)
        });
        name_row(out, n, bn, lb, blb);
        let class = match &n.sla_class {
            Some(c) => {
                let t = targets
                    .get(c)
                    .map(|t| t.values().cloned().collect::<Vec<_>>().join(" · "))
                    .unwrap_or_default();
                format!("{}<small>{}</small>", esc(c), esc(&t))
            }
            None => "–".into(),
        };
        let title = worst_criterion(s, n)
            .map(|c| format!(" title=\"{}: {}\"", esc(&c.name), esc(&c.detail)))
            .unwrap_or_default();
        let mut verdict = verdict_tag(n.sla_verdict);
        if let Some(Some(bn)) = bn {
            put!(
                verdict,
                "<span class=\"base\">baseline {}</span>",
                match bn.sla_verdict {
                    Some(Verdict::Passed) => "✓ PASS",
                    Some(Verdict::Warned) => "! WARN",
                    Some(Verdict::Failed) => "✗ FAIL",
                    None => "– not judged",
                }
            );
        }
        if n.sla_verdict.is_some_and(|v| v != Verdict::Passed)
            && let Some(c) = worst_criterion(s, n)
        {
            put!(
                verdict,
                "<small>worst in {}</small>",
                esc(c.stage.as_deref().unwrap_or("the run"))
            );
        }
        put!(
            out,
            "<td class=\"l\">{class}</td><td class=\"l\"{title}>{verdict}</td></tr>\n"
        );
    }
    // The totals row, as Locust's "Aggregated".
    let rate = |s: &Summary| {
        if s.duration_s > 0.0 {
            s.requests as f64 / s.duration_s
        } else {
            0.0
        }
    };
    let total = ByName {
        scenario: String::new(),
        name: "all requests".into(),
        method: String::new(),
        path: String::new(),
        sla_class: None,
        requests: s.requests,
        errors: s.errors,
        error_kinds: s.error_kinds.clone(),
        rate: rate(s),
        bytes_received: s.bytes_received,
        latency_us: s.latency_us.clone(),
        service_time_us: s.service_time_us.clone(),
        error_latency_us: s.error_latency_us.clone(),
        sla_verdict: None,
        check_failures: Vec::new(),
    };
    let btotal = b.map(|b| ByName {
        requests: b.requests,
        errors: b.errors,
        rate: rate(b),
        latency_us: b.latency_us.clone(),
        service_time_us: b.service_time_us.clone(),
        ..total.clone()
    });
    out.push_str("<tr class=\"total\">");
    name_cells(out, &total, btotal.as_ref().map(Some), lb, blb);
    out.push_str("<td class=\"l\"></td><td class=\"l\"></td></tr>\n</table></div>\n");
    if lb {
        out.push_str(
            "<p class=\"note\">≥: arrivals were dropped, so latency percentiles are lower bounds.</p>\n",
        );
    }
    out.push_str("</section>\n");
}

fn name_row(out: &mut String, n: &ByName, bn: Option<Option<&ByName>>, lb: bool, blb: bool) {
    out.push_str("<tr>");
    name_cells(out, n, bn, lb, blb);
}

/// name_cells writes an endpoint's figures, each beside the baseline's when there is one.
fn name_cells(out: &mut String, n: &ByName, bn: Option<Option<&ByName>>, lb: bool, blb: bool) {
    let label = if n.scenario.is_empty() {
        esc(&n.name)
    } else {
        format!("{}/<wbr>{}", esc(&n.scenario), esc(&n.name))
    };
    let path = if n.method.is_empty() {
        String::new()
    } else {
        format!("<small>{} {}</small>", esc(&n.method), esc(&n.path))
    };
    put!(out, "<td class=\"l\"><b>{label}</b>{path}</td>");
    let f = |kind, better, get: &dyn Fn(&ByName) -> Option<f64>| {
        Fig::new(kind, better, get(n), bn.map(|b| b.and_then(get)))
    };
    out.push_str(&f(Kind::Count, Better::Neither, &|n| Some(n.requests as f64)).td());
    out.push_str(&f(Kind::Rate, Better::Neither, &|n| Some(n.rate)).td());
    let errors = f(Kind::Count, Better::Lower, &|n| Some(n.errors as f64));
    put!(
        out,
        "<td>{}<small>{}</small></td>",
        errors.html(false),
        pct(error_rate(n.errors, n.requests))
    );
    let quantiles: [fn(&Percentiles) -> Option<u64>; 6] = [
        |p| p.p50,
        |p| p.p90,
        |p| p.p95,
        |p| p.p99,
        |p| p.p99_9,
        |p| p.max,
    ];
    for q in quantiles {
        out.push_str(
            &f(Kind::Us, Better::Lower, &|n| opt_us(q(&n.latency_us)))
                .bounds(lb, blb)
                .td(),
        );
    }
    out.push_str(
        &f(Kind::Us, Better::Lower, &|n| opt_us(n.service_time_us.p99))
            .bounds(lb, blb)
            .td(),
    );
}

/// stage_verdict is the worst verdict among a stage's criteria, with how many there are.
fn stage_verdict(s: &Summary, st: &ByStage) -> (Option<Verdict>, usize) {
    let judged: Vec<Verdict> = s
        .criteria
        .iter()
        .filter(|c| {
            c.scenario.as_deref() == Some(st.scenario.as_str())
                && c.stage.as_deref() == Some(st.name.as_str())
        })
        .map(|c| c.verdict)
        .collect();
    (judged.iter().copied().max(), judged.len())
}

fn stages_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "stages");
    if s.by_stage.is_empty() {
        no_data(out, "the plan has no stages.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str("<p>Per scenario and stage. An arrival belongs to the stage of its intended time, whenever its response came back. p99 is the latency of the stage's successful responses.</p>\n");
    out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">scenario / stage</th><th>window</th><th>target rate</th><th>achieved rate</th><th>requests</th><th>errors</th><th>error rate</th><th>dropped</th><th>p99</th><th class=\"l\">criteria</th></tr>\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    for st in &s.by_stage {
        let bs = b.map(|b| {
            b.by_stage
                .iter()
                .find(|x| x.scenario == st.scenario && x.name == st.name)
        });
        let f = |kind, better, get: &dyn Fn(&ByStage) -> Option<f64>| {
            Fig::new(kind, better, get(st), bs.map(|b| b.and_then(get))).td()
        };
        let target = if (st.from_rate - st.to_rate).abs() > 1e-9 {
            format!(
                "{:.1}/s<small>ramp {:.1} → {:.1}/s</small>",
                st.target_rate, st.from_rate, st.to_rate
            )
        } else {
            format!("{:.1}/s", st.target_rate)
        };
        let (v, n) = stage_verdict(s, st);
        let crit = if n == 0 {
            "<span class=\"v none\">– none</span>".to_string()
        } else {
            format!(
                "{} <small>{n} {}</small>",
                verdict_tag(v),
                if n == 1 { "criterion" } else { "criteria" }
            )
        };
        put!(
            out,
            "<tr><td class=\"l\"><b>{}/<wbr>{}</b></td><td>{} – {}</td><td>{target}</td>",
            esc(&st.scenario),
            esc(&st.name),
            esc(&secs_text(st.start_s)),
            esc(&secs_text(st.start_s + st.duration_s))
        );
        out.push_str(&f(Kind::Rate, Better::Higher, &|x| Some(x.achieved_rate)));
        out.push_str(&f(Kind::Count, Better::Neither, &|x| {
            Some(x.requests as f64)
        }));
        out.push_str(&f(Kind::Count, Better::Lower, &|x| Some(x.errors as f64)));
        out.push_str(&f(Kind::Share, Better::Lower, &|x| Some(x.error_rate)));
        out.push_str(&f(Kind::Count, Better::Lower, &|x| Some(x.dropped as f64)));
        out.push_str(
            &Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(st.latency_us.p99),
                bs.map(|b| b.and_then(|b| opt_us(b.latency_us.p99))),
            )
            .bounds(lb, blb)
            .td(),
        );
        put!(out, "<td class=\"l\">{crit}</td></tr>\n");
    }
    out.push_str("</table></div>\n</section>\n");
}

fn errors_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "errors");
    put!(
        out,
        "<p><b>{}</b> errors of {} requests ({}).",
        s.errors,
        s.requests,
        pct(error_rate(s.errors, s.requests))
    );
    if let Some(b) = b {
        put!(
            out,
            " Baseline: {} of {} ({}).",
            b.errors,
            b.requests,
            pct(error_rate(b.errors, b.requests))
        );
    }
    out.push_str(" Errors keep their own latencies and are left out of the SLA percentiles.</p>\n");
    let kinds: BTreeSet<&String> = data
        .buckets
        .iter()
        .flat_map(|b| b.error_kinds.keys())
        .collect();
    let Some((lo, hi)) = time_range(&data.buckets) else {
        no_data(out, "the run has no timeline to chart.");
        return errors_tables(out, data, baseline);
    };
    if kinds.is_empty() {
        out.push_str("<p class=\"nodata\">No errors over the run's timeline.</p>\n");
    } else {
        let mut lines: Vec<Series> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Series::new(
                    k,
                    i,
                    1.8,
                    data.buckets
                        .iter()
                        .map(|b| {
                            Some((
                                mid(b),
                                b.error_kinds.get(*k).copied().unwrap_or(0) as f64 / span(b),
                            ))
                        })
                        .collect(),
                )
            })
            .collect();
        if kinds.len() > 1 {
            lines.push(Series::new(
                "all errors",
                6,
                1.2,
                data.buckets
                    .iter()
                    .map(|b| Some((mid(b), b.errors as f64 / span(b))))
                    .collect(),
            ));
        }
        let (_, ymax) = y_extent(&lines);
        let chart = Chart {
            title: "Errors over time, by kind".into(),
            x: time_axis(lo, hi),
            y: linear_axis(ymax, "errors per second (/s)"),
            series: lines,
            vlines: stage_marks(s, false),
            hlines: Vec::new(),
        };
        figure(
            out,
            &chart,
            "Errors per second in each time bucket, one line per kind. Dotted vertical lines mark stage boundaries.",
        );
    }
    errors_tables(out, data, baseline);
}

fn errors_tables(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    out.push_str("<h3>By kind</h3>\n");
    let kinds: BTreeSet<&String> = s
        .error_kinds
        .keys()
        .chain(b.into_iter().flat_map(|b| b.error_kinds.keys()))
        .collect();
    if kinds.is_empty() {
        out.push_str("<p>No errors of any kind.</p>\n");
    } else {
        out.push_str("<table class=\"narrow\"><tr><th class=\"l\">kind</th><th>errors</th><th>share of errors</th><th>share of requests</th></tr>\n");
        for k in kinds {
            let n = s.error_kinds.get(k).copied().unwrap_or(0);
            let fig = Fig::new(
                Kind::Count,
                Better::Lower,
                Some(n as f64),
                b.map(|b| Some(b.error_kinds.get(k).copied().unwrap_or(0) as f64)),
            );
            put!(
                out,
                "<tr><td class=\"l\">{}{}</td>{}<td>{}</td><td>{}</td></tr>\n",
                esc(k),
                if k == "local_resource" {
                    "<small>the generator's own failure: makes the run not valid</small>"
                } else {
                    ""
                },
                fig.td(),
                pct(error_rate(n, s.errors)),
                pct(error_rate(n, s.requests))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h3>By endpoint</h3>\n");
    let rows: Vec<&ByName> = s
        .by_name
        .iter()
        .filter(|n| {
            n.errors > 0
                || b.is_some_and(|b| {
                    b.by_name
                        .iter()
                        .any(|x| x.scenario == n.scenario && x.name == n.name && x.errors > 0)
                })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("<p>No endpoint returned an error.</p>\n");
    } else {
        out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">scenario / name</th><th>requests</th><th>errors</th><th>error rate</th><th class=\"l\">kinds</th><th>error latency p50</th><th>error latency p99</th></tr>\n");
        for n in rows {
            let bn = b.map(|b| {
                b.by_name
                    .iter()
                    .find(|x| x.scenario == n.scenario && x.name == n.name)
            });
            let f = |kind, better, get: &dyn Fn(&ByName) -> Option<f64>| {
                Fig::new(kind, better, get(n), bn.map(|b| b.and_then(get))).td()
            };
            let kinds: Vec<String> = n
                .error_kinds
                .iter()
                .map(|(k, c)| format!("{} {c}", esc(k)))
                .collect();
            put!(
                out,
                "<tr><td class=\"l\"><b>{}/<wbr>{}</b><small>{} {}</small></td><td>{}</td>",
                esc(&n.scenario),
                esc(&n.name),
                esc(&n.method),
                esc(&n.path),
                n.requests
            );
            out.push_str(&f(Kind::Count, Better::Lower, &|x| Some(x.errors as f64)));
            out.push_str(&f(Kind::Share, Better::Lower, &|x| {
                Some(error_rate(x.errors, x.requests))
            }));
            put!(
                out,
                "<td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>\n",
                kinds.join(", "),
                us_text(n.error_latency_us.p50),
                us_text(n.error_latency_us.p99)
            );
        }
        out.push_str("</table></div>\n");
    }
    out.push_str("</section>\n");
}

fn engine_section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "engine");
    let bound = format_us(s.on_time_bound_us);
    put!(
        out,
        "<p><b>Dispatch lag</b> is the generator's own lateness: how long after an arrival's intended time the engine got to it. \
         It is not the target's doing. When it is large, the generator, not the target, is the bottleneck, and its figures say more about this machine than about the target. \
         An arrival is on time when its dispatch lag is under {bound}. \
         Late arrivals make a run not valid only when they are too many to be chance for an engine late no more often than the tail above the highest percentile the run judges (1% for p99).</p>\n"
    );
    // The verdict the run was judged with, as saved: not re-judged with this binary's rule.
    let kept = s.criteria.iter().find(|c| c.name == "schedule kept");
    put!(
        out,
        "<p>{} {}.",
        verdict_tag(kept.map(|c| c.verdict)),
        match kept {
            Some(c) => esc(&c.detail),
            None => format!(
                "<b>{}</b> of arrivals were dispatched within {bound} of their intended time",
                pct(s.on_time_share)
            ),
        }
    );
    if let Some(b) = b {
        put!(out, " Baseline: {}.", pct(b.on_time_share));
    }
    out.push_str("</p>\n");
    out.push_str(
        "<table class=\"narrow\"><tr><th class=\"l\">engine figure</th><th>value</th></tr>\n",
    );
    let rows: Vec<(&str, Fig)> = vec![
        (
            "on-time share",
            Fig::new(
                Kind::Share,
                Better::Higher,
                Some(s.on_time_share),
                bfig(b, |b| Some(b.on_time_share)),
            ),
        ),
        (
            "dispatch lag p99",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.dispatch_lag_us.p99),
                bfig(b, |b| opt_us(b.dispatch_lag_us.p99)),
            ),
        ),
        (
            "dispatch lag max",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.dispatch_lag_us.max),
                bfig(b, |b| opt_us(b.dispatch_lag_us.max)),
            ),
        ),
        (
            "queue wait p99",
            Fig::new(
                Kind::Us,
                Better::Lower,
                opt_us(s.queue_wait_us.p99),
                bfig(b, |b| opt_us(b.queue_wait_us.p99)),
            ),
        ),
        (
            "arrivals scheduled",
            Fig::new(
                Kind::Count,
                Better::Neither,
                Some(s.scheduled as f64),
                bfig(b, |b| Some(b.scheduled as f64)),
            ),
        ),
        (
            "dropped",
            Fig::new(
                Kind::Count,
                Better::Lower,
                Some(s.dropped as f64),
                bfig(b, |b| Some(b.dropped as f64)),
            ),
        ),
        (
            "arrivals that opened a new connection",
            Fig::new(
                Kind::Count,
                Better::Lower,
                Some(s.new_connections as f64),
                bfig(b, |b| Some(b.new_connections as f64)),
            ),
        ),
    ];
    for (label, fig) in rows {
        put!(out, "<tr><td class=\"l\">{label}</td>{}</tr>\n", fig.td());
    }
    put!(
        out,
        "<tr><td class=\"l\">threads · connections · max in flight · timeout</td><td>{} · {} · {} · {}</td></tr>\n",
        s.threads,
        s.connections,
        s.max_in_flight,
        esc(&secs_text(s.timeout_s))
    );
    put!(
        out,
        "<tr><td class=\"l\">connections opened before the first arrival</td><td>{}</td></tr>\n",
        s.connections_opened_before_start
    );
    if s.clamped_values > 0 {
        put!(
            out,
            "<tr><td class=\"l\">values over 1 h, clamped to 1 h</td><td>{}</td></tr>\n",
            s.clamped_values
        );
    }
    out.push_str("</table>\n");

    let lines = quantile_series(
        &data.buckets,
        |b| &b.dispatch_lag,
        &[
            ("dispatch lag p99", |q| q.p99),
            ("dispatch lag max", |q| q.max),
        ],
        0,
    );
    let range = time_range(&data.buckets);
    match range.filter(|_| has_points(&lines)) {
        None => no_data(out, "no dispatch lag was recorded over the run's timeline."),
        Some((lo, hi)) => {
            let bound_ms = ms(s.on_time_bound_us);
            let (ymin, ymax) = y_extent(&lines);
            let ymin = if ymin.is_finite() {
                ymin
            } else {
                bound_ms / 10.0
            };
            let chart = Chart {
                title: "Dispatch lag over time".into(),
                x: time_axis(lo, hi),
                y: log_axis(
                    ymin.min(bound_ms),
                    ymax.max(bound_ms * 1.5),
                    "dispatch lag (ms, log scale)",
                ),
                series: lines,
                vlines: stage_marks(s, false),
                hlines: vec![(bound_ms, format!("on-time bound {bound}"))],
            };
            figure(
                out,
                &chart,
                "Per time bucket. Values of zero sit on the bottom of the axis. Dotted vertical lines mark stage boundaries.",
            );
        }
    }
    match range {
        None => no_data(
            out,
            "no in-flight or dropped counts over the run's timeline.",
        ),
        Some((lo, hi)) => {
            let mut lines = vec![
                Series::new(
                    "in flight (end of bucket)",
                    0,
                    1.8,
                    data.buckets
                        .iter()
                        .map(|b| Some((mid(b), b.in_flight as f64)))
                        .collect(),
                ),
                Series::new(
                    "dropped (per bucket)",
                    1,
                    1.8,
                    data.buckets
                        .iter()
                        .map(|b| Some((mid(b), b.dropped as f64)))
                        .collect(),
                ),
            ];
            lines[1].dash = "7 4";
            let (_, ymax) = y_extent(&lines);
            let chart = Chart {
                title: "In flight and dropped arrivals over time".into(),
                x: time_axis(lo, hi),
                y: count_axis(ymax, "arrivals"),
                series: lines,
                vlines: stage_marks(s, false),
                hlines: Vec::new(),
            };
            let none = if data.buckets.iter().all(|b| b.dropped == 0) {
                " No arrival was dropped over the timeline."
            } else {
                ""
            };
            figure(
                out,
                &chart,
                &format!(
                    "In flight: arrivals issued and not yet answered at the end of each bucket. Dropped: arrivals that could not be issued (in-flight bound reached, or the run ended first).{none}"
                ),
            );
        }
    }
    out.push_str("</section>\n");
}

fn plan_section(out: &mut String, data: &ReportData) {
    let s = &data.summary;
    open_section(out, "plan");
    put!(
        out,
        "<p>Plan <b>{}</b> against {} · seed {} · metronome {} · started {}.</p>\n",
        esc(&s.plan),
        esc(&s.target),
        s.seed,
        esc(&s.metronome_version),
        esc(&s.started_at)
    );
    if data.plan_text.trim().is_empty() {
        out.push_str(
            "<p class=\"note\">The plan's description was not saved with these results.</p>\n",
        );
    } else {
        put!(out, "<pre>{}</pre>\n", esc(&data.plan_text));
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_targets_are_read_from_criteria_names() {
        let c = |name: &str| Criterion {
            name: name.into(),
            verdict: Verdict::Passed,
            detail: String::new(),
            validity: false,
            scenario: Some("journey".into()),
            stage: Some("normal-50".into()),
            request: Some("list_agents".into()),
        };
        let t = class_targets(&[
            c("journey/normal-50/list_agents: p99 ≤ 600.0ms (read_medium)"),
            c("journey/normal-50/list_agents: p95 ≤ 400.0ms (read_medium)"),
            c("journey/normal-50/list_agents: error rate"),
        ]);
        let got: Vec<&String> = t["read_medium"].values().collect();
        assert_eq!(got, ["p95 ≤ 400.0ms", "p99 ≤ 600.0ms"]);
    }

    #[test]
    fn changes_are_judged_by_direction_and_noise() {
        let c = change(Kind::Us, Better::Lower, 1_200.0, 1_000.0);
        assert_eq!(c.class, "worse");
        assert!(
            c.text.contains("+200µs") && c.text.contains("+20.0%"),
            "{}",
            c.text
        );
        assert_eq!(
            change(Kind::Us, Better::Lower, 1_010.0, 1_000.0).class,
            "same"
        );
        assert_eq!(
            change(Kind::Rate, Better::Higher, 90.0, 100.0).class,
            "worse"
        );
        assert_eq!(change(Kind::Count, Better::Lower, 3.0, 0.0).class, "worse");
        assert_eq!(change(Kind::Count, Better::Lower, 0.0, 0.0).text, "±0");
    }
}
