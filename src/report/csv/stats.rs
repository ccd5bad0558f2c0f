//! stats.csv: one row per (scenario, request name) of the plan and an `Aggregated` row, in the
//! columns of Locust's stats.csv. It reads the figures from the summary and, for the percentiles
//! the summary does not carry, from the report data's per-name distributions; it measures
//! nothing and does not decide the row order (`sorted_names`, shared with failures.csv).

use std::io::{self, Write};

use super::{AGGREGATED, Column, Table, Values, ms_float, ms_int, py_float, sorted_names};
use crate::report::data::{NamePercentiles, ReportData};
use crate::summary::Percentiles;

/// Figures are what one stats.csv row shows, before formatting.
struct Figures {
    method: String,
    name: String,
    requests: u64,
    errors: u64,
    latency: Percentiles,
    /// The Locust percentile columns and minimum, when the report data has them.
    detail: Option<NamePercentiles>,
    bytes: u64,
    rate: f64,
}

impl Figures {
    /// has_data tells whether the row had a successful response: Locust's no-data values
    /// (`0`, `0.0`, `N/A`) stand in the time columns when not.
    fn has_data(&self) -> bool {
        self.latency.count > 0
    }

    /// percentiles are the row's (percentile, µs) pairs for the percentile columns.
    fn percentiles(&self) -> Values {
        if !self.has_data() {
            Vec::new()
        } else if let Some(d) = &self.detail {
            d.percentiles.iter().map(|&(p, v)| (p, Some(v))).collect()
        } else {
            // Without the full distribution, the percentiles the summary carries.
            let l = &self.latency;
            vec![
                (50.0, l.p50),
                (90.0, l.p90),
                (95.0, l.p95),
                (99.0, l.p99),
                (99.9, l.p99_9),
                (99.99, l.p99_99),
                (100.0, l.max),
            ]
        }
    }
}

/// COLUMNS are stats.csv's, Locust's.
const COLUMNS: &[Column<Figures>] = &[
    Column::One("Type", |r| r.method.clone()),
    Column::One("Name", |r| r.name.clone()),
    Column::One("Request Count", |r| r.requests.to_string()),
    Column::One("Failure Count", |r| r.errors.to_string()),
    Column::One("Median Response Time", |r| match r.latency.p50 {
        Some(v) if r.has_data() => ms_int(v),
        _ => "0".into(),
    }),
    Column::One("Average Response Time", |r| match r.latency.mean {
        Some(v) if r.has_data() => ms_float(v),
        _ => "0.0".into(),
    }),
    Column::One("Min Response Time", |r| match &r.detail {
        Some(d) if r.has_data() => ms_float(d.min_us as f64),
        _ => "0".into(),
    }),
    Column::One("Max Response Time", |r| match r.latency.max {
        Some(v) if r.has_data() => ms_float(v as f64),
        _ => "0".into(),
    }),
    Column::One("Average Content Size", |r| {
        if r.has_data() {
            py_float(r.bytes as f64 / r.latency.count as f64)
        } else {
            "0".into()
        }
    }),
    Column::One("Requests/s", |r| py_float(r.rate)),
    // Failures on the time base of Requests/s.
    Column::One("Failures/s", |r| {
        py_float(if r.requests > 0 {
            r.errors as f64 * r.rate / r.requests as f64
        } else {
            0.0
        })
    }),
    Column::Percentiles(Figures::percentiles),
];

/// write_stats writes stats.csv: one row per (scenario, request name) and an "Aggregated" row.
pub fn write_stats(data: &ReportData, w: &mut impl Write) -> io::Result<()> {
    let summary = &data.summary;
    let detail = |scenario: &str, name: &str| {
        (data.name_percentiles.iter())
            .find(|p| p.scenario == scenario && p.name == name)
            .cloned()
    };
    let mut table = Table::new(COLUMNS, w)?;
    for (name, n) in sorted_names(summary) {
        table.row(&Figures {
            method: n.method.clone(),
            name,
            requests: n.requests,
            errors: n.errors,
            latency: n.latency_us.clone(),
            detail: detail(&n.scenario, &n.name),
            bytes: n.bytes_received,
            rate: n.rate,
        })?;
    }
    table.row(&Figures {
        method: String::new(),
        name: AGGREGATED.to_string(),
        requests: summary.requests,
        errors: summary.errors,
        latency: summary.latency_us.clone(),
        detail: detail("", AGGREGATED),
        bytes: summary.bytes_received,
        rate: summary.completed_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse_records;
    use super::super::tests::{report_data, stats_text, summary};
    use crate::summary::Percentiles;

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
}
