//! Broken plans, and the errors they must produce: the right line (and column where it matters)
//! and words that say what is wrong or how to fix it.

use std::path::Path;

use metronome::plan_file::{Overrides, PlanError, load, parse};

/// Case is one broken plan.
struct Case {
    /// What the row checks.
    what: &'static str,
    /// The plan text; line 1 is the first line.
    toml: &'static str,
    /// Expected 1-based line of the error.
    line: usize,
    /// Expected 1-based column, where it is meaningful.
    column: Option<usize>,
    /// Text the error's message or help must contain.
    contains: &'static str,
}

const fn case(
    what: &'static str,
    toml: &'static str,
    line: usize,
    column: Option<usize>,
    contains: &'static str,
) -> Case {
    Case {
        what,
        toml,
        line,
        column,
        contains,
    }
}

/// The variable set by the env rows is never set; the name is unique to this test.
const CASES: &[Case] = &[
    case(
        "TOML syntax error",
        r#"[[stage]]
name = "s"
duration = 30s
rate = 1
"#,
        3,
        None,
        "toml.io",
    ),
    case(
        "unknown field names the allowed ones",
        r#"[[stage]]
name = "s"
duration = "1s"
rat = 5
"#,
        4,
        Some(1),
        "unknown field `rat`, expected one of `name`, `duration`, `rate`",
    ),
    case(
        "unknown field in an inline criteria table",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1
criteria = { max_drop = 0 }

[[request]]
name = "r"
path = "/"
"#,
        5,
        Some(14),
        "unknown field `max_drop`",
    ),
    case(
        "bad duration",
        r#"[[stage]]
name = "s"
duration = "10 parsecs"
rate = 1

[[request]]
name = "r"
path = "/"
"#,
        3,
        Some(12),
        "write it like 500ms, 30s, 5m or 24h",
    ),
    case(
        "zero duration",
        r#"[[stage]]
name = "s"
duration = "0s"
rate = 1
"#,
        3,
        Some(12),
        "longer than zero",
    ),
    case(
        "negative rate",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = -5

[[request]]
name = "r"
path = "/"
"#,
        4,
        Some(8),
        "`rate` is -5; it must be a finite number",
    ),
    case(
        "a rate no machine sends",
        r#"[[stage]]
name = "s"
duration = "1s"
from = 0
to = 1e12

[[request]]
name = "r"
path = "/"
"#,
        4,
        Some(8),
        "stage `s` asks for 1e12/s; a stage's rate is at most 10000000/s",
    ),
    case(
        "non-finite ramp",
        r#"[[stage]]
name = "s"
duration = "1s"
from = 0
to = inf

[[request]]
name = "r"
path = "/"
"#,
        5,
        Some(6),
        "`to` is inf",
    ),
    case(
        "negative users",
        r#"user_rate = 0.5
[[stage]]
name = "s"
duration = "1s"
users = -2

[[request]]
name = "r"
path = "/"
"#,
        5,
        Some(9),
        "`users` is -2",
    ),
    case(
        "a stage with no rate form",
        r#"[[request]]
name = "r"
path = "/"

[[stage]]
name = "idle"
duration = "1s"
"#,
        5,
        Some(1),
        "stage `idle` sets no rate",
    ),
    case(
        "a stage with two rate forms",
        r#"user_rate = 1
[[stage]]
name = "s"
duration = "1s"
rate = 10
users = 5

[[request]]
name = "r"
path = "/"
"#,
        6,
        Some(9),
        "sets its load twice: `rate` and `users`",
    ),
    case(
        "a ramp with only one end",
        r#"[[stage]]
name = "s"
duration = "1s"
from = 0

[[request]]
name = "r"
path = "/"
"#,
        4,
        Some(8),
        "has `from` but no `to`",
    ),
    case(
        "users without user_rate",
        r#"[[stage]]
name = "s"
duration = "1s"
from_users = 0
to_users = 10

[[request]]
name = "r"
path = "/"
"#,
        4,
        Some(14),
        "add user_rate = 0.67",
    ),
    case(
        "all weights zero",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
weight = 0

[[request]]
name = "b"
path = "/b"
weight = 0
"#,
        9,
        Some(10),
        "every request weight in scenario `main` is zero",
    ),
    case(
        "negative weight",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
weight = -1
"#,
        9,
        Some(10),
        "weight -1 must be between 0",
    ),
    case(
        "an SLA class that does not exist lists the classes",
        r#"[sla.health]
p95 = "100ms"

[sla.read_light]
p95 = "300ms"

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
sla = "read_heavy"
"#,
        15,
        Some(7),
        "the classes are: health, read_light",
    ),
    case(
        "an undefined template variable lists the declared ones",
        r#"[vars]
industry = ["retail", "healthcare"]
agent_id = { range = [1, 500] }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/agents/{agnet_id}"
"#,
        12,
        // The `{` inside the string: `path = "` is 8 characters, then `/agents/`.
        Some(17),
        "declared: industry, agent_id",
    ),
    case(
        "a JSON body with single braces",
        r#"[vars]
seq = "sequence"

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
method = "POST"
path = "/goals"
body = '{"title": "goal {seq}"}'
"#,
        13,
        Some(9),
        "write `{{` and `}}` for literal braces",
    ),
    case(
        "two requests with one name",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"

[[request]]
name = "a"
path = "/b"
"#,
        11,
        Some(8),
        "two requests named `a`",
    ),
    case(
        "two stages with one name",
        r#"[[scenario]]
name = "journey"

[[scenario.stage]]
name = "s"
duration = "1s"
rate = 1

[[scenario.stage]]
name = "s"
duration = "1s"
rate = 2

[[scenario.request]]
name = "a"
path = "/a"
"#,
        10,
        Some(8),
        "scenario `journey` has two stages named `s`",
    ),
    case(
        "two scenarios with one name",
        r#"[[scenario]]
name = "x"
[[scenario.stage]]
name = "s"
duration = "1s"
rate = 1
[[scenario.request]]
name = "a"
path = "/a"

[[scenario]]
name = "x"
"#,
        12,
        Some(8),
        "two scenarios are named `x`",
    ),
    case(
        "a scenario with no stages",
        r#"[[scenario]]
name = "health"

[[scenario.request]]
name = "a"
path = "/a"
"#,
        1,
        Some(1),
        "add a [[scenario.stage]]",
    ),
    case(
        "a scenario with no requests",
        r#"[[scenario]]
name = "health"

[[scenario.stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        1,
        Some(1),
        "scenario `health` has no requests",
    ),
    case(
        "a plan with nothing to run",
        r#"seed = 3
"#,
        1,
        Some(1),
        "no scenario",
    ),
    case(
        "top-level stages mixed with scenarios",
        r#"[[scenario]]
name = "x"
[[scenario.stage]]
name = "s"
duration = "1s"
rate = 1
[[scenario.request]]
name = "a"
path = "/a"

[[stage]]
name = "t"
duration = "1s"
rate = 1
"#,
        11,
        Some(1),
        "cannot be mixed with [[scenario]]",
    ),
    case(
        "bad method",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
method = "FE TCH"
path = "/a"
"#,
        8,
        Some(10),
        "`FE TCH` is not an HTTP method",
    ),
    case(
        "lower-case method",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
method = "post"
path = "/a"
"#,
        8,
        Some(10),
        "method = \"POST\"",
    ),
    case(
        "path without a leading slash",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "api/v1/agents"
"#,
        8,
        Some(8),
        "does not start with `/`",
    ),
    case(
        "missing path",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
"#,
        6,
        Some(1),
        "missing field `path`",
    ),
    case(
        "settle as long as the stage",
        r#"[[stage]]
name = "s"
duration = "30s"
rate = 1
settle = "30s"

[[request]]
name = "a"
path = "/a"
"#,
        5,
        Some(10),
        "settle 30s is not shorter than its duration 30s",
    ),
    case(
        "error rate above 1",
        r#"[criteria]
error_rate = { warn = 1, fail = 5 }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
"#,
        2,
        Some(33),
        "error_rate.fail 5 is not a fraction between 0 and 1",
    ),
    case(
        "warn above fail once criteria are resolved",
        r#"[criteria]
error_rate = { fail = 0.05 }

[[stage]]
name = "s"
duration = "1s"
rate = 1
criteria = { error_rate = { warn = 0.1 } }

[[request]]
name = "a"
path = "/a"
"#,
        8,
        Some(36),
        "error_rate.warn 0.1 is above error_rate.fail 0.05 (the fail is set on line 2)",
    ),
    case(
        "an SLA percentile classes do not set",
        r#"[criteria]
sla = ["p95", "p90"]
"#,
        2,
        Some(15),
        "`p90` is not a percentile",
    ),
    case(
        "unset environment variable in a header",
        r#"[target]
headers = { Authorization = "Bearer ${env:METRONOME_TEST_SURELY_UNSET_VAR}" }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
"#,
        2,
        // At the `${` inside the value.
        Some(37),
        "environment variable METRONOME_TEST_SURELY_UNSET_VAR is not set",
    ),
    case(
        "a reference that is not ${env:…}",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
headers = { "X-Token" = "${ENV:TOKEN}" }
"#,
        9,
        Some(26),
        "write ${env:NAME}",
    ),
    case(
        "invalid header name",
        r#"[target]
headers = { "Bad Header" = "x" }
"#,
        2,
        Some(13),
        "`Bad Header` is not a valid header name",
    ),
    case(
        "bad base_url",
        r#"[target]
base_url = "127.0.0.1:8001"
"#,
        2,
        Some(12),
        "write it like http://127.0.0.1:8001",
    ),
    case(
        "ftp base_url",
        r#"[target]
base_url = "ftp://example.com"
"#,
        2,
        Some(12),
        "no http:// or https:// scheme",
    ),
    case(
        "bad target max_body",
        r#"[target]
max_body = "64 parsecs"
"#,
        2,
        Some(12),
        "write a size in bytes",
    ),
    case(
        "zero target max_body",
        r#"[target]
max_body = 0
"#,
        2,
        Some(12),
        "max_body is zero",
    ),
    case(
        "bad arrivals",
        r#"arrivals = "bursty"
"#,
        1,
        Some(12),
        "write arrivals = \"uniform\"",
    ),
    case(
        "zero user_rate",
        r#"user_rate = 0
"#,
        1,
        Some(13),
        "user_rate is 0; it must be a finite number above zero",
    ),
    case(
        "empty list variable",
        r#"[vars]
industry = []
"#,
        2,
        Some(12),
        "variable `industry` is an empty list",
    ),
    case(
        "reversed range",
        r#"[vars]
agent_id = { range = [500, 1] }
"#,
        2,
        Some(12),
        "the range [500, 1] is empty",
    ),
    case(
        "unknown variable source",
        r#"[vars]
seq = "sequense"
"#,
        2,
        Some(7),
        "\"sequence\"",
    ),
    case(
        "SLA class with no target",
        r#"[sla.health]
"#,
        1,
        Some(1),
        "SLA class `health` sets no target",
    ),
    case(
        "threads out of range",
        r#"threads = 0
"#,
        1,
        Some(11),
        "threads 0 must be between 1 and 1024",
    ),
    case(
        "missing data file",
        r#"[vars]
user = { csv = "no-such-users.csv" }
"#,
        2,
        Some(16),
        "data file `no-such-users.csv` not found",
    ),
    case(
        "unknown data file order",
        r#"[vars]
user = { csv = "no-such-users.csv", order = "shuffled" }
"#,
        2,
        Some(45),
        "\"sequential\"",
    ),
    case(
        "bad status entry",
        r#"[[request]]
name = "r"
path = "/"
check = { status = [200, "6xx"] }

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(26),
        "`6xx` is not a status entry",
    ),
    case(
        "status code out of range",
        r#"[[request]]
name = "r"
path = "/"
check = { status = [2000] }

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(21),
        "2000 is not an HTTP status",
    ),
    case(
        "JSON pointer without a leading slash",
        r#"[[request]]
name = "r"
path = "/"
check = { json = { status = "ok" } }

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(20),
        "it must start with \"/\"",
    ),
    case(
        "bad max_body",
        r#"[[request]]
name = "r"
path = "/"
check = { max_body = "64 parsecs" }

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(22),
        "not a size",
    ),
    case(
        "unknown check field",
        r#"[[request]]
name = "r"
path = "/"
check = { body_has = "ok" }

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(11),
        "unknown field `body_has`",
    ),
    case(
        "body and body_file both",
        r#"[[request]]
name = "r"
method = "POST"
path = "/"
body = "x"
body_file = "x.json"

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        6,
        Some(13),
        "sets both body and body_file",
    ),
    case(
        "missing body file",
        r#"[[request]]
name = "r"
method = "POST"
path = "/"
body_file = "no-such-goal.json"

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        5,
        Some(13),
        "body file `no-such-goal.json` not found",
    ),
    case(
        "invalid JSON body with json = true",
        r#"[[request]]
name = "r"
method = "POST"
path = "/"
json = true
body = '{{"title": "goal", }}'

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        6,
        Some(28),
        "the body is not JSON (trailing comma",
    ),
    case(
        "templated body that is not JSON once filled",
        r#"[vars]
industry = ["retail"]

[[request]]
name = "r"
method = "POST"
path = "/"
json = true
body = '{{"industry": {industry}}}'

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        9,
        Some(8),
        "not JSON once its placeholders are filled",
    ),
    case(
        "json = true without a body",
        r#"[[request]]
name = "r"
path = "/"
json = true

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        4,
        Some(8),
        "has no body",
    ),
    case(
        "Content-Type twice",
        r#"[[request]]
name = "r"
path = "/"
headers = { "Content-Type" = "text/plain" }
content_type = "application/json"

[[stage]]
name = "s"
duration = "1s"
rate = 1
"#,
        5,
        Some(16),
        "sets Content-Type twice",
    ),
    case(
        "watch: two targets",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
process = "api"
"#,
        12,
        Some(11),
        "keep one of pid, process, cgroup and metrics_url",
    ),
    case(
        "watch: a metric without an endpoint",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
metric = "heap_bytes"
"#,
        12,
        Some(10),
        "add metrics_url",
    ),
    case(
        "watch: a pid of zero",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 0
"#,
        11,
        Some(7),
        "pid 0 must be between 1",
    ),
    case(
        "watch: a relative cgroup",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
cgroup = "docker-abc.scope"
"#,
        11,
        Some(10),
        "/sys/fs/cgroup/system.slice/docker-<id>.scope",
    ),
    case(
        "watch: an https metrics endpoint",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
metrics_url = "https://10.0.0.5/metrics"
"#,
        11,
        Some(15),
        "http:// only",
    ),
    case(
        "watch: a bad label matcher",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
metrics_url = "http://10.0.0.5/metrics"
metric = 'm{job=api}'
"#,
        12,
        Some(10),
        "label matchers",
    ),
    case(
        "watch: growth written as a percentage",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
max_memory_growth = 20
"#,
        12,
        Some(21),
        "20 % is 0.20",
    ),
    case(
        "watch: a negative growth",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
max_memory_growth = -0.1
"#,
        12,
        Some(21),
        "not a fraction of zero or more",
    ),
    case(
        "watch: a horizon without a growth limit",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
memory_horizon = "24h"
"#,
        12,
        Some(18),
        "add max_memory_growth = 0.20",
    ),
    case(
        "watch: a bad max_memory",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
max_memory = "2 gigs"
"#,
        12,
        Some(14),
        "with a unit",
    ),
    case(
        "watch: a zero interval",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
interval = "0s"
"#,
        12,
        Some(12),
        "longer than zero",
    ),
    case(
        "watch: an unknown key",
        r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/"

[watch]
pid = 12
max_rss = 5
"#,
        12,
        Some(1),
        "unknown field `max_rss`",
    ),
];

fn broken(text: &str, overrides: &Overrides) -> PlanError {
    match parse(text, Path::new("broken.toml"), overrides) {
        Ok(_) => panic!("this plan should not parse:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn broken_plans_point_at_the_mistake() {
    let mut failures = Vec::new();
    for c in CASES {
        let e = broken(c.toml, &Overrides::default());
        failures.extend(judge(c, &e, "broken.toml"));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// judge says what is wrong with the error `e` a case produced, if anything; `file` is the plan
/// file as the error must name it.
fn judge(c: &Case, e: &PlanError, file: &str) -> Option<String> {
    let shown = e.to_string();
    let mut wrong = Vec::new();
    if e.line != c.line {
        wrong.push(format!("line {} (want {})", e.line, c.line));
    }
    if let Some(col) = c.column
        && e.column != col
    {
        wrong.push(format!("column {} (want {col})", e.column));
    }
    if !shown.starts_with(&format!("{file}:{}:", c.line)) {
        wrong.push("does not start with FILE:LINE:".into());
    }
    if !e.message.contains(c.contains) && !e.help.contains(c.contains) {
        wrong.push(format!("says nothing of {:?}", c.contains));
    }
    if e.help.is_empty() {
        wrong.push("has no help".into());
    }
    if e.line > 0 && !shown.contains("\n  | ") {
        wrong.push("does not show the source line".into());
    }
    (!wrong.is_empty()).then(|| format!("{}: {}\n{shown}", c.what, wrong.join(", ")))
}

/// Broken plans whose data files exist: each is loaded from a directory holding `users.csv`
/// (columns id, email), `empty.csv` (nothing), `ragged.csv` (a short row on line 3) and
/// `long.csv` (columns id, note; one note 70,000 bytes long).
const DATA_CASES: &[Case] = &[
    case(
        "a template names a column the data file lacks",
        r#"[vars]
user = { csv = "users.csv" }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/u/{user.emial}"
"#,
        11,
        Some(12),
        "its columns are: id, email",
    ),
    case(
        "a data file variable without a column",
        r#"[vars]
user = { csv = "users.csv" }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
method = "POST"
path = "/u"
body = "{user}"
"#,
        13,
        Some(9),
        "name one, as in {user.id}",
    ),
    case(
        "a column of a variable that has none",
        r#"[vars]
industry = ["retail"]

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/a?i={industry.name}"
"#,
        11,
        Some(14),
        "`industry` is not a data file variable",
    ),
    case(
        "an empty data file",
        r#"[vars]
user = { csv = "empty.csv" }
"#,
        2,
        Some(16),
        "the file is empty",
    ),
    case(
        "a data file row with too few fields",
        r#"[vars]
user = { csv = "ragged.csv" }
"#,
        2,
        Some(16),
        "line 3 has 1 field, the header has 2",
    ),
    case(
        "a data file read in order runs out of rows",
        r#"[vars]
user = { csv = "users.csv", order = "sequential" }

[[stage]]
name = "s"
duration = "10s"
rate = 1

[[request]]
name = "r"
path = "/u/{user.id}"
"#,
        2,
        Some(37),
        "has at least 3 arrivals with this seed (about 10 on average) and the file has 2 rows",
    ),
    case(
        "a path whose data file values outgrow a request target",
        r#"[vars]
user = { csv = "long.csv" }

[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "r"
path = "/u/{user.id}?note={user.note}"
"#,
        11,
        Some(8),
        "can be 70011 bytes long once its variables are filled in",
    ),
];

#[test]
fn broken_data_files_point_at_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("users.csv", "id,email\n1,a@example.com\n2,b@example.com\n"),
        ("empty.csv", ""),
        ("ragged.csv", "id,email\n1,a@example.com\n2\n"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let long = format!("id,note\n1,short\n22,{}\n", "n".repeat(70_000));
    std::fs::write(dir.path().join("long.csv"), long).unwrap();
    let file = dir.path().join("broken.toml");
    let mut failures = Vec::new();
    for c in DATA_CASES {
        match parse(c.toml, &file, &Overrides::default()) {
            Ok(_) => failures.push(format!("{}: parsed", c.what)),
            Err(e) => failures.extend(judge(c, &e, &file.display().to_string())),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn the_caret_sits_under_the_offending_value() {
    let e = broken(CASES[5].toml, &Overrides::default());
    assert_eq!(
        e.to_string(),
        "broken.toml:4:8: `rate` is -5; it must be a finite number, zero or more\n\
         \x20 | rate = -5\n\
         \x20 |        ^\n\
         \x20 = help: write a plain number such as rate = 100"
    );
}

const VALID: &str = r#"[[stage]]
name = "s"
duration = "1s"
rate = 1

[[request]]
name = "a"
path = "/a"
"#;

#[test]
fn bad_flags_name_the_flag_not_a_line() {
    let host = broken(
        VALID,
        &Overrides {
            host: Some("localhost:8001".into()),
            ..Overrides::default()
        },
    );
    assert_eq!((host.line, host.column), (0, 0));
    assert!(
        host.to_string().starts_with("broken.toml:0:0: --host: "),
        "{host}"
    );
    assert!(!host.to_string().contains("\n  | "), "{host}");
    for f in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let scale = broken(
            VALID,
            &Overrides {
                time_scale: Some(f),
                ..Overrides::default()
            },
        );
        assert_eq!(scale.line, 0);
        assert!(scale.message.contains("--time-scale"), "{scale}");
    }
    assert!(parse(VALID, Path::new("ok.toml"), &Overrides::default()).is_ok());
}

#[test]
fn an_unreadable_file_is_a_plan_error() {
    let path = Path::new("/nonexistent/metronome/plan.toml");
    let e = load(path, &Overrides::default()).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/metronome/plan.toml:0:0: cannot read the plan file"),
        "{e}"
    );
}
