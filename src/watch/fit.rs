//! A robust linear trend: the Theil–Sen estimator (the median of the slopes between every pair
//! of points) over at most `MAX_POINTS` samples taken evenly from the run, with Sen's 95 %
//! interval for the slope. A single spike or a garbage-collection dip moves it little, unlike a
//! least-squares line.

/// MAX_POINTS bounds the fit: its pairs grow as the square of the points (200 → 19,900).
pub const MAX_POINTS: usize = 200;

/// Fit is a line through (time s, bytes) points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Bytes per second: the median pairwise slope.
    pub slope: f64,
    /// Sen's 95 % interval for the slope.
    pub low: f64,
    pub high: f64,
    /// The line's value at t = 0.
    pub intercept: f64,
    /// How many points it was fitted to.
    pub points: usize,
}

impl Fit {
    /// at is the line's value at time `t`.
    pub fn at(&self, t: f64) -> f64 {
        self.intercept + self.slope * t
    }
}

/// subsample takes at most `MAX_POINTS` of `points`, evenly by index, the first and last kept.
pub fn subsample(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= MAX_POINTS {
        return points.to_vec();
    }
    (0..MAX_POINTS)
        .map(|i| points[i * (n - 1) / (MAX_POINTS - 1)])
        .collect()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// theil_sen fits a line to `points` (subsampled to `MAX_POINTS`); None with fewer than 3
/// points or no two at different times.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Fit> {
    let p = subsample(points);
    let n = p.len();
    if n < 3 {
        return None;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = p[j].0 - p[i].0;
            if dx > 0.0 {
                slopes.push((p[j].1 - p[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = median(&slopes);
    // Sen (1968): the interval's ranks from the variance of Kendall's S.
    let nf = n as f64;
    let c = 1.96 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let m = slopes.len() as f64;
    let rank = |r: f64| (r.max(0.0) as usize).min(slopes.len() - 1);
    let low = slopes[rank(((m - c) / 2.0).floor())];
    let high = slopes[rank(((m + c) / 2.0).ceil())];
    let mut residuals: Vec<f64> = p.iter().map(|(x, y)| y - slope * x).collect();
    residuals.sort_by(f64::total_cmp);
    Some(Fit {
        slope,
        low,
        high,
        intercept: median(&residuals),
        points: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_outliers_keeps_its_slope() {
        let mut points: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, 1000.0 + 5.0 * i as f64))
            .collect();
        points[10].1 = 1e9;
        points[50].1 = 0.0;
        let f = theil_sen(&points).unwrap();
        assert!((f.slope - 5.0).abs() < 1e-9, "{f:?}");
        assert!(f.low <= 5.0 && f.high >= 5.0);
        assert!((f.at(0.0) - 1000.0).abs() < 1e-6);
        let flat: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 7.0)).collect();
        let f = theil_sen(&flat).unwrap();
        assert_eq!(
            (f.slope, f.low, f.high, f.points),
            (0.0, 0.0, 0.0, MAX_POINTS)
        );
        assert!(theil_sen(&flat[..2]).is_none());
    }
}
