//! Fuzzed inputs: the plan parser, the template language, the data file reader and the direct
//! client's HTTP/1.1 response reader, fed arbitrary and near-valid input by proptest.
//!
//! Each property says the same three things of its parser: it never panics, it never hangs (a
//! case that runs past `TIMEOUT_MS` fails: each property runs in a child process proptest kills
//! then), and every refusal is a message that says where (a plan error its line and column, a
//! template error its offset, a data file error its line, a response an error kind). Where the
//! right answer is known (a data file written from its rows, a response framed correctly, a
//! plan that loads) the property checks that answer too.
//!
//! Cases per property: 2,500 by default (1,000 for the two that open a connection per case),
//! `METRONOME_FUZZ_CASES=N` (N for every property) for a campaign, run in
//! release: `METRONOME_FUZZ_CASES=400000 cargo test --release --test fuzz`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use metronome::engine::prepare;
use metronome::fuzzing::{Framing, answer_over_loopback, parse_response_head};
use metronome::plan_file::{Loaded, Overrides, PlanError, parse};
use metronome::template::{CsvData, CsvOrder, Template, TemplateError, VarSource, Vars};

/// TIMEOUT_MS is the longest one case may take before it counts as a hang. Every parser here
/// answers in well under a millisecond; the loopback exchange gives up itself after 10 s.
const TIMEOUT_MS: u32 = 20_000;

/// config is every property's: the case count from `METRONOME_FUZZ_CASES` (2,500 by default),
/// and each property run in a child process so a hang is caught rather than waited for.
fn config() -> Config {
    config_of(2_500)
}

/// loopback_config is the config of the properties that open a connection per case (about a
/// millisecond each in a debug build): 1,000 by default, as many as the others in a campaign.
fn loopback_config() -> Config {
    config_of(1_000)
}

fn config_of(default_cases: u32) -> Config {
    let cases = std::env::var("METRONOME_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        timeout: TIMEOUT_MS,
        // Arbitrary input is cheap to make: failing fast on a found case beats shrinking long.
        max_shrink_iters: 2_000,
        // Failures found are kept in tests/fuzz.proptest-regressions and tried first.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

/// SHIPPED are the plans in plans/: valid starting points for mutation.
const SHIPPED: [&str; 4] = [
    include_str!("../plans/smoke.toml"),
    include_str!("../plans/load-50.toml"),
    include_str!("../plans/progression.toml"),
    include_str!("../plans/soak-24h.toml"),
];

/// COMPACT is a short valid plan that uses most of the format: every kind of variable (a data
/// file too), headers, checks, JSON bodies, a body file, criteria, SLA classes and a watch.
const COMPACT: &str = r##"name = "fuzz"
seed = 7
threads = 2
user_rate = 0.5
arrivals = "poisson"
pacing = "coarse"

[target]
base_url = "http://127.0.0.1:9/base"
timeout = "2s"
max_body = "1MiB"
keep_alive = false
headers = { Accept = "application/json", "X-Tag" = "a#b" }

[sla.fast]
p50 = "50ms"
p95 = "100ms"

[vars]
word = ["plain", "a b", "é", "q\"uote", "{x}", "%zz", "100%", "x?y"]
n = { range = [-5, 5] }
seq = "sequence"
user = { csv = "users.csv", order = "cycle" }

[criteria]
error_rate = { warn = 0.01, fail = 0.05 }
sla = ["p95"]
max_dropped = 0

[watch]
pid = 1
max_memory_growth = 0.2

[[stage]]
name = "ramp"
duration = "10s"
from = 1
to = 20

[[stage]]
name = "hold"
duration = "1m"
users = 10
settle = "5s"
criteria = { sla = [] }

[[request]]
name = "search"
path = "/search?q={word}&n={n}&u={user.email}"
sla = "fast"
check = { status = ["2xx", 301], body_contains = "ok" }

[[request]]
name = "post"
weight = 2
method = "POST"
path = "/items/{seq}"
body = '{{"id": {seq}, "who": {user.id}}}'
json = true

[[request]]
name = "file"
method = "PUT"
path = "/file"
body_file = "goal.json"
content_type = "application/json"
"##;

/// plan_file is `plan.toml` in a directory holding the data file and body file COMPACT names:
/// every plan is parsed as if it were that file.
fn plan_file() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(
            dir.path().join("users.csv"),
            "id,email\n1,a@x\n2,\"b,#@x\"\n3,c é\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("goal.json"), "{\"t\": 1}\n").unwrap();
        let file = dir.path().join("plan.toml");
        (dir, file)
    })
    .1
}

/// VALUES replace the value of a `key = value` line: numbers out of range, non-numbers,
/// durations and sizes that are not, empty and odd tables, paths with bytes a URI may not hold.
const VALUES: &[&str] = &[
    "nan",
    "-nan",
    "inf",
    "-inf",
    "1e400",
    "1e12",
    "-1",
    "0",
    "-0",
    "0.0",
    "1.5",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "\"5x\"",
    "\"0s\"",
    "\"-5s\"",
    "\"1h 2m\"",
    "\"1.5s\"",
    "\"999999999999999999h\"",
    "\"18446744073709551616ns\"",
    "\"\"",
    "\"nan\"",
    "\"64MiB\"",
    "\"99999999999TiB\"",
    "\"-1KiB\"",
    "[]",
    "{}",
    "[1, 2]",
    "[\"2xx\", 99, \"200-100\", \"9xx\"]",
    "{ range = [5, 1] }",
    "{ range = [-9223372036854775808, 9223372036854775807] }",
    "{ range = [1] }",
    "{ csv = \"users.csv\", order = \"sequential\" }",
    "{ csv = \"missing.csv\" }",
    "\"sequence\"",
    "true",
    "\"/a b\"",
    "\"/é\"",
    "\"/caf\\u00e9\"",
    "\"/#frag\"",
    "\"/a?q=C#\"",
    "\"/{word}#x\"",
    "\"/x\\\"y<>^`|\"",
    "\"/{{\"",
    "\"/{nope}\"",
    "\"/{\"",
    "\"/}\"",
    "\"/{seq}\"",
    "\"/{user}\"",
    "\"/{user.nope}\"",
    "'/{word}'",
    "'''\n/multi\n'''",
    "\"\\u0000\"",
    "\"2xx\"",
    "{ Transfer-Encoding = \"chunked\" }",
    "{ \"transfer-encoding\" = \"gzip\" }",
    "{ \"Content-Length\" = \"5\" }",
    "{ Host = \"\" }",
    "{ Host = \"a b\" }",
    "{ \"bad name\" = \"x\" }",
    "{ X = \"${env:METRONOME_FUZZ_UNSET}\" }",
    "{ X = \"${oops\" }",
    "\"poisson\"",
    "\"precise\"",
    "\"http://127.0.0.1:1\"",
    "\"http://127.0.0.1:1/p?q=1\"",
    "\"https://127.0.0.1:1\"",
    "\"ftp://x\"",
    "\"http://[::1\"",
    "\"http://h:99999\"",
    "\"http://h/a b\"",
    "\"http://h/#\"",
    "{ json = { \"/a\" = 1 } }",
    "{ max_body = \"0B\" }",
    "'{{\"a\": {seq}'",
    "'{\"a\": 1}'",
];

/// LINES are inserted whole: table headers, keys in the wrong place, and values that must be
/// refused where they stand.
const LINES: &[&str] = &[
    "[target]",
    "[[stage]]",
    "[[request]]",
    "[[scenario]]",
    "[[scenario.stage]]",
    "[[scenario.request]]",
    "[vars]",
    "[criteria]",
    "[watch]",
    "[sla.x]",
    "[sla]",
    "[]",
    "[[]]",
    "[a.b.c]",
    "name = \"x\"",
    "name = \"\"",
    "name = \"a b#c\"",
    "headers = { Transfer-Encoding = \"chunked\" }",
    "headers = { \"TE\" = \"trailers\", Connection = \"close\" }",
    "path = \"/a#b\"",
    "path = \"/q?lang=C#\"",
    "path = \"/{word}#{seq}\"",
    "path = \"/é/ü\"",
    "path = \"/a\\\"b\"",
    "path = \"/<{seq}>\"",
    "rate = 1e300",
    "rate = nan",
    "duration = \"5x\"",
    "duration = \"0s\"",
    "users = -3",
    "from_users = 1",
    "x = 1",
    "user_rate = 0",
    "user_rate = inf",
    "seed = -1",
    "threads = 0",
    "threads = 100000",
    "check = { status = [\"2xx\", 99] }",
    "check = { json = { \"no-slash\" = 1 } }",
    "json = true",
    "json = 1",
    "body = '{{\"a\": {seq}}}'",
    "body = '{\"a\": 1}'",
    "body_file = \"missing.json\"",
    "body_file = \"users.csv\"",
    "content_type = \"a\\nb\"",
    "method = \"get\"",
    "method = \"G E\"",
    "sla = \"nope\"",
    "v = { csv = \"users.csv\", order = \"sequential\" }",
    "w = { csv = \"users.csv\", order = \"sideways\" }",
    "u = [\"C#\", \"a b\", \"é\"]",
    "e = []",
    "pid = 1",
    "pid = -1",
    "process = \"\"",
    "cgroup = \"relative\"",
    "metrics_url = \"http://127.0.0.1:9/metrics\"",
    "metric = 'm{job=\"a#b\"}'",
    "interval = \"1ns\"",
    "max_memory = \"1GiB\"",
    "memory_horizon = \"24h\"",
    "settle = \"1h\"",
    "window = \"0s\"",
    "error_rate = { warn = 0.5, fail = 0.1 }",
    "error_rate = { warn = -1 }",
    "sla_fail_over = nan",
    "max_dropped = -1",
    "p99 = \"1ms\"",
    "a = \"#\" # \"#\"",
    "# comment",
    "",
    "\t",
    "\u{feff}",
    "=",
    "\"",
    "'''",
];

/// Edit is one change to a valid plan; indices are taken modulo the plan's line count.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Give the line's key another value (or replace the line, when it has no `=`).
    Value(usize, String),
    /// Insert a whole line before this one.
    Insert(usize, String),
    /// Insert text at a byte position of the plan (moved back to a character boundary).
    Splice(usize, String),
    /// Keep only the first part of the plan.
    Truncate(usize),
}

fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(VALUES).prop_map(String::from),
        1 => any::<String>().prop_map(|s| format!("{s:?}")),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:e}")),
        1 => "\"[0-9]{1,25}(ns|us|µs|ms|s|m|h|d|x|KiB|MiB|GiB|B)?\"",
    ]
}

fn any_line() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => proptest::sample::select(LINES).prop_map(String::from),
        2 => ("[a-z_]{1,12}", any_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[\\[\\]{}=\"'#.,a-z0-9 \\t\\\\]{0,40}",
    ]
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        5 => (any::<usize>(), any_value()).prop_map(|(i, v)| Edit::Value(i, v)),
        3 => (any::<usize>(), any_line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        1 => (any::<usize>(), any::<String>()).prop_map(|(i, s)| Edit::Splice(i, s)),
        1 => (any::<usize>(), "[\\[\\]{}=\"'#\\\\\n]{1,3}").prop_map(|(i, s)| Edit::Splice(i, s)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// apply makes one edit to plan text.
fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match edit {
        Edit::Delete(i) => {
            lines.remove(i % n);
        }
        Edit::Duplicate(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Edit::Swap(a, b) => lines.swap(a % n, b % n),
        Edit::Value(i, value) => {
            let line = &mut lines[i % n];
            *line = match line.split_once(" = ") {
                Some((key, _)) => format!("{key} = {value}"),
                None => value.clone(),
            };
        }
        Edit::Insert(i, line) => lines.insert(i % (n + 1), line.clone()),
        Edit::Splice(at, s) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return format!("{}{s}{}", &text[..at], &text[at..]);
        }
        Edit::Truncate(at) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return text[..at].to_string();
        }
    }
    lines.join("\n") + "\n"
}

fn mutated_plan() -> impl Strategy<Value = String> {
    let base = prop_oneof![
        3 => Just(COMPACT),
        1 => proptest::sample::select(&SHIPPED[..]),
    ];
    (base, proptest::collection::vec(any_edit(), 1..6))
        .prop_map(|(base, edits)| edits.iter().fold(base.to_string(), |t, e| apply(&t, e)))
}

fn any_overrides() -> impl Strategy<Value = Overrides> {
    let host = prop_oneof![
        8 => Just(None),
        1 => Just(Some("http://127.0.0.1:9/v2".to_string())),
        1 => "[a-z:/.0-9#?\\[\\] ]{0,20}".prop_map(Some),
    ];
    let scale = prop_oneof![
        8 => Just(None),
        1 => proptest::sample::select(vec![0.5, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1e300])
            .prop_map(Some),
        1 => any::<f64>().prop_map(Some),
    ];
    (host, scale, any::<Option<u64>>()).prop_map(|(host, time_scale, seed)| Overrides {
        host,
        time_scale,
        seed,
    })
}

/// check_plan_error says what is wrong with a plan error, if anything: it must say what is
/// wrong, and name the file, and a line and column of the text (line 0 only for a flag).
fn check_plan_error(source: &str, e: &PlanError) -> Result<(), String> {
    if e.message.trim().is_empty() {
        return Err(format!("an error with no message: {e:?}"));
    }
    let shown = e.to_string();
    let prefix = format!("{}:{}:{}: ", e.file.display(), e.line, e.column);
    if !shown.starts_with(&prefix) {
        return Err(format!("the error does not start with {prefix:?}: {shown}"));
    }
    if e.line == 0 {
        // Only a command-line flag has no place in the file.
        if !e.message.starts_with("--") {
            return Err(format!("an error with no line that names no flag: {shown}"));
        }
        return Ok(());
    }
    // Lines as the error counts them: split at '\n' only.
    let lines: Vec<&str> = source.split('\n').collect();
    let Some(line) = lines.get(e.line - 1) else {
        return Err(format!(
            "line {} of a {}-line plan: {shown}",
            e.line,
            lines.len()
        ));
    };
    let line = line.trim_end_matches('\r');
    if e.source_line != line {
        return Err(format!(
            "the quoted line {:?} is not line {} ({line:?}): {shown}",
            e.source_line, e.line
        ));
    }
    if e.column == 0 || e.column > line.chars().count() + 1 {
        return Err(format!(
            "column {} is outside line {} ({} characters): {shown}",
            e.column,
            e.line,
            line.chars().count()
        ));
    }
    Ok(())
}

/// sent_as_rendered says whether `sent`, a request target, is `rendered` with some bytes
/// percent-encoded and nothing else changed.
fn sent_as_rendered(rendered: &str, sent: &str) -> bool {
    let (r, s) = (rendered.as_bytes(), sent.as_bytes());
    let mut j = 0;
    for &b in r {
        if s.get(j) == Some(&b) {
            j += 1;
        } else if s.get(j..j + 3) == Some(format!("%{b:02X}").as_bytes()) {
            j += 3;
        } else {
            return false;
        }
    }
    j == s.len()
}

/// check_loaded says what is wrong with a plan that loaded, if anything: it must be runnable
/// (every request prepares: anything else is a mistake the plan reader should have placed), and
/// every request it sends must be valid HTTP/1.1 to the path the plan wrote.
fn check_loaded(loaded: &Loaded) -> Result<(), String> {
    let plan = &loaded.plan;
    let prepared =
        prepare(plan).map_err(|e| format!("a plan that loads cannot be prepared: {e}"))?;
    for (lane, (scenario, requests)) in plan.scenarios.iter().zip(&prepared).enumerate() {
        for (spec, p) in scenario.requests.iter().zip(requests) {
            for index in [0, 1, 7] {
                let mut scratch = Vec::new();
                let wire = p.wire(&plan.vars, plan.seed, lane as u64, index, &mut scratch);
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(wire) {
                    Ok(httparse::Status::Complete(_)) => {}
                    other => {
                        return Err(format!(
                            "request `{}` is not valid HTTP/1.1 ({other:?}): {:?}",
                            spec.name,
                            String::from_utf8_lossy(wire)
                        ));
                    }
                }
                if req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        || h.name.eq_ignore_ascii_case("content-length")
                            && req.headers.iter().any(|o| {
                                o.name.eq_ignore_ascii_case("content-length") && o.value != h.value
                            })
                }) {
                    return Err(format!(
                        "request `{}` is framed twice: {:?}",
                        spec.name,
                        String::from_utf8_lossy(wire)
                    ));
                }
                let mut rendered = plan.target.base_path.clone();
                spec.path
                    .render(&plan.vars, plan.seed, lane as u64, index, &mut rendered);
                let sent = req.path.unwrap_or("");
                let uri_byte =
                    |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&'()*+,;=%".contains(&b);
                if !sent.bytes().all(uri_byte) {
                    return Err(format!(
                        "request `{}` is sent to {sent:?}, which holds bytes a URI may not",
                        spec.name
                    ));
                }
                if !sent_as_rendered(&rendered, sent) {
                    return Err(format!(
                        "request `{}` written to {rendered:?} is sent to {sent:?}",
                        spec.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// check_plan runs the parser and checks what it answers.
fn check_plan(source: &str, overrides: &Overrides) -> Result<(), String> {
    match parse(source, plan_file(), overrides) {
        Ok(loaded) => check_loaded(&loaded),
        Err(e) => check_plan_error(source, &e),
    }
}

#[test]
fn every_base_plan_loads_and_passes_the_checks() {
    for base in SHIPPED.iter().chain([&COMPACT]) {
        let loaded = parse(base, plan_file(), &Overrides::default()).unwrap_or_else(|e| {
            panic!("{e}");
        });
        check_loaded(&loaded).unwrap();
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plan_parser_survives_arbitrary_text(
        source in prop_oneof![any::<String>(), "[\\[\\]{}=\"'#.,a-z0-9 \\n\\t\\\\]{0,200}"],
        overrides in any_overrides(),
    ) {
        check_plan(&source, &overrides).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn plan_parser_survives_mutated_plans(
        source in mutated_plan(),
        overrides in any_overrides(),
    ) {
        check_plan(&source, &overrides).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

/// template_vars are the variables templates are parsed against: each kind of source, with
/// list items and data file fields that hold braces, quotes, `#`, spaces and non-ASCII text.
fn template_vars() -> &'static Vars {
    static VARS: OnceLock<Vars> = OnceLock::new();
    VARS.get_or_init(|| {
        let mut v = Vars::default();
        v.add(
            "word",
            VarSource::List(
                ["plain", "C#", "a b", "é✓", "{x}", "}}", "%zz", ""]
                    .map(String::from)
                    .to_vec(),
            ),
        );
        v.add("n", VarSource::Range { lo: -5, hi: 5 });
        v.add(
            "wide",
            VarSource::Range {
                lo: i64::MIN,
                hi: -1,
            },
        );
        v.add("seq", VarSource::Sequence);
        v.add("dotted.name", VarSource::Sequence);
        let data = CsvData::parse("id,email,a b\n1,a@x,\"{,}\"\n2,\"é\n#\",\n").unwrap();
        v.add(
            "user",
            VarSource::Csv {
                data: std::sync::Arc::new(data),
                order: CsvOrder::Random,
            },
        );
        v
    })
}

const TEMPLATE_TOKENS: &[&str] = &[
    "{",
    "}",
    "{{",
    "}}",
    "{seq}",
    "{ seq }",
    "{word}",
    "{n}",
    "{wide}",
    "{dotted.name}",
    "{user.email}",
    "{ user . a b }",
    "{user.id}",
    "{user}",
    "{user.}",
    "{.}",
    "{}",
    "{nope}",
    "{word.x}",
    "{user.nope}",
    "{é}",
    "é",
    "✓",
    "a",
    "/",
    ".",
    " ",
    "\n",
    "#",
    "\"",
    "%",
];

fn template_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}a-z. é✓\\n]{0,40}",
        proptest::collection::vec(proptest::sample::select(TEMPLATE_TOKENS), 0..20)
            .prop_map(|t| t.concat()),
    ]
}

/// check_template_error says what is wrong with a template error, if anything: a message, and
/// an offset at the brace it is about.
fn check_template_error(text: &str, e: &TemplateError) -> Result<(), String> {
    if e.message().is_empty() || e.help().is_empty() || e.to_string().is_empty() {
        return Err(format!("an error says nothing: {e:?}"));
    }
    let at = e.offset();
    if !text.is_char_boundary(at) || !text[at..].starts_with(['{', '}']) {
        return Err(format!("offset {at} of {text:?} is not at a brace ({e})"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn templates_parse_or_say_where_and_render_within_their_bound(
        text in template_text(),
        seed in any::<u64>(),
        lane in any::<u64>(),
        index in any::<u64>(),
    ) {
        let vars = template_vars();
        match Template::parse(&text, vars) {
            Ok(t) => {
                let mut out = String::new();
                t.render(vars, seed, lane, index, &mut out);
                prop_assert!(
                    out.len() <= t.longest(vars, str::len),
                    "{text:?} rendered to {out:?}, longer than its bound"
                );
                if !text.contains(['{', '}']) {
                    prop_assert_eq!(&out, &text);
                    prop_assert_eq!(t.static_text(), Some(text.as_str()));
                }
            }
            Err(e) => check_template_error(&text, &e).map_err(TestCaseError::fail)?,
        }
    }

    #[test]
    fn any_text_with_its_braces_doubled_renders_to_itself(
        text in template_text(),
        index in any::<u64>(),
    ) {
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let t = Template::parse(&escaped, template_vars())
            .map_err(|e| TestCaseError::fail(format!("{escaped:?}: {e}")))?;
        let mut out = String::new();
        t.render(template_vars(), 1, 0, index, &mut out);
        prop_assert_eq!(&out, &text);
        prop_assert_eq!(t.source(), escaped.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Data files

const CSV_TOKENS: &[&str] = &[
    ",", "\"", "\"\"", "\n", "\r\n", "\r", "a", "b", "é", " ", "\u{feff}", "#", "id", "x,y",
];

fn csv_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[,\"\\r\\na ]{0,40}",
        proptest::collection::vec(proptest::sample::select(CSV_TOKENS), 0..30)
            .prop_map(|t| t.concat()),
    ]
}

/// Table is a data file's content, to be written as CSV and read back.
#[derive(Debug, Clone)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Quote fields that need no quotes too.
    quote_all: bool,
    crlf: bool,
    bom: bool,
    trailing_newline: bool,
}

fn table() -> impl Strategy<Value = Table> {
    let field = "[a-z,\"\\r\\n é#]{0,8}";
    (1usize..5).prop_flat_map(move |width| {
        (
            proptest::collection::btree_set("[a-z][a-z0-9_]{0,6}", width..=width),
            proptest::collection::vec(proptest::collection::vec(field, width..=width), 1..6),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(columns, rows, quote_all, crlf, bom, trailing_newline)| Table {
                    columns: columns.into_iter().collect(),
                    rows,
                    quote_all,
                    crlf,
                    bom,
                    trailing_newline,
                },
            )
    })
}

impl Table {
    /// csv writes the table as RFC 4180 says.
    fn csv(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let field = |f: &str, alone: bool| {
            // An empty record would be a blank line, which is skipped: quote it.
            if self.quote_all || f.contains([',', '"', '\r', '\n']) || (alone && f.is_empty()) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_string()
            }
        };
        let record = |r: &[String]| {
            r.iter()
                .map(|f| field(f, r.len() == 1))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut lines = vec![record(&self.columns)];
        lines.extend(self.rows.iter().map(|r| record(r)));
        let mut text = lines.join(eol);
        if self.trailing_newline {
            text.push_str(eol);
        }
        if self.bom {
            text.insert(0, '\u{feff}');
        }
        text
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn data_files_parse_whole_or_say_which_line(text in csv_text()) {
        match CsvData::parse(&text) {
            Ok(data) => {
                prop_assert!(data.rows() > 0 && !data.columns().is_empty());
                for row in 0..data.rows() {
                    for col in 0..data.columns().len() {
                        let _ = data.field(row, col);
                    }
                }
            }
            Err(e) => {
                prop_assert!(!e.message.is_empty() && !e.help.is_empty(), "{e:?}");
                let lines = text.split('\n').count();
                prop_assert!(e.line <= lines, "line {} of {lines}: {e}", e.line);
            }
        }
    }

    #[test]
    fn a_data_file_written_from_rows_reads_back_as_them(table in table()) {
        let text = table.csv();
        let data = CsvData::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(data.columns(), &table.columns[..]);
        let read: Vec<Vec<&str>> = (0..data.rows())
            .map(|r| (0..data.columns().len()).map(|c| data.field(r, c)).collect())
            .collect();
        prop_assert_eq!(read, table.rows.clone(), "{:?}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 responses

/// Body is how a structured response frames its body.
#[derive(Debug, Clone)]
enum BodyForm {
    /// Content-Length, right or with this value instead.
    Length(Option<String>),
    /// Chunked, in chunks of these sizes; a chunk-size line may be replaced, and trailers added.
    Chunked {
        sizes: Vec<usize>,
        bad_size: Option<(usize, String)>,
        trailer: bool,
    },
    /// Neither: the body ends with the connection.
    UntilClose,
}

/// Response is a structured, near-valid HTTP/1.1 response.
#[derive(Debug, Clone)]
struct Response {
    status_line: String,
    /// Header lines besides framing.
    headers: Vec<(String, Vec<u8>)>,
    form: BodyForm,
    body: Vec<u8>,
    /// Bare LF instead of CRLF ending the head's lines.
    lf_only: bool,
    /// Bytes after the response.
    tail: Vec<u8>,
    /// An interim 100 Continue first.
    interim: bool,
}

const STATUS_LINES: &[&str] = &[
    "HTTP/1.1 200 OK",
    "HTTP/1.1 200 OK",
    "HTTP/1.1 201 Created",
    "HTTP/1.0 200 OK",
    "HTTP/1.1 204 No Content",
    "HTTP/1.1 304 Not Modified",
    "HTTP/1.1 404 Not Found",
    "HTTP/1.1 503 Busy",
    "HTTP/1.1 101 Switching Protocols",
    "HTTP/1.1 199 Odd",
    "HTTP/1.1 99 Low",
    "HTTP/1.1 1000 High",
    "HTTP/1.1 600 Odd",
    "HTTP/1.1 000 Zero",
    "HTTP/1.1 200",
    "HTTP/1.1 200 ",
    "HTTP/1.1 200 \u{e9}t\u{e9}",
    "HTTP/2 200 OK",
    "HTTP/1.2 200 OK",
    "http/1.1 200 OK",
    "HTTP/1.1  200 OK",
    "HTTP/1.1 2OO OK",
    "ICY 200 OK",
    "",
];

const HEADER_LINES: &[(&str, &str)] = &[
    ("Content-Length", "5"),
    ("Content-Length", "5, 5"),
    ("Content-Length", "5, 6"),
    ("Content-Length", "-1"),
    ("Content-Length", "+5"),
    ("Content-Length", ""),
    ("Content-Length", "0x10"),
    ("Content-Length", " 3 "),
    ("Content-Length", "99999999999999999999"),
    ("Content-Length", "18446744073709551615"),
    ("Content-Length", "9999999999999999999"),
    ("Transfer-Encoding", "chunked"),
    ("Transfer-Encoding", "gzip, chunked"),
    ("Transfer-Encoding", "chunked, gzip"),
    ("Transfer-Encoding", "CHUNKED"),
    ("Transfer-Encoding", "identity"),
    ("Transfer-Encoding", ""),
    ("Connection", "close"),
    ("Connection", "keep-alive"),
    ("Connection", "Keep-Alive, Upgrade"),
    ("Content-Type", "application/json"),
    ("X-Odd", "\u{e9}"),
    ("X-Empty", ""),
    ("Bad Name", "x"),
    ("", "no name"),
];

fn header_line() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        4 => proptest::sample::select(HEADER_LINES)
            .prop_map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
        1 => ("[A-Za-z-]{1,12}", proptest::collection::vec(any::<u8>(), 0..12)),
    ]
}

fn body_form() -> impl Strategy<Value = BodyForm> {
    let bad_size = proptest::sample::select(
        &[
            "zz",
            "-1",
            "",
            " ",
            "ffffffffffffffffff",
            "fffffffffffffffff",
            "1;ext=1",
            " a ",
            "0x1",
            "\u{e9}",
            "1\t",
            "7fffffffffffffff",
        ][..],
    );
    prop_oneof![
        (proptest::option::of("[0-9 ,+-]{0,21}")).prop_map(BodyForm::Length),
        (
            proptest::collection::vec(0usize..40, 0..5),
            proptest::option::of((any::<usize>(), bad_size.prop_map(String::from))),
            any::<bool>(),
        )
            .prop_map(|(sizes, bad_size, trailer)| BodyForm::Chunked {
                sizes,
                bad_size,
                trailer,
            }),
        Just(BodyForm::UntilClose),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    (
        prop_oneof![
            6 => proptest::sample::select(STATUS_LINES).prop_map(String::from),
            1 => any::<String>(),
        ],
        proptest::collection::vec(header_line(), 0..4),
        body_form(),
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![9 => Just(false), 1 => Just(true)],
        prop_oneof![
            6 => Just(vec![]),
            1 => proptest::collection::vec(any::<u8>(), 0..16),
        ],
        prop_oneof![9 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(status_line, headers, form, body, lf_only, tail, interim)| Response {
                status_line,
                headers,
                form,
                body,
                lf_only,
                tail,
                interim,
            },
        )
}

impl Response {
    /// bytes writes the response.
    fn bytes(&self) -> Vec<u8> {
        let eol: &[u8] = if self.lf_only { b"\n" } else { b"\r\n" };
        let mut out = Vec::new();
        if self.interim {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        out.extend_from_slice(self.status_line.as_bytes());
        out.extend_from_slice(eol);
        let mut header = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(eol);
        };
        for (name, value) in &self.headers {
            header(name, value);
        }
        match &self.form {
            BodyForm::Length(value) => {
                let right = self.body.len().to_string();
                header(
                    "Content-Length",
                    value.as_deref().unwrap_or(&right).as_bytes(),
                );
            }
            BodyForm::Chunked { .. } => header("Transfer-Encoding", b"chunked"),
            BodyForm::UntilClose => {}
        }
        out.extend_from_slice(eol);
        match &self.form {
            BodyForm::Chunked {
                sizes,
                bad_size,
                trailer,
            } => {
                let mut at = 0;
                let mut lines: Vec<Vec<u8>> = Vec::new();
                for &size in sizes.iter().filter(|&&s| s > 0) {
                    let end = (at + size).min(self.body.len());
                    let mut chunk = format!("{:x}\r\n", end - at).into_bytes();
                    chunk.extend_from_slice(&self.body[at..end]);
                    chunk.extend_from_slice(b"\r\n");
                    lines.push(chunk);
                    at = end;
                    if at == self.body.len() {
                        break;
                    }
                }
                let last = if *trailer {
                    b"0\r\nX-Trailer: 1\r\n\r\n".to_vec()
                } else {
                    b"0\r\n\r\n".to_vec()
                };
                lines.push(last);
                if let Some((which, size)) = bad_size {
                    let i = which % lines.len();
                    let rest = lines[i].splitn(2, |&b| b == b'\n').nth(1).unwrap_or(b"");
                    let mut bad = format!("{size}\r\n").into_bytes();
                    bad.extend_from_slice(rest);
                    lines[i] = bad;
                }
                out.extend(lines.concat());
            }
            _ => out.extend_from_slice(&self.body),
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// expected is the outcome a correct reader gives, when this response is plainly valid: a
    /// 200 with its body framed right and no header lines that change the meaning.
    fn expected(&self) -> Option<u64> {
        let harmless = |(n, v): &(String, Vec<u8>)| {
            ["X-Odd", "X-Empty", "Content-Type"].contains(&n.as_str())
                && v.iter()
                    .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
        };
        let plain = self.status_line == "HTTP/1.1 200 OK"
            && self.tail.is_empty()
            && !self.lf_only
            && self.headers.iter().all(harmless);
        let framed = match &self.form {
            BodyForm::Length(None) | BodyForm::UntilClose => true,
            BodyForm::Chunked {
                bad_size, sizes, ..
            } => bad_size.is_none() && sizes.iter().sum::<usize>() >= self.body.len(),
            BodyForm::Length(Some(_)) => false,
        };
        (plain && framed).then_some(self.body.len() as u64)
    }
}

/// check_head parses a head whole and cut at every offset: a complete head is incomplete at
/// every shorter cut (so how the bytes arrive never changes the answer) and read the same with
/// more bytes after it.
fn check_head(bytes: &[u8], head_only: bool) -> Result<(), String> {
    let whole = parse_response_head(bytes, head_only);
    match &whole {
        Ok(Some(head)) => {
            if head.len == 0 || head.len > bytes.len() {
                return Err(format!("a head of {} bytes in {}", head.len, bytes.len()));
            }
            if (head_only || head.status < 200 || head.status == 204 || head.status == 304)
                && head.framing != Framing::None
            {
                return Err(format!(
                    "a response without a body framed {:?}",
                    head.framing
                ));
            }
            for cut in 0..head.len {
                if parse_response_head(&bytes[..cut], head_only) != Ok(None) {
                    return Err(format!(
                        "cut at {cut} of a {}-byte head: {:?}",
                        head.len,
                        parse_response_head(&bytes[..cut], head_only)
                    ));
                }
            }
            if parse_response_head(&bytes[..head.len], head_only) != whole {
                return Err("the head alone reads differently".into());
            }
        }
        Ok(None) => {
            for cut in 0..bytes.len() {
                if parse_response_head(&bytes[..cut], head_only) != Ok(None) {
                    return Err(format!("an incomplete head refused when cut at {cut}"));
                }
            }
        }
        Err(kind) => {
            if kind.name().is_empty() {
                return Err(format!("an error kind with no name: {kind:?}"));
            }
        }
    }
    Ok(())
}

/// check_exchange reads `bytes` as the answer to a request over loopback, cut at `cuts`.
fn check_exchange(
    bytes: &[u8],
    cuts: &[usize],
    head_only: bool,
    max_body: usize,
    expected: Option<u64>,
) -> Result<(), String> {
    let reply = answer_over_loopback(bytes, cuts, head_only, max_body)?;
    if let Err(kind) = reply.result
        && kind.name().is_empty()
    {
        return Err(format!("an error kind with no name: {kind:?}"));
    }
    if let Some(n) = expected
        && !head_only
        && n as usize <= max_body
        && reply.result != Ok(n)
    {
        return Err(format!(
            "a valid response with a {n}-byte body read as {:?}",
            reply.result
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn response_heads_of_arbitrary_bytes_read_the_same_however_cut(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "HTTP/1\\.[01] [0-9]{1,4}[ -~]{0,10}(\r\n[A-Za-z-]{0,10}: ?[ -~]{0,10}){0,4}(\r\n){0,2}"
                .prop_map(String::into_bytes),
        ],
        head_only in any::<bool>(),
    ) {
        check_head(&bytes, head_only).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn near_valid_response_heads_read_the_same_however_cut(
        response in response(),
        head_only in any::<bool>(),
    ) {
        check_head(&response.bytes(), head_only).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(loopback_config())]

    #[test]
    fn near_valid_responses_are_read_to_an_outcome_without_hanging(
        response in response(),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        head_only in prop_oneof![4 => Just(false), 1 => Just(true)],
        max_body in proptest::sample::select(vec![0usize, 10, 64 << 20]),
    ) {
        let bytes = response.bytes();
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        check_exchange(&bytes, &cuts, head_only, max_body, response.expected())
            .map_err(TestCaseError::fail)?;
    }

    #[test]
    fn arbitrary_bytes_are_read_to_an_outcome_without_hanging(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<usize>(),
    ) {
        let cut = cut % (bytes.len() + 1);
        check_exchange(&bytes, &[cut], false, 1 << 20, None).map_err(TestCaseError::fail)?;
    }
}
