//! stats_history.csv: one `Aggregated` row a second, streamed while the run goes (so a 24 h run
//! needs no memory for it), in Locust's columns and then three of metronome's; and the reader of
//! such a file, Locust's own included. The figures of a second come from the results writer
//! (`results.rs`), which owns the histograms; this file only lays them out and reads them back.

use std::io::{self, Write};

use super::{AGGREGATED, Column, NA, PERCENTILE_COLUMNS, PERCENTILES, Table};
use super::{ms_float, ms_int, parse_records, py_float};

/// HistoryRow is one second of the run for stats_history.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// End of the second, unix seconds.
    pub timestamp: u64,
    /// Arrivals in flight at the end of the second.
    pub in_flight: u64,
    /// Rate the schedule asked for in the second, requests/s.
    pub target_rate: f64,
    /// Requests (responses and errors) that ended in the second, per second.
    pub requests_per_s: f64,
    /// Errors in the second, per second.
    pub failures_per_s: f64,
    /// This second's latency of successful responses at 50, 66, 75, 80, 90, 95, 98, 99, 99.9,
    /// 99.99 and 100 %, µs; None when the second had none.
    pub percentiles: Vec<(f64, Option<u64>)>,
    /// Requests that ended since the start.
    pub total_requests: u64,
    /// Errors since the start.
    pub total_failures: u64,
    /// Median latency of successful responses since the start, µs.
    pub total_median_us: Option<u64>,
    /// Mean latency of successful responses since the start, µs.
    pub total_mean_us: Option<f64>,
    /// Smallest latency since the start, µs.
    pub total_min_us: Option<u64>,
    /// Largest latency since the start, µs.
    pub total_max_us: Option<u64>,
    /// Body bytes ÷ successful responses since the start.
    pub total_avg_content_size: f64,
    /// The watched target's latest memory sample by the end of the second, bytes; None when
    /// nothing is watched.
    pub target_memory: Option<u64>,
}

impl HistoryRow {
    /// has_data tells whether a successful response had been counted by the end of the second:
    /// Locust's none-values (`0`, `0.0`) stand in the Total time columns when not.
    fn has_data(&self) -> bool {
        self.total_requests > self.total_failures
    }
}

/// total_ms is a Total time column: whole ms, or `0` before any successful response.
fn total_ms(row: &HistoryRow, us: Option<u64>, format: fn(u64) -> String) -> String {
    match us {
        Some(v) if row.has_data() => format(v),
        _ => "0".to_string(),
    }
}

/// COLUMNS are stats_history.csv's: Locust's, then `Target Rate`, `In Flight` and `Target
/// Memory`.
const COLUMNS: &[Column<HistoryRow>] = &[
    Column::One("Timestamp", |r| r.timestamp.to_string()),
    Column::One("User Count", |r| r.in_flight.to_string()),
    Column::One("Type", |_| String::new()),
    Column::One("Name", |_| AGGREGATED.to_string()),
    // Locust writes these with f"{x:2f}": six decimals.
    Column::One("Requests/s", |r| format!("{:.6}", r.requests_per_s)),
    Column::One("Failures/s", |r| format!("{:.6}", r.failures_per_s)),
    Column::Percentiles(|r| r.percentiles.clone()),
    Column::One("Total Request Count", |r| r.total_requests.to_string()),
    Column::One("Total Failure Count", |r| r.total_failures.to_string()),
    Column::One("Total Median Response Time", |r| {
        total_ms(r, r.total_median_us, ms_int)
    }),
    Column::One("Total Average Response Time", |r| match r.total_mean_us {
        Some(v) if r.has_data() => ms_float(v),
        _ => "0.0".to_string(),
    }),
    Column::One("Total Min Response Time", |r| {
        total_ms(r, r.total_min_us, |v| ms_float(v as f64))
    }),
    Column::One("Total Max Response Time", |r| {
        total_ms(r, r.total_max_us, |v| ms_float(v as f64))
    }),
    Column::One("Total Average Content Size", |r| {
        if r.total_requests == 0 {
            "0".to_string()
        } else {
            py_float(r.total_avg_content_size)
        }
    }),
    Column::One("Target Rate", |r| py_float(r.target_rate)),
    Column::One("In Flight", |r| r.in_flight.to_string()),
    Column::One("Target Memory", |r| {
        r.target_memory.map_or_else(String::new, |m| m.to_string())
    }),
];

/// StatsHistoryWriter streams stats_history.csv one row per second (header written on
/// creation), so a 24 h run needs no memory for it; it flushes after each row.
pub struct StatsHistoryWriter<W: Write> {
    table: Table<HistoryRow, W>,
}

impl<W: Write> StatsHistoryWriter<W> {
    /// new writes the header.
    pub fn new(w: W) -> io::Result<Self> {
        let mut table = Table::new(COLUMNS, w)?;
        table.out.flush()?;
        Ok(StatsHistoryWriter { table })
    }

    /// write appends one row and flushes it.
    pub fn write(&mut self, row: &HistoryRow) -> io::Result<()> {
        self.table.row(row)?;
        self.table.out.flush()
    }

    /// into_inner gives the writer back.
    pub fn into_inner(self) -> W {
        self.table.out
    }
}

/// read_history parses a stats_history.csv written by StatsHistoryWriter back into rows (for
/// `metronome report`). It reads only the `Aggregated` rows, finds columns by their header,
/// and also reads Locust's own file (Target Rate 0, In Flight from User Count). Whole-ms
/// columns come back as whole ms in µs; the none-values Locust writes as `0` come back as None
/// when no successful response had been counted yet.
pub fn read_history(text: &str) -> Result<Vec<HistoryRow>, String> {
    let mut records = parse_records(text)?.into_iter();
    let Some((_, header)) = records.next() else {
        return Err("stats_history.csv is empty: it has no header".into());
    };
    let column = |name: &str| header.iter().position(|h| h == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            format!("stats_history.csv has no \"{name}\" column in its header; is it a stats_history.csv file?")
        })
    };
    let timestamp = required("Timestamp")?;
    let users = required("User Count")?;
    let name = required("Name")?;
    let rps = required("Requests/s")?;
    let fps = required("Failures/s")?;
    let percentiles = (PERCENTILE_COLUMNS.iter())
        .map(|c| required(c))
        .collect::<Result<Vec<_>, _>>()?;
    let total_requests = required("Total Request Count")?;
    let total_failures = required("Total Failure Count")?;
    let total_median = required("Total Median Response Time")?;
    let total_mean = required("Total Average Response Time")?;
    let total_min = required("Total Min Response Time")?;
    let total_max = required("Total Max Response Time")?;
    let total_content = required("Total Average Content Size")?;
    let target_rate = column("Target Rate");
    let in_flight = column("In Flight");
    let target_memory = column("Target Memory");

    let mut rows = Vec::new();
    for (line, r) in records {
        let get = |i: usize| -> Result<&str, String> {
            r.get(i).map(|s| s.trim()).ok_or_else(|| {
                format!(
                    "stats_history.csv line {line}: {} fields where the header has {}",
                    r.len(),
                    header.len()
                )
            })
        };
        let number = |i: usize| -> Result<f64, String> {
            let s = get(i)?;
            s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                format!(
                    "stats_history.csv line {line}, column \"{}\": cannot read \"{s}\" as a number",
                    header[i]
                )
            })
        };
        let count = |i: usize| -> Result<u64, String> {
            let v = number(i)?;
            if v < 0.0 {
                return Err(format!(
                    "stats_history.csv line {line}, column \"{}\": a count cannot be negative ({v})",
                    header[i]
                ));
            }
            Ok(v.round() as u64)
        };
        let ms_to_us = |ms: f64| (ms * 1000.0).round().max(0.0);
        if get(name)? != AGGREGATED {
            continue;
        }
        let total_requests = count(total_requests)?;
        let total_failures = count(total_failures)?;
        let has = total_requests > total_failures;
        let when = |v: f64| has.then_some(v);
        let mut ps = Vec::with_capacity(PERCENTILES.len());
        for (&p, &i) in PERCENTILES.iter().zip(&percentiles) {
            let s = get(i)?;
            let v = if s == NA || s.is_empty() {
                None
            } else {
                Some(ms_to_us(number(i)?) as u64)
            };
            ps.push((p, v));
        }
        rows.push(HistoryRow {
            timestamp: count(timestamp)?,
            in_flight: count(in_flight.unwrap_or(users))?,
            target_rate: target_rate.map(number).transpose()?.unwrap_or(0.0),
            requests_per_s: number(rps)?,
            failures_per_s: number(fps)?,
            percentiles: ps,
            total_requests,
            total_failures,
            total_median_us: when(ms_to_us(number(total_median)?)).map(|v| v as u64),
            total_mean_us: when(ms_to_us(number(total_mean)?)),
            total_min_us: when(ms_to_us(number(total_min)?)).map(|v| v as u64),
            total_max_us: when(ms_to_us(number(total_max)?)).map(|v| v as u64),
            total_avg_content_size: number(total_content)?,
            target_memory: match target_memory {
                Some(i) if !get(i)?.is_empty() => Some(count(i)?),
                _ => None,
            },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::header;
    use super::super::tests::history_row;
    use super::*;

    #[test]
    fn history_round_trip() {
        let mut rows: Vec<HistoryRow> = (0..3).map(history_row).collect();
        // A second without a successful response, and one before any.
        rows[1].percentiles.iter_mut().for_each(|p| p.1 = None);
        let mut first = history_row(0);
        first.total_requests = 2;
        first.total_failures = 2;
        first.total_median_us = None;
        first.total_mean_us = None;
        first.total_min_us = None;
        first.total_max_us = None;
        first.total_avg_content_size = 0.0;
        first.percentiles.iter_mut().for_each(|p| p.1 = None);
        rows.insert(0, first);

        let mut w = StatsHistoryWriter::new(Vec::new()).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines[0], header(COLUMNS).join(","));
        assert!(lines[0].starts_with(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,\
             99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
             Total Median Response Time,Total Average Response Time,Total Min Response Time,\
             Total Max Response Time,Total Average Content Size,"
        ));
        assert!(lines[0].ends_with(",Target Rate,In Flight,Target Memory"));
        assert_eq!(
            lines[2],
            "1767225600,3,,Aggregated,12.000000,0.500000,1,2,3,4,5,6,7,8,9,10,11,\
             12,0,2,2.345,0.321,40.123,150.25,12.5,3,"
        );
        assert_eq!(
            lines[1],
            "1767225600,3,,Aggregated,12.000000,0.500000,\
             N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,2,2,0,0.0,0,0,0.0,12.5,3,"
        );
        assert_eq!(read_history(&text).unwrap(), rows);
        // LF line ends read the same.
        assert_eq!(read_history(&text.replace("\r\n", "\n")).unwrap(), rows);
    }

    #[test]
    fn history_reads_locust_file_and_rejects_garbage() {
        let locust = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,\
                      95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
                      Total Median Response Time,Total Average Response Time,\
                      Total Min Response Time,Total Max Response Time,Total Average Content Size\r\n\
                      1700000000,10,GET,/health,1.000000,0.000000,5,5,5,5,5,5,5,5,5,5,5,4,0,5,\
                      5.2,4.1,6.3,12.0\r\n\
                      1700000000,10,,Aggregated,1.000000,0.000000,5,5,5,5,5,5,5,5,5,5,5,4,0,5,\
                      5.2,4.1,6.3,12.0\r\n";
        let rows = read_history(locust).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].in_flight, 10);
        assert_eq!(rows[0].target_rate, 0.0);
        assert_eq!(rows[0].total_mean_us, Some(5200.0));
        assert_eq!(rows[0].percentiles[0], (50.0, Some(5000)));

        assert!(read_history("").unwrap_err().contains("empty"));
        assert!(read_history("a,b\r\n").unwrap_err().contains("Timestamp"));
        let mut w = StatsHistoryWriter::new(Vec::new()).unwrap();
        w.write(&history_row(0)).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let bad = text.replacen("12.000000", "twelve", 1);
        let err = read_history(&bad).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("Requests/s"),
            "{err}"
        );
        let short = text.trim_end().rsplit_once(',').unwrap().0.to_string();
        assert!(read_history(&short).unwrap_err().contains("fields"));
    }

    #[test]
    fn history_flushes_each_row() {
        struct Counting(Vec<u8>, usize);
        impl Write for Counting {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let mut w = StatsHistoryWriter::new(Counting(Vec::new(), 0)).unwrap();
        w.write(&history_row(0)).unwrap();
        w.write(&history_row(1)).unwrap();
        assert_eq!(w.into_inner().1, 3);
    }
}
