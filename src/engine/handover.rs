//! Handover: once a second a worker sends its recording to the recorder and goes on with one
//! the recorder sent back emptied, so its pacing thread neither allocates nor zeroes
//! histograms to keep recording (allocating a fresh `Recording` there cost a visible share of a
//! second's CPU at high rates, and a page fault or two of lateness on the arrival after it).

use std::cell::{RefCell, RefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::record::{Handover, Layout, Recording};

/// Handing is one worker's recording and the recordings the recorder gave back for reuse.
pub struct Handing {
    recording: RefCell<Recording>,
    returned: RefCell<mpsc::UnboundedReceiver<Recording>>,
    give_back: mpsc::UnboundedSender<Recording>,
}

impl Handing {
    pub fn new(layout: Arc<Layout>) -> Handing {
        let (give_back, returned) = mpsc::unbounded_channel();
        Handing {
            recording: RefCell::new(Recording::new(layout)),
            returned: RefCell::new(returned),
            give_back,
        }
    }

    /// recording is what the worker records into now.
    pub fn recording(&self) -> RefMut<'_, Recording> {
        self.recording.borrow_mut()
    }

    /// hand_over sends the recording to the recorder as `worker`'s, with `in_flight` arrivals
    /// not yet ended, and starts a fresh one: one the recorder sent back when there is one.
    /// The `last` handover also carries the thread's CPU time and wait.
    pub fn hand_over(
        &self,
        worker: usize,
        in_flight: u64,
        tx: &mpsc::UnboundedSender<Handover>,
        last: bool,
    ) {
        let fresh = match self.returned.borrow_mut().try_recv() {
            Ok(r) => r,
            Err(_) => Recording::new(self.recording.borrow().layout().clone()),
        };
        let recording = std::mem::replace(&mut *self.recording.borrow_mut(), fresh);
        let _ = tx.send(Handover {
            worker,
            recording,
            in_flight,
            last,
            give_back: self.give_back.clone(),
            cpu: last.then(thread_cpu_time),
            cpu_wait: last.then(thread_cpu_wait).flatten(),
        });
    }
}

/// thread_cpu_time is the CPU time (user and system) the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// thread_cpu_wait is how long the calling thread has been ready to run but waited for a CPU
/// (the second figure of `/proc/thread-self/schedstat`), or None where the kernel does not say.
/// It is the machine's share of the engine's lateness: time the engine could not act however
/// it was written.
pub fn thread_cpu_wait() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Counting is the unit tests' allocator: the system's, counting each thread's allocations,
/// so a test can see whether code it runs allocates.
#[cfg(test)]
pub struct Counting;

#[cfg(test)]
thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
impl Counting {
    /// allocations is how many allocations the calling thread has made.
    pub fn allocations() -> u64 {
        ALLOCATIONS.with(std::cell::Cell::get)
    }

    fn count() {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; counting touches only a
// thread-local integer, which needs no allocation.
#[cfg(test)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        Counting::count();
        // SAFETY: as the caller promised us.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        Counting::count();
        // SAFETY: as the caller promised us.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        Counting::count();
        // SAFETY: as the caller promised us.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as the caller promised us.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Slot;

    #[test]
    fn handovers_after_the_first_allocate_nothing_on_the_worker() {
        // Two scenarios, one of three requests over four stages: cells enough that a fresh
        // recording would be many allocations.
        let handing = Handing::new(Arc::new(Layout::new(vec![(3, 4), (1, 1)])));
        let (tx, mut rx) = mpsc::unbounded_channel::<Handover>();
        let (ack, acked) = std::sync::mpsc::channel::<()>();
        // The recorder's part, on a thread of its own as in a run: empty each recording and
        // send it back.
        let recorder = std::thread::spawn(move || {
            while let Some(mut h) = rx.blocking_recv() {
                h.recording.reset();
                let _ = h.give_back.send(h.recording);
                let _ = ack.send(());
            }
        });
        let mut per_handover = Vec::new();
        // Past tokio's channel blocks of 32 messages, which it reuses once received.
        for second in 0..100u64 {
            for k in 0..50 {
                handing.recording().dispatched(
                    (k % 2) as usize,
                    Slot::new(0, false),
                    Duration::from_micros(k),
                    false,
                );
            }
            let before = Counting::allocations();
            handing.hand_over(0, second, &tx, false);
            per_handover.push(Counting::allocations() - before);
            acked.recv().unwrap();
        }
        drop(tx);
        recorder.join().unwrap();
        // The first makes a fresh recording (238 allocations for this layout); after it the
        // only ones seen are tokio's: its channel's second block of 32 messages, once, after
        // which received blocks are reused (seen: one allocation, at handover 33).
        assert!(per_handover[0] > 0, "the first handover makes the spare");
        let later: u64 = per_handover[1..].iter().sum();
        assert!(
            later <= 2 && per_handover[1..].iter().all(|&n| n <= 1),
            "handovers allocated on the worker's thread: {per_handover:?}"
        );
    }
}
