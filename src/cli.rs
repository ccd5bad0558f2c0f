//! Command line: flags parsed by clap, validated into a `Plan` (or demo-target settings), then
//! handed to the code that does the work. Parsing code only validates; a bad flag is refused
//! with exit 2 before anything is sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::demo::{DemoConfig, DemoTarget, Stall};
use crate::plan::{Limits, Plan, Target};
use crate::report;
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
    Run(RunArgs),
    /// Serve the built-in demo target (the plant backend API) on loopback.
    Serve(ServeArgs),
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
    /// Target URL, e.g. http://127.0.0.1:8001/health. Without it (or with a bare path such as
    /// /api/v1/agents) the built-in demo target is started in-process on a free loopback port.
    #[arg(long)]
    url: Option<String>,
    /// Arrivals per second.
    #[arg(long)]
    rate: f64,
    /// How long the schedule runs: 500ms, 30s, 5m, 24h.
    #[arg(long, value_parser = parse_duration)]
    duration: Duration,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Request body.
    #[arg(long)]
    body: Option<String>,
    /// Most connections open at once; an arrival that finds none free waits (queue wait).
    #[arg(long, default_value_t = Limits::default().connections)]
    connections: usize,
    /// Most arrivals in flight at once; arrivals beyond it are dropped (and reported).
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Request timeout, from when the request is sent; also bounds connecting and the drain.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Worker threads; arrivals are sharded across them by index.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Arrival process.
    #[arg(long, value_enum, default_value_t = Arrivals::Uniform)]
    arrivals: Arrivals,
    /// Seed for Poisson gaps (and, in plans, the request mix and template values).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the request sent before the schedule starts to check that the target answers.
    #[arg(long)]
    no_preflight: bool,
    /// Write the JSON summary (schema metronome.summary.v1) to this path.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
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
        Command::Run(args) => run_command(args),
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
    let (plan, demo) = quick_plan(&args)?;
    // The demo target lives as long as the run; dropping it stops it.
    let _demo = match demo {
        Some(config) => {
            let target = DemoTarget::start(config)
                .map_err(|e| Failure::NotValid(format!("could not start the demo target: {e}")))?;
            eprintln!("demo target listening on {}", target.base_url());
            Some(target)
        }
        None => None,
    };
    let mut plan = plan;
    if let Some(t) = &_demo {
        plan.target.port = t.addr().port();
        plan.target.authority = t.addr().to_string();
    }
    let options = run::Options {
        json: args.json.clone(),
        quiet: args.quiet,
    };
    let summary = run::execute(plan, &options, interrupted())?;
    print!("{}", report::terminal::render(&summary));
    if let Some(p) = &args.json {
        eprintln!("JSON summary written to {}", p.display());
    }
    Ok(summary.exit_code)
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
fn quick_plan(args: &RunArgs) -> Result<(Plan, Option<DemoConfig>), Failure> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(usage(format!(
            "--rate {} must be a positive number of arrivals per second",
            args.rate
        )));
    }
    if args.duration.is_zero() {
        return Err(usage("--duration must be longer than zero, e.g. 30s"));
    }
    if args.connections == 0 {
        return Err(usage("--connections must be at least 1"));
    }
    if args.max_in_flight == 0 {
        return Err(usage("--max-in-flight must be at least 1"));
    }
    if args.timeout.is_zero() {
        return Err(usage("--timeout must be longer than zero, e.g. 10s"));
    }
    if args.threads == 0 || args.threads > 1024 {
        return Err(usage("--threads must be between 1 and 1024"));
    }
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| usage(format!("--method `{}` is not an HTTP method", args.method)))?;
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
    let demo_given = args.demo.stall.is_some()
        || args.demo.concurrency.is_some()
        || args.demo.error_rate != 0.0
        || !args.demo.jitter.is_zero();
    let (target, path, demo) = match args.url.as_deref() {
        Some(url) if !url.starts_with('/') => {
            if demo_given {
                return Err(usage(
                    "--demo-* flags shape the built-in demo target; they do nothing with --url http://…",
                ));
            }
            let (t, p) = Target::parse(url).map_err(Failure::Usage)?;
            (t, p, None)
        }
        path => {
            let d = &args.demo;
            if !(0.0..=1.0).contains(&d.error_rate) {
                return Err(usage(format!(
                    "--demo-error-rate {} must be between 0 and 1",
                    d.error_rate
                )));
            }
            if d.concurrency == Some(0) {
                return Err(usage("--demo-concurrency must be at least 1"));
            }
            let config = DemoConfig {
                latency: d.latency,
                jitter: d.jitter,
                error_rate: d.error_rate,
                stall: d.stall,
                concurrency: d.concurrency,
                seed: args.seed,
            };
            // The port is filled in once the demo target is listening.
            let (t, _) = Target::parse("http://127.0.0.1:1").map_err(Failure::Usage)?;
            (t, path.unwrap_or("/health").to_string(), Some(config))
        }
    };
    let mut plan = Plan::quick(target, method, &path, args.rate, args.duration);
    let scenario = &mut plan.scenarios[0];
    scenario.requests[0].headers = headers;
    scenario.requests[0].body = Template::literal(args.body.as_deref().unwrap_or_default());
    scenario.arrivals = match args.arrivals {
        Arrivals::Uniform => ArrivalProcess::Uniform,
        Arrivals::Poisson => ArrivalProcess::Poisson,
    };
    plan.limits = Limits {
        connections: args.connections,
        max_in_flight: args.max_in_flight,
        timeout: args.timeout,
        ..Limits::default()
    };
    plan.seed = args.seed;
    plan.threads = args.threads;
    plan.preflight = !args.no_preflight;
    Ok((plan, demo))
}

fn serve_command(args: ServeArgs) -> Result<i32, Failure> {
    let config = DemoConfig {
        latency: args.latency,
        jitter: args.jitter,
        error_rate: args.error_rate,
        stall: args.stall,
        concurrency: args.concurrency,
        seed: args.seed,
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
