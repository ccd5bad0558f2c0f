//! The headline cards: a dozen figures of the whole run (rates, requests, errors, latency,
//! on-time share), each beside the baseline's when there is one.

use std::fmt::Write as _;

use super::compare::{Better, Fig, Kind, bfig, opt_us};
use super::{error_rate, esc, pct, put};
use crate::summary::Summary;
use crate::units::format_us;

/// cards writes the headline figures of `s`, beside `b`'s (the baseline's) when there is one.
pub(super) fn cards(out: &mut String, s: &Summary, b: Option<&Summary>) {
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
}
