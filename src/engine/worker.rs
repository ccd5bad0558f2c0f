//! Worker: one thread's share of the schedule, paced, issued and recorded.
//!
//! Each worker runs a current-thread runtime with its own connection pool and its own
//! `Recording`, so nothing on the hot path is shared across threads. It takes every n-th arrival
//! of each scenario (n = number of workers), sleeps until each one's intended time, and issues it
//! without waiting for any earlier response. Once a second it hands its recording to the
//! recorder and starts a fresh one.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::exchange::{self, Prepared};
use super::handover::Handing;
use super::pacer::Pacer;
use super::pool::{Dialer, Pool};
use super::sweep::{DENSE_RATE, Sweep};
use crate::plan::{HttpVersion, Plan, Scenario};
use crate::record::{ErrorKind, Handover, Layout, Outcome};
use crate::schedule::{Arrival, Shard};

/// Ready is a worker's report that its connections are open and it waits for the start.
#[derive(Debug)]
pub struct Ready {
    /// Connections opened before the start.
    pub opened: usize,
    /// Connections it tried to open.
    pub wanted: usize,
    /// The first failure while opening them.
    pub error: Option<ErrorKind>,
}

/// Setup is everything a worker thread is given.
pub struct Setup {
    /// This worker's shard index.
    pub index: usize,
    /// Number of workers: this one takes arrivals whose index ≡ `index` (mod `count`).
    pub count: usize,
    /// The plan being run.
    pub plan: Arc<Plan>,
    /// Cell layout of recordings.
    pub layout: Arc<Layout>,
    /// Opens connections to the target.
    pub dialer: Dialer,
    /// This worker's share of the connection limit.
    pub connections: usize,
    /// This worker's share of the in-flight bound.
    pub max_in_flight: usize,
    /// This worker's share of the new-connection pace (per second).
    pub connect_rate: u32,
    /// Requests of each scenario's mix, ready to send.
    pub prepared: Arc<Vec<Vec<Prepared>>>,
    /// Where to say it is ready.
    pub ready: std::sync::mpsc::Sender<Ready>,
    /// The run's start instant, sent once every worker is ready.
    pub start: oneshot::Receiver<Instant>,
    /// Becomes Some(instant) when the run must stop issuing.
    pub stop: watch::Receiver<Option<Instant>>,
    /// Where recordings go.
    pub handover: mpsc::UnboundedSender<Handover>,
    /// Where every arrival this worker gets to is listed, when asked (`--debug-arrivals`).
    pub listing: Option<super::Listing>,
    /// The plan as steered, when the run can be (see `steer`): a new one changes the stages
    /// this worker follows from its next arrival on.
    pub steering: Option<watch::Receiver<Arc<Plan>>>,
}

/// WorkerState is what a worker's tasks share (all on one thread).
struct WorkerState {
    pool: Pool,
    /// Where responses on cleartext HTTP/1.1 connections are read when the pacer wakes.
    sweep: Option<Rc<Sweep>>,
    handing: Handing,
    in_flight: Cell<usize>,
    max_in_flight: usize,
    /// Tasks issuing arrivals now: never more than the pool has slots.
    tasks: Cell<usize>,
    /// Arrivals released while every slot was taken, oldest first (see `dispatch`).
    waiting: RefCell<VecDeque<Job>>,
    /// Notified whenever in_flight falls to zero.
    drained: Notify,
    /// Set when the drain ends: arrivals still waiting for a connection give up as dropped.
    abandon: Cell<bool>,
    /// Notified when `abandon` is set.
    abandoned: Notify,
    prepared: Arc<Vec<Vec<Prepared>>>,
    plan: Arc<Plan>,
    timeout: Duration,
}

/// run is a worker thread's body.
pub fn run(setup: Setup) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime can be built");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, work(setup));
}

async fn work(mut setup: Setup) {
    let limits = &setup.plan.limits;
    let mut pool = Pool::new(
        setup.dialer.clone(),
        &setup.plan.target.transport,
        setup.connections,
        setup.connect_rate,
    );
    let peak: f64 = setup.plan.scenarios.iter().map(Scenario::peak_rate).sum();
    let defers = peak / (setup.count as f64) < DENSE_RATE;
    // Without a sweep (no epoll set to be had), every wait registers with the runtime.
    let sweep = Sweep::new(defers).ok().map(Rc::new);
    if let Some(s) = &sweep {
        pool.sweep_on(s.clone());
    }
    let shared = Rc::new(WorkerState {
        pool,
        sweep,
        handing: Handing::new(setup.layout.clone()),
        in_flight: Cell::new(0),
        max_in_flight: setup.max_in_flight,
        tasks: Cell::new(0),
        waiting: RefCell::new(VecDeque::new()),
        drained: Notify::new(),
        abandon: Cell::new(false),
        abandoned: Notify::new(),
        prepared: setup.prepared.clone(),
        plan: setup.plan.clone(),
        timeout: limits.timeout,
    });
    let (opened, error) = shared.pool.preopen(setup.connections).await;
    let ready = Ready {
        opened,
        wanted: setup.connections,
        error,
    };
    if setup.ready.send(ready).is_err() {
        return;
    }
    let Ok(start) = (&mut setup.start).await else {
        return; // The run was called off before it started.
    };
    let ticker = tokio::task::spawn_local(hand_over_every_second(
        shared.clone(),
        setup.index,
        setup.handover.clone(),
        start,
    ));
    if let Some(s) = shared.sweep.clone().filter(|s| !s.defers()) {
        tokio::task::spawn_local(s.run_prompt());
    }
    pace(&setup, &shared, start).await;
    drain(&shared, &mut setup.stop.clone()).await;
    ticker.abort();
    shared.handing.hand_over(
        setup.index,
        shared.in_flight.get() as u64,
        &setup.handover,
        true,
    );
}

/// pace issues this worker's arrivals at their intended times until the schedule ends or the
/// run is stopped.
async fn pace(setup: &Setup, shared: &Rc<WorkerState>, start: Instant) {
    let plan = &setup.plan;
    let mut stop = setup.stop.clone();
    let share = (plan.shard).worker(setup.index as u64, setup.count as u64);
    let mut shard = Shard::new(plan.schedules(), share.index, share.count);
    let pacer = match Pacer::new(plan.pacing) {
        Ok(p) => Some(p),
        Err(e) => {
            crate::say!(
                "warning: no high-resolution timer ({e}); pacing falls back to tokio's millisecond timer"
            );
            None
        }
    };
    let sweep = shared.sweep.as_deref();
    // Only cleartext HTTP/1.1 keeps every connection off the runtime's event loop, on the
    // sweep, so the pacer may block the thread between arrivals (see `Sweep::lets_pacer_block`).
    let transport = &plan.target.transport;
    let direct = !transport.tls && transport.http != HttpVersion::Http2;
    let mut due_in_a_row = 0u32;
    let mut listing = setup.listing.as_ref().map(|_| Vec::new());
    let mut steering = setup.steering.clone();
    // The latest intended time issued of each scenario, to tell a change that came too late.
    let mut issued_to = vec![Duration::ZERO; plan.scenarios.len()];
    let end = start + plan.schedule_duration();
    loop {
        if changed(&steering) {
            follow(&mut shard, &mut steering, &issued_to, setup.index);
        }
        let next = shard.peek();
        let wake = match next {
            Some((_, a)) => start + a.offset,
            // A steerable run's worker stays until the schedule's end: a change may yet give
            // it arrivals.
            None if steering.is_some() && Instant::now() < end => end,
            None => break,
        };
        if let Some(s) = sweep {
            // With no arrival to wake for, responses are read as they come meanwhile.
            s.expect(next.map(|_| wake));
        }
        if Instant::now() < wake {
            // Let the arrivals just released start, and the responses that came in since the
            // last wake be read, before arming the timer: the syscall would otherwise be part
            // of their dispatch lag.
            if let Some(s) = sweep {
                s.sweep();
            }
            tokio::task::yield_now().await;
            due_in_a_row = 0;
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                _ = steered(&mut steering) => {
                    follow(&mut shard, &mut steering, &issued_to, setup.index);
                    continue;
                }
                _ = wait_until(pacer.as_ref(), wake, direct && sweep.is_some_and(Sweep::lets_pacer_block)) => {}
            }
        } else {
            // Behind schedule: release what is due, but let issued requests run now and then.
            due_in_a_row += 1;
            if due_in_a_row.is_multiple_of(64) {
                if let Some(s) = sweep {
                    s.sweep();
                }
                tokio::task::yield_now().await;
            }
        }
        let Some((scenario, arrival)) = next else {
            continue; // The schedule's end: the loop ends there, unless a change came.
        };
        let intended = wake;
        if stop.borrow().is_some() {
            break;
        }
        if changed(&steering) {
            continue;
        }
        shard.next();
        issued_to[scenario] = arrival.offset;
        if let Some(lines) = listing.as_mut() {
            lines.push(list(shared, plan, scenario, &arrival));
        }
        dispatch(shared, plan, scenario, arrival, intended);
    }
    if let (Some(lines), Some(to)) = (listing, &setup.listing) {
        to.lock()
            .expect("no worker panics holding the listing")
            .extend(lines);
    }
    // No more wakes: exchanges still waiting for a response wait by readiness from now on.
    if let Some(s) = sweep {
        s.expect(None);
    }
}

/// follow makes `shard` follow the latest steered plan's stages wherever they differ from its
/// own. A change reaches every worker well before it takes effect (`steer::LEAD`); should one
/// not (a worker held off its CPU that long), its arrivals already issued stand, and it says so.
fn follow(
    shard: &mut Shard,
    steering: &mut Option<watch::Receiver<Arc<Plan>>>,
    issued_to: &[Duration],
    worker: usize,
) {
    let Some(rx) = steering.as_mut() else {
        return;
    };
    let steered = rx.borrow_and_update().clone();
    for (k, s) in steered.scenarios.iter().enumerate() {
        if shard.schedule(k).stages() == s.stages.as_slice() {
            continue;
        }
        let change = (steered.steering.iter()).rfind(|c| c.scenario == s.name);
        if let Some(c) = change
            && issued_to[k] >= c.at()
        {
            crate::say!(
                "warning: worker {worker} learnt of the change of `{}` at {} s only after issuing arrivals due at {:.3} s at the old rate; they stand as issued",
                s.name,
                c.at_s,
                issued_to[k].as_secs_f64()
            );
        }
        shard.steer(k, s.schedule(steered.seed, k as u64));
    }
}

/// changed says whether the plan was steered since this worker last followed it.
fn changed(steering: &Option<watch::Receiver<Arc<Plan>>>) -> bool {
    (steering.as_ref()).is_some_and(|rx| rx.has_changed().unwrap_or(false))
}

/// steered completes when the plan is steered again; never for a run that cannot be.
async fn steered(steering: &mut Option<watch::Receiver<Arc<Plan>>>) {
    if let Some(rx) = steering
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await
}

/// list is an arrival's line in the listing (see `engine::Listing`).
fn list(shared: &WorkerState, plan: &Plan, scenario: usize, a: &Arrival) -> String {
    let request = plan.scenarios[scenario].pick(plan.seed, scenario as u64, a.index);
    let spec = &plan.scenarios[scenario].requests[request];
    let target = shared.prepared[scenario][request].target_of(
        &plan.vars,
        plan.seed,
        scenario as u64,
        a.index,
    );
    format!(
        "{scenario}\t{}\t{}\t{}\t{} {target}",
        a.index,
        a.offset.as_nanos(),
        spec.name,
        spec.method
    )
}

/// wait_until sleeps until `deadline` on the pacer (blocking the thread if `may_block`, see
/// `Pacer::sleep_until`), or on tokio's timer without one.
async fn wait_until(pacer: Option<&Pacer>, deadline: Instant, may_block: bool) {
    match pacer {
        Some(p) => {
            if p.sleep_until(deadline, may_block).await.is_ok() {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await
        }
        None => tokio::time::sleep_until(deadline.into()).await,
    }
}

/// slot is where an arrival is recorded: its stage, split into the settle time and the rest.
fn slot(a: &Arrival) -> crate::record::Slot {
    crate::record::Slot::new(a.stage, a.settling)
}

/// stopped completes when the run is asked to stop.
async fn stopped(stop: &mut watch::Receiver<Option<Instant>>) {
    if stop.wait_for(|s| s.is_some()).await.is_err() {
        // The run dropped its stop switch: nobody can stop us any more.
        std::future::pending::<()>().await;
    }
}

/// Job is one arrival on its way to an outcome.
struct Job {
    scenario: usize,
    request: usize,
    arrival: Arrival,
    intended: Instant,
    /// When the arrival was released into the waiting queue, if it was (its dispatch lag is
    /// recorded then).
    queued: Option<Instant>,
    _counted: InFlight,
}

/// dispatch starts one arrival, or drops it when the in-flight bound is reached. While the pool
/// has a free slot the arrival gets a task of its own, and its dispatch lag is taken when that
/// task first runs: a task the runtime has not got to yet is the engine's lateness, not the
/// target's. When every slot is taken the arrival waits in a queue instead, its dispatch lag
/// taken now, and the next task to finish an exchange takes it up: waiting costs no task, so a
/// backlog (a stalled target, or this machine pausing the engine) is cleared at least as fast as
/// the schedule adds to it, instead of each late arrival adding a task that must be polled and
/// woken again.
fn dispatch(shared: &Rc<WorkerState>, plan: &Plan, scenario: usize, a: Arrival, intended: Instant) {
    if shared.in_flight.get() >= shared.max_in_flight {
        let lag = Instant::now().saturating_duration_since(intended);
        shared
            .handing
            .recording()
            .dispatched(scenario, slot(&a), lag, true);
        return;
    }
    let request = plan.scenarios[scenario].pick(plan.seed, scenario as u64, a.index);
    shared.in_flight.set(shared.in_flight.get() + 1);
    let mut job = Job {
        scenario,
        request,
        arrival: a,
        intended,
        queued: None,
        _counted: InFlight(shared.clone()),
    };
    if shared.tasks.get() < shared.pool.capacity() {
        shared.tasks.set(shared.tasks.get() + 1);
        tokio::task::spawn_local(work_through(shared.clone(), job));
    } else {
        job.queued = Some(dispatched_now(shared, &job));
        shared.waiting.borrow_mut().push_back(job);
        if let Some(s) = &shared.sweep {
            s.press(true);
        }
    }
}

/// dispatched_now records that the engine got to `job` now, and returns now.
fn dispatched_now(shared: &WorkerState, job: &Job) -> Instant {
    let now = Instant::now();
    shared.handing.recording().dispatched(
        job.scenario,
        slot(&job.arrival),
        now.saturating_duration_since(job.intended),
        false,
    );
    now
}

/// work_through issues `job`, then every arrival waiting for a slot, until none waits.
async fn work_through(shared: Rc<WorkerState>, job: Job) {
    let mut next = Some(job);
    while let Some(job) = next {
        issue(&shared, job).await;
        let mut waiting = shared.waiting.borrow_mut();
        next = waiting.pop_front();
        if waiting.is_empty()
            && let Some(s) = &shared.sweep
        {
            s.press(false);
        }
    }
    shared.tasks.set(shared.tasks.get() - 1);
}

/// InFlight counts one arrival in flight until dropped, whatever path its task takes.
struct InFlight(Rc<WorkerState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let left = self.0.in_flight.get() - 1;
        self.0.in_flight.set(left);
        if left == 0 {
            self.0.drained.notify_one();
        }
    }
}

/// issue takes one arrival from dispatch to its outcome.
async fn issue(shared: &Rc<WorkerState>, job: Job) {
    let dispatched = job.queued.unwrap_or_else(|| dispatched_now(shared, &job));
    let Job {
        scenario,
        request,
        arrival,
        intended,
        _counted,
        ..
    } = job;
    let slot = slot(&arrival);
    // Everything here runs on one thread: no notification can slip in between checking the
    // flag and waiting for it.
    let lease = if shared.abandon.get() {
        None
    } else {
        tokio::select! {
            biased;
            lease = Box::pin(shared.pool.lease()) => Some(lease),
            _ = shared.abandoned.notified() => None,
        }
    };
    let Some(mut lease) = lease else {
        shared.handing.recording().abandoned(scenario, slot);
        return;
    };
    let mut outcome = Outcome {
        scenario,
        request,
        slot,
        latency: Duration::ZERO,
        queue_wait: Instant::now() - dispatched,
        connect: None,
        tls: None,
        service_time: Duration::ZERO,
        result: Ok(0),
        check_failure: None,
    };
    let plan = &shared.plan;
    let prepared = &shared.prepared[scenario][request];
    let mut pooled = lease.sender.take();
    // At most two attempts: a pooled connection the target closed while it sat idle hands the
    // request back unsent, and the arrival then opens a new one.
    loop {
        let mut sender = match pooled.take() {
            Some(s) => s,
            // Opening a connection (a TLS handshake) is a large future, and rare: boxed, it does
            // not make every arrival's task that large.
            None => match Box::pin(shared.pool.open(&mut lease)).await {
                Ok(opened) => {
                    outcome.connect = Some(outcome.connect.unwrap_or_default() + opened.connect);
                    outcome.tls = opened.tls.or(outcome.tls);
                    opened.sender
                }
                Err(failed) => {
                    outcome.connect = Some(outcome.connect.unwrap_or_default() + failed.took);
                    outcome.result = Err(failed.kind);
                    outcome.latency = Instant::now() - intended;
                    break;
                }
            },
        };
        let sent = Instant::now();
        let reply = tokio::time::timeout(
            shared.timeout,
            exchange::send(&mut sender, prepared, plan, scenario as u64, arrival.index),
        )
        .await;
        let finished = Instant::now();
        // The kernel's stamp of when the response came in, when there is one: it may have been
        // read a while later (see `sweep`).
        let done = match &reply {
            Ok(Ok(r)) => r.received.map_or(finished, |t| t.clamp(sent, finished)),
            _ => finished,
        };
        outcome.service_time = done - sent;
        outcome.latency = done - intended;
        outcome.result = match reply {
            Ok(Ok(reply)) => {
                if reply.reusable {
                    shared.pool.give_back(sender);
                }
                outcome.check_failure = reply.check_failure;
                reply.result
            }
            Ok(Err(exchange::Unsent(_))) if outcome.connect.is_none() => continue,
            Ok(Err(exchange::Unsent(kind))) => Err(kind),
            Err(_) => Err(ErrorKind::RequestTimeout),
        };
        break;
    }
    drop(lease);
    shared.handing.recording().outcome(&outcome);
}

/// drain waits for issued arrivals to end: those still waiting for a connection get up to the
/// timeout (none when the run was stopped), then are dropped (the run ended first); requests
/// already sent end by their own timeout.
async fn drain(shared: &WorkerState, stop: &mut watch::Receiver<Option<Instant>>) {
    let deadline = tokio::time::Instant::now() + shared.timeout;
    while shared.in_flight.get() > 0 && stop.borrow().is_none() {
        tokio::select! {
            _ = shared.drained.notified() => {}
            _ = stopped(stop) => break,
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    shared.abandon.set(true);
    shared.abandoned.notify_waiters();
    while shared.in_flight.get() > 0 {
        shared.drained.notified().await;
    }
}

/// hand_over_every_second hands the recording over on every whole second of the run, so every
/// worker's handover k covers the same second [k − 1, k) and the recorder can close that
/// second once all of them are in.
async fn hand_over_every_second(
    shared: Rc<WorkerState>,
    worker: usize,
    tx: mpsc::UnboundedSender<Handover>,
    start: Instant,
) {
    let second = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at((start + second).into(), second);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        shared
            .handing
            .hand_over(worker, shared.in_flight.get() as u64, &tx, false);
    }
}
