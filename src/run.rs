//! Run: one plan from preflight to summary.
//!
//! `execute` checks that the outputs can be written, resolves and preflights the target, starts
//! the engine, feeds the recorder, prints progress, stops the schedule when `shutdown` fires,
//! and writes the outputs (marked partial when interrupted). It returns the summary; printing
//! it and choosing the exit code is the caller's business.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

mod checkpoint;

use crate::clock;
use crate::engine;
use crate::plan::Plan;
use crate::record::ErrorKind;
use crate::recorder::Recorder;
use crate::report::{self, progress::Progress, results};
use crate::shard::{Invocation, RUN_FILE, RunFile};
use crate::summary::{self, RunFacts, Summary};

/// Options are the run's outputs and how it talks to the terminal.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where to write the JSON summary.
    pub json: Option<PathBuf>,
    /// A directory for every format (created if missing).
    pub out_dir: Option<PathBuf>,
    /// Where to write the HTML report.
    pub html: Option<PathBuf>,
    /// Prefix of the Locust-style CSV files (`PREFIX_stats.csv`, …).
    pub csv_prefix: Option<PathBuf>,
    /// No progress line.
    pub quiet: bool,
    /// The wall-clock instant the schedule starts at (`--start-at`); soon after the preflight
    /// when not given.
    pub start_at: Option<SystemTime>,
    /// How the run was started, kept in the run file (`recording.json`) for `metronome merge`.
    pub invocation: Invocation,
    /// Write one line per arrival the engine got to here (a test's view of the schedule).
    pub debug_arrivals: Option<PathBuf>,
    /// Where to write the criteria as JUnit XML.
    pub junit: Option<PathBuf>,
    /// Where to publish the run's figures every second (`--metrics`): read by its server.
    pub live: Option<Arc<crate::live::Live>>,
    /// Whether the live page may steer the run (`--web`): its rate changes are taken.
    pub steerable: bool,
}

impl Options {
    /// rendered says whether any output needs the streamed interval files.
    fn rendered(&self) -> bool {
        self.out_dir.is_some() || self.html.is_some() || self.csv_prefix.is_some()
    }

    /// check refuses, before anything runs, outputs that could not be written at the end.
    fn check(&self) -> Result<(), Failure> {
        if let Some(dir) = &self.out_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::Usage(format!(
                    "cannot create --out directory {}: {e}",
                    dir.display()
                ))
            })?;
            report::check_writable(&dir.join(results::SUMMARY_JSON)).map_err(Failure::Usage)?;
        }
        for path in [&self.json, &self.html, &self.junit].into_iter().flatten() {
            report::check_writable(path).map_err(Failure::Usage)?;
        }
        if let Some(prefix) = &self.csv_prefix {
            report::check_writable(&report::csv_path(prefix, results::STATS_CSV))
                .map_err(Failure::Usage)?;
        }
        Ok(())
    }
}

/// Failure is why a run could not produce a summary.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad usage or an invalid plan; nothing was sent (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The run could not be valid: the target never answered, or the engine could not start
    /// (exit 3).
    #[error("{0}")]
    NotValid(String),
    /// The run ended but its output files could not all be written (a full disk): its summary
    /// is here, to be printed (exit 3).
    #[error("{1}")]
    Unwritten(Box<Summary>, String),
}

impl Failure {
    /// exit_code is the process exit code this failure maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::NotValid(_) | Failure::Unwritten(..) => 3,
        }
    }
}

/// HANDOVER_GRACE is how long after a whole second the recorder waits for the workers'
/// handovers of that second before closing it.
const HANDOVER_GRACE: Duration = Duration::from_millis(200);

/// PREFLIGHT_TIMEOUT bounds the preflight request, so a dead target is reported within seconds.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// execute runs a plan. `shutdown` stops the schedule when it completes (Ctrl-C in the binary).
pub fn execute(
    plan: Plan,
    options: &Options,
    shutdown: impl Future<Output = ()> + 'static,
) -> Result<Summary, Failure> {
    options.check()?;
    engine::prepare(&plan).map_err(Failure::Usage)?;
    // Streamed per-second files go to the output directory, or a scratch one when only
    // --html or --csv asked for reports built from them.
    let scratch;
    let work_dir = match (&options.out_dir, options.rendered()) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => {
            scratch = tempfile::tempdir()
                .map_err(|e| Failure::Usage(format!("cannot create a scratch directory: {e}")))?;
            Some(scratch.path().to_path_buf())
        }
        (None, false) => None,
    };
    raise_open_file_limit(&plan);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::NotValid(format!("could not start the runtime: {e}")))?;
    let local = tokio::task::LocalSet::new();
    let plan = Arc::new(plan);
    let (summary, run_file) =
        local.block_on(&rt, drive(plan, options, shutdown, work_dir.clone()))?;
    match write_outputs(&summary, run_file.as_ref(), options, work_dir.as_deref()) {
        Ok(()) => Ok(summary),
        // The figures are not lost with the files: the caller still prints them.
        Err(why) => Err(Failure::Unwritten(Box::new(summary), why)),
    }
}

/// write_outputs writes every file the options ask for, from the summary and the streamed
/// per-second files.
fn write_outputs(
    summary: &Summary,
    run_file: Option<&RunFile>,
    options: &Options,
    work_dir: Option<&std::path::Path>,
) -> Result<(), String> {
    let written = |path: &std::path::Path, r: std::io::Result<()>| {
        r.map_err(|e| format!("could not write {}: {e}", path.display()))
    };
    if let Some(dir) = &options.out_dir {
        let path = dir.join(results::SUMMARY_JSON);
        written(&path, report::json::write(summary, &path))?;
        if let Some(file) = run_file {
            written(&dir.join(RUN_FILE), file.write(dir))?;
        }
    }
    if let Some(path) = &options.json {
        written(path, report::json::write(summary, path))?;
    }
    if let Some(path) = &options.junit {
        written(path, report::junit::write(summary, path))?;
    }
    if let Some(work) = work_dir {
        let hlog = std::fs::read(work.join(results::HLOG))
            .map_err(|e| format!("could not read back the interval log: {e}"))?;
        let data = results::build(summary.clone(), &hlog)?;
        let targets = report::Targets {
            out_dir: options.out_dir.clone(),
            html: options.html.clone(),
            csv_prefix: options.csv_prefix.clone(),
            history_from: Some(work.join(results::HISTORY_CSV)),
        };
        report::write_reports(&data, None, &hlog, &targets)
            .map_err(|e| format!("could not write the reports: {e}"))?;
    }
    Ok(())
}

async fn drive(
    plan: Arc<Plan>,
    options: &Options,
    shutdown: impl Future<Output = ()> + 'static,
    work_dir: Option<PathBuf>,
) -> Result<(Summary, Option<RunFile>), Failure> {
    // Listening for Ctrl-C starts now, so it also ends the resolving and the preflight (which
    // may wait seconds for a dead target): nothing has been sent then, so there is no report.
    let mut shutdown = tokio::task::spawn_local(shutdown);
    let before_start =
        || Failure::NotValid("interrupted before the schedule started: nothing was sent".into());
    // The target is watched from the start of the preflight to the end of the drain.
    let watching = crate::watch::Running::start(plan.watch.as_ref(), PREFLIGHT_TIMEOUT)
        .await
        .map_err(|e| Failure::Usage(format!("{e}. Nothing was sent.")))?;
    let addr = tokio::select! {
        addr = resolve(&plan) => addr?,
        _ = &mut shutdown => return Err(before_start()),
    };
    if plan.preflight {
        tokio::select! {
            answered = preflight(&plan, addr) => answered?,
            _ = &mut shutdown => return Err(before_start()),
        }
    }
    if let Some(at) = options.start_at {
        tokio::select! {
            () = wait_for_start(at, options.quiet) => {}
            _ = &mut shutdown => return Err(before_start()),
        }
    }
    let (stop_tx, stop_rx) = watch::channel(None);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut asks = (options.live.as_ref())
        .filter(|_| options.steerable)
        .and_then(|l| l.take_asks());
    let (steer_tx, steer_rx) = watch::channel(plan.clone());
    let begin = engine::Begin {
        at: options.start_at,
        listing: options.debug_arrivals.as_ref().map(|_| Default::default()),
        steering: asks.is_some().then_some(steer_rx),
    };
    let spare_stages = begin.spare_stages();
    let listing = begin.listing.clone();
    let engine =
        engine::start(plan.clone(), addr, stop_rx, tx, begin).map_err(Failure::NotValid)?;
    let started_late = (options.start_at)
        .map(|at| Duration::from_secs_f64(clock::between(at, SystemTime::now()).max(0.0)))
        .unwrap_or_default();
    if let Some(at) = options.start_at {
        let late = started_late.as_secs_f64();
        if late > 0.1 {
            crate::say!(
                "warning: started {late:.1} s after --start-at {}: the arrivals due by now are issued at once, and their lateness shows as dispatch lag",
                clock::format(at)
            );
        }
    }
    if let Some(kind) = engine.preopen_error {
        crate::say!(
            "warning: opened {} of {} connections before the start ({}); the rest open as arrivals need them",
            engine.connections_opened,
            engine.connections_wanted,
            kind.name()
        );
    }
    let start = engine.start;
    // What this thread spends from here on is the recorder's share of the run: merging the
    // handovers, closing each second, the progress line, the streamed files, the live view.
    let bookkeeping_from = engine::thread_cpu_time();
    if let Some(w) = &watching {
        w.started(start);
    }
    let mut recorder = Recorder::new(
        Arc::new(engine::layout(&plan, spare_stages)),
        plan.worker_threads(),
    )
    .with_windows(crate::criteria::windows::Windows::of(&plan))
    .keep_seconds(options.live.is_some());
    if let Some(dir) = &work_dir {
        let sink = results::ResultsWriter::create(dir, &plan, engine.started_at).map_err(|e| {
            Failure::NotValid(format!("cannot write results to {}: {e}", dir.display()))
        })?;
        let sink = sink.watching(watching.as_ref().map(|w| w.log.clone()));
        recorder = recorder.with_sink(Box::new(sink));
    }
    let mut schedules = plan.schedules();
    let mut progress = Progress::new(&plan, options.quiet);
    progress.watching(watching.as_ref().map(|w| w.log.clone()));
    // Workers hand over on every whole second of the run; the recorder closes second k a
    // moment later, once their handovers for it are in, and labels it [k − 1, k).
    let mut tick = tokio::time::interval_at(
        (start + Duration::from_secs(1) + HANDOVER_GRACE).into(),
        Duration::from_secs(1),
    );
    let mut second = 0u64;
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupted_at = None;
    let mut steered_live: Vec<crate::steer::RateChange> = Vec::new();
    let mut aborted: Option<String> = None;
    let mut sink_failed = None;
    let mut checkpoint_failed = None;
    let clock_source = clock::source();
    let preflight_answered = plan.preflight;
    let mut plan = plan;
    // What the run knows beyond the recorder, at a checkpoint and at the end.
    let facts_at = |elapsed, interrupted_at, aborted: &Option<String>| RunFacts {
        started_at: engine.started_at,
        elapsed,
        interrupted_at,
        connections_opened: engine.connections_opened,
        preflight_answered,
        start_requested: options.start_at,
        started_late,
        clock: clock_source.clone(),
        aborted: aborted.clone(),
    };
    loop {
        tokio::select! {
            h = rx.recv() => match h {
                Some(h) => {
                    recorder.absorb(h);
                    if recorder.all_done() { break; }
                }
                None => break,
            },
            _ = tick.tick() => {
                second += 1;
                let failed_before = recorder.sink_error.is_some();
                recorder.close_interval(Duration::from_secs(second));
                progress.tick(start.elapsed(), &recorder);
                if let Some(live) = &options.live {
                    live.publish(&plan, &schedules, &recorder, start.elapsed(), false);
                }
                if let (None, None, Some(a)) = (
                    interrupted_at,
                    &aborted,
                    recorder.windows.as_ref().and_then(|w| w.abort.as_ref()),
                ) {
                    // The plan's own rule stops the schedule, as Ctrl-C does: reports written.
                    let at = Instant::now();
                    interrupted_at = Some(at.saturating_duration_since(start));
                    let _ = stop_tx.send(Some(at));
                    progress.note(&format!(
                        "aborting: {} (abort = true); no new arrivals, waiting for requests in flight",
                        a.reason
                    ));
                    aborted = Some(a.reason.clone());
                }
                if let (false, Some(e)) = (failed_before, &recorder.sink_error) {
                    progress.note(&format!(
                        "warning: {second} s into the run, writing the per-second results failed ({e}): the run goes on, and its summary keeps every figure"
                    ));
                    sink_failed = Some((second, e.to_string()));
                }
                if let Some(dir) = &options.out_dir
                    && second.is_multiple_of(checkpoint::EVERY.as_secs())
                {
                    let facts = facts_at(start.elapsed(), interrupted_at, &aborted);
                    // A checkpoint that cannot be written is not worth stopping for: the run's
                    // figures are in memory, and the summary at the end says what failed.
                    if let Err(e) = checkpoint::write(&plan, &recorder, &facts, dir) {
                        checkpoint_failed.get_or_insert((second, e.to_string()));
                    }
                }
            },
            Some(ask) = next_ask(&mut asks) => {
                let stopping = interrupted_at.is_some() || aborted.is_some();
                let made = crate::steer::live(&plan, &ask.scenario, ask.rate, start.elapsed(), stopping);
                let answer = made.map(|(steered, change)| {
                    plan = Arc::new(steered);
                    // To the workers first: they must have it before it is due, `steer::LEAD`
                    // from now; they take it before their next arrival.
                    let _ = steer_tx.send(plan.clone());
                    schedules = plan.schedules();
                    progress.steered(&plan);
                    recorder.steered(&plan);
                    if let Some(live) = &options.live {
                        live.steered(&plan);
                    }
                    progress.note(&format!("steered from the live page {}", change.said()));
                    steered_live.push(change.clone());
                    change
                });
                let _ = ask.reply.send(answer);
            },
            _ = &mut shutdown, if interrupted_at.is_none() => {
                let at = Instant::now();
                interrupted_at = Some(at.saturating_duration_since(start));
                let _ = stop_tx.send(Some(at));
                progress.note("stopping: no new arrivals; waiting for requests in flight (Ctrl-C again to exit at once)");
            }
        }
    }
    let elapsed = start.elapsed();
    // The last second's arrivals span up to the schedule's end even when the drain ended
    // sooner than that (the last arrival is due just before the end).
    let schedule_end = plan.schedule_duration();
    let watched = match watching {
        Some(w) => Some(w.finish(PREFLIGHT_TIMEOUT).await),
        None => None,
    };
    recorder.finish(if interrupted_at.is_some() {
        elapsed
    } else {
        elapsed.max(schedule_end)
    });
    progress.finish();
    if let Some(live) = &options.live {
        live.publish(&plan, &schedules, &recorder, elapsed, true);
    }
    recorder.recorder_cpu = engine::thread_cpu_time().saturating_sub(bookkeeping_from);
    let mut incomplete: Vec<String> = Vec::new();
    if let Some((s, e)) = &sink_failed {
        incomplete.push(format!("writing the per-second results (interval log, history) failed {s} s into the run ({e}): they stop there"));
    } else if let Some(e) = &recorder.sink_error {
        incomplete.push(format!("writing the last per-second results failed ({e})"));
    }
    if let Some((s, e)) = &checkpoint_failed {
        incomplete.push(format!(
            "writing a checkpoint summary failed {s} s into the run ({e})"
        ));
    }
    let facts = facts_at(elapsed, interrupted_at, &aborted);
    engine.join();
    if let (Some(lines), Some(path)) = (listing, &options.debug_arrivals) {
        let mut lines = std::mem::take(&mut *lines.lock().expect("the workers have ended"));
        lines.sort();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text)
            .map_err(|e| Failure::NotValid(format!("could not write {}: {e}", path.display())))?;
    }
    let mut summary = match &plan.watch {
        Some(_) => {
            let log = watched
                .as_ref()
                .map(|l| l.lock().expect("the sampler has ended"));
            summary::build_watched(&plan, &recorder, &facts, log.as_deref())
        }
        None => summary::build(&plan, &recorder, &facts),
    };
    summary.results_incomplete = incomplete;
    // The run file's invocation repeats the run: the changes made on the page become flags.
    let mut invocation = options.invocation.clone();
    for c in &steered_live {
        invocation.args.extend(["--steer".to_string(), c.flag()]);
    }
    let run_file =
        (options.out_dir.as_ref()).map(|_| RunFile::of(invocation, &plan, &recorder, &facts));
    Ok((summary, run_file))
}

/// next_ask is the live page's next rate change; never, for a run that cannot be steered.
async fn next_ask(
    asks: &mut Option<mpsc::UnboundedReceiver<crate::live::SteerAsk>>,
) -> Option<crate::live::SteerAsk> {
    match asks {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// wait_for_start sleeps until shortly before `at`, saying what it waits for.
async fn wait_for_start(at: SystemTime, quiet: bool) {
    let Ok(ahead) = at.duration_since(SystemTime::now()) else {
        return;
    };
    if !quiet {
        crate::say!(
            "waiting {:.1} s for --start-at {} (Ctrl-C to give up)",
            ahead.as_secs_f64(),
            clock::format(at)
        );
    }
    tokio::time::sleep(ahead.saturating_sub(clock::WAKE_BEFORE)).await;
}

/// resolve finds the target's address; a name that does not resolve means the target cannot
/// answer.
async fn resolve(plan: &Plan) -> Result<SocketAddr, Failure> {
    let t = &plan.target;
    let mut addrs = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .map_err(|e| {
            Failure::NotValid(format!(
                "cannot resolve `{}`: {e}; check the host in the URL",
                t.host
            ))
        })?;
    addrs.next().ok_or_else(|| {
        Failure::NotValid(format!(
            "`{}` resolves to no address; check the host in the URL",
            t.host
        ))
    })
}

/// preflight sends the plan's first request once and requires an answer (any HTTP status).
async fn preflight(plan: &Plan, addr: SocketAddr) -> Result<(), Failure> {
    let url = plan.target.url();
    let prepared = engine::prepare(plan).map_err(Failure::Usage)?;
    let limit = plan.limits.timeout.min(PREFLIGHT_TIMEOUT);
    let dialer = engine::dialer_for(addr, &plan.target, limit).map_err(Failure::Usage)?;
    // The dialer's own timeout and the one around the whole attempt are the same length, so
    // either may fire first when the connection never completes: this says which it was.
    let connected = std::cell::Cell::new(false);
    let attempt = async {
        let opened = dialer.open().await.map_err(|f| match f.kind {
            // With verification off, an untrusted certificate cannot be why: the server most
            // likely does not speak TLS on that port (or not the HTTP version asked for).
            ErrorKind::Tls if plan.target.transport.insecure => format!(
                "could not connect to {url} ({addr}): the TLS handshake failed (tls_error) with certificate verification off: the server does not speak TLS on this port, or does not offer the HTTP version asked for; try http:// if it serves cleartext"
            ),
            ErrorKind::Tls => match f.refusal {
                Some(why) => format!(
                    "could not connect to {url} ({addr}): the TLS handshake failed (tls_error): {}",
                    why.explain(&plan.target.host)
                ),
                None => format!(
                    "could not connect to {url} ({addr}): the TLS handshake failed (tls_error): the certificate is not trusted or does not match the host, or the server does not offer the HTTP version asked for; give the CA with ca_file (plan) / --ca-file, or --insecure to skip verification"
                ),
            },
            kind => format!("could not connect to {url} ({addr}): {}", kind.name()),
        })?;
        connected.set(true);
        let mut sender = opened.sender;
        let reply = engine::send(&mut sender, &prepared[0][0], plan, 0, 0)
            .await
            .map_err(|_| format!("{url} closed the connection before the request was sent"))?;
        match reply.result {
            Ok(_) => Ok(()),
            Err(kind) if kind.answered() => Ok(()),
            Err(kind) => Err(format!(
                "{url} accepted a connection but did not answer: {}",
                kind.name()
            )),
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(Failure::NotValid(format!(
            "preflight failed: {why}. Nothing was scheduled. Is the target running? (--no-preflight skips this check)"
        ))),
        Err(_) if !connected.get() => Err(Failure::NotValid(format!(
            "preflight failed: could not connect to {url} ({addr}): {} (no answer to the connection request within {} s). Nothing was scheduled. Is the target running? (--no-preflight skips this check)",
            ErrorKind::ConnectTimeout.name(),
            limit.as_secs_f64()
        ))),
        Err(_) => Err(Failure::NotValid(format!(
            "preflight failed: {url} did not answer within {} s. Nothing was scheduled. (--no-preflight skips this check)",
            limit.as_secs_f64()
        ))),
    }
}

/// raise_open_file_limit lifts the soft limit on open files as far as the system allows, and
/// warns when that is below what the plan may need.
fn raise_open_file_limit(plan: &Plan) {
    let needed = (plan.limits.connections + 64) as u64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => crate::say!(
            "warning: the open-file limit is {limit}, below the {needed} this plan may need (connections + 64); connections past it will fail as local_resource errors"
        ),
        Ok(_) => {}
        Err(e) => crate::say!("warning: could not read or raise the open-file limit: {e}"),
    }
}
