//! The engine section: the generator's own lateness (dispatch lag, on-time share, the verdict
//! the run was judged with), its resources, and dispatch lag, in-flight and dropped arrivals
//! over time. It reads the saved summary; it does not know the engine.

use std::fmt::Write as _;

use super::compare::{Better, Fig, Kind, opt_us};
use super::timeline::{mid, quantile_series, stage_marks, time_range};
use super::{esc, figure, ms, no_data, open_section, put, secs_text, verdict_tag};
use crate::report::chart::{Chart, Series, count_axis, has_points, log_axis, time_axis, y_extent};
use crate::report::data::ReportData;
use crate::units::{format_share, format_us};

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
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
                format_share(s.on_time_share)
            ),
        }
    );
    if let Some(b) = b {
        put!(out, " Baseline: {}.", format_share(b.on_time_share));
    }
    out.push_str("</p>\n");
    out.push_str(
        "<table class=\"narrow\"><tr><th class=\"l\">engine figure</th><th>value</th></tr>\n",
    );
    let base = b.map(Some);
    let rows: Vec<(&str, Fig)> = vec![
        (
            "on-time share",
            Fig::of(Kind::Share, Better::Higher, s, base, |x| {
                Some(x.on_time_share)
            }),
        ),
        (
            "dispatch lag p99",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.dispatch_lag_us.p99)
            }),
        ),
        (
            "dispatch lag max",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.dispatch_lag_us.max)
            }),
        ),
        (
            "queue wait p99",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.queue_wait_us.p99)
            }),
        ),
        (
            "arrivals scheduled",
            Fig::of(Kind::Count, Better::Neither, s, base, |x| {
                Some(x.scheduled as f64)
            }),
        ),
        (
            "dropped",
            Fig::of(Kind::Count, Better::Lower, s, base, |x| {
                Some(x.dropped as f64)
            }),
        ),
        (
            "arrivals that opened a new connection",
            Fig::of(Kind::Count, Better::Lower, s, base, |x| {
                Some(x.new_connections as f64)
            }),
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
    super::shards::table(out, s);

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
