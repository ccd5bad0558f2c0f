//! The built-in demo target: the plant backend API (the eight routes of the reference workload in
//! `design.md`) served on loopback over HTTP/1.1 keep-alive and HTTP/2 prior knowledge (h2c), or
//! over TLS (HTTP/2 or HTTP/1.1 by ALPN) with a self-signed certificate made at start ([`DemoTls`]),
//! with exact, configurable latency, jitter, injected errors, periodic stalls and a concurrency cap.
//! It owns the routes, their pre-built JSON bodies, the per-request delay and the counters tests
//! read ([`DemoStats`]); [`serve`] runs it on a caller's listener and runtime, [`DemoTarget`] on a
//! thread of its own. It does not own any load generation, measurement or reporting, the command
//! line of `metronome serve`, or a real backend's behaviour beyond canned bodies.
//!
//! This file holds the settings and what every request handler shares (`State`, and `respond`,
//! which asks the route and then applies the faults); `routes` maps a request to its canned
//! answer, `faults` delays or replaces it (steps 1-4 below), `server` accepts connections.
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
//! 5. With [`DemoConfig::leak`] set, every request then retains that many bytes, written to (so
//!    they are resident), until the target stops: a memory leak for a watch to find.
//!
//! When no delay applies the handler never touches a timer. Tokio's timer has millisecond
//! granularity, so a delayed response leaves up to about a millisecond after its ready time. The
//! body of `POST /api/v1/agents/{id}/goals` is read before step 1, so upload time is not part of
//! the configured delay. Every request, including 404 and 405 answers, goes through steps 1-4.

mod faults;
mod routes;
mod server;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use faults::Stall;
use routes::{Bodies, Route, body_len};
pub use server::{DemoTarget, serve};

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
    /// Bytes every request retains (written to, so resident) until the target stops: a leak.
    pub leak: usize,
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
            leak: 0,
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
    /// What the requests retained (`DemoConfig::leak`).
    retained: std::sync::Mutex<Vec<Box<[u8]>>>,
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
            retained: std::sync::Mutex::new(Vec::new()),
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
}
