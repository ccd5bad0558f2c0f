//! The document's header: the plan's name, the run's facts, the baseline it is compared with,
//! and the navigation to the sections.

use std::fmt::Write as _;

use super::compare::NOISE;
use super::verdict::verdict_word;
use super::{SECTIONS, esc, put, secs_text};
use crate::report::data::ReportData;

pub(super) fn header(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
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
        if id == "latency-over-time" && !data.watch_samples.is_empty() {
            let (id, title) = super::target::SECTION;
            put!(out, "<a href=\"#{id}\">{title}</a>");
        }
    }
    out.push_str("</nav>\n</header>\n");
}
