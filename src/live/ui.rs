//! `metronome ui`: a start page like Locust's. Pick a shipped or uploaded plan (or quick mode),
//! check it (errors with line and column), start it, watch it, start another when it ends.
//!
//! Each run is a `metronome run` child process of this one, with `--out` in its own folder
//! under `--out-root` and `--web` on a loopback port of its own under `/run`, which this server
//! forwards: the run is exactly what the command line would run (the same flags, checks, files
//! and exit code), a failing run cannot take the page down, and Stop on the page is the run's
//! own. One run at a time; the last one stays served (its final figures and files) until the
//! next starts.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use super::server::Site;
use super::web::{self, Body, DOWNLOADS};
use crate::plan_file::{self, Overrides};

/// SHIPPED are the plans in the repository's `plans/`, built in so the page offers them
/// wherever the binary runs.
pub const SHIPPED: [(&str, &str); 7] = [
    ("smoke.toml", include_str!("../../plans/smoke.toml")),
    ("load-10.toml", include_str!("../../plans/load-10.toml")),
    ("load-50.toml", include_str!("../../plans/load-50.toml")),
    ("load-100.toml", include_str!("../../plans/load-100.toml")),
    (
        "progression.toml",
        include_str!("../../plans/progression.toml"),
    ),
    ("spike-200.toml", include_str!("../../plans/spike-200.toml")),
    ("soak-24h.toml", include_str!("../../plans/soak-24h.toml")),
];

/// MAX_BODY is the largest request body the page may send (a plan's text, in JSON).
const MAX_BODY: usize = 512 * 1024;

/// RUN_BASE is where the current run's own page is served, forwarded to its process.
const RUN_BASE: &str = "/run";

const PAGE: &str = include_str!("ui.html");

/// Ui is the start page's server side: where runs go and the one running now.
pub struct Ui {
    /// The metronome binary the runs are started with (this one).
    exe: PathBuf,
    /// `--out-root`: each run's folder is made here.
    root: PathBuf,
    /// Held while a run is being started.
    starting: Mutex<()>,
    current: Mutex<Option<Current>>,
}

/// Current is the last run started: its process and what it has said.
struct Current {
    id: String,
    child: Child,
    seen: Arc<Mutex<Seen>>,
}

/// Seen is what a run's process printed on its standard error that the page needs.
#[derive(Default)]
struct Seen {
    /// Where its live page listens, once it said.
    addr: Option<SocketAddr>,
    /// Set once its run ended (it serves its final figures) or the process exited.
    ended: bool,
    exited: bool,
    /// Its standard error, line by line (the last 200).
    log: Vec<String>,
}

/// Asked is what the page sends to check or start a run.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asked {
    /// A shipped plan's name.
    plan: Option<String>,
    /// An uploaded plan's text, and its file name.
    text: Option<String>,
    name: Option<String>,
    /// Quick mode, when neither plan nor text is given: URL (empty for the demo target), rate
    /// and duration.
    url: Option<String>,
    rate: Option<String>,
    duration: Option<String>,
    host: Option<String>,
    time_scale: Option<String>,
    seed: Option<String>,
}

/// Checked is what the page shows of a check or a refused start.
#[derive(Debug, Serialize)]
struct Checked {
    ok: bool,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

impl Checked {
    fn refused(message: impl Into<String>) -> Checked {
        Checked {
            ok: false,
            message: message.into(),
            line: None,
            column: None,
            id: None,
        }
    }
}

/// opt is a form field's value, trimmed, when it has one.
fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Chosen is a checked request: the plan's text (none in quick mode) and the run's flags.
struct Chosen {
    plan: Option<(String, String)>,
    args: Vec<String>,
    description: String,
}

/// RunListed is one run folder on the page's list.
#[derive(Debug, Serialize)]
struct RunListed {
    id: String,
    /// running, passed, failed, partial, or not run (no summary: refused or killed).
    verdict: String,
    exit_code: Option<i64>,
    requests: Option<u64>,
    files: Vec<String>,
}

impl Ui {
    pub fn new(exe: PathBuf, root: PathBuf) -> Arc<Ui> {
        Arc::new(Ui {
            exe,
            root,
            starting: Mutex::new(()),
            current: Mutex::new(None),
        })
    }

    /// check reads what was asked into a run's flags, or says what is wrong with it.
    fn check(asked: &Asked) -> Result<Chosen, Checked> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--time-scale", opt(&asked.time_scale)),
            ("--seed", opt(&asked.seed)),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.to_string()]);
            }
        }
        let source = match (opt(&asked.plan), asked.text.as_deref()) {
            (Some(name), _) => {
                let (name, text) = SHIPPED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| Checked::refused(format!("no shipped plan is called {name}")))?;
                Some((name.to_string(), text.to_string()))
            }
            (None, Some(text)) if !text.trim().is_empty() => {
                let name = opt(&asked.name).unwrap_or("uploaded.toml");
                let name = Path::new(name)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("uploaded.toml");
                // Kept beside the run's files under a name none of them has.
                let name = if name.ends_with(".toml") {
                    name.to_string()
                } else {
                    format!("{name}.toml")
                };
                Some((name, text.to_string()))
            }
            _ => None,
        };
        let Some((name, text)) = source else {
            // Quick mode: the run checks the flags themselves, before it sends anything.
            let rate = opt(&asked.rate).ok_or_else(|| {
                Checked::refused("quick mode needs a rate (arrivals a second), e.g. 100")
            })?;
            let duration = opt(&asked.duration)
                .ok_or_else(|| Checked::refused("quick mode needs a duration, e.g. 30s"))?;
            args.extend([
                "--rate".into(),
                rate.into(),
                "--duration".into(),
                duration.into(),
            ]);
            if let Some(url) = opt(&asked.url) {
                args.extend(["--url".into(), url.into()]);
            }
            let target = opt(&asked.url).unwrap_or("the built-in demo target");
            return Ok(Chosen {
                plan: None,
                args,
                description: format!("quick mode: {rate}/s for {duration} against {target}"),
            });
        };
        let overrides =
            Overrides {
                host: opt(&asked.host).map(str::to_string),
                time_scale: match opt(&asked.time_scale) {
                    Some(t) => Some(t.parse().map_err(|_| {
                        Checked::refused(format!(
                            "time scale `{t}` is not a number: give a factor such as 0.01"
                        ))
                    })?),
                    None => None,
                },
                seed: match opt(&asked.seed) {
                    Some(s) => Some(s.parse().map_err(|_| {
                        Checked::refused(format!("seed `{s}` is not a whole number"))
                    })?),
                    None => None,
                },
            };
        match plan_file::parse(&text, Path::new(&name), &overrides) {
            Ok(loaded) => {
                if let Some(host) = opt(&asked.host) {
                    args.extend(["--host".into(), host.into()]);
                }
                Ok(Chosen {
                    plan: Some((name, text)),
                    args,
                    description: crate::check::describe(&loaded.plan, loaded.has_target),
                })
            }
            Err(e) => Err(Checked {
                ok: false,
                message: e.to_string(),
                line: (e.line > 0).then_some(e.line),
                column: (e.column > 0).then_some(e.column),
                id: None,
            }),
        }
    }

    /// start starts what was asked, unless a run is going on; the old run's process, ended,
    /// is let go first.
    fn start(&self, asked: &Asked) -> (StatusCode, Checked) {
        let chosen = match Ui::check(asked) {
            Ok(c) => c,
            Err(refused) => return (StatusCode::BAD_REQUEST, refused),
        };
        // One start at a time; `current` itself is held only for moments, so the page's
        // polls are answered while a run's process starts.
        let _starting = self.starting.lock().expect("never poisoned");
        let old = {
            let mut current = self.current.lock().expect("never poisoned");
            if let Some(c) = current.as_ref()
                && !c.seen.lock().expect("never poisoned").ended
            {
                return (
                    StatusCode::CONFLICT,
                    Checked::refused(format!(
                        "run {} is still going: stop it on its page, or wait for it to end, then start the next",
                        c.id
                    )),
                );
            }
            current.take()
        };
        if let Some(mut c) = old {
            end(&mut c);
        }
        let stem = chosen
            .plan
            .as_ref()
            .map_or("quick", |(n, _)| n.trim_end_matches(".toml"));
        let id = self.fresh_id(stem);
        let dir = self.root.join(&id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Checked::refused(format!(
                    "cannot make the run's folder {}: {e}; give --out-root a folder this user may write",
                    dir.display()
                )),
            );
        }
        let mut argv = vec!["run".to_string()];
        if let Some((name, text)) = &chosen.plan {
            let path = dir.join(name);
            if let Err(e) = std::fs::write(&path, text) {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Checked::refused(format!("cannot write {}: {e}", path.display())),
                );
            }
            argv.push(path.display().to_string());
        }
        argv.extend(chosen.args);
        argv.extend(
            [
                "--out",
                &dir.display().to_string(),
                "--web",
                "127.0.0.1:0",
                "--web-base-path",
                RUN_BASE,
                "--quiet",
            ]
            .map(str::to_string),
        );
        match self.spawn(&id, &dir, &argv) {
            Ok(c) => {
                *self.current.lock().expect("never poisoned") = Some(c);
                (
                    StatusCode::OK,
                    Checked {
                        ok: true,
                        message: format!("started {id}: {}", chosen.description),
                        line: None,
                        column: None,
                        id: Some(id),
                    },
                )
            }
            Err(e) => (StatusCode::BAD_REQUEST, Checked::refused(e)),
        }
    }

    /// fresh_id names a new run folder: when it started and its plan.
    fn fresh_id(&self, stem: &str) -> String {
        let now = crate::clock::format(std::time::SystemTime::now());
        let at: String = now
            .chars()
            .take(19)
            .map(|c| if c == ':' { '-' } else { c })
            .collect();
        let mut id = format!("{at}-{stem}");
        let mut k = 2;
        while self.root.join(&id).exists() {
            id = format!("{at}-{stem}-{k}");
            k += 1;
        }
        id
    }

    /// spawn starts `metronome run ARGV`, its summary to `dir/terminal.txt`, and waits until it
    /// serves its page, or says why it would not run.
    fn spawn(&self, id: &str, dir: &Path, argv: &[String]) -> Result<Current, String> {
        let terminal = std::fs::File::create(dir.join("terminal.txt"))
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        let mut command = Command::new(&self.exe);
        command
            .args(argv)
            .stdin(Stdio::null())
            .stdout(terminal)
            .stderr(Stdio::piped());
        // Its own process group: Ctrl-C at the terminal reaches this process, which stops the
        // run once (a second signal would cut its drain short).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stderr = child.stderr.take().expect("piped");
        let noted = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = noted.lock().expect("never poisoned");
                if let Some(rest) = line.strip_prefix("live page at http://") {
                    s.addr = rest.split('/').next().and_then(|a| a.parse().ok());
                }
                if line.starts_with("serving the final figures") {
                    s.ended = true;
                }
                s.log.push(line);
                if s.log.len() > 200 {
                    s.log.remove(0);
                }
            }
            let mut s = noted.lock().expect("never poisoned");
            s.ended = true;
            s.exited = true;
        });
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let s = seen.lock().expect("never poisoned");
                if s.addr.is_some() {
                    break;
                }
                if s.exited || Instant::now() > until {
                    let said = s.log.join("\n");
                    drop(s);
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(if said.is_empty() {
                        format!("run {id} did not start its page")
                    } else {
                        said
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Current {
            id: id.to_string(),
            child,
            seen,
        })
    }

    /// runs lists the run folders under the root, newest first, with their verdicts.
    fn runs(&self) -> Vec<RunListed> {
        let running = {
            let current = self.current.lock().expect("never poisoned");
            current
                .as_ref()
                .filter(|c| !c.seen.lock().expect("never poisoned").ended)
                .map(|c| c.id.clone())
        };
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut runs: Vec<RunListed> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| {
                let id = e.file_name().to_str()?.to_string();
                let dir = e.path();
                let summary: Option<serde_json::Value> = std::fs::read(dir.join("summary.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let verdict = if running.as_deref() == Some(id.as_str()) {
                    "running".to_string()
                } else {
                    match &summary {
                        None => "not run".to_string(),
                        Some(s) if s["partial"] == true => "partial".to_string(),
                        Some(s) if s["passed"] == true => "passed".to_string(),
                        Some(_) => "failed".to_string(),
                    }
                };
                let files = DOWNLOADS
                    .iter()
                    .filter(|f| dir.join(f).is_file())
                    .map(|f| f.to_string())
                    .collect();
                Some(RunListed {
                    id,
                    verdict,
                    exit_code: summary.as_ref().and_then(|s| s["exit_code"].as_i64()),
                    requests: summary.as_ref().and_then(|s| s["requests"].as_u64()),
                    files,
                })
            })
            .collect();
        runs.sort_by(|a, b| b.id.cmp(&a.id));
        runs
    }

    /// shown is the current run as the page follows it.
    fn shown(&self) -> serde_json::Value {
        let current = self.current.lock().expect("never poisoned");
        match current.as_ref() {
            None => serde_json::Value::Null,
            Some(c) => {
                let s = c.seen.lock().expect("never poisoned");
                serde_json::json!({
                    "id": c.id,
                    "ended": s.ended,
                    "page": format!("{}/", RUN_BASE.trim_start_matches('/')),
                    "log": s.log,
                })
            }
        }
    }

    /// file serves `NAME` of run `ID` (`/runs/ID/NAME`): only the files a run writes.
    fn file(&self, rest: &str) -> Response<Body> {
        let not_found = || {
            web::full(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "no such file: a run's folder offers the files the run wrote\n",
            )
        };
        let Some((id, name)) = rest.split_once('/') else {
            return not_found();
        };
        let safe = |s: &str| !s.is_empty() && !s.contains(['/', '\\']) && !s.starts_with('.');
        if !safe(id) || !(DOWNLOADS.contains(&name) || name == "terminal.txt") {
            return not_found();
        }
        match std::fs::read(self.root.join(id).join(name)) {
            Ok(bytes) => web::full(StatusCode::OK, web::content_type(name), bytes),
            Err(_) => not_found(),
        }
    }

    /// stop_all stops the current run, if it goes on, and waits for its process: its reports
    /// are written, marked partial, as on Ctrl-C.
    pub fn stop_all(&self) {
        let _starting = self.starting.lock().expect("never poisoned");
        let current = self.current.lock().expect("never poisoned").take();
        if let Some(mut c) = current {
            end(&mut c);
        }
    }

    fn run_addr(&self) -> Option<SocketAddr> {
        let current = self.current.lock().expect("never poisoned");
        let c = current.as_ref()?;
        let s = c.seen.lock().expect("never poisoned");
        if s.exited { None } else { s.addr }
    }
}

/// end stops a run's process as Ctrl-C would, and waits for it: a run going on stops and writes
/// its reports, marked partial, then serves its final figures until a second signal ends that.
fn end(c: &mut Current) {
    let signal = |c: &Current| {
        // SAFETY: kill with a pid this process started and has not reaped.
        unsafe { libc::kill(c.child.id() as i32, libc::SIGINT) };
    };
    let (ended, exited) = {
        let s = c.seen.lock().expect("never poisoned");
        (s.ended, s.exited)
    };
    if !exited {
        if !ended {
            signal(c);
            while !c.seen.lock().expect("never poisoned").ended {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !c.seen.lock().expect("never poisoned").exited {
            signal(c);
        }
    }
    let _ = c.child.wait();
}

impl Site for Ui {
    fn answer(
        self: Arc<Self>,
        req: Request<Incoming>,
        path: String,
    ) -> Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
        Box::pin(async move {
            let get = matches!(*req.method(), Method::GET | Method::HEAD);
            let post = *req.method() == Method::POST;
            match path.as_str() {
                "/" | "/index.html" if get => {
                    web::full(StatusCode::OK, "text/html; charset=utf-8", PAGE)
                }
                "/report.css" if get => web::full(
                    StatusCode::OK,
                    "text/css; charset=utf-8",
                    crate::report::html::CSS,
                ),
                "/api/plans" if get => {
                    let plans: Vec<_> = SHIPPED
                        .iter()
                        .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
                        .collect();
                    web::json(StatusCode::OK, &plans)
                }
                "/api/runs" if get => web::json(StatusCode::OK, &self.runs()),
                "/api/current" if get => web::json(StatusCode::OK, &self.shown()),
                "/api/check" | "/api/start" if post => {
                    if !web::same_origin(&req) {
                        return web::json(
                            StatusCode::FORBIDDEN,
                            &Checked::refused(
                                "refused: a request from another site cannot check or start runs here",
                            ),
                        );
                    }
                    let starting = path == "/api/start";
                    let asked = match read_asked(req).await {
                        Ok(a) => a,
                        Err(refused) => return web::json(StatusCode::BAD_REQUEST, &refused),
                    };
                    if starting {
                        // Starting waits for the run's process to serve its page.
                        let ui = self.clone();
                        let (status, said) = tokio::task::spawn_blocking(move || ui.start(&asked))
                            .await
                            .unwrap_or_else(|_| {
                                (
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    Checked::refused("the start failed"),
                                )
                            });
                        web::json(status, &said)
                    } else {
                        match Ui::check(&asked) {
                            Ok(c) => web::json(
                                StatusCode::OK,
                                &Checked {
                                    ok: true,
                                    message: c.description,
                                    line: None,
                                    column: None,
                                    id: None,
                                },
                            ),
                            Err(refused) => web::json(StatusCode::OK, &refused),
                        }
                    }
                }
                "/api/check" | "/api/start" => {
                    let mut r = web::json(
                        StatusCode::METHOD_NOT_ALLOWED,
                        &Checked::refused(format!("POST {path} with the plan as JSON")),
                    );
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("POST"));
                    r
                }
                p if get && p.starts_with("/runs/") => self.file(&p["/runs/".len()..]),
                p if p == RUN_BASE || p.starts_with("/run/") => match self.run_addr() {
                    Some(addr) => forward(req, addr).await,
                    None => web::full(
                        StatusCode::NOT_FOUND,
                        "text/plain; charset=utf-8",
                        "no run is being served: start one on the page\n",
                    ),
                },
                _ => web::full(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    "not found: metronome ui serves its page at /, its API under /api/, the current run under /run/ and past runs' files under /runs/\n",
                ),
            }
        })
    }
}

/// read_asked reads a check or start request's JSON body, at most MAX_BODY bytes.
async fn read_asked(req: Request<Incoming>) -> Result<Asked, Checked> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Checked::refused(format!(
                "the request is over {} KiB: a plan that large is not one to paste",
                MAX_BODY / 1024
            ))
        })?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|e| Checked::refused(format!("the request is not the JSON the page sends: {e}")))
}

/// forward passes a request on to the run's own server and its answer back as it comes (the
/// live page's event stream included). The Host header is kept: the run's own same-origin
/// check then sees the page's origin.
async fn forward(req: Request<Incoming>, to: SocketAddr) -> Response<Body> {
    let gone = || {
        web::full(
            StatusCode::BAD_GATEWAY,
            "text/plain; charset=utf-8",
            "the run's process no longer answers: it has ended\n",
        )
    };
    let Ok(stream) = tokio::net::TcpStream::connect(to).await else {
        return gone();
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
    else {
        return gone();
    };
    tokio::spawn(connection);
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return gone();
    };
    let asked = Request::from_parts(parts, Full::new(body.to_bytes()));
    let Ok(answer) = sender.send_request(asked).await else {
        return gone();
    };
    let (parts, mut body) = answer.into_parts();
    let (mut tx, relayed) =
        http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(4);
    tokio::spawn(async move {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data()
                && tx.send_data(data).await.is_err()
            {
                return;
            }
        }
    });
    Response::from_parts(parts, relayed.boxed())
}
