//! Results: the files a run streams as it goes (the HdrHistogram interval log with per-second
//! counts in its comments, and the Locust-style history CSV), and `ReportData` built back from
//! them and the summary, so a report renders the same at the end of a run and later from
//! `metronome report`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::csv::{HistoryRow, PERCENTILES, StatsHistoryWriter};
use super::data::{Bucket, NamePercentiles, Quantiles, ReportData, SpectrumPoint};
use super::hlog::{self, HlogWriter};
use crate::plan::Plan;
use crate::record::{ErrorKind, Recording};
use crate::recorder::{Interval, IntervalSink};
use crate::schedule::{Schedule, ShardOf};
use crate::summary::Summary;

/// File names inside an output directory.
pub const SUMMARY_JSON: &str = "summary.json";
pub const HLOG: &str = "latency.hlog";
pub const HGRM: &str = "latency.hgrm";
pub const REPORT_HTML: &str = "report.html";
pub const STATS_CSV: &str = "stats.csv";
pub const HISTORY_CSV: &str = "stats_history.csv";
pub const FAILURES_CSV: &str = "failures.csv";

const COUNTS_PREFIX: &str = "#metronome-interval ";

/// ResultsWriter streams each closed interval to the interval log and the history CSV.
pub struct ResultsWriter {
    hlog: HlogWriter,
    history: StatsHistoryWriter<BufWriter<File>>,
    started_at: SystemTime,
    schedules: Vec<Schedule>,
    /// This process's share of the schedules' rates.
    shard: ShardOf,
    /// The target's samples, written as comment lines before each interval.
    watch: Option<crate::watch::Shared>,
}

impl ResultsWriter {
    /// create opens the streamed files in `dir` for a run of `plan` that started at `started_at`.
    pub fn create(dir: &Path, plan: &Plan, started_at: SystemTime) -> io::Result<ResultsWriter> {
        Ok(ResultsWriter {
            hlog: HlogWriter::create(&dir.join(HLOG), plan, started_at)?,
            history: StatsHistoryWriter::new(BufWriter::new(File::create(dir.join(HISTORY_CSV))?))?,
            started_at,
            schedules: plan.schedules(),
            shard: plan.shard,
            watch: None,
        })
    }

    /// watching writes the samples of a watch into the interval log and the history CSV.
    pub fn watching(mut self, log: Option<crate::watch::Shared>) -> ResultsWriter {
        self.watch = log;
        self
    }
}

fn quantile(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

impl IntervalSink for ResultsWriter {
    fn interval(
        &mut self,
        start: Duration,
        end: Duration,
        rec: &Recording,
        totals: &Recording,
        counts: &Interval,
    ) -> io::Result<()> {
        let mid = start + (end.saturating_sub(start)) / 2;
        let target_rate = (self.shard).share(self.schedules.iter().map(|s| s.rate_at(mid)).sum());
        let (_, cells) = rec.totals();
        let line = Counts {
            start_s: start.as_secs_f64(),
            end_s: end.as_secs_f64(),
            target_rate,
            scheduled: counts.scheduled,
            dropped: counts.dropped,
            successes: counts.successes,
            errors: counts.errors,
            in_flight: counts.in_flight,
            bytes: cells.bytes,
            kinds: ErrorKind::ALL
                .iter()
                .filter(|&&k| cells.errors.get(k) > 0)
                .map(|&k| (k.name().to_string(), cells.errors.get(k)))
                .collect(),
        };
        let mut memory = None;
        if let Some(log) = &self.watch {
            let mut log = log.lock().expect("not poisoned");
            for sample in log.take_pending() {
                self.hlog.write_comment(&sample.comment())?;
            }
            memory = log.latest().map(|s| s.memory);
        }
        self.hlog.write_comment(&line.comment())?;
        self.hlog.write_interval(start, end, rec)?;
        let (_, all) = totals.totals();
        let so_far = SoFar {
            requests: all.requests(),
            failures: all.errors.total(),
            bytes: all.bytes,
            latency: all.latency.histogram(),
        };
        let mut row = history_row(self.started_at, &line, cells.latency.histogram(), &so_far);
        row.target_memory = memory;
        self.history.write(&row)
    }

    fn steered(&mut self, plan: &Plan) {
        self.schedules = plan.schedules();
        self.hlog.steered(plan);
    }
}

/// SoFar is what a run recorded from its start to the end of an interval.
pub struct SoFar<'a> {
    pub requests: u64,
    pub failures: u64,
    /// Body bytes of successful responses.
    pub bytes: u64,
    /// Latency of successful responses.
    pub latency: &'a Histogram<u64>,
}

/// history_row is one second's row of the history CSV: its counts and latency, and the run's
/// figures so far.
pub fn history_row(
    started_at: SystemTime,
    c: &Counts,
    latency: &Histogram<u64>,
    so_far: &SoFar,
) -> HistoryRow {
    let secs = (c.end_s - c.start_s).max(1e-9);
    let total = so_far.latency;
    HistoryRow {
        timestamp: (started_at + Duration::from_secs_f64(c.end_s.max(0.0)))
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        in_flight: c.in_flight,
        target_rate: c.target_rate,
        requests_per_s: (c.successes + c.errors) as f64 / secs,
        failures_per_s: c.errors as f64 / secs,
        percentiles: PERCENTILES
            .iter()
            .map(|&p| (p, quantile(latency, p / 100.0)))
            .collect(),
        total_requests: so_far.requests,
        total_failures: so_far.failures,
        total_median_us: quantile(total, 0.5),
        total_mean_us: (!total.is_empty()).then(|| total.mean()),
        total_min_us: (!total.is_empty()).then(|| total.min()),
        total_max_us: (!total.is_empty()).then(|| total.max()),
        total_avg_content_size: if total.is_empty() {
            0.0
        } else {
            so_far.bytes as f64 / total.len() as f64
        },
        target_memory: None,
    }
}

/// Counts are one interval's counts as written in the log's comments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub start_s: f64,
    pub end_s: f64,
    pub target_rate: f64,
    pub scheduled: u64,
    pub dropped: u64,
    pub successes: u64,
    pub errors: u64,
    pub in_flight: u64,
    /// Body bytes of the interval's successful responses (0 in logs written before it was kept).
    pub bytes: u64,
    pub kinds: BTreeMap<String, u64>,
}

impl Counts {
    /// parse reads a counts comment; None for any other line.
    pub fn parse(line: &str) -> Option<Counts> {
        parse_counts(line)
    }

    /// comment is the line the interval log carries these counts in.
    pub fn comment(&self) -> String {
        let kinds: Vec<String> = (self.kinds.iter())
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        format!(
            "{COUNTS_PREFIX}start={:.3} end={:.3} target_rate={:.3} scheduled={} dropped={} successes={} errors={} in_flight={} bytes={} kinds={}",
            self.start_s,
            self.end_s,
            self.target_rate,
            self.scheduled,
            self.dropped,
            self.successes,
            self.errors,
            self.in_flight,
            self.bytes,
            kinds.join(";")
        )
    }

    /// add adds another interval's counts (of another shard, over the same second).
    pub fn add(&mut self, o: &Counts) {
        self.start_s = self.start_s.min(o.start_s);
        self.end_s = self.end_s.max(o.end_s);
        self.target_rate += o.target_rate;
        self.scheduled += o.scheduled;
        self.dropped += o.dropped;
        self.successes += o.successes;
        self.errors += o.errors;
        self.in_flight += o.in_flight;
        self.bytes += o.bytes;
        for (k, n) in &o.kinds {
            *self.kinds.entry(k.clone()).or_default() += n;
        }
    }
}

fn parse_counts(line: &str) -> Option<Counts> {
    let rest = line.strip_prefix(COUNTS_PREFIX)?;
    let mut c = Counts::default();
    for field in rest.split(' ') {
        let (k, v) = field.split_once('=')?;
        match k {
            "start" => c.start_s = v.parse().ok()?,
            "end" => c.end_s = v.parse().ok()?,
            "target_rate" => c.target_rate = v.parse().ok()?,
            "scheduled" => c.scheduled = v.parse().ok()?,
            "dropped" => c.dropped = v.parse().ok()?,
            "successes" => c.successes = v.parse().ok()?,
            "errors" => c.errors = v.parse().ok()?,
            "in_flight" => c.in_flight = v.parse().ok()?,
            "bytes" => c.bytes = v.parse().ok()?,
            "kinds" => {
                for kv in v.split(';').filter(|s| !s.is_empty()) {
                    let (name, n) = kv.split_once(':')?;
                    c.kinds.insert(name.to_string(), n.parse().ok()?);
                }
            }
            _ => {}
        }
    }
    Some(c)
}

/// MAX_BUCKETS bounds the timeline of a report: longer runs merge seconds into coarser buckets.
pub const MAX_BUCKETS: usize = 1000;

fn quantiles(h: &Histogram<u64>) -> Quantiles {
    Quantiles {
        p50: quantile(h, 0.5),
        p95: quantile(h, 0.95),
        p99: quantile(h, 0.99),
        max: (!h.is_empty()).then(|| h.max()),
    }
}

fn empty() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

fn spectrum(h: &Histogram<u64>) -> Vec<SpectrumPoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<SpectrumPoint> = h
        .iter_quantiles(5)
        .map(|v| SpectrumPoint {
            percentile: v.quantile_iterated_to() * 100.0,
            value_us: v.value_iterated_to(),
        })
        .collect();
    out.dedup_by(|a, b| a.percentile == b.percentile);
    out
}

struct Acc {
    counts: Counts,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    /// The three histograms' quantiles, once the bucket is complete and they are let go.
    read: Option<(Quantiles, Quantiles, Quantiles)>,
    seconds: f64,
}

/// build makes the report data of a run from its summary and its interval log.
pub fn build(summary: Summary, hlog_bytes: &[u8]) -> Result<ReportData, String> {
    let text = String::from_utf8_lossy(hlog_bytes);
    let intervals: Vec<Counts> = text.lines().filter_map(parse_counts).collect();
    let end = intervals.last().map_or(0.0, |c| c.end_s);
    let width = (end / MAX_BUCKETS as f64).ceil().max(1.0);
    let n = ((end / width).ceil() as usize).max(usize::from(!intervals.is_empty()));
    let mut acc: Vec<Acc> = (0..n)
        .map(|i| Acc {
            counts: Counts {
                start_s: i as f64 * width,
                end_s: ((i + 1) as f64 * width).min(end),
                ..Counts::default()
            },
            latency: empty(),
            service: empty(),
            lag: empty(),
            read: None,
            seconds: 0.0,
        })
        .collect();
    // The log is in time order: once it has moved past a bucket, that bucket's quantiles are
    // read and its histograms let go, so memory holds one bucket's, not a thousand.
    let settle = |a: &mut Acc| {
        if a.read.is_none() {
            a.read = Some((
                quantiles(&a.latency),
                quantiles(&a.service),
                quantiles(&a.lag),
            ));
            (a.latency, a.service, a.lag) = (empty(), empty(), empty());
        }
    };
    let mut settled = 0;
    let index =
        |end_s: f64| (((end_s - 1e-6) / width).floor().max(0.0) as usize).min(n.saturating_sub(1));
    for c in &intervals {
        let a = &mut acc[index(c.end_s)];
        let secs = c.end_s - c.start_s;
        a.counts.target_rate += c.target_rate * secs;
        a.seconds += secs;
        a.counts.scheduled += c.scheduled;
        a.counts.dropped += c.dropped;
        a.counts.successes += c.successes;
        a.counts.errors += c.errors;
        a.counts.in_flight = c.in_flight;
        for (k, v) in &c.kinds {
            *a.counts.kinds.entry(k.clone()).or_default() += v;
        }
    }
    let mut all_latency = empty();
    let mut all_service = empty();
    let mut by_name: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut failure = None;
    hlog::read(hlog_bytes, |e| {
        let i = index(e.start_s + e.length_s);
        // One bucket of slack: a log's last partial second may end past the next full one.
        while settled + 1 < i {
            settle(&mut acc[settled]);
            settled += 1;
        }
        let a = &mut acc[i];
        if a.read.is_some() {
            // Out of order after all: take this bucket's figures up again.
            failure.get_or_insert_with(|| "the interval log is out of time order".to_string());
            return;
        }
        let add = |into: &mut Histogram<u64>, h: &Histogram<u64>| into.add(h).is_ok();
        let ok = match e.tag.as_deref() {
            None => add(&mut a.latency, &e.histogram) && add(&mut all_latency, &e.histogram),
            Some("service_time") => {
                add(&mut a.service, &e.histogram) && add(&mut all_service, &e.histogram)
            }
            Some("dispatch_lag") => add(&mut a.lag, &e.histogram),
            Some(tag) if tag.starts_with("latency/") => {
                // latency/SCENARIO/NAME/STAGE: per-name figures merge the stages.
                let key = tag.rsplit_once('/').map_or(tag, |(k, _)| k).to_string();
                add(by_name.entry(key).or_insert_with(empty), &e.histogram)
            }
            Some(_) => true,
        };
        if !ok {
            failure.get_or_insert_with(|| "an interval histogram could not be merged".to_string());
        }
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    acc.iter_mut().for_each(settle);
    let buckets = acc
        .into_iter()
        .map(|a| {
            let (latency, service_time, dispatch_lag) = a.read.expect("every bucket settled");
            let span = (a.counts.end_s - a.counts.start_s).max(1e-9);
            Bucket {
                start_s: a.counts.start_s,
                end_s: a.counts.end_s,
                target_rate: if a.seconds > 0.0 {
                    a.counts.target_rate / a.seconds
                } else {
                    0.0
                },
                achieved_rate: (a.counts.scheduled - a.counts.dropped) as f64 / span,
                successes: a.counts.successes,
                errors: a.counts.errors,
                error_kinds: a.counts.kinds,
                dropped: a.counts.dropped,
                in_flight: a.counts.in_flight,
                latency,
                service_time,
                dispatch_lag,
            }
        })
        .collect();
    let percentiles = |h: &Histogram<u64>| -> Vec<(f64, u64)> {
        PERCENTILES
            .iter()
            .map(|&p| {
                (
                    p,
                    if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(p / 100.0)
                    },
                )
            })
            .collect()
    };
    let mut name_percentiles: Vec<NamePercentiles> = summary
        .by_name
        .iter()
        .map(|n| {
            let key = hlog::cell_tag(&n.scenario, &n.name, "x");
            let key = key.rsplit_once('/').map_or(key.as_str(), |(k, _)| k);
            let h = by_name.get(key).cloned().unwrap_or_else(empty);
            NamePercentiles {
                scenario: n.scenario.clone(),
                name: n.name.clone(),
                percentiles: percentiles(&h),
                min_us: if h.is_empty() { 0 } else { h.min() },
            }
        })
        .collect();
    name_percentiles.push(NamePercentiles {
        scenario: String::new(),
        name: "Aggregated".into(),
        percentiles: percentiles(&all_latency),
        min_us: if all_latency.is_empty() {
            0
        } else {
            all_latency.min()
        },
    });
    let watch_samples = text
        .lines()
        .filter_map(crate::watch::Sample::parse)
        .collect();
    Ok(ReportData {
        watch_samples,
        plan_text: summary.plan_description.clone(),
        summary,
        buckets,
        latency_spectrum: spectrum(&all_latency),
        service_spectrum: spectrum(&all_service),
        name_percentiles,
    })
}

/// Saved is a run's results read back from its files.
#[derive(Debug)]
pub struct Saved {
    /// The directory they were read from, where summary.json is.
    pub dir: PathBuf,
    /// What the reports are built from.
    pub data: ReportData,
    /// The interval log as read: the percentile-spectrum file is made from it.
    pub hlog: Vec<u8>,
}

/// LoadError says which of a run's saved files could not be read, and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The interval log is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    NoLog { path: PathBuf, source: io::Error },
    /// The summary beside it is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    NoSummary { path: PathBuf, source: io::Error },
    /// The summary is not JSON of the summary's schema.
    #[error("{} is not a metronome summary: {source}", path.display())]
    NotASummary {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The two files were read but do not make report data.
    #[error("{0}")]
    Invalid(String),
}

/// load reads a run's saved results: `path` is a run's output directory, or its latency.hlog
/// with summary.json beside it. The interval log is read first, so a wrong path is reported as
/// the log it does not lead to.
pub fn load(path: &Path) -> Result<Saved, LoadError> {
    let (dir, hlog_path) = if path.is_dir() {
        (path.to_path_buf(), path.join(HLOG))
    } else {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (dir, path.to_path_buf())
    };
    let hlog = std::fs::read(&hlog_path).map_err(|source| LoadError::NoLog {
        path: hlog_path,
        source,
    })?;
    let summary_path = dir.join(SUMMARY_JSON);
    let bytes = std::fs::read(&summary_path).map_err(|source| LoadError::NoSummary {
        path: summary_path.clone(),
        source,
    })?;
    let summary: Summary =
        serde_json::from_slice(&bytes).map_err(|source| LoadError::NotASummary {
            path: summary_path,
            source,
        })?;
    let data = build(summary, &hlog).map_err(LoadError::Invalid)?;
    Ok(Saved { dir, data, hlog })
}

/// merged_latency merges every untagged (overall latency) histogram of an interval log.
pub fn merged_latency(hlog_bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let mut all = empty();
    let mut ok = true;
    hlog::read(hlog_bytes, |e| {
        if e.tag.is_none() {
            ok &= all.add(&e.histogram).is_ok();
        }
    })?;
    if ok {
        Ok(all)
    } else {
        Err("an interval histogram could not be merged".into())
    }
}
