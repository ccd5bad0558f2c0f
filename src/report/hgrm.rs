//! The classic HdrHistogram percentile-distribution text (`.hgrm`), as Java's
//! `AbstractHistogram.outputPercentileDistribution(printStream, 5, unitRatio)` prints it, so the
//! file opens in HdrHistogram's plotter and in tools that read that format.
//!
//! ```text
//!        Value     Percentile TotalCount 1/(1-Percentile)
//!
//!       25.000 0.000000000000          1           1.00
//!       …
//!       75.000 0.700000000000          3           3.33
//!       75.000 1.000000000000          3
//! #[Mean    =       50.000, StdDeviation   =       20.412]
//! #[Max     =       75.000, Total count    =            3]
//! #[Buckets =           43, SubBuckets     =         2048]
//! ```
//!
//! Rows are `%12.Nf %2.12f %10d %14.2f` with N the histogram's significant digits (3 for
//! metronome's); the row at percentile 1.0 has no `1/(1-Percentile)` column, as in Java (C's
//! `hdr_percentiles_print` and wrk2 print `inf` there instead). Values and the mean, standard
//! deviation and max are divided by the unit ratio. Java rounds ties in the last printed digit
//! half up where Rust rounds them to even, and iterates percentiles in percent rather than as
//! fractions: deep in the tail a printed digit can differ by one from Java's.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// TICKS_PER_HALF_DISTANCE is the number of rows per halving of the distance to 100 %, the
/// default of Java's `outputPercentileDistribution`.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// sub_bucket_count is the histogram's sub-buckets per bucket, as HdrHistogram derives it from
/// the significant digits (the crate keeps it private).
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest = 2.0 * 10f64.powi(i32::from(sigfig));
    1u64 << (largest.log2().ceil() as u32)
}

/// write_hgrm writes the classic HdrHistogram percentile-distribution text (as Java's
/// outputPercentileDistribution with 5 ticks per half distance), values divided by
/// `unit_ratio` (1000.0 writes µs recordings as ms).
pub fn write_hgrm(h: &Histogram<u64>, unit_ratio: f64, w: &mut impl Write) -> io::Result<()> {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    out.push_str(&format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    ));
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / unit_ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                out.push_str(&format!(
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}\n",
                    1.0 / (1.0 - q)
                ));
            } else {
                out.push_str(&format!("{value:12.digits$} {q:2.12} {total:10}\n"));
            }
        }
    }
    out.push_str(&format!(
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]\n",
        h.mean() / unit_ratio,
        h.stdev() / unit_ratio
    ));
    out.push_str(&format!(
        "#[Max     = {:12.digits$}, Total count    = {:12}]\n",
        h.max() as f64 / unit_ratio,
        h.len()
    ));
    out.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    ));
    w.write_all(out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(h: &Histogram<u64>, ratio: f64) -> String {
        let mut out = Vec::new();
        write_hgrm(h, ratio, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The output Java's HdrHistogram prints for 25, 50, 75 in a histogram of 1 … 2^53 − 1 at
    /// 3 significant digits (HdrHistogramJS checks its port against the same text).
    #[test]
    fn matches_java_reference() {
        let mut h = Histogram::<u64>::new_with_bounds(1, (1 << 53) - 1, 3).unwrap();
        for v in [25, 50, 75] {
            h.record(v).unwrap();
        }
        let expected = "       Value     Percentile TotalCount 1/(1-Percentile)

      25.000 0.000000000000          1           1.00
      25.000 0.100000000000          1           1.11
      25.000 0.200000000000          1           1.25
      25.000 0.300000000000          1           1.43
      50.000 0.400000000000          2           1.67
      50.000 0.500000000000          2           2.00
      50.000 0.550000000000          2           2.22
      50.000 0.600000000000          2           2.50
      50.000 0.650000000000          2           2.86
      75.000 0.700000000000          3           3.33
      75.000 1.000000000000          3
#[Mean    =       50.000, StdDeviation   =       20.412]
#[Max     =       75.000, Total count    =            3]
#[Buckets =           43, SubBuckets     =         2048]
";
        assert_eq!(text(&h, 1.0), expected);
    }

    fn latency_histogram() -> Histogram<u64> {
        // Like metronome's: auto-resizing, 3 significant digits, values in µs.
        let mut h = Histogram::<u64>::new(3).unwrap();
        for i in 1..=10_000u64 {
            h.record(500 + i * 37 % 20_000).unwrap();
        }
        h.record(2_500_000).unwrap();
        h
    }

    #[test]
    fn rows_are_monotone_and_end_at_one() {
        let h = latency_histogram();
        let t = text(&h, 1000.0);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        let rows: Vec<Vec<&str>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(rows.len() > 20);
        let mut last = (0.0f64, -1.0f64, 0u64);
        for r in &rows {
            let (v, q, n): (f64, f64, u64) = (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
            );
            assert!(
                v >= last.0 && q > last.1 && n >= last.2,
                "{r:?} after {last:?}"
            );
            last = (v, q, n);
        }
        let end = rows.last().unwrap();
        assert_eq!(
            end.len(),
            3,
            "the last row has no 1/(1-Percentile): {end:?}"
        );
        assert_eq!(end[1], "1.000000000000");
        assert_eq!(end[2], h.len().to_string());
        assert!(rows[..rows.len() - 1].iter().all(|r| r.len() == 4));
        // Fixed widths: value 12, percentile 14, count 10, 1/(1-p) 14, single spaces between.
        for l in &lines[2..2 + rows.len() - 1] {
            assert_eq!(l.len(), 12 + 1 + 14 + 1 + 10 + 1 + 14, "{l:?}");
        }
    }

    #[test]
    fn values_are_scaled_by_the_unit_ratio() {
        let h = latency_histogram();
        let us = text(&h, 1.0);
        let ms = text(&h, 1000.0);
        let first = |t: &str| -> f64 {
            t.lines()
                .nth(2)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!((first(&us) / 1000.0 - first(&ms)).abs() < 1e-3);
        let max_line = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("#[Max"))
                .unwrap()
                .to_string()
        };
        assert_eq!(
            max_line(&ms),
            format!(
                "#[Max     = {:12.3}, Total count    = {:12}]",
                h.max() as f64 / 1000.0,
                h.len()
            )
        );
        assert!(max_line(&ms).contains("2500.607"), "{}", max_line(&ms));
        let mean_line = ms.lines().find(|l| l.starts_with("#[Mean")).unwrap();
        assert_eq!(
            mean_line,
            format!(
                "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
                h.mean() / 1000.0,
                h.stdev() / 1000.0
            )
        );
        let buckets = ms.lines().last().unwrap();
        assert_eq!(
            buckets,
            format!(
                "#[Buckets = {:12}, SubBuckets     = {:12}]",
                h.buckets(),
                2048
            )
        );
    }

    #[test]
    fn empty_histogram_has_header_and_footer_only() {
        let h = Histogram::<u64>::new(3).unwrap();
        let t = text(&h, 1000.0);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert_eq!(
            lines[2],
            "#[Mean    =        0.000, StdDeviation   =        0.000]"
        );
        assert_eq!(
            lines[3],
            "#[Max     =        0.000, Total count    =            0]"
        );
    }

    #[test]
    fn sub_buckets_follow_significant_digits() {
        assert_eq!(sub_bucket_count(1), 32);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(5), 262_144);
    }
}
