//! Helpers shared by the integration tests: real runs over loopback against the demo target.
#![allow(dead_code)]

use std::time::Duration;

use hyper::http::Method;
use metronome::demo::{DemoConfig, DemoTarget};
use metronome::plan::{Plan, Target};
use metronome::run::{self, Options};
use metronome::summary::Summary;

/// demo starts the demo target with `config`.
pub fn demo(config: DemoConfig) -> DemoTarget {
    DemoTarget::start(config).expect("demo target starts")
}

/// quick makes a quick-mode plan against `base` (e.g. the demo's base_url) at `path`.
pub fn quick(base: &str, path: &str, rate: f64, duration: Duration) -> Plan {
    let (target, _) = Target::parse(base).expect("test URL parses");
    Plan::quick(target, Method::GET, path, rate, duration)
}

/// run executes a plan quietly, never interrupted.
pub fn run(plan: Plan) -> Summary {
    run::execute(
        plan,
        &Options {
            quiet: true,
            ..Options::default()
        },
        std::future::pending(),
    )
    .expect("run completes")
}

/// ms converts microseconds to milliseconds.
pub fn ms(us: Option<u64>) -> f64 {
    us.expect("percentile present") as f64 / 1000.0
}

/// within says whether `got` is within `frac` of `want`.
pub fn within(got: f64, want: f64, frac: f64) -> bool {
    (got - want).abs() <= want * frac
}

/// metronome runs the binary with `args` and waits for it.
pub fn metronome(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// text is everything a finished command printed, standard output then standard error.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
