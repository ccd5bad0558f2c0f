//! Saved recordings: a run's whole `Recording` written out and read back exactly, so the
//! recordings of several processes (shards of one schedule) can be merged as the recorder
//! merges its workers' handovers. Histograms are kept whole (HdrHistogram's V2 format,
//! compressed, base64), never as percentiles: percentiles of a merge are read from the merged
//! histogram.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::{Cell, ErrorCounts, ErrorKind, Hist, Layout, Recording, StageCell};

/// SavedRecording is a `Recording` in a form JSON can carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRecording {
    /// (requests, stages) per scenario: the layout the cells are indexed by.
    pub layout: Vec<(usize, usize)>,
    pub cells: Vec<SavedCell>,
    pub stages: Vec<SavedStage>,
    pub clamped: u64,
}

/// SavedCell is a `Cell`: one request name in one stage slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedCell {
    pub latency: String,
    pub service_time: String,
    pub error_latency: String,
    /// Errors by kind name; kinds with none are left out.
    pub errors: BTreeMap<String, u64>,
    pub bytes: u64,
    pub check_failures: Vec<String>,
}

/// SavedStage is a `StageCell`: the engine's figures for one stage slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedStage {
    pub dispatch_lag: String,
    pub queue_wait: String,
    pub connect: String,
    pub tls_handshake: String,
    pub scheduled: u64,
    pub dropped: u64,
    pub new_connections: u64,
}

/// SavedRecordingError is why a saved recording cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum SavedRecordingError {
    #[error("a histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("a histogram cannot be decoded: {0:?}")]
    Histogram(hdrhistogram::serialization::DeserializeError),
    #[error(
        "the cells do not match the layout ({cells} cells and {stages} stage cells for a layout of {want_cells} and {want_stages})"
    )]
    Shape {
        cells: usize,
        stages: usize,
        want_cells: usize,
        want_stages: usize,
    },
    #[error("unknown error kind `{0}`")]
    Kind(String),
}

fn save(h: &Hist) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h.histogram(), &mut bytes)
        .expect("serializing into memory does not fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn load(text: &str) -> Result<Hist, SavedRecordingError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(SavedRecordingError::Histogram)?;
    let mut out = Hist::default();
    out.merge(&Hist::from(h));
    Ok(out)
}

impl SavedRecording {
    /// of saves a recording.
    pub fn of(r: &Recording) -> SavedRecording {
        SavedRecording {
            layout: r.layout.shape(),
            cells: (r.cells.iter())
                .map(|c| SavedCell {
                    latency: save(&c.latency),
                    service_time: save(&c.service_time),
                    error_latency: save(&c.error_latency),
                    errors: (ErrorKind::ALL.iter())
                        .filter(|&&k| c.errors.get(k) > 0)
                        .map(|&k| (k.name().to_string(), c.errors.get(k)))
                        .collect(),
                    bytes: c.bytes,
                    check_failures: c.check_failures.clone(),
                })
                .collect(),
            stages: (r.stages.iter())
                .map(|s| SavedStage {
                    dispatch_lag: save(&s.dispatch_lag),
                    queue_wait: save(&s.queue_wait),
                    connect: save(&s.connect),
                    tls_handshake: save(&s.tls_handshake),
                    scheduled: s.scheduled,
                    dropped: s.dropped,
                    new_connections: s.new_connections,
                })
                .collect(),
            clamped: r.clamped,
        }
    }

    /// recording reads the recording back.
    pub fn recording(&self) -> Result<Recording, SavedRecordingError> {
        let layout = Arc::new(Layout::new(self.layout.clone()));
        let (want_cells, want_stages) = (
            *layout.cell_base.last().unwrap(),
            *layout.stage_base.last().unwrap(),
        );
        if self.cells.len() != want_cells || self.stages.len() != want_stages {
            return Err(SavedRecordingError::Shape {
                cells: self.cells.len(),
                stages: self.stages.len(),
                want_cells,
                want_stages,
            });
        }
        let kind = |name: &str| {
            (ErrorKind::ALL.iter().copied())
                .find(|k| k.name() == name)
                .ok_or_else(|| SavedRecordingError::Kind(name.to_string()))
        };
        let mut cells = Vec::with_capacity(self.cells.len());
        for c in &self.cells {
            let mut errors = ErrorCounts::default();
            for (name, &n) in &c.errors {
                errors.add_n(kind(name)?, n);
            }
            cells.push(Cell {
                latency: load(&c.latency)?,
                service_time: load(&c.service_time)?,
                error_latency: load(&c.error_latency)?,
                errors,
                bytes: c.bytes,
                check_failures: c.check_failures.clone(),
            });
        }
        let mut stages = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            stages.push(StageCell {
                dispatch_lag: load(&s.dispatch_lag)?,
                queue_wait: load(&s.queue_wait)?,
                connect: load(&s.connect)?,
                tls_handshake: load(&s.tls_handshake)?,
                scheduled: s.scheduled,
                dropped: s.dropped,
                new_connections: s.new_connections,
            });
        }
        Ok(Recording {
            layout,
            cells,
            stages,
            clamped: self.clamped,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{Outcome, Slot};

    #[test]
    fn a_recording_reads_back_exactly() {
        let mut r = Recording::new(Arc::new(Layout::new(vec![(2, 2), (1, 1)])));
        let slot = Slot::new(1, true);
        for us in [3u64, 70, 900, 12_000, 4_000_000] {
            r.dispatched(0, slot, Duration::from_micros(us / 10), false);
            r.outcome(&Outcome {
                scenario: 0,
                request: 1,
                slot,
                latency: Duration::from_micros(us),
                queue_wait: Duration::from_micros(us / 2),
                connect: Some(Duration::from_micros(40)),
                tls: None,
                service_time: Duration::from_micros(us / 3),
                result: if us > 1000 {
                    Err(ErrorKind::RequestTimeout)
                } else {
                    Ok(us)
                },
                check_failure: None,
            });
        }
        r.dispatched(1, Slot::new(0, false), Duration::ZERO, true);
        let saved = SavedRecording::of(&r);
        let json = serde_json::to_string(&saved).unwrap();
        let back: SavedRecording = serde_json::from_str(&json).unwrap();
        let b = back.recording().unwrap();
        // The same values in every histogram (its memory layout may differ: read back, a
        // histogram is sized for what it holds).
        let values = |h: &Hist| -> Vec<(u64, u64)> {
            (h.histogram().iter_recorded())
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        for (x, y) in r.cells.iter().zip(&b.cells) {
            for (hx, hy) in [
                (&x.latency, &y.latency),
                (&x.service_time, &y.service_time),
                (&x.error_latency, &y.error_latency),
            ] {
                assert_eq!(values(hx), values(hy));
            }
            assert_eq!((&x.errors, x.bytes), (&y.errors, y.bytes));
        }
        for (x, y) in r.stages.iter().zip(&b.stages) {
            for (hx, hy) in [
                (&x.dispatch_lag, &y.dispatch_lag),
                (&x.queue_wait, &y.queue_wait),
                (&x.connect, &y.connect),
            ] {
                assert_eq!(values(hx), values(hy));
            }
            assert_eq!((x.scheduled, x.dropped), (y.scheduled, y.dropped));
        }
        assert_eq!(b.totals().1.errors.get(ErrorKind::RequestTimeout), 2);
    }

    #[test]
    fn a_recording_of_another_layout_is_refused() {
        let r = Recording::new(Arc::new(Layout::new(vec![(2, 2)])));
        let mut saved = SavedRecording::of(&r);
        saved.layout = vec![(3, 2)];
        assert!(matches!(
            saved.recording(),
            Err(SavedRecordingError::Shape { .. })
        ));
    }
}
