//! The Prometheus text exposition format (version 0.0.4) of a [`Snapshot`]: what `/metrics`
//! serves, so a user's Prometheus and Grafana can watch a run. Names follow Prometheus's
//! conventions: a `metronome_` prefix, base units (seconds), `_total` on counters.

use std::fmt::Write as _;

use super::{BUCKETS_US, Buckets, Snapshot};

/// CONTENT_TYPE is the media type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// render writes every metric of the snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let o = &mut out;
    header(
        o,
        "metronome_info",
        "gauge",
        "The run: plan and target (always 1).",
    );
    let _ = writeln!(
        o,
        "metronome_info{{plan=\"{}\",target=\"{}\"}} 1",
        label(&s.plan),
        label(&s.target)
    );
    gauge(
        o,
        "metronome_elapsed_seconds",
        "Seconds since the schedule started.",
        s.elapsed_s,
    );
    gauge(
        o,
        "metronome_schedule_seconds",
        "How long the schedule runs.",
        s.duration_s,
    );
    gauge(
        o,
        "metronome_run_finished",
        "1 once the run has ended and these are its final figures.",
        if s.finished { 1.0 } else { 0.0 },
    );
    gauge(
        o,
        "metronome_target_rate",
        "Arrivals per second the schedule asks for now (all scenarios).",
        s.target_rate,
    );
    gauge(
        o,
        "metronome_achieved_rate",
        "Arrivals issued in the last closed second.",
        s.achieved_rate,
    );
    gauge(
        o,
        "metronome_in_flight",
        "Requests sent and not yet complete.",
        s.in_flight as f64,
    );

    type Count = fn(&super::ScenarioCounts) -> u64;
    let arrivals: [(&str, &str, Count); 3] = [
        (
            "metronome_arrivals_scheduled_total",
            "Arrivals the engine got to (issued or dropped).",
            |c| c.scheduled,
        ),
        (
            "metronome_arrivals_sent_total",
            "Arrivals issued as requests.",
            |c| c.scheduled - c.dropped,
        ),
        (
            "metronome_arrivals_dropped_total",
            "Arrivals that could not be issued (in-flight bound reached, or no connection free by the end).",
            |c| c.dropped,
        ),
    ];
    for (name, help, count) in arrivals {
        header(o, name, "counter", help);
        for c in &s.scenarios {
            let _ = writeln!(o, "{name}{{scenario=\"{}\"}} {}", label(&c.name), count(c));
        }
    }
    header(
        o,
        "metronome_responses_total",
        "counter",
        "Requests that ended, by request name and kind (success, or the error kind).",
    );
    for e in &s.endpoints {
        let labels = format!(
            "scenario=\"{}\",name=\"{}\"",
            label(&e.scenario),
            label(&e.name)
        );
        let _ = writeln!(
            o,
            "metronome_responses_total{{{labels},kind=\"success\"}} {}",
            e.successes
        );
        for (kind, n) in &e.errors {
            let _ = writeln!(
                o,
                "metronome_responses_total{{{labels},kind=\"{kind}\"}} {n}"
            );
        }
    }
    header(
        o,
        "metronome_latency_seconds",
        "histogram",
        "Latency of successful responses from each request's intended start (corrected for coordinated omission).",
    );
    for e in &s.endpoints {
        let labels = format!(
            "scenario=\"{}\",name=\"{}\"",
            label(&e.scenario),
            label(&e.name)
        );
        histogram(o, "metronome_latency_seconds", &labels, &e.latency);
    }
    header(
        o,
        "metronome_service_time_seconds",
        "histogram",
        "Service time of successful responses: request sent to response complete.",
    );
    for e in &s.endpoints {
        let labels = format!(
            "scenario=\"{}\",name=\"{}\"",
            label(&e.scenario),
            label(&e.name)
        );
        histogram(
            o,
            "metronome_service_time_seconds",
            &labels,
            &e.service_time,
        );
    }
    header(
        o,
        "metronome_dispatch_lag_seconds",
        "histogram",
        "How late the engine issued each arrival after its intended time (the generator's own lateness).",
    );
    histogram(o, "metronome_dispatch_lag_seconds", "", &s.dispatch_lag);
    out
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, value: f64) {
    header(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {value}");
}

fn histogram(o: &mut String, name: &str, labels: &str, b: &Buckets) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (i, &le) in BUCKETS_US.iter().enumerate() {
        let n = b.cumulative.get(i).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {n}",
            le as f64 / 1e6
        );
    }
    let _ = writeln!(o, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", b.count);
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(o, "{name}_sum{braces} {}", b.sum_us / 1e6);
    let _ = writeln!(o, "{name}_count{braces} {}", b.count);
}

/// label escapes a label value: backslash, double quote and line feed.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
