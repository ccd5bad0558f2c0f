//! Pool: one worker's connections to the target, HTTP/1.1 or HTTP/2, cleartext or TLS.
//!
//! A slot semaphore bounds what may be in use at once: for HTTP/1.1 one slot is one connection
//! (open or opening); for HTTP/2 one slot is one stream, `max_streams` of them per connection.
//! Whoever holds a slot reuses an idle HTTP/1.1 connection, shares an HTTP/2 connection with a
//! free stream, or opens a connection. Cleartext HTTP/1.1 connections are `direct::Conn`s the
//! arrival's task writes and reads itself; TLS and HTTP/2 connections go through hyper. Slots
//! are handed out first come, first served, so the time spent waiting for one is an arrival's
//! queue wait. New connections open at a bounded
//! pace (a governor limiter), so a spike against a slowing target does not become a connection
//! storm. The pool lives on one worker thread and is not shared across threads.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_rustls::TlsConnector;

use super::direct::Conn;
use super::exchange::classify_connect;
use super::sweep::{Hold, Sweep};
use super::tls;
use crate::plan::{HttpVersion, Transport};
use crate::record::ErrorKind;

/// Sender sends requests on one connection.
pub enum Sender {
    /// A cleartext HTTP/1.1 connection the arrival's task writes and reads itself.
    Direct(Conn),
    /// An HTTP/1.1 connection over TLS, through hyper: one request at a time.
    H1(http1::SendRequest<Full<Bytes>>),
    /// A handle on an HTTP/2 connection: many streams at a time.
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// is_closed says whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::Direct(c) => c.is_closed(),
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    async fn ready(&mut self) -> bool {
        match self {
            Sender::Direct(c) => !c.is_closed(),
            Sender::H1(s) => s.ready().await.is_ok(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }
}

/// Opened is a new connection and what opening it cost.
pub struct Opened {
    /// The connection.
    pub sender: Sender,
    /// TCP connect (and, with TLS, the handshake too).
    pub connect: Duration,
    /// The TLS handshake alone, when there was one.
    pub tls: Option<Duration>,
}

/// Failed is a connection that could not be opened, and how long trying took.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    /// Why.
    pub kind: ErrorKind,
    /// Time spent trying.
    pub took: Duration,
    /// For a TLS error, why the certificate was refused, when that is known.
    pub refusal: Option<tls::Refusal>,
}

/// Dialer opens connections to the target.
#[derive(Clone)]
pub struct Dialer {
    addr: SocketAddr,
    timeout: Duration,
    http: HttpVersion,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Whether HTTP/1.1 connections over TLS (hyper's) copy each request into one buffer and
    /// write it at once (see `FLATTEN_BODY_LIMIT`). Cleartext ones (`Sender::Direct`) always
    /// write each request with one write.
    flatten: bool,
}

/// FLATTEN_BODY_LIMIT is the largest request body for which HTTP/1.1 connections over TLS write
/// head and body with one flattened write. A flattened write measured 5-10 % more requests per
/// second on one core at saturation, but hyper copies the body into the connection's write
/// buffer, which keeps its largest size for the connection's life: with large bodies that is a
/// copy per request and memory that grows with connections × body size, so they keep the
/// vectored write.
pub const FLATTEN_BODY_LIMIT: usize = 16 * 1024;

impl Dialer {
    /// new prepares to connect to `addr` (named `host` for TLS) as `transport` says.
    pub fn new(
        addr: SocketAddr,
        host: &str,
        transport: &Transport,
        timeout: Duration,
    ) -> Result<Dialer, String> {
        let tls = if transport.tls {
            Some((
                TlsConnector::from(tls::client_config(transport)?),
                tls::server_name(host)?,
            ))
        } else {
            None
        };
        Ok(Dialer {
            addr,
            timeout,
            http: transport.http,
            tls,
            flatten: false,
        })
    }

    /// flatten_writes makes HTTP/1.1 connections over TLS write each request with one flattened
    /// write; for requests whose bodies are all at most `FLATTEN_BODY_LIMIT` bytes.
    pub fn flatten_writes(&mut self, yes: bool) {
        self.flatten = yes;
    }

    /// open opens one connection, within the timeout.
    pub async fn open(&self) -> Result<Opened, Failed> {
        let started = Instant::now();
        let failed = |(kind, refusal)| Failed {
            kind,
            took: started.elapsed(),
            refusal,
        };
        match tokio::time::timeout(self.timeout, self.dial(started)).await {
            Ok(r) => r.map_err(failed),
            Err(_) => Err(failed((ErrorKind::ConnectTimeout, None))),
        }
    }

    /// dial opens the connection; a failure is its kind and, for a refused certificate, why.
    async fn dial(&self, started: Instant) -> Result<Opened, (ErrorKind, Option<tls::Refusal>)> {
        let plain = |kind| (kind, None);
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| plain(classify_connect(&e)))?;
        // Small requests must leave at once, not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => {
                let sender = if self.http == HttpVersion::Http2 {
                    handshake(TokioIo::new(stream), true, self.flatten)
                        .await
                        .map_err(plain)?
                } else {
                    Sender::Direct(Conn::new(stream).map_err(|e| plain(classify_connect(&e)))?)
                };
                Ok(Opened {
                    sender,
                    connect: started.elapsed(),
                    tls: None,
                })
            }
            Some((connector, name)) => {
                let tls_started = Instant::now();
                let stream = connector.connect(name.clone(), stream).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        (ErrorKind::Tls, tls::Refusal::of(&e))
                    } else {
                        plain(classify_connect(&e))
                    }
                })?;
                let tls = tls_started.elapsed();
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                if self.http == HttpVersion::Http2 && !h2 {
                    return Err(plain(ErrorKind::Tls));
                }
                let sender = handshake(TokioIo::new(stream), h2, self.flatten)
                    .await
                    .map_err(plain)?;
                Ok(Opened {
                    sender,
                    connect: started.elapsed(),
                    tls: Some(tls),
                })
            }
        }
    }
}

async fn handshake<T>(io: TokioIo<T>, h2: bool, flatten: bool) -> Result<Sender, ErrorKind>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| ErrorKind::ConnectError)?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let mut builder = http1::Builder::new();
        if flatten {
            builder.writev(false);
        }
        let (sender, connection) = builder
            .handshake(io)
            .await
            .map_err(|_| ErrorKind::ConnectError)?;
        tokio::task::spawn_local(async move {
            // The connection ends when the target closes it or every sender is dropped.
            let _ = connection.await;
        });
        Ok(Sender::H1(sender))
    }
}

/// H2Connection is an HTTP/2 connection, shared by the streams in use on it.
struct H2Connection {
    id: u64,
    sender: http2::SendRequest<Full<Bytes>>,
    streams: usize,
}

/// Pool holds a worker's connections.
pub struct Pool {
    dialer: Dialer,
    /// One permit per HTTP/1.1 connection, or per HTTP/2 stream.
    slots: Semaphore,
    /// HTTP/1.1 connections open and not carrying a request.
    idle: RefCell<Vec<Sender>>,
    /// HTTP/2 connections with their streams in use.
    shared: RefCell<Vec<H2Connection>>,
    /// Whether the target speaks HTTP/2 (known once a connection is open).
    h2: Cell<bool>,
    next_id: Cell<u64>,
    /// HTTP/2 connections being opened now, so arrivals that find no free stream do not all
    /// open one past the connection limit.
    h2_opening: Cell<usize>,
    connections: usize,
    max_streams: usize,
    keep_alive: bool,
    /// Paces new connections.
    limiter: DefaultDirectRateLimiter,
    /// Where cleartext HTTP/1.1 connections have their responses read, when the worker sweeps.
    sweep: Option<Rc<Sweep>>,
}

/// Lease is the right to send one request: a slot, and the connection it found if any.
pub struct Lease<'a> {
    pool: &'a Pool,
    _slot: SemaphorePermit<'a>,
    /// A connection ready to send on, or None when one must be opened.
    pub sender: Option<Sender>,
    /// The shared HTTP/2 connection whose stream this lease holds.
    h2: Option<u64>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.h2 {
            let mut shared = self.pool.shared.borrow_mut();
            if let Some(c) = shared.iter_mut().find(|c| c.id == id) {
                c.streams -= 1;
            }
        }
    }
}

impl Pool {
    /// new makes an empty pool of at most `connections` connections, opening at most
    /// `connect_rate` per second after the first `connections`.
    pub fn new(
        dialer: Dialer,
        transport: &Transport,
        connections: usize,
        connect_rate: u32,
    ) -> Pool {
        let connections = connections.max(1);
        let burst = NonZeroU32::new(connections.min(u32::MAX as usize) as u32).unwrap();
        let rate = NonZeroU32::new(connect_rate.max(1)).unwrap();
        let h2 = transport.http == HttpVersion::Http2;
        Pool {
            dialer,
            slots: Semaphore::new(if h2 {
                connections * transport.max_streams.max(1)
            } else {
                connections
            }),
            idle: RefCell::new(Vec::with_capacity(connections)),
            shared: RefCell::new(Vec::new()),
            h2: Cell::new(h2),
            next_id: Cell::new(0),
            h2_opening: Cell::new(0),
            connections,
            max_streams: transport.max_streams.max(1),
            keep_alive: transport.keep_alive,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            sweep: None,
        }
    }

    /// sweep_on has the responses of cleartext HTTP/1.1 connections opened from now on read on
    /// `sweep`, when the worker's pacer wakes.
    pub fn sweep_on(&mut self, sweep: Rc<Sweep>) {
        self.sweep = Some(sweep);
    }

    /// on_sweep puts a new connection on the pool's sweep, if it has one; a connection that
    /// cannot be put there waits for its responses by readiness.
    fn on_sweep(&self, sender: &mut Sender) {
        if let (Some(sweep), Sender::Direct(conn)) = (&self.sweep, sender)
            && conn.sweep_on(sweep).is_err()
        {
            // Its reads wait on the runtime's event loop unseen by the sweep: from now on the
            // pacer never blocks the thread (see `Sweep::hold`).
            std::mem::forget(sweep.hold());
        }
    }

    /// hold counts a wait on the runtime's event loop on the pool's sweep, if it has one.
    fn hold(&self) -> Option<Hold<'_>> {
        self.sweep.as_ref().map(|s| s.hold())
    }

    /// capacity is how many slots the pool has: one per connection, or, once the target is
    /// known to speak HTTP/2, `max_streams` per connection.
    pub fn capacity(&self) -> usize {
        if self.h2.get() && self.keep_alive {
            self.connections * self.max_streams
        } else {
            self.connections
        }
    }

    /// lease waits for a slot, then for a usable connection or, failing that, for the pace
    /// limiter to allow opening a new one.
    pub async fn lease(&self) -> Lease<'_> {
        let slot = self
            .slots
            .acquire()
            .await
            .expect("the pool never closes its semaphore");
        let mut lease = Lease {
            pool: self,
            _slot: slot,
            sender: None,
            h2: None,
        };
        if self.h2.get() {
            self.shared.borrow_mut().retain(|c| !c.sender.is_closed());
            let at_limit = self.shared.borrow().len() + self.h2_opening.get() >= self.connections;
            let found = {
                let mut shared = self.shared.borrow_mut();
                let free = shared.iter().position(|c| c.streams < self.max_streams);
                // At the connection limit with every stream busy, the least busy connection
                // takes one more (the server queues it) rather than a connection past the limit.
                let pick = free.or_else(|| {
                    if at_limit {
                        (0..shared.len()).min_by_key(|&i| shared[i].streams)
                    } else {
                        None
                    }
                });
                pick.map(|i| {
                    let c = &mut shared[i];
                    c.streams += 1;
                    (c.id, c.sender.clone())
                })
            };
            if let Some((id, sender)) = found {
                lease.h2 = Some(id);
                lease.sender = Some(Sender::H2(sender));
                return lease;
            }
        } else {
            loop {
                let candidate = self.idle.borrow_mut().pop();
                let Some(mut s) = candidate else { break };
                if s.ready().await {
                    lease.sender = Some(s);
                    return lease;
                }
                // Closed by the target while idle: drop it and look again.
            }
        }
        let _held = self.hold();
        self.limiter.until_ready().await;
        lease
    }

    /// open opens a new connection for a lease that found none.
    pub async fn open(&self, lease: &mut Lease<'_>) -> Result<Opened, Failed> {
        let h2 = self.h2.get();
        if h2 {
            self.h2_opening.set(self.h2_opening.get() + 1);
        }
        let opened = {
            let _held = self.hold();
            self.dialer.open().await
        };
        if h2 {
            self.h2_opening.set(self.h2_opening.get() - 1);
        }
        let mut opened = opened?;
        self.on_sweep(&mut opened.sender);
        if let Sender::H2(s) = &opened.sender
            && self.keep_alive
        {
            // A retry replaces the lease's connection: give back the stream it held.
            if let Some(old) = lease.h2.take()
                && let Some(c) = self.shared.borrow_mut().iter_mut().find(|c| c.id == old)
            {
                c.streams -= 1;
            }
            lease.h2 = Some(self.adopt(s.clone(), 1));
        }
        if matches!(opened.sender, Sender::H2(_)) {
            self.speaks_h2();
        }
        Ok(opened)
    }

    /// speaks_h2 records that a connection came up as HTTP/2 (by ALPN): from the first one on,
    /// a slot is a stream, `max_streams` per connection.
    fn speaks_h2(&self) {
        if !self.h2.get() && self.keep_alive {
            self.h2.set(true);
            self.slots
                .add_permits(self.connections * (self.max_streams - 1));
        }
    }

    fn adopt(&self, sender: http2::SendRequest<Full<Bytes>>, streams: usize) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.shared.borrow_mut().push(H2Connection {
            id,
            sender,
            streams,
        });
        id
    }

    /// give_back returns a connection after a complete exchange: an HTTP/1.1 one goes back to
    /// the idle list (unless keep-alive is off); an HTTP/2 one stays shared.
    pub fn give_back(&self, sender: Sender) {
        if matches!(sender, Sender::Direct(_) | Sender::H1(_)) && self.keep_alive {
            self.idle.borrow_mut().push(sender);
        }
    }

    /// preopen opens up to `n` connections before the schedule starts, bypassing the pace
    /// limiter; it returns how many opened and the first error, if any.
    pub async fn preopen(&self, n: usize) -> (usize, Option<ErrorKind>) {
        if !self.keep_alive {
            return (0, None);
        }
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let dialer = self.dialer.clone();
            set.spawn_local(async move { dialer.open().await });
        }
        let (mut opened, mut first_error) = (0, None);
        while let Some(r) = set.join_next().await {
            match r.expect("preopen tasks do not panic") {
                Ok(mut o) => {
                    opened += 1;
                    self.on_sweep(&mut o.sender);
                    match o.sender {
                        s @ (Sender::Direct(_) | Sender::H1(_)) => self.idle.borrow_mut().push(s),
                        Sender::H2(s) => {
                            self.speaks_h2();
                            self.adopt(s, 0);
                        }
                    }
                }
                Err(f) => {
                    first_error.get_or_insert(f.kind);
                }
            }
        }
        (opened, first_error)
    }
}

/// dialer_for builds the dialer of a plan's target at a resolved address.
pub fn dialer_for(
    addr: SocketAddr,
    target: &crate::plan::Target,
    timeout: Duration,
) -> Result<Dialer, String> {
    Dialer::new(addr, &target.host, &target.transport, timeout)
}
