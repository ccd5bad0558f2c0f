//! Lateness: how late the engine was to its own schedule, and whether that could change what
//! the run judges.
//!
//! An arrival is *late* when its dispatch lag exceeds `LAG_BOUND`; its latency then holds the
//! engine's lateness as well as the target's. That matters only where late arrivals are many
//! enough to reach a judged figure. The highest percentile a run judges (p99 at least, the
//! headline every run prints) leaves a tail of `tolerance` = 1 − q above it; an engine late on
//! fewer arrivals than that tail holds cannot, on its own, make the percentile. A run is not
//! valid when its late arrivals are too many to be chance for an engine late no more often than
//! the tolerance: the binomial chance of seeing that many or more is below `ALPHA`. So one or
//! two slow wake-ups of a virtual machine in a 20-arrival run (a chance of 18 % and 1.7 %) leave
//! it valid, while 5 % late out of 10,000 (a chance far below one in a billion) does not. Late
//! arrivals that do not make a run not valid are still counted, shown with how late the latest
//! was, and the percentiles they could reach are named.
//!
//! This module holds the arithmetic only; the summary turns it into criteria and figures.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::Hist;

/// LAG_BOUND is the dispatch lag up to which an arrival counts as on time.
pub const LAG_BOUND: Duration = Duration::from_millis(10);

/// HEADLINE is the percentile every run prints and so always judges: the tolerance is never
/// looser than the tail above it.
pub const HEADLINE: f64 = 0.99;

/// ALPHA is how unlikely the count of late arrivals must be, for an engine late on no more than
/// the tolerance, before the run is judged not valid. At one in a thousand, a run of many
/// scopes (every stage is judged apart) is rarely called not valid by chance alone, and a
/// generator late on twice the tolerance is caught once a scope has a few thousand arrivals.
pub const ALPHA: f64 = 0.001;

/// PERCENTILES are the headline percentiles that late arrivals can be said to reach, by name.
pub const PERCENTILES: [(&str, f64); 7] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("p99_99", 0.9999),
    ("max", 1.0),
];

/// Lateness counts the late arrivals of one scope: the whole run, or one stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lateness {
    /// Arrivals the engine issued (each has a dispatch lag; dropped ones have none).
    pub issued: u64,
    /// Issued arrivals whose dispatch lag exceeded `LAG_BOUND`.
    pub late: u64,
    /// Issued arrivals dispatched later than the request timeout: few as they may be, each
    /// holds more of the engine's lateness than any response the run allows.
    pub past_timeout: u64,
    /// The largest dispatch lag, in µs (0 when nothing was issued).
    pub max_lag_us: u64,
}

impl Lateness {
    /// of counts the late arrivals in a dispatch-lag histogram, with the run's request timeout.
    pub fn of(lag: &Hist, timeout: Duration) -> Lateness {
        let h = lag.histogram();
        let issued = h.len();
        let over = |bound: Duration| {
            let us = bound.as_micros().min(u64::MAX as u128) as u64;
            if us >= h.max() {
                0
            } else {
                issued - h.count_between(0, us)
            }
        };
        Lateness {
            issued,
            late: if issued == 0 { 0 } else { over(LAG_BOUND) },
            past_timeout: if issued == 0 { 0 } else { over(timeout) },
            max_lag_us: if issued == 0 { 0 } else { h.max() },
        }
    }

    /// on_time_share is the fraction of issued arrivals that were on time (1 when none were
    /// issued).
    pub fn on_time_share(&self) -> f64 {
        if self.issued == 0 {
            1.0
        } else {
            (self.issued - self.late) as f64 / self.issued as f64
        }
    }

    /// chance is how likely an engine late on a `tolerance` share of its arrivals would be late
    /// on this many or more of this many issued ones: the binomial upper tail.
    pub fn chance(&self, tolerance: f64) -> f64 {
        binomial_tail(self.issued, self.late, tolerance)
    }

    /// fell_behind says whether this many late arrivals are beyond chance at `tolerance`.
    pub fn fell_behind(&self, tolerance: f64) -> bool {
        self.chance(tolerance) < ALPHA
    }
}

/// tolerance is the share of arrivals that may be late without reaching the highest percentile
/// the run judges (`highest`, 0 when it judges none; never below the headline p99).
pub fn tolerance(highest: f64) -> f64 {
    1.0 - highest.max(HEADLINE)
}

/// reaches says whether `late` arrivals could be the whole of a histogram of `count` values
/// from its percentile `q` up: then that percentile may be the engine's lateness alone. Fewer
/// late arrivals than the values from its rank up can shift it by that many ranks, no more.
pub fn reaches(late: u64, count: u64, q: f64) -> bool {
    if late == 0 || count == 0 {
        return false;
    }
    // The histogram's rank of a quantile: at least the first value, at most the last.
    let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
    late > count - rank
}

/// touched names the headline percentiles of a histogram of `count` values that `late`
/// arrivals could reach.
pub fn touched(late: u64, count: u64) -> Vec<String> {
    PERCENTILES
        .iter()
        .filter(|(_, q)| reaches(late, count, *q))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// binomial_tail is P(X ≥ k) for X ~ Binomial(n, p), summed in log space from the term nearest
/// the mode outward, so it is exact to a few digits for any n a run can issue.
pub fn binomial_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (nf, q) = (n as f64, 1.0 - p);
    let ln_term = |j: f64| {
        libm::lgamma(nf + 1.0) - libm::lgamma(j + 1.0) - libm::lgamma(nf - j + 1.0)
            + j * p.ln()
            + (nf - j) * q.ln()
    };
    // Terms shrink away from the mode: above it sum upward from k; at or below it, sum the
    // lower tail downward from k - 1 and take the complement.
    let upper = k as f64 > nf * p;
    let mut j = if upper { k } else { k - 1 } as f64;
    let mut term = ln_term(j).exp();
    let mut sum = 0.0;
    loop {
        sum += term;
        let (next, ratio) = if upper {
            (j + 1.0, (nf - j) / (j + 1.0) * p / q)
        } else {
            (j - 1.0, j / (nf - j + 1.0) * q / p)
        };
        term *= ratio;
        if next < 0.0 || next > nf || term <= sum * 1e-17 {
            break;
        }
        j = next;
    }
    if upper {
        sum.min(1.0)
    } else {
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// chance_text writes a probability for a person: "18%", "1.7%", "1 in 2,300", "below one in a
/// billion".
pub fn chance_text(c: f64) -> String {
    if c >= 0.995 {
        "about 100%".into()
    } else if c >= 0.1 {
        format!("{:.0}%", c * 100.0)
    } else if c >= 0.01 {
        format!("{:.1}%", c * 100.0)
    } else if c >= 1e-9 {
        let n = (1.0 / c).round() as u64;
        // Two significant digits: 1 in 2,300 rather than 1 in 2,317.
        let digits = n.ilog10();
        let unit = 10u64.pow(digits.saturating_sub(1));
        format!("1 in {}", thousands((n + unit / 2) / unit * unit))
    } else {
        "below one in a billion".into()
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Judgement is the summary's account of the engine's lateness: what decided the "schedule
/// kept" criterion, and which of the headline latency percentiles late arrivals could reach.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Issued arrivals dispatched more than `on_time_bound_us` late, over the whole run.
    pub late: u64,
    /// Issued arrivals dispatched later than the request timeout.
    pub past_timeout: u64,
    /// The largest dispatch lag of the run, in µs.
    pub max_lag_us: u64,
    /// The share of arrivals that may be late: 1 − the highest percentile the run judges.
    pub tolerance: f64,
    /// How likely an engine late on `tolerance` of its arrivals would be this late this often,
    /// in the scope that came closest to not valid (`scope`).
    pub chance: f64,
    /// Below this chance the run is not valid.
    pub alpha: f64,
    /// The scope of `chance`: "SCENARIO/STAGE" for a stage (its settle time left out), null for
    /// the whole run.
    pub scope: Option<String>,
    /// Late and issued arrivals in that scope (the whole run's when `scope` is null).
    #[serde(default)]
    pub scope_late: u64,
    #[serde(default)]
    pub scope_issued: u64,
    /// Headline latency percentiles (p50 … max) that the late arrivals could reach: those may be
    /// the engine's lateness rather than the target's.
    pub percentiles_touched: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lags makes a dispatch-lag histogram from lags in µs.
    fn lags(values: &[(u64, u64)]) -> Hist {
        let mut h = Hist::default();
        for &(us, times) in values {
            for _ in 0..times {
                h.record(Duration::from_micros(us));
            }
        }
        h
    }

    const TIMEOUT: Duration = Duration::from_secs(30);

    #[test]
    fn one_late_wake_in_twenty_arrivals_is_valid_and_counted() {
        // The run: 20 arrivals at 20/s, one woken 10.5 ms late by the host.
        let l = Lateness::of(&lags(&[(180, 19), (10_500, 1)]), TIMEOUT);
        assert_eq!((l.issued, l.late, l.past_timeout), (20, 1, 0));
        assert!(!l.fell_behind(tolerance(0.95)));
        // 1 - 0.99^20: the chance a 1%-late engine is late at least once in 20.
        assert!((l.chance(0.01) - 0.1821).abs() < 1e-3, "{}", l.chance(0.01));
        // One late arrival of 20 could be the p99 (the 20th value) and the max; not the p95.
        assert_eq!(touched(l.late, 20), ["p99", "p99_9", "p99_99", "max"]);
    }

    #[test]
    fn two_late_wakes_in_twenty_arrivals_are_still_valid() {
        let l = Lateness::of(&lags(&[(200, 18), (12_000, 2)]), TIMEOUT);
        assert_eq!(l.late, 2);
        assert!(!l.fell_behind(0.01), "chance {}", l.chance(0.01));
    }

    #[test]
    fn five_percent_late_of_ten_thousand_is_not_valid() {
        let l = Lateness::of(&lags(&[(50, 9_500), (25_000, 500)]), TIMEOUT);
        assert_eq!((l.issued, l.late), (10_000, 500));
        assert!(l.fell_behind(tolerance(0.0)));
        assert!(l.chance(0.01) < 1e-100, "{}", l.chance(0.01));
    }

    #[test]
    fn a_late_share_within_the_tolerance_is_valid_however_long_the_run() {
        // 0.9% late of a million: under the 1% the tail above p99 holds.
        let l = Lateness::of(&lags(&[(50, 991_000), (11_000, 9_000)]), TIMEOUT);
        assert!(!l.fell_behind(0.01));
        // ... while 1.2% of a million is 20 standard deviations over it.
        let l = Lateness::of(&lags(&[(50, 988_000), (11_000, 12_000)]), TIMEOUT);
        assert!(l.fell_behind(0.01));
    }

    #[test]
    fn three_arrivals_past_the_timeout_are_flagged_though_the_run_is_valid() {
        let l = Lateness::of(&lags(&[(40, 9_997), (31_000_000, 3)]), TIMEOUT);
        assert_eq!((l.late, l.past_timeout), (3, 3));
        assert!(!l.fell_behind(0.01));
        assert_eq!(
            l.max_lag_us,
            Lateness::of(&lags(&[(31_000_000, 1)]), TIMEOUT).max_lag_us
        );
        assert_eq!(touched(3, 10_000), ["p99_99", "max"]);
    }

    #[test]
    fn nothing_issued_is_nothing_late() {
        let l = Lateness::of(&Hist::default(), TIMEOUT);
        assert_eq!(l, Lateness::default());
        assert_eq!(l.on_time_share(), 1.0);
        assert!(!l.fell_behind(0.01));
        assert!(touched(0, 0).is_empty());
    }

    #[test]
    fn the_tolerance_follows_the_highest_judged_percentile_but_never_passes_p99() {
        assert!((tolerance(0.0) - 0.01).abs() < 1e-12);
        assert!((tolerance(0.95) - 0.01).abs() < 1e-12);
        assert!((tolerance(0.999) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn the_binomial_tail_matches_closed_forms() {
        // P(X >= 1) = 1 - q^n; P(X >= n) = p^n; P(X >= 2) = 1 - q^n - n p q^(n-1).
        let cases: [(u64, u64, f64, f64); 5] = [
            (20, 1, 0.01, 1.0 - 0.99f64.powi(20)),
            (20, 20, 0.5, 0.5f64.powi(20)),
            (
                20,
                2,
                0.01,
                1.0 - 0.99f64.powi(20) - 20.0 * 0.01 * 0.99f64.powi(19),
            ),
            (10, 0, 0.3, 1.0),
            (10, 11, 0.3, 0.0),
        ];
        for (n, k, p, want) in cases {
            let got = binomial_tail(n, k, p);
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1e-300),
                "n {n} k {k} p {p}: {got} against {want}"
            );
        }
        // Symmetric around the mean of Binomial(1000, 0.5): P(X >= 501) = (1 - P(X = 500)) / 2.
        let at_500 = (libm::lgamma(1001.0) - 2.0 * libm::lgamma(501.0) - 1000.0 * 2f64.ln()).exp();
        let got = binomial_tail(1000, 501, 0.5);
        assert!((got - (1.0 - at_500) / 2.0).abs() < 1e-9, "{got}");
        // At or below the mean the lower tail is summed and complemented: P(X >= 1) of
        // Binomial(20, 0.5) is 1 - 0.5^20, and P(X >= 500) of Binomial(1000, 0.5) is
        // (1 + P(X = 500)) / 2.
        let got = binomial_tail(20, 1, 0.5);
        assert!((got - (1.0 - 0.5f64.powi(20))).abs() < 1e-12, "{got}");
        let got = binomial_tail(1000, 500, 0.5);
        assert!((got - (1.0 + at_500) / 2.0).abs() < 1e-9, "{got}");
        // A billion arrivals, sixty-six standard deviations late: a number, not a hang or NaN.
        let t = binomial_tail(1_000_000_000, 10_200_000, 0.01);
        assert!((0.0..1e-100).contains(&t), "{t}");
    }

    #[test]
    fn percentiles_are_reached_only_by_enough_late_arrivals() {
        // Of 10,000 values, 100 lie above rank 9,900 (the p99): 100 late arrivals cannot fill
        // ranks 9,900 … 10,000 (101 values), 101 can.
        assert!(!reaches(100, 10_000, 0.99));
        assert!(reaches(101, 10_000, 0.99));
        assert!(reaches(1, 10_000, 1.0));
        assert!(!reaches(0, 10_000, 1.0));
    }

    #[test]
    fn chances_read_as_people_say_them() {
        assert_eq!(chance_text(0.1821), "18%");
        assert_eq!(chance_text(0.0169), "1.7%");
        assert_eq!(chance_text(1.0 / 2317.0), "1 in 2,300");
        assert_eq!(chance_text(1e-30), "below one in a billion");
        assert_eq!(chance_text(1.0), "about 100%");
    }
}
