//! Deterministic draws from (seed, stream, arrival index).
//!
//! Every random choice metronome makes about an arrival (its Poisson gap, which request of the
//! mix it becomes, template values) is a pure function of the run's seed and the arrival's index,
//! so the same seed gives the same run whatever the number of worker threads or shards. This
//! module owns only that hashing; it knows nothing of schedules or requests. The demo target
//! draws its jitter and errors with the same mixer over a counter ([`GAMMA`], [`mix64`]).

/// Stream identifies what a draw is for, so that two uses of one arrival index never share values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The exponential gap before a Poisson arrival.
    PoissonGap,
    /// Which request of a scenario's mix an arrival becomes.
    Mix,
    /// Values for a request's template variables.
    Template,
}

/// GAMMA is splitmix64's increment: a generator whose state advances by it and is then mixed
/// ([`mix64`] adds it once more first) is splitmix64.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// mix64 is splitmix64's finaliser: a bijective mixer whose output passes BigCrush when fed a
/// counter.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// bits returns 64 well-mixed bits for (seed, stream, lane, index); `lane` separates scenarios.
pub fn bits(seed: u64, stream: Stream, lane: u64, index: u64) -> u64 {
    let s = mix64(seed ^ mix64((stream as u64) << 32 ^ lane));
    mix64(s ^ mix64(index))
}

/// unit returns a value uniform in [0, 1) for (seed, stream, lane, index).
pub fn unit(seed: u64, stream: Stream, lane: u64, index: u64) -> f64 {
    fraction(bits(seed, stream, lane, index))
}

/// fraction maps 64 random bits to a value uniform in [0, 1).
pub fn fraction(bits: u64) -> f64 {
    // 53 bits: exactly the precision of an f64 mantissa.
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_value_and_streams_differ() {
        assert_eq!(unit(7, Stream::Mix, 0, 42), unit(7, Stream::Mix, 0, 42));
        assert_ne!(
            unit(7, Stream::Mix, 0, 42),
            unit(7, Stream::PoissonGap, 0, 42)
        );
        assert_ne!(unit(7, Stream::Mix, 0, 42), unit(7, Stream::Mix, 1, 42));
        assert_ne!(unit(7, Stream::Mix, 0, 42), unit(8, Stream::Mix, 0, 42));
    }

    #[test]
    fn unit_is_uniform_enough() {
        // 100,000 draws into 10 bins: each bin expects 10,000 with sd ~95; 5 sd is 475.
        let mut bins = [0u32; 10];
        for i in 0..100_000 {
            let u = unit(1, Stream::Mix, 0, i);
            assert!((0.0..1.0).contains(&u));
            bins[(u * 10.0) as usize] += 1;
        }
        for b in bins {
            assert!((9_525..=10_475).contains(&b), "bins {bins:?}");
        }
    }
}
