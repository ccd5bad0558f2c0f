//! Locust-style CSV files: `stats.csv`, `failures.csv` and `stats_history.csv`, in the column
//! layout of Locust's `--csv` output, so spreadsheets and scripts built on Locust's files keep
//! working. The times in them are metronome's: latency measured from each arrival's *intended*
//! time (corrected for coordinated omission), read from HdrHistograms.
//!
//! ## Differences from Locust's CSV files
//!
//! | File / column | Locust | metronome |
//! |---|---|---|
//! | all files: line ends, quoting | Python `csv` module: CRLF, fields quoted only when they hold `,` `"` or a line break | the same |
//! | all files: numbers | Python's `str()`: `12`, `12.0`, `12.345` | the same (shortest form that reads back exactly, `.0` on whole floats) |
//! | stats.csv: rows | only names that were requested, sorted by name, then `Aggregated` | every request of the plan, even one that got no arrival, sorted by name then Type, then `Aggregated` |
//! | stats.csv: Name | the request name | the request name; `scenario/name` when the plan runs more than one scenario |
//! | stats.csv: Type | HTTP method; empty on `Aggregated` | the same |
//! | stats.csv: Request Count, Failure Count | requests (failures included), failures | the same: responses and errors that ended; dropped arrivals are not requests (see the JSON summary) |
//! | response-time columns: what is measured | request sent → response, every request, failures included | **latency**: response complete − intended time, successful responses only (errors' latency is in the JSON summary) |
//! | Median, percentile columns | whole ms from a histogram rounded to 2 significant digits above 100 ms | whole ms (rounded to nearest) read from an HdrHistogram of 3 significant digits; sub-millisecond latencies show as `0` or `1`: the JSON summary and `.hgrm` file have µs |
//! | Average, Min, Max Response Time | ms as a float | ms with µs resolution, e.g. `12.345` |
//! | no data | percentiles `N/A` when a row has no request; Median `0`, Average `0.0`, Min `0`, Max `0`, Average Content Size `0` | the same, when a row has no *successful* response |
//! | Average Content Size | body bytes ÷ all requests | body bytes ÷ successful responses (error bodies are not counted) |
//! | stats.csv: Requests/s | requests ÷ time from first to last request | per name: requests ÷ its scenario's schedule span (intended times, the drain excluded); `Aggregated`: the completed rate, requests ÷ elapsed time of the run |
//! | stats.csv: Failures/s | failures ÷ the same time as Requests/s | the same: failures × Requests/s ÷ requests, so both share one time base |
//! | failures.csv: rows | one per distinct (method, name, exception message), in no set order | one per (request, error kind) that occurred, sorted by name then Type, kinds in the order `connect_refused`, `connect_timeout`, `connect_error`, `tls_error`, `request_timeout`, `reset_closed`, `protocol_error`, `http_4xx`, `http_5xx`, `check`, `body_read`, `local_resource` |
//! | failures.csv: Error | Python repr of the exception, e.g. `HTTPError('500 Server Error…')` | the error kind, e.g. `http_5xx` |
//! | stats_history.csv: rows | one `Aggregated` row a second (plus one per name with `--csv-full-history`) | one `Aggregated` row a second |
//! | stats_history.csv: Timestamp | unix seconds when the row was written | unix seconds at the end of the second the row describes |
//! | stats_history.csv: User Count | running users | arrivals in flight at the end of the second (an open model has no users) |
//! | stats_history.csv: Requests/s, Failures/s | mean of the last ~10 s, 6 decimals | that second's, 6 decimals |
//! | stats_history.csv: percentile columns | cumulative since the start (last ~10 s with `--csv-full-history`) | **that second's** latency of successful responses; `N/A` for a second without one |
//! | stats_history.csv: Total … columns | cumulative since the start | the same, with the conventions of stats.csv above |
//! | stats_history.csv: extra columns | — | `Target Rate` (the rate the schedule asked for in that second, requests/s) and `In Flight` (same as User Count), appended after Locust's columns |

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::data::{NamePercentiles, ReportData};
use crate::record::ErrorKind;
use crate::summary::{ByName, Percentiles, Summary};

/// PERCENTILES are the percentile columns of Locust's files, 0..100.
pub const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

const PERCENTILE_COLUMNS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

/// STATS_COLUMNS is the header of stats.csv.
pub const STATS_COLUMNS: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

/// FAILURES_COLUMNS is the header of failures.csv.
pub const FAILURES_COLUMNS: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

/// HISTORY_COLUMNS is the header of stats_history.csv: Locust's columns, then two of
/// metronome's.
pub const HISTORY_COLUMNS: [&str; 26] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
    "Target Rate",
    "In Flight",
];

/// AGGREGATED names the row of all requests, as Locust does.
const AGGREGATED: &str = "Aggregated";
const NA: &str = "N/A";

// ---------------------------------------------------------------------------------------------
// Formatting

/// quote writes a field as RFC 4180 (and Python's csv module) do: quoted, with quotes doubled,
/// only when it holds a comma, a quote or a line break.
fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

/// write_row writes one record, CRLF-terminated as Python's csv module writes them.
fn write_row<S: AsRef<str>>(w: &mut impl Write, fields: &[S]) -> io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&quote(f.as_ref()));
    }
    line.push_str("\r\n");
    w.write_all(line.as_bytes())
}

/// py_float writes a float as Python's `str()` does for the values these files hold: the
/// shortest form that reads back exactly, with `.0` on whole numbers.
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{x}");
    if s.contains('.') { s } else { s + ".0" }
}

/// ms_int is a µs value as whole milliseconds, rounded to nearest (Locust's integer columns).
fn ms_int(us: u64) -> String {
    (us.saturating_add(500) / 1000).to_string()
}

/// ms_float is a µs value as milliseconds with µs resolution, written as a Python float.
fn ms_float(us: f64) -> String {
    py_float(us.round() / 1000.0)
}

/// percentile_fields are the 11 percentile columns from (percentile, µs) pairs: whole ms, or
/// `N/A` for a percentile without a value.
fn percentile_fields(values: &[(f64, Option<u64>)]) -> Vec<String> {
    PERCENTILES
        .iter()
        .map(|&p| {
            values
                .iter()
                .find(|(q, _)| (q - p).abs() < 1e-9)
                .and_then(|&(_, v)| v)
                .map_or_else(|| NA.to_string(), ms_int)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// stats.csv

/// Figures are what one stats.csv row shows, before formatting.
struct Figures<'a> {
    method: &'a str,
    name: String,
    requests: u64,
    errors: u64,
    latency: &'a Percentiles,
    /// The Locust percentile columns and minimum, when the report data has them.
    detail: Option<&'a NamePercentiles>,
    bytes: u64,
    rate: f64,
}

impl Figures<'_> {
    fn fields(&self) -> Vec<String> {
        let successes = self.latency.count;
        let has = successes > 0;
        let median = match self.latency.p50 {
            Some(v) if has => ms_int(v),
            _ => "0".into(),
        };
        let mean = match self.latency.mean {
            Some(v) if has => ms_float(v),
            _ => "0.0".into(),
        };
        let min = match self.detail {
            Some(d) if has => ms_float(d.min_us as f64),
            _ => "0".into(),
        };
        let max = match self.latency.max {
            Some(v) if has => ms_float(v as f64),
            _ => "0".into(),
        };
        let content = if has {
            py_float(self.bytes as f64 / successes as f64)
        } else {
            "0".into()
        };
        let failures_per_s = if self.requests > 0 {
            self.errors as f64 * self.rate / self.requests as f64
        } else {
            0.0
        };
        let mut out = vec![
            self.method.to_string(),
            self.name.clone(),
            self.requests.to_string(),
            self.errors.to_string(),
            median,
            mean,
            min,
            max,
            content,
            py_float(self.rate),
            py_float(failures_per_s),
        ];
        let percentiles: Vec<(f64, Option<u64>)> = if !has {
            Vec::new()
        } else if let Some(d) = self.detail {
            d.percentiles.iter().map(|&(p, v)| (p, Some(v))).collect()
        } else {
            // Without the full distribution, the percentiles the summary carries.
            let l = self.latency;
            vec![
                (50.0, l.p50),
                (90.0, l.p90),
                (95.0, l.p95),
                (99.0, l.p99),
                (99.9, l.p99_9),
                (99.99, l.p99_99),
                (100.0, l.max),
            ]
        };
        out.extend(percentile_fields(&percentiles));
        out
    }
}

/// several_scenarios tells whether row names need their scenario to be told apart.
fn several_scenarios(summary: &Summary) -> bool {
    let names: BTreeSet<&str> = (summary.by_name.iter().map(|n| n.scenario.as_str()))
        .chain(summary.by_stage.iter().map(|s| s.scenario.as_str()))
        .collect();
    names.len() > 1
}

fn row_name(n: &ByName, several: bool) -> String {
    if several {
        format!("{}/{}", n.scenario, n.name)
    } else {
        n.name.clone()
    }
}

/// sorted_names orders requests as Locust orders its rows: by name, then method.
fn sorted_names(summary: &Summary) -> Vec<(String, &ByName)> {
    let several = several_scenarios(summary);
    let mut rows: Vec<(String, &ByName)> = (summary.by_name.iter())
        .map(|n| (row_name(n, several), n))
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1.method).cmp(&(&b.0, &b.1.method)));
    rows
}

/// write_stats writes stats.csv: one row per (scenario, request name) and an "Aggregated" row.
pub fn write_stats(data: &ReportData, w: &mut impl Write) -> io::Result<()> {
    let summary = &data.summary;
    write_row(w, &STATS_COLUMNS)?;
    for (name, n) in sorted_names(summary) {
        let detail =
            (data.name_percentiles.iter()).find(|p| p.scenario == n.scenario && p.name == n.name);
        let row = Figures {
            method: &n.method,
            name,
            requests: n.requests,
            errors: n.errors,
            latency: &n.latency_us,
            detail,
            bytes: n.bytes_received,
            rate: n.rate,
        };
        write_row(w, &row.fields())?;
    }
    let detail =
        (data.name_percentiles.iter()).find(|p| p.scenario.is_empty() && p.name == AGGREGATED);
    let total = Figures {
        method: "",
        name: AGGREGATED.to_string(),
        requests: summary.requests,
        errors: summary.errors,
        latency: &summary.latency_us,
        detail,
        bytes: summary.bytes_received,
        rate: summary.completed_rate,
    };
    write_row(w, &total.fields())
}

// ---------------------------------------------------------------------------------------------
// failures.csv

/// write_failures writes failures.csv: "Method,Name,Error,Occurrences", one row per (name, error
/// kind) that occurred.
pub fn write_failures(summary: &Summary, w: &mut impl Write) -> io::Result<()> {
    write_row(w, &FAILURES_COLUMNS)?;
    for (name, n) in sorted_names(summary) {
        let known = ErrorKind::ALL.iter().map(|k| k.name());
        // Kinds this version does not know (a summary from another version) come last.
        let unknown = (n.error_kinds.keys().map(String::as_str))
            .filter(|k| !ErrorKind::ALL.iter().any(|a| a.name() == *k));
        for kind in known.chain(unknown) {
            match n.error_kinds.get(kind) {
                Some(&count) if count > 0 => write_row(
                    w,
                    &[n.method.as_str(), name.as_str(), kind, &count.to_string()],
                )?,
                _ => {}
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// stats_history.csv

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
}

/// StatsHistoryWriter streams stats_history.csv one row per second (header written on
/// creation), so a 24 h run needs no memory for it; it flushes after each row.
pub struct StatsHistoryWriter<W: Write> {
    w: W,
}

impl<W: Write> StatsHistoryWriter<W> {
    /// new writes the header.
    pub fn new(mut w: W) -> io::Result<Self> {
        write_row(&mut w, &HISTORY_COLUMNS)?;
        w.flush()?;
        Ok(StatsHistoryWriter { w })
    }

    /// write appends one row and flushes it.
    pub fn write(&mut self, row: &HistoryRow) -> io::Result<()> {
        let has = row.total_requests > row.total_failures;
        let or_zero = |v: Option<u64>, f: fn(u64) -> String| match v {
            Some(v) if has => f(v),
            _ => "0".to_string(),
        };
        let mut fields = vec![
            row.timestamp.to_string(),
            row.in_flight.to_string(),
            String::new(),
            AGGREGATED.to_string(),
            // Locust writes these with f"{x:2f}": six decimals.
            format!("{:.6}", row.requests_per_s),
            format!("{:.6}", row.failures_per_s),
        ];
        fields.extend(percentile_fields(&row.percentiles));
        fields.extend([
            row.total_requests.to_string(),
            row.total_failures.to_string(),
            or_zero(row.total_median_us, ms_int),
            match row.total_mean_us {
                Some(v) if has => ms_float(v),
                _ => "0.0".to_string(),
            },
            or_zero(row.total_min_us, |v| ms_float(v as f64)),
            or_zero(row.total_max_us, |v| ms_float(v as f64)),
            if row.total_requests == 0 {
                "0".to_string()
            } else {
                py_float(row.total_avg_content_size)
            },
            py_float(row.target_rate),
            row.in_flight.to_string(),
        ]);
        write_row(&mut self.w, &fields)?;
        self.w.flush()
    }

    /// into_inner gives the writer back.
    pub fn into_inner(self) -> W {
        self.w
    }
}

/// parse_records splits CSV text into records (RFC 4180: quoted fields may hold commas, doubled
/// quotes and line breaks; CRLF or LF line ends), each with the line it starts on.
fn parse_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                record.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "line {start}: a quoted field is not closed before the end of the file"
        ));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((start, record));
    }
    // Blank lines are no records.
    records.retain(|(_, r)| !(r.len() == 1 && r[0].is_empty()));
    Ok(records)
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
        });
    }
    Ok(rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::data::ReportData;
    use serde_json::{Value, json};

    fn pct(values: Option<[u64; 7]>, mean: f64, count: u64) -> Value {
        match values {
            Some([p50, p90, p95, p99, p99_9, p99_99, max]) => json!({
                "p50": p50, "p90": p90, "p95": p95, "p99": p99, "p99_9": p99_9,
                "p99_99": p99_99, "max": max, "mean": mean, "count": count
            }),
            None => json!({
                "p50": null, "p90": null, "p95": null, "p99": null, "p99_9": null,
                "p99_99": null, "max": null, "mean": null, "count": 0
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn by_name(
        scenario: &str,
        name: &str,
        method: &str,
        requests: u64,
        errors: u64,
        kinds: Value,
        rate: f64,
        bytes: u64,
        latency: Value,
    ) -> Value {
        json!({
            "scenario": scenario, "name": name, "method": method, "path": "/x",
            "sla_class": null, "requests": requests, "errors": errors, "error_kinds": kinds,
            "rate": rate, "bytes_received": bytes, "latency_us": latency,
            "service_time_us": pct(None, 0.0, 0), "error_latency_us": pct(None, 0.0, 0),
            "sla_verdict": null
        })
    }

    /// summary is a two-scenario run shaped like a real `metronome.summary.v1`: three requests
    /// with errors, one with a comma in its name, one that got no arrival.
    /// summary is a finished run's summary with every part filled in, for report tests.
    pub(crate) fn summary() -> Summary {
        let none = pct(None, 0.0, 0);
        let names = vec![
            by_name(
                "journey",
                "list_agents",
                "GET",
                80,
                8,
                json!({"http_5xx": 5, "request_timeout": 3}),
                8.0,
                10800,
                pct(
                    Some([1500, 8000, 11000, 24000, 40000, 40000, 40000]),
                    2100.4,
                    72,
                ),
            ),
            by_name(
                "journey",
                "create_goal, quick",
                "POST",
                20,
                2,
                json!({"http_5xx": 2}),
                2.0,
                2700,
                pct(
                    Some([2400, 9500, 12000, 20000, 21000, 21000, 21000]),
                    3000.0,
                    18,
                ),
            ),
            by_name(
                "journey",
                "deliverables",
                "GET",
                0,
                0,
                json!({}),
                0.0,
                0,
                none.clone(),
            ),
            by_name(
                "health_check",
                "health",
                "GET",
                20,
                0,
                json!({}),
                2.0,
                3000,
                pct(Some([900, 1200, 1300, 1500, 1600, 1600, 1600]), 950.0, 20),
            ),
        ];
        // In pieces: one json! of every field overflows the macro recursion limit.
        let parts = [
            json!({
                "schema": "metronome.summary.v1", "metronome_version": "0.1.0",
                "plan": "fixture", "target": "http://127.0.0.1:8001", "seed": 1, "threads": 2,
                "connections": 200, "max_in_flight": 10000, "timeout_s": 10.0,
                "started_at": "2026-01-01T00:00:00.000Z", "duration_s": 10.0, "elapsed_s": 10.5,
            }),
            json!({
                "target_rate": 12.0, "achieved_rate": 12.0, "completed_rate": 11.428571428571429,
                "on_time_share": 1.0, "on_time_bound_us": 10000, "scheduled": 120,
                "requests": 120, "successes": 110, "errors": 10,
                "error_kinds": {"http_5xx": 7, "request_timeout": 3}, "dropped": 0,
            }),
            json!({
                "percentiles_are_lower_bounds": false, "connections_opened_before_start": 200,
                "new_connections": 0, "bytes_received": 16500, "clamped_values": 0,
                "passed": true, "valid": true, "partial": false, "exit_code": 0,
            }),
            json!({
                "latency_us": pct(Some([1716, 9000, 12000, 25000, 40000, 40000, 40000]), 2345.6789, 110),
                "service_time_us": none, "queue_wait_us": none, "connect_us": none,
                "dispatch_lag_us": none, "error_latency_us": none,
                "by_name": names, "by_stage": [], "criteria": [], "plan_description": "",
            }),
        ];
        let mut v = serde_json::Map::new();
        for part in parts {
            let Value::Object(fields) = part else {
                unreachable!()
            };
            v.extend(fields);
        }
        let v = Value::Object(v);
        serde_json::from_value(v).expect("fixture is a valid summary")
    }

    fn detail(scenario: &str, name: &str, p: [u64; 11], min_us: u64) -> NamePercentiles {
        NamePercentiles {
            scenario: scenario.into(),
            name: name.into(),
            percentiles: PERCENTILES.iter().copied().zip(p).collect(),
            min_us,
        }
    }

    fn report_data() -> ReportData {
        ReportData {
            summary: summary(),
            buckets: Vec::new(),
            latency_spectrum: Vec::new(),
            service_spectrum: Vec::new(),
            name_percentiles: vec![
                detail(
                    "journey",
                    "list_agents",
                    [
                        1500, 2000, 3000, 4000, 8000, 11000, 20000, 24000, 40000, 40000, 40000,
                    ],
                    400,
                ),
                detail(
                    "journey",
                    "create_goal, quick",
                    [
                        2400, 3000, 4000, 5000, 9500, 12000, 15000, 20000, 21000, 21000, 21000,
                    ],
                    1000,
                ),
                detail(
                    "health_check",
                    "health",
                    [
                        900, 1000, 1100, 1100, 1200, 1300, 1400, 1500, 1600, 1600, 1600,
                    ],
                    700,
                ),
                detail(
                    "",
                    "Aggregated",
                    [
                        1716, 2000, 3000, 4000, 9000, 12000, 20000, 25000, 40000, 40000, 40000,
                    ],
                    400,
                ),
            ],
            plan_text: String::new(),
        }
    }

    fn stats_text(data: &ReportData) -> String {
        let mut out = Vec::new();
        write_stats(data, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn stats_header_is_locusts() {
        let text = stats_text(&report_data());
        let header = text.split("\r\n").next().unwrap();
        assert_eq!(
            header,
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
             Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
             50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
        );
    }

    #[test]
    fn stats_rows_from_summary() {
        let text = stats_text(&report_data());
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        // Header, four requests sorted by name (scenario-qualified), Aggregated last.
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(
            lines[1],
            "GET,health_check/health,20,0,1,0.95,0.7,1.6,150.0,2.0,0.0,1,1,1,1,1,1,1,2,2,2,2"
        );
        // The name with a comma is quoted.
        assert_eq!(
            lines[2],
            "POST,\"journey/create_goal, quick\",20,2,2,3.0,1.0,21.0,150.0,2.0,0.2,\
             2,3,4,5,10,12,15,20,21,21,21"
        );
        // A request that got no arrival: Locust's no-data values, N/A percentiles.
        assert_eq!(
            lines[3],
            "GET,journey/deliverables,0,0,0,0.0,0,0,0,0.0,0.0,\
             N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"
        );
        assert_eq!(
            lines[4],
            "GET,journey/list_agents,80,8,2,2.1,0.4,40.0,150.0,8.0,0.8,\
             2,2,3,4,8,11,20,24,40,40,40"
        );
        let agg: Vec<&str> = lines[5].split(',').collect();
        assert_eq!(agg[0], "");
        assert_eq!(agg[1], "Aggregated");
        // Aggregated counts are the summary's.
        let s = summary();
        assert_eq!(agg[2], s.requests.to_string());
        assert_eq!(agg[3], s.errors.to_string());
        assert_eq!(agg[4], "2"); // 1716 µs
        assert_eq!(agg[5], "2.346"); // mean 2345.6789 µs, to the µs
        assert_eq!(agg[6], "0.4");
        assert_eq!(agg[7], "40.0");
        assert_eq!(agg[8], "150.0"); // 16500 B / 110 successes
        assert_eq!(agg[9], "11.428571428571429"); // completed rate
        let fps: f64 = agg[10].parse().unwrap();
        assert!((fps - 10.0 / 10.5).abs() < 1e-12, "{fps}");
        assert_eq!(agg[11..].join(","), "2,2,3,4,9,12,20,25,40,40,40");
        // Every per-name Request Count adds up to the Aggregated one.
        let sum: u64 = lines[1..5]
            .iter()
            .map(|l| {
                let f = parse_records(l).unwrap().remove(0).1;
                f[2].parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(sum, s.requests);
    }

    #[test]
    fn stats_single_scenario_names_are_bare() {
        let mut data = report_data();
        data.summary.by_name.retain(|n| n.scenario == "journey");
        let text = stats_text(&data);
        assert!(text.contains("\r\nGET,list_agents,80,"), "{text}");
        assert!(text.contains("\"create_goal, quick\""), "{text}");
        assert!(!text.contains("journey/"), "{text}");
    }

    #[test]
    fn stats_no_successes_is_na() {
        let mut data = report_data();
        // Every request failed: counts stay, time columns have no data.
        let n = &mut data.summary.by_name[0];
        n.errors = n.requests;
        n.latency_us = Percentiles::default();
        data.summary.latency_us = Percentiles::default();
        data.summary.successes = 0;
        data.name_percentiles.clear();
        let text = stats_text(&data);
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        let na = ",N/A".repeat(11);
        assert!(
            lines[4].starts_with("GET,journey/list_agents,80,80,0,0.0,0,0,0,8.0,8.0,"),
            "{}",
            lines[4]
        );
        assert!(lines[4].ends_with(&na), "{}", lines[4]);
        assert!(
            lines[5].starts_with(",Aggregated,120,10,0,0.0,0,0,0,"),
            "{}",
            lines[5]
        );
        assert!(lines[5].ends_with(&na), "{}", lines[5]);
    }

    #[test]
    fn stats_without_detail_uses_summary_percentiles() {
        let mut data = report_data();
        data.name_percentiles.clear();
        let text = stats_text(&data);
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        // list_agents: min unknown (0), 66/75/80/98 % not in the summary.
        assert!(
            lines[4].ends_with(",2,N/A,N/A,N/A,8,11,N/A,24,40,40,40"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn failures_rows_sum_to_errors() {
        let s = summary();
        let mut out = Vec::new();
        write_failures(&s, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records = parse_records(&text).unwrap();
        assert_eq!(records[0].1, FAILURES_COLUMNS);
        let rows: Vec<Vec<String>> = records.into_iter().skip(1).map(|(_, r)| r).collect();
        assert_eq!(
            rows,
            vec![
                vec!["POST", "journey/create_goal, quick", "http_5xx", "2"],
                vec!["GET", "journey/list_agents", "request_timeout", "3"],
                vec!["GET", "journey/list_agents", "http_5xx", "5"],
            ]
        );
        let sum: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
        assert_eq!(sum, s.errors);
        assert!(text.contains("\"journey/create_goal, quick\""));
    }

    #[test]
    fn quoting_follows_rfc4180() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        let mut out = Vec::new();
        write_row(&mut out, &["a,b", "c\"d", "e\r\nf", ""]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a,b\",\"c\"\"d\",\"e\r\nf\",\r\n");
        let back = parse_records(&text).unwrap();
        assert_eq!(
            back,
            vec![(
                1,
                vec!["a,b".into(), "c\"d".into(), "e\r\nf".into(), String::new()]
            )]
        );
    }

    #[test]
    fn floats_as_python_writes_them() {
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(11.428571428571429), "11.428571428571429");
        assert_eq!(ms_int(1499), "1");
        assert_eq!(ms_int(1500), "2");
        assert_eq!(ms_float(1716.0), "1.716");
        assert_eq!(ms_float(2000.0), "2.0");
    }

    fn history_row(second: u64) -> HistoryRow {
        HistoryRow {
            timestamp: 1_767_225_600 + second,
            in_flight: 3 + second,
            target_rate: 12.5,
            requests_per_s: 12.0,
            failures_per_s: 0.5,
            percentiles: PERCENTILES
                .iter()
                .enumerate()
                .map(|(i, &p)| (p, Some(1000 * (i as u64 + 1))))
                .collect(),
            total_requests: 12 * (second + 1),
            total_failures: second,
            total_median_us: Some(2000),
            total_mean_us: Some(2345.0),
            total_min_us: Some(321),
            total_max_us: Some(40_123),
            total_avg_content_size: 150.25,
        }
    }

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
        assert_eq!(lines[0], HISTORY_COLUMNS.join(","));
        assert!(lines[0].starts_with(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,\
             99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,\
             Total Median Response Time,Total Average Response Time,Total Min Response Time,\
             Total Max Response Time,Total Average Content Size,"
        ));
        assert!(lines[0].ends_with(",Target Rate,In Flight"));
        assert_eq!(
            lines[2],
            "1767225600,3,,Aggregated,12.000000,0.500000,1,2,3,4,5,6,7,8,9,10,11,\
             12,0,2,2.345,0.321,40.123,150.25,12.5,3"
        );
        assert_eq!(
            lines[1],
            "1767225600,3,,Aggregated,12.000000,0.500000,\
             N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,2,2,0,0.0,0,0,0.0,12.5,3"
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

    /// golden compares `bytes` with the committed file `tests/data/csv/golden/NAME`; with
    /// METRONOME_BLESS=1 it writes the file instead, for a change that means to alter the output
    /// (read the diff before committing it).
    fn golden(name: &str, bytes: &[u8]) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/csv/golden")
            .join(name);
        if std::env::var_os("METRONOME_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            return;
        }
        let want = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (METRONOME_BLESS=1 writes it)", path.display()));
        assert!(
            bytes == want.as_slice(),
            "{name} differs from {}:\n--- written\n{}\n--- golden\n{}",
            path.display(),
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&want)
        );
    }

    /// The three files, byte for byte, for the fixture and for the corners of their formatting:
    /// names that need quoting (comma, quote, line breaks), an error kind this version does not
    /// know, rows without detail or without successes, and floats from tiny to huge.
    #[test]
    fn csv_files_match_the_golden_bytes() {
        let stats = |data: &ReportData| stats_text(data).into_bytes();
        let failures = |s: &Summary| {
            let mut out = Vec::new();
            write_failures(s, &mut out).unwrap();
            out
        };

        let data = report_data();
        golden("stats.csv", &stats(&data));
        golden("failures.csv", &failures(&data.summary));

        let mut bare = report_data();
        bare.name_percentiles.clear();
        golden("stats_summary_percentiles.csv", &stats(&bare));
        bare.summary.by_name[0].latency_us = Percentiles::default();
        bare.summary.latency_us = Percentiles::default();
        golden("stats_no_successes.csv", &stats(&bare));

        let mut odd = report_data();
        odd.summary.by_name.retain(|n| n.scenario == "journey");
        odd.summary.by_name[0].name = "say \"hi\"".into();
        odd.summary.by_name[1].name = "two\nlines, and\r\na CR".into();
        odd.summary.by_name[2].name = " spaced ".into();
        odd.summary.by_name[0].method = "PATCH".into();
        (odd.summary.by_name[0].error_kinds).insert("from_a_later_version".into(), 4);
        odd.summary.by_name[0].rate = 0.1 + 0.2;
        odd.summary.completed_rate = 1e16;
        golden("stats_odd.csv", &stats(&odd));
        golden("failures_odd.csv", &failures(&odd.summary));

        let mut rows: Vec<HistoryRow> = (0..3).map(history_row).collect();
        rows[1].percentiles.iter_mut().for_each(|p| p.1 = None);
        rows[1].total_failures = rows[1].total_requests;
        rows[2].target_rate = 0.1 + 0.2;
        rows[2].requests_per_s = 1e-7;
        rows[2].failures_per_s = 2.0 / 3.0;
        rows[2].total_mean_us = Some(1e21);
        rows[2].total_avg_content_size = 1e-7;
        let mut empty = history_row(3);
        empty.total_requests = 0;
        empty.total_failures = 0;
        empty.target_rate = f64::INFINITY;
        rows.push(empty);
        let mut w = StatsHistoryWriter::new(Vec::new()).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        golden("stats_history.csv", &w.into_inner());
    }
}
