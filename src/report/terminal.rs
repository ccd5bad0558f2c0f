//! Terminal summary: the finished run as a person reads it.

use std::fmt::Write;

use crate::summary::{Percentiles, Summary, Verdict};
use crate::units::format_us;

/// ENGINE_BUSY is the share of the run's time the worker threads spent on the CPU from which
/// the terminal says the engine may be the bottleneck (precise pacing spins on purpose and is
/// left out).
const ENGINE_BUSY: f64 = 0.95;

/// CPU_WAIT_NOTED is the share of the run's time the worker threads waited for a CPU from which
/// a run with late arrivals says the machine, not the engine, made them late.
const CPU_WAIT_NOTED: f64 = 0.01;

fn cell(v: Option<u64>) -> String {
    v.map(format_us).unwrap_or_else(|| "-".into())
}

fn row(out: &mut String, label: &str, p: &Percentiles) {
    marked_row(out, label, p, &[]);
}

/// marked_row writes a row whose percentiles named in `marked` (as in `lateness::PERCENTILES`)
/// carry a `*`.
fn marked_row(out: &mut String, label: &str, p: &Percentiles, marked: &[String]) {
    let mean = p
        .mean
        .map(|m| format_us(m.round() as u64))
        .unwrap_or_else(|| "-".into());
    let c = |name: &str, v: Option<u64>| {
        let mark = if v.is_some() && marked.iter().any(|m| m == name) {
            "*"
        } else {
            ""
        };
        format!("{}{mark}", cell(v))
    };
    let _ = writeln!(
        out,
        "  {label:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>10}",
        c("p50", p.p50),
        c("p90", p.p90),
        c("p95", p.p95),
        c("p99", p.p99),
        c("p99_9", p.p99_9),
        c("max", p.max),
        mean,
        p.count
    );
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Deferred => "HELD",
        Verdict::Passed => "PASS",
        Verdict::Warned => "WARN",
        Verdict::Failed => "FAIL",
    }
}

/// late says how long after its start instant a run got going, when that matters.
fn late(s: f64) -> String {
    if s > 0.001 {
        format!(
            ", got going {} after it: the arrivals due by then went at once",
            format_us((s * 1e6) as u64)
        )
    } else {
        String::new()
    }
}

/// shards writes which shard a run was, or the shards a merged result was made of.
fn shards(w: &mut String, s: &Summary) {
    if let Some(shard) = s.shard {
        let _ = writeln!(
            w,
            "  shard       {shard} of the schedule · started {}{}{} · {}",
            s.start.at,
            s.start
                .requested
                .as_ref()
                .map_or(String::new(), |r| format!(" (--start-at {r})")),
            late(s.start.late_s),
            s.start.clock.describe()
        );
    }
    let Some(m) = &s.merged else {
        return;
    };
    let _ = writeln!(
        w,
        "\n  shards      {} merged · start spread {} (latest start − earliest)",
        m.shard_count,
        format_us((m.start_spread_s * 1e6).round() as u64)
    );
    let _ = writeln!(
        w,
        "  {:<8}{:>12}{:>11}{:>11}{:>11}{:>10}{:>7}{:>10}{:>9}{:>9}  valid",
        "shard",
        "start",
        "late by",
        "target/s",
        "achieved",
        "on time",
        "late",
        "lag p99",
        "dropped",
        "errors",
    );
    for h in &m.shards {
        let _ = writeln!(
            w,
            "  {:<8}{:>12}{:>11}{:>11.1}{:>11.1}{:>9.2}%{:>7}{:>10}{:>9}{:>9}  {}",
            format!("{}/{}", h.index, m.shard_count),
            format!("+{}", format_us((h.start_offset_s * 1e6).round() as u64)),
            format_us((h.started_late_s * 1e6).round() as u64),
            h.target_rate,
            h.achieved_rate,
            h.on_time_share * 100.0,
            h.late,
            cell(h.dispatch_lag_us.p99),
            h.dropped,
            h.errors,
            match (h.valid, h.partial) {
                (true, false) => "yes",
                (true, true) => "yes, partial",
                (false, _) => "NO",
            }
        );
    }
}

/// print writes the summary to standard output; a reader that has gone (`| head`) is no reason
/// to lose the exit code the verdict gives.
pub fn print(s: &Summary) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(render(s).as_bytes());
    let _ = out.flush();
}

/// render turns a summary into the text printed at the end of a run.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "metronome {} · plan {} · {} · seed {} · {} thread{} · {} connections",
        s.metronome_version,
        s.plan,
        s.target,
        s.seed,
        s.threads,
        if s.threads == 1 { "" } else { "s" },
        s.connections
    );
    let _ = writeln!(
        w,
        "started {} · schedule {:.1} s · elapsed {:.1} s (including the drain){}",
        s.started_at,
        s.duration_s,
        s.elapsed_s,
        match (s.partial, &s.aborted) {
            (true, Some(_)) => " · PARTIAL: aborted by a criterion",
            (true, None) => " · PARTIAL: interrupted",
            _ => "",
        }
    );
    for c in &s.steering {
        let _ = writeln!(w, "steered {}", c.said());
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "  arrivals    {} scheduled · {} sent · {} dropped",
        s.scheduled, s.requests, s.dropped
    );
    let _ = writeln!(
        w,
        "  rate        target {:.1}/s · achieved {:.1}/s · completed {:.1}/s",
        s.target_rate, s.achieved_rate, s.completed_rate
    );
    let kinds: Vec<String> = s
        .error_kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        w,
        "  responses   {} ok · {} errors{}",
        s.successes,
        s.errors,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "  {:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>10}",
        "", "p50", "p90", "p95", "p99", "p99.9", "max", "mean", "count"
    );
    marked_row(w, "latency", &s.latency_us, &s.lateness.percentiles_touched);
    row(w, "service time", &s.service_time_us);
    row(w, "queue wait", &s.queue_wait_us);
    row(w, "connect", &s.connect_us);
    row(w, "dispatch lag", &s.dispatch_lag_us);
    if s.errors > 0 {
        row(w, "error latency", &s.error_latency_us);
    }
    let _ = writeln!(
        w,
        "  (latency counts from each arrival's intended time; service time from when the request was sent;\n   latency and service time are over successful responses)"
    );
    if s.percentiles_are_lower_bounds {
        let _ = writeln!(
            w,
            "  ! {} arrivals were dropped and have no latency: every percentile above is a lower bound",
            s.dropped
        );
    }
    if s.lateness.late > 0 {
        let _ = writeln!(
            w,
            "  {} {} of {} issued arrivals were dispatched more than {} late (the latest by {}){}",
            if s.lateness.percentiles_touched.is_empty() {
                "!"
            } else {
                "*"
            },
            s.lateness.late,
            s.dispatch_lag_us.count,
            format_us(s.on_time_bound_us),
            format_us(s.lateness.max_lag_us),
            if s.lateness.percentiles_touched.is_empty() {
                ": too few to reach any latency percentile above"
            } else {
                ": latency marked * may be the engine's lateness rather than the target's"
            }
        );
    }
    if s.by_name.len() > 1 || s.by_name.iter().any(|n| n.sla_class.is_some()) {
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "  {:<28}{:>8}{:>9}{:>7}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}  {:<9}{:<14}SLA",
            "scenario/name",
            "count",
            "rate",
            "errors",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "max",
            "svc p99",
            "SLA class",
        );
        for n in &s.by_name {
            let l = &n.latency_us;
            let _ = writeln!(
                w,
                "  {:<28}{:>8}{:>9.1}{:>7}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}  {:<9}{:<14}{}",
                format!("{}/{}", n.scenario, n.name),
                n.requests,
                n.rate,
                n.errors,
                cell(l.p50),
                cell(l.p90),
                cell(l.p95),
                cell(l.p99),
                cell(l.p99_9),
                cell(l.max),
                cell(n.service_time_us.p99),
                n.sla_class.as_deref().unwrap_or("-"),
                n.sla_verdict.map_or("-", verdict_word)
            );
        }
        if s.by_name.iter().any(|n| n.sla_verdict.is_some()) {
            // The row's percentiles and its verdict cover different spans: say so, or a p95
            // far over target beside PASS reads as a contradiction.
            let _ = writeln!(
                w,
                "  (percentiles over the whole run; SLA is the worst of this endpoint's stage verdicts below,\n   each judged per stage with its settle time left out)"
            );
        }
    }
    if s.by_stage.len() > 1 {
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "  {:<28}{:>10}{:>10}{:>9}{:>8}{:>9}{:>9}",
            "scenario/stage", "target/s", "achieved", "errors", "err %", "dropped", "p99"
        );
        for st in &s.by_stage {
            let _ = writeln!(
                w,
                "  {:<28}{:>10.1}{:>10.1}{:>9}{:>7.2}%{:>9}{:>9}",
                format!("{}/{}", st.scenario, st.name),
                st.target_rate,
                st.achieved_rate,
                st.errors,
                st.error_rate * 100.0,
                st.dropped,
                cell(st.latency_us.p99)
            );
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "  engine      {:.2}% of issued arrivals on time (dispatch lag ≤ {} ms), {} late · {} dropped · {} connections opened before the start, {} arrivals opened a new one",
        s.on_time_share * 100.0,
        s.on_time_bound_us / 1000,
        s.lateness.late,
        s.dropped,
        s.connections_opened_before_start,
        s.new_connections
    );
    // The workers' own time: each of them lives the whole run.
    let thread_time = (s.elapsed_s * s.threads.max(1) as f64).max(1e-9);
    let busy = s.engine_cpu_s / thread_time;
    let _ = writeln!(
        w,
        "              {} pacing · the worker threads used {:.2} s of CPU ({:.0}% of their time), {:.1} µs per arrival",
        s.pacing.name(),
        s.engine_cpu_s,
        busy * 100.0,
        s.engine_cpu_us_per_request
    );
    if s.recorder_cpu_us_per_request > 0.0 {
        let _ = writeln!(
            w,
            "              the recorder, progress line and streamed files used {:.2} µs per arrival on the run's own thread",
            s.recorder_cpu_us_per_request
        );
    }
    if s.pacing == crate::plan::Pacing::Coarse && s.requests > 0 {
        let _ = writeln!(
            w,
            "  ! coarse pacing added its dispatch lag to every latency: p50 {}, p99 {} (it wakes every 0.9 ms and releases the arrivals due in one batch); default pacing sends each on time for more CPU",
            cell(s.dispatch_lag_us.p50),
            cell(s.dispatch_lag_us.p99)
        );
    }
    if let Some(wait) = s.engine_cpu_wait_s {
        let share = wait / thread_time;
        let _ = writeln!(
            w,
            "              they waited {:.1} ms for a CPU while ready to run ({:.1}% of their time)",
            wait * 1e3,
            share * 100.0
        );
        if share >= CPU_WAIT_NOTED && s.lateness.late > 0 {
            let _ = writeln!(
                w,
                "  ! other work on this machine held the worker threads off the CPU for {:.0} ms: that much of the lateness is the machine's, not the schedule's; give the run cores of its own (taskset) or a quieter machine",
                wait * 1e3
            );
        }
    }
    if busy >= ENGINE_BUSY && s.pacing != crate::plan::Pacing::Precise && s.requests > 0 {
        let _ = writeln!(
            w,
            "  ! the worker threads were busy {:.0}% of the run: the engine may be what limits it, and its own delays then show as queue wait and service time; try more --threads (on more cores) or a lower rate",
            busy * 100.0
        );
    }
    if s.tls {
        let _ = writeln!(
            w,
            "              TLS · {} handshakes by arrivals, p50 {} · certificate verification {}",
            s.tls_handshake_us.count,
            cell(s.tls_handshake_us.p50),
            if s.tls_verified {
                "on"
            } else {
                "OFF (--insecure)"
            }
        );
    }
    if s.clamped_values > 0 {
        let _ = writeln!(
            w,
            "  ! {} values over 1 h were clamped to 1 h",
            s.clamped_values
        );
    }
    for why in &s.results_incomplete {
        let _ = writeln!(w, "  ! {why}; every figure here is complete");
    }
    shards(w, s);
    let _ = writeln!(w);
    // The run's own criteria always show; a plan's many per-stage criteria show when they did
    // not pass, and the rest are counted (the JSON has every one).
    let mut quiet_passes = 0;
    let mut held = 0;
    for c in &s.criteria {
        if c.stage.is_some() && c.verdict == Verdict::Passed {
            quiet_passes += 1;
            continue;
        }
        if c.verdict == Verdict::Deferred {
            held += 1;
            continue;
        }
        let _ = writeln!(w, "  {}  {}: {}", verdict_word(c.verdict), c.name, c.detail);
    }
    if quiet_passes > 0 {
        let _ = writeln!(
            w,
            "  PASS  {quiet_passes} more stage criteria (error rates, SLA percentiles, dropped)"
        );
    }
    if held > 0 {
        let _ = writeln!(
            w,
            "  HELD  {held} stage criteria judged at merge: one shard's share decides nothing of the whole run (metronome merge)"
        );
    }
    let _ = writeln!(w);
    let failed: Vec<&str> = s
        .criteria
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| c.name.as_str())
        .collect();
    let verdict = match s.exit_code {
        0 => "PASSED".to_string(),
        1 => format!("FAILED ({})", failed.join(", ")),
        _ => format!("NOT VALID ({})", failed.join(", ")),
    };
    let _ = writeln!(w, "result: {verdict} · exit {}", s.exit_code);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Pacing;

    #[test]
    fn a_busy_engine_is_named_unless_it_spins_on_purpose() {
        let mut s = crate::report::csv::tests::summary();
        s.threads = 2;
        s.elapsed_s = 10.0;
        s.engine_cpu_s = 19.8;
        s.pacing = Pacing::Default;
        let text = render(&s);
        assert!(text.contains("(99% of their time)"), "{text}");
        assert!(
            text.contains("the worker threads were busy 99% of the run"),
            "{text}"
        );
        s.pacing = Pacing::Precise;
        assert!(!render(&s).contains("were busy"));
        s.pacing = Pacing::Default;
        s.engine_cpu_s = 5.0;
        let text = render(&s);
        assert!(text.contains("(25% of their time)"), "{text}");
        assert!(!text.contains("were busy"), "{text}");
    }

    #[test]
    fn coarse_pacing_says_what_it_adds_to_every_latency() {
        let mut s = crate::report::csv::tests::summary();
        s.pacing = Pacing::Coarse;
        s.dispatch_lag_us.p50 = Some(480);
        s.dispatch_lag_us.p99 = Some(1_760);
        let text = render(&s);
        assert!(
            text.contains(
                "coarse pacing added its dispatch lag to every latency: p50 480µs, p99 1.76ms"
            ),
            "{text}"
        );
        s.pacing = Pacing::Default;
        assert!(!render(&s).contains("coarse pacing added"));
    }

    #[test]
    fn time_the_machine_kept_the_workers_off_the_cpu_is_named_when_arrivals_were_late() {
        let mut s = crate::report::csv::tests::summary();
        s.threads = 2;
        s.elapsed_s = 10.0;
        s.engine_cpu_wait_s = Some(0.5);
        let text = render(&s);
        assert!(
            text.contains("they waited 500.0 ms for a CPU while ready to run (2.5% of their time)"),
            "{text}"
        );
        assert!(!text.contains("held the worker threads off"), "{text}");
        s.lateness.late = 3;
        let text = render(&s);
        assert!(
            text.contains(
                "other work on this machine held the worker threads off the CPU for 500 ms"
            ),
            "{text}"
        );
        s.engine_cpu_wait_s = None;
        assert!(!render(&s).contains("for a CPU"));
    }
}
