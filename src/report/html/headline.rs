//! The headline cards: a dozen figures of the whole run (rates, requests, errors, latency,
//! on-time share), each beside the baseline's when there is one.

use std::fmt::Write as _;

use super::compare::{Better, Fig, Kind, opt_us};
use super::{error_rate, esc, put};
use crate::summary::Summary;
use crate::units::{format_share, format_us};

/// cards writes the headline figures of `s`, beside `b`'s (the baseline's) when there is one.
pub(super) fn cards(out: &mut String, s: &Summary, b: Option<&Summary>) {
    out.push_str("<h3>Headline figures</h3>\n<div class=\"cards\">\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    // The whole run's figures are in every baseline.
    let base = b.map(Some);
    let cards: Vec<(&str, Fig, String)> = vec![
        (
            "target rate",
            Fig::of(Kind::Rate, Better::Neither, s, base, |x| {
                Some(x.target_rate)
            }),
            "what the schedule asked for".into(),
        ),
        (
            "achieved rate",
            Fig::of(Kind::Rate, Better::Higher, s, base, |x| {
                Some(x.achieved_rate)
            }),
            "arrivals issued per second".into(),
        ),
        (
            "completed rate",
            Fig::of(Kind::Rate, Better::Higher, s, base, |x| {
                Some(x.completed_rate)
            }),
            "responses per second".into(),
        ),
        (
            "requests",
            Fig::of(Kind::Count, Better::Neither, s, base, |x| {
                Some(x.requests as f64)
            }),
            format!("{} scheduled · {} ok", s.scheduled, s.successes),
        ),
        (
            "errors",
            Fig::of(Kind::Count, Better::Lower, s, base, |x| {
                Some(x.errors as f64)
            }),
            format!(
                "{} of requests",
                format_share(error_rate(s.errors, s.requests))
            ),
        ),
        (
            "error rate",
            Fig::of(Kind::Share, Better::Lower, s, base, |x| {
                Some(error_rate(x.errors, x.requests))
            }),
            "errors ÷ requests".into(),
        ),
        (
            "dropped",
            Fig::of(Kind::Count, Better::Lower, s, base, |x| {
                Some(x.dropped as f64)
            }),
            "arrivals never issued".into(),
        ),
        (
            "latency p50",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.latency_us.p50)
            })
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "latency p99",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.latency_us.p99)
            })
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "latency max",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.latency_us.max)
            })
            .bounds(lb, blb),
            "from the intended time".into(),
        ),
        (
            "service time p99",
            Fig::of(Kind::Us, Better::Lower, s, base, |x| {
                opt_us(x.service_time_us.p99)
            })
            .bounds(lb, blb),
            "request sent → response complete".into(),
        ),
        (
            "on-time share",
            Fig::of(Kind::Share, Better::Higher, s, base, |x| {
                Some(x.on_time_share)
            }),
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
}
