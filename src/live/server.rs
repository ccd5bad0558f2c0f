//! The live endpoint's HTTP server: `/metrics` on its own thread and runtime, so a scrape never
//! runs on the engine's or the recorder's thread, and it can outlive the run (`--linger`) for
//! a scraper to read the final figures.
//!
//! Safe by default: an address that is not loopback is refused unless the routes are behind
//! HTTP basic auth (`--web-auth USER:PASS`), which then guards every route.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::web::{self, Body};
use super::{Live, metrics};

/// Credentials are `--web-auth USER:PASS`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    pass: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never appears in any output.
        write!(f, "Credentials({}:…)", self.user)
    }
}

impl std::str::FromStr for Credentials {
    type Err = String;

    fn from_str(s: &str) -> Result<Credentials, String> {
        match s.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => Ok(Credentials {
                user: user.to_string(),
                pass: pass.to_string(),
            }),
            _ => Err("give USER:PASS, both non-empty, e.g. --web-auth admin:s3cret".into()),
        }
    }
}

impl Credentials {
    /// admits says whether a request's Authorization header carries these credentials.
    fn admits(&self, value: Option<&HeaderValue>) -> bool {
        let Some(encoded) = value
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let want = format!("{}:{}", self.user, self.pass);
        // Compared whole, without stopping at the first difference.
        decoded.len() == want.len()
            && decoded
                .iter()
                .zip(want.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// parse_addr reads an endpoint address: `HOST:PORT` (`127.0.0.1:9464`, `[::1]:9464`,
/// `0.0.0.0:9464`), `localhost:PORT`, or a bare port (on 127.0.0.1).
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("`{text}`: `{port}` is not a port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse().map_err(|_| {
        format!("`{text}` is not an address: give HOST:PORT such as 127.0.0.1:9464, or a port")
    })
}

/// parse_base_path reads `--web-base-path`: `/prefix`, kept without a trailing slash.
pub fn parse_base_path(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    if !text.trim().starts_with('/') || t.contains(['?', '#', ' ']) || t.contains("//") {
        return Err(format!(
            "`{text}` is not a base path: give the prefix the reverse proxy serves the page under, such as /metronome"
        ));
    }
    Ok(t.to_string())
}

/// Site is what a server answers once a request has passed its credentials and base path.
pub trait Site: Send + Sync + 'static {
    /// answer answers `req` for `path` (the base path taken off).
    fn answer(
        self: Arc<Self>,
        req: Request<Incoming>,
        path: String,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
}

/// RunSite is one run's page and API (`page`), and its `/metrics`.
struct RunSite {
    live: Arc<Live>,
    page: bool,
}

impl Site for RunSite {
    fn answer(
        self: Arc<Self>,
        req: Request<Incoming>,
        path: String,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        if self.page && path == "/api/rate" {
            return Box::pin(super::rate::route(req, self.live.clone()));
        }
        let reply = run_routes(&req, &path, &self.live, self.page);
        Box::pin(std::future::ready(reply))
    }
}

/// Server serves a site (a run's live figures, or `metronome ui`) until dropped.
pub struct Server {
    addr: SocketAddr,
    /// The run served, whose final figures `linger` waits after.
    live: Option<Arc<Live>>,
    /// When the last stop signal came, seen on the server's own thread so that one that
    /// arrives while the run writes its outputs still ends the linger.
    signalled: Arc<Mutex<Option<Instant>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// start binds `addr` and serves on a thread of its own. `flag` names the option the
    /// address came from, for messages. A non-loopback address without credentials is refused.
    pub fn start(
        addr: SocketAddr,
        flag: &str,
        auth: Option<Credentials>,
        live: Arc<Live>,
        page: bool,
        base_path: Option<String>,
    ) -> Result<Server, String> {
        let site = Arc::new(RunSite {
            live: live.clone(),
            page,
        });
        let mut server = Server::start_site(addr, flag, auth, site, base_path)?;
        server.live = Some(live);
        Ok(server)
    }

    /// start_site binds `addr` and serves `site` on a thread of its own, as `start` does.
    pub fn start_site(
        addr: SocketAddr,
        flag: &str,
        auth: Option<Credentials>,
        site: Arc<dyn Site>,
        base_path: Option<String>,
    ) -> Result<Server, String> {
        if !addr.ip().is_loopback() && auth.is_none() {
            return Err(format!(
                "{flag} {addr} would serve this run to the network without a password: give --web-auth USER:PASS (HTTP basic auth on every route), or bind a loopback address such as 127.0.0.1:{}",
                addr.port()
            ));
        }
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("{flag} {addr}: cannot listen there: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("{flag}: could not start its runtime: {e}"))?;
        let (stop, stopped) = oneshot::channel();
        let auth = auth.map(Arc::new);
        let signalled = Arc::new(Mutex::new(None));
        let noted = signalled.clone();
        let thread = thread::Builder::new()
            .name("metronome-live".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(async move {
                        loop {
                            crate::signals::stop().await;
                            *noted.lock().expect("never poisoned") = Some(Instant::now());
                        }
                    });
                    serve(listener, auth, site, base_path, stopped).await
                })
            })
            .map_err(|e| format!("{flag}: could not start its thread: {e}"))?;
        Ok(Server {
            addr,
            live: None,
            signalled,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// addr is where it listens (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// linger keeps serving for `d` after the run's final figures were published, or until a
    /// stop signal that came after them.
    pub fn linger(&self, d: Duration) {
        let from = (self.live.as_ref())
            .and_then(|l| l.snapshot().finished_at)
            .unwrap_or_else(Instant::now);
        while from.elapsed() < d {
            if (*self.signalled.lock().expect("never poisoned")).is_some_and(|t| t > from) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    auth: Option<Arc<Credentials>>,
    site: Arc<dyn Site>,
    base_path: Option<String>,
    mut stopped: oneshot::Receiver<()>,
) {
    let base_path = base_path.map(Arc::new);
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (auth, site, base) = (auth.clone(), site.clone(), base_path.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let (auth, site, base) = (auth.clone(), site.clone(), base.clone());
                        async move {
                            let reply = respond(req, auth.as_deref(), site, base.as_deref().map(|b| b.as_str())).await;
                            Ok::<_, Infallible>(reply)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn respond(
    req: Request<Incoming>,
    auth: Option<&Credentials>,
    site: Arc<dyn Site>,
    base_path: Option<&str>,
) -> Response<Body> {
    if let Some(creds) = auth
        && !creds.admits(req.headers().get(header::AUTHORIZATION))
    {
        let mut r = web::full(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            "this metronome run asks for a user and password (--web-auth)\n",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"metronome\", charset=\"UTF-8\""),
        );
        return r;
    }
    let mut path = req.uri().path();
    if let Some(base) = base_path {
        // Behind a reverse proxy at `base`: the page's own links are relative, so it works at
        // `base/`; the bare prefix is sent there, and nothing outside it is served.
        if path == base {
            let mut r = web::full(
                StatusCode::PERMANENT_REDIRECT,
                "text/plain; charset=utf-8",
                String::new(),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        match path.strip_prefix(base) {
            Some(rest) if rest.starts_with('/') => path = rest,
            _ => {
                return web::full(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    format!("not found: this metronome run is served under {base}/\n"),
                );
            }
        }
    }
    let path = path.to_string();
    site.answer(req, path).await
}

/// run_routes are a run's: its page and API when `page`, and `/metrics`.
fn run_routes(req: &Request<Incoming>, path: &str, live: &Arc<Live>, page: bool) -> Response<Body> {
    if page && let Some(r) = web::route(req, path, live) {
        return r;
    }
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/metrics") => web::full(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            metrics::render(&live.snapshot()),
        ),
        (_, "/metrics") => {
            let mut r = web::full(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "/metrics is read with GET\n",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        _ => web::full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            if page {
                "not found: this metronome run serves its page at /, its API under /api/, and /metrics\n"
            } else {
                "not found: this metronome run serves /metrics (Prometheus text format)\n"
            },
        ),
    }
}
