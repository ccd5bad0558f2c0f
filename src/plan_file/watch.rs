//! `[watch]`: the target a run samples (one of `pid`, `process`, `cgroup`, `metrics_url` with
//! `metric`; or none, left to `--watch-*` flags), how often, and the memory criteria judged on
//! the samples. Durations scale with `--time-scale` like stage durations, the interval never
//! below 100 ms, so a compressed soak still gets samples.

use std::time::Duration;

use toml::Spanned;

use super::Result;
use super::raw::RawWatch;
use super::span::Ctx;
use crate::plan::{DEFAULT_WATCH_INTERVAL, MIN_WATCH_INTERVAL, Watch, WatchSource};
use crate::watch::prometheus::{self, DEFAULT_METRIC};

/// watch checks the `[watch]` table.
pub(super) fn watch(ctx: &Ctx, raw: &Spanned<RawWatch>, time_scale: f64) -> Result<Watch> {
    let w = raw.get_ref();
    let given: Vec<(&str, std::ops::Range<usize>)> = [
        ("pid", w.pid.as_ref().map(|v| v.span())),
        ("process", w.process.as_ref().map(|v| v.span())),
        ("cgroup", w.cgroup.as_ref().map(|v| v.span())),
        ("metrics_url", w.metrics_url.as_ref().map(|v| v.span())),
    ]
    .into_iter()
    .filter_map(|(k, s)| Some((k, s?)))
    .collect();
    if let [(first, _), (second, span), ..] = given.as_slice() {
        return Err(ctx.err(
            span.clone(),
            format!("[watch] names its target twice: `{first}` and `{second}`"),
            "keep one of pid, process, cgroup and metrics_url",
        ));
    }
    if let (Some(m), None) = (&w.metric, &w.metrics_url) {
        return Err(ctx.err(
            m.span(),
            "`metric` is read from a metrics endpoint, and [watch] has no metrics_url",
            "add metrics_url = \"http://HOST:PORT/metrics\", or remove metric",
        ));
    }
    let source = if let Some(pid) = &w.pid {
        let n = ctx.int(
            pid,
            "pid",
            1..(u32::MAX as i64),
            "give the target's process id",
        )?;
        Some(WatchSource::Pid(n as u32))
    } else if let Some(name) = &w.process {
        let n = name.get_ref().trim();
        if n.is_empty() || n.contains('/') {
            return Err(ctx.err(
                name.span(),
                format!("`{n}` is not a process name"),
                "give the name ps shows (its /proc/PID/comm), e.g. process = \"uvicorn\"",
            ));
        }
        Some(WatchSource::Process(n.to_string()))
    } else if let Some(dir) = &w.cgroup {
        let d = dir.get_ref();
        if !d.starts_with('/') {
            return Err(ctx.err(
                dir.span(),
                format!("cgroup `{d}` is not an absolute path"),
                "give the cgroup's directory, e.g. /sys/fs/cgroup/system.slice/docker-<id>.scope",
            ));
        }
        Some(WatchSource::Cgroup(d.into()))
    } else if let Some(url) = &w.metrics_url {
        prometheus::endpoint(url.get_ref()).map_err(|e| {
            ctx.err(
                url.span(),
                e,
                "write it like metrics_url = \"http://10.0.0.5:9100/metrics\" (http:// only)",
            )
        })?;
        let metric = match &w.metric {
            Some(m) => prometheus::parse_selector(m.get_ref()).map_err(|e| {
                ctx.err(
                    m.span(),
                    format!("metric: {e}"),
                    "write a gauge name with optional label matchers, e.g. metric = 'process_resident_memory_bytes{job=\"api\"}'",
                )
            })?,
            None => prometheus::parse_selector(DEFAULT_METRIC).expect("a valid name"),
        };
        Some(WatchSource::Metrics {
            url: url.get_ref().clone(),
            metric,
        })
    } else {
        None
    };
    // As `Duration::mul_f64`, but a factor that overflows a duration is the flag's error.
    let scaled = |d: Duration| {
        Duration::try_from_secs_f64(time_scale * d.as_secs_f64()).map_err(|_| {
            ctx.flag(
                format!("--time-scale {time_scale} makes the watch's durations too long"),
                "use a smaller factor",
            )
        })
    };
    let interval = match &w.interval {
        Some(v) => scaled(ctx.positive_duration(v, "the watch interval")?)?,
        None => scaled(DEFAULT_WATCH_INTERVAL)?,
    }
    .max(MIN_WATCH_INTERVAL);
    let settle = (w.settle.as_ref())
        .map(|v| ctx.duration(v).and_then(scaled))
        .transpose()?
        .unwrap_or_default();
    let window = (w.window.as_ref())
        .map(|v| {
            ctx.positive_duration(v, "the memory window")
                .and_then(scaled)
        })
        .transpose()?;
    let max_memory_growth = match &w.max_memory_growth {
        Some(g) if !(g.get_ref().is_finite() && *g.get_ref() >= 0.0) => {
            return Err(ctx.err(
                g.span(),
                format!(
                    "max_memory_growth {} is not a fraction of zero or more",
                    g.get_ref()
                ),
                "write growth as a fraction: 20 % is 0.20",
            ));
        }
        Some(g) if *g.get_ref() > 10.0 => {
            return Err(ctx.err(
                g.span(),
                format!(
                    "max_memory_growth {} allows memory to grow {}-fold: is it a percentage?",
                    g.get_ref(),
                    g.get_ref() + 1.0
                ),
                "write growth as a fraction: 20 % is 0.20",
            ));
        }
        Some(g) => Some(*g.get_ref()),
        None => None,
    };
    let max_memory = (w.max_memory.as_ref())
        .map(|v| ctx.size(v, "max_memory").map(|n| n as u64))
        .transpose()?;
    let memory_horizon = (w.memory_horizon.as_ref())
        .map(|v| ctx.positive_duration(v, "memory_horizon").and_then(scaled))
        .transpose()?;
    if let (Some(h), None) = (&w.memory_horizon, max_memory_growth) {
        return Err(ctx.err(
            h.span(),
            "memory_horizon extrapolates the trend against max_memory_growth, which [watch] does not set",
            "add max_memory_growth = 0.20 (the growth the trend may reach over the horizon)",
        ));
    }
    Ok(Watch {
        source,
        interval,
        settle,
        window,
        max_memory_growth,
        max_memory,
        memory_horizon,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Overrides;
    use super::super::tests::{SHORT, load_str};
    use crate::plan::WatchSource;

    #[test]
    fn a_watch_table_reads_and_scales() {
        let src = format!(
            "{SHORT}\n[watch]\nmetrics_url = \"http://127.0.0.1:9/metrics\"\nmetric = 'm{{job=\"api\"}}'\nmax_memory_growth = 0.2\nmemory_horizon = \"24h\"\nmax_memory = \"2GiB\"\nsettle = \"10m\"\n"
        );
        let w = load_str(&src, &Overrides::default()).plan.watch.unwrap();
        assert_eq!(w.interval, Duration::from_secs(5));
        assert_eq!(w.max_memory, Some(2 << 30));
        let Some(WatchSource::Metrics { metric, .. }) = &w.source else {
            panic!("{w:?}")
        };
        assert_eq!(metric.to_string(), "m{job=\"api\"}");
        let scaled = load_str(
            &src,
            &Overrides {
                time_scale: Some(0.001),
                ..Overrides::default()
            },
        )
        .plan
        .watch
        .unwrap();
        assert_eq!(scaled.interval, Duration::from_millis(100));
        assert_eq!(scaled.memory_horizon, Some(Duration::from_secs_f64(86.4)));
        assert_eq!(scaled.settle, Duration::from_millis(600));
        let none = load_str(
            &format!("{SHORT}\n[watch]\nmax_memory_growth = 0.2\n"),
            &Overrides::default(),
        );
        assert_eq!(none.plan.watch.unwrap().source, None);
        assert!(load_str(SHORT, &Overrides::default()).plan.watch.is_none());
    }

    #[test]
    fn a_time_scale_that_overflows_the_watch_is_the_flags_error() {
        // Found by tests/fuzz.rs: --time-scale 1e300 with a [watch] panicked in Duration::mul_f64.
        let e = super::super::parse(
            &format!("{SHORT}\n[watch]\nmax_memory_growth = 0.2\n"),
            std::path::Path::new("p.toml"),
            &Overrides {
                time_scale: Some(1e300),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.line, 0, "{e}");
        assert!(e.message.starts_with("--time-scale 1000"), "{e}");
        assert!(
            e.message.ends_with("makes the watch's durations too long"),
            "{e}"
        );
    }
}
