//! failures.csv: one row per (request, error kind) that occurred, with its count, in the
//! columns of Locust's failures.csv. The counts are the summary's; this file only orders and
//! writes them (rows in the order of stats.csv, kinds in `ErrorKind::ALL`'s order).

use std::io::{self, Write};

use super::{Column, Table, sorted_names};
use crate::record::ErrorKind;
use crate::summary::Summary;

/// Failure is one failures.csv row.
struct Failure {
    method: String,
    name: String,
    kind: String,
    count: u64,
}

/// COLUMNS are failures.csv's, Locust's.
const COLUMNS: &[Column<Failure>] = &[
    Column::One("Method", |r| r.method.clone()),
    Column::One("Name", |r| r.name.clone()),
    Column::One("Error", |r| r.kind.clone()),
    Column::One("Occurrences", |r| r.count.to_string()),
];

/// write_failures writes failures.csv: "Method,Name,Error,Occurrences", one row per (name, error
/// kind) that occurred.
pub fn write_failures(summary: &Summary, w: &mut impl Write) -> io::Result<()> {
    let mut table = Table::new(COLUMNS, w)?;
    for (name, n) in sorted_names(summary) {
        let known = ErrorKind::ALL.iter().map(|k| k.name());
        // Kinds this version does not know (a summary from another version) come last.
        let unknown = (n.error_kinds.keys().map(String::as_str))
            .filter(|k| !ErrorKind::ALL.iter().any(|a| a.name() == *k));
        for kind in known.chain(unknown) {
            match n.error_kinds.get(kind) {
                Some(&count) if count > 0 => table.row(&Failure {
                    method: n.method.clone(),
                    name: name.clone(),
                    kind: kind.to_string(),
                    count,
                })?,
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse_records;
    use super::super::tests::summary;
    use super::write_failures;

    #[test]
    fn failures_rows_sum_to_errors() {
        let s = summary();
        let mut out = Vec::new();
        write_failures(&s, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records = parse_records(&text).unwrap();
        assert_eq!(records[0].1, ["Method", "Name", "Error", "Occurrences"]);
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
}
