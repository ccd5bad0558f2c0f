//! Command line: flags parsed by clap, validated into a `Plan` (or demo-target settings), then
//! handed to the code that does the work. Parsing code only validates; a bad flag is refused
//! with exit 2 before anything is sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::bench;
use crate::check;
use crate::demo::{DemoConfig, DemoTarget, DemoTls, Stall};
use crate::plan::{HttpVersion, Pacing, Plan, Target};
use crate::plan_file::{self, Overrides};
use crate::report::{self, results};
use crate::run::{self, Failure};
use crate::schedule::ArrivalProcess;
use crate::template::Template;
use crate::units::parse_duration;

/// metronome: an open-model HTTP load generator. Requests leave on a fixed schedule that never
/// waits for responses; latency counts from each request's intended start.
#[derive(Debug, Parser)]
#[command(name = "metronome", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send requests at a fixed rate and report latency corrected for coordinated omission.
    Run(Box<RunArgs>),
    /// Validate test plans and print their schedules, mixes and criteria.
    Check(CheckArgs),
    /// Render the HTML and CSV reports again from a run's saved results (--out DIR), without
    /// running anything.
    Report(ReportArgs),
    /// Serve the built-in demo target (the plant backend API) on loopback.
    Serve(ServeArgs),
    /// Measure the engine itself: the machine's timer floor, then rising rates until the
    /// schedule no longer holds, with dispatch lag, CPU per request and memory.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A run's output directory (from --out), or its latency.hlog (summary.json beside it).
    results: PathBuf,
    /// Write the HTML report here [default: report.html in the results directory, when no
    /// --csv is given].
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Write Locust-style CSV files with this prefix.
    #[arg(long, value_name = "PREFIX")]
    csv: Option<PathBuf>,
    /// Another run's output directory: every figure stands beside the baseline's, with the change.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Target URL; without it a minimal target runs in-process on its own thread.
    #[arg(long)]
    url: Option<String>,
    /// Length of each step.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Worker thread counts to climb with, comma-separated: `1,2` shows the throughput curve
    /// over threads.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Rates to step through, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,10000,20000,50000,100000,150000,200000"
    )]
    rates: Vec<f64>,
    /// Pacing of the workers.
    #[arg(long, value_enum, default_value_t = PacingArg::Default)]
    pacing: PacingArg,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// After the first rate that breaks, this many steps of bisection between it and the last
    /// rate held, to narrow down the highest rate held; 0 turns it off.
    #[arg(long, default_value_t = 3, value_name = "STEPS")]
    refine: usize,
    /// Write the bench results as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Plan files to check.
    #[arg(required = true)]
    plans: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PacingArg {
    /// Sleep on a high-resolution timer, armed early by the wake-up latency seen so far.
    Default,
    /// Wake 200 µs early and yield until the intended time: a busy core for ~1 µs lag.
    Precise,
    /// tokio's millisecond timer: arrivals released in batches, up to ~1 ms late.
    Coarse,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Arrivals {
    /// Evenly spaced arrivals.
    Uniform,
    /// Poisson arrivals (exponential gaps drawn from --seed).
    Poisson,
}

#[derive(Debug, Args)]
struct RunArgs {
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
    arrivals: Option<Arrivals>,
    /// Most connections open at once; an arrival that finds none free waits (queue wait)
    /// [default: 100, or the plan's].
    #[arg(long)]
    connections: Option<usize>,
    /// Most arrivals in flight at once; arrivals beyond it are dropped (and reported)
    /// [default: 10000, or the plan's].
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Request timeout, from when the request is sent; also bounds connecting and the drain
    /// [default: 30s, or the plan's].
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Worker threads; arrivals are sharded across them by index [default: every core, or the
    /// plan's].
    #[arg(long)]
    threads: Option<usize>,
    /// How workers wait for intended times: `default` sleeps on a high-resolution timer;
    /// `precise` wakes 200 µs early and yields until the intended time (a few µs of dispatch
    /// lag, for a busy core) [default: default, or the plan's].
    #[arg(long, value_enum)]
    pacing: Option<PacingArg>,
    /// Seed for Poisson gaps, the request mix and template values [default: 1, or the plan's].
    #[arg(long)]
    seed: Option<u64>,
    /// Skip the request sent before the schedule starts to check that the target answers.
    #[arg(long)]
    no_preflight: bool,
    /// HTTP version: 1.1, 2 (over TLS by ALPN, over cleartext with prior knowledge), or auto
    /// (HTTP/2 when TLS's ALPN agrees, else 1.1) [default: auto, or the plan's].
    #[arg(long, value_parser = ["1.1", "2", "auto"])]
    http: Option<String>,
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
    #[command(flatten)]
    demo: DemoArgs,
}

/// Settings of the demo target, for `serve` and for runs that start it in-process.
#[derive(Debug, Args, Clone)]
struct DemoArgs {
    /// Demo target: base latency of every response.
    #[arg(long = "demo-latency", value_parser = parse_duration, default_value = "0s")]
    latency: Duration,
    /// Demo target: extra uniform random delay in [0, JITTER].
    #[arg(long = "demo-jitter", value_parser = parse_duration, default_value = "0s")]
    jitter: Duration,
    /// Demo target: fraction of requests answered 500, 0 to 1.
    #[arg(long = "demo-error-rate", default_value_t = 0.0)]
    error_rate: f64,
    /// Demo target: periodic stall PAUSE/PERIOD, e.g. 200ms/2s (nothing answered for 200 ms
    /// every 2 s).
    #[arg(long = "demo-stall", value_name = "PAUSE/PERIOD")]
    stall: Option<Stall>,
    /// Demo target: at most this many requests processed at once.
    #[arg(long = "demo-concurrency")]
    concurrency: Option<usize>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: SocketAddr,
    /// Base latency of every response.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    latency: Duration,
    /// Extra uniform random delay in [0, JITTER].
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    jitter: Duration,
    /// Fraction of requests answered 500, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Periodic stall PAUSE/PERIOD, e.g. 200ms/2s.
    #[arg(long, value_name = "PAUSE/PERIOD")]
    stall: Option<Stall>,
    /// At most this many requests processed at once (others wait their turn).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Seed for jitter and injected errors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with a self-signed certificate made at start.
    #[arg(long)]
    tls: bool,
    /// With --tls: where to write the certificate (PEM) for clients to trust.
    #[arg(long, value_name = "PATH", default_value = "metronome-demo-cert.pem")]
    cert_out: PathBuf,
}

/// main parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Check(args) => Ok(check_command(args)),
        Command::Report(args) => report_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Serve(args) => serve_command(args),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {f}");
            f.exit_code()
        }
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn run_command(args: RunArgs) -> Result<i32, Failure> {
    let (mut plan, demo) = match &args.plan {
        Some(path) => plan_from_file(path, &args)?,
        None => quick_plan(&args)?,
    };
    apply_limits(&mut plan, &args)?;
    if let Some(p) = &args.json {
        // Refused before the demo target starts, not only before the first request.
        report::check_writable(p).map_err(Failure::Usage)?;
    }
    // The demo target lives as long as the run; dropping it stops it.
    let _demo = match demo {
        Some(config) => {
            let target = DemoTarget::start(config)
                .map_err(|e| Failure::NotValid(format!("could not start the demo target: {e}")))?;
            eprintln!("demo target listening on {}", target.base_url());
            plan.target.port = target.addr().port();
            plan.target.authority = target.addr().to_string();
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
    };
    let summary = run::execute(plan, &options, interrupted())?;
    print!("{}", report::terminal::render(&summary));
    // What follows goes to standard error: the summary must be out first.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    for (what, path) in [
        ("JSON summary", &args.json),
        ("results", &args.out),
        ("HTML report", &args.html),
    ] {
        if let Some(p) = path {
            eprintln!("{what} written to {}", p.display());
        }
    }
    if let Some(p) = &args.csv {
        eprintln!("CSV files written to {}_*.csv", p.display());
    }
    Ok(summary.exit_code)
}

fn report_command(args: ReportArgs) -> Result<i32, Failure> {
    let dir = if args.results.is_dir() {
        args.results.clone()
    } else {
        match args.results.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let hlog_path = if args.results.is_dir() {
        dir.join(results::HLOG)
    } else {
        args.results.clone()
    };
    let hlog = std::fs::read(&hlog_path).map_err(|e| {
        usage(format!(
            "cannot read {}: {e}; give a directory written by run --out, or its latency.hlog",
            hlog_path.display()
        ))
    })?;
    let summary_path = dir.join(results::SUMMARY_JSON);
    let summary = std::fs::read(&summary_path)
        .map_err(|e| {
            usage(format!(
                "cannot read {}: {e}; the summary must sit beside the interval log",
                summary_path.display()
            ))
        })
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| {
                usage(format!(
                    "{} is not a metronome summary: {e}",
                    summary_path.display()
                ))
            })
        })?;
    let data = results::build(summary, &hlog).map_err(usage)?;
    let baseline = match &args.baseline {
        Some(b) => Some(results::load(b).map_err(usage)?),
        None => None,
    };
    let html = match (&args.html, &args.csv) {
        (None, None) => Some(dir.join(results::REPORT_HTML)),
        (h, _) => h.clone(),
    };
    for p in [
        &html,
        &args
            .csv
            .as_ref()
            .map(|c| report::csv_path(c, results::STATS_CSV)),
    ]
    .into_iter()
    .flatten()
    {
        report::check_writable(p).map_err(usage)?;
    }
    let targets = report::Targets {
        out_dir: None,
        html: html.clone(),
        csv_prefix: args.csv.clone(),
        history_from: Some(dir.join(results::HISTORY_CSV)),
    };
    report::write_reports(&data, baseline.as_ref(), &hlog, &targets)
        .map_err(|e| Failure::NotValid(format!("could not write the reports: {e}")))?;
    if let Some(h) = &html {
        eprintln!("HTML report written to {}", h.display());
    }
    if let Some(c) = &args.csv {
        eprintln!("CSV files written to {}_*.csv", c.display());
    }
    Ok(0)
}

fn bench_command(args: BenchArgs) -> Result<i32, Failure> {
    if args.threads.is_empty() || args.threads.iter().any(|&t| t == 0 || t > 1024) {
        return Err(usage(
            "--threads must be counts between 1 and 1024, e.g. --threads 1,2",
        ));
    }
    if args.rates.is_empty() || args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(usage(
            "--rates must be positive numbers, e.g. --rates 1000,10000",
        ));
    }
    if args.duration.is_zero() {
        return Err(usage("--duration must be longer than zero, e.g. 5s"));
    }
    if let Some(p) = &args.json {
        report::check_writable(p).map_err(Failure::Usage)?;
    }
    let settings = bench::Settings {
        url: args.url.clone(),
        duration: args.duration,
        threads: args.threads.clone(),
        rates: args.rates.clone(),
        pacing: match args.pacing {
            PacingArg::Default => Pacing::Default,
            PacingArg::Precise => Pacing::Precise,
            PacingArg::Coarse => Pacing::Coarse,
        },
        connections: args.connections.max(1),
        refine: args.refine,
    };
    let report = bench::run(&settings)?;
    if let Some(p) = &args.json {
        let text =
            serde_json::to_vec_pretty(&report).map_err(|e| Failure::NotValid(e.to_string()))?;
        report::write_atomically(p, &text)
            .map_err(|e| Failure::NotValid(format!("could not write {}: {e}", p.display())))?;
        eprintln!("bench results written to {}", p.display());
    }
    Ok(0)
}

fn check_command(args: CheckArgs) -> i32 {
    let mut code = 0;
    for path in &args.plans {
        match plan_file::load(path, &Overrides::default()) {
            Ok(loaded) => {
                println!("{}: ok", path.display());
                println!("{}", check::describe(&loaded.plan, loaded.has_target));
            }
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    code
}

/// plan_from_file loads a plan; quick-mode flags are refused so nothing is silently ignored.
fn plan_from_file(
    path: &std::path::Path,
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
    let loaded = plan_file::load(path, &overrides).map_err(|e| usage(e.to_string()))?;
    let demo = if loaded.has_target {
        if args.demo.given() {
            return Err(usage(
                "--demo-* flags shape the built-in demo target; this plan has a target (base_url or --host)",
            ));
        }
        None
    } else {
        Some(args.demo.config(loaded.plan.seed)?)
    };
    Ok((loaded.plan, demo))
}

/// apply_limits lets flags override a plan's connection limits, timeout, threads and preflight.
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
    if let Some(h) = &args.http {
        t.http = match h.as_str() {
            "2" => HttpVersion::Http2,
            "auto" => HttpVersion::Auto,
            _ => HttpVersion::Http1,
        };
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
        plan.pacing = match p {
            PacingArg::Default => Pacing::Default,
            PacingArg::Precise => Pacing::Precise,
            PacingArg::Coarse => Pacing::Coarse,
        };
    }
    Ok(())
}

/// interrupted completes at the first Ctrl-C or SIGTERM; a second one exits at once.
async fn interrupted() {
    signal().await;
    tokio::task::spawn_local(async {
        signal().await;
        eprintln!("second interrupt: exiting at once, without reports");
        std::process::exit(3);
    });
}

async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// quick_plan turns quick-mode flags into a one-scenario, one-stage, one-request plan, and the
/// demo target's settings when no URL was given.
/// QUICK_WARN_ERROR_RATE is the error rate above which a quick run warns (the playbook's 1 %
/// under normal load).
const QUICK_WARN_ERROR_RATE: f64 = 0.01;
/// QUICK_FAIL_ERROR_RATE is the error rate above which a quick run fails (the playbook's 5 %).
const QUICK_FAIL_ERROR_RATE: f64 = 0.05;

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
            let (t, p) = Target::parse(url).map_err(Failure::Usage)?;
            (t, p, None)
        }
        path => {
            // The port is filled in once the demo target is listening.
            let (t, _) = Target::parse("http://127.0.0.1:1").map_err(Failure::Usage)?;
            let config = args.demo.config(args.seed.unwrap_or(1))?;
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
    scenario.arrivals = match args.arrivals.unwrap_or(Arrivals::Uniform) {
        Arrivals::Uniform => ArrivalProcess::Uniform,
        Arrivals::Poisson => ArrivalProcess::Poisson,
    };
    plan.seed = args.seed.unwrap_or(1);
    plan.threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok((plan, demo))
}

impl DemoArgs {
    /// given says whether any demo flag differs from its default.
    fn given(&self) -> bool {
        self.stall.is_some()
            || self.concurrency.is_some()
            || self.error_rate != 0.0
            || !self.jitter.is_zero()
            || !self.latency.is_zero()
    }

    /// config validates the flags into the demo target's settings.
    fn config(&self, seed: u64) -> Result<DemoConfig, Failure> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(usage(format!(
                "--demo-error-rate {} must be between 0 and 1",
                self.error_rate
            )));
        }
        if self.concurrency == Some(0) {
            return Err(usage("--demo-concurrency must be at least 1"));
        }
        Ok(DemoConfig {
            latency: self.latency,
            jitter: self.jitter,
            error_rate: self.error_rate,
            stall: self.stall,
            concurrency: self.concurrency,
            seed,
            tls: None,
        })
    }
}

fn serve_command(args: ServeArgs) -> Result<i32, Failure> {
    let tls = if args.tls {
        let tls = DemoTls::generate().map_err(|e| Failure::NotValid(e.to_string()))?;
        tls.write_cert(&args.cert_out).map_err(|e| {
            usage(format!(
                "cannot write the certificate to {}: {e}; choose another --cert-out",
                args.cert_out.display()
            ))
        })?;
        eprintln!(
            "TLS: self-signed certificate for localhost and 127.0.0.1 written to {} (trust it with --ca-file, or ca_file in a plan)",
            args.cert_out.display()
        );
        Some(tls)
    } else {
        None
    };
    let config = DemoConfig {
        latency: args.latency,
        jitter: args.jitter,
        error_rate: args.error_rate,
        stall: args.stall,
        concurrency: args.concurrency,
        seed: args.seed,
        tls,
    };
    let target = DemoTarget::start_on(args.addr, config)
        .map_err(|e| Failure::Usage(format!("cannot serve on {}: {e}", args.addr)))?;
    eprintln!(
        "demo target (plant backend API) listening on {}; Ctrl-C stops it",
        target.base_url()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::NotValid(format!("could not start the runtime: {e}")))?;
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    drop(target);
    Ok(0)
}
