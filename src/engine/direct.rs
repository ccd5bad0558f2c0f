//! Direct: HTTP/1.1 exchanges written and read by the arrival's own task, on a cleartext socket.
//!
//! hyper's HTTP/1.1 client runs a task per connection and passes every request and response
//! through channels between it and the caller; that machinery (tasks, wakers, channels, header
//! maps) costs a third more CPU per exchange than this client (`benches/http1_client.rs`: 7.40
//! against 5.61 µs on the same loopback workload, 50 connections on one thread). Here the
//! request is bytes prepared once (`Prepared::wire`), the task that issues the arrival
//! writes them and reads the response itself, and `httparse` reads the head. Bodies are framed
//! as RFC 9112 section 6 says: none for HEAD, 1xx, 204 and 304; chunked; Content-Length; or up
//! to the end of the connection. TLS and HTTP/2 connections stay with hyper.
//!
//! The socket is not registered with the runtime's event loop: in a worker its responses are
//! read on the worker's sweep (see `sweep`). Outside a worker, or when the sweep will not look
//! soon, a wait registers the socket with the runtime for that wait alone.

use std::io::{self, Write};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

use super::exchange::{Body, ReadHints, Reply, Unsent, classify_io, verdict};
use super::sweep::{Hold, Sweep, Token, has_bytes, stamp_receipts};
use crate::plan::checks::Checks;
use crate::record::ErrorKind;

/// MAX_HEAD is the largest response head read; a longer one is a protocol error. (hyper's
/// default limit, which this client replaced, is about 400 KiB.)
const MAX_HEAD: usize = 400 * 1024;
/// MAX_HEADERS is the most header lines a response head may have.
const MAX_HEADERS: usize = 100;
/// READ_CHUNK is how much room each read is given.
const READ_CHUNK: usize = 16 * 1024;

/// Conn is one open HTTP/1.1 connection and the bytes read from it and not yet used.
pub struct Conn {
    /// A non-blocking socket, not registered with the runtime.
    socket: std::net::TcpStream,
    buf: Vec<u8>,
    /// Where the unused bytes in `buf` start.
    at: usize,
    /// The worker's sweep this connection's responses are read on, when it has one.
    swept: Option<(Rc<Sweep>, Token)>,
    /// The kernel's stamp of the bytes last read, if it gave one.
    received: Option<Instant>,
    /// Set when a request has just been written: its response cannot be there yet.
    just_sent: bool,
    /// Set when this exchange's response is read as it comes, not on the sweep: the request's
    /// responses are large or end with the connection (`ReadHints`), or this one turned out to
    /// end with the connection, whose close carries no stamp.
    prompt: bool,
    /// Bytes read for the current exchange.
    read_bytes: u64,
    /// The kernel's count of segments this connection received out of order, as last read.
    reordered: Option<u32>,
}

/// Socket lends a connection's descriptor to the runtime for one wait; it does not own it.
struct Socket<'a>(BorrowedFd<'a>);

impl AsRawFd for Socket<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Framing is how a response body's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Conn {
    /// new takes over a connected socket.
    pub fn new(stream: TcpStream) -> io::Result<Conn> {
        Ok(Conn {
            socket: stream.into_std()?,
            buf: Vec::with_capacity(READ_CHUNK),
            at: 0,
            swept: None,
            received: None,
            just_sent: false,
            prompt: false,
            read_bytes: 0,
            reordered: None,
        })
    }

    /// sweep_on has this connection's responses read on `sweep`, the worker's; when the sweep
    /// defers reads, the kernel is asked to stamp what the connection receives.
    pub fn sweep_on(&mut self, sweep: &Rc<Sweep>) -> io::Result<()> {
        if self.swept.is_some() {
            return Ok(());
        }
        if sweep.defers() {
            stamp_receipts(self.socket.as_raw_fd())?;
            // The count out-of-order segments are judged against (see `reordered`).
            self.reordered();
        }
        let token = sweep.add(self.socket.as_raw_fd())?;
        self.swept = Some((sweep.clone(), token));
        Ok(())
    }

    /// is_closed says whether the target closed the connection (or sent something unasked)
    /// while it sat idle.
    pub fn is_closed(&self) -> bool {
        // Nothing to read is a quiet, healthy connection; the end of it, bytes nobody asked
        // for, or an error mean it cannot carry a request.
        has_bytes(self.socket.as_raw_fd())
    }

    /// exchange writes `request` (a whole HTTP/1.1 request) and reads the response to its end;
    /// `head_only` says the request was HEAD, whose response has no body.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_only: bool,
        checks: &Checks,
        max_body: usize,
        reads: &ReadHints,
    ) -> Result<Reply, Unsent> {
        self.buf.clear();
        self.at = 0;
        self.received = None;
        self.prompt = !reads.defer();
        self.read_bytes = 0;
        let reply = self
            .send_and_read(request, head_only, checks, max_body)
            .await?;
        // Only a body that ends with the connection turns `prompt` on during the read.
        reads.learn(self.read_bytes, self.prompt);
        Ok(reply)
    }

    async fn send_and_read(
        &mut self,
        request: &[u8],
        head_only: bool,
        checks: &Checks,
        max_body: usize,
    ) -> Result<Reply, Unsent> {
        match (&self.socket).write(request) {
            Ok(0) => return Err(Unsent(ErrorKind::ResetClosed)),
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                return Err(Unsent(classify_io(&e)));
            }
            Ok(n) if n == request.len() => self.just_sent = true,
            sent => {
                let n = sent.unwrap_or(0);
                if let Err(e) = self.write_rest(&request[n..]).await {
                    // The target may have answered before reading the whole request (a 413
                    // for a body too large, say) and closed: its answer, when it sent one, is
                    // the outcome, not the broken write.
                    let mut reply = self.read_response(head_only, checks, max_body).await;
                    if reply.result.is_err_and(|kind| !kind.answered()) {
                        return Ok(Reply::failed(classify_io(&e)));
                    }
                    reply.reusable = false;
                    return Ok(reply);
                }
            }
        }
        Ok(self.read_response(head_only, checks, max_body).await)
    }

    /// write_rest writes what one write could not, waiting for room by readiness: only large
    /// requests get here.
    async fn write_rest(&self, mut rest: &[u8]) -> io::Result<()> {
        let (waiter, _held) = self.register(Interest::WRITABLE)?;
        while !rest.is_empty() {
            let mut guard = waiter.writable().await?;
            match guard.try_io(|_| (&self.socket).write(rest)) {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    /// readable waits until the socket may have something to read: for the worker's sweep when
    /// it will look soon, else by readiness.
    async fn readable(&self) -> io::Result<()> {
        if let Some((sweep, token)) = self.deferred() {
            sweep.wait(token).await;
            return Ok(());
        }
        let (waiter, _held) = self.register(Interest::READABLE)?;
        let _ready = waiter.readable().await?;
        Ok(())
    }

    /// deferred is the sweep to wait for, when this read may wait for one: the connection is on
    /// a sweep that will look soon, and the response is not one to read as it comes.
    fn deferred(&self) -> Option<(&Sweep, Token)> {
        let (sweep, token) = self.swept.as_ref()?;
        (!self.prompt && sweep.soon()).then_some((&**sweep, *token))
    }

    /// register has the runtime watch the socket for `interest`, until what it returns is
    /// dropped; meanwhile the sweep, if any, counts the wait (see `Sweep::hold`).
    fn register(&self, interest: Interest) -> io::Result<(AsyncFd<Socket<'_>>, Option<Hold<'_>>)> {
        // SAFETY: the descriptor is the connection's own and stays open while the returned
        // watcher lives (it borrows `self`); the watcher deregisters it, without closing it,
        // when dropped.
        let waiter =
            unsafe { AsyncFd::register_with_interest(Socket(self.socket.as_fd()), interest) }
                .map_err(|e| e.into_parts().1)?;
        Ok((waiter, self.swept.as_ref().map(|(s, _)| s.hold())))
    }

    /// reordered says whether segments reached this connection out of order since it last
    /// asked (or whether it cannot tell). Then the kernel's stamp may be too early: a segment
    /// that arrived ahead of a lost or delayed one lends its earlier stamp to the data it is
    /// merged with, so the response is timed when it is read instead.
    fn reordered(&mut self) -> bool {
        // SAFETY: an all-zero tcp_info is a valid value for the kernel to fill in.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `info`, which we own.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &raw mut len,
            )
        };
        let known = std::mem::offset_of!(libc::tcp_info, tcpi_rcv_ooopack) + size_of::<u32>();
        if rc < 0 || (len as usize) < known {
            return true; // a kernel older than 5.4 does not count them
        }
        let count = info.tcpi_rcv_ooopack;
        let before = self.reordered.replace(count);
        before != Some(count)
    }

    /// recv reads what has arrived into the spare room of `buf`, without waiting, and keeps the
    /// kernel's stamp of it when there is one.
    fn recv(&mut self) -> io::Result<usize> {
        let spare = self.buf.spare_capacity_mut();
        let mut iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        // Room for one timestamp message, aligned for cmsghdr.
        let mut control = [0u64; 8];
        // SAFETY: an all-zero msghdr is a valid empty one; its pointers are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        // SAFETY: msg points at a buffer and control space we own, valid for the call.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &raw mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel initialised the first n bytes of the spare room.
        unsafe { self.buf.set_len(self.buf.len() + n as usize) };
        self.read_bytes += n as u64;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
        while !cmsg.is_null() {
            // SAFETY: cmsg points at a complete control message header within `control`.
            let header = unsafe { &*cmsg };
            if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_TIMESTAMPNS {
                // SAFETY: an SCM_TIMESTAMPNS message carries one timespec, maybe unaligned.
                let stamp: libc::timespec =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                self.received = Some(monotonic(stamp));
            }
            // SAFETY: as above; returns null after the last message.
            cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
        }
        Ok(n as usize)
    }

    /// read_response reads a response to its end, its body up to `max_body` bytes.
    async fn read_response(&mut self, head_only: bool, checks: &Checks, max_body: usize) -> Reply {
        let (status, framing, keep_alive) = loop {
            match self.read_head(head_only).await {
                Ok(Some(head)) => break head,
                Ok(None) => continue, // 1xx: the real response follows
                Err(kind) => return Reply::failed(kind),
            }
        };
        let mut body = Body::new(checks, max_body);
        let whole = match framing {
            Framing::None => Ok(true),
            // A body announced as longer than max_body is refused before any of it is read.
            Framing::Length(n) => match body.declared(n) {
                Ok(()) => self.read_length(n, &mut body).await.map(|()| true),
                Err(kind) => Err(kind),
            },
            Framing::Chunked => self.read_chunked(&mut body).await.map(|()| true),
            Framing::UntilClose => self.read_to_close(&mut body).await.map(|()| false),
        };
        match whole {
            Ok(reusable) => {
                let (result, check_failure) = verdict(checks, status, body);
                // Bytes after the response were not asked for: the connection is out of step
                // with the target, and is not used again.
                let in_step = self.at == self.buf.len();
                if self.received.is_some() && self.reordered() {
                    self.received = None;
                }
                Reply {
                    result,
                    reusable: reusable && keep_alive && in_step,
                    check_failure,
                    received: self.received,
                }
            }
            Err(kind) => Reply::failed(kind),
        }
    }

    /// read_head reads one response head: Some((status, framing, keep-alive)), or None for an
    /// interim (1xx) response, which has been consumed.
    async fn read_head(
        &mut self,
        head_only: bool,
    ) -> Result<Option<(u16, Framing, bool)>, ErrorKind> {
        loop {
            if let Some((len, status, head)) = parse_head(&self.buf[self.at..], head_only)? {
                self.at += len;
                if status < 100 {
                    return Err(ErrorKind::Protocol);
                }
                if status == 101 {
                    // A protocol switch nobody asked for: a final answer (that no check
                    // accepts) after which the connection no longer speaks HTTP.
                    return Ok(Some((status, Framing::None, false)));
                }
                if status < 200 {
                    return Ok(None);
                }
                // A body that ends with the connection leaves nothing to reuse.
                let keep_alive = head.keep_alive && head.framing != Framing::UntilClose;
                return Ok(Some((status, head.framing, keep_alive)));
            }
            if self.buf.len() - self.at >= MAX_HEAD {
                return Err(ErrorKind::Protocol);
            }
            match self.fill().await {
                Ok(0) => return Err(ErrorKind::ResetClosed),
                Ok(_) => {}
                Err(e) => return Err(classify_io(&e)),
            }
        }
    }

    /// fill reads more bytes after those not yet used; Ok(0) at the end of the connection.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            if self.at > 0 {
                self.buf.drain(..self.at);
                self.at = 0;
            }
            self.buf.reserve(READ_CHUNK);
        }
        if std::mem::take(&mut self.just_sent)
            && let Some((sweep, token)) = self.deferred()
        {
            // A read now would almost always find nothing: wait for the sweep that sees the
            // response (its bytes arrive after this point, so the edge-triggered set reports
            // them).
            sweep.wait(token).await;
        }
        loop {
            match self.recv() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                done => return done,
            }
        }
    }

    /// take hands up to `n` unused bytes to the body, reading more first when there are none.
    async fn take(&mut self, n: u64, body: &mut Body) -> Result<u64, ErrorKind> {
        if self.at == self.buf.len() {
            match self.fill().await {
                Ok(0) | Err(_) => return Err(ErrorKind::BodyRead),
                Ok(_) => {}
            }
        }
        let have = (self.buf.len() - self.at).min(usize::try_from(n).unwrap_or(usize::MAX));
        body.take(&self.buf[self.at..self.at + have])?;
        self.at += have;
        Ok(have as u64)
    }

    async fn read_length(&mut self, mut left: u64, body: &mut Body) -> Result<(), ErrorKind> {
        while left > 0 {
            left -= self.take(left, body).await?;
        }
        Ok(())
    }

    /// read_to_close reads a body that ends with the connection. The close carries no stamp,
    /// so it is waited for by readiness and timed when it is read.
    async fn read_to_close(&mut self, body: &mut Body) -> Result<(), ErrorKind> {
        self.prompt = true;
        loop {
            if self.at < self.buf.len() {
                self.take(u64::MAX, body).await?;
            }
            match self.fill().await {
                Ok(0) => {
                    self.received = None;
                    return Ok(());
                }
                Ok(_) => {}
                Err(_) => return Err(ErrorKind::BodyRead),
            }
        }
    }

    /// line consumes the next CRLF-terminated line, reading more as needed, and returns where
    /// it stands in `buf` (without the CRLF), valid until the next read.
    async fn line(&mut self) -> Result<Range<usize>, ErrorKind> {
        loop {
            let unused = &self.buf[self.at..];
            if let Some(i) = unused.windows(2).position(|w| w == b"\r\n") {
                let line = self.at..self.at + i;
                self.at += i + 2;
                return Ok(line);
            }
            if unused.len() > 4096 {
                // A chunk-size or trailer line that long is not HTTP.
                return Err(ErrorKind::Protocol);
            }
            match self.fill().await {
                Ok(0) | Err(_) => return Err(ErrorKind::BodyRead),
                Ok(_) => {}
            }
        }
    }

    async fn read_chunked(&mut self, body: &mut Body) -> Result<(), ErrorKind> {
        loop {
            let line = self.line().await?;
            // Framing that is not valid HTTP is a protocol error; the connection failing under
            // it (in `line` or `read_length`) is a body read error.
            let size = chunk_size(&self.buf[line]).ok_or(ErrorKind::Protocol)?;
            if size == 0 {
                // Trailer fields, if any, up to the empty line.
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            self.read_length(size, body).await?;
            if !self.line().await?.is_empty() {
                // The chunk's data is not followed by its CRLF: longer than its size said.
                return Err(ErrorKind::Protocol);
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some((sweep, token)) = &self.swept {
            sweep.remove(*token, self.socket.as_raw_fd());
        }
    }
}

/// monotonic turns a kernel receive stamp (CLOCK_REALTIME) into an `Instant`, by its age now.
fn monotonic(stamp: libc::timespec) -> Instant {
    let now = Instant::now();
    let mut real = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &raw mut real) };
    let nanos = |t: libc::timespec| i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
    // A stamp from the future (the wall clock stepped back) is taken as now.
    let age = u64::try_from(nanos(real) - nanos(stamp)).unwrap_or(0);
    now.checked_sub(Duration::from_nanos(age)).unwrap_or(now)
}

/// parse_head parses a response head at the start of `bytes` (the answer to a HEAD request when
/// `head_only`): its length, status and what it says of the body, or None when the head is not
/// complete yet. (A plain function, so the header table lives on the stack and not in every
/// waiting task.)
fn parse_head(bytes: &[u8], head_only: bool) -> Result<Option<(usize, u16, Head)>, ErrorKind> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => {
            let status = response.code.unwrap_or(0);
            // RFC 9112 section 6.3: these have no body, whatever their header lines say.
            let bodyless = head_only || status < 200 || status == 204 || status == 304;
            let head = head_facts(response.headers, response.version == Some(0), bodyless)?;
            Ok(Some((len, status, head)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(ErrorKind::Protocol),
    }
}

/// Head is what a response's header lines say about its body and its connection.
struct Head {
    /// How the body ends: none for HEAD, 1xx, 204 and 304, else as the header lines say.
    framing: Framing,
    /// Whether the target means to keep the connection open.
    keep_alive: bool,
}

/// head_facts reads framing and keep-alive from a response's header lines. Only the values it
/// needs are read; others may hold any bytes a header may (RFC 9110 allows obs-text).
fn head_facts(
    headers: &[httparse::Header<'_>],
    http10: bool,
    bodyless: bool,
) -> Result<Head, ErrorKind> {
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = false;
    let mut keep_alive_asked = false;
    for h in headers {
        if bodyless
            && (h.name.eq_ignore_ascii_case("content-length")
                || h.name.eq_ignore_ascii_case("transfer-encoding"))
        {
            // Framing headers of a response without a body frame nothing: not read, as hyper
            // does not read them either.
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            for v in h.value.split(|&b| b == b',') {
                let n = decimal(v.trim_ascii()).ok_or(ErrorKind::Protocol)?;
                if length.is_some_and(|l| l != n) {
                    return Err(ErrorKind::Protocol);
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if http10 {
                // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty.
                return Err(ErrorKind::Protocol);
            }
            // Only the last coding decides whether the body is chunked.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_asked |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing = match (chunked, length) {
        _ if bodyless => Framing::None,
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilClose,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    };
    let keep_alive = !close && (!http10 || keep_alive_asked);
    Ok(Head {
        framing,
        keep_alive,
    })
}

/// decimal reads a Content-Length value: ASCII digits only (no sign), at most 19 of them.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// chunk_size reads a chunk-size line: hex digits, then optional extensions after `;`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim_matches([' ', '\t']);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// ResponseHead is what [`parse_response_head`] read of a complete response head.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes the head took, its blank line included.
    pub len: usize,
    /// The status code (0 when httparse gave none).
    pub status: u16,
    /// How the body ends.
    pub framing: Framing,
    /// Whether the target means to keep the connection open.
    pub keep_alive: bool,
}

/// parse_response_head is `parse_head` with its result public, for the fuzz tests
/// (`tests/fuzz.rs`): None while the head is incomplete.
#[doc(hidden)]
pub fn parse_response_head(
    bytes: &[u8],
    head_only: bool,
) -> Result<Option<ResponseHead>, ErrorKind> {
    Ok(
        parse_head(bytes, head_only)?.map(|(len, status, head)| ResponseHead {
            len,
            status,
            framing: head.framing,
            keep_alive: head.keep_alive,
        }),
    )
}

/// BenchClient is this module's client as a worker in dense mode uses it (its connection on a
/// sweep that reads as responses arrive, through the runtime's event loop), for
/// `benches/http1_client.rs`, which sets it beside hyper's HTTP/1.1 client on the same
/// workload. Run it on a `LocalSet`.
#[doc(hidden)]
pub struct BenchClient {
    conn: Conn,
    checks: Checks,
    reads: ReadHints,
}

impl BenchClient {
    /// sweep is a worker's sweep in dense mode, watched by a task spawned on the current
    /// `LocalSet`; share it between the clients of one thread.
    pub fn sweep() -> io::Result<Rc<Sweep>> {
        let sweep = Rc::new(Sweep::new(false)?);
        tokio::task::spawn_local(sweep.clone().run_prompt());
        Ok(sweep)
    }

    /// connect opens a connection to `addr` on `sweep`.
    pub async fn connect(addr: std::net::SocketAddr, sweep: &Rc<Sweep>) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn::new(stream)?;
        conn.sweep_on(sweep)?;
        Ok(BenchClient {
            conn,
            checks: Checks::default(),
            reads: ReadHints::default(),
        })
    }

    /// exchange sends `request` and reads its response to the end: the body's length, or why not.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<u64, ErrorKind> {
        match (self.conn)
            .exchange(request, false, &self.checks, 1 << 20, &self.reads)
            .await
        {
            Ok(reply) => reply.result,
            Err(Unsent(kind)) => Err(kind),
        }
    }
}

/// answer_over_loopback reads, with this module's own reader, the response a loopback peer
/// sends back to a GET (HEAD when `head_only`): the peer writes `response` in pieces cut at
/// `cuts`, then closes its side. For the fuzz tests (`tests/fuzz.rs`): the whole reader, chunked
/// bodies included, run on any bytes. Err says the exchange did not end within 10 s (a hang) or
/// the loopback could not be set up.
#[doc(hidden)]
pub fn answer_over_loopback(
    response: &[u8],
    cuts: &[usize],
    head_only: bool,
    max_body: usize,
) -> Result<Reply, String> {
    use std::io::Read;
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut pieces = Vec::new();
    let mut at = 0;
    let mut sorted: Vec<usize> = cuts.iter().map(|&c| c.min(response.len())).collect();
    sorted.sort_unstable();
    for cut in sorted.into_iter().chain([response.len()]) {
        if cut > at {
            pieces.push(response[at..cut].to_vec());
            at = cut;
        }
    }
    let peer = std::thread::spawn(move || -> io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut chunk)? {
                0 => return Ok(()),
                n => request.extend_from_slice(&chunk[..n]),
            }
        }
        for piece in pieces {
            if socket.write_all(&piece).is_err() {
                return Ok(()); // the reader gave up early (a head refused): fine
            }
        }
        // The reader may have given up and gone already.
        let _ = socket.shutdown(std::net::Shutdown::Write);
        // Wait for the reader to close (with a reset, below), so neither side keeps TIME_WAIT.
        while matches!(socket.read(&mut chunk), Ok(n) if n > 0) {}
        Ok(())
    });
    let request: &[u8] = if head_only {
        b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    };
    let reply = RUNTIME.with(|rt| {
        rt.block_on(async {
            let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            // A reset at close: a campaign of millions of connections leaves no TIME_WAIT.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt reads one linger struct we own, on the stream's own socket.
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            let mut conn = Conn::new(stream).map_err(|e| e.to_string())?;
            let checks = Checks::default();
            let reads = ReadHints::default();
            let exchange = conn.exchange(request, head_only, &checks, max_body, &reads);
            match tokio::time::timeout(Duration::from_secs(10), exchange).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(Unsent(kind))) => Ok(Reply::failed(kind)),
                Err(_) => Err("the exchange did not end within 10 s".to_string()),
            }
        })
    });
    let peer = peer
        .join()
        .map_err(|_| "the loopback peer panicked".to_string())?;
    peer.map_err(|e| format!("the loopback peer failed: {e}"))?;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"FF;name=value"), Some(255));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"xyz"), None);
        assert_eq!(chunk_size(b"11111111111111111"), None);
    }

    fn facts(lines: &[(&str, &str)], http10: bool) -> Result<(Framing, bool), ErrorKind> {
        let headers: Vec<_> = lines
            .iter()
            .map(|(n, v)| httparse::Header {
                name: n,
                value: v.as_bytes(),
            })
            .collect();
        head_facts(&headers, http10, false).map(|h| (h.framing, h.keep_alive))
    }

    #[test]
    fn framing_and_keep_alive_follow_the_head() {
        assert_eq!(
            facts(&[("Content-Length", "5")], false),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            facts(&[("content-length", "5, 5")], false),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            facts(&[("Content-Length", "5, 6")], false),
            Err(ErrorKind::Protocol)
        );
        assert_eq!(
            facts(&[("Content-Length", "-1")], false),
            Err(ErrorKind::Protocol)
        );
        assert_eq!(
            facts(&[("Content-Length", "+5")], false),
            Err(ErrorKind::Protocol)
        );
        assert_eq!(
            facts(&[("Transfer-Encoding", "chunked")], true),
            Err(ErrorKind::Protocol)
        );
        assert_eq!(
            facts(
                &[
                    ("Transfer-Encoding", "gzip, chunked"),
                    ("Content-Length", "3")
                ],
                false
            ),
            Ok((Framing::Chunked, true))
        );
        assert_eq!(facts(&[], false), Ok((Framing::UntilClose, true)));
        assert_eq!(
            facts(&[("Content-Length", "0"), ("Connection", "close")], false),
            Ok((Framing::Length(0), false))
        );
        assert_eq!(
            facts(&[("Content-Length", "0")], true),
            Ok((Framing::Length(0), false))
        );
        assert_eq!(
            facts(
                &[("Content-Length", "0"), ("Connection", "Keep-Alive")],
                true
            ),
            Ok((Framing::Length(0), true))
        );
    }
}
