//! The latency-over-time section: p50, p95, p99 and max of successful responses per time
//! bucket, from the intended time, on a log axis.

use super::timeline::{quantile_series, stage_marks, time_range};
use super::{figure, no_data, open_section};
use crate::report::chart::{Chart, has_points, log_axis, time_axis, y_extent};
use crate::report::data::ReportData;

pub(super) fn section(out: &mut String, data: &ReportData) {
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
