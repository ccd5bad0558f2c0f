//! Plan files: a TOML test plan read into a validated [`Plan`].
//!
//! Every mistake in a plan is reported as a [`PlanError`] that names `file:line:column` of the
//! offending value, says what is wrong, and says how to fix it. Nothing is sent before the whole
//! plan is valid.
//!
//! # Format
//!
//! ```toml
//! name = "load-50"              # optional; default: the file's stem
//! seed = 1                      # optional, default 1 (non-negative integer)
//! threads = 4                   # optional, 1..=1024; default: the number of available cores
//! pacing = "default"            # "precise": spin the last 200 µs; "coarse": 0.9 ms batches
//! user_rate = 0.67              # requests/s per user; required if a stage uses users
//! arrivals = "uniform"          # or "poisson"; default uniform; a scenario may override
//!
//! [target]                      # optional table
//! base_url = "http://127.0.0.1:8001"  # http only; its path prefixes every request path
//! timeout = "10s"               # defaults: 30s, 100 connections, 10000 in flight, 1000 connects/s
//! connections = 100              # per process: with --shard I/N, each shard opens up to this many
//! max_in_flight = 10000          # per process too (per shard)
//! connect_rate = 1000
//! max_body = "64MiB"            # largest response body read; longer: body_too_large
//! preflight = true
//! http = "auto"                 # default: HTTP/2 if TLS's ALPN agrees, else 1.1; or "1.1", or "2"
//!                               #   ("2": ALPN over TLS, prior knowledge (h2c) on cleartext)
//! keep_alive = true             # false: a new connection for every request
//! max_streams = 100             # HTTP/2: concurrent streams per connection
//! ca_file = "ca.pem"            # https: a private CA (PEM), relative to the plan file
//! insecure = false              # https: skip certificate verification (announced in every output)
//! headers = { Authorization = "Bearer ${env:API_TOKEN}", Accept = "application/json" }
//!
//! [sla.read_medium]             # SLA classes, any names; each sets some of p50/p95/p99
//! p50 = "150ms"
//! p95 = "400ms"
//! p99 = "600ms"
//!
//! [vars]                        # template variables shared by all scenarios
//! industry = ["retail", "healthcare"]   # one of these (strings or integers), never empty
//! agent_id = { range = [1, 500] }       # an integer in [lo, hi], lo <= hi
//! seq = "sequence"                      # the arrival's index within its scenario
//! user = { csv = "users.csv", order = "cycle" }  # a data file: {user.email} is a column
//!
//! [criteria]                    # defaults for every stage
//! error_rate = { warn = 0.01, fail = 0.05 }  # fractions in 0..=1; warn <= fail
//!                               #   also window = "5m" (judged in every 5 min window too) and
//!                               #   abort = true (stop the run once a window clearly failed)
//! sla = ["p95"]                 # percentiles judged against each request's class; default none
//! sla_fail_over = 0.5           # default 0.5: more than 50 % over target fails
//! sla_window = "5m"             # optional: each percentile judged in every 5 min window too
//! sla_abort = true              # optional, needs a window: stop once one clearly failed
//! max_dropped = 0               # optional
//!
//! [watch]                       # the target, sampled from the preflight to the end of the drain
//! pid = 4242                    # one of: pid, process = "uvicorn" (all of that name, summed),
//!                               #   cgroup = "/sys/fs/cgroup/system.slice/docker-<id>.scope",
//!                               #   metrics_url = "http://10.0.0.5:8001/metrics" (http:// only)
//!                               #   with metric = 'process_resident_memory_bytes{job="api"}'
//! interval = "5s"               # default 5s; scaled by --time-scale, never below 100ms
//! settle = "10m"                # leading time left out before the first window
//! window = "1h"                 # the first and last windows compared; default 10 % of the run
//! max_memory_growth = 0.20      # the last window's mean over the first's: more fails
//! max_memory = "2GiB"           # a sample above it fails
//! memory_horizon = "24h"        # the fitted trend, extrapolated over it, warns past the growth
//!
//! [[scenario]]
//! name = "journey"              # required, unique
//! arrivals = "poisson"          # optional override
//! user_rate = 0.67              # optional override
//! criteria = { error_rate = { warn = 0.02 } }  # optional, same fields as [criteria]
//!
//! [[scenario.stage]]
//! name = "ramp"                 # required, unique within the scenario
//! duration = "30s"              # required, > 0
//! from_users = 0                # exactly one rate form: rate = 100 | from = 0, to = 200 |
//! to_users = 50                 #   users = 50 | from_users = 0, to_users = 50
//! settle = "10s"                # optional, < duration: leading time left out of criteria
//! criteria = { max_dropped = 0 }
//!
//! [[scenario.request]]
//! name = "filter_agents"        # required, unique within the scenario
//! weight = 5                    # default 1; >= 0; not all zero in a scenario
//! method = "GET"                # default GET; upper case
//! path = "/api/v1/agents?industry={industry}"  # template; starts with "/"
//! sla = "read_medium"           # optional; names a class in [sla]
//! headers = { "X-Client" = "metronome" }  # optional; ${env:NAME} allowed
//! body = '{{"title": "goal {seq}", "by": "{user.email}"}}'  # optional template; {{ }} are braces
//! json = true                   # the body is JSON: checked at load; Content-Type defaults to it
//! check = { status = ["2xx"], body_contains = "agent", max_body = "64KiB" }  # response checks
//!
//! [[scenario.request]]
//! name = "create_goal"
//! method = "POST"
//! path = "/api/v1/agents/{agent_id}/goals?user={user.id}"
//! body_file = "goal.json"       # sent as it is (not a template); not with body
//! content_type = "application/json"  # optional; sets Content-Type
//! check = { status = [200, 201], json = { "/status" = "active" } }
//! ```
//!
//! A plan with a single scenario may instead write `[[stage]]` and `[[request]]` at the top level
//! (its scenario is called "main"); mixing those with `[[scenario]]` is an error.
//!
//! # Meaning
//!
//! - `users` becomes a rate: users × user_rate (the scenario's, else the plan's). A stage asks
//!   for at most 10,000,000 arrivals/s (far above what a machine sends: one core issues about
//!   100,000/s), so a typo such as `rate = 1e12` is refused rather than run.
//! - Criteria resolve field by field: the plan's `[criteria]`, then the scenario's, then the
//!   stage's. `error_rate.warn` and `error_rate.fail` are separate fields, so a stage may change one
//!   and keep the other; `sla` replaces the whole list (`sla = []` judges nothing).
//! - `${env:NAME}` in a header value is replaced by the environment variable when the plan is
//!   loaded; an unset variable is an error. Any other `${…}` in a header value is an error. A
//!   `Transfer-Encoding` header is an error (every body is sent whole, with its Content-Length).
//! - In templates, `{name}` is a variable and `{{`/`}}` are literal braces, so a JSON body doubles
//!   its own braces: `'{{"id": {seq}}}'`. Paths may not contain spaces or `#` (percent-encode
//!   them: `%20`, `%23`; a fragment is never sent).
//! - A value filled into a path is percent-encoded where a URI needs it (spaces, quotes, `#`,
//!   non-ASCII), and so is such text written in the path itself. A path that could grow past
//!   65,534 bytes once filled in (its longest list item, data file field or number, each encoded)
//!   is an error when the plan is loaded, so no request is ever sent to a different path than the
//!   one written.
//! - `base_url` may have a path but no query or fragment; it is checked even when `--host`
//!   replaces it.
//! - An SLA class sets at least one target, and p50 <= p95 <= p99 where set.
//! - With no `base_url` and no `--host`, [`Loaded::has_target`] is false and the caller starts the
//!   demo target; the plan's target is a placeholder until then.
//! - `[watch]` samples the target's memory (and CPU, except from a metrics endpoint) every
//!   `interval`, from the start of the preflight to the end of the drain; with no target key it
//!   states criteria only, and `--watch-pid`, `--watch-process`, `--watch-cgroup` or `--watch-url`
//!   names the target (they also replace the plan's). `interval`, `settle`, `window` and
//!   `memory_horizon` scale with `--time-scale` like stage durations. A target that is not there
//!   when the run starts refuses the run (exit 2). One that vanishes during it (its process
//!   exits, its cgroup goes away) fails the criterion `target running`, with its time; a read that
//!   fails (an endpoint down) is an event, counted, and warns `target watched`. The trend is a
//!   Theil–Sen fit over the samples after `settle` (at most 200 of them, evenly taken), and warns
//!   only when its 95 % interval excludes zero. `memory_horizon` needs `max_memory_growth`.
//! - Overrides from the command line: `--host` replaces `base_url`, `--time-scale F` multiplies
//!   every stage's duration and settle (not timeouts), `--seed` replaces `seed`.
//! - `max_body` (in `[target]`, `--max-body` on the command line) bounds every response body
//!   the engine reads, default 64 MiB: a body announced as longer (by its Content-Length) is
//!   refused at its head, one that turns out longer once read is cut off there; either is the
//!   error kind "body_too_large" and its connection is closed. Below it, bodies are counted and
//!   dropped as they arrive, never held, unless a check reads them. A check's own `max_body`
//!   (below) is a check: a body over it fails the check and is still read on, up to the run's
//!   `max_body`.
//! - Data files (`{ csv = "users.csv" }`) are read once when the plan loads, relative to the plan
//!   file. The header row names the columns; a template names one as `{user.email}`. Fields
//!   follow RFC 4180 (quoted fields may hold commas, line breaks and doubled quotes). Arrival i
//!   of a scenario uses row i with `order = "sequential"` (each row at most once: a scenario
//!   with more arrivals than rows is a plan error), row i mod n with `"cycle"` (the default), and
//!   a row drawn from the seed with `"random"`. One arrival takes every column from one row.
//! - `body_file` is read once, relative to the plan file, and sent as it is. With `json = true`
//!   a body must be JSON (a template is checked once its placeholders are filled) and
//!   Content-Type is `application/json` unless `content_type` or a header sets it.
//! - `check`: a response passes when its status is in `status` (default 2xx and 3xx: codes,
//!   classes "2xx", ranges "200-204"), its body contains `body_contains`, and each RFC 6901
//!   pointer in `json` has the value given; otherwise the arrival fails with error kind
//!   "check". A body is buffered only for a body check (setting `max_body` is one), never
//!   beyond `max_body` (default 1 MiB): a longer body fails.
//!
//! # Where each part lives
//!
//! The file is read in two steps, as ripgrep reads its flags: serde takes the text into the
//! structs of `raw` (unknown keys refused, every value with its span), then one builder per
//! section checks those values and makes the typed [`Plan`]. This module holds the entry points
//! ([`load`], [`parse`]), the error type and the top-level keys; it knows no section's rules.
//!
//! - `span`: byte spans to `file:line:column`, where a span becomes a [`PlanError`];
//! - `value`: the scalars every section reads (durations, bounded integers, rates, names);
//! - `target`: `[target]` and header tables; `sla`: `[sla.*]`; `vars`: `[vars]` and data files;
//! - `criteria`: `[criteria]` at each level and how the levels combine;
//! - `scenario`: `[[scenario]]` or the single-scenario short form; `stage`: each stage's load;
//! - `request`: each request and its templates; `body`: bodies and JSON; `check`: `check = {…}`.

mod body;
mod check;
mod criteria;
mod raw;
mod request;
mod scenario;
mod sla;
mod span;
mod stage;
mod target;
mod value;
mod vars;
mod watch;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::plan::Plan;
use crate::schedule::ArrivalProcess;

use criteria::{Layer, layer};
use raw::RawPlan;
use scenario::{Inherited, scenarios};
use sla::sla_classes;
use span::Ctx;
use target::target;
use value::{arrival_process, user_rate};
use vars::{rows_suffice, vars};

/// Overrides from the command line, applied after parsing.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`: replaces `target.base_url`.
    pub host: Option<String>,
    /// `--time-scale`: multiplies every stage's duration and settle.
    pub time_scale: Option<f64>,
    /// `--seed`: replaces `seed`.
    pub seed: Option<u64>,
}

/// Loaded is a plan read from a file, and whether it named a target (base_url or `--host`).
/// When `has_target` is false the caller starts the demo target and fills in the plan's target
/// host, port and authority.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated plan.
    pub plan: Plan,
    /// Whether the plan or the command line named a target.
    pub has_target: bool,
}

/// PlanError is one mistake in a plan file, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    /// The plan file, as given.
    pub file: PathBuf,
    /// 1-based line of the offending value; 0 when it is not in the file (a flag, an
    /// unreadable file).
    pub line: usize,
    /// 1-based column (in characters) of the offending value; 0 with line 0.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it ("" for no advice).
    pub help: String,
    /// The text of the offending line ("" with line 0).
    pub source_line: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if self.line > 0 {
            // Keep tabs so the caret lines up however the terminal renders them.
            let pad: String = self
                .source_line
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n  | {}\n  | {pad}^", self.source_line)?;
        }
        if !self.help.is_empty() {
            write!(f, "\n  = help: {}", self.help)?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

/// load reads and validates the plan file at `path`.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Loaded, PlanError> {
    parse(&read(path)?, path, overrides)
}

/// read reads a plan file's text, or says why it cannot be read.
pub fn read(path: &Path) -> Result<String, PlanError> {
    std::fs::read_to_string(path).map_err(|e| PlanError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the plan file: {e}"),
        help: "check the path; a plan is a UTF-8 TOML file such as plans/smoke.toml".into(),
        source_line: String::new(),
    })
}

/// parse validates plan text; `file` is only used to name it in errors and as the default name.
pub fn parse(source: &str, file: &Path, overrides: &Overrides) -> Result<Loaded, PlanError> {
    let ctx = Ctx { src: source, file };
    let time_scale = match overrides.time_scale {
        None => 1.0,
        Some(f) if f.is_finite() && f > 0.0 => f,
        Some(f) => {
            return Err(ctx.flag(
                format!("--time-scale {f} is not a positive number"),
                "give a factor above zero, e.g. --time-scale 0.1 to run ten times shorter",
            ));
        }
    };
    let raw: RawPlan = toml::from_str(source).map_err(|e| ctx.toml(&e))?;
    build(&ctx, raw, overrides, time_scale)
}

type Result<T, E = PlanError> = std::result::Result<T, E>;

/// build checks the top-level keys, then hands each section to its builder.
fn build(ctx: &Ctx, raw: RawPlan, overrides: &Overrides, time_scale: f64) -> Result<Loaded> {
    let name = match &raw.name {
        Some(n) => ctx.name(n, "plan")?,
        None => ctx
            .file
            .file_stem()
            .map_or_else(|| "plan".to_string(), |s| s.to_string_lossy().into_owned()),
    };
    let file_seed = raw
        .seed
        .as_ref()
        .map(|s| ctx.int(s, "seed", 0..i64::MAX, "give a seed of zero or more"))
        .transpose()?;
    let seed = overrides.seed.or(file_seed.map(|s| s as u64)).unwrap_or(1);
    let threads = match &raw.threads {
        Some(t) => ctx.int(t, "threads", 1..1025, "leave it out to use every core")? as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let user_rate = raw
        .user_rate
        .as_ref()
        .map(|r| user_rate(ctx, r))
        .transpose()?;
    let arrivals = match &raw.arrivals {
        Some(a) => arrival_process(ctx, a)?,
        None => ArrivalProcess::default(),
    };
    let (target, has_target, limits, preflight) =
        target(ctx, raw.target.unwrap_or_default(), overrides)?;
    let sla_classes = sla_classes(ctx, raw.sla.unwrap_or_default())?;
    let (vars, in_order) = vars(ctx, raw.vars.unwrap_or_default())?;
    let criteria = match &raw.criteria {
        Some(c) => layer(ctx, c)?,
        None => Layer::default(),
    };
    let inherited = Inherited {
        user_rate,
        arrivals,
        criteria,
        vars: &vars,
        sla_classes: &sla_classes,
        time_scale,
    };

    let watch = (raw.watch.as_ref())
        .map(|w| watch::watch(ctx, w, time_scale))
        .transpose()?;
    let scenarios = scenarios(ctx, raw.scenario, raw.stage, raw.request, &inherited)?;
    rows_suffice(ctx, &in_order, &scenarios, &vars, seed)?;

    let plan = Plan {
        name,
        target,
        scenarios,
        limits,
        seed,
        threads,
        pacing: raw.pacing.unwrap_or_default(),
        preflight,
        vars,
        sla_classes,
        shard: crate::schedule::ShardOf::WHOLE,
        watch,
        steering: Vec::new(),
    };
    Ok(Loaded { plan, has_target })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    pub(super) fn load_str(src: &str, overrides: &Overrides) -> Loaded {
        match parse(src, Path::new("plans/test-plan.toml"), overrides) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    pub(super) const SHORT: &str = r#"
[[stage]]
name = "smoke"
duration = "30s"
rate = 5

[[request]]
name = "health"
path = "/health"
"#;

    /// load_in_dir writes `plan` and the given files into a fresh directory and loads the plan.
    pub(super) fn load_in_dir(plan: &str, files: &[(&str, &str)]) -> Result<Loaded, PlanError> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        parse(plan, &dir.path().join("plan.toml"), &Overrides::default())
    }

    pub(super) const DATA: &str = r#"
[vars]
user = { csv = "users.csv", order = "sequential" }
pick = { csv = "users.csv", order = "random" }

[[stage]]
name = "s"
duration = "1s"
rate = 3

[[request]]
name = "login"
method = "POST"
path = "/login/{user.id}"
body = '{{"email": "{user.email}", "note": "{pick.note}"}}'
json = true
check = { status = ["2xx", 301], body_contains = "ok", json = { "/status" = "ok", "/n" = 1, "/a~1b" = [true] }, max_body = "64KiB" }

[[request]]
name = "goal"
method = "POST"
path = "/goals"
body_file = "goal.json"
json = true
content_type = "application/vnd.api+json"
check = { max_body = 1000 }
"#;

    pub(super) const USERS: &str =
        "id,email,note\n1,a@x,\"hi, there\"\n2,b@x,\"say \"\"x\"\"\"\n3,c@x,\n";

    #[test]
    fn overrides_replace_host_scale_time_and_set_the_seed() {
        let src = format!(
            "seed = 3\n[target]\nbase_url = \"http://example.invalid:9\"\ntimeout = \"5s\"\n{}",
            SHORT.replace("rate = 5\n", "rate = 5\nsettle = \"10s\"\n")
        );
        let overrides = Overrides {
            host: Some("http://10.0.0.2:8080/v2".into()),
            time_scale: Some(0.5),
            seed: Some(99),
        };
        let loaded = load_str(&src, &overrides);
        assert!(loaded.has_target);
        let p = loaded.plan;
        assert_eq!(p.seed, 99);
        assert_eq!(p.target.authority, "10.0.0.2:8080");
        assert_eq!(p.target.base_path, "/v2");
        assert_eq!(p.limits.timeout, Duration::from_secs(5));
        let stage = &p.scenarios[0].stages[0];
        assert_eq!(stage.duration, Duration::from_secs(15));
        assert_eq!(stage.settle, Duration::from_secs(5));
        assert_eq!(stage.from, 5.0);

        let flag = parse(
            SHORT,
            Path::new("p.toml"),
            &Overrides {
                host: Some("ftp://x".into()),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert_eq!((flag.line, flag.column), (0, 0));
        assert!(
            flag.to_string().starts_with("p.toml:0:0: --host: "),
            "{flag}"
        );
        let scale = parse(
            SHORT,
            Path::new("p.toml"),
            &Overrides {
                time_scale: Some(-1.0),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(scale.message.contains("--time-scale"), "{scale}");
    }

    #[test]
    fn errors_render_with_the_line_and_a_caret() {
        let e = parse(
            "[[stage]]\nname = \"a\"\nduration = \"10 parsecs\"\nrate = 1\n",
            Path::new("x.toml"),
            &Overrides::default(),
        )
        .unwrap_err();
        let text = e.to_string();
        let lines: Vec<_> = text.lines().collect();
        assert!(
            lines[0].starts_with("x.toml:3:12: `10 parsecs` is not a duration ("),
            "{text}"
        );
        assert_eq!(
            lines[1..3],
            ["  | duration = \"10 parsecs\"", "  |            ^"]
        );
        assert!(
            e.to_string()
                .ends_with("= help: write it like 500ms, 30s, 5m or 24h")
        );
    }

    fn metronome_demo_cert() -> String {
        crate::demo::DemoTls::generate().unwrap().cert_pem
    }

    /// first_toml_block is the first ```toml block of `lines`.
    fn first_toml_block<'a>(lines: impl Iterator<Item = &'a str>) -> String {
        lines
            .skip_while(|l| *l != "```toml")
            .skip(1)
            .take_while(|l| *l != "```")
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// documented_example is the example plan in this module's documentation.
    fn documented_example() -> String {
        first_toml_block(
            include_str!("mod.rs")
                .lines()
                .filter_map(|l| l.strip_prefix("//!"))
                .map(|l| l.strip_prefix(' ').unwrap_or(l)),
        )
    }

    #[test]
    fn the_plan_format_page_shows_the_documented_example() {
        let page = include_str!("../../docs/plan-format.md");
        assert_eq!(
            first_toml_block(page.lines()),
            documented_example(),
            "docs/plan-format.md's example differs from the one at the top of src/plan_file/mod.rs: \
             copy that one (a unit test parses it) into the page"
        );
    }

    #[test]
    fn the_documented_example_is_a_valid_plan() {
        let doc = documented_example();
        assert!(doc.contains("[[scenario.request]]"), "{doc}");
        let doc = doc.replace("${env:API_TOKEN}", "token");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), "id,email\n1,a@example.com\n").unwrap();
        std::fs::write(dir.path().join("goal.json"), r#"{"title": "goal"}"#).unwrap();
        std::fs::write(dir.path().join("ca.pem"), metronome_demo_cert()).unwrap();
        let p = match parse(&doc, &dir.path().join("plan.toml"), &Overrides::default()) {
            Ok(l) => l.plan,
            Err(e) => panic!("{e}"),
        };
        let s = &p.scenarios[0];
        assert_eq!((s.stages[0].from, s.stages[0].to), (0.0, 50.0 * 0.67));
        assert_eq!(s.criteria[0].warn_error_rate, Some(0.02));
        assert_eq!(s.criteria[0].max_dropped, Some(0));
    }
}
