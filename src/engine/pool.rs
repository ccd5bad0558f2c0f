//! Pool: one worker's HTTP/1.1 keep-alive connections to the target.
//!
//! A slot semaphore bounds how many connections exist (open or opening); whoever holds a slot
//! either reuses an idle connection or opens one. Slots are handed out first come, first served,
//! so the time spent waiting for one is an arrival's queue wait. New connections open at a
//! bounded pace (a governor limiter), so a spike against a slowing target does not become a
//! connection storm. The pool lives on one worker thread and is not shared across threads.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::exchange::classify_connect;
use crate::record::ErrorKind;

/// Sender sends requests on one connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// Pool holds a worker's connections.
pub struct Pool {
    addr: SocketAddr,
    /// One permit per connection the worker may have.
    slots: Semaphore,
    /// Connections open and not carrying a request.
    idle: RefCell<Vec<Sender>>,
    /// Paces new connections.
    limiter: DefaultDirectRateLimiter,
    /// Bound on opening one connection.
    connect_timeout: Duration,
}

/// Lease is the right to use one connection: a slot, and the idle connection it found if any.
pub struct Lease<'a> {
    _slot: SemaphorePermit<'a>,
    /// A pooled connection ready to send, or None when one must be opened.
    pub sender: Option<Sender>,
}

impl Pool {
    /// new makes an empty pool of at most `connections` connections to `addr`, opening at most
    /// `connect_rate` per second after the first `connections`.
    pub fn new(
        addr: SocketAddr,
        connections: usize,
        connect_rate: u32,
        connect_timeout: Duration,
    ) -> Pool {
        let burst = NonZeroU32::new(connections.clamp(1, u32::MAX as usize) as u32).unwrap();
        let rate = NonZeroU32::new(connect_rate.max(1)).unwrap();
        Pool {
            addr,
            slots: Semaphore::new(connections.max(1)),
            idle: RefCell::new(Vec::with_capacity(connections)),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            connect_timeout,
        }
    }

    /// lease waits for a slot, then for a pooled connection that is still usable or, failing
    /// that, for the pace limiter to allow opening a new one.
    pub async fn lease(&self) -> Lease<'_> {
        let slot = self
            .slots
            .acquire()
            .await
            .expect("the pool never closes its semaphore");
        loop {
            let candidate = self.idle.borrow_mut().pop();
            match candidate {
                Some(mut s) => {
                    if s.ready().await.is_ok() {
                        return Lease {
                            _slot: slot,
                            sender: Some(s),
                        };
                    }
                    // Closed by the target while idle: drop it and look again.
                }
                None => {
                    self.limiter.until_ready().await;
                    return Lease {
                        _slot: slot,
                        sender: None,
                    };
                }
            }
        }
    }

    /// open opens a new connection and returns it with the time it took.
    pub async fn open(&self) -> Result<(Sender, Duration), (ErrorKind, Duration)> {
        connect(self.addr, self.connect_timeout).await
    }

    /// give_back returns a connection that can carry another request.
    pub fn give_back(&self, sender: Sender) {
        self.idle.borrow_mut().push(sender);
    }

    /// preopen opens up to `n` connections before the schedule starts, bypassing the pace
    /// limiter; it returns how many opened and the first error, if any.
    pub async fn preopen(&self, n: usize) -> (usize, Option<ErrorKind>) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let open = connect(self.addr, self.connect_timeout);
            set.spawn_local(async move { open.await.map(|(s, _)| s).map_err(|(k, _)| k) });
        }
        let (mut opened, mut first_error) = (0, None);
        while let Some(r) = set.join_next().await {
            match r.expect("preopen tasks do not panic") {
                Ok(s) => {
                    opened += 1;
                    self.give_back(s);
                }
                Err(k) => {
                    first_error.get_or_insert(k);
                }
            }
        }
        (opened, first_error)
    }
}

/// connect opens one HTTP/1.1 connection and returns its sender with the time it took (or the
/// failure with the time it took to fail).
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(Sender, Duration), (ErrorKind, Duration)> {
    let started = Instant::now();
    let failed = |kind| (kind, started.elapsed());
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(failed(classify_connect(&e))),
        Err(_) => return Err(failed(ErrorKind::ConnectTimeout)),
    };
    // Small requests must leave at once, not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = match http1::handshake(TokioIo::new(stream)).await {
        Ok(x) => x,
        Err(_) => return Err(failed(ErrorKind::ConnectError)),
    };
    tokio::task::spawn_local(async move {
        // The connection ends when the target closes it or every sender is dropped.
        let _ = connection.await;
    });
    Ok((sender, started.elapsed()))
}
