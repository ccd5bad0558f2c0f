//! Web: the live page and its JSON API (`--web`), beside `/metrics`.
//!
//! `GET /` is the page (every asset embedded, nothing fetched from outside); `GET /api/snapshot`
//! the run as of its last second; `GET /api/series` every second since the start (a reloaded
//! page keeps its history); `GET /api/events` a server-sent event per published second;
//! `GET /api/charts` the charts as SVG, drawn by the same code as the HTML report's;
//! `POST /api/stop` stops the run as Ctrl-C does; `POST /api/rate` sets a scenario's rate (see
//! `rate`); `GET /files/NAME` a file the run wrote, once written. State-changing routes take
//! POST only and refuse other origins.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::{Live, Point};
use crate::report::chart::{Chart, Series, linear_axis, time_axis, y_extent};

/// Body is every route's response body.
pub type Body = BoxBody<Bytes, Infallible>;

/// DOWNLOADS are the files a run may write into its `--out` directory that the page offers.
pub const DOWNLOADS: [&str; 8] = [
    "summary.json",
    "report.html",
    "stats.csv",
    "stats_history.csv",
    "failures.csv",
    "latency.hlog",
    "latency.hgrm",
    "recording.json",
];

const PAGE: &str = include_str!("page.html");

/// CHART_POINTS is the most points a live chart draws; a longer run's seconds are taken in
/// buckets, each showing its highest second (never an average of percentiles).
const CHART_POINTS: usize = 600;

pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    full(
        status,
        "application/json",
        serde_json::to_vec(value).expect("serializable"),
    )
}

/// same_origin says whether a state-changing request came from this server's own page: no
/// Origin (a script such as curl) or one naming this host, and no cross-site fetch metadata.
pub fn same_origin(req: &Request<Incoming>) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_ok = match req.headers().get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(o)) => o == format!("http://{host}") || o == format!("https://{host}"),
        Some(Err(_)) => false,
    };
    let site_ok = match req.headers().get("sec-fetch-site").map(|s| s.to_str()) {
        None => true,
        Some(Ok(s)) => s == "same-origin" || s == "none",
        Some(Err(_)) => false,
    };
    origin_ok && site_ok
}

/// route answers the page's routes; None for a path that is not one of them.
pub fn route(req: &Request<Incoming>, path: &str, live: &Arc<Live>) -> Option<Response<Body>> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let r = match path {
        "/" | "/index.html" if get => full(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/report.css" if get => full(
            StatusCode::OK,
            "text/css; charset=utf-8",
            crate::report::html::CSS,
        ),
        "/api/snapshot" if get => json(StatusCode::OK, &*live.snapshot()),
        "/api/series" if get => json(StatusCode::OK, &live.series()),
        "/api/timeline" if get => json(StatusCode::OK, &live.timeline()),
        "/api/charts" if get => json(StatusCode::OK, &charts(live)),
        "/api/outputs" if get => json(StatusCode::OK, &live.outputs()),
        "/api/events" if get => events(live),
        "/api/stop" => match refused_change(req, "POST /api/stop stops the run", "stop") {
            Some(refused) => refused,
            None => stop(live),
        },
        p if get && p.starts_with("/files/") => download(live, &p["/files/".len()..]),
        _ => return None,
    };
    Some(r)
}

/// refused_change is the answer to a request for a state-changing route that is not a POST
/// from this server's own page (`usage` says what the route does, `verb` what it would do);
/// None when it may go ahead.
pub fn refused_change(req: &Request<Incoming>, usage: &str, verb: &str) -> Option<Response<Body>> {
    if *req.method() != Method::POST {
        let mut r = json(StatusCode::METHOD_NOT_ALLOWED, &Said::new(usage));
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Some(r);
    }
    (!same_origin(req)).then(|| {
        json(
            StatusCode::FORBIDDEN,
            &Said::new(&format!(
                "refused: a request from another site cannot {verb} this run"
            )),
        )
    })
}

/// Said is what a state-changing route did, in words.
#[derive(Serialize)]
pub struct Said {
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
}

impl Said {
    /// new says why nothing was done.
    pub fn new(message: &str) -> Said {
        Said {
            ok: false,
            message: message.into(),
            at_s: None,
            in_flight: None,
        }
    }
}

fn stop(live: &Live) -> Response<Body> {
    let s = live.snapshot();
    if live.ask_stop() {
        json(
            StatusCode::OK,
            &Said {
                ok: true,
                message: format!(
                    "stopping {:.1} s into the run: no new arrivals; the {} requests in flight are waited for, then every report is written, marked partial",
                    s.elapsed_s, s.in_flight
                ),
                at_s: Some(s.elapsed_s),
                in_flight: Some(s.in_flight),
            },
        )
    } else if s.finished {
        json(
            StatusCode::CONFLICT,
            &Said::new("the run has already ended: nothing to stop"),
        )
    } else {
        let at = live.stop_asked().unwrap_or_default();
        json(
            StatusCode::CONFLICT,
            &Said::new(&format!(
                "already stopping (asked {at:.1} s into the run): waiting for the requests in flight"
            )),
        )
    }
}

fn download(live: &Live, name: &str) -> Response<Body> {
    let not_found = || {
        full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such file: the run writes its files when it ends, and only with --out\n",
        )
    };
    // Only the names the run writes, and only once written: nothing else on disk is served.
    if !live.outputs().iter().any(|f| f == name) {
        return not_found();
    }
    let Some(dir) = &live.out_dir else {
        return not_found();
    };
    match file(dir, name) {
        Some(mut r) => {
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        None => not_found(),
    }
}

/// file is file `name` of a run's folder `dir`, with its media type, if it can be read.
pub fn file(dir: &std::path::Path, name: &str) -> Option<Response<Body>> {
    let bytes = std::fs::read(dir.join(name)).ok()?;
    Some(full(StatusCode::OK, content_type(name), bytes))
}

/// content_type is the media type of a file a run writes, by its name.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// events streams one `data:` line of the snapshot per published second.
fn events(live: &Arc<Live>) -> Response<Body> {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(2);
    let live = live.clone();
    let mut changes = live.changes();
    tokio::spawn(async move {
        loop {
            let snapshot = serde_json::to_string(&*live.snapshot()).expect("serializable");
            let frame = Frame::data(Bytes::from(format!("data: {snapshot}\n\n")));
            if tx.send(frame).await.is_err() || changes.changed().await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Charts are the live charts as SVG.
#[derive(Serialize)]
struct Charts {
    rate: String,
    latency: String,
    errors: String,
    engine: String,
    generator: String,
}

/// thin keeps at most CHART_POINTS points: each bucket of seconds becomes one point holding the
/// highest value of each figure in it.
fn thin(series: &[Point]) -> Vec<Point> {
    let per = series.len().div_ceil(CHART_POINTS).max(1);
    if per == 1 {
        return series.to_vec();
    }
    series
        .chunks(per)
        .map(|c| {
            let max_u = |f: fn(&Point) -> Option<u64>| c.iter().filter_map(f).max();
            let max_f = |f: fn(&Point) -> f64| c.iter().map(f).fold(0.0, f64::max);
            Point {
                t: c.last().map_or(0.0, |p| p.t),
                target_rate: max_f(|p| p.target_rate),
                achieved_rate: max_f(|p| p.achieved_rate),
                completed_rate: max_f(|p| p.completed_rate),
                errors: c.iter().map(|p| p.errors).max().unwrap_or(0),
                p50_us: max_u(|p| p.p50_us),
                p95_us: max_u(|p| p.p95_us),
                p99_us: max_u(|p| p.p99_us),
                service_p99_us: max_u(|p| p.service_p99_us),
                lag_p99_us: max_u(|p| p.lag_p99_us),
                in_flight: c.iter().map(|p| p.in_flight).max().unwrap_or(0),
                cpu: c.iter().filter_map(|p| p.cpu).reduce(f64::max),
                rss_bytes: c.iter().filter_map(|p| p.rss_bytes).max(),
                error_kinds: Vec::new(),
            }
        })
        .collect()
}

fn charts(live: &Live) -> Charts {
    let points = thin(&live.series());
    let hi = points.last().map_or(1.0, |p| p.t).max(1.0);
    let stages: Vec<(f64, String)> = {
        let mut v: Vec<(f64, String)> = Vec::new();
        for s in &live.timeline() {
            match v.iter_mut().find(|(x, _)| (x - s.start_s).abs() < 1e-6) {
                Some((_, names)) if !names.split(" / ").any(|n| n == s.name) => {
                    names.push_str(&format!(" / {}", s.name))
                }
                Some(_) => {}
                None => v.push((s.start_s, s.name.clone())),
            }
        }
        v.retain(|(x, _)| *x <= hi);
        v
    };
    let line = |label: &str, i: usize, f: &dyn Fn(&Point) -> Option<f64>| {
        Series::new(
            label,
            i,
            1.8,
            points.iter().map(|p| f(p).map(|y| (p.t, y))).collect(),
        )
    };
    let draw = |title: &str, y_label: &str, series: Vec<Series>| {
        let (_, ymax) = y_extent(&series);
        Chart {
            title: title.into(),
            x: time_axis(0.0, hi),
            y: linear_axis(ymax, y_label),
            series,
            vlines: stages.clone(),
            hlines: Vec::new(),
        }
        .svg()
    };
    let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
    Charts {
        rate: draw(
            "Target, achieved and completed rate",
            "requests per second (/s)",
            vec![
                Series {
                    dash: "7 4",
                    ..line("target rate", 6, &|p| Some(p.target_rate))
                },
                line("achieved rate (issued)", 0, &|p| Some(p.achieved_rate)),
                line("completed (responses/s)", 1, &|p| Some(p.completed_rate)),
            ],
        ),
        latency: draw(
            "Latency from the intended start, and service time",
            "milliseconds (ms)",
            vec![
                line("latency p50", 0, &|p| ms(p.p50_us)),
                line("latency p95", 1, &|p| ms(p.p95_us)),
                line("latency p99", 3, &|p| ms(p.p99_us)),
                Series {
                    dash: "2 3",
                    ..line("service time p99", 2, &|p| ms(p.service_p99_us))
                },
            ],
        ),
        errors: draw(
            "Errors per second",
            "errors per second (/s)",
            vec![line("errors", 1, &|p| Some(p.errors as f64))],
        ),
        engine: draw(
            "In flight and dispatch lag",
            "requests in flight; dispatch lag p99 (ms)",
            vec![
                line("in flight", 0, &|p| Some(p.in_flight as f64)),
                line("dispatch lag p99 (ms)", 1, &|p| ms(p.lag_p99_us)),
            ],
        ),
        generator: draw(
            "This generator: CPU and memory",
            "cores busy; resident memory (MiB)",
            vec![
                line("CPU (cores)", 0, &|p| p.cpu),
                line("memory (MiB)", 2, &|p| {
                    p.rss_bytes.map(|b| b as f64 / 1048576.0)
                }),
            ],
        ),
    }
}
