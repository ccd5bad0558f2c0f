//! Pacer: waits until an arrival's intended time, as precisely as this machine allows.
//!
//! tokio's timer wakes on millisecond ticks, which would add up to a millisecond of the
//! generator's own lateness to every latency. The pacer instead arms a Linux `timerfd` (a
//! high-resolution timer, with the thread's timer slack cut to 1 ns) and waits for it through
//! the runtime's own event loop, so the worker sleeps without spinning and still answers I/O.
//! In precise mode it wakes a little early and yields until the intended time, trading CPU for
//! the last microseconds; default pacing does the same, briefly, only before sparse arrivals.
//! It owns timing only: what is due, and what to do then, is the worker's business.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Pacing says how a worker waits for an arrival's intended time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// Sleep on a high-resolution timer: no CPU while waiting, lateness at the kernel's wake-up
    /// latency (tens of microseconds on most machines). Arrivals at least `SPARSE` apart are
    /// woken for `SPARSE_EARLY` ahead and waited for by yielding.
    #[default]
    Default,
    /// Sleep until `PRECISE_EARLY` before the intended time, then yield until it: dispatch lag
    /// of a few microseconds, at the cost of a busy core between close arrivals.
    Precise,
    /// Sleep on tokio's millisecond timer: arrivals are released in batches, up to about a
    /// millisecond late (which every latency then includes), for fewer wake-ups per request.
    Coarse,
}

impl Pacing {
    /// name is the mode as the flag and the JSON spell it.
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Default => "default",
            Pacing::Precise => "precise",
            Pacing::Coarse => "coarse",
        }
    }
}

/// PRECISE_EARLY is how long before an intended time precise mode stops sleeping.
pub const PRECISE_EARLY: Duration = Duration::from_micros(200);

/// SPARSE is the wait from which default pacing wakes `SPARSE_EARLY` before the intended time
/// and yields until it. A thread that slept that long wakes slowly on a virtual machine (the
/// host deschedules an idle vCPU after a couple of hundred microseconds): measured at 1,000/s
/// against nginx, dispatch lag p50 31-40 µs sleeping to the intended time, 1-8 µs waking early,
/// for at most `SPARSE_EARLY` of CPU per arrival, and only below 2,500 arrivals/s per worker.
pub const SPARSE: Duration = Duration::from_micros(400);

/// SPARSE_EARLY is how early default pacing wakes before sparse arrivals (see `SPARSE`).
pub const SPARSE_EARLY: Duration = Duration::from_micros(40);

/// Pacer owns one worker thread's timer.
pub struct Pacer {
    timer: AsyncFd<OwnedFd>,
    mode: Pacing,
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
        Ok(Pacer { timer, mode })
    }

    /// sleep_until returns at `deadline` or (rarely, by a few microseconds) after it; never
    /// before it.
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        let now = Instant::now();
        let wake = match self.mode {
            Pacing::Default if deadline > now + SPARSE => deadline - SPARSE_EARLY,
            Pacing::Default | Pacing::Coarse => deadline,
            Pacing::Precise => deadline.checked_sub(PRECISE_EARLY).unwrap_or(deadline),
        };
        if wake > now {
            self.sleep_for(wake - now).await?;
        }
        while Instant::now() < deadline {
            // The timer can fire a hair early relative to Instant, and precise mode wakes early
            // on purpose: yielding lets the worker's other tasks (responses) run meanwhile.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn sleep_for(&self, d: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                // A zero it_value disarms the timer: wait at least a nanosecond.
                tv_nsec: (d.subsec_nanos().max(u32::from(d.as_secs() == 0))) as libc::c_long,
            },
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
    fn it_never_wakes_early_and_is_finer_than_a_millisecond() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pacer = Pacer::new(Pacing::Default).unwrap();
            let mut lateness = Vec::new();
            for _ in 0..200 {
                let deadline = Instant::now() + Duration::from_micros(300);
                pacer.sleep_until(deadline).await.unwrap();
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
}
