//! Pacer: waits until an arrival's intended time, as precisely as this machine allows.
//!
//! tokio's timer wakes on millisecond ticks, which would add up to a millisecond of the
//! generator's own lateness to every latency. The pacer instead arms a Linux `timerfd` (a
//! high-resolution timer, with the thread's timer slack cut to 1 ns) and waits for it through
//! the runtime's own event loop, so the worker sleeps without spinning and still answers I/O.
//! When nothing waits on that event loop (cleartext HTTP/1.1, whose responses the worker's sweep
//! reads on the pacer's wakes), a wait of up to `BLOCK_MAX` blocks the thread instead: one
//! system call where the event loop takes three.
//! In precise mode it wakes a little early and yields until the intended time, trading CPU for
//! the last microseconds. Default pacing arms the timer early by about how late this machine's
//! timer usually wakes (learned as it runs, see `WakeLatency`), so most arrivals leave near
//! their intended time and only the few quicker wake-ups yield briefly.
//! It owns timing only: what is due, and what to do then, is the worker's business.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::plan::Pacing;

/// PRECISE_EARLY is how long before an intended time precise mode stops sleeping.
pub const PRECISE_EARLY: Duration = Duration::from_micros(200);

/// COARSE_TICK is how far apart coarse pacing's wake-ups are: each one sends every arrival due
/// since the last, so a wake-up's cost is shared by a tick's worth of arrivals and every arrival
/// is late by up to a tick plus the wake-up's own latency. It is a whole timer tick of wrk2's
/// (1 ms) less the wake-up latency this machine's timer shows most of the time (about 40 µs on a
/// virtual machine) and some room, so that dispatch lag stays under 1 ms at the 99th
/// percentile. tokio's timer, used before, rounds a deadline to its millisecond and its event
/// loop's wait to a millisecond again, which put p99 at 1.1-1.6 ms.
pub const COARSE_TICK: Duration = Duration::from_micros(900);

/// SPARSE is the wait from which default pacing wakes early by 2 % of the wait (at least
/// `SPARSE_EARLY`, at most `SPARSE_APPROACH`) and yields until the intended time. A thread that slept that long wakes slowly on a virtual machine (the
/// host deschedules an idle vCPU after a couple of hundred microseconds): measured at 1,000/s
/// against nginx, dispatch lag p50 31-40 µs sleeping to the intended time, 1-8 µs waking early,
/// for at most `SPARSE_EARLY` of CPU per arrival, and only below 2,500 arrivals/s per worker.
pub const SPARSE: Duration = Duration::from_micros(400);

/// SPARSE_EARLY is how early default pacing wakes before sparse arrivals (see `SPARSE`), at
/// least: further apart arrivals are woken for longer, up to `SPARSE_APPROACH`.
pub const SPARSE_EARLY: Duration = Duration::from_micros(40);

/// SPARSE_APPROACH is the longest default pacing yields before a sparse arrival, and
/// SPARSE_APPROACH_SHARE the share of the wait it may take: 200 µs from 100 arrivals/s down, 2 %
/// of a core at most. A wake-up on an idle vCPU of this machine comes 40-150 µs late at the
/// median (a bare loop sleeping to 20 arrivals/s), so 40 µs early missed most of it: measured
/// at 20/s against `metronome serve`, dispatch lag p50 64-102 µs became 16-21 µs (p99 210-290
/// became 42-144 µs) for 0.1-0.3 % more of a core. What it cannot hide is the host waking an
/// idle vCPU milliseconds late now and then: that tail is the machine's, as it is a bare loop's.
pub const SPARSE_APPROACH: Duration = Duration::from_micros(200);
const SPARSE_APPROACH_SHARE: f64 = 0.02;

/// WakeLatency follows a low quantile of how late the timer wakes the pacer, for default pacing
/// to arm it that much early.
///
/// The kernel's wake-up latency is the bulk of default pacing's dispatch lag (20-30 µs on a
/// virtual machine), and it is steady enough to anticipate: arming the timer by its 10th
/// percentile early leaves the other 90 % of wake-ups later than the intended time by less,
/// while the 10 % that come quicker yield for at most that long. The estimate is a streaming
/// quantile (each wake-up moves it by a fixed step, down when the wake-up came in under it and
/// up otherwise, in the ratio that settles it on the quantile), so it follows the machine as it
/// changes and costs two comparisons. Only dense waits (under `SPARSE`) feed it: a longer sleep
/// wakes slower and has `SPARSE_EARLY` of its own. A wait shorter than the estimate arms no timer
/// and so teaches it nothing; each one lowers it a little instead (`unused`), or an estimate
/// learned at a lower rate, longer than every wait at a higher one, would stay for the rest of
/// the run and have the worker yield through every gap.
#[derive(Debug, Default)]
pub struct WakeLatency {
    ns: std::cell::Cell<u64>,
}

impl WakeLatency {
    /// QUANTILE is the share of wake-ups expected to come earlier than the estimate.
    const QUANTILE: f64 = 0.1;
    /// STEP_NS is how far one wake-up moves the estimate down; up moves are scaled by the
    /// quantile's odds, QUANTILE / (1 - QUANTILE).
    const STEP_NS: u64 = 900;

    /// early is how long before an intended time to arm the timer.
    pub fn early(&self) -> Duration {
        Duration::from_nanos(self.ns.get())
    }

    /// unused records a wait shorter than the estimate, for which no timer was armed.
    pub fn unused(&self) {
        self.ns
            .set(self.ns.get().saturating_sub(Self::STEP_NS / 10));
    }

    /// saw records that one timer wake-up came `late` after it was due.
    pub fn saw(&self, late: Duration) {
        let est = self.ns.get();
        let up = (Self::STEP_NS as f64 * Self::QUANTILE / (1.0 - Self::QUANTILE)) as u64;
        let next = if (late.as_nanos() as u64) < est {
            est.saturating_sub(Self::STEP_NS)
        } else {
            est + up
        };
        self.ns.set(next.min(SPARSE_EARLY.as_nanos() as u64));
    }
}

/// BLOCK_MAX is the longest wait the pacer may sleep by blocking the thread (see
/// `Pacer::sleep_until`): one system call (`clock_nanosleep`) where a wait through the runtime
/// takes three (arming the timerfd, the event loop's wait, reading the timer) and the runtime's
/// machinery around them. Meanwhile the runtime's own timers and cross-thread wake-ups (the
/// per-second handover, request timeouts, a stop or a steering change) wait, so it is kept
/// short: the runtime looks at them again on the yield before the next wait.
pub const BLOCK_MAX: Duration = Duration::from_millis(1);

/// timespec is `d` as a relative timespec, at least a nanosecond (a zero one disarms a timerfd).
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: (d.subsec_nanos().max(u32::from(d.as_secs() == 0))) as libc::c_long,
    }
}

/// block sleeps the calling thread for `d` on CLOCK_MONOTONIC, with the thread's timer slack
/// (cut to 1 ns by `Pacer::new`). A signal ends it early; callers never act before their
/// deadline on its word alone.
fn block(d: Duration) {
    let spec = timespec(d);
    // SAFETY: a relative sleep on a valid timespec; no remainder is asked for.
    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &spec, std::ptr::null_mut()) };
}

/// Pacer owns one worker thread's timer.
pub struct Pacer {
    timer: AsyncFd<OwnedFd>,
    mode: Pacing,
    latency: WakeLatency,
    /// Where coarse pacing's grid of wake-ups starts (see `COARSE_TICK`).
    origin: Instant,
}

impl Pacer {
    /// new makes a pacer for the calling thread (it lowers that thread's timer slack) inside a
    /// tokio runtime.
    pub fn new(mode: Pacing) -> io::Result<Pacer> {
        // SAFETY: plain syscalls with constant arguments; the returned descriptor is owned here.
        let fd = unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the descriptor is owned by the AsyncFd for as long as it is registered and is
        // closed only when the AsyncFd drops it, after deregistering.
        let timer = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Pacer {
            timer,
            mode,
            latency: WakeLatency::default(),
            origin: Instant::now(),
        })
    }

    /// tick_after is the first of coarse pacing's wake-ups at or after `deadline`.
    fn tick_after(&self, deadline: Instant) -> Instant {
        let since = deadline.saturating_duration_since(self.origin).as_nanos();
        let tick = COARSE_TICK.as_nanos();
        let ticks = since.div_ceil(tick);
        self.origin + Duration::from_nanos((ticks * tick) as u64)
    }

    /// sleep_until returns at `deadline` or (rarely, by a few microseconds) after it; never
    /// before it. With `may_block` a wait of at most `BLOCK_MAX` blocks the thread instead of
    /// going through the runtime: the caller says so only when nothing waits on the runtime's
    /// event loop that should be answered sooner (see `Sweep::lets_pacer_block`).
    pub async fn sleep_until(&self, deadline: Instant, may_block: bool) -> io::Result<()> {
        let now = Instant::now();
        let dense = deadline <= now + SPARSE;
        if self.mode == Pacing::Default && !dense {
            return self.approach(now, deadline, may_block).await;
        }
        let wake = match self.mode {
            Pacing::Default => deadline
                .checked_sub(self.latency.early())
                .unwrap_or(deadline),
            Pacing::Coarse => self.tick_after(deadline),
            Pacing::Precise => deadline.checked_sub(PRECISE_EARLY).unwrap_or(deadline),
        };
        let learns = dense && self.mode == Pacing::Default;
        if wake > now {
            self.sleep_for(wake - now, may_block).await?;
            if learns {
                self.latency
                    .saw(Instant::now().saturating_duration_since(wake));
            }
        } else if learns && deadline > now {
            self.latency.unused();
        }
        while Instant::now() < deadline {
            // The timer can fire a hair early relative to Instant, and precise and default
            // pacing wake early on purpose: yielding lets the worker's other tasks run meanwhile.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// approach waits for a sparse arrival under default pacing: a sleep until its approach
    /// (`SPARSE_EARLY` … `SPARSE_APPROACH` before the deadline), then yields until it.
    async fn approach(&self, now: Instant, deadline: Instant, may_block: bool) -> io::Result<()> {
        let early = (deadline - now)
            .mul_f64(SPARSE_APPROACH_SHARE)
            .clamp(SPARSE_EARLY, SPARSE_APPROACH);
        self.sleep_for(deadline - early - now, may_block).await?;
        while Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn sleep_for(&self, d: Duration, may_block: bool) -> io::Result<()> {
        if may_block && d <= BLOCK_MAX {
            block(d);
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: timespec(d),
        };
        let fd = self.timer.get_ref().as_raw_fd();
        // SAFETY: fd is our timerfd; spec is a valid itimerspec; no old value is asked for.
        if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut guard = self.timer.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reading 8 bytes into an 8-byte buffer from our own descriptor.
            let n = unsafe { libc::read(fd, expirations.as_mut_ptr().cast(), 8) };
            if n == 8 {
                // The next wait re-arms the timer, which is what makes it readable again, so
                // the readiness can be cleared now instead of by one more read hitting EAGAIN.
                guard.clear_ready();
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_given_up_leaves_no_readiness_that_ends_the_next_one_early() {
        on_runtime(async {
            let p = Pacer::new(Pacing::Coarse).unwrap();
            for _ in 0..3 {
                // Given up before its timer fires (as a stop or a change does), then left to fire
                // while the runtime polls its events.
                let given_up =
                    tokio::time::timeout(Duration::from_micros(200), p.sleep_for(ms(2), false))
                        .await;
                assert!(given_up.is_err());
                tokio::time::sleep(ms(5)).await;
                let from = Instant::now();
                p.sleep_for(ms(20), false).await.unwrap();
                // A timerfd never fires before its time on the clock Instant reads.
                let slept = from.elapsed();
                assert!(slept >= ms(20), "the wait ended after {slept:?}");
            }
        });
    }

    #[test]
    fn coarse_wakes_fall_on_the_grid_never_before_the_deadline() {
        on_runtime(async {
            let p = Pacer::new(Pacing::Coarse).unwrap();
            let tick = COARSE_TICK.as_nanos();
            for us in [0u64, 1, 899, 900, 901, 1799, 12_345, 1_000_000] {
                let deadline = p.origin + Duration::from_micros(us);
                let wake = p.tick_after(deadline);
                let at = (wake - p.origin).as_nanos();
                assert!(wake >= deadline, "{us} µs: woken before it is due");
                assert_eq!(at % tick, 0, "{us} µs: off the grid");
                assert!(wake - deadline < COARSE_TICK, "{us} µs: a whole tick late");
            }
            assert_eq!(p.tick_after(p.origin), p.origin);
            // A wait ends at its tick, not before the deadline.
            let deadline = Instant::now() + Duration::from_micros(300);
            p.sleep_until(deadline, false).await.unwrap();
            assert!(Instant::now() >= p.tick_after(deadline));
        });
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn wake_latency_settles_on_its_low_quantile_and_stays_bounded() {
        // Wake-ups late by 20..=39 µs, evenly: the 10th percentile is 22 µs.
        let w = WakeLatency::default();
        for i in 0..20_000u64 {
            w.saw(Duration::from_micros(20 + (i * 7) % 20));
        }
        let early = w.early().as_micros();
        assert!((20..=25).contains(&early), "estimate {early} µs");
        // A machine whose wake-ups get quicker pulls it down; a very slow one cannot push it
        // past SPARSE_EARLY.
        for _ in 0..2_000 {
            w.saw(Duration::from_micros(3));
        }
        assert!(w.early() <= Duration::from_micros(4), "{:?}", w.early());
        for _ in 0..20_000 {
            w.saw(Duration::from_millis(5));
        }
        assert_eq!(w.early(), SPARSE_EARLY);
    }

    /// on_runtime runs `f` on a current-thread runtime, as a worker's pacer runs.
    fn on_runtime(f: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f);
    }

    #[test]
    fn a_learned_latency_longer_than_the_gaps_comes_back_down() {
        // A worker that learned a slow wake-up (40 µs: a 2,600/s stage's 380 µs sleeps wake
        // slowly on a VM) and then paces arrivals 30 µs apart must come down to what the gaps
        // allow; otherwise it arms no timer, learns nothing, and yields through every gap for
        // the rest of the run. (Found by a review: 40 µs and no timer for a whole 6-s stage.)
        on_runtime(async {
            let pacer = Pacer::new(Pacing::Default).unwrap();
            for _ in 0..1_000 {
                pacer.latency.saw(Duration::from_micros(60));
            }
            assert_eq!(pacer.latency.early(), SPARSE_EARLY);
            let mut deadline = Instant::now();
            for _ in 0..20_000 {
                deadline += Duration::from_micros(30);
                pacer.sleep_until(deadline, false).await.unwrap();
            }
            // Waits are at most 30 µs, so an estimate that follows them ends under that (plus
            // one step up), whatever this machine's own wake-up latency.
            let early = pacer.latency.early();
            assert!(early < Duration::from_micros(31), "stuck at {early:?}");
        });
    }

    #[test]
    fn it_never_wakes_early_and_is_finer_than_a_millisecond() {
        never_early_and_finer_than_a_millisecond(false);
    }

    #[test]
    fn blocking_the_thread_it_never_wakes_early_and_is_finer_than_a_millisecond() {
        never_early_and_finer_than_a_millisecond(true);
    }

    fn never_early_and_finer_than_a_millisecond(may_block: bool) {
        on_runtime(async {
            let pacer = Pacer::new(Pacing::Default).unwrap();
            let mut lateness = Vec::new();
            for _ in 0..200 {
                let deadline = Instant::now() + Duration::from_micros(300);
                pacer.sleep_until(deadline, may_block).await.unwrap();
                let now = Instant::now();
                assert!(now >= deadline);
                lateness.push(now - deadline);
            }
            lateness.sort();
            // tokio's own timer would be ~700 µs late here (it rounds up to the millisecond);
            // the median must be well under that even on a busy machine.
            assert!(
                lateness[100] < Duration::from_micros(500),
                "median {:?}",
                lateness[100]
            );
        });
    }

    #[test]
    fn a_sparse_arrival_is_approached_but_never_dispatched_early() {
        // 20 arrivals 10 ms apart (100/s): each wait is woken 200 µs early and yields the rest,
        // which must never return before the intended time. Only that is asserted: how late the
        // host wakes an idle vCPU is the machine's, not the pacer's.
        on_runtime(async {
            let pacer = Pacer::new(Pacing::Default).unwrap();
            let mut deadline = Instant::now();
            for _ in 0..20 {
                deadline += Duration::from_millis(10);
                pacer.sleep_until(deadline, false).await.unwrap();
                assert!(Instant::now() >= deadline);
            }
        });
    }
}
