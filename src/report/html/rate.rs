//! The rate section: target, achieved (issued) and completed rates over time, so an engine
//! that keeps its schedule and a target that falls behind tell themselves apart.

use std::fmt::Write as _;

use super::timeline::{mid, span, stage_marks, time_range};
use super::{figure, no_data, open_section, put};
use crate::report::chart::{Chart, Series, linear_axis, time_axis, y_extent};
use crate::report::data::ReportData;

pub(super) fn section(out: &mut String, data: &ReportData) {
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
