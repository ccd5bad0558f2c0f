//! The watch's criteria: the target stayed up, its reads worked, and its memory: growth from
//! the first window to the last (the playbook's 20 %), a ceiling, and the Theil–Sen trend
//! extrapolated over a horizon (a warning, so a 1-hour soak can already flag a leak that
//! would cross the limit in a day). Judged per process: a shard judges what it saw of the
//! target itself (every shard watching one target sees the same memory; `merge` carries no
//! samples).

use std::time::Duration;

use super::fit::theil_sen;
use super::{MemoryFigures, Sample, Trend, WatchLog, WatchSummary, Window, format_bytes};
use crate::criteria::{Criterion, Rule, Verdict, criterion};
use crate::plan::Watch;
use crate::units::format_share;

/// MIN_FIT_SAMPLES is the fewest samples a trend is fitted to.
const MIN_FIT_SAMPLES: usize = 10;

/// judge summarises what the watch saw and judges it; `schedule` is the schedule's length.
pub fn judge(
    watch: &Watch,
    log: Option<&WatchLog>,
    schedule: Duration,
) -> (WatchSummary, Vec<Criterion>) {
    let mut out = Vec::new();
    let Some(log) = log else {
        out.push(criterion(
            "target watched",
            Verdict::Warned,
            "the plan's [watch] gives no target, so memory was not judged: add pid, process, cgroup or metrics_url to [watch], or run with --watch-pid, --watch-process, --watch-cgroup or --watch-url".into(),
            false,
        ));
        return (
            WatchSummary {
                interval_s: watch.interval.as_secs_f64(),
                ..WatchSummary::default()
            },
            out,
        );
    };
    let samples = log.samples();
    let mut summary = WatchSummary {
        source: log.source.clone(),
        interval_s: log.interval.as_secs_f64(),
        samples: log.reads,
        failed_reads: log.failed_reads,
        memory_bytes: figures(&samples),
        cpu_mean: None,
        cpu_max: None,
        first_window: None,
        last_window: None,
        growth: None,
        trend: None,
        gone_at: log.gone.as_ref().map(|e| e.at.clone()),
        events: log.events(),
        event_count: log.event_count,
    };
    let cpus: Vec<f64> = samples.iter().filter_map(|s| s.cpu).collect();
    if !cpus.is_empty() {
        summary.cpu_mean = Some(cpus.iter().sum::<f64>() / cpus.len() as f64);
        summary.cpu_max = Some(cpus.iter().copied().fold(0.0, f64::max));
    }

    if log.sees_crashes {
        out.push(Criterion {
            rule: Some(Rule::TargetRunning {
                gone_at: summary.gone_at.clone(),
            }),
            ..match &log.gone {
                Some(e) => criterion(
                    "target running",
                    Verdict::Failed,
                    format!(
                        "the target crashed at {} ({:.1} s into the run): {}",
                        e.at, e.t, e.detail
                    ),
                    false,
                ),
                None => criterion(
                    "target running",
                    Verdict::Passed,
                    format!("{} was there at every sample", log.source),
                    false,
                ),
            }
        });
    }
    let failed = log.failed_reads - log.gone_reads;
    let first_failure = (log.events.iter()).find(|e| e.kind == super::EventKind::ReadFailed);
    out.push(criterion(
        "target watched",
        if failed > 0 && first_failure.is_some() {
            Verdict::Warned
        } else {
            Verdict::Passed
        },
        match first_failure {
            Some(e) if failed > 0 => format!(
                "{failed} of {} reads of {} failed, the first at {} ({:.1} s into the run): {}",
                log.reads + log.failed_reads,
                log.source,
                e.at,
                e.t,
                e.detail
            ),
            _ => format!(
                "{} samples of {} every {}",
                log.reads,
                log.source,
                crate::units::format_duration(log.interval)
            ),
        },
        false,
    ));

    // The run's samples: from the settle time on (the preflight's and the warm-up's left out).
    let settle = watch.settle.as_secs_f64();
    let run: Vec<&Sample> = samples.iter().filter(|s| s.t >= settle).collect();
    let window = (watch.window)
        .unwrap_or_else(|| schedule.mul_f64(0.1))
        .as_secs_f64()
        .max(log.interval.as_secs_f64());
    let end = run.last().map_or(0.0, |s| s.t);
    let first = mean_in(&run, settle, settle + window);
    let last_from = (end - window).max(settle + window);
    let last = mean_in(&run, last_from, f64::INFINITY);
    let baseline = first.as_ref().map(|w| w.mean_bytes);
    summary.growth = match (&first, &last) {
        (Some(f), Some(l)) if f.mean_bytes > 0.0 => Some(l.mean_bytes / f.mean_bytes - 1.0),
        _ => None,
    };
    summary.first_window = first.clone();
    summary.last_window = last.clone();

    if let Some(max_growth) = watch.max_memory_growth {
        let name = format!("target memory growth ≤ {}", format_share(max_growth));
        let rule = Rule::MemoryGrowth {
            first_mean_bytes: baseline,
            last_mean_bytes: last.as_ref().map(|w| w.mean_bytes),
            growth: summary.growth,
            max_growth,
        };
        let c = match (&first, &last, summary.growth) {
            (Some(f), Some(l), Some(g)) => criterion(
                &name,
                Verdict::judge(g, None, Some(max_growth)),
                format!(
                    "mean {} over {:.1}–{:.1} s ({} samples), {} over {:.1}–{:.1} s ({} samples): {}{}; fail above +{}",
                    format_bytes(f.mean_bytes),
                    f.from_s,
                    f.to_s,
                    f.samples,
                    format_bytes(l.mean_bytes),
                    l.from_s,
                    l.to_s,
                    l.samples,
                    if g >= 0.0 { "+" } else { "−" },
                    format_share(g.abs()),
                    format_share(max_growth)
                ),
                false,
            ),
            _ => criterion(
                &name,
                Verdict::Warned,
                format!(
                    "not judged: the run's samples do not fill a first and a last window of {:.0} s apart (set window in [watch], or run longer)",
                    window
                ),
                false,
            ),
        };
        out.push(Criterion {
            rule: Some(rule),
            ..c
        });
    }
    if let (Some(max), Some(m)) = (watch.max_memory, &summary.memory_bytes) {
        out.push(Criterion {
            rule: Some(Rule::MaxMemory {
                peak_bytes: m.max,
                max_bytes: max,
            }),
            ..criterion(
                &format!("target memory ≤ {}", format_bytes(max as f64)),
                if m.max > max {
                    Verdict::Failed
                } else {
                    Verdict::Passed
                },
                format!(
                    "peak {} at {:.1} s into the run; fail above {}",
                    format_bytes(m.max as f64),
                    m.max_at_s,
                    format_bytes(max as f64)
                ),
                false,
            )
        });
    }
    if let (Some(horizon), Some(max_growth)) = (watch.memory_horizon, watch.max_memory_growth) {
        let points: Vec<(f64, f64)> = run.iter().map(|s| (s.t, s.memory as f64)).collect();
        let horizon_s = horizon.as_secs_f64();
        let name = format!(
            "target memory trend over {} ≤ {}",
            span(horizon),
            format_share(max_growth)
        );
        let fit = (points.len() >= MIN_FIT_SAMPLES)
            .then(|| theil_sen(&points))
            .flatten();
        let c = match fit {
            Some(f) => {
                let from = points.first().map_or(0.0, |p| p.0);
                let base = f.at(from).max(1.0);
                let projected = f.slope * horizon_s;
                let growth = projected / base;
                summary.trend = Some(Trend {
                    slope_bytes_per_s: f.slope,
                    slope_low: f.low,
                    slope_high: f.high,
                    points: f.points as u64,
                    horizon_s,
                    projected_bytes: projected,
                    projected_growth: growth,
                    from_s: from,
                    to_s: end,
                    from_bytes: f.at(from),
                    to_bytes: f.at(end),
                });
                // A slope whose interval reaches zero is no evidence of growth, however steep.
                let leaking = growth > max_growth && f.low > 0.0;
                Criterion {
                    rule: Some(Rule::MemoryTrend {
                        slope_bytes_per_s: Some(f.slope),
                        horizon_s,
                        projected_growth: Some(growth),
                        max_growth,
                    }),
                    ..criterion(
                        &name,
                        if leaking {
                            Verdict::Warned
                        } else {
                            Verdict::Passed
                        },
                        format!(
                            "Theil–Sen slope {}/h (95 % interval {} … {}/h) over {} samples from {:.1} s to {:.1} s; over {}: {}{} ({}{} of {}); warn above +{}{}",
                            format_bytes(f.slope * 3600.0),
                            format_bytes(f.low * 3600.0),
                            format_bytes(f.high * 3600.0),
                            f.points,
                            from,
                            end,
                            span(horizon),
                            if projected >= 0.0 { "+" } else { "" },
                            format_bytes(projected),
                            if growth >= 0.0 { "+" } else { "−" },
                            format_share(growth.abs()),
                            format_bytes(base),
                            format_share(max_growth),
                            if leaking {
                                ": memory would grow past the limit: a leak?"
                            } else {
                                ""
                            }
                        ),
                        false,
                    )
                }
            }
            None => Criterion {
                rule: Some(Rule::MemoryTrend {
                    slope_bytes_per_s: None,
                    horizon_s,
                    projected_growth: None,
                    max_growth,
                }),
                ..criterion(
                    &name,
                    Verdict::Warned,
                    format!(
                        "not judged: {} samples, at least {MIN_FIT_SAMPLES} needed to fit a trend (sample more often with interval in [watch])",
                        points.len()
                    ),
                    false,
                )
            },
        };
        out.push(c);
    }
    (summary, out)
}

/// span writes a horizon the way it was most likely typed: 24 h, 90 min, 86.4 s.
fn span(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 && (s / 3600.0).fract() == 0.0 {
        format!("{} h", s / 3600.0)
    } else if s >= 60.0 && (s / 60.0).fract() == 0.0 {
        format!("{} min", s / 60.0)
    } else {
        format!("{s} s")
    }
}

fn figures(samples: &[Sample]) -> Option<MemoryFigures> {
    let first = samples.first()?;
    let top = samples.iter().max_by_key(|s| s.memory)?;
    Some(MemoryFigures {
        first: first.memory,
        min: samples.iter().map(|s| s.memory).min()?,
        mean: samples.iter().map(|s| s.memory as f64).sum::<f64>() / samples.len() as f64,
        max: top.memory,
        last: samples.last()?.memory,
        max_at_s: top.t,
    })
}

/// mean_in is the window [from, to) of the samples and their mean memory; None when empty.
fn mean_in(samples: &[&Sample], from: f64, to: f64) -> Option<Window> {
    let inside: Vec<&&Sample> = samples.iter().filter(|s| s.t >= from && s.t < to).collect();
    if inside.is_empty() {
        return None;
    }
    Some(Window {
        from_s: inside[0].t,
        to_s: inside[inside.len() - 1].t,
        samples: inside.len() as u64,
        mean_bytes: inside.iter().map(|s| s.memory as f64).sum::<f64>() / inside.len() as f64,
    })
}
