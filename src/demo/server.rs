//! Server loop: the demo target accepting connections and serving each over HTTP/1.1 or HTTP/2
//! (TLS when configured), on a caller's runtime ([`serve`]) or on a thread of its own
//! ([`DemoTarget`]).
//!
//! It owns listening, the connection tasks and shutdown; what a request is answered with is the
//! handler's (`State::respond`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::{DemoConfig, DemoStats, State};

/// serve runs the demo target until `shutdown` completes. It accepts on the given listener and
/// serves HTTP/1.1 keep-alive and HTTP/2 with prior knowledge (h2c) on every connection. When
/// `shutdown` fires it stops accepting and returns; connections still open are closed then rather
/// than drained (in-flight requests are dropped).
///
/// It fails only on an invalid configuration (`InvalidInput`). Accept errors, such as running out
/// of file descriptors under load, are treated as transient: it waits 10 ms and accepts again.
pub async fn serve(
    listener: TcpListener,
    config: DemoConfig,
    stats: Arc<DemoStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config.check()?;
    let state = Arc::new(State::new(config, stats));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's default of 200 streams per HTTP/2 connection would queue requests in the client;
    // the only cap this target applies on purpose is `concurrency`.
    builder.http2().max_concurrent_streams(MAX_H2_STREAMS);
    let builder = Arc::new(builder);
    let acceptor =
        (state.config.tls.as_ref()).map(|t| tokio_rustls::TlsAcceptor::from(Arc::clone(&t.config)));
    // Owning the connection tasks means dropping them, and so closing their sockets, on return.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                state.stats.connections.fetch_add(1, Ordering::Relaxed);
                // Small responses must leave at once, not wait for Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let builder = Arc::clone(&builder);
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(state.respond(request).await) }
                    });
                    // A client that resets or speaks garbage only ends its own connection.
                    match acceptor {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            // A client that does not trust the certificate ends the handshake.
                            if let Ok(tls) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                    }
                });
            }
        }
    }
}

/// MAX_H2_STREAMS is how many requests one HTTP/2 connection may have in flight at once.
const MAX_H2_STREAMS: u32 = 10_000;

/// DemoTarget is the demo target running on its own thread with its own tokio runtime (one
/// worker), bound to 127.0.0.1 on a free port or to a given address. Dropping it stops it: the
/// server stops accepting, open connections are closed, and the thread is joined.
#[derive(Debug)]
pub struct DemoTarget {
    /// The address actually bound, with the port the system chose.
    addr: SocketAddr,
    /// Counters shared with the server.
    stats: Arc<DemoStats>,
    /// Sending on (or dropping) this stops the server; `None` once sent.
    shutdown: Option<oneshot::Sender<()>>,
    /// The thread running the server's runtime; `None` once joined.
    thread: Option<thread::JoinHandle<()>>,
    /// Whether it serves over TLS.
    tls: bool,
}

impl DemoTarget {
    /// start runs the demo target on 127.0.0.1 with a port the system chooses. It returns once the
    /// listener is bound, so a caller can connect immediately.
    pub fn start(config: DemoConfig) -> io::Result<DemoTarget> {
        DemoTarget::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
    }

    /// start_on runs the demo target on `addr` (port 0 lets the system choose). It returns once the
    /// listener is bound, so a caller can connect immediately, and fails on an invalid
    /// configuration (`InvalidInput`) or when the address cannot be bound.
    pub fn start_on(addr: SocketAddr, config: DemoConfig) -> io::Result<DemoTarget> {
        config.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("metronome-demo-worker")
            .enable_all()
            .build()?;
        let listener = {
            // Registering the listener needs the runtime's reactor; binding itself is synchronous.
            let _guard = runtime.enter();
            bind(addr)?
        };
        let addr = listener.local_addr()?;
        let stats = Arc::new(DemoStats::default());
        let (shutdown, stop) = oneshot::channel::<()>();
        let server_stats = Arc::clone(&stats);
        let tls = config.tls.is_some();
        let thread = thread::Builder::new()
            .name("metronome-demo".to_string())
            .spawn(move || {
                let stopped = async {
                    // A dropped sender stops the server just like a sent signal.
                    let _ = stop.await;
                };
                // The configuration was checked above, so serve cannot fail.
                let _ = runtime.block_on(serve(listener, config, server_stats, stopped));
                // Dropping the runtime here closes the connections still open.
            })?;
        Ok(DemoTarget {
            addr,
            stats,
            shutdown: Some(shutdown),
            thread: Some(thread),
            tls,
        })
    }

    /// addr is the address the demo target listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// base_url is the URL of the demo target without a trailing slash, e.g.
    /// "http://127.0.0.1:40123".
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// stats are the demo target's live counters.
    pub fn stats(&self) -> &DemoStats {
        &self.stats
    }
}

impl Drop for DemoTarget {
    /// Drop stops the server and waits for its thread to finish.
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// bind binds a listener with a deep accept backlog, so a load generator opening many
/// connections at once is not slowed by SYN retries (std's listeners use a backlog of 128).
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets `metronome serve` restart on the same port while old connections sit in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
