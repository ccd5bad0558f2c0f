//! The verdict section: the run's outcome (passed, failed, not valid), why, in the order that
//! matters (validity first), what may make its figures lower bounds or the engine's own
//! lateness, the headline figures, and every criterion.

use std::fmt::Write as _;

use super::{esc, headline, open_section, put, verdict_class, verdict_tag};
use crate::report::data::ReportData;
use crate::summary::{Criterion, Summary, Verdict};
use crate::units::format_us;

/// verdict_word is the run's outcome: (word, css class, symbol).
pub(super) fn verdict_word(s: &Summary) -> (&'static str, &'static str, &'static str) {
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

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
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
    match (&s.aborted, s.partial) {
        (Some(why), _) => put!(
            out,
            "<p>The run was <b>aborted</b> by an <code>abort = true</code> criterion: {}. Results are partial, covering the schedule up to then.</p>\n",
            esc(why)
        ),
        (None, true) => out.push_str(
            "<p>The run was <b>interrupted</b>: results are partial, covering only the schedule up to the interruption.</p>\n",
        ),
        (None, false) => {}
    }
    for c in &s.steering {
        put!(
            out,
            "<p>The run was <b>steered</b>: at {:.3} s scenario {} was set to {}/s, from then to its end (the stage table shows the stage it cut and the one it added; <code>--steer {}</code> repeats it).</p>\n",
            c.at_s,
            esc(&c.scenario),
            crate::plan::rate_text(c.rate),
            esc(&c.flag())
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

    headline::cards(out, s, b);
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
