//! The schedule: when each arrival of a scenario should be sent.
//!
//! A schedule is a pure function of a scenario's stages, its arrival process and the seed. It
//! knows no clock and nothing of the target: intended times are offsets from the run's start.
//! Evenly spaced arrivals sit where the cumulative arrival count Λ(t) crosses each integer;
//! Poisson arrivals invert Λ at sums of exponential draws, so a ramp from zero still spikes.
//! Ramps are integrated in closed form, so no fractional arrival is lost at a stage boundary.

use std::time::Duration;

use crate::draw::{self, Stream};

/// ArrivalProcess says how arrivals are spaced within the rate the stages set. The `value(help)`
/// is each process's line in `run --help` (`--arrivals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalProcess {
    /// Evenly spaced: arrival i at Λ⁻¹(i).
    #[default]
    #[value(help = "Evenly spaced arrivals")]
    Uniform,
    /// Memoryless: arrival i at Λ⁻¹(E₁ + … + Eᵢ₊₁) with exponential E drawn from the seed.
    #[value(help = "Poisson arrivals (exponential gaps drawn from --seed)")]
    Poisson,
}

/// Stage is one piece of a scenario's schedule: a rate that goes linearly from `from` to `to`
/// (equal for a constant rate) over `duration`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stage {
    /// The name output uses for this stage.
    pub name: String,
    /// Arrivals per second at the stage's start.
    pub from: f64,
    /// Arrivals per second at the stage's end.
    pub to: f64,
    /// How long the stage lasts.
    #[serde(serialize_with = "crate::units::serialize_secs")]
    pub duration: Duration,
    /// Leading time excluded from the stage's criteria.
    #[serde(serialize_with = "crate::units::serialize_secs")]
    pub settle: Duration,
}

impl Stage {
    /// constant builds a stage at a fixed rate.
    pub fn constant(name: &str, rate: f64, duration: Duration) -> Stage {
        Stage {
            name: name.to_string(),
            from: rate,
            to: rate,
            duration,
            settle: Duration::ZERO,
        }
    }

    /// arrivals is Λ over the whole stage: the expected number of arrivals in it.
    pub fn arrivals(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.duration.as_secs_f64()
    }
}

/// Arrival is one scheduled request of a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Index within its scenario, from 0; template values and the request mix are drawn from it.
    pub index: u64,
    /// Intended time, as an offset from the run's start.
    pub offset: Duration,
    /// Index of the stage this arrival belongs to.
    pub stage: usize,
    /// Whether it falls in its stage's leading settle time (excluded from criteria).
    pub settling: bool,
}

/// Schedule turns stages into intended times.
#[derive(Debug, Clone)]
pub struct Schedule {
    stages: Vec<Stage>,
    /// Start of each stage in seconds, plus the total at the end.
    starts: Vec<f64>,
    /// Λ at the start of each stage, plus Λ at the end.
    cumulative: Vec<f64>,
    process: ArrivalProcess,
    seed: u64,
    /// Separates the draws of scenarios that share a seed.
    lane: u64,
}

impl Schedule {
    /// new builds the schedule of one scenario. Rates must be finite and not negative (the plan
    /// validates that before a schedule is built).
    pub fn new(stages: Vec<Stage>, process: ArrivalProcess, seed: u64, lane: u64) -> Schedule {
        let mut starts = vec![0.0];
        let mut cumulative = vec![0.0];
        for s in &stages {
            starts.push(starts.last().unwrap() + s.duration.as_secs_f64());
            cumulative.push(cumulative.last().unwrap() + s.arrivals());
        }
        Schedule {
            stages,
            starts,
            cumulative,
            process,
            seed,
            lane,
        }
    }

    /// stages are the stages this schedule was built from.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// duration is the span of the whole schedule.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// stage_start is the offset at which stage `k` begins.
    pub fn stage_start(&self, k: usize) -> Duration {
        Duration::from_secs_f64(self.starts[k])
    }

    /// expected_arrivals is Λ at the end: the number of arrivals an evenly spaced schedule has
    /// (rounded up), and the mean for a Poisson one.
    pub fn expected_arrivals(&self) -> f64 {
        *self.cumulative.last().unwrap()
    }

    /// inverse returns the earliest offset t (in seconds) with Λ(t) > x, and its stage, or None
    /// when the schedule ends first. Zero-rate stages are skipped: nothing arrives in them.
    pub fn inverse(&self, x: f64) -> Option<(f64, usize)> {
        // Λ(end) is a sum of products (16.6/s × 15 s is 249.00000000000003): within rounding
        // of it, x is past the end, not an extra arrival at the very end.
        let end = self.expected_arrivals();
        if x.is_nan() || x < 0.0 || x >= end - end.abs() * 1e-12 {
            return None;
        }
        // First stage whose cumulative end exceeds x.
        let k = self.cumulative[1..].partition_point(|&c| c <= x);
        let s = &self.stages[k];
        let y = x - self.cumulative[k];
        let d = s.duration.as_secs_f64();
        let slope = (s.to - s.from) / d;
        // Solve from·τ + slope·τ²/2 = y in the form that stays exact when slope is 0 or tiny.
        let tau = if y <= 0.0 {
            0.0
        } else {
            2.0 * y / (s.from + (s.from * s.from + 2.0 * slope * y).max(0.0).sqrt())
        };
        Some((self.starts[k] + tau.min(d), k))
    }

    /// rate_at is the target rate at offset `t` (0 after the schedule ends).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let k = self.starts[1..].partition_point(|&end| end <= t);
        let Some(s) = self.stages.get(k) else {
            return 0.0;
        };
        let into = (t - self.starts[k]) / s.duration.as_secs_f64();
        s.from + (s.to - s.from) * into
    }

    /// stage_at is the index of the stage running at offset `t`, if any.
    pub fn stage_at(&self, t: Duration) -> Option<usize> {
        let t = t.as_secs_f64();
        let k = self.starts[1..].partition_point(|&end| end <= t);
        (k < self.stages.len()).then_some(k)
    }

    /// arrivals iterates every arrival of the schedule in order.
    pub fn arrivals(&self) -> Arrivals<'_> {
        Arrivals {
            schedule: self,
            cursor: Cursor::default(),
        }
    }
}

/// Cursor is how far into a schedule's arrival process a stream has got: the next index, and
/// (Poisson only) the running sum of exponential draws before it. It is the process's state
/// alone, not the schedule's, so a stream can carry on over a steered schedule (see
/// `Shard::steer`): the draws are the same, only Λ⁻¹ changes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cursor {
    index: u64,
    sum: f64,
}

impl Cursor {
    /// next returns the arrival at this cursor in `s`, and moves past it; None (the cursor left
    /// where it was) once the schedule has ended.
    fn next(&mut self, s: &Schedule) -> Option<Arrival> {
        let mut sum = self.sum;
        let x = match s.process {
            ArrivalProcess::Uniform => self.index as f64,
            ArrivalProcess::Poisson => {
                let u = draw::unit(s.seed, Stream::PoissonGap, s.lane, self.index);
                // 1 - u lies in (0, 1], so the logarithm is finite.
                sum += -(1.0 - u).ln();
                sum
            }
        };
        let (t, stage) = s.inverse(x)?;
        let into = t - s.starts[stage];
        let arrival = Arrival {
            index: self.index,
            offset: Duration::from_secs_f64(t),
            stage,
            settling: into < s.stages[stage].settle.as_secs_f64(),
        };
        self.index += 1;
        self.sum = sum;
        Some(arrival)
    }

    /// next_of_shard returns the next arrival whose index ≡ `index` (mod `count`). Evenly spaced
    /// arrivals jump straight to it; Poisson ones must draw every gap on the way.
    fn next_of_shard(&mut self, s: &Schedule, index: u64, count: u64) -> Option<Arrival> {
        if s.process == ArrivalProcess::Uniform {
            let behind = (index + count - self.index % count) % count;
            let mut ahead = Cursor {
                index: self.index + behind,
                sum: 0.0,
            };
            let a = ahead.next(s)?;
            *self = ahead;
            return Some(a);
        }
        loop {
            let a = self.next(s)?;
            if a.index % count == index {
                return Some(a);
            }
        }
    }
}

/// Arrivals iterates a schedule's arrivals in order of intended time.
#[derive(Debug, Clone)]
pub struct Arrivals<'a> {
    schedule: &'a Schedule,
    cursor: Cursor,
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        self.cursor.next(self.schedule)
    }
}

/// ShardOf is which share of every schedule one process issues: the arrivals whose index
/// ≡ `index` (mod `count`). The whole schedule is 0 of 1. Processes running shards 0 … N−1 of
/// the same plan and seed together issue exactly what one process would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardOf {
    /// This process's shard, from 0.
    pub index: u64,
    /// How many shards the schedule is split into.
    pub count: u64,
}

impl Default for ShardOf {
    fn default() -> Self {
        ShardOf::WHOLE
    }
}

impl ShardOf {
    /// WHOLE is the whole schedule: one process issues every arrival.
    pub const WHOLE: ShardOf = ShardOf { index: 0, count: 1 };

    /// is_whole says whether this is the whole schedule (no sharding).
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// worker is worker `w` of `n`'s share of this shard, as a shard of the whole schedule: the
    /// shard's arrivals i ≡ index (mod count) are dealt out over the workers in turn, so worker
    /// w takes i ≡ index + w·count (mod count·n).
    pub fn worker(self, w: u64, n: u64) -> ShardOf {
        ShardOf {
            index: self.index + w * self.count,
            count: self.count * n,
        }
    }

    /// share is this shard's part of `arrivals` arrivals expected in all.
    pub fn share(self, arrivals: f64) -> f64 {
        arrivals / self.count as f64
    }
}

impl std::fmt::Display for ShardOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Shard yields, in order of intended time, the arrivals of several scenarios' schedules whose
/// index ≡ `index` (mod `count`): one worker's share when arrivals are sharded over `count`.
#[derive(Debug, Clone)]
pub struct Shard {
    schedules: Vec<Schedule>,
    /// Per scenario: where its stream stood before its head was drawn, and the head.
    heads: Vec<(Cursor, Option<Arrival>)>,
    /// Per scenario: where its stream stands after the head.
    cursors: Vec<Cursor>,
    index: u64,
    count: u64,
}

impl Shard {
    /// new takes shard `index` of `count` over the given schedules (one per scenario).
    pub fn new(schedules: Vec<Schedule>, index: u64, count: u64) -> Shard {
        debug_assert!(index < count);
        let mut shard = Shard {
            heads: Vec::with_capacity(schedules.len()),
            cursors: Vec::with_capacity(schedules.len()),
            schedules,
            index,
            count,
        };
        for k in 0..shard.schedules.len() {
            let (before, head, after) = shard.draw(k, Cursor::default());
            shard.heads.push((before, head));
            shard.cursors.push(after);
        }
        shard
    }

    /// draw finds scenario `k`'s next arrival of this shard from `from`.
    fn draw(&self, k: usize, from: Cursor) -> (Cursor, Option<Arrival>, Cursor) {
        let mut c = from;
        let head = c.next_of_shard(&self.schedules[k], self.index, self.count);
        (from, head, c)
    }

    /// peek is the next arrival, without taking it.
    pub fn peek(&self) -> Option<(usize, Arrival)> {
        (self.heads.iter().enumerate())
            .filter_map(|(k, (_, a))| a.map(|a| (k, a)))
            .min_by_key(|(_, a)| a.offset)
    }

    /// schedule is scenario `k`'s schedule as this shard follows it now.
    pub fn schedule(&self, k: usize) -> &Schedule {
        &self.schedules[k]
    }

    /// steer makes scenario `k` follow `schedule` from its next arrival on. Arrivals already
    /// taken stand; the stream carries on with the same index and draws, so when `schedule`
    /// agrees with the old one up to a moment, every arrival before it is unchanged.
    pub fn steer(&mut self, k: usize, schedule: Schedule) {
        self.schedules[k] = schedule;
        let (before, head, after) = self.draw(k, self.heads[k].0);
        self.heads[k] = (before, head);
        self.cursors[k] = after;
    }
}

impl Iterator for Shard {
    /// (scenario index, arrival)
    type Item = (usize, Arrival);

    fn next(&mut self) -> Option<(usize, Arrival)> {
        let (k, a) = self.peek()?;
        let (before, head, after) = self.draw(k, self.cursors[k]);
        self.heads[k] = (before, head);
        self.cursors[k] = after;
        Some((k, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn uniform(stages: Vec<Stage>) -> Schedule {
        Schedule::new(stages, ArrivalProcess::Uniform, 1, 0)
    }

    fn ramp(name: &str, from: f64, to: f64, d: f64) -> Stage {
        Stage {
            name: name.into(),
            from,
            to,
            duration: secs(d),
            settle: Duration::ZERO,
        }
    }

    #[test]
    fn uniform_offsets_table() {
        // (stages, arrival index, expected offset in seconds, expected stage)
        type Case = (Vec<Stage>, usize, Option<(f64, usize)>);
        let cases: Vec<Case> = vec![
            // 10/s for 1 s: arrivals at 0, 0.1, ..., 0.9; the 11th does not exist.
            (
                vec![Stage::constant("a", 10.0, secs(1.0))],
                0,
                Some((0.0, 0)),
            ),
            (
                vec![Stage::constant("a", 10.0, secs(1.0))],
                3,
                Some((0.3, 0)),
            ),
            (
                vec![Stage::constant("a", 10.0, secs(1.0))],
                9,
                Some((0.9, 0)),
            ),
            (vec![Stage::constant("a", 10.0, secs(1.0))], 10, None),
            // 0 -> 10/s over 2 s: Λ(t) = 2.5 t², so arrival 10 is at sqrt(4) = 2 s... which is
            // the end: Λ(2) = 10, so only arrivals 0..=9 exist; arrival 9 at sqrt(3.6).
            (vec![ramp("r", 0.0, 10.0, 2.0)], 9, Some((3.6f64.sqrt(), 0))),
            (vec![ramp("r", 0.0, 10.0, 2.0)], 10, None),
            // 1.5 arrivals in stage a (3/s for 0.5 s) then 10/s: arrival 2 lands 0.05 s into b,
            // where the half arrival left over from a is completed.
            (
                vec![
                    Stage::constant("a", 3.0, secs(0.5)),
                    Stage::constant("b", 10.0, secs(1.0)),
                ],
                2,
                Some((0.55, 1)),
            ),
            // A zero-rate stage holds no arrival: the first comes when the next stage starts.
            (
                vec![
                    Stage::constant("idle", 0.0, secs(5.0)),
                    Stage::constant("b", 2.0, secs(1.0)),
                ],
                0,
                Some((5.0, 1)),
            ),
            // Ramp down 10 -> 0 over 2 s: Λ(t) = 10t - 2.5t²; arrival 5 where Λ = 5.
            (
                vec![ramp("down", 10.0, 0.0, 2.0)],
                5,
                Some(((10.0 - (100.0f64 - 50.0).sqrt()) / 5.0, 0)),
            ),
        ];
        for (stages, i, want) in cases {
            let got = uniform(stages.clone()).arrivals().nth(i);
            match (got, want) {
                (None, None) => {}
                (Some(a), Some((t, k))) => {
                    assert!(
                        (a.offset.as_secs_f64() - t).abs() < 1e-9,
                        "{stages:?} #{i}: {a:?}, want {t}"
                    );
                    assert_eq!(a.stage, k, "{stages:?} #{i}");
                    assert_eq!(a.index, i as u64);
                }
                (got, want) => panic!("{stages:?} #{i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn rounding_in_the_cumulative_count_adds_no_arrival() {
        // 16.6 × 15 computes to 249.00000000000003: still 249 arrivals, all inside the window.
        let s = uniform(vec![Stage::constant("a", 16.6, secs(15.0))]);
        let all: Vec<_> = s.arrivals().collect();
        assert_eq!(all.len(), 249);
        assert!(all.iter().all(|a| a.offset < secs(15.0)));
    }

    #[test]
    fn constant_rate_gives_rate_times_duration_arrivals() {
        let s = uniform(vec![Stage::constant("a", 500.0, secs(5.0))]);
        let all: Vec<_> = s.arrivals().collect();
        assert_eq!(all.len(), 2500);
        assert!(all.iter().all(|a| a.offset < secs(5.0)));
        assert!(all.windows(2).all(|w| w[0].offset <= w[1].offset));
    }

    #[test]
    fn ramp_from_zero_rises_linearly_and_boundaries_lose_nothing() {
        let s = uniform(vec![
            ramp("up", 0.0, 200.0, 10.0),
            Stage::constant("hold", 200.0, secs(2.5)),
        ]);
        let all: Vec<_> = s.arrivals().collect();
        assert_eq!(all.len(), 1000 + 500);
        // Per-second counts during the ramp: Λ(k+1) - Λ(k) = 10(2k+1).
        for k in 0..10 {
            let n = all
                .iter()
                .filter(|a| a.offset >= secs(k as f64) && a.offset < secs(k as f64 + 1.0))
                .count() as i64;
            assert!((n - 10 * (2 * k + 1)).abs() <= 1, "second {k}: {n}");
        }
        assert_eq!(all.iter().filter(|a| a.stage == 0).count(), 1000);
    }

    #[test]
    fn uniform_shards_partition_the_schedule_too() {
        let schedules = vec![Schedule::new(
            vec![ramp("up", 0.0, 300.0, 2.0)],
            ArrivalProcess::Uniform,
            5,
            0,
        )];
        let key = |(k, a): (usize, Arrival)| (a.offset, k, a.index);
        let one: Vec<_> = Shard::new(schedules.clone(), 0, 1).map(key).collect();
        let mut three: Vec<_> = (0..3)
            .flat_map(|i| Shard::new(schedules.clone(), i, 3))
            .map(key)
            .collect();
        three.sort();
        assert_eq!(one, three);
        assert_eq!(one.len(), 300);
    }

    #[test]
    fn shards_partition_the_schedule_whatever_the_count() {
        let schedules = vec![
            Schedule::new(
                vec![ramp("up", 0.0, 300.0, 2.0)],
                ArrivalProcess::Poisson,
                5,
                0,
            ),
            Schedule::new(
                vec![Stage::constant("c", 70.0, secs(2.0))],
                ArrivalProcess::Poisson,
                5,
                1,
            ),
        ];
        let key = |(k, a): (usize, Arrival)| (a.offset, k, a.index);
        let mut one: Vec<_> = Shard::new(schedules.clone(), 0, 1).map(key).collect();
        let mut two: Vec<_> = Shard::new(schedules.clone(), 0, 2)
            .chain(Shard::new(schedules.clone(), 1, 2))
            .map(key)
            .collect();
        assert!(
            one.windows(2).all(|w| w[0].0 <= w[1].0),
            "one shard is in time order"
        );
        one.sort();
        two.sort();
        assert_eq!(one, two);
        assert!(one.len() > 400, "{}", one.len());
    }

    #[test]
    fn poisson_is_seeded_and_exponential() {
        let stages = vec![Stage::constant("a", 1000.0, secs(100.0))];
        let a = Schedule::new(stages.clone(), ArrivalProcess::Poisson, 9, 0);
        let b = Schedule::new(stages.clone(), ArrivalProcess::Poisson, 9, 0);
        let c = Schedule::new(stages, ArrivalProcess::Poisson, 10, 0);
        let ta: Vec<_> = a.arrivals().map(|x| x.offset).collect();
        let tb: Vec<_> = b.arrivals().map(|x| x.offset).collect();
        let tc: Vec<_> = c.arrivals().take(10).map(|x| x.offset).collect();
        assert_eq!(ta, tb);
        assert_ne!(ta[..10], tc[..]);
        // 100,000 expected; Poisson count sd ~316, allow 5 sd.
        assert!((ta.len() as i64 - 100_000).abs() < 1_600, "{}", ta.len());
        let gaps: Vec<f64> = ta.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n).sqrt();
        // Exponential with rate 1000: mean = sd = 1 ms; both within 2 %.
        assert!((mean - 0.001).abs() < 0.00002, "mean {mean}");
        assert!((sd - 0.001).abs() < 0.00002, "sd {sd}");
    }
}
