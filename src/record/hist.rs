//! Hist: the HDR histogram every figure is kept in (µs, 3 significant digits, 1 µs … 1 h).

use std::time::Duration;

use hdrhistogram::Histogram;

/// MAX_US is the largest value a histogram holds (1 h in µs); larger values are clamped to it
/// and counted in `Recording::clamped`.
pub const MAX_US: u64 = 3_600_000_000;

/// Hist is an HDR histogram of microseconds, 3 significant digits, clamped at `MAX_US`. One
/// that was never recorded into holds no memory (a recording's spare and unused cells).
#[derive(Debug, Clone, Default)]
pub struct Hist(Option<Histogram<u64>>);

/// EMPTY is what an unused histogram reads as.
static EMPTY: std::sync::LazyLock<Histogram<u64>> = std::sync::LazyLock::new(growing);

/// growing is an empty histogram that grows as far as its values reach.
fn growing() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

impl From<Histogram<u64>> for Hist {
    /// from wraps a histogram read back from a file; it auto-resizes like any other.
    fn from(mut h: Histogram<u64>) -> Hist {
        h.auto(true);
        Hist(Some(h))
    }
}

impl Hist {
    /// full makes a histogram sized for the whole 1 µs … 1 h range up front (about 190 KB), so
    /// it never grows: memory stays flat however rare the slow value that arrives.
    pub fn full() -> Hist {
        let mut h =
            Histogram::new_with_bounds(1, MAX_US, 3).expect("1 µs … 1 h at 3 digits is valid");
        h.auto(true);
        Hist(Some(h))
    }

    /// record adds one duration; it returns true when the value had to be clamped.
    pub fn record(&mut self, d: Duration) -> bool {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let clamped = us > MAX_US;
        self.0
            .get_or_insert_with(growing)
            .record(us.min(MAX_US))
            .expect("auto-resizing histogram accepts values up to MAX_US");
        clamped
    }

    /// merge adds every value of `other`.
    pub fn merge(&mut self, other: &Hist) {
        let Some(o) = other.0.as_ref().filter(|o| !o.is_empty()) else {
            return;
        };
        match &mut self.0 {
            Some(h) => h.add(o).expect("auto-resizing histogram accepts any other"),
            None => self.0 = Some(o.clone()),
        }
    }

    /// histogram is the underlying HdrHistogram, for reading percentiles.
    pub fn histogram(&self) -> &Histogram<u64> {
        self.0.as_ref().unwrap_or(&EMPTY)
    }

    /// count is the number of values recorded.
    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// reset empties the histogram, keeping its memory.
    pub fn reset(&mut self) {
        if let Some(h) = &mut self.0 {
            h.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_a_recordable_value() {
        let mut h = Hist::default();
        h.record(Duration::ZERO);
        assert_eq!(h.count(), 1);
        assert_eq!(h.histogram().value_at_quantile(0.5), 0);
    }
}
