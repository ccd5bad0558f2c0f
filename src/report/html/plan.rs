//! The plan section: the plan as run, as `metronome check` describes it.

use std::fmt::Write as _;

use super::{esc, open_section, put};
use crate::report::data::ReportData;

pub(super) fn section(out: &mut String, data: &ReportData) {
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
