//! Sweep: responses are read when the pacer wakes, instead of the worker waking for each one.
//!
//! On a virtual machine every wake-up of a sleeping thread costs about 20 µs of CPU (measured
//! with a bare C loop sleeping to absolute deadlines, 1,000 to 30,000 wakes/s), and a worker that
//! wakes once for each arrival and once more for each response pays that twice per request. A
//! response does not need a wake-up of its own to be timed: every direct connection asks the
//! kernel to stamp what it receives (`SO_TIMESTAMPNS`), so the time a response arrived is known
//! exactly however late it is read. Its connection is therefore not registered with the
//! runtime's event loop but with this sweep's own epoll set, which nothing sleeps on: the worker
//! looks at it each time the pacer wakes for an arrival, and wakes the exchanges whose responses
//! came in meanwhile. When the pacer's next wake is further off than `DEFER_MAX` (sparse
//! arrivals, or the schedule is over), waiting exchanges are told to wait for readiness the usual
//! way instead, so no response waits long for the engine to look.
//!
//! A worker whose schedule reaches `DENSE_RATE` does not defer: its thread hardly sleeps, so
//! there are no wake-ups to save, and the kernel's stamps cost about 5 % of the most it can send
//! (measured asking 200,000/s of one worker against nginx: 112,000-138,000/s with stamps,
//! 126,000-146,000/s without). Its sweep is then looked at whenever the set has something to
//! report, through the runtime's event loop, and responses are timed when they are read.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// DEFER_MAX is the longest an exchange waits for the pacer's next wake to have its response
/// read; a response due later is waited for by readiness. It bounds how long a connection stays
/// taken by a response that has arrived but is not read yet.
pub const DEFER_MAX: Duration = Duration::from_millis(2);

/// DENSE_RATE is the arrival rate per worker from which a worker reads responses as they
/// arrive instead of deferring them to the pacer's wakes.
pub const DENSE_RATE: f64 = 50_000.0;

/// Sweep is one worker's set of connections whose responses are read on the pacer's wakes.
pub struct Sweep {
    epoll: OwnedFd,
    /// Whether reads wait for the pacer's wakes (else for the set's own readiness).
    defers: bool,
    /// A socket that asks for receive stamps for as long as the sweep lives (see `stamping`).
    _stamping: Option<OwnedFd>,
    /// Set when a sweep that does not defer could not watch its set: exchanges then wait by
    /// readiness, each on its own.
    unwatched: Cell<bool>,
    /// Set while arrivals wait for a connection: responses are then read as they arrive, since
    /// a connection held by an unread response would make them wait for the engine.
    pressed: Cell<bool>,
    /// Per token: the exchange waiting for its connection to be readable.
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
    /// Exchanges waiting now.
    waiting: Cell<usize>,
    /// When the pacer wakes next, or None once it has stopped.
    next: Cell<Option<Instant>>,
    /// Waits on the runtime's own event loop begun and not yet ended (see `hold`).
    held: Cell<usize>,
}

/// Hold counts one wait on the runtime's event loop for as long as it lives (see `Sweep::hold`).
pub struct Hold<'a>(&'a Sweep);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.held.set(self.0.held.get() - 1);
    }
}

#[derive(Default)]
struct Slot {
    /// Taken by the sweep that wakes it: a registered wait whose waker is gone is done.
    waker: Option<Waker>,
    /// The connection's socket.
    fd: RawFd,
}

/// Token names one connection in a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(usize);

impl Sweep {
    /// new makes an empty sweep, whose reads wait for the pacer's wakes when `defers` (see
    /// `DENSE_RATE`) and otherwise for `run_prompt` to see the set readable.
    pub fn new(defers: bool) -> io::Result<Sweep> {
        // SAFETY: a plain syscall; the descriptor it returns is owned here.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Sweep {
            epoll,
            _stamping: if defers { Some(stamping()?) } else { None },
            defers,
            unwatched: Cell::new(false),
            pressed: Cell::new(false),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            waiting: Cell::new(0),
            next: Cell::new(None),
            held: Cell::new(0),
        })
    }

    /// add watches socket `fd` for incoming bytes (edge-triggered: an exchange waits only after
    /// a read found nothing).
    pub fn add(&self, fd: RawFd) -> io::Result<Token> {
        let token = match self.free.borrow_mut().pop() {
            Some(t) => t,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot::default());
                slots.len() - 1
            }
        };
        self.slots.borrow_mut()[token].fd = fd;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token as u64,
        };
        // SAFETY: both descriptors are open; event is a valid epoll_event.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            self.free.borrow_mut().push(token);
            return Err(io::Error::last_os_error());
        }
        Ok(Token(token))
    }

    /// remove stops watching `fd`, which is about to be closed.
    pub fn remove(&self, token: Token, fd: RawFd) {
        // SAFETY: removing a descriptor from our own epoll set; failure leaves nothing to undo.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        self.slots.borrow_mut()[token.0] = Slot::default();
        self.free.borrow_mut().push(token.0);
    }

    /// expect says when the pacer wakes next (None: it has stopped). Exchanges waiting for a
    /// sweep are sent to wait by readiness when that is not soon.
    pub fn expect(&self, next: Option<Instant>) {
        self.next.set(next);
        if self.defers && self.waiting.get() > 0 && !self.soon() {
            self.wake_all();
        }
    }

    /// press says whether arrivals wait for a connection; while they do, waiting exchanges wait
    /// by readiness.
    pub fn press(&self, pressed: bool) {
        // Only the change matters: while pressed, no exchange starts waiting for a sweep.
        let was = self.pressed.replace(pressed);
        if pressed && !was && self.defers && self.waiting.get() > 0 {
            self.wake_all();
        }
    }

    /// wake_all wakes every waiting exchange.
    fn wake_all(&self) {
        for slot in self.slots.borrow_mut().iter_mut() {
            wake(slot, &self.waiting);
        }
    }

    /// soon says whether an exchange may wait for a sweep: the sweep does not defer, or the
    /// pacer wakes within `DEFER_MAX`.
    pub fn soon(&self) -> bool {
        if !self.defers {
            return !self.unwatched.get();
        }
        !self.pressed.get()
            && self
                .next
                .get()
                .is_some_and(|t| t.saturating_duration_since(Instant::now()) <= DEFER_MAX)
    }

    /// hold counts a wait on the runtime's own event loop (a connect, a read or write by
    /// readiness) until the guard it returns is dropped. While one is counted the pacer must
    /// sleep through that event loop, so the wait ends when its socket is ready.
    pub fn hold(&self) -> Hold<'_> {
        self.held.set(self.held.get() + 1);
        Hold(self)
    }

    /// lets_pacer_block says whether the pacer may sleep by blocking the thread (see
    /// `Pacer::sleep_until`): the sweep defers, so every response waiting is read on the
    /// pacer's wakes, and nothing waits on the runtime's event loop.
    pub fn lets_pacer_block(&self) -> bool {
        self.defers && self.held.get() == 0
    }

    /// defers says whether reads wait for the pacer's wakes, timed by the kernel's stamps.
    pub fn defers(&self) -> bool {
        self.defers
    }

    /// run_prompt sweeps whenever the set has something to report, for a sweep that does not
    /// defer; it runs as long as the worker.
    pub async fn run_prompt(self: Rc<Self>) {
        if self.watch().await.is_err() {
            self.unwatched.set(true);
            self.wake_all();
        }
    }

    async fn watch(&self) -> io::Result<()> {
        // SAFETY: the duplicate is a fresh descriptor owned by the AsyncFd, which deregisters it
        // before closing it.
        let set =
            unsafe { AsyncFd::register_with_interest(self.epoll.try_clone()?, Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
        loop {
            let mut guard = set.readable().await?;
            // The set is registered edge-triggered: it must be emptied before the readiness is
            // cleared, or it would never be reported again.
            self.collect();
            guard.clear_ready();
        }
    }

    /// wait completes at a sweep that found `token`'s connection readable, or that found the
    /// pacer's next wake too far off to wait for (the caller then waits by readiness).
    pub fn wait(&self, token: Token) -> Wait<'_> {
        Wait {
            sweep: self,
            token,
            registered: false,
        }
    }

    /// sweep wakes the exchanges whose connections received something since the last sweep,
    /// and says whether it woke any.
    pub fn sweep(&self) -> bool {
        if !self.defers || self.waiting.get() == 0 {
            return false;
        }
        let before = self.waiting.get();
        self.collect();
        self.waiting.get() < before
    }

    /// collect wakes the exchanges whose connections the set reports readable.
    fn collect(&self) {
        const BATCH: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            // SAFETY: events has room for BATCH entries; a zero timeout never blocks.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, 0)
            };
            if n <= 0 {
                return;
            }
            let mut slots = self.slots.borrow_mut();
            for e in &events[..n as usize] {
                if let Some(slot) = slots.get_mut(e.u64 as usize) {
                    wake(slot, &self.waiting);
                }
            }
            if (n as usize) < BATCH {
                return;
            }
        }
    }
}

/// stamp_receipts asks the kernel to stamp what socket `fd` receives (`SO_TIMESTAMPNS`).
pub fn stamp_receipts(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setting an int socket option on a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// stamping opens a socket (never bound, never used) that asks for receive stamps. The kernel
/// stamps packets only while some socket asks; when the last one closes it patches its code to
/// stop, which stalls every core. With a connection per request (`--no-keep-alive`) that
/// happened on nearly every request: connect time p50 48 µs without stamps, 135-142 µs with
/// them, until this socket kept them wanted.
fn stamping() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor it returns is owned here.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    stamp_receipts(socket.as_raw_fd())?;
    Ok(socket)
}

/// has_bytes says whether socket `fd` has something to read (or has ended, or failed).
pub fn has_bytes(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a byte we own, never blocking.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    !(n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock)
}

/// wake wakes the exchange waiting on `slot`, if any.
fn wake(slot: &mut Slot, waiting: &Cell<usize>) {
    if let Some(w) = slot.waker.take() {
        waiting.set(waiting.get() - 1);
        w.wake();
    }
}

/// Wait is an exchange waiting for a sweep (see `Sweep::wait`).
pub struct Wait<'a> {
    sweep: &'a Sweep,
    token: Token,
    registered: bool,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let sweep = self.sweep;
        let mut slots = sweep.slots.borrow_mut();
        let slot = &mut slots[self.token.0];
        if self.registered && slot.waker.is_none() {
            return Poll::Ready(());
        }
        if self.registered && has_bytes(slot.fd) {
            // Polled again without a sweep: the exchange's timeout is up. A response that came
            // in before it, unread only because no sweep looked yet, is not a timeout.
            slot.waker = None;
            sweep.waiting.set(sweep.waiting.get() - 1);
            return Poll::Ready(());
        }
        if !self.registered {
            sweep.waiting.set(sweep.waiting.get() + 1);
        }
        slot.waker = Some(cx.waker().clone());
        drop(slots);
        self.registered = true;
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        // An exchange given up on (its timeout) while waiting is no longer counted.
        let mut slots = self.sweep.slots.borrow_mut();
        if self.registered && slots[self.token.0].waker.take().is_some() {
            self.sweep.waiting.set(self.sweep.waiting.get() - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::pin::pin;

    fn poll(wait: Pin<&mut Wait<'_>>) -> Poll<()> {
        wait.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// one_connection is a deferring sweep watching one end of a socket pair, with the pacer
    /// due to wake soon.
    fn one_connection() -> (Sweep, UnixStream, UnixStream, Token) {
        let sweep = Sweep::new(true).unwrap();
        let (theirs, ours) = UnixStream::pair().unwrap();
        let token = sweep.add(ours.as_raw_fd()).unwrap();
        sweep.expect(Some(Instant::now() + Duration::from_micros(100)));
        (sweep, theirs, ours, token)
    }

    #[test]
    fn a_wait_ends_at_the_first_sweep_after_bytes_arrive() {
        let (sweep, mut theirs, _ours, token) = one_connection();
        let mut wait = pin!(sweep.wait(token));
        assert!(poll(wait.as_mut()).is_pending());
        assert!(!sweep.sweep(), "nothing arrived yet");
        assert!(poll(wait.as_mut()).is_pending());
        theirs.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!(sweep.waiting.get(), 1, "bytes alone wake nobody");
        assert!(sweep.sweep());
        assert!(poll(wait.as_mut()).is_ready());
        assert_eq!(sweep.waiting.get(), 0);
    }

    #[test]
    fn waits_end_when_the_pacer_stops_or_sleeps_long() {
        let (sweep, _theirs, _ours, token) = one_connection();
        let mut wait = pin!(sweep.wait(token));
        assert!(poll(wait.as_mut()).is_pending());
        sweep.expect(Some(Instant::now() + DEFER_MAX * 10));
        assert!(poll(wait.as_mut()).is_ready(), "sent to wait by readiness");
        assert!(!sweep.soon());
        sweep.expect(None);
        assert!(!sweep.soon());
    }

    #[test]
    fn a_wait_given_up_is_no_longer_counted() {
        let (sweep, _theirs, ours, token) = one_connection();
        {
            let mut wait = pin!(sweep.wait(token));
            assert!(poll(wait.as_mut()).is_pending());
            assert_eq!(sweep.waiting.get(), 1);
        }
        assert_eq!(sweep.waiting.get(), 0);
        sweep.remove(token, ours.as_raw_fd());
        assert_eq!(
            sweep.add(ours.as_raw_fd()).unwrap(),
            token,
            "tokens are reused"
        );
    }

    #[test]
    fn the_pacer_may_block_only_while_nothing_waits_on_the_runtime() {
        let sweep = Sweep::new(true).unwrap();
        assert!(sweep.lets_pacer_block());
        let connect = sweep.hold();
        let read = sweep.hold();
        assert!(!sweep.lets_pacer_block());
        drop(connect);
        assert!(!sweep.lets_pacer_block(), "one wait is still held");
        drop(read);
        assert!(sweep.lets_pacer_block());
        // A sweep that does not defer is itself watched through the runtime.
        assert!(!Sweep::new(false).unwrap().lets_pacer_block());
    }

    #[test]
    fn a_sweep_that_does_not_defer_always_lets_exchanges_wait_for_it() {
        let sweep = Sweep::new(false).unwrap();
        assert!(sweep.soon());
        sweep.expect(None);
        assert!(
            sweep.soon(),
            "its own readiness, not the pacer's wakes, ends the waits"
        );
    }

    #[test]
    fn a_wait_polled_without_a_sweep_ends_when_bytes_are_there() {
        // What a timeout does when it fires: the response is in, unread for want of a sweep.
        let (sweep, mut theirs, _ours, token) = one_connection();
        let mut wait = pin!(sweep.wait(token));
        assert!(poll(wait.as_mut()).is_pending());
        assert!(poll(wait.as_mut()).is_pending(), "nothing to read yet");
        theirs.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert!(poll(wait.as_mut()).is_ready());
        assert_eq!(sweep.waiting.get(), 0);
    }

    #[test]
    fn arrivals_waiting_for_a_connection_send_waits_to_readiness() {
        let (sweep, _theirs, _ours, token) = one_connection();
        let mut wait = pin!(sweep.wait(token));
        assert!(poll(wait.as_mut()).is_pending());
        sweep.press(true);
        assert!(poll(wait.as_mut()).is_ready());
        assert!(!sweep.soon());
        sweep.press(false);
        assert!(sweep.soon());
    }
}
