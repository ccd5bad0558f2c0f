//! The `--watch-*` flags of `run`: the target watched during the run, in quick mode or in
//! place of a plan's `[watch]` target (a pid is seldom known when a plan is written). The
//! plan's memory criteria stay; what a watch samples and judges is `watch`'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::usage;
use crate::plan::{MIN_WATCH_INTERVAL, Plan, Watch, WatchSource};
use crate::run::Failure;
use crate::units::parse_duration;
use crate::watch::prometheus;

#[derive(Debug, Args, Clone, Default)]
pub(super) struct WatchFlags {
    /// Watch this local process (RSS and CPU from /proc) from the preflight to the end of the
    /// drain; it exiting fails the run. Replaces a plan's [watch] target.
    #[arg(long, value_name = "PID")]
    watch_pid: Option<u32>,
    /// Watch every local process of this name, summed (as ps names it).
    #[arg(long, value_name = "NAME")]
    watch_process: Option<String>,
    /// Watch a cgroup v2 directory: a container (/sys/fs/cgroup/system.slice/docker-ID.scope)
    /// or a service.
    #[arg(long, value_name = "DIR")]
    watch_cgroup: Option<PathBuf>,
    /// Watch a Prometheus metrics endpoint (http:// only), e.g. http://10.0.0.5:9100/metrics.
    #[arg(long, value_name = "URL")]
    watch_url: Option<String>,
    /// With --watch-url: the gauge read, label matchers allowed, e.g.
    /// 'process_resident_memory_bytes{job="api"}' [default: process_resident_memory_bytes].
    #[arg(long, value_name = "METRIC")]
    watch_metric: Option<String>,
    /// Time between samples, at least 100ms [default: 5s, or the plan's].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    watch_interval: Option<Duration>,
}

impl WatchFlags {
    /// apply sets the plan's watch from the flags given.
    pub(super) fn apply(&self, plan: &mut Plan) -> Result<(), Failure> {
        let sources = [
            ("--watch-pid", self.watch_pid.is_some()),
            ("--watch-process", self.watch_process.is_some()),
            ("--watch-cgroup", self.watch_cgroup.is_some()),
            ("--watch-url", self.watch_url.is_some()),
        ];
        let given: Vec<&str> = sources
            .iter()
            .filter(|(_, g)| *g)
            .map(|(f, _)| *f)
            .collect();
        if given.len() > 1 {
            return Err(usage(format!(
                "{} both name the target to watch; give one",
                given.join(" and ")
            )));
        }
        if self.watch_metric.is_some() && self.watch_url.is_none() {
            return Err(usage(
                "--watch-metric is read from a metrics endpoint: give --watch-url too",
            ));
        }
        let source = if let Some(pid) = self.watch_pid {
            Some(WatchSource::Pid(pid))
        } else if let Some(name) = &self.watch_process {
            Some(WatchSource::Process(name.clone()))
        } else if let Some(dir) = &self.watch_cgroup {
            Some(WatchSource::Cgroup(dir.clone()))
        } else if let Some(url) = &self.watch_url {
            prometheus::endpoint(url).map_err(|e| usage(format!("--watch-url: {e}")))?;
            let metric = self
                .watch_metric
                .as_deref()
                .unwrap_or(prometheus::DEFAULT_METRIC);
            let metric = prometheus::parse_selector(metric)
                .map_err(|e| usage(format!("--watch-metric: {e}")))?;
            Some(WatchSource::Metrics {
                url: url.clone(),
                metric,
            })
        } else {
            None
        };
        if let Some(source) = source {
            match &mut plan.watch {
                Some(w) => w.source = Some(source),
                None => plan.watch = Some(Watch::of(source)),
            }
        }
        if let Some(every) = self.watch_interval {
            if every < MIN_WATCH_INTERVAL {
                return Err(usage("--watch-interval must be at least 100ms"));
            }
            match &mut plan.watch {
                Some(w) => w.interval = every,
                None => {
                    return Err(usage(
                        "--watch-interval needs a target to watch: --watch-pid, --watch-process, --watch-cgroup or --watch-url",
                    ));
                }
            }
        }
        Ok(())
    }
}
