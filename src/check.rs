//! Check: a plan described for a person — its stages with expected arrivals, its request mix as
//! percentages with SLA classes, and the criteria each stage is judged by. Header values are
//! never shown (they may hold secrets from the environment).

use std::fmt::Write;

use crate::plan::checks::Checks;
use crate::plan::{Plan, StageCriteria, Window};
use crate::units::{format_duration, format_us};

/// window_text says how a criterion is also judged over time: " and in every 5m window".
fn window_text(w: Option<Window>) -> String {
    match w {
        None => String::new(),
        Some(w) => format!(
            ", and in every {} window{}{}",
            humantime::format_duration(w.written),
            if w.length == w.written {
                String::new()
            } else {
                format!(" ({} here)", format_duration(w.length))
            },
            if w.abort {
                ", aborting on a clear failure"
            } else {
                ""
            }
        ),
    }
}

fn criteria_text(c: &StageCriteria) -> String {
    let mut parts = Vec::new();
    match (c.warn_error_rate, c.max_error_rate) {
        (None, None) => {}
        (w, f) => {
            let mut e = "error rate".to_string();
            if let Some(w) = w {
                let _ = write!(e, " warn > {:.2}%", w * 100.0);
            }
            if let Some(f) = f {
                let _ = write!(e, " fail > {:.2}%", f * 100.0);
            }
            e.push_str(&window_text(c.error_window));
            parts.push(e);
        }
    }
    if !c.sla_percentiles.is_empty() {
        let qs: Vec<&str> = c.sla_percentiles.iter().map(|q| q.name()).collect();
        parts.push(format!(
            "SLA {} (warn over target, fail > {:.0}% over){}",
            qs.join("/"),
            c.sla_fail_over * 100.0,
            window_text(c.sla_window)
        ));
    }
    if let Some(d) = c.max_dropped {
        parts.push(format!("dropped ≤ {d}"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

/// describe renders a plan as `metronome check` prints it. `has_target` is false when the plan
/// names no base URL (it then runs against the built-in demo target).
pub fn describe(plan: &Plan, has_target: bool) -> String {
    let mut out = String::new();
    let w = &mut out;
    let target = if has_target {
        plan.target.url()
    } else {
        "the built-in demo target (no base_url; --host sets one)".into()
    };
    let _ = writeln!(w, "plan {} · target {target}", plan.name);
    let headers: Vec<&str> = plan.target.headers.keys().map(|k| k.as_str()).collect();
    let _ = writeln!(
        w,
        "  seed {} · {} threads · {} connections · max in flight {} · timeout {}{}{}",
        plan.seed,
        plan.threads,
        plan.limits.connections,
        plan.limits.max_in_flight,
        format_duration(plan.limits.timeout),
        // Said only when the plan changed it, so the usual description stays as it was.
        if plan.limits.max_body == crate::plan::DEFAULT_MAX_BODY {
            String::new()
        } else {
            format!(
                " · max body {}",
                crate::plan::checks::format_size(plan.limits.max_body)
            )
        },
        if headers.is_empty() {
            String::new()
        } else {
            format!(" · headers {} (values not shown)", headers.join(", "))
        }
    );
    if let Some(watch) = &plan.watch {
        let _ = writeln!(w, "  {}", crate::watch::describe(watch));
    }
    if !plan.steering.is_empty() {
        let _ = writeln!(w, "  steered (the stages below have these changes):");
    }
    for c in &plan.steering {
        let _ = writeln!(w, "    {}", c.said());
    }
    for (si, s) in plan.scenarios.iter().enumerate() {
        let schedule = s.schedule(plan.seed, si as u64);
        let _ = writeln!(
            w,
            "\n  scenario {} · {:?} arrivals · {} over {}",
            s.name,
            s.arrivals,
            schedule.expected_arrivals().ceil() as u64,
            format_duration(schedule.duration())
        )
        .map(|_| ());
        let _ = writeln!(
            w,
            "    {:<16}{:>9}{:>9}{:>10}{:>9}{:>11}  criteria",
            "stage", "from/s", "to/s", "duration", "settle", "arrivals"
        );
        for (k, st) in s.stages.iter().enumerate() {
            let _ = writeln!(
                w,
                "    {:<16}{:>9.2}{:>9.2}{:>10}{:>9}{:>11}  {}",
                st.name,
                st.from,
                st.to,
                format_duration(st.duration),
                if st.settle.is_zero() {
                    "-".into()
                } else {
                    format_duration(st.settle)
                },
                st.arrivals().ceil() as u64,
                s.criteria
                    .get(k)
                    .map(criteria_text)
                    .unwrap_or_else(|| "none".into())
            );
        }
        let total: u64 = s.requests.iter().map(|r| u64::from(r.weight)).sum();
        let _ = writeln!(
            w,
            "    {:<22}{:>8}  {:<8}{:<42}SLA class",
            "request", "share", "method", "path"
        );
        for r in &s.requests {
            let class = match &r.sla_class {
                Some(c) => match plan.sla_classes.get(c) {
                    Some(t) => format!(
                        "{c} (p50 {} · p95 {} · p99 {})",
                        t.p50
                            .map_or("-".into(), |d| format_us(d.as_micros() as u64)),
                        t.p95
                            .map_or("-".into(), |d| format_us(d.as_micros() as u64)),
                        t.p99
                            .map_or("-".into(), |d| format_us(d.as_micros() as u64)),
                    ),
                    None => c.clone(),
                },
                None => "-".into(),
            };
            let _ = writeln!(
                w,
                "    {:<22}{:>7.1}%  {:<8}{:<42}{class}",
                r.name,
                100.0 * f64::from(r.weight) / total.max(1) as f64,
                r.method.as_str(),
                r.path.source()
            );
            let c = &r.checks;
            if *c != Checks::default() {
                let mut parts = vec![format!("status {}", c.status)];
                if let Some(b) = &c.body_contains {
                    parts.push(format!("body contains {b:?}"));
                }
                for (pointer, value) in &c.json_pointer {
                    parts.push(format!("{pointer} = {value}"));
                }
                if c.size_check {
                    parts.push(format!("body at most {} bytes", c.max_body));
                }
                let _ = writeln!(w, "      checks: {}", parts.join(" · "));
            }
        }
    }
    out
}
