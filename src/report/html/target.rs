//! The target section, beside latency: the watched target's memory over the run (every
//! sample, thinned to at most `MAX_POINTS` for a long run), the growth windows, the fitted
//! trend and the limits, and what happened to the watch (a crash, failed reads). Only a run
//! that watched its target has it, so other reports are unchanged.

use std::fmt::Write as _;

use super::timeline::stage_marks;
use super::{esc, figure, put};
use crate::report::chart::{Chart, Series, linear_axis, time_axis, y_extent};
use crate::report::data::ReportData;
use crate::summary::Rule;
use crate::watch::{EventKind, format_bytes};

/// SECTION is the section's id and title, for the navigation.
pub(super) const SECTION: (&str, &str) = ("target", "Target memory");

/// MAX_POINTS bounds the points drawn (a day at 5 s is 17,280 samples).
const MAX_POINTS: usize = 2000;

const MIB: f64 = (1u64 << 20) as f64;

pub(super) fn section(out: &mut String, data: &ReportData) {
    let samples = &data.watch_samples;
    if samples.is_empty() {
        return;
    }
    let s = &data.summary;
    let (id, title) = SECTION;
    put!(out, "<section id=\"{id}\">\n<h2>{title}</h2>\n");
    if let Some(w) = &s.watch {
        put!(
            out,
            "<p>Memory of <b>{}</b>, sampled every {} s from the preflight to the end of the drain: {} samples",
            esc(&w.source),
            w.interval_s,
            w.samples
        );
        if let Some(m) = &w.memory_bytes {
            put!(
                out,
                ", from {} to {} (peak {})",
                format_bytes(m.first as f64),
                format_bytes(m.last as f64),
                format_bytes(m.max as f64)
            );
        }
        if let (Some(mean), Some(max)) = (w.cpu_mean, w.cpu_max) {
            put!(
                out,
                "; CPU {:.0} % of a core on average, {:.0} % at most",
                mean * 100.0,
                max * 100.0
            );
        }
        out.push_str(".</p>\n");
        let events: Vec<_> = (w.events.iter())
            .filter(|e| e.kind != EventKind::Recovered)
            .collect();
        if !events.is_empty() {
            out.push_str("<ul class=\"why\">");
            for e in events.iter().take(10) {
                let (class, word) = match e.kind {
                    EventKind::Gone => ("fail", "gone"),
                    _ => ("warn", "read failed"),
                };
                put!(
                    out,
                    "<li class=\"{class}\"><b>{word}</b> at {} ({:.1} s into the run): {}</li>",
                    esc(&e.at),
                    e.t,
                    esc(&e.detail)
                );
            }
            out.push_str("</ul>\n");
            if w.event_count > 10 {
                put!(
                    out,
                    "<p class=\"note\">and {} more events (see the JSON summary).</p>\n",
                    w.event_count - 10
                );
            }
        }
    }
    let step = samples.len().div_ceil(MAX_POINTS).max(1);
    let points: Vec<Option<(f64, f64)>> = (samples.iter().step_by(step))
        .chain(samples.last().filter(|_| step > 1))
        .map(|p| Some((p.t, p.memory as f64 / MIB)))
        .collect();
    let mut lines = vec![Series::new("memory (MiB)", 0, 2.0, points)];
    let mut hlines = Vec::new();
    if let Some(w) = &s.watch {
        for (k, win) in [&w.first_window, &w.last_window].into_iter().enumerate() {
            if let Some(win) = win {
                lines.push(Series {
                    dash: "",
                    ..Series::new(
                        if k == 0 {
                            "first window mean"
                        } else {
                            "last window mean"
                        },
                        2 + k,
                        3.0,
                        vec![
                            Some((win.from_s, win.mean_bytes / MIB)),
                            Some((win.to_s.max(win.from_s), win.mean_bytes / MIB)),
                        ],
                    )
                });
            }
        }
        if let Some(t) = &w.trend {
            lines.push(Series {
                dash: "7 4",
                ..Series::new(
                    "fitted trend (Theil–Sen)",
                    1,
                    1.6,
                    vec![
                        Some((t.from_s, t.from_bytes / MIB)),
                        Some((t.to_s, t.to_bytes / MIB)),
                    ],
                )
            });
        }
    }
    for c in &s.criteria {
        match &c.rule {
            Some(Rule::MemoryGrowth {
                first_mean_bytes: Some(first),
                max_growth,
                ..
            }) => hlines.push((
                first * (1.0 + max_growth) / MIB,
                format!("growth limit +{:.0} %", max_growth * 100.0),
            )),
            Some(Rule::MaxMemory { max_bytes, .. }) => hlines.push((
                *max_bytes as f64 / MIB,
                format!("max_memory {}", format_bytes(*max_bytes as f64)),
            )),
            _ => {}
        }
    }
    let lo = samples.first().map_or(0.0, |p| p.t).min(0.0);
    let hi = samples.last().map_or(1.0, |p| p.t).max(lo + 1e-3);
    let (_, ymax) = y_extent(&lines);
    let ymax = hlines.iter().map(|h| h.0).fold(ymax, f64::max);
    let chart = Chart {
        title: "Target memory over time".into(),
        x: time_axis(lo, hi),
        y: linear_axis(ymax * 1.05, "memory (MiB)"),
        series: lines,
        vlines: stage_marks(s, false),
        hlines,
    };
    figure(
        out,
        &chart,
        "One point per sample (thinned evenly for long runs); time 0 is the schedule's start, so the preflight's samples lie before it. Flat bars: the mean of the first and the last window the growth criterion compares; dashed: the fitted trend; horizontal lines: the limits.",
    );
    out.push_str("</section>\n");
}
