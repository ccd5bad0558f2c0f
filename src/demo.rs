//! The built-in demo target: the plant backend API (the eight routes of the reference workload in
//! `design.md`) served on loopback over HTTP/1.1 keep-alive and HTTP/2 prior knowledge (h2c), with
//! exact, configurable latency, jitter, injected errors, periodic stalls and a concurrency cap.
//! It owns the routes, their pre-built JSON bodies, the per-request delay and the counters tests
//! read ([`DemoStats`]); [`serve`] runs it on a caller's listener and runtime, [`DemoTarget`] on a
//! thread of its own. It does not own any load generation, measurement or reporting, TLS, the
//! command line of `metronome serve`, or a real backend's behaviour beyond canned bodies.
//!
//! Timing of every request, in this order (tests derive expected latencies from it):
//!
//! 1. If [`DemoConfig::concurrency`] is set, the request waits for a permit, first come first
//!    served; the permit is held until the response has been produced.
//! 2. The response becomes ready at `t_ready = now + latency + jitter_draw`, with the draw uniform
//!    in `[0, jitter]` and `now` taken once the permit is held.
//! 3. Subtleness ahead: the stall clock starts when [`serve`] starts (`t0`), not at the first
//!    request. Stall windows are `[t0 + k*period, t0 + k*period + pause)` for `k = 0, 1, 2, ...`,
//!    so the first window opens at `t0` itself. If `t_ready` falls inside a window, the response is
//!    held until that window ends.
//! 4. With probability [`DemoConfig::error_rate`] the answer is `500 {"error":"injected"}`
//!    instead of the route's answer, after the same delay.
//!
//! When no delay applies the handler never touches a timer. Tokio's timer has millisecond
//! granularity, so a delayed response leaves up to about a millisecond after its ready time. The
//! body of `POST /api/v1/agents/{id}/goals` is read before step 1, so upload time is not part of
//! the configured delay. Every request, including 404 and 405 answers, goes through steps 1-4.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::draw;

/// Stall is a periodic stall, parsed from "200ms/2s": every `period`, nothing is answered for
/// `pause` (a GC pause).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    /// How long each stall window lasts; always shorter than `period`.
    pub pause: Duration,
    /// Time from the start of one stall window to the start of the next; never zero.
    pub period: Duration,
}

impl Stall {
    /// check says, in a sentence for a person, why this stall cannot run, if it cannot.
    fn check(&self) -> Result<(), String> {
        if self.period.is_zero() {
            return Err("the stall period must be longer than zero".to_string());
        }
        if self.pause >= self.period {
            return Err(format!(
                "the stall pause ({}) must be shorter than its period ({})",
                humantime::format_duration(self.pause),
                humantime::format_duration(self.period)
            ));
        }
        Ok(())
    }
}

impl FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((pause, period)) = s.split_once('/') else {
            return Err(format!(
                "expected PAUSE/PERIOD such as 200ms/2s, but got \"{s}\""
            ));
        };
        let parse = |what: &str, text: &str| {
            humantime::parse_duration(text.trim()).map_err(|e| {
                format!(
                    "the stall {what} \"{}\" in \"{s}\" is not a duration ({e}); \
                     expected PAUSE/PERIOD such as 200ms/2s",
                    text.trim()
                )
            })
        };
        let stall = Stall {
            pause: parse("pause", pause)?,
            period: parse("period", period)?,
        };
        stall.check()?;
        Ok(stall)
    }
}

impl std::fmt::Display for Stall {
    /// Writes the stall the way [`Stall::from_str`] reads it, e.g. "200ms/2s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            humantime::format_duration(self.pause),
            humantime::format_duration(self.period)
        )
    }
}

/// DemoConfig holds the behaviour knobs of the demo target; see the module docs for how they
/// combine into each request's delay.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Base latency added to every response.
    pub latency: Duration,
    /// Upper bound of an extra uniform random delay in `[0, jitter]` added to every response.
    pub jitter: Duration,
    /// Fraction (0 to 1) of requests answered `500 {"error":"injected"}`.
    pub error_rate: f64,
    /// Periodic stall (a GC pause), measured from the moment [`serve`] starts; `None` for none.
    pub stall: Option<Stall>,
    /// At most this many requests are processed at once; the others wait in FIFO order before
    /// their latency starts. `None` means unlimited; `Some(0)` is rejected.
    pub concurrency: Option<usize>,
    /// Seed of the random draws for jitter and errors, so a run can be repeated.
    pub seed: u64,
    /// Serve over TLS with this (self-signed) certificate; `None` for cleartext.
    pub tls: Option<DemoTls>,
}

/// DemoTls is a self-signed certificate for `localhost` and `127.0.0.1`, made at start, with
/// the server configuration that presents it (ALPN h2 and http/1.1).
#[derive(Debug, Clone)]
pub struct DemoTls {
    /// The certificate, PEM: a client trusts the demo target by trusting this.
    pub cert_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl DemoTls {
    /// generate makes a fresh self-signed certificate and key.
    pub fn generate() -> io::Result<DemoTls> {
        let other = |e: &dyn std::fmt::Display| {
            io::Error::other(format!("cannot make the demo certificate: {e}"))
        };
        let key = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(|e| other(&e))?;
        let cert_der = key.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| other(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .map_err(|e| other(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(DemoTls {
            cert_pem: key.cert.pem(),
            config: Arc::new(config),
        })
    }

    /// write_cert writes the certificate (PEM) to `path`, for a client's `ca_file`.
    pub fn write_cert(&self, path: &std::path::Path) -> io::Result<()> {
        std::fs::write(path, &self.cert_pem)
    }
}

impl Default for DemoConfig {
    /// Default is an instant, error-free, unlimited target with seed 1.
    fn default() -> Self {
        DemoConfig {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rate: 0.0,
            stall: None,
            concurrency: None,
            seed: 1,
            tls: None,
        }
    }
}

/// DemoConfigError says why a configuration cannot run, in a sentence for a person. The
/// command line words the same rules for its own flags.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DemoConfigError {
    /// The error rate is not a fraction (0 to 1).
    #[error("the error rate must be a fraction between 0 and 1, but it is {0}")]
    ErrorRate(f64),
    /// The concurrency limit is zero.
    #[error("the concurrency limit must be at least 1 (leave it unset for no limit)")]
    NoConcurrency,
    /// The stall cannot run (see `Stall::check`).
    #[error("{0}")]
    Stall(String),
}

impl DemoConfig {
    /// validate says why this configuration cannot run, if it cannot.
    pub fn validate(&self) -> Result<(), DemoConfigError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(DemoConfigError::ErrorRate(self.error_rate));
        }
        if self.concurrency == Some(0) {
            return Err(DemoConfigError::NoConcurrency);
        }
        if let Some(stall) = &self.stall {
            stall.check().map_err(DemoConfigError::Stall)?;
        }
        Ok(())
    }

    /// check is `validate` as the I/O error `serve` and `DemoTarget::start` fail with.
    fn check(&self) -> io::Result<()> {
        self.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }
}

/// DemoStats holds counters a test can read while the target runs.
#[derive(Debug, Default)]
pub struct DemoStats {
    /// Connections accepted, whatever happened to them afterwards.
    connections: AtomicU64,
    /// Responses produced, of any status, counted when the response is handed to hyper.
    requests: AtomicU64,
    /// Responses replaced by an injected `500`.
    injected_errors: AtomicU64,
}

impl DemoStats {
    /// connections is the number of connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// requests is the number of responses produced so far, of any status.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// injected_errors is the number of responses replaced by an injected `500` so far.
    pub fn injected_errors(&self) -> u64 {
        self.injected_errors.load(Ordering::Relaxed)
    }
}

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

/// State is what every request handler shares.
struct State {
    /// The knobs, checked.
    config: DemoConfig,
    /// Counters shared with the caller.
    stats: Arc<DemoStats>,
    /// FIFO permits when a concurrency limit is set.
    permits: Option<Semaphore>,
    /// Start of the stall clock: when `serve` started.
    t0: Instant,
    /// State of the splitmix64 generator behind jitter and error draws.
    rng: AtomicU64,
    /// Next id handed out by `POST /api/v1/agents/{id}/goals`.
    next_goal: AtomicU64,
    /// Response bodies built once at start.
    bodies: Bodies,
}

/// Route is what the path and method ask for, before any delay or error injection.
enum Route<'a> {
    /// A pre-built body with this status.
    Canned(StatusCode, Bytes),
    /// `POST /api/v1/agents/{id}/goals` for this agent id.
    CreateGoal(&'a str),
    /// A known path asked with a method it does not allow; carries the allowed methods.
    WrongMethod(&'static str),
    /// An unknown path.
    NotFound,
}

impl State {
    /// new builds the shared state; the stall clock starts now.
    fn new(config: DemoConfig, stats: Arc<DemoStats>) -> State {
        let permits = config
            .concurrency
            .map(|n| Semaphore::new(n.min(Semaphore::MAX_PERMITS)));
        State {
            rng: AtomicU64::new(config.seed),
            config,
            stats,
            permits,
            t0: Instant::now(),
            next_goal: AtomicU64::new(1),
            bodies: Bodies::build(),
        }
    }

    /// respond answers one request, following the timing described in the module docs.
    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let (status, body) = match self.route(&parts.method, parts.uri.path(), parts.uri.query()) {
            Route::Canned(status, body) => (status, body),
            Route::NotFound => (StatusCode::NOT_FOUND, self.bodies.not_found.clone()),
            Route::WrongMethod(allow) => {
                let mut response = self
                    .delayed(
                        StatusCode::METHOD_NOT_ALLOWED,
                        self.bodies.wrong_method.clone(),
                    )
                    .await;
                if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                return response;
            }
            Route::CreateGoal(agent) => match body_len(body).await {
                Some(received) => {
                    let id = self.next_goal.fetch_add(1, Ordering::Relaxed);
                    let goal = json!({
                        "id": format!("goal-{id}"),
                        "agent_id": agent,
                        "title": "Created by metronome",
                        "status": "active",
                        "received_bytes": received,
                    });
                    (StatusCode::CREATED, Bytes::from(goal.to_string()))
                }
                None => (StatusCode::BAD_REQUEST, self.bodies.unreadable_body.clone()),
            },
        };
        self.delayed(status, body).await
    }

    /// delayed applies the concurrency limit, latency, jitter, stall and error injection to a
    /// response the route has produced, and counts it.
    async fn delayed(&self, status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
        // Held until the response is produced; a closed semaphore cannot happen (never closed).
        let _permit = match &self.permits {
            Some(permits) => permits.acquire().await.ok(),
            None => None,
        };
        let config = &self.config;
        let mut delay = config.latency;
        if !config.jitter.is_zero() {
            delay = delay.saturating_add(uniform_duration(self.draw(), config.jitter));
        }
        if !delay.is_zero() || config.stall.is_some() {
            let now = Instant::now();
            let ready = self.release(add(now, delay));
            if ready > now {
                tokio::time::sleep_until(ready).await;
            }
        }
        let injected = config.error_rate >= 1.0
            || (config.error_rate > 0.0 && draw::fraction(self.draw()) < config.error_rate);
        let response = if injected {
            self.stats.injected_errors.fetch_add(1, Ordering::Relaxed);
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                self.bodies.injected.clone(),
            )
        } else {
            json_response(status, body)
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        response
    }

    /// release moves `ready` to the end of the stall window it falls in, if it falls in one.
    fn release(&self, ready: Instant) -> Instant {
        let Some(stall) = self.config.stall else {
            return ready;
        };
        let since_t0 = ready.saturating_duration_since(self.t0).as_nanos();
        let into_period = since_t0 % stall.period.as_nanos();
        let pause = stall.pause.as_nanos();
        if into_period < pause {
            add(ready, nanos(pause - into_period))
        } else {
            ready
        }
    }

    /// draw returns the next 64 random bits (splitmix64 over an atomic counter).
    fn draw(&self) -> u64 {
        draw::mix64(self.rng.fetch_add(draw::GAMMA, Ordering::Relaxed))
    }

    /// route maps a method and path to what it asks for. Paths are matched segment by segment;
    /// an empty `{id}` segment or a trailing slash is an unknown path.
    fn route<'a>(&self, method: &Method, path: &'a str, query: Option<&str>) -> Route<'a> {
        let mut segments = [""; 6];
        let mut count = 0;
        for segment in path.split('/').skip(1) {
            if count == segments.len() {
                return Route::NotFound;
            }
            segments[count] = segment;
            count += 1;
        }
        let get = |body: &Bytes| {
            if method == Method::GET {
                Route::Canned(StatusCode::OK, body.clone())
            } else {
                Route::WrongMethod("GET")
            }
        };
        let b = &self.bodies;
        match &segments[..count] {
            ["health"] => get(&b.health),
            ["api", "v1", "agents"] => match industry(query) {
                Some(wanted) => get(b.agents_in(&wanted)),
                None => get(&b.agents),
            },
            ["api", "v1", "customers", id, "agents"] if !id.is_empty() => get(&b.customer_agents),
            ["api", "v1", "agents", id, "configuration"] if !id.is_empty() => get(&b.configuration),
            ["api", "v1", "agents", id, "goals"] if !id.is_empty() => match *method {
                Method::GET => Route::Canned(StatusCode::OK, b.goals.clone()),
                Method::POST => Route::CreateGoal(id),
                _ => Route::WrongMethod("GET, POST"),
            },
            ["api", "v1", "agents", id, "deliverables"] if !id.is_empty() => get(&b.deliverables),
            _ => Route::NotFound,
        }
    }
}

/// Bodies are the JSON response bodies, built once so serving a request copies no bytes.
struct Bodies {
    /// `GET /health`.
    health: Bytes,
    /// `GET /api/v1/agents`.
    agents: Bytes,
    /// `GET /api/v1/agents?industry=X`, one entry per industry that has agents.
    agents_by_industry: Vec<(&'static str, Bytes)>,
    /// `GET /api/v1/agents?industry=X` for an industry without agents.
    no_agents: Bytes,
    /// `GET /api/v1/customers/{id}/agents`.
    customer_agents: Bytes,
    /// `GET /api/v1/agents/{id}/configuration`.
    configuration: Bytes,
    /// `GET /api/v1/agents/{id}/goals`.
    goals: Bytes,
    /// `GET /api/v1/agents/{id}/deliverables`, a few KB.
    deliverables: Bytes,
    /// Any unknown path.
    not_found: Bytes,
    /// A known path with a method it does not allow.
    wrong_method: Bytes,
    /// A request body that could not be read.
    unreadable_body: Bytes,
    /// An injected error.
    injected: Bytes,
}

/// AGENTS are the canned agents: id, name, industry.
const AGENTS: [(&str, &str, &str); 7] = [
    ("agent-001", "Content Strategist", "marketing"),
    ("agent-002", "Social Media Manager", "marketing"),
    ("agent-003", "Math Tutor", "education"),
    ("agent-004", "Science Tutor", "education"),
    ("agent-005", "Lead Qualifier", "sales"),
    ("agent-006", "Account Researcher", "sales"),
    ("agent-007", "Patient Intake Assistant", "healthcare"),
];

impl Bodies {
    /// build renders every canned body.
    fn build() -> Bodies {
        let agent = |&(id, name, industry): &(&str, &str, &str)| {
            json!({
                "id": id,
                "name": name,
                "industry": industry,
                "status": "available",
                "rating": 4.6,
                "price_per_month": 12000,
            })
        };
        let render = |value: serde_json::Value| Bytes::from(value.to_string());
        let agents = render(AGENTS.iter().map(agent).collect());
        let mut agents_by_industry: Vec<(&'static str, Bytes)> = Vec::new();
        for &(_, _, industry) in &AGENTS {
            if agents_by_industry
                .iter()
                .all(|(known, _)| *known != industry)
            {
                let matching = AGENTS.iter().filter(|a| a.2 == industry).map(agent);
                agents_by_industry.push((industry, render(matching.collect())));
            }
        }
        let customer_agents = render(
            AGENTS[..3]
                .iter()
                .map(|a| {
                    let mut hired = agent(a);
                    hired["hired_at"] = json!("2025-01-15T09:30:00Z");
                    hired["trial"] = json!(false);
                    hired
                })
                .collect(),
        );
        let configuration = render(json!({
            "agent_id": "agent-001",
            "model": "standard",
            "language": "en",
            "timezone": "UTC",
            "working_hours": {"start": "09:00", "end": "18:00"},
            "notifications": {"email": true, "sms": false},
            "max_daily_tasks": 25,
        }));
        let goals = render(json!([
            {"id": "goal-1", "title": "Publish two posts a week", "status": "active", "progress": 0.4},
            {"id": "goal-2", "title": "Grow newsletter signups by 10%", "status": "active", "progress": 0.7},
            {"id": "goal-3", "title": "Refresh the content calendar", "status": "done", "progress": 1.0},
        ]));
        let deliverables = render(
            (1..=16)
                .map(|i| {
                    json!({
                        "id": format!("deliverable-{i:03}"),
                        "goal_id": format!("goal-{}", i % 3 + 1),
                        "title": format!("Weekly report {i}"),
                        "kind": if i % 2 == 0 { "document" } else { "post" },
                        "status": if i % 4 == 0 { "in_review" } else { "delivered" },
                        "created_at": format!("2025-02-{:02}T10:00:00Z", i),
                        "summary": "A summary of the work delivered this week, the channels it \
                                    covered, and what the agent plans to do next.",
                    })
                })
                .collect(),
        );
        let error = |message: &str| render(json!({ "error": message }));
        Bodies {
            health: render(json!({"status": "ok"})),
            agents,
            agents_by_industry,
            no_agents: Bytes::from_static(b"[]"),
            customer_agents,
            configuration,
            goals,
            deliverables,
            not_found: error("not found"),
            wrong_method: error("method not allowed"),
            unreadable_body: error("the request body could not be read"),
            injected: error("injected"),
        }
    }

    /// agents_in is the agent list filtered to one industry (ASCII case-insensitive).
    fn agents_in(&self, wanted: &str) -> &Bytes {
        self.agents_by_industry
            .iter()
            .find(|(industry, _)| industry.eq_ignore_ascii_case(wanted))
            .map_or(&self.no_agents, |(_, body)| body)
    }
}

/// industry finds the first `industry=` parameter in a query string, percent-decoded.
fn industry(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "industry").then(|| percent_decode(value))
    })
}

/// percent_decode decodes `%XX` escapes and `+` in a query value, leaving malformed escapes as
/// they are.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// body_len reads a request body to its end and returns its length, or `None` when it breaks off.
async fn body_len(mut body: Incoming) -> Option<u64> {
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.ok()?.data_ref() {
            len += data.len() as u64;
        }
    }
    Some(len)
}

/// json_response builds a response with a JSON body.
fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// uniform_duration maps 64 random bits to a duration uniform in `[0, max]`, in nanoseconds.
fn uniform_duration(bits: u64, max: Duration) -> Duration {
    let span = max.as_nanos().saturating_add(1);
    nanos(u128::from(bits).saturating_mul(span) >> 64)
}

/// nanos converts a count of nanoseconds to a duration.
fn nanos(n: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(n / PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (n % PER_SEC) as u32)
}

/// add is `at + delay`, saturating at a point decades away instead of panicking.
fn add(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}
