//! `metronome run`: one run, from a plan file or from quick-mode flags, to its summary.
//!
//! It owns the verb's flags, their validation into a [`Plan`] (flags override a plan's limits;
//! quick-mode flags are refused beside a plan file, so nothing is silently ignored), the demo
//! target started when there is no target, and Ctrl-C. Reading plan files is `plan_file`'s,
//! running `run`'s, printing the summary `report`'s.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use hyper::http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::flags::DemoFlags;
use super::usage;
use crate::clock;
use crate::demo::{DemoConfig, DemoTarget};
use crate::plan::{HttpVersion, Pacing, Plan, Target};
use crate::plan_file::{self, Overrides};
use crate::report;
use crate::run::{self, Failure};
use crate::schedule::{ArrivalProcess, ShardOf};
use crate::shard::Invocation;
use crate::template::Template;
use crate::units::parse_duration;

#[derive(Debug, Args)]
#[command(mut_args(DemoFlags::in_run))]
pub(super) struct RunArgs {
    /// A TOML test plan. Without it, quick mode: --rate and --duration (and --url) describe the run.
    plan: Option<PathBuf>,
    /// Plan: base URL that replaces the plan's (as Locust's --host).
    #[arg(long)]
    host: Option<String>,
    /// Plan: multiply every stage duration and settle time by F, rates unchanged (0.001 runs a
    /// 24 h soak in about 86 s).
    #[arg(long, value_name = "F")]
    time_scale: Option<f64>,
    /// Quick mode: target URL, e.g. http://127.0.0.1:8001/health. Without it (or with a bare
    /// path such as /api/v1/agents) the built-in demo target is started in-process.
    #[arg(long)]
    url: Option<String>,
    /// Quick mode: arrivals per second.
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Quick mode: how long the schedule runs: 500ms, 30s, 5m, 24h.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Quick mode: HTTP method [default: GET].
    #[arg(long)]
    method: Option<String>,
    /// Quick mode: extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Quick mode: request body.
    #[arg(long)]
    body: Option<String>,
    /// Quick mode: arrival process [default: uniform].
    #[arg(long, value_enum)]
    arrivals: Option<ArrivalProcess>,
    /// Most connections open at once, per process (with --shard, per shard); an arrival that
    /// finds none free waits (queue wait) [default: 100, or the plan's].
    #[arg(long)]
    connections: Option<usize>,
    /// Most arrivals in flight at once, per process (with --shard, per shard); arrivals beyond
    /// it are dropped (and reported) [default: 10000, or the plan's].
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Request timeout, from when the request is sent; also bounds connecting and the drain
    /// [default: 30s, or the plan's].
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Largest response body read: a longer one (by its Content-Length, or once that much has
    /// arrived) is a body_too_large error and its connection is closed; 64KiB, 1MiB, 2GiB
    /// [default: 64MiB, or the plan's].
    #[arg(long, value_name = "SIZE", value_parser = crate::plan::checks::parse_size)]
    max_body: Option<usize>,
    /// Worker threads; arrivals are sharded across them by index [default: every core, or the
    /// plan's].
    #[arg(long)]
    threads: Option<usize>,
    /// How workers wait for intended times: `default` sleeps on a high-resolution timer;
    /// `precise` wakes 200 µs early and yields until the intended time (a few µs of dispatch
    /// lag, for a busy core) [default: default, or the plan's].
    #[arg(long, value_enum)]
    pacing: Option<Pacing>,
    /// Seed for Poisson gaps, the request mix and template values [default: 1, or the plan's].
    #[arg(long)]
    seed: Option<u64>,
    /// Skip the request sent before the schedule starts to check that the target answers.
    #[arg(long)]
    no_preflight: bool,
    /// HTTP version: 1.1, 2 (over TLS by ALPN, over cleartext with prior knowledge), or auto
    /// (HTTP/2 when TLS's ALPN agrees, else 1.1) [default: auto, or the plan's].
    #[arg(long, value_enum)]
    http: Option<HttpVersion>,
    /// HTTP/2: most concurrent streams per connection [default: 100, or the plan's].
    #[arg(long)]
    max_streams: Option<usize>,
    /// Open a new connection for every request instead of keeping them alive.
    #[arg(long)]
    no_keep_alive: bool,
    /// Trust the certificates in this PEM file (a private CA) beside the platform's roots.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification (announced in every output).
    #[arg(long)]
    insecure: bool,
    /// Write the JSON summary (schema metronome.summary.v1) to this path.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write the criteria as JUnit XML to this path: one test case per criterion (per stage and
    /// endpoint), failures with the figure that decided them.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write every format into DIR (created if missing): summary.json, report.html, stats.csv,
    /// stats_history.csv, failures.csv, latency.hlog, latency.hgrm.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write the HTML report to PATH.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    csv: Option<PathBuf>,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
    /// Issue only shard I of N of the schedule: the arrivals whose index ≡ I (mod N), so N
    /// processes with the same plan and seed send together what one would. `auto/N` reads I
    /// from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). Merge their --out directories with
    /// `metronome merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<ShardFlag>,
    /// Start the schedule at this wall-clock instant (RFC 3339 in UTC, 2026-12-02T18:30:00Z,
    /// or +DURATION from now, +30s), so shards on several machines line up. A run that starts
    /// after it issues the arrivals already due at once (their lateness is dispatch lag).
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,
    /// Write one line per arrival the engine got to (scenario, index, intended offset in ns,
    /// request name, method and target): how tests compare shards with one process.
    #[arg(long, value_name = "PATH", hide = true)]
    debug_arrivals: Option<PathBuf>,
    /// Serve a live page of the run at http://ADDR/ (default 127.0.0.1:8089), with its JSON API
    /// under /api/ and /metrics: figures every second, charts, Stop, and the files once
    /// written. It stays up after the run until Ctrl-C unless --linger says how long. A
    /// non-loopback address needs --web-auth.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8089", value_parser = crate::live::server::parse_addr)]
    web: Option<std::net::SocketAddr>,
    /// Serve the run's figures at http://ADDR/metrics in the Prometheus text format while it
    /// goes on (counters, rates, in flight, latency and service-time histograms per request
    /// name): ADDR is HOST:PORT or a port on 127.0.0.1. A non-loopback address needs --web-auth.
    #[arg(long, value_name = "ADDR", value_parser = crate::live::server::parse_addr)]
    metrics: Option<std::net::SocketAddr>,
    /// Serve --web under this path prefix, for a reverse proxy that forwards /PREFIX/ to it
    /// (Locust's --web-base-path): the page is then at http://ADDR/PREFIX/.
    #[arg(long, value_name = "/PREFIX", value_parser = crate::live::server::parse_base_path)]
    web_base_path: Option<String>,
    /// HTTP basic auth on every route of --web and --metrics: USER:PASS. Required to bind a
    /// non-loopback address.
    #[arg(long, value_name = "USER:PASS")]
    web_auth: Option<crate::live::server::Credentials>,
    /// After the run, keep serving its final figures on --web and --metrics this long, so a
    /// scraper or the page reads them (Ctrl-C ends it sooner) [default: 0s; with --web, until
    /// Ctrl-C].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    linger: Option<Duration>,
    /// Set a scenario's rate from a moment of the schedule on, as the live page's steering
    /// does: AT:SCENARIO=RATE (`90s:checkout=300`), or AT=RATE for a plan of one scenario. The
    /// stage running at AT ends there and a constant stage at RATE runs to the scenario's end.
    /// Repeatable; a steered run's summary gives the flags that repeat it.
    #[arg(long, value_name = "AT:SCENARIO=RATE", value_parser = parse_steer)]
    steer: Vec<crate::steer::RateChange>,
    #[command(flatten)]
    demo: DemoFlags,
    #[command(flatten)]
    watch: super::watch::WatchFlags,
}

fn parse_steer(text: &str) -> Result<crate::steer::RateChange, String> {
    crate::steer::RateChange::parse(text).map_err(|p| p.to_string())
}

/// command runs a plan (from a file, or quick-mode flags) and prints its summary; the exit code
/// is the summary's.
pub(super) fn command(args: RunArgs) -> Result<i32, Failure> {
    let plan_text = match &args.plan {
        Some(path) => Some(read_plan(path)?),
        None => None,
    };
    let (mut plan, demo) = plan_of(&args, plan_text.as_deref())?;
    if let Some(shard) = &args.shard {
        plan.shard = shard.resolve(std::env::var("JOB_COMPLETION_INDEX").ok().as_deref())?;
    }
    let start_at = (args.start_at.as_deref())
        .map(|t| clock::parse_start_at(t, SystemTime::now()))
        .transpose()
        .map_err(|p| usage(format!("--start-at: {p}")))?;
    if let (Some(at), Some(out)) = (start_at, &args.out) {
        crate::say!(
            "shard {} of the plan starts at {}; results in {}",
            plan.shard,
            clock::format(at),
            out.display()
        );
    }
    for p in [&args.json, &args.junit].into_iter().flatten() {
        // Refused before the demo target starts, not only before the first request.
        report::check_writable(p).map_err(Failure::Usage)?;
    }
    if args.web.is_none() && args.web_base_path.is_some() {
        return Err(usage(
            "--web-base-path applies to --web: give --web [ADDR] too",
        ));
    }
    if args.metrics.is_none()
        && args.web.is_none()
        && (args.web_auth.is_some() || args.linger.is_some())
    {
        return Err(usage(
            "--web-auth and --linger apply to --web and --metrics: give one of them too",
        ));
    }
    let live = (args.metrics.is_some() || args.web.is_some())
        .then(|| crate::live::Live::new(&plan, args.out.clone()));
    let mut servers = Vec::new();
    if let Some(live) = &live {
        for (addr, flag, page) in [
            (args.web, "--web", true),
            (args.metrics, "--metrics", false),
        ] {
            let Some(addr) = addr else { continue };
            let server = crate::live::server::Server::start(
                addr,
                flag,
                args.web_auth.clone(),
                live.clone(),
                page,
                args.web_base_path.clone().filter(|_| page),
            )
            .map_err(Failure::Usage)?;
            if page {
                crate::say!(
                    "live page at http://{}{}/",
                    server.addr(),
                    args.web_base_path.as_deref().unwrap_or_default()
                );
            } else {
                crate::say!("metrics at http://{}/metrics", server.addr());
            }
            servers.push(server);
        }
    }
    // The demo target lives as long as the run; dropping it stops it.
    let _demo = match demo {
        Some(config) => {
            let target = DemoTarget::start(config)
                .map_err(|e| Failure::NotValid(format!("could not start the demo target: {e}")))?;
            crate::say!("demo target listening on {}", target.base_url());
            plan.target.port = target.addr().port();
            plan.target.authority = target.addr().to_string();
            if let Some(l) = &live {
                l.retarget(plan.target.url());
            }
            Some(target)
        }
        None => None,
    };
    let options = run::Options {
        json: args.json.clone(),
        out_dir: args.out.clone(),
        html: args.html.clone(),
        csv_prefix: args.csv.clone(),
        quiet: args.quiet,
        start_at,
        invocation: Invocation {
            // After the binary and the verb: what `merge` parses again to rebuild the plan.
            args: std::env::args().skip(2).collect(),
            plan_file: args.plan.as_ref().map(|p| p.display().to_string()),
            plan_text,
        },
        debug_arrivals: args.debug_arrivals.clone(),
        junit: args.junit.clone(),
        live: live.clone(),
        steerable: args.web.is_some(),
    };
    let stopped_by_page = live.clone();
    let shutdown = async move {
        match stopped_by_page {
            Some(l) => tokio::select! {
                () = interrupted() => {}
                () = l.stopped() => crate::say!("stop asked for on the live page"),
            },
            None => interrupted().await,
        }
    };
    let result = run::execute(plan, &options, shutdown);
    if let Some(l) = &live {
        l.outputs_written();
    }
    let summary = match result {
        Ok(s) => s,
        Err(Failure::Unwritten(summary, why)) => {
            crate::report::terminal::print(&summary);
            let _ = std::io::Write::flush(&mut std::io::stdout());
            return Err(Failure::NotValid(format!(
                "{why}; the figures above are complete, the files are not"
            )));
        }
        Err(e) => return Err(e),
    };
    crate::report::terminal::print(&summary);
    // What follows goes to standard error: the summary must be out first.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    for (what, path) in [
        ("JSON summary", &args.json),
        ("JUnit XML", &args.junit),
        ("results", &args.out),
        ("HTML report", &args.html),
    ] {
        if let Some(p) = path {
            crate::say!("{what} written to {}", p.display());
        }
    }
    if let Some(p) = &args.csv {
        crate::say!("CSV files written to {}_*.csv", p.display());
    }
    // With the page, what the run wrote stays there to download until Ctrl-C, as Locust's web
    // UI stays up; --linger bounds it.
    let linger = match (args.linger, args.web) {
        (Some(d), _) => d,
        (None, Some(_)) => Duration::MAX,
        (None, None) => Duration::ZERO,
    };
    if let Some(server) = servers.first()
        && !linger.is_zero()
    {
        let what = match (args.web, &args.web_base_path) {
            (Some(_), Some(base)) => format!("{base}/"),
            (Some(_), None) => "/".to_string(),
            (None, _) => "/metrics".to_string(),
        };
        let how_long = if linger == Duration::MAX {
            "until Ctrl-C".to_string()
        } else {
            format!(
                "for {} (Ctrl-C to stop)",
                humantime::format_duration(linger)
            )
        };
        crate::say!(
            "serving the final figures at http://{}{what} {how_long}",
            server.addr()
        );
        server.linger(linger);
    }
    drop(servers);
    Ok(summary.exit_code)
}

/// plan_of builds the plan a run's flags describe (without its shard): from the plan file's
/// text when there is one, else from quick-mode flags, with the flags' limits applied.
fn plan_of(args: &RunArgs, plan_text: Option<&str>) -> Result<(Plan, Option<DemoConfig>), Failure> {
    let (mut plan, demo) = match (&args.plan, plan_text) {
        (Some(path), Some(text)) => plan_from_file(path, text, args)?,
        _ => quick_plan(args)?,
    };
    apply_limits(&mut plan, args)?;
    args.watch.apply(&mut plan)?;
    let plan =
        crate::steer::apply_all(plan, &args.steer).map_err(|p| usage(format!("--steer: {p}")))?;
    Ok((plan, demo))
}

/// read_plan reads a plan file's text, so the run file keeps the plan exactly as it was read.
fn read_plan(path: &std::path::Path) -> Result<String, Failure> {
    plan_file::read(path).map_err(|e| usage(e.to_string()))
}

/// rebuild makes the plan a run was started with again from its invocation (`merge`); its
/// shard is the run file's.
pub(super) fn rebuild(invocation: &Invocation) -> Result<Plan, Failure> {
    #[derive(clap::Parser)]
    #[command(no_binary_name = true)]
    struct Again {
        #[command(flatten)]
        run: RunArgs,
    }
    let mut again = <Again as clap::Parser>::try_parse_from(&invocation.args)
        .map_err(|e| usage(format!("its arguments do not parse again: {e}")))?;
    // Which CA the shard trusted changes no figure, and the merge may run where that file is
    // not.
    again.run.ca_file = None;
    let (plan, _) = plan_of(&again.run, invocation.plan_text.as_deref())?;
    Ok(plan)
}

/// ShardFlag is `--shard`: a fixed shard, or `auto/N` for the index from the environment.
#[derive(Debug, Clone, PartialEq)]
enum ShardFlag {
    Fixed(ShardOf),
    Auto(u64),
}

fn parse_shard(text: &str) -> Result<ShardFlag, String> {
    let help = "give I/N with 0 ≤ I < N (0/4 … 3/4), or auto/N to read I from JOB_COMPLETION_INDEX";
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard; {help}"))?;
    let n: u64 = match n.trim().parse() {
        Ok(n) if n >= 1 => n,
        _ => return Err(format!("`{n}` is not a shard count of 1 or more; {help}")),
    };
    if i.trim() == "auto" {
        return Ok(ShardFlag::Auto(n));
    }
    match i.trim().parse::<u64>() {
        Ok(i) if i < n => Ok(ShardFlag::Fixed(ShardOf { index: i, count: n })),
        Ok(i) => Err(format!(
            "shard {i} of {n} does not exist: shards are numbered 0 to {}; {help}",
            n - 1
        )),
        Err(_) => Err(format!("`{i}` is not a shard index; {help}")),
    }
}

impl ShardFlag {
    /// resolve is the shard this process runs; `auto/N` reads the index a Kubernetes Indexed
    /// Job gives each pod.
    fn resolve(&self, job_index: Option<&str>) -> Result<ShardOf, Failure> {
        match *self {
            ShardFlag::Fixed(s) => Ok(s),
            ShardFlag::Auto(count) => {
                let Some(text) = job_index else {
                    return Err(usage(format!(
                        "--shard auto/{count} reads the shard index from JOB_COMPLETION_INDEX, which is not set; run it in a Kubernetes Indexed Job, or set it (JOB_COMPLETION_INDEX=0), or give --shard I/{count}"
                    )));
                };
                match text.trim().parse::<u64>() {
                    Ok(index) if index < count => Ok(ShardOf { index, count }),
                    _ => Err(usage(format!(
                        "JOB_COMPLETION_INDEX is `{text}`, not a shard index below {count} (--shard auto/{count}); the Job's completions must equal N"
                    ))),
                }
            }
        }
    }
}

/// plan_from_file reads a plan; quick-mode flags are refused so nothing is silently ignored.
fn plan_from_file(
    path: &std::path::Path,
    text: &str,
    args: &RunArgs,
) -> Result<(Plan, Option<DemoConfig>), Failure> {
    let quick_only = [
        ("--url", args.url.is_some()),
        ("--rate", args.rate.is_some()),
        ("--duration", args.duration.is_some()),
        ("--method", args.method.is_some()),
        ("-H/--header", !args.headers.is_empty()),
        ("--body", args.body.is_some()),
        ("--arrivals", args.arrivals.is_some()),
    ];
    if let Some((flag, _)) = quick_only.iter().find(|(_, given)| *given) {
        return Err(usage(format!(
            "{flag} is a quick-mode flag; with a plan file, set it in {} (or use --host for the base URL)",
            path.display()
        )));
    }
    let overrides = Overrides {
        host: args.host.clone(),
        time_scale: args.time_scale,
        seed: args.seed,
    };
    let loaded = plan_file::parse(text, path, &overrides).map_err(|e| usage(e.to_string()))?;
    let demo = if loaded.has_target {
        if args.demo.given() {
            return Err(usage(
                "--demo-* flags shape the built-in demo target; this plan has a target (base_url or --host)",
            ));
        }
        None
    } else {
        Some(args.demo.in_run_config(loaded.plan.seed)?)
    };
    Ok((loaded.plan, demo))
}

/// apply_limits lets flags override a plan's connection limits, timeout, body limit, threads and
/// preflight.
fn apply_limits(plan: &mut Plan, args: &RunArgs) -> Result<(), Failure> {
    if let Some(n) = args.connections {
        if n == 0 {
            return Err(usage("--connections must be at least 1"));
        }
        plan.limits.connections = n;
    }
    if let Some(n) = args.max_in_flight {
        if n == 0 {
            return Err(usage("--max-in-flight must be at least 1"));
        }
        plan.limits.max_in_flight = n;
    }
    if let Some(t) = args.timeout {
        if t.is_zero() {
            return Err(usage("--timeout must be longer than zero, e.g. 10s"));
        }
        plan.limits.timeout = t;
    }
    if let Some(n) = args.max_body {
        if n == 0 {
            return Err(usage("--max-body must be more than zero, e.g. 64MiB"));
        }
        plan.limits.max_body = n;
    }
    if let Some(n) = args.threads {
        if n == 0 || n > 1024 {
            return Err(usage("--threads must be between 1 and 1024"));
        }
        plan.threads = n;
    }
    if args.no_preflight {
        plan.preflight = false;
    }
    let t = &mut plan.target.transport;
    if let Some(h) = args.http {
        t.http = h;
    }
    if let Some(n) = args.max_streams {
        if n == 0 {
            return Err(usage("--max-streams must be at least 1"));
        }
        t.max_streams = n;
    }
    if args.no_keep_alive {
        t.keep_alive = false;
    }
    if let Some(ca) = &args.ca_file {
        if !ca.is_file() {
            return Err(usage(format!(
                "--ca-file {} is not a readable file",
                ca.display()
            )));
        }
        t.ca_file = Some(ca.clone());
    }
    if args.insecure {
        t.insecure = true;
    }
    if let Some(p) = args.pacing {
        plan.pacing = p;
    }
    Ok(())
}

/// interrupted completes at the first Ctrl-C or SIGTERM; a second one exits at once.
async fn interrupted() {
    crate::signals::stop().await;
    tokio::task::spawn_local(async {
        crate::signals::stop().await;
        crate::say!("second interrupt: exiting at once, without reports");
        std::process::exit(3);
    });
}

/// QUICK_WARN_ERROR_RATE is the error rate above which a quick run warns (the playbook's 1 %
/// under normal load).
const QUICK_WARN_ERROR_RATE: f64 = 0.01;
/// QUICK_FAIL_ERROR_RATE is the error rate above which a quick run fails (the playbook's 5 %).
const QUICK_FAIL_ERROR_RATE: f64 = 0.05;

/// quick_plan turns quick-mode flags into a one-scenario, one-stage, one-request plan, and the
/// demo target's settings when no URL was given.
fn quick_plan(args: &RunArgs) -> Result<(Plan, Option<DemoConfig>), Failure> {
    for (flag, given) in [
        ("--host", args.host.is_some()),
        ("--time-scale", args.time_scale.is_some()),
    ] {
        if given {
            return Err(usage(format!(
                "{flag} applies to plan files; in quick mode use --url and --duration"
            )));
        }
    }
    let (Some(rate), Some(duration)) = (args.rate, args.duration) else {
        return Err(usage(
            "quick mode needs --rate and --duration (e.g. --rate 100 --duration 30s), or give a plan file: metronome run plans/smoke.toml",
        ));
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(usage(format!(
            "--rate {rate} must be a positive number of arrivals per second"
        )));
    }
    if rate > crate::plan::MAX_RATE {
        return Err(usage(format!(
            "--rate {} is over {}/s, more than any machine sends (one core issues about 100,000/s); give a rate the machine can send",
            crate::plan::rate_text(rate),
            crate::plan::MAX_RATE
        )));
    }
    if duration.is_zero() {
        return Err(usage("--duration must be longer than zero, e.g. 30s"));
    }
    let method_text = args.method.as_deref().unwrap_or("GET");
    if method_text.bytes().any(|b| b.is_ascii_lowercase()) {
        // Methods are case-sensitive: `get` is a different (extension) method that servers
        // answer with an error, as a plan file's `method` is refused for it.
        return Err(usage(format!(
            "--method `{method_text}`: methods are upper case; write --method {}",
            method_text.to_ascii_uppercase()
        )));
    }
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| usage(format!("--method `{method_text}` is not an HTTP method")))?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| {
            usage(format!(
                "-H `{h}` has no colon; write it like -H 'Accept: application/json'"
            ))
        })?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            usage(format!(
                "-H `{h}`: `{}` is not a valid header name",
                name.trim()
            ))
        })?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| usage(format!("-H `{h}`: the value is not a valid header value")))?;
        headers.append(name, value);
    }
    let (target, path, demo) = match args.url.as_deref() {
        Some(url) if !url.starts_with('/') => {
            if args.demo.given() {
                return Err(usage(
                    "--demo-* flags shape the built-in demo target; they do nothing with --url http://…",
                ));
            }
            let (t, p) = Target::parse(url).map_err(|e| Failure::Usage(e.to_string()))?;
            (t, p, None)
        }
        path => {
            // The port is filled in once the demo target is listening.
            let (t, _) =
                Target::parse("http://127.0.0.1:1").map_err(|e| Failure::Usage(e.to_string()))?;
            let config = args.demo.in_run_config(args.seed.unwrap_or(1))?;
            (t, path.unwrap_or("/health").to_string(), Some(config))
        }
    };
    let mut plan = Plan::quick(target, method, &path, rate, duration);
    let scenario = &mut plan.scenarios[0];
    // A quick run has no plan to say what a good run is; the playbook's error-rate gates make
    // one where every request failed not pass.
    scenario.criteria[0].warn_error_rate = Some(QUICK_WARN_ERROR_RATE);
    scenario.criteria[0].max_error_rate = Some(QUICK_FAIL_ERROR_RATE);
    scenario.requests[0].headers = headers;
    scenario.requests[0].body = Template::literal(args.body.as_deref().unwrap_or_default());
    scenario.arrivals = args.arrivals.unwrap_or_default();
    plan.seed = args.seed.unwrap_or(1);
    plan.threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok((plan, demo))
}
