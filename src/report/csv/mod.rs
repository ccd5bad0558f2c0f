//! Locust-style CSV files: `stats.csv`, `failures.csv` and `stats_history.csv`, in the column
//! layout of Locust's `--csv` output, so spreadsheets and scripts built on Locust's files keep
//! working. The times in them are metronome's: latency measured from each arrival's *intended*
//! time (corrected for coordinated omission), read from HdrHistograms.
//!
//! Each file writes one table and names its columns once, in a list of (header name, how a row
//! fills it), so the header and the rows cannot drift apart: `stats.rs` (stats.csv),
//! `failures.rs` (failures.csv) and `history.rs` (stats_history.csv, streamed a row a second
//! during the run, and read back). This file holds what they share: the column list and the
//! table writer over it, the number formats of Locust's files, and the order of their rows.
//! Quoting and parsing are the `csv` crate's; the number formats are ours, since they follow
//! Python's `str()` (which no serializer writes). What the figures mean is the summary's and
//! the report data's: nothing here measures anything.
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
//! | failures.csv: rows | one per distinct (method, name, exception message), in no set order | one per (request, error kind) that occurred, sorted by name then Type, kinds in the order `connect_refused`, `connect_timeout`, `connect_error`, `tls_error`, `request_timeout`, `reset_closed`, `protocol_error`, `http_4xx`, `http_5xx`, `check`, `body_read`, `body_too_large`, `local_resource` |
//! | failures.csv: Error | Python repr of the exception, e.g. `HTTPError('500 Server Error…')` | the error kind, e.g. `http_5xx` |
//! | stats_history.csv: rows | one `Aggregated` row a second (plus one per name with `--csv-full-history`) | one `Aggregated` row a second |
//! | stats_history.csv: Timestamp | unix seconds when the row was written | unix seconds at the end of the second the row describes |
//! | stats_history.csv: User Count | running users | arrivals in flight at the end of the second (an open model has no users) |
//! | stats_history.csv: Requests/s, Failures/s | mean of the last ~10 s, 6 decimals | that second's, 6 decimals |
//! | stats_history.csv: percentile columns | cumulative since the start (last ~10 s with `--csv-full-history`) | **that second's** latency of successful responses; `N/A` for a second without one |
//! | stats_history.csv: Total … columns | cumulative since the start | the same, with the conventions of stats.csv above |
//! | stats_history.csv: extra columns | — | `Target Rate` (the rate the schedule asked for in that second, requests/s), `In Flight` (same as User Count) and `Target Memory` (the watched target's latest memory sample by the end of that second, bytes; empty when nothing is watched: see `[watch]`), appended after Locust's columns |

mod failures;
mod history;
mod stats;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::summary::{ByName, Summary};

pub use failures::write_failures;
pub use history::{HistoryRow, StatsHistoryWriter, read_history};
pub use stats::write_stats;

/// PERCENTILES are the percentile columns of Locust's files, 0..100.
pub const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// PERCENTILE_COLUMNS are the header names of the PERCENTILES, in their order.
const PERCENTILE_COLUMNS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

/// AGGREGATED names the row of all requests, as Locust does.
const AGGREGATED: &str = "Aggregated";
const NA: &str = "N/A";

// ---------------------------------------------------------------------------------------------
// Tables

/// Column is one column of a table of `R` rows, or the block of Locust's percentile columns
/// (stats.csv and stats_history.csv both have it, between other columns).
enum Column<R> {
    /// A column: its header name, and its field in a row.
    One(&'static str, fn(&R) -> String),
    /// The 11 columns `50%` … `100%`, from a row's (percentile, µs) pairs: whole ms, or `N/A`
    /// for a percentile without a value.
    Percentiles(fn(&R) -> Values),
}

/// Values are a row's (percentile, µs) pairs; None for a percentile without a value.
type Values = Vec<(f64, Option<u64>)>;

/// header is the first record of a table: its columns' names.
fn header<R>(columns: &[Column<R>]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for c in columns {
        match c {
            Column::One(name, _) => out.push(*name),
            Column::Percentiles(_) => out.extend(PERCENTILE_COLUMNS),
        }
    }
    out
}

/// fields are one row's record, a field per column of the header.
fn fields<R>(columns: &[Column<R>], row: &R) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        match c {
            Column::One(_, field) => out.push(field(row)),
            Column::Percentiles(values) => out.extend(percentile_fields(&values(row))),
        }
    }
    out
}

/// Table writes one CSV table to `out`: the header on creation, then a record a row, each with
/// a single write (a reader of a streamed file never sees half a record).
struct Table<R: 'static, W: Write> {
    columns: &'static [Column<R>],
    out: W,
}

impl<R, W: Write> Table<R, W> {
    /// new writes the header.
    fn new(columns: &'static [Column<R>], mut out: W) -> io::Result<Self> {
        write_row(&mut out, &header(columns))?;
        Ok(Table { columns, out })
    }

    /// row writes one row's record.
    fn row(&mut self, row: &R) -> io::Result<()> {
        write_row(&mut self.out, &fields(self.columns, row))
    }
}

/// write_row writes one record as Python's csv module (and RFC 4180) do: CRLF-terminated,
/// fields quoted, with quotes doubled, only when they hold a comma, a quote or a line break.
/// (The crate also quotes a record of one empty field, which no table here has.)
fn write_row<S: AsRef<[u8]>>(w: &mut impl Write, fields: &[S]) -> io::Result<()> {
    let mut record = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    record.write_record(fields)?;
    let bytes = record.into_inner().map_err(|e| e.into_error())?;
    w.write_all(&bytes)
}

/// parse_records splits CSV text into records (RFC 4180: quoted fields may hold commas, doubled
/// quotes and line breaks; CRLF or LF line ends), each with the line it starts on. Blank lines
/// are no records, and a record may have any number of fields: the caller judges that.
fn parse_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    // The line a record starts on is counted here: the crate's position is where the reader
    // stood before the record, which is still on the line before after a CRLF or a blank line.
    let (mut line, mut counted) = (1, 0);
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let at = record.position().map_or(0, |p| p.byte() as usize);
        let start = text.len() - text[at..].trim_start_matches(['\r', '\n']).len();
        line += text.as_bytes()[counted..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start;
        records.push((line, record.iter().map(str::to_string).collect()));
    }
    // A line holding only `""` is blank too.
    records.retain(|(_, r): &(usize, Vec<String>)| !(r.len() == 1 && r[0].is_empty()));
    Ok(records)
}

// ---------------------------------------------------------------------------------------------
// Formatting

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
// Row order

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
