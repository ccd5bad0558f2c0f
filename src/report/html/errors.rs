//! The errors section: errors over time by kind, then by kind and by endpoint, beside the
//! baseline's.

use std::fmt::Write as _;

use std::collections::BTreeSet;

use super::compare::{Better, Fig, Kind};
use super::endpoints::base_name;
use super::timeline::{mid, span, stage_marks, time_range};
use super::{error_rate, esc, figure, no_data, open_section, put, us_text};
use crate::report::chart::{Chart, Series, linear_axis, time_axis, y_extent};
use crate::report::data::ReportData;
use crate::summary::ByName;
use crate::units::format_share;

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "errors");
    put!(
        out,
        "<p><b>{}</b> errors of {} requests ({}).",
        s.errors,
        s.requests,
        format_share(error_rate(s.errors, s.requests))
    );
    if let Some(b) = b {
        put!(
            out,
            " Baseline: {} of {} ({}).",
            b.errors,
            b.requests,
            format_share(error_rate(b.errors, b.requests))
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
        return tables(out, data, baseline);
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
    tables(out, data, baseline);
}

fn tables(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
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
                format_share(error_rate(n, s.errors)),
                format_share(error_rate(n, s.requests))
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
            let bn = base_name(b, n);
            let f = |kind, better, get: &dyn Fn(&ByName) -> Option<f64>| {
                Fig::of(kind, better, n, bn, get).td()
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
