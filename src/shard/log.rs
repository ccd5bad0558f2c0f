//! Merged per-second results: the shards' interval logs added second by second, on one time
//! line from the earliest shard's start, and the history CSV written from the sums.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::plan::Plan;
use crate::report::csv::StatsHistoryWriter;
use crate::report::hlog::{self, HlogWriter};
use crate::report::results::{self, Counts, SoFar};

/// Second is one second of the merged run: its counts and its histograms by tag.
#[derive(Default)]
struct Second {
    counts: Option<Counts>,
    histograms: BTreeMap<Option<String>, Histogram<u64>>,
}

fn empty() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

/// second_of is the whole second an interval starting at `start_s` belongs to.
fn second_of(start_s: f64) -> usize {
    start_s.round().max(0.0) as usize
}

/// write merges interval logs (each with its start's offset from the earliest, in seconds)
/// into `dir`'s interval log and history CSV.
pub fn write(
    logs: &[(&[u8], f64)],
    plan: &Plan,
    started_at: SystemTime,
    dir: &Path,
) -> Result<(), String> {
    let mut seconds: BTreeMap<usize, Second> = BTreeMap::new();
    for &(bytes, offset) in logs {
        for line in String::from_utf8_lossy(bytes).lines() {
            if let Some(mut c) = Counts::parse(line) {
                c.start_s += offset;
                c.end_s += offset;
                let s = seconds.entry(second_of(c.start_s)).or_default();
                match &mut s.counts {
                    Some(sum) => sum.add(&c),
                    None => s.counts = Some(c),
                }
            }
        }
        let mut failed = false;
        hlog::read(bytes, |e| {
            let s = seconds.entry(second_of(e.start_s + offset)).or_default();
            let h = s.histograms.entry(e.tag).or_insert_with(empty);
            failed |= h.add(&e.histogram).is_err();
        })?;
        if failed {
            return Err("an interval histogram could not be merged".into());
        }
    }
    let io = |what: &str, e: std::io::Error| format!("cannot write the merged {what}: {e}");
    let mut log = HlogWriter::create(&dir.join(results::HLOG), plan, started_at)
        .map_err(|e| io("interval log", e))?;
    let file = File::create(dir.join(results::HISTORY_CSV)).map_err(|e| io("history", e))?;
    let mut history =
        StatsHistoryWriter::new(BufWriter::new(file)).map_err(|e| io("history", e))?;
    let none = empty();
    let mut total = empty();
    let (mut requests, mut failures, mut bytes) = (0, 0, 0);
    for (k, s) in &seconds {
        let counts = s.counts.clone().unwrap_or_else(|| Counts {
            start_s: *k as f64,
            end_s: *k as f64 + 1.0,
            ..Counts::default()
        });
        log.write_comment(&counts.comment())
            .map_err(|e| io("interval log", e))?;
        let start = Duration::from_secs_f64(counts.start_s.max(0.0));
        let length = Duration::from_secs_f64((counts.end_s - counts.start_s).max(0.0));
        let mut entries: Vec<(Option<&str>, &Histogram<u64>)> = (s.histograms.iter())
            .map(|(tag, h)| (tag.as_deref(), h))
            .collect();
        if !s.histograms.contains_key(&None) {
            // Every interval has its untagged histogram, empty or not, as a run's log does.
            entries.insert(0, (None, &none));
        }
        log.write_entries(start, length, &entries)
            .map_err(|e| io("interval log", e))?;
        let latency = s.histograms.get(&None).unwrap_or(&none);
        total.add(latency).map_err(|e| format!("{e:?}"))?;
        requests += counts.successes + counts.errors;
        failures += counts.errors;
        bytes += counts.bytes;
        let so_far = SoFar {
            requests,
            failures,
            bytes,
            latency: &total,
        };
        history
            .write(&results::history_row(started_at, &counts, latency, &so_far))
            .map_err(|e| io("history", e))?;
    }
    Ok(())
}
