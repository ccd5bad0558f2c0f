//! Charts as inline SVG: linear, logarithmic and time axes with ticks on round numbers, series
//! of points drawn as paths (a gap where a point is missing), stage markers and reference lines,
//! a legend, in colours that colour-blind readers tell apart, each doubled by a dash pattern so
//! that a chart still reads in black and white.
//!
//! This module owns the drawing only: it knows nothing of a run, its summary or the engine, and
//! takes its points in data units, so the HTML report and a live page draw the same charts from
//! whatever they hold. The SVG it writes is self-contained and parses as XML (no script, no font,
//! nothing fetched).

mod axis;

use std::fmt::Write as _;

pub use axis::{Axis, count_axis, linear_axis, log_axis, time_axis};

/// put writes formatted text to a String (writing to a String cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}
pub(crate) use put;

/// esc escapes text for XML, and so for HTML too (the SVGs must parse as XML).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Chart area in viewBox units; the SVG scales to the page width.
const W: f64 = 960.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 22.0;
const PLOT_H: f64 = 250.0;
const BOTTOM: f64 = 46.0;
const FONT: f64 = 12.0;

/// Okabe–Ito colours (distinct for colour-blind readers), each series also has a dash pattern.
const COLORS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
const DASHES: [&str; 7] = ["", "7 4", "2 3", "10 3 2 3", "4 2", "1 2", "12 4"];

/// Series is one line of a chart.
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// Stroke colour and dash pattern ("" for a solid line).
    pub color: &'static str,
    pub dash: &'static str,
    /// Stroke width in viewBox units.
    pub width: f64,
    /// Points in data units; None breaks the line (a gap).
    pub points: Vec<Option<(f64, f64)>>,
}

impl Series {
    /// new is the `i`th series of a chart, in the `i`th colour and dash pattern.
    pub fn new(label: &str, i: usize, width: f64, points: Vec<Option<(f64, f64)>>) -> Series {
        Series {
            label: label.to_string(),
            color: COLORS[i % COLORS.len()],
            dash: DASHES[i % DASHES.len()],
            width,
            points,
        }
    }
}

/// Chart is everything one SVG shows.
pub struct Chart {
    /// Read by screen readers and shown as a tooltip.
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// Drawn in order, so the last is on top.
    pub series: Vec<Series>,
    /// Vertical markers (stage boundaries) at x, with their label ("" for none).
    pub vlines: Vec<(f64, String)>,
    /// Horizontal reference lines at y, with their label.
    pub hlines: Vec<(f64, String)>,
}

/// text_w estimates the width of a label (no font metrics offline; errs wide).
fn text_w(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// HALO keeps a label readable where it crosses a line.
const HALO: &str = "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\"";

/// LABEL_ROWS is how many rows stage labels may stack in before the rest go unlabelled.
const LABEL_ROWS: usize = 4;

impl Chart {
    /// svg draws the chart: legend rows on top, then stage labels stacked so that none
    /// overlaps another, then the plot with its grid, markers, reference lines and series.
    pub fn svg(&self) -> String {
        let c = self;
        let pw = W - LEFT - RIGHT;
        // Legend items, laid out in rows above the plot.
        let mut legend = Vec::new();
        let (mut lx, mut row) = (LEFT, 0usize);
        for (i, s) in c.series.iter().enumerate() {
            let w = 30.0 + text_w(&s.label, FONT) + 18.0;
            if lx + w > W - RIGHT && lx > LEFT {
                row += 1;
                lx = LEFT;
            }
            legend.push((lx, row, i));
            lx += w;
        }
        let legend_rows = if c.series.is_empty() { 0 } else { row + 1 };
        // Vertical markers: labels stacked in rows so that none overlaps another.
        let xpx = |v: f64| LEFT + c.x.frac(v) * pw;
        let mut row_ends: Vec<f64> = Vec::new();
        // Each marker: its x in pixels and, when labelled, (label start, row, text).
        type Mark<'a> = (f64, Option<(f64, usize, &'a str)>);
        let mut marks: Vec<Mark> = Vec::new();
        for (x, label) in &c.vlines {
            if *x < c.x.lo || *x > c.x.hi {
                continue;
            }
            let px = xpx(*x);
            if label.is_empty() {
                marks.push((px, None));
                continue;
            }
            let w = text_w(label, 11.0);
            let start = (px + 3.0).min(W - 2.0 - w);
            let slot = row_ends.iter().position(|&end| end + 6.0 <= start);
            let slot = match slot {
                Some(r) => Some(r),
                None if row_ends.len() < LABEL_ROWS => {
                    row_ends.push(f64::NEG_INFINITY);
                    Some(row_ends.len() - 1)
                }
                None => None,
            };
            match slot {
                Some(r) => {
                    row_ends[r] = start + w;
                    marks.push((px, Some((start, r, label.as_str()))));
                }
                None => marks.push((px, None)),
            }
        }
        let label_rows = row_ends.len() as f64;
        let top = 8.0 + legend_rows as f64 * 18.0 + label_rows * 14.0 + 8.0;
        let bottom = top + PLOT_H;
        let h = bottom + BOTTOM;
        let ypx = |v: f64| bottom - c.y.frac(v) * PLOT_H;

        let mut o = String::with_capacity(4096);
        put!(
            o,
            "<svg class=\"chart\" viewBox=\"0 0 {W} {h:.0}\" role=\"img\" aria-label=\"{}\" font-size=\"{FONT}\" fill=\"#1f2328\">",
            esc(&c.title)
        );
        put!(o, "<title>{}</title>", esc(&c.title));
        // Grid and ticks.
        o.push_str("<g stroke=\"#e3e7eb\" stroke-width=\"1\">");
        for (v, _) in &c.y.ticks {
            let y = ypx(*v);
            put!(
                o,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>",
                W - RIGHT
            );
        }
        for (v, _) in &c.x.ticks {
            let x = xpx(*v);
            put!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>"
            );
        }
        o.push_str("</g>");
        put!(
            o,
            "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{pw:.1}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#8c959f\"/>"
        );
        o.push_str("<g text-anchor=\"end\" fill=\"#424a53\">");
        for (v, label) in &c.y.ticks {
            put!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                LEFT - 6.0,
                ypx(*v) + 4.0,
                esc(label)
            );
        }
        o.push_str("</g><g text-anchor=\"middle\" fill=\"#424a53\">");
        for (v, label) in &c.x.ticks {
            let half = text_w(label, FONT) / 2.0;
            let x = xpx(*v).clamp(half + 2.0, W - half - 2.0);
            put!(
                o,
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                bottom + 16.0,
                esc(label)
            );
        }
        o.push_str("</g>");
        put!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"600\">{}</text>",
            LEFT + pw / 2.0,
            bottom + 38.0,
            esc(&c.x.label)
        );
        let ymid = top + PLOT_H / 2.0;
        put!(
            o,
            "<text x=\"16\" y=\"{ymid:.1}\" transform=\"rotate(-90 16 {ymid:.1})\" text-anchor=\"middle\" font-weight=\"600\">{}</text>",
            esc(&c.y.label)
        );
        // Stage boundaries.
        if !marks.is_empty() {
            o.push_str("<g stroke=\"#6e7781\" stroke-width=\"1\" stroke-dasharray=\"3 3\">");
            for (px, label) in &marks {
                let y1 = match label {
                    Some((_, r, _)) => top - 6.0 - (label_rows - 1.0 - *r as f64) * 14.0 - 9.0,
                    None => top,
                };
                put!(
                    o,
                    "<line x1=\"{px:.1}\" y1=\"{y1:.1}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\"/>"
                );
            }
            put!(o, "</g><g font-size=\"11\" fill=\"#424a53\" {HALO}>");
            for (_, label) in &marks {
                if let Some((start, r, text)) = label {
                    put!(
                        o,
                        "<text x=\"{start:.1}\" y=\"{:.1}\">{}</text>",
                        top - 6.0 - (label_rows - 1.0 - *r as f64) * 14.0,
                        esc(text)
                    );
                }
            }
            o.push_str("</g>");
        }
        // Reference lines; their labels go on top of the series.
        let mut labels = String::new();
        for (v, label) in &c.hlines {
            if *v < c.y.lo || *v > c.y.hi {
                continue;
            }
            let y = ypx(*v);
            put!(
                o,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"8 3 2 3\"/>",
                W - RIGHT
            );
            put!(
                labels,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#cf222e\" {HALO}>{}</text>",
                LEFT + 6.0,
                y - 4.0,
                esc(label)
            );
        }
        // Series: one path each.
        for s in &c.series {
            let d = path_d(&s.points, &xpx, &ypx);
            if d.is_empty() {
                continue;
            }
            put!(
                o,
                "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}/>",
                s.color,
                s.width,
                dash_attr(s.dash)
            );
        }
        o.push_str(&labels);
        // Legend.
        for (x, r, i) in legend {
            let s = &c.series[i];
            let y = 8.0 + r as f64 * 18.0 + 8.0;
            put!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
                x + 24.0,
                s.color,
                s.width.max(2.0),
                dash_attr(s.dash)
            );
            put!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 30.0,
                y + 4.0,
                esc(&s.label)
            );
        }
        o.push_str("</svg>");
        o
    }
}

fn dash_attr(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dash}\"")
    }
}

/// path_d draws a series as one path: runs of points are joined; a lone point between gaps
/// becomes a short tick so that it still shows.
fn path_d(
    points: &[Option<(f64, f64)>],
    xpx: &dyn Fn(f64) -> f64,
    ypx: &dyn Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |d: &mut String, run: &mut Vec<(f64, f64)>| {
        match run.len() {
            0 => {}
            1 => {
                let (x, y) = run[0];
                put!(d, "M{:.1} {y:.1}h6", x - 3.0);
            }
            _ => {
                for (i, (x, y)) in run.iter().enumerate() {
                    match i {
                        0 => put!(d, "M{x:.1} {y:.1}"),
                        1 => put!(d, "L{x:.1} {y:.1}"),
                        _ => put!(d, " {x:.1} {y:.1}"),
                    };
                }
            }
        }
        run.clear();
    };
    for p in points {
        match p {
            Some((x, y)) if x.is_finite() && y.is_finite() => run.push((xpx(*x), ypx(*y))),
            _ => flush(&mut d, &mut run),
        }
    }
    flush(&mut d, &mut run);
    d
}

/// y_extent is the smallest positive and the largest y of the series.
pub fn y_extent(series: &[Series]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi: f64 = 0.0;
    for (_, y) in series.iter().flat_map(|s| s.points.iter().flatten()) {
        if *y > 0.0 {
            lo = lo.min(*y);
        }
        hi = hi.max(*y);
    }
    (lo, hi)
}

/// has_points says whether any series has a point to draw.
pub fn has_points(series: &[Series]) -> bool {
    series.iter().any(|s| s.points.iter().any(Option::is_some))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_joins_runs_breaks_at_gaps_and_marks_a_lone_point() {
        let same = |v: f64| v;
        let points = [
            Some((0.0, 0.0)),
            Some((1.0, 1.0)),
            Some((2.0, 4.0)),
            None,
            Some((5.0, 5.0)),
            Some((f64::NAN, 1.0)),
            Some((7.0, 7.0)),
            Some((8.0, f64::INFINITY)),
        ];
        assert_eq!(
            path_d(&points, &same, &same),
            "M0.0 0.0L1.0 1.0 2.0 4.0M2.0 5.0h6M4.0 7.0h6"
        );
        assert_eq!(path_d(&[None, None], &same, &same), "");
    }

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            title: "a <b> & \"c\"".into(),
            x: time_axis(0.0, 10.0),
            y: linear_axis(y_extent(&series).1, "/s"),
            series,
            vlines: vec![(0.0, "ramp".into()), (5.0, "peak & hold".into())],
            hlines: vec![(3.0, "bound".into())],
        }
    }

    #[test]
    fn a_chart_is_xml_with_one_path_per_series_that_has_points() {
        let series = vec![
            Series::new(
                "rate",
                0,
                2.0,
                (0..10).map(|i| Some((i as f64, 2.0))).collect(),
            ),
            Series::new("empty", 1, 1.0, vec![None, None]),
        ];
        assert!(has_points(&series));
        let svg = chart(series).svg();
        let doc = roxmltree::Document::parse(&svg).expect("the SVG parses as XML");
        let paths = doc.descendants().filter(|n| n.has_tag_name("path")).count();
        assert_eq!(paths, 1);
        assert!(svg.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(svg.contains(">peak &amp; hold</text>"));
        // Both series have a legend entry; the second is dashed.
        assert!(svg.contains(">empty</text>") && svg.contains("stroke-dasharray=\"7 4\""));
    }

    #[test]
    fn a_chart_without_points_draws_axes_and_no_number_that_is_not_one() {
        let series = vec![Series::new(
            "nothing",
            0,
            1.0,
            vec![None, Some((f64::NAN, 1.0))],
        )];
        assert_eq!(y_extent(&[]), (f64::INFINITY, 0.0));
        for c in [chart(Vec::new()), chart(series)] {
            let svg = c.svg();
            roxmltree::Document::parse(&svg).expect("the SVG parses as XML");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(!svg.contains("<path"));
        }
    }
}
