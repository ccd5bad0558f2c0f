//! Plan: a validated, typed description of a run.
//!
//! Whatever produced it (quick-mode flags or a TOML plan file), a `Plan` is trusted by the
//! engine: rates are finite and not negative, weights are not all zero, the target is a URL the
//! engine can reach. Parsing and its error messages belong to the code that builds a plan;
//! this module holds the result and the few pure questions asked of it. It says what a run
//! does (the pacing mode, the response checks in [`checks`]), never how: it imports nothing of
//! the engine, which imports it.

pub mod checks;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::ValueEnum;
use hyper::http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};

use crate::draw::{self, Stream};
use crate::problem::Problem;
use crate::schedule::{ArrivalProcess, Schedule, ShardOf, Stage};
use crate::template::{Template, Vars};
use checks::Checks;

/// Plan is everything a run needs to know before it starts.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Shown in output: the plan file's name, or "quick" for a quick-mode run.
    pub name: String,
    /// Where requests go.
    pub target: Target,
    /// Request mixes with their own stages, run at the same time.
    pub scenarios: Vec<Scenario>,
    /// Connection and in-flight bounds, timeout.
    pub limits: Limits,
    /// Seed of every draw (Poisson gaps, request mix, template values).
    pub seed: u64,
    /// Worker threads; arrivals are sharded across them by index.
    pub threads: usize,
    /// How workers wait for intended times.
    pub pacing: Pacing,
    /// Whether one request is sent before the schedule starts to check the target answers.
    pub preflight: bool,
    /// Template variables request paths and bodies may use.
    pub vars: Vars,
    /// SLA classes by name; requests refer to them.
    pub sla_classes: BTreeMap<String, SlaClass>,
    /// Which arrivals of every schedule this process issues (`--shard`): all of them unless
    /// the run is split over several processes.
    pub shard: ShardOf,
    /// The target watched while the run goes (`[watch]`, `--watch-pid`, …), and the memory
    /// criteria judged on its samples; none when nothing is watched.
    pub watch: Option<Watch>,
    /// Rate changes made to the plan's stages, in time order (`--steer`, or the live page's):
    /// the stages above already have them.
    pub steering: Vec<crate::steer::RateChange>,
}

/// MAX_RATE is the highest arrival rate a stage may ask for (arrivals per second, per scenario).
/// It is far above what any machine sends (about 100,000/s per core), and it keeps a typo such
/// as `rate = 1e12` from being a run that falls ever further behind and never ends.
pub const MAX_RATE: f64 = 10_000_000.0;

/// rate_text writes a rate the way it was most likely typed: 1e12 rather than its 13 digits.
pub fn rate_text(rate: f64) -> String {
    if rate < 1e12 {
        format!("{rate}")
    } else {
        format!("{rate:e}")
    }
}

impl Plan {
    /// schedules are every scenario's schedule, in order.
    pub fn schedules(&self) -> Vec<Schedule> {
        (self.scenarios.iter().enumerate())
            .map(|(k, s)| s.schedule(self.seed, k as u64))
            .collect()
    }

    /// schedule_duration is how long the whole schedule lasts: its longest scenario's stages.
    pub fn schedule_duration(&self) -> Duration {
        (self.scenarios.iter())
            .map(|s| s.stages.iter().map(|st| st.duration).sum())
            .max()
            .unwrap_or_default()
    }

    /// quick builds a quick-mode plan: one scenario, one constant-rate stage, one request
    /// (`method` on `path`), default limits, preflight on, seed 1, one thread.
    pub fn quick(
        target: Target,
        method: Method,
        path: &str,
        rate: f64,
        duration: Duration,
    ) -> Plan {
        let request = RequestSpec {
            name: format!("{method} {path}"),
            weight: 1,
            method,
            path: Template::literal(path),
            headers: HeaderMap::new(),
            body: Template::literal(""),
            sla_class: None,
            checks: Checks::default(),
        };
        Plan {
            name: "quick".into(),
            target,
            scenarios: vec![Scenario {
                name: "quick".into(),
                stages: vec![Stage::constant("constant", rate, duration)],
                arrivals: ArrivalProcess::Uniform,
                requests: vec![request],
                criteria: vec![StageCriteria::default()],
            }],
            limits: Limits::default(),
            seed: 1,
            threads: 1,
            pacing: Pacing::Default,
            preflight: true,
            vars: Vars::default(),
            sla_classes: BTreeMap::new(),
            shard: ShardOf::WHOLE,
            watch: None,
            steering: Vec::new(),
        }
    }

    /// worker_threads is how many workers the plan runs: as many as it asks for, but never more
    /// than its connection or in-flight limits, which are split among them (each worker needs
    /// one of each).
    pub fn worker_threads(&self) -> usize {
        self.threads
            .max(1)
            .min(self.limits.connections.max(1))
            .min(self.limits.max_in_flight.max(1))
    }
}

/// Pacing says how a worker waits for an arrival's intended time: the plan chooses the mode,
/// the engine's pacer (`engine::pacer`) does the timing. The flag's one-line help for each mode
/// is its `value(help)`, shorter than the doc comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// Sleep on a high-resolution timer, armed early by the wake-up latency the pacer has seen
    /// (its 10th percentile, see `WakeLatency`), then yield until the intended time: no CPU
    /// while waiting, and the kernel's wake-up latency mostly hidden. Arrivals at least `SPARSE`
    /// apart are woken 2 % of the wait ahead, from `SPARSE_EARLY` up to `SPARSE_APPROACH`.
    #[default]
    #[value(
        help = "Sleep on a high-resolution timer, armed early by the wake-up latency seen so far"
    )]
    Default,
    /// Sleep until `PRECISE_EARLY` before the intended time, then yield until it: dispatch lag
    /// of a few microseconds, at the cost of a busy core between close arrivals.
    #[value(
        help = "Wake 200 µs early and yield until the intended time: a busy core for ~1 µs lag"
    )]
    Precise,
    /// Wake on a 0.9 ms grid: arrivals are released in batches, up to about a millisecond late
    /// (which every latency then includes), for fewer wake-ups per request.
    #[value(help = "wake every 0.9 ms: arrivals released in batches, up to ~1 ms late")]
    Coarse,
}

impl Pacing {
    /// name is the mode as the flag and the JSON spell it.
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Default => "default",
            Pacing::Precise => "precise",
            Pacing::Coarse => "coarse",
        }
    }
}

/// SlaClass holds latency targets for a class of endpoints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaClass {
    /// Target for the median.
    pub p50: Option<Duration>,
    /// Target for the 95th percentile.
    pub p95: Option<Duration>,
    /// Target for the 99th percentile.
    pub p99: Option<Duration>,
}

impl SlaClass {
    /// target is the class's target for a percentile, if it sets one.
    pub fn target(&self, q: Quantile) -> Option<Duration> {
        match q {
            Quantile::P50 => self.p50,
            Quantile::P95 => self.p95,
            Quantile::P99 => self.p99,
        }
    }
}

/// Quantile is a percentile an SLA class can set a target for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quantile {
    P50,
    P95,
    P99,
}

impl Quantile {
    /// value is the quantile as a fraction.
    pub fn value(self) -> f64 {
        match self {
            Quantile::P50 => 0.5,
            Quantile::P95 => 0.95,
            Quantile::P99 => 0.99,
        }
    }

    /// name is how output writes it.
    pub fn name(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P95 => "p95",
            Quantile::P99 => "p99",
        }
    }
}

/// StageCriteria are the rules one stage is judged by (its settle time excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct StageCriteria {
    /// An error rate above this warns.
    pub warn_error_rate: Option<f64>,
    /// An error rate above this fails.
    pub max_error_rate: Option<f64>,
    /// Percentiles of each endpoint judged against its SLA class: above target warns.
    pub sla_percentiles: Vec<Quantile>,
    /// More than this fraction over target fails (0.5: more than 50 % over).
    pub sla_fail_over: f64,
    /// More dropped arrivals than this fails.
    pub max_dropped: Option<u64>,
    /// The error rate is also judged in every window of this length (`error_rate.window`).
    pub error_window: Option<Window>,
    /// Each SLA percentile is also judged in every window of this length (`sla_window`).
    pub sla_window: Option<Window>,
}

/// Window is how a criterion is judged over time within a stage: in every window of `length`,
/// the worst one deciding, so a service that degrades in hour 20 fails a 24 h stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The length as written, before `--time-scale`.
    pub written: Duration,
    /// The length in this run (`--time-scale` applied, as it is to the stages).
    pub length: Duration,
    /// Stop the run as soon as a window has clearly failed (k6's abortOnFail).
    pub abort: bool,
}

impl Default for StageCriteria {
    fn default() -> Self {
        StageCriteria {
            warn_error_rate: None,
            max_error_rate: None,
            sla_percentiles: Vec::new(),
            sla_fail_over: 0.5,
            max_dropped: None,
            error_window: None,
            sla_window: None,
        }
    }
}

/// Target is the base URL requests are sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Host name or address, as written in the URL (without brackets for IPv6).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `host:port` as it goes in the Host header.
    pub authority: String,
    /// Path prefix every request path is appended to ("" for none).
    pub base_path: String,
    /// Headers sent with every request.
    pub headers: HeaderMap,
    /// How connections are made: TLS, HTTP version, keep-alive.
    pub transport: Transport,
}

/// HttpVersion is the protocol requests are sent with. Its names are the plan's and the
/// `--http` flag's; the flag's help explains them, so the values carry none of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.1.
    #[serde(rename = "1.1")]
    #[value(name = "1.1", help = None::<&str>)]
    Http1,
    /// HTTP/2: over TLS by ALPN, over cleartext with prior knowledge (h2c).
    #[serde(rename = "2")]
    #[value(name = "2", help = None::<&str>)]
    Http2,
    /// HTTP/2 when TLS's ALPN agrees to it, else HTTP/1.1 (cleartext: HTTP/1.1). The default,
    /// so an https deployment that speaks HTTP/2 gets it with only a --host change.
    #[default]
    #[serde(rename = "auto")]
    #[value(name = "auto", help = None::<&str>)]
    Auto,
}

/// Transport says how connections to the target are made.
#[derive(Debug, Clone, PartialEq)]
pub struct Transport {
    /// TLS (an https:// base URL).
    pub tls: bool,
    /// A PEM file of extra trusted certificates (a private CA), beside the platform's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Skip certificate verification (announced in every output).
    pub insecure: bool,
    /// The protocol.
    pub http: HttpVersion,
    /// Keep connections open between requests; false opens one per request.
    pub keep_alive: bool,
    /// HTTP/2: most concurrent streams on one connection.
    pub max_streams: usize,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            tls: false,
            ca_file: None,
            insecure: false,
            http: HttpVersion::Auto,
            keep_alive: true,
            max_streams: 100,
        }
    }
}

impl Target {
    /// parse reads a base URL such as `http://127.0.0.1:8001` or `http://svc/api`; it returns
    /// the target and the URL's own path and query (for quick mode, the request path).
    pub fn parse(url: &str) -> Result<(Target, String), Problem> {
        const LIKE: &str = "write it like http://127.0.0.1:8001/health";
        let uri: Uri = url
            .parse()
            .map_err(|e| Problem::new(format!("`{url}` is not a URL ({e})"), LIKE))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Problem::new(
                    format!("`{url}` has no http:// or https:// scheme"),
                    LIKE,
                ));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Problem::new(format!("`{url}` has no host"), LIKE))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let target = Target {
            host,
            port,
            authority,
            base_path: String::new(),
            headers: HeaderMap::new(),
            transport: Transport {
                tls,
                ..Transport::default()
            },
        };
        Ok((target, path_and_query))
    }

    /// url renders the base URL for output.
    pub fn url(&self) -> String {
        let scheme = if self.transport.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.base_path)
    }
}

/// Limits bound what the engine may hold open.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Most connections open at once (over all threads).
    pub connections: usize,
    /// Most arrivals in flight at once (queued or sent); arrivals beyond are dropped.
    pub max_in_flight: usize,
    /// How long a request may take from being sent until its response is complete; also the
    /// bound on opening a connection and on the drain after the schedule ends.
    pub timeout: Duration,
    /// New connections opened per second at most, so a spike does not become a connection storm.
    pub connect_rate: u32,
    /// The largest response body read, in bytes: a longer one (by its Content-Length, or once
    /// that much has arrived) is a `body_too_large` error and its connection is closed, so no
    /// target can keep the engine reading without end.
    pub max_body: usize,
}

/// DEFAULT_MAX_BODY is the default `max_body`: far beyond an API's responses, and a bound on
/// what one response can make the engine read.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 100,
            max_in_flight: 10_000,
            timeout: Duration::from_secs(30),
            connect_rate: 1_000,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Scenario is a request mix with its own stages.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Shown in output and used as the key of its results.
    pub name: String,
    /// The pieces of its schedule, in order.
    pub stages: Vec<Stage>,
    /// How arrivals are spaced.
    pub arrivals: ArrivalProcess,
    /// The mix; at least one request, weights not all zero.
    pub requests: Vec<RequestSpec>,
    /// The rules each stage is judged by, one per stage.
    pub criteria: Vec<StageCriteria>,
}

impl Scenario {
    /// peak_rate is the highest arrival rate any of its stages reaches (per second).
    pub fn peak_rate(&self) -> f64 {
        (self.stages.iter())
            .map(|st| st.from.max(st.to))
            .fold(0.0, f64::max)
    }

    /// schedule builds this scenario's schedule; `lane` separates its draws from other scenarios'.
    pub fn schedule(&self, seed: u64, lane: u64) -> Schedule {
        Schedule::new(self.stages.clone(), self.arrivals, seed, lane)
    }

    /// pick chooses which request of the mix arrival `index` becomes, by weight.
    pub fn pick(&self, seed: u64, lane: u64, index: u64) -> usize {
        if self.requests.len() == 1 {
            return 0;
        }
        let total: u64 = self.requests.iter().map(|r| u64::from(r.weight)).sum();
        let mut x = (draw::unit(seed, Stream::Mix, lane, index) * total as f64) as u64;
        for (i, r) in self.requests.iter().enumerate() {
            if x < u64::from(r.weight) {
                return i;
            }
            x -= u64::from(r.weight);
        }
        self.requests.len() - 1
    }
}

/// RequestSpec is one entry of a scenario's mix.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Results are keyed by (scenario, name).
    pub name: String,
    /// Relative share of arrivals.
    pub weight: u32,
    /// HTTP method.
    pub method: Method,
    /// Path and query, appended to the target's base path.
    pub path: Template,
    /// Headers on top of the target's.
    pub headers: HeaderMap,
    /// Request body (empty for none).
    pub body: Template,
    /// SLA class whose targets judge this request.
    pub sla_class: Option<String>,
    /// What its response must be to count as a success (default: status 2xx or 3xx).
    pub checks: Checks,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, weight: u32) -> RequestSpec {
        RequestSpec {
            name: name.into(),
            weight,
            method: Method::GET,
            path: Template::literal("/"),
            headers: HeaderMap::new(),
            body: Template::literal(""),
            sla_class: None,
            checks: Checks::default(),
        }
    }

    #[test]
    fn urls_parse_or_explain() {
        let (t, path) = Target::parse("http://127.0.0.1:8001/health?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8001));
        assert_eq!(t.authority, "127.0.0.1:8001");
        assert_eq!(path, "/health?x=1");
        let (t, path) = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!((t.host.as_str(), path.as_str()), ("::1", "/"));
        assert_eq!(Target::parse("http://localhost").unwrap().0.port, 80);
        assert!(Target::parse("https://x/").unwrap().0.transport.tls);
        assert_eq!(Target::parse("https://x/").unwrap().0.port, 443);
        for bad in ["127.0.0.1:8001", "ftp://x/", "http://"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_mix_follows_the_weights() {
        let s = Scenario {
            name: "s".into(),
            stages: vec![],
            arrivals: ArrivalProcess::Uniform,
            requests: vec![spec("a", 10), spec("b", 0), spec("c", 30)],
            criteria: vec![],
        };
        let mut counts = [0u32; 3];
        for i in 0..40_000 {
            counts[s.pick(3, 0, i)] += 1;
        }
        // Expect 10,000 / 0 / 30,000; binomial sd ~87, allow 5 sd.
        assert!((counts[0] as i64 - 10_000).abs() < 435, "{counts:?}");
        assert_eq!(counts[1], 0);
    }
}

/// Watch is what a run samples of its target, from the start of the preflight to the end of
/// the drain, and the memory criteria judged on those samples (`watch` does the sampling and
/// the judging).
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// What is read; none when a plan states criteria but leaves the target to a flag
    /// (`--watch-pid`, …): the run then says that nothing was watched.
    pub source: Option<WatchSource>,
    /// Time between samples (already scaled by `--time-scale`, never below `MIN_WATCH_INTERVAL`).
    pub interval: Duration,
    /// Leading time of the schedule left out before the first window (a warm-up).
    pub settle: Duration,
    /// Length of the first and the last window whose mean memory are compared; none: 10 % of
    /// the schedule.
    pub window: Option<Duration>,
    /// More growth than this fraction from the first window's mean to the last's fails.
    pub max_memory_growth: Option<f64>,
    /// Any sample above this many bytes fails.
    pub max_memory: Option<u64>,
    /// The fitted trend, extrapolated over this span, warns when it grows memory by more than
    /// `max_memory_growth`.
    pub memory_horizon: Option<Duration>,
}

/// DEFAULT_WATCH_INTERVAL is how often the target is sampled unless the plan says.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(5);
/// MIN_WATCH_INTERVAL is the shortest time between samples, however the plan is scaled.
pub const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(100);

impl Watch {
    /// of is a watch of `source` with the default interval and no criteria.
    pub fn of(source: WatchSource) -> Watch {
        Watch {
            source: Some(source),
            interval: DEFAULT_WATCH_INTERVAL,
            settle: Duration::ZERO,
            window: None,
            max_memory_growth: None,
            max_memory: None,
            memory_horizon: None,
        }
    }
}

/// WatchSource is where the target's memory (and CPU) is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchSource {
    /// A local process: RSS and CPU from /proc/PID.
    Pid(u32),
    /// Every local process of this name (/proc/*/comm), summed.
    Process(String),
    /// A cgroup v2 directory (a container, a systemd service): memory.current and cpu.stat.
    Cgroup(std::path::PathBuf),
    /// A Prometheus text endpoint (http:// only) and the gauge read from it.
    Metrics { url: String, metric: MetricSelector },
}

/// MetricSelector names one series of a Prometheus text exposition: a metric name and label
/// matchers (`name{job="api",instance!="b"}`); several matching series are summed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSelector {
    pub name: String,
    /// (label, equal?, value): `equal` false for `!=`.
    pub labels: Vec<(String, bool, String)>,
}

impl std::fmt::Display for MetricSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.labels.is_empty() {
            let parts: Vec<String> = (self.labels.iter())
                .map(|(k, eq, v)| format!("{k}{}{v:?}", if *eq { "=" } else { "!=" }))
                .collect();
            write!(f, "{{{}}}", parts.join(","))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for WatchSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchSource::Pid(pid) => write!(f, "pid {pid}"),
            WatchSource::Process(name) => write!(f, "process `{name}`"),
            WatchSource::Cgroup(path) => write!(f, "cgroup {}", path.display()),
            WatchSource::Metrics { url, metric } => write!(f, "{metric} at {url}"),
        }
    }
}
