//! Watch: the target's memory and CPU, sampled from the start of the preflight to the end of
//! the drain, and the memory criteria judged on the samples.
//!
//! Sources: a local process by pid or by name (`proc`), a cgroup: a container or a service on
//! this host (`cgroup`), or a Prometheus metrics endpoint, so a remote target is watched too
//! (`prometheus`). The sampler is a task on the run's own runtime: /proc and cgroup files are
//! read synchronously (they are cheap), the metrics page with a small HTTP GET under a timeout.
//! Samples land in a [`WatchLog`] the results writer drains into the interval log (one comment
//! line each) and the history CSV, the progress line reads, and `criteria` judges at the end
//! (growth from the first window to the last, a ceiling, and a Theil–Sen trend from `fit`). A
//! read that fails is an event with its time; a target process that vanishes is a crash.

pub mod cgroup;
pub mod criteria;
pub mod fit;
pub mod proc;
pub mod prometheus;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::plan::{MetricSelector, Watch, WatchSource};

/// SAMPLE_PREFIX starts a sample's comment line in the interval log.
pub const SAMPLE_PREFIX: &str = "#metronome-watch ";

/// MAX_KEPT bounds the samples kept for the criteria: past it every other one is dropped and
/// only every second one after is kept (a 24 h run at 5 s takes 17,280).
const MAX_KEPT: usize = 20_000;
/// MAX_EVENTS bounds the events kept (their count stays exact).
const MAX_EVENTS: usize = 100;

/// Reading is what one read of the source gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Bytes: resident memory, the cgroup's charge, or the metric's value.
    pub memory: u64,
    /// CPU time used so far, seconds (not from a metrics endpoint).
    pub cpu_s: Option<f64>,
}

/// ReadError is a read that gave nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The target is not there: its process exited, its cgroup went away.
    Gone(String),
    /// The read failed (an endpoint down, a file unreadable); the target may still run.
    Failed(String),
}

impl ReadError {
    pub fn why(&self) -> &str {
        match self {
            ReadError::Gone(w) | ReadError::Failed(w) => w,
        }
    }
}

/// Reader reads one source.
#[derive(Debug)]
pub enum Reader {
    Pid(u32),
    Process(proc::Named),
    Cgroup(std::path::PathBuf),
    Metrics {
        at: prometheus::Endpoint,
        metric: MetricSelector,
        timeout: Duration,
    },
}

impl Reader {
    /// new prepares a reader of `source`; a metrics read is bounded by `timeout`.
    pub fn new(source: &WatchSource, timeout: Duration) -> Result<Reader, String> {
        Ok(match source {
            WatchSource::Pid(pid) => Reader::Pid(*pid),
            WatchSource::Process(name) => Reader::Process(proc::Named::new(name)),
            WatchSource::Cgroup(dir) => Reader::Cgroup(dir.clone()),
            WatchSource::Metrics { url, metric } => Reader::Metrics {
                at: prometheus::endpoint(url)?,
                metric: metric.clone(),
                timeout,
            },
        })
    }

    /// read takes one reading.
    pub async fn read(&mut self) -> Result<Reading, ReadError> {
        match self {
            Reader::Pid(pid) => proc::read_pid(*pid),
            Reader::Process(named) => named.read(),
            Reader::Cgroup(dir) => cgroup::read(dir),
            Reader::Metrics {
                at,
                metric,
                timeout,
            } => prometheus::read(at, metric, *timeout).await,
        }
    }

    /// ends_when_gone says whether a gone target can never come back (a pid is not reused for
    /// it), so sampling stops.
    fn ends_when_gone(&self) -> bool {
        matches!(self, Reader::Pid(_))
    }

    /// crash_means_gone says whether the source can see the target vanish (a metrics
    /// endpoint that stops answering may be only the endpoint).
    pub fn sees_crashes(source: &WatchSource) -> bool {
        !matches!(source, WatchSource::Metrics { .. })
    }
}

/// Sample is one reading, at `t` seconds from the schedule's start (negative before it: the
/// preflight).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t: f64,
    pub memory: u64,
    /// Cores busy since the previous sample (1.0: one core); absent for the first sample and
    /// for a metrics endpoint.
    pub cpu: Option<f64>,
}

impl Sample {
    /// comment is the sample's line in the interval log, which HdrHistogram tools skip.
    pub fn comment(&self) -> String {
        let cpu = self.cpu.map_or_else(|| "-".into(), |c| format!("{c:.3}"));
        format!(
            "{SAMPLE_PREFIX}t={:.3} memory={} cpu={cpu}",
            self.t, self.memory
        )
    }

    /// parse reads a sample's comment line; None for any other line.
    pub fn parse(line: &str) -> Option<Sample> {
        let rest = line.strip_prefix(SAMPLE_PREFIX)?;
        let mut s = Sample {
            t: f64::NAN,
            memory: 0,
            cpu: None,
        };
        for field in rest.split(' ') {
            let (k, v) = field.split_once('=')?;
            match k {
                "t" => s.t = v.parse().ok()?,
                "memory" => s.memory = v.parse().ok()?,
                "cpu" if v != "-" => s.cpu = Some(v.parse().ok()?),
                _ => {}
            }
        }
        (!s.t.is_nan()).then_some(s)
    }
}

/// EventKind is what happened to the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The target vanished (a crash, when the source can tell).
    Gone,
    /// A read failed.
    ReadFailed,
    /// A read succeeded again after failing.
    Recovered,
}

/// Event is a change in what the watch saw, with its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// Seconds from the schedule's start (negative: during the preflight).
    pub t: f64,
    /// Wall-clock time, RFC 3339.
    pub at: String,
    pub detail: String,
}

/// WatchLog is what the sampler saw, shared with the results writer, the progress line and, at
/// the end, the criteria.
#[derive(Debug)]
pub struct WatchLog {
    /// What is watched, as output names it.
    pub source: String,
    /// Whether the source sees the target vanish (not a metrics endpoint).
    pub sees_crashes: bool,
    pub interval: Duration,
    origin: Instant,
    origin_wall: SystemTime,
    /// When the schedule started, once it has.
    start: Option<Instant>,
    kept: Vec<Sample>,
    stride: u64,
    /// Successful reads.
    pub reads: u64,
    pub failed_reads: u64,
    /// Of the failed reads, those that found the target gone.
    pub gone_reads: u64,
    /// The first time the target was seen gone.
    pub gone: Option<Event>,
    pub events: Vec<Event>,
    pub event_count: u64,
    /// Samples not yet written to the interval log, with when they were taken.
    pending: Vec<(Instant, Reading, Option<f64>)>,
    last: Option<(Instant, Reading)>,
    last_cpu: Option<f64>,
    failing: bool,
}

/// Shared is the log as the sampler and its readers hold it.
pub type Shared = Arc<Mutex<WatchLog>>;

impl WatchLog {
    /// new starts a log now (the start of the preflight).
    pub fn new(source: &WatchSource, interval: Duration) -> WatchLog {
        WatchLog {
            source: source.to_string(),
            sees_crashes: Reader::sees_crashes(source),
            interval,
            origin: Instant::now(),
            origin_wall: SystemTime::now(),
            start: None,
            kept: Vec::new(),
            stride: 1,
            reads: 0,
            failed_reads: 0,
            gone_reads: 0,
            gone: None,
            events: Vec::new(),
            event_count: 0,
            pending: Vec::new(),
            last: None,
            last_cpu: None,
            failing: false,
        }
    }

    /// started notes the schedule's start: sample times count from it.
    pub fn started(&mut self, at: Instant) {
        self.start = Some(at);
    }

    fn t(&self, at: Instant) -> f64 {
        let zero = self.start.unwrap_or(self.origin);
        if at >= zero {
            at.duration_since(zero).as_secs_f64()
        } else {
            -zero.duration_since(at).as_secs_f64()
        }
    }

    fn wall(&self, at: Instant) -> SystemTime {
        self.origin_wall + at.saturating_duration_since(self.origin)
    }

    /// record adds one reading taken at `at`.
    pub fn record(&mut self, at: Instant, r: Result<Reading, ReadError>) {
        match r {
            Ok(reading) => {
                self.reads += 1;
                if self.failing {
                    self.failing = false;
                    self.event(at, EventKind::Recovered, "reads succeed again".into());
                }
                let cpu = self.last.and_then(|(t0, r0)| {
                    let dt = at.saturating_duration_since(t0).as_secs_f64();
                    let used = reading.cpu_s? - r0.cpu_s?;
                    (dt > 0.0).then(|| (used / dt).max(0.0))
                });
                self.last = Some((at, reading));
                self.last_cpu = cpu;
                self.pending.push((at, reading, cpu));
                if (self.reads - 1).is_multiple_of(self.stride) {
                    let s = Sample {
                        t: 0.0,
                        memory: reading.memory,
                        cpu,
                    };
                    self.kept.push(s);
                    // Times are fixed once the start is known; until then they are kept raw.
                    let i = self.kept.len() - 1;
                    self.kept[i].t = at.duration_since(self.origin).as_secs_f64();
                    if self.kept.len() >= MAX_KEPT {
                        let mut k = 0;
                        self.kept.retain(|_| {
                            k += 1;
                            k % 2 == 1
                        });
                        self.stride *= 2;
                    }
                }
            }
            Err(e) => {
                self.failed_reads += 1;
                let gone = matches!(e, ReadError::Gone(_));
                self.gone_reads += u64::from(gone);
                if gone && self.gone.is_none() {
                    self.event(at, EventKind::Gone, e.why().to_string());
                    self.gone = self.events.last().cloned();
                } else if !self.failing && !gone {
                    self.event(at, EventKind::ReadFailed, e.why().to_string());
                }
                self.failing = true;
            }
        }
    }

    fn event(&mut self, at: Instant, kind: EventKind, detail: String) {
        self.event_count += 1;
        let e = Event {
            kind,
            t: self.t(at),
            at: humantime::format_rfc3339_seconds(self.wall(at)).to_string(),
            detail,
        };
        if self.events.len() < MAX_EVENTS || kind == EventKind::Gone {
            self.events.push(e);
        }
    }

    /// take_pending hands over the samples not yet written, with their times from the start.
    pub fn take_pending(&mut self) -> Vec<Sample> {
        let pending = std::mem::take(&mut self.pending);
        (pending.into_iter())
            .map(|(at, r, cpu)| Sample {
                t: self.t(at),
                memory: r.memory,
                cpu,
            })
            .collect()
    }

    /// latest is the newest sample, if any.
    pub fn latest(&self) -> Option<Sample> {
        self.last.map(|(at, r)| Sample {
            t: self.t(at),
            memory: r.memory,
            cpu: self.last_cpu,
        })
    }

    /// samples are the kept samples, their times from the schedule's start.
    pub fn samples(&self) -> Vec<Sample> {
        let shift = self.start.map_or(0.0, |s| {
            s.saturating_duration_since(self.origin).as_secs_f64()
        });
        (self.kept.iter())
            .map(|s| Sample {
                t: s.t - shift,
                ..*s
            })
            .collect()
    }

    /// events_with_times are the events with their times from the schedule's start.
    pub fn events(&self) -> Vec<Event> {
        self.events.clone()
    }
}

/// open prepares a reader of the plan's watch and takes the first reading, so a watch of a
/// target that is not there refuses the run before anything is sent.
pub async fn open(watch: &Watch, timeout: Duration) -> Result<Option<(Reader, Shared)>, String> {
    let Some(source) = &watch.source else {
        return Ok(None);
    };
    let mut reader = Reader::new(source, timeout)?;
    let log = Arc::new(Mutex::new(WatchLog::new(source, watch.interval)));
    let first = reader.read().await;
    if let Err(e) = &first {
        return Err(format!(
            "cannot watch {source}: {}; check the watch's target (it must be running before the run starts)",
            e.why()
        ));
    }
    log.lock()
        .expect("not poisoned")
        .record(Instant::now(), first);
    Ok(Some((reader, log)))
}

/// sample reads the source every `interval` until `stop` says so, then once more (the end of
/// the drain). A pid that is gone ends it early.
pub async fn sample(
    mut reader: Reader,
    log: Shared,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval_at((Instant::now() + interval).into(), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        let r = reader.read().await;
        let gone = matches!(r, Err(ReadError::Gone(_)));
        log.lock().expect("not poisoned").record(Instant::now(), r);
        if last || (gone && reader.ends_when_gone()) {
            return;
        }
    }
}

/// Running is a sampler started on the run's runtime (a local task), and its log.
pub struct Running {
    pub log: Shared,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// start opens the plan's watch (`open`) and samples it in a local task until `finish`;
    /// none when the plan watches nothing.
    pub async fn start(
        watch: Option<&Watch>,
        timeout: Duration,
    ) -> Result<Option<Running>, String> {
        let Some(watch) = watch else {
            return Ok(None);
        };
        let Some((reader, log)) = open(watch, timeout).await? else {
            return Ok(None);
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::task::spawn_local(sample(reader, log.clone(), watch.interval, stopped));
        Ok(Some(Running { log, stop, task }))
    }

    /// started notes the schedule's start instant.
    pub fn started(&self, at: Instant) {
        self.log.lock().expect("not poisoned").started(at);
    }

    /// finish takes the last sample (the end of the drain) and stops the sampler; a read that
    /// hangs is given up after `timeout`.
    pub async fn finish(self, timeout: Duration) -> Shared {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(timeout, &mut task).await.is_err() {
            task.abort();
        }
        self.log
    }
}

/// WatchSummary is what the summary keeps of a watch: aggregates and events, not every sample
/// (those are in the interval log).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchSummary {
    /// What was watched: `pid 1234`, `process \`api\``, `cgroup /sys/fs/cgroup/…`, or
    /// `METRIC at URL`; empty when a plan's watch had no target.
    pub source: String,
    pub interval_s: f64,
    /// Successful reads, and the reads that failed.
    pub samples: u64,
    pub failed_reads: u64,
    pub memory_bytes: Option<MemoryFigures>,
    /// Cores busy: mean and most over the samples (absent without CPU readings).
    pub cpu_mean: Option<f64>,
    pub cpu_max: Option<f64>,
    /// The windows compared for growth.
    pub first_window: Option<Window>,
    pub last_window: Option<Window>,
    /// last_window.mean / first_window.mean − 1.
    pub growth: Option<f64>,
    pub trend: Option<Trend>,
    /// When the target was seen gone (RFC 3339), if it was.
    pub gone_at: Option<String>,
    /// Events (gone, read failed, recovered), at most 100 kept; `event_count` counts them all.
    pub events: Vec<Event>,
    pub event_count: u64,
}

/// MemoryFigures are the samples' memory, bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryFigures {
    pub first: u64,
    pub min: u64,
    pub mean: f64,
    pub max: u64,
    pub last: u64,
    /// Seconds from the schedule's start of the highest sample.
    pub max_at_s: f64,
}

/// Window is a span of samples and their mean memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub from_s: f64,
    pub to_s: f64,
    pub samples: u64,
    pub mean_bytes: f64,
}

/// Trend is the fitted line and its extrapolation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub slope_bytes_per_s: f64,
    /// Sen's 95 % interval for the slope.
    pub slope_low: f64,
    pub slope_high: f64,
    pub points: u64,
    pub horizon_s: f64,
    /// Bytes the line adds over the horizon, and that against its value at the fit's start.
    pub projected_bytes: f64,
    pub projected_growth: f64,
    /// The fitted line's ends: its value at the first and the last sample it was fitted to.
    pub from_s: f64,
    pub to_s: f64,
    pub from_bytes: f64,
    pub to_bytes: f64,
}

/// describe says in a line what a watch samples and how it judges it (`metronome check`).
pub fn describe(w: &Watch) -> String {
    use crate::units::{format_duration, format_share};
    let mut out = match &w.source {
        Some(s) => format!("watch {s} every {}", format_duration(w.interval)),
        None => format!(
            "watch: no target named (give --watch-pid, --watch-process, --watch-cgroup or --watch-url) · every {}",
            format_duration(w.interval)
        ),
    };
    if let Some(g) = w.max_memory_growth {
        out.push_str(&format!(
            " · memory growth fails above +{} (mean of the first window against the last, {} each{})",
            format_share(g),
            w.window
                .map_or_else(|| "10 % of the run".to_string(), format_duration),
            if w.settle.is_zero() {
                String::new()
            } else {
                format!(", after {}", format_duration(w.settle))
            }
        ));
    }
    if let Some(m) = w.max_memory {
        out.push_str(&format!(" · memory fails above {}", format_bytes(m as f64)));
    }
    if let Some(h) = w.memory_horizon {
        out.push_str(&format!(
            " · trend warns when it would pass that over {}",
            format_duration(h)
        ));
    }
    out
}

/// format_bytes writes a byte count for a person: 12.3 MiB.
pub fn format_bytes(b: f64) -> String {
    let a = b.abs();
    let (unit, size) = if a >= (1u64 << 30) as f64 {
        ("GiB", (1u64 << 30) as f64)
    } else if a >= (1u64 << 20) as f64 {
        ("MiB", (1u64 << 20) as f64)
    } else if a >= 1024.0 {
        ("KiB", 1024.0)
    } else {
        return format!("{b:.0} B");
    };
    format!("{:.1} {unit}", b / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_as_comment_lines() {
        let s = Sample {
            t: 12.5,
            memory: 123456,
            cpu: Some(0.25),
        };
        assert_eq!(
            s.comment(),
            "#metronome-watch t=12.500 memory=123456 cpu=0.250"
        );
        assert_eq!(Sample::parse(&s.comment()), Some(s));
        let none = Sample { cpu: None, ..s };
        assert_eq!(Sample::parse(&none.comment()), Some(none));
        assert_eq!(Sample::parse("#metronome-interval start=0"), None);
        assert_eq!(format_bytes(1536.0 * 1024.0), "1.5 MiB");
    }

    #[test]
    fn the_log_times_samples_from_the_start_and_notes_events() {
        let mut log = WatchLog::new(&WatchSource::Pid(1), Duration::from_secs(1));
        let t0 = Instant::now();
        let r = |m, c| {
            Ok(Reading {
                memory: m,
                cpu_s: Some(c),
            })
        };
        log.record(t0, r(100, 1.0));
        log.started(t0 + Duration::from_secs(2));
        log.record(t0 + Duration::from_secs(4), r(200, 3.0));
        log.record(
            t0 + Duration::from_secs(5),
            Err(ReadError::Failed("down".into())),
        );
        log.record(
            t0 + Duration::from_secs(6),
            Err(ReadError::Failed("down".into())),
        );
        log.record(t0 + Duration::from_secs(7), r(300, 3.0));
        log.record(
            t0 + Duration::from_secs(8),
            Err(ReadError::Gone("gone".into())),
        );
        let s = log.samples();
        assert_eq!(s.len(), 3);
        assert!((s[0].t + 2.0).abs() < 1e-6 && (s[1].t - 2.0).abs() < 1e-6);
        assert_eq!(s[1].cpu, Some(0.5));
        let p = log.take_pending();
        assert_eq!(p.len(), 3);
        assert!(log.take_pending().is_empty());
        let kinds: Vec<EventKind> = log.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::ReadFailed, EventKind::Recovered, EventKind::Gone]
        );
        assert_eq!(log.failed_reads, 3);
        assert!((log.gone.as_ref().unwrap().t - 6.0).abs() < 1e-6);
    }
}
