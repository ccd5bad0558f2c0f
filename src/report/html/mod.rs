//! HTML report: one self-contained document for a run, rendered from a [`ReportData`] (and,
//! optionally, a baseline run's, so two builds can be compared figure by figure).
//!
//! This module owns the document: its frame, its inline CSS, the order of its sections, and
//! the small text helpers they share; each section is its own file beside this one, and the
//! charts are drawn by [`crate::report::chart`] as inline SVG (no script, no font, no
//! stylesheet or image is fetched: the file opens offline and prints in black and white, every
//! colour doubled by a word, a symbol or a dash pattern). It does not compute any figure:
//! percentiles, rates and verdicts come from the summary and the timeline as they are, and it
//! neither reads nor writes files.

mod compare;
mod endpoints;
mod engine;
mod errors;
mod header;
mod headline;
mod latency;
mod plan;
mod rate;
mod shards;
mod spectrum;
mod stages;
mod target;
mod timeline;
mod verdict;

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::chart::{Chart, esc, put};
use crate::report::data::ReportData;
use crate::summary::Verdict;
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
    header::header(&mut out, data, baseline);
    verdict::section(&mut out, data, baseline);
    rate::section(&mut out, data);
    latency::section(&mut out, data);
    target::section(&mut out, data);
    spectrum::section(&mut out, data, baseline);
    endpoints::section(&mut out, data, baseline);
    stages::section(&mut out, data, baseline);
    errors::section(&mut out, data, baseline);
    engine::section(&mut out, data, baseline);
    plan::section(&mut out, data);
    put!(
        out,
        "<footer>metronome {} · schema {} · latency counts from each arrival's intended time \
         (corrected for coordinated omission)</footer>\n</main>\n</body>\n</html>\n",
        esc(&s.metronome_version),
        esc(&s.schema)
    );
    out
}

/// SECTIONS are the document's sections in order: (id, title), for the navigation and headings.
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

/// open_section starts a section with its heading.
fn open_section(out: &mut String, id: &str) {
    let title = SECTIONS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, t)| t);
    put!(out, "<section id=\"{id}\">\n<h2>{title}</h2>\n");
}

pub const CSS: &str = r#"
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
.v.deferred{color:var(--muted)}
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
        Verdict::Deferred => "deferred",
        Verdict::Passed => "pass",
        Verdict::Warned => "warn",
        Verdict::Failed => "fail",
    }
}

/// verdict_text is a verdict readable without colour: a symbol and a word.
fn verdict_text(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Deferred) => "… at merge",
        Some(Verdict::Passed) => "✓ PASS",
        Some(Verdict::Warned) => "! WARN",
        Some(Verdict::Failed) => "✗ FAIL",
        None => "– not judged",
    }
}

/// verdict_tag is a verdict's text in its colour.
fn verdict_tag(v: Option<Verdict>) -> String {
    format!(
        "<span class=\"v {}\">{}</span>",
        v.map_or("none", verdict_class),
        verdict_text(v)
    )
}

fn error_rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

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
