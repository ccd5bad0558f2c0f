//! The percentile-spectrum section: latency and service time over the whole distribution,
//! the tail stretched out (and the baseline's latency beside them), then the table of latency
//! and its parts.

use std::fmt::Write as _;

use super::compare::{Better, Fig, Kind, opt_us};
use super::{figure, ms, no_data, open_section, put};
use crate::report::chart::{Axis, Chart, Series, linear_axis, y_extent};
use crate::report::data::{ReportData, SpectrumPoint};
use crate::summary::{Percentiles, Summary};

/// spectrum_x places a percentile on the classic axis: log10(1 / (1 − q)); 100 % goes to `cap`.
fn spectrum_x(percentile: f64, cap: f64) -> f64 {
    let q = percentile / 100.0;
    if q >= 1.0 {
        return cap;
    }
    (1.0 / (1.0 - q)).log10().clamp(0.0, cap)
}

fn spectrum_points(points: &[SpectrumPoint], cap: f64) -> Vec<Option<(f64, f64)>> {
    points
        .iter()
        .map(|p| Some((spectrum_x(p.percentile, cap), ms(p.value_us))))
        .collect()
}

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    open_section(out, "spectrum");
    out.push_str("<p>The whole distribution, with the tail stretched out: each step to the right is ten times rarer. \
        <b>Latency</b> counts from the intended time; <b>service time</b> from when the request was actually sent, close to what a closed-loop tool reports. \
        The gap between the two curves is the time requests waited before being sent — the cost of coordinated omission that a closed-loop measurement would hide.</p>\n");
    let all = data
        .latency_spectrum
        .iter()
        .chain(&data.service_spectrum)
        .chain(baseline.map_or(&[][..], |b| &b.latency_spectrum[..]));
    let finite_max = all
        .filter(|p| p.percentile < 100.0)
        .map(|p| (1.0 / (1.0 - p.percentile / 100.0)).log10())
        .fold(0.0f64, f64::max);
    let cap = finite_max.ceil().clamp(5.0, 7.0);
    if data.latency_spectrum.is_empty() && data.service_spectrum.is_empty() {
        no_data(
            out,
            "no successful response was recorded, so there is no distribution to draw.",
        );
    } else {
        let mut lines = vec![
            Series::new(
                "latency (corrected)",
                0,
                2.2,
                spectrum_points(&data.latency_spectrum, cap),
            ),
            Series::new(
                "service time",
                1,
                1.8,
                spectrum_points(&data.service_spectrum, cap),
            ),
        ];
        lines[1].dash = "2 3";
        if let Some(b) = baseline.filter(|b| !b.latency_spectrum.is_empty()) {
            lines.push(Series {
                dash: "8 4",
                color: "#6e7781",
                ..Series::new(
                    "baseline latency",
                    6,
                    1.8,
                    spectrum_points(&b.latency_spectrum, cap),
                )
            });
        }
        let (_, ymax) = y_extent(&lines);
        let ticks = (0..=cap as usize)
            .map(|k| {
                let label = match k {
                    0 => "0%".to_string(),
                    1 => "90%".to_string(),
                    k => format!("99.{}%", "9".repeat(k - 2)),
                };
                (k as f64, label)
            })
            .map(|(x, l)| (x, if x == cap { format!("{l} (max)") } else { l }))
            .collect();
        let chart = Chart {
            title: "Percentile spectrum of latency and service time".into(),
            x: Axis {
                lo: 0.0,
                hi: cap,
                log: false,
                ticks,
                label: "percentile (log scale of 1 / (1 − q))".into(),
            },
            y: linear_axis(ymax, "value (ms)"),
            series: lines,
            vlines: Vec::new(),
            hlines: Vec::new(),
        };
        figure(
            out,
            &chart,
            "Successful responses of all requests. The maximum is drawn at the right edge.",
        );
    }

    out.push_str("<h3>Latency and its parts</h3>\n<div class=\"scroll\"><table><tr><th class=\"l\">figure</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th><th>count</th></tr>\n");
    let b = baseline.map(|b| &b.summary);
    type Get = fn(&Summary) -> &Percentiles;
    let rows: [(&str, Get, &str); 5] = [
        (
            "latency",
            |s| &s.latency_us,
            "intended time → response complete",
        ),
        (
            "dispatch lag",
            |s| &s.dispatch_lag_us,
            "intended time → the engine got to the arrival",
        ),
        (
            "queue wait",
            |s| &s.queue_wait_us,
            "waiting for a free connection or in-flight slot",
        ),
        (
            "connect time",
            |s| &s.connect_us,
            "opening a connection, when one had to be opened",
        ),
        (
            "service time",
            |s| &s.service_time_us,
            "request sent → response complete",
        ),
    ];
    for (label, get, what) in rows {
        let p = get(s);
        let bp = b.map(get);
        let lb = s.percentiles_are_lower_bounds && matches!(label, "latency" | "service time");
        let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds)
            && matches!(label, "latency" | "service time");
        put!(out, "<tr><td class=\"l\">{label}<small>{what}</small></td>");
        let fields: [fn(&Percentiles) -> Option<u64>; 5] =
            [|p| p.p50, |p| p.p90, |p| p.p99, |p| p.p99_9, |p| p.max];
        for f in fields {
            out.push_str(
                &Fig::new(
                    Kind::Us,
                    Better::Lower,
                    opt_us(f(p)),
                    bp.map(|bp| opt_us(f(bp))),
                )
                .bounds(lb, blb)
                .td(),
            );
        }
        out.push_str(&Fig::new(Kind::Us, Better::Lower, p.mean, bp.map(|bp| bp.mean)).td());
        put!(out, "<td>{}</td></tr>\n", p.count);
    }
    out.push_str("</table></div>\n<p class=\"note\">Latency is the sum of dispatch lag, queue wait, connect time and service time for each response; percentiles of the parts do not add up, since each is read from its own histogram.</p>\n</section>\n");
}
