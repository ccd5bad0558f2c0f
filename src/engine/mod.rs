//! Engine: worker threads that issue a plan's arrivals at their intended times.
//!
//! `start` prepares every request, spawns one worker per thread (each with its own runtime,
//! connections and recording), waits until all have opened their connections, and fixes the
//! run's start instant a moment later. From then on workers hand their recordings to whoever
//! holds the receiving end of the handover channel (the recorder). The engine knows nothing of
//! summaries or output.

pub mod checks;
mod direct;
mod exchange;
mod handover;
mod pacer;
mod pool;
mod sweep;
mod tls;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

#[doc(hidden)]
pub use direct::{BenchClient, Framing, ResponseHead, answer_over_loopback, parse_response_head};
pub use exchange::{MAX_TARGET, Prepared, Reply, Unsent, escaped_len, send};
#[cfg(test)]
pub use handover::Counting;
pub use handover::{thread_cpu_time, thread_cpu_wait};
pub use pool::{Dialer, Sender, dialer_for};
pub use sweep::DENSE_RATE;

use crate::plan::Plan;
use crate::record::{ErrorKind, Handover, Layout};

/// Engine is a running set of workers.
pub struct Engine {
    workers: Vec<JoinHandle<()>>,
    /// The instant intended times count from.
    pub start: Instant,
    /// Wall-clock time of `start`.
    pub started_at: SystemTime,
    /// Connections open before the first arrival.
    pub connections_opened: usize,
    /// Connections the engine tried to open before the first arrival.
    pub connections_wanted: usize,
    /// The first failure opening them, if any.
    pub preopen_error: Option<ErrorKind>,
}

/// layout is the cell layout of a plan's recordings: two slots per stage (see `record::Slot`),
/// and `spare` stages more per scenario for the stages steering may add.
pub fn layout(plan: &Plan, spare: usize) -> Layout {
    Layout::with_spare(
        plan.scenarios
            .iter()
            .map(|s| (s.requests.len(), s.stages.len()))
            .collect(),
        spare,
    )
}

/// prepare resolves every request of every scenario against the target.
pub fn prepare(plan: &Plan) -> Result<Vec<Vec<Prepared>>, String> {
    plan.scenarios
        .iter()
        .map(|s| {
            s.requests
                .iter()
                .map(|r| Prepared::new(&plan.target, r, &plan.vars))
                .collect()
        })
        .collect()
}

/// share splits `total` over `n` workers as evenly as possible, at least 1 each.
fn share(total: usize, n: usize, i: usize) -> usize {
    (total / n + usize::from(i < total % n)).max(1)
}

/// Listing collects one line per arrival the engine got to (`--debug-arrivals`): scenario,
/// arrival index, intended offset in ns, request name, method and rendered target. Tests
/// compare the listings of shards with one process's.
pub type Listing = Arc<std::sync::Mutex<Vec<String>>>;

/// Begin is how the schedule starts: at a wall-clock instant (`--start-at`) or as soon as the
/// workers are ready, and whether its arrivals are listed.
#[derive(Debug, Default, Clone)]
pub struct Begin {
    pub at: Option<SystemTime>,
    pub listing: Option<Listing>,
    /// The plan as steered while the run goes on, when it can be (see `steer`).
    pub steering: Option<watch::Receiver<Arc<Plan>>>,
}

impl Begin {
    /// spare_stages is how many stages per scenario steering may add to the layout.
    pub fn spare_stages(&self) -> usize {
        if self.steering.is_some() {
            crate::steer::MAX_CHANGES
        } else {
            0
        }
    }
}

/// start spawns the workers, waits for their connections, and starts the schedule.
pub fn start(
    plan: Arc<Plan>,
    addr: SocketAddr,
    stop: watch::Receiver<Option<Instant>>,
    handover: mpsc::UnboundedSender<Handover>,
    begin: Begin,
) -> Result<Engine, String> {
    let layout = Arc::new(layout(&plan, begin.spare_stages()));
    let prepared = Arc::new(prepare(&plan)?);
    let mut dialer = pool::dialer_for(addr, &plan.target, plan.limits.timeout)?;
    dialer.flatten_writes(
        prepared
            .iter()
            .flatten()
            .all(|p| p.body_is_small(pool::FLATTEN_BODY_LIMIT)),
    );
    let n = plan.worker_threads();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut starts = Vec::new();
    let mut workers = Vec::new();
    for i in 0..n {
        let (start_tx, start_rx) = oneshot::channel();
        starts.push(start_tx);
        let setup = worker::Setup {
            index: i,
            count: n,
            plan: plan.clone(),
            layout: layout.clone(),
            dialer: dialer.clone(),
            connections: share(plan.limits.connections, n, i),
            max_in_flight: share(plan.limits.max_in_flight, n, i),
            connect_rate: share(plan.limits.connect_rate as usize, n, i) as u32,
            prepared: prepared.clone(),
            ready: ready_tx.clone(),
            start: start_rx,
            stop: stop.clone(),
            handover: handover.clone(),
            listing: begin.listing.clone(),
            steering: begin.steering.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("metronome-worker-{i}"))
            .spawn(move || worker::run(setup))
            .map_err(|e| format!("could not start worker thread {i}: {e}"))?;
        workers.push(handle);
    }
    drop(ready_tx);
    let (mut opened, mut wanted, mut preopen_error) = (0, 0, None);
    for _ in 0..n {
        let r = loop {
            match ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(r) => break r,
                Err(_) if workers.iter().any(|w| w.is_finished()) => {
                    return Err("a worker thread stopped before the run started".to_string());
                }
                Err(_) => {}
            }
        };
        opened += r.opened;
        wanted += r.wanted;
        preopen_error = preopen_error.or(r.error);
    }
    // A short lead lets every worker be asleep before the first arrival is due. A start given
    // as a wall-clock instant (`--start-at`) is kept even when it has passed: the overdue
    // arrivals then go at once, and their lateness is dispatch lag, as for any late arrival.
    let lead = Duration::from_millis(20);
    let (now, wall) = (Instant::now(), SystemTime::now());
    let begin = begin.at.unwrap_or(wall + lead);
    let start = match begin.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    };
    for s in starts {
        let _ = s.send(start);
    }
    Ok(Engine {
        workers,
        start,
        started_at: begin,
        connections_opened: opened,
        connections_wanted: wanted,
        preopen_error,
    })
}

impl Engine {
    /// join waits for every worker thread to end.
    pub fn join(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}
