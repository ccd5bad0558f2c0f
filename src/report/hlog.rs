//! HdrHistogram interval log: one histogram per second per tag, in the standard text format, so
//! results merge across machines and open in existing HdrHistogram tools.
//!
//! Values are microseconds (`-outputValueUnitRatio 1000` makes the HdrHistogram log processor
//! print milliseconds). The untagged histogram of each interval is the latency of all successful
//! responses; tagged ones are `service_time`, `dispatch_lag`, `queue_wait`, `connect`,
//! `error_latency`, and `latency/SCENARIO/NAME/STAGE` per request name and stage (spaces, commas
//! and slashes in names become `_`), so `report` can rebuild per-name and per-stage figures.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::plan::Plan;
use crate::record::{Hist, Recording, Slot};

/// HlogWriter streams a run's interval log to a file.
pub struct HlogWriter {
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    /// Tag of each (scenario, request, stage slot) cell, in the recording's cell order.
    cell_tags: Vec<(usize, usize, Slot, String)>,
}

/// tag_part makes a name safe inside a tag.
pub fn tag_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, ',' | ' ' | '\r' | '\n' | '/') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// cell_tag is the tag of one request name's latency in one stage.
pub fn cell_tag(scenario: &str, name: &str, stage: &str) -> String {
    format!(
        "latency/{}/{}/{}",
        tag_part(scenario),
        tag_part(name),
        tag_part(stage)
    )
}

/// cell_tags are the tag of every (scenario, request, slot) cell of `plan`.
fn cell_tags(plan: &Plan) -> Vec<(usize, usize, Slot, String)> {
    let mut tags = Vec::new();
    for (si, s) in plan.scenarios.iter().enumerate() {
        for (ri, r) in s.requests.iter().enumerate() {
            for (k, st) in s.stages.iter().enumerate() {
                for settling in [false, true] {
                    tags.push((
                        si,
                        ri,
                        Slot::new(k, settling),
                        cell_tag(&s.name, &r.name, &st.name),
                    ));
                }
            }
        }
    }
    tags
}

impl HlogWriter {
    /// create starts a log at `path` for a run of `plan` that started at `started_at`.
    pub fn create(path: &Path, plan: &Plan, started_at: SystemTime) -> io::Result<HlogWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("metronome {} interval log, plan {}", env!("CARGO_PKG_VERSION"), plan.name))
            .add_comment("Values are in microseconds: use -outputValueUnitRatio 1000 for milliseconds.")
            .add_comment("Untagged: latency of successful responses (from intended time). Tagged: service_time, dispatch_lag, queue_wait, connect, error_latency, latency/SCENARIO/NAME/STAGE.")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .begin_log_with(&mut out, &mut serializer)?;
        writeln!(
            out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        Ok(HlogWriter {
            out,
            serializer,
            cell_tags: cell_tags(plan),
        })
    }

    /// steered tags the cells of the plan as steered now (see `steer`).
    pub fn steered(&mut self, plan: &Plan) {
        self.cell_tags = cell_tags(plan);
    }

    /// write_comment writes a comment line (standard tools skip it).
    pub fn write_comment(&mut self, line: &str) -> io::Result<()> {
        let line = line.strip_prefix('#').unwrap_or(line);
        writeln!(self.out, "#{line}")
    }

    /// write_interval writes the histograms of one interval [start, end).
    pub fn write_interval(
        &mut self,
        start: Duration,
        end: Duration,
        rec: &Recording,
    ) -> io::Result<()> {
        let (engine, all) = rec.totals();
        let length = end.saturating_sub(start);
        let mut entries: Vec<(Option<String>, Hist)> = vec![
            (None, all.latency),
            (Some("service_time".into()), all.service_time),
            (Some("error_latency".into()), all.error_latency),
            (Some("dispatch_lag".into()), engine.dispatch_lag),
            (Some("queue_wait".into()), engine.queue_wait),
            (Some("connect".into()), engine.connect),
        ];
        // A stage's settle slot and the rest share a tag: merge them first.
        let mut i = 0;
        while i < self.cell_tags.len() {
            let (si, ri, k, tag) = &self.cell_tags[i];
            let mut h = rec.cell(*si, *ri, *k).latency.clone();
            let (si2, ri2, k2, _) = &self.cell_tags[i + 1];
            h.merge(&rec.cell(*si2, *ri2, *k2).latency);
            if h.count() > 0 {
                entries.push((Some(tag.clone()), h));
            }
            i += 2;
        }
        let entries: Vec<(Option<&str>, &Histogram<u64>)> = (entries.iter())
            .filter(|(tag, h)| tag.is_none() || h.count() > 0)
            .map(|(tag, h)| (tag.as_deref(), h.histogram()))
            .collect();
        self.write_entries(start, length, &entries)
    }

    /// write_entries writes one interval's histograms, each with its tag (None: untagged).
    pub fn write_entries(
        &mut self,
        start: Duration,
        length: Duration,
        entries: &[(Option<&str>, &Histogram<u64>)],
    ) -> io::Result<()> {
        let mut writer =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        for (tag, h) in entries {
            writer
                .write_histogram(h, start, length, tag.and_then(Tag::new))
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        self.out.flush()
    }
}

/// Entry is one interval histogram read back from a log.
pub struct Entry {
    /// The tag, None for the untagged (overall latency) histogram.
    pub tag: Option<String>,
    /// Interval start, seconds from the log's base time.
    pub start_s: f64,
    /// Interval length in seconds.
    pub length_s: f64,
    /// The histogram, in microseconds.
    pub histogram: Histogram<u64>,
}

/// read calls `f` for every interval histogram in a log, in order.
pub fn read(bytes: &[u8], mut f: impl FnMut(Entry)) -> Result<(), String> {
    let mut deserializer = Deserializer::new();
    for item in IntervalLogIterator::new(bytes) {
        let entry = item.map_err(|e| format!("the interval log cannot be parsed: {e:?}"))?;
        let LogEntry::Interval(h) = entry else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .map_err(|e| format!("an interval histogram is not base64: {e}"))?;
        let histogram: Histogram<u64> = deserializer
            .deserialize(&mut &raw[..])
            .map_err(|e| format!("an interval histogram cannot be decoded: {e:?}"))?;
        f(Entry {
            tag: h.tag().map(|t| t.as_str().to_string()),
            start_s: h.start_timestamp().as_secs_f64(),
            length_s: h.duration().as_secs_f64(),
            histogram,
        });
    }
    Ok(())
}
