//! Chart axes: where a value falls on a linear or logarithmic scale, and ticks on round
//! numbers (1, 2 or 5 times a power of ten; whole decades on a log scale; seconds, minutes or
//! hours on a time axis), labelled as people read them.
//!
//! An axis knows values and labels only; drawing it is the chart's.

/// Axis maps data values onto one side of the plot, linearly or on a log scale.
pub struct Axis {
    /// The values at either end of the axis.
    pub lo: f64,
    pub hi: f64,
    /// Logarithmic (lo must be positive) rather than linear.
    pub log: bool,
    /// Where the grid lines go, in data units, and what each is labelled.
    pub ticks: Vec<(f64, String)>,
    /// The axis's title.
    pub label: String,
}

impl Axis {
    /// frac is where `v` falls between lo (0) and hi (1), clamped.
    pub fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            let v = v.max(self.lo);
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// nice_step is the round number (1, 2 or 5 times a power of ten) at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// number_text writes a tick value with as many decimals as its step needs.
fn number_text(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    };
    let s = format!("{v:.decimals$}");
    if decimals == 0 && v.abs() >= 10_000.0 {
        group(&s)
    } else {
        s
    }
}

/// group separates thousands with a thin space: 12 500.
fn group(s: &str) -> String {
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// linear_axis runs from 0 to a round number at or above `max`.
pub fn linear_axis(max: f64, label: &str) -> Axis {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    axis_with_step(max, nice_step(max / 5.0), label)
}

/// count_axis is a linear axis of whole numbers.
pub fn count_axis(max: f64, label: &str) -> Axis {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    axis_with_step(max, nice_step(max / 5.0).max(1.0), label)
}

/// axis_with_step runs from 0 to the first multiple of `step` a little above `max`.
fn axis_with_step(max: f64, step: f64, label: &str) -> Axis {
    let hi = ((max * 1.04) / step).ceil() * step;
    let n = (hi / step).round() as usize;
    let ticks = (0..=n)
        .map(|i| {
            let v = i as f64 * step;
            (v, number_text(v, step))
        })
        .collect();
    Axis {
        lo: 0.0,
        hi,
        log: false,
        ticks,
        label: label.to_string(),
    }
}

/// log_axis spans whole decades around the positive values in [min, max] (ms).
pub fn log_axis(min: f64, max: f64, label: &str) -> Axis {
    let min = if min.is_finite() && min > 0.0 {
        min.max(0.001)
    } else {
        0.001
    };
    let max = if max.is_finite() && max > min {
        max
    } else {
        min
    };
    let lo = 10f64.powf(min.log10().floor());
    let mut hi = 10f64.powf(max.log10().ceil());
    if hi <= lo * 1.0001 {
        hi = lo * 10.0;
    }
    let decades = (hi / lo).log10().round() as i32;
    let mut ticks = Vec::new();
    for k in 0..=decades {
        let v = lo * 10f64.powi(k);
        ticks.push((v, ms_tick(v)));
        if decades <= 2 && k < decades {
            for m in [2.0, 5.0] {
                ticks.push((v * m, ms_tick(v * m)));
            }
        }
    }
    Axis {
        lo,
        hi,
        log: true,
        ticks,
        label: label.to_string(),
    }
}

/// ms_tick writes a log axis's tick: whole numbers from 1 up, short decimals below.
fn ms_tick(v: f64) -> String {
    if v >= 1.0 {
        number_text(v.round(), 1.0)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// time_axis labels seconds since the start in s, min or h, whichever suits the span.
pub fn time_axis(lo: f64, hi: f64) -> Axis {
    let span = (hi - lo).max(1e-9);
    let (unit, name) = if span <= 600.0 {
        (1.0, "s")
    } else if span <= 3.0 * 3600.0 {
        (60.0, "min")
    } else {
        (3600.0, "h")
    };
    let step = nice_step(span / unit / 8.0);
    let first = (lo / unit / step).ceil() as i64;
    let last = (hi / unit / step).floor() as i64;
    let ticks = (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v * unit, number_text(v, step))
        })
        .collect();
    Axis {
        lo,
        hi,
        log: false,
        ticks,
        label: format!("time since the start of the schedule ({name})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis) -> Vec<&str> {
        a.ticks.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[test]
    fn axes_have_round_ticks() {
        let a = log_axis(0.4, 35.0, "ms");
        assert_eq!((a.lo, a.hi), (0.1, 100.0));
        let t = time_axis(0.0, 86_400.0);
        assert!(t.label.ends_with("(h)"));
        let l = linear_axis(93.0, "/s");
        assert_eq!(l.hi, 100.0);
        assert_eq!(group("1234567"), "1\u{2009}234\u{2009}567");
    }

    #[test]
    fn a_linear_axis_ticks_on_round_numbers_from_zero() {
        assert_eq!(
            labels(&linear_axis(93.0, "/s")),
            ["0", "20", "40", "60", "80", "100"]
        );
        // Thousands are grouped with a thin space.
        let big = linear_axis(45_000.0, "/s");
        assert_eq!(big.hi, 50_000.0);
        assert_eq!(labels(&big)[1], "10\u{2009}000");
        // Small ranges get decimals; counts never do.
        assert_eq!(labels(&linear_axis(0.9, "/s"))[..3], ["0.0", "0.2", "0.4"]);
        assert_eq!(labels(&count_axis(3.0, "n")), ["0", "1", "2", "3", "4"]);
    }

    #[test]
    fn an_axis_of_nothing_is_still_an_axis() {
        for a in [
            linear_axis(f64::NAN, ""),
            linear_axis(0.0, ""),
            count_axis(-1.0, ""),
            log_axis(f64::NAN, f64::INFINITY, ""),
            log_axis(0.0, 0.0, ""),
        ] {
            assert!(a.lo.is_finite() && a.hi.is_finite() && a.hi > a.lo);
            assert!(a.frac(a.lo).is_finite() && a.frac(f64::NAN) == 0.0);
        }
        // A time axis spans what it is given; one of no width puts everything at its start.
        assert_eq!(time_axis(5.0, 5.0).frac(5.0), 0.0);
    }

    #[test]
    fn a_log_axis_spans_whole_decades() {
        let wide = log_axis(0.4, 35.0, "ms");
        assert_eq!(labels(&wide), ["0.1", "1", "10", "100"]);
        // Two decades or fewer get 2 and 5 between the powers of ten.
        let narrow = log_axis(2.0, 30.0, "ms");
        assert_eq!(labels(&narrow), ["1", "2", "5", "10", "20", "50", "100"]);
        assert_eq!(narrow.frac(10.0), 0.5);
        // Zero and below sit on the bottom; above the top, on the top.
        assert_eq!((narrow.frac(0.0), narrow.frac(1e9)), (0.0, 1.0));
        assert_eq!(
            labels(&log_axis(0.0, 0.0, "ms")),
            ["0.001", "0.002", "0.005", "0.01"]
        );
    }

    #[test]
    fn a_time_axis_picks_its_unit_from_the_span() {
        let s = time_axis(0.0, 60.0);
        assert_eq!(labels(&s), ["0", "10", "20", "30", "40", "50", "60"]);
        assert!(s.label.ends_with("(s)"));
        let m = time_axis(0.0, 3_600.0);
        assert!(m.label.ends_with("(min)"));
        // Ticks are placed in seconds, labelled in the unit.
        assert_eq!(m.ticks[1], (600.0, "10".to_string()));
        assert!(time_axis(0.0, 86_400.0).label.ends_with("(h)"));
    }
}
