//! The run's timeline as chart material: bucket midpoints and widths, the time range, stage
//! boundaries as markers, and percentile series drawn from the buckets' quantiles.

use std::collections::BTreeMap;

use super::ms;
use crate::report::chart::Series;
use crate::report::data::{Bucket, Quantiles};
use crate::summary::Summary;

pub(super) fn mid(b: &Bucket) -> f64 {
    (b.start_s + b.end_s) / 2.0
}

pub(super) fn span(b: &Bucket) -> f64 {
    let d = b.end_s - b.start_s;
    if d > 0.0 { d } else { 1.0 }
}

/// time_range is the timeline's extent in seconds.
pub(super) fn time_range(buckets: &[Bucket]) -> Option<(f64, f64)> {
    let lo = buckets.first()?.start_s;
    let hi = buckets
        .iter()
        .map(|b| b.end_s)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(lo);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    Some((lo, hi))
}

/// stage_marks are the stage boundaries, one per distinct start time (scenarios often share
/// them), labelled with the names of the stages that start there, and the schedule's end.
pub(super) fn stage_marks(s: &Summary, labelled: bool) -> Vec<(f64, String)> {
    let mut starts: BTreeMap<i64, (f64, Vec<String>)> = BTreeMap::new();
    let mut end: f64 = 0.0;
    for st in &s.by_stage {
        let key = (st.start_s * 1e6).round() as i64;
        let e = starts.entry(key).or_insert((st.start_s, Vec::new()));
        if !e.1.contains(&st.name) {
            e.1.push(st.name.clone());
        }
        end = end.max(st.start_s + st.duration_s);
    }
    let mut out: Vec<(f64, String)> = starts
        .into_values()
        .map(|(x, names)| {
            (
                x,
                if labelled {
                    names.join(" / ")
                } else {
                    String::new()
                },
            )
        })
        .collect();
    if end > 0.0 && !out.iter().any(|(x, _)| (x - end).abs() < 1e-6) {
        out.push((
            end,
            if labelled {
                "end".into()
            } else {
                String::new()
            },
        ));
    }
    out
}

/// QuantileOf picks one percentile of a bucket's quantiles.
pub(super) type QuantileOf = fn(&Quantiles) -> Option<u64>;

pub(super) fn quantile_series(
    buckets: &[Bucket],
    pick: impl Fn(&Bucket) -> &Quantiles,
    which: &[(&str, QuantileOf)],
    first: usize,
) -> Vec<Series> {
    which
        .iter()
        .enumerate()
        .map(|(i, (label, get))| {
            let width = if *label == "max" { 1.2 } else { 1.8 };
            Series::new(
                label,
                first + i,
                width,
                buckets
                    .iter()
                    .map(|b| get(pick(b)).map(|v| (mid(b), ms(v))))
                    .collect(),
            )
        })
        .collect()
}
