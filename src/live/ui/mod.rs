//! `metronome ui`: a start page like Locust's. Pick a shipped or uploaded plan (or quick mode),
//! check it (errors with line and column), start it, watch it, start another when it ends.
//!
//! Each run is a `metronome run` child process of this one, with `--out` in its own folder
//! under `--out-root` and `--web` on a loopback port of its own under `/run`, which this server
//! forwards: the run is exactly what the command line would run (the same flags, checks, files
//! and exit code), a failing run cannot take the page down, and Stop on the page is the run's
//! own. One run at a time; the last one stays served (its final figures and files) until the
//! next starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

mod asked;
mod child;
mod forward;

use self::asked::{Asked, Checked};
use self::child::{Current, end};
use self::forward::forward;
use super::server::Site;
use super::web::{self, Body, DOWNLOADS};

/// SHIPPED are the plans in the repository's `plans/`, built in so the page offers them
/// wherever the binary runs.
pub const SHIPPED: [(&str, &str); 7] = [
    ("smoke.toml", include_str!("../../../plans/smoke.toml")),
    ("load-10.toml", include_str!("../../../plans/load-10.toml")),
    ("load-50.toml", include_str!("../../../plans/load-50.toml")),
    (
        "load-100.toml",
        include_str!("../../../plans/load-100.toml"),
    ),
    (
        "progression.toml",
        include_str!("../../../plans/progression.toml"),
    ),
    (
        "spike-200.toml",
        include_str!("../../../plans/spike-200.toml"),
    ),
    (
        "soak-24h.toml",
        include_str!("../../../plans/soak-24h.toml"),
    ),
];

/// MAX_BODY is the largest request body the page may send (a plan's text, in JSON).
pub(crate) const MAX_BODY: usize = 512 * 1024;

/// RUN_BASE is where the current run's own page is served, forwarded to its process.
const RUN_BASE: &str = "/run";

const PAGE: &str = include_str!("page.html");

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

    /// start starts what was asked, unless a run is going on; the old run's process, ended,
    /// is let go first.
    fn start(&self, asked: &Asked) -> (StatusCode, Checked) {
        let chosen = match asked::check(asked) {
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
        match child::spawn(&self.exe, &id, &dir, &argv) {
            Ok(c) => {
                *self.current.lock().expect("never poisoned") = Some(c);
                let message = format!("started {id}: {}", chosen.description);
                (StatusCode::OK, Checked::said(message, Some(id)))
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
        web::file(&self.root.join(id), name).unwrap_or_else(not_found)
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
                        match asked::check(&asked) {
                            Ok(c) => web::json(StatusCode::OK, &Checked::said(c.description, None)),
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
