//! Scenarios: the `[[scenario]]` tables, or the top-level `[[stage]]` and `[[request]]` of a
//! single-scenario plan, gathered into one form, each then given its stages, its requests and
//! the criteria of every stage. What a scenario inherits from the plan comes in [`Inherited`];
//! the rules of one stage or one request are theirs.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::Result;
use super::criteria::{Layer, layer};
use super::raw::{RawCriteria, RawRequest, RawScenario, RawStage};
use super::request::request;
use super::span::Ctx;
use super::stage::stage;
use super::value::{arrival_process, user_rate};
use crate::plan::{RequestSpec, Scenario, SlaClass};
use crate::schedule::{ArrivalProcess, Stage};
use crate::template::Vars;

/// Inherited is what every scenario inherits from the plan.
pub(super) struct Inherited<'a> {
    pub(super) user_rate: Option<f64>,
    pub(super) arrivals: ArrivalProcess,
    pub(super) criteria: Layer,
    pub(super) vars: &'a Vars,
    pub(super) sla_classes: &'a BTreeMap<String, SlaClass>,
    pub(super) time_scale: f64,
}

/// Group is one scenario as written, whichever form the plan used.
struct Group {
    name: Spanned<String>,
    /// Where the scenario starts (its header), for errors about the scenario as a whole.
    header: Range<usize>,
    /// The table names used in help texts: "[[scenario.stage]]" or "[[stage]]".
    short_form: bool,
    arrivals: Option<Spanned<String>>,
    user_rate: Option<Spanned<f64>>,
    criteria: Option<RawCriteria>,
    stages: Vec<Spanned<RawStage>>,
    requests: Vec<Spanned<RawRequest>>,
}

/// scenarios builds every scenario of the plan, in either form, each under its own name.
pub(super) fn scenarios(
    ctx: &Ctx,
    scenarios: Option<Vec<Spanned<RawScenario>>>,
    stages: Option<Vec<Spanned<RawStage>>>,
    requests: Option<Vec<Spanned<RawRequest>>>,
    inherited: &Inherited,
) -> Result<Vec<Scenario>> {
    let groups = groups(ctx, scenarios, stages, requests)?;
    let mut scenarios: Vec<Scenario> = Vec::with_capacity(groups.len());
    for g in groups {
        if let Some(first) = scenarios.iter().position(|s| s.name == *g.name.get_ref()) {
            return Err(ctx.err(
                g.name.span(),
                format!(
                    "two scenarios are named `{}` (the {} and the {})",
                    g.name.get_ref(),
                    ordinal(first),
                    ordinal(scenarios.len())
                ),
                "give each scenario its own name; results are keyed by it",
            ));
        }
        scenarios.push(scenario(ctx, g, inherited)?);
    }
    Ok(scenarios)
}

/// ordinal names the i-th (from 0) of several, for messages about duplicates.
fn ordinal(i: usize) -> String {
    match i + 1 {
        1 => "first".into(),
        2 => "second".into(),
        3 => "third".into(),
        n => format!("{n}th"),
    }
}

/// groups gathers the scenarios in either form: `[[scenario]]` tables, or top-level
/// `[[stage]]`/`[[request]]` for a single scenario called "main".
fn groups(
    ctx: &Ctx,
    scenarios: Option<Vec<Spanned<RawScenario>>>,
    stages: Option<Vec<Spanned<RawStage>>>,
    requests: Option<Vec<Spanned<RawRequest>>>,
) -> Result<Vec<Group>> {
    let stages = stages.unwrap_or_default();
    let requests = requests.unwrap_or_default();
    match scenarios {
        Some(scenarios) if !scenarios.is_empty() => {
            if let Some(s) = stages.first() {
                return Err(ctx.err(
                    s.span(),
                    "a top-level [[stage]] cannot be mixed with [[scenario]]",
                    "move it into a scenario as [[scenario.stage]], or drop [[scenario]] for a \
                     single-scenario plan",
                ));
            }
            if let Some(r) = requests.first() {
                return Err(ctx.err(
                    r.span(),
                    "a top-level [[request]] cannot be mixed with [[scenario]]",
                    "move it into a scenario as [[scenario.request]], or drop [[scenario]] for \
                     a single-scenario plan",
                ));
            }
            Ok(scenarios
                .into_iter()
                .map(|s| {
                    let header = s.span();
                    let s = s.into_inner();
                    Group {
                        name: s.name,
                        header,
                        short_form: false,
                        arrivals: s.arrivals,
                        user_rate: s.user_rate,
                        criteria: s.criteria,
                        stages: s.stage.unwrap_or_default(),
                        requests: s.request.unwrap_or_default(),
                    }
                })
                .collect())
        }
        _ => {
            if stages.is_empty() && requests.is_empty() {
                return Err(ctx.err(
                    0..0,
                    "the plan has no scenario: no stages and no requests",
                    "add [[stage]] and [[request]] tables (or [[scenario]] tables with \
                     [[scenario.stage]] and [[scenario.request]])",
                ));
            }
            let header = stages
                .first()
                .map(|s| s.span())
                .or_else(|| requests.first().map(|r| r.span()))
                .unwrap_or(0..0);
            Ok(vec![Group {
                name: Spanned::new(header.clone(), "main".to_string()),
                header,
                short_form: true,
                arrivals: None,
                user_rate: None,
                criteria: None,
                stages,
                requests,
            }])
        }
    }
}

/// scenario checks one scenario and builds it, stage by stage and request by request.
fn scenario(ctx: &Ctx, g: Group, inherited: &Inherited) -> Result<Scenario> {
    let name = ctx.name(&g.name, "scenario")?;
    let (stage_table, request_table) = if g.short_form {
        ("[[stage]]", "[[request]]")
    } else {
        ("[[scenario.stage]]", "[[scenario.request]]")
    };
    let user_rate = match &g.user_rate {
        Some(r) => Some(user_rate(ctx, r)?),
        None => inherited.user_rate,
    };
    let arrivals = match &g.arrivals {
        Some(a) => arrival_process(ctx, a)?,
        None => inherited.arrivals,
    };
    let base = match &g.criteria {
        Some(c) => layer(ctx, c)?.over(&inherited.criteria),
        None => inherited.criteria.clone(),
    };

    if g.stages.is_empty() {
        return Err(ctx.err(
            g.header.clone(),
            format!("scenario `{name}` has no stages"),
            format!("add a {stage_table} with a name, a duration and a rate"),
        ));
    }
    let mut stages: Vec<Stage> = Vec::with_capacity(g.stages.len());
    let mut criteria = Vec::with_capacity(g.stages.len());
    for s in &g.stages {
        let raw = s.get_ref();
        let stage = stage(ctx, s, user_rate, inherited.time_scale)?;
        if stages.iter().any(|other| other.name == stage.name) {
            return Err(ctx.err(
                raw.name.span(),
                format!("scenario `{name}` has two stages named `{}`", stage.name),
                "give each stage its own name; results are reported per stage",
            ));
        }
        let own = match &raw.criteria {
            Some(c) => layer(ctx, c)?,
            None => Layer::default(),
        };
        criteria.push(own.over(&base).resolve(ctx, inherited.time_scale)?);
        stages.push(stage);
    }

    if g.requests.is_empty() {
        return Err(ctx.err(
            g.header.clone(),
            format!("scenario `{name}` has no requests"),
            format!("add a {request_table} with a name and a path"),
        ));
    }
    let mut requests: Vec<RequestSpec> = Vec::with_capacity(g.requests.len());
    for r in &g.requests {
        let spec = request(ctx, r.get_ref(), inherited)?;
        if requests.iter().any(|other| other.name == spec.name) {
            return Err(ctx.err(
                r.get_ref().name.span(),
                format!("scenario `{name}` has two requests named `{}`", spec.name),
                "give each request its own name; results are keyed by it",
            ));
        }
        requests.push(spec);
    }
    if requests.iter().all(|r| r.weight == 0) {
        let first = g.requests[0].get_ref();
        let at = first
            .weight
            .as_ref()
            .map_or_else(|| g.header.clone(), |w| w.span());
        return Err(ctx.err(
            at,
            format!("every request weight in scenario `{name}` is zero, so nothing would be sent"),
            "give at least one request a weight above zero",
        ));
    }

    Ok(Scenario {
        name,
        stages,
        arrivals,
        requests,
        criteria,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::http::Method;

    use super::*;
    use crate::plan::{Limits, Quantile, StageCriteria};
    use crate::plan_file::Overrides;
    use crate::plan_file::tests::{SHORT, load_str};

    const FULL: &str = r#"
name = "full"
seed = 7
threads = 3
user_rate = 0.5

[target]
base_url = "http://127.0.0.1:8001/api/"
timeout = "10s"
connections = 20
max_in_flight = 500
connect_rate = 50
max_body = "2MiB"
preflight = false
headers = { Authorization = "Bearer ${env:METRONOME_PLAN_FILE_TEST_TOKEN}", Accept = "application/json" }

[sla.health]
p50 = "50ms"
p95 = "100ms"
p99 = "200ms"

[sla.read_medium]
p95 = "400ms"

[vars]
industry = ["retail", "healthcare"]
agent_id = { range = [1, 500] }
seq = "sequence"

[criteria]
error_rate = { warn = 0.01, fail = 0.05 }
sla = ["p95"]

[[scenario]]
name = "journey"
arrivals = "poisson"
criteria = { error_rate = { warn = 0.02 }, sla = ["p95", "p99"] }

[[scenario.stage]]
name = "ramp"
duration = "30s"
from_users = 0
to_users = 200
settle = "10s"

[[scenario.stage]]
name = "hold"
duration = "1m"
users = 50
criteria = { max_dropped = 0, sla_fail_over = 0.25 }

[[scenario.request]]
name = "filter_agents"
weight = 5
path = "/agents?industry={industry}"
sla = "read_medium"

[[scenario.request]]
name = "create_goal"
method = "POST"
path = "/agents/{agent_id}/goals"
headers = { "Content-Type" = "application/json" }
body = '{{"title": "goal {seq}"}}'

[[scenario]]
name = "health"
user_rate = 2.0

[[scenario.stage]]
name = "spike"
duration = "30s"
from = 0
to = 200

[[scenario.stage]]
name = "steady"
duration = "5m"
rate = 10
criteria = { error_rate = { fail = 0.5 } }

[[scenario.request]]
name = "health"
path = "/health"
sla = "health"
"#;

    #[test]
    fn a_full_plan_converts_to_the_expected_plan() {
        // SAFETY: the name is unique to this test and set before the plan reads it; no test in
        // this crate changes the environment while another reads it.
        unsafe { std::env::set_var("METRONOME_PLAN_FILE_TEST_TOKEN", "s3cret") };
        let loaded = load_str(FULL, &Overrides::default());
        assert!(loaded.has_target);
        let p = loaded.plan;
        assert_eq!((p.name.as_str(), p.seed, p.threads), ("full", 7, 3));
        assert!(!p.preflight);
        assert_eq!((p.target.host.as_str(), p.target.port), ("127.0.0.1", 8001));
        assert_eq!(p.target.base_path, "/api");
        assert_eq!(p.target.headers["authorization"], "Bearer s3cret");
        assert_eq!(p.target.headers["accept"], "application/json");
        assert_eq!(
            p.limits,
            Limits {
                connections: 20,
                max_in_flight: 500,
                timeout: Duration::from_secs(10),
                connect_rate: 50,
                max_body: 2 << 20,
            }
        );
        assert_eq!(
            p.sla_classes["health"],
            SlaClass {
                p50: Some(Duration::from_millis(50)),
                p95: Some(Duration::from_millis(100)),
                p99: Some(Duration::from_millis(200)),
            }
        );
        assert_eq!(p.sla_classes["read_medium"].p50, None);
        assert_eq!(p.vars.names(), ["industry", "agent_id", "seq"]);

        assert_eq!(p.scenarios.len(), 2);
        let j = &p.scenarios[0];
        assert_eq!(j.name, "journey");
        assert_eq!(j.arrivals, ArrivalProcess::Poisson);
        assert_eq!(
            j.stages,
            vec![
                Stage {
                    name: "ramp".into(),
                    from: 0.0,
                    to: 100.0,
                    duration: Duration::from_secs(30),
                    settle: Duration::from_secs(10),
                },
                Stage::constant("hold", 25.0, Duration::from_secs(60)),
            ]
        );
        assert_eq!(
            j.criteria[0],
            StageCriteria {
                warn_error_rate: Some(0.02),
                max_error_rate: Some(0.05),
                sla_percentiles: vec![Quantile::P95, Quantile::P99],
                sla_fail_over: 0.5,
                max_dropped: None,
                error_window: None,
                sla_window: None,
            }
        );
        assert_eq!(j.criteria[1].max_dropped, Some(0));
        assert_eq!(j.criteria[1].sla_fail_over, 0.25);
        assert_eq!(j.criteria[1].warn_error_rate, Some(0.02));
        let (f, g) = (&j.requests[0], &j.requests[1]);
        assert_eq!(
            (f.name.as_str(), f.weight, &f.method),
            ("filter_agents", 5, &Method::GET)
        );
        assert_eq!(f.sla_class.as_deref(), Some("read_medium"));
        assert!(!f.path.is_static());
        assert_eq!(f.body.source(), "");
        assert_eq!(
            (g.weight, &g.method, g.sla_class.as_deref()),
            (1, &Method::POST, None)
        );
        assert_eq!(g.headers["content-type"], "application/json");
        let mut body = String::new();
        g.body.render(&p.vars, p.seed, 0, 42, &mut body);
        assert_eq!(body, r#"{"title": "goal 42"}"#);
        let mut path = String::new();
        g.path.render(&p.vars, p.seed, 0, 3, &mut path);
        let id: i64 = path.split('/').nth(2).unwrap().parse().unwrap();
        assert!((1..=500).contains(&id), "{path}");

        let h = &p.scenarios[1];
        assert_eq!(h.arrivals, ArrivalProcess::Uniform);
        assert_eq!((h.stages[0].from, h.stages[0].to), (0.0, 200.0));
        assert_eq!(
            h.stages[1],
            Stage::constant("steady", 10.0, Duration::from_secs(300))
        );
        assert_eq!(h.criteria[0].warn_error_rate, Some(0.01));
        assert_eq!(h.criteria[0].sla_percentiles, vec![Quantile::P95]);
        assert_eq!(h.criteria[1].max_error_rate, Some(0.5));
        assert_eq!(h.requests[0].sla_class.as_deref(), Some("health"));
    }

    #[test]
    fn the_short_form_is_one_scenario_called_main() {
        let loaded = load_str(SHORT, &Overrides::default());
        assert!(!loaded.has_target);
        let p = loaded.plan;
        assert_eq!(p.name, "test-plan");
        assert_eq!(p.seed, 1);
        assert!(p.threads >= 1);
        assert!(p.preflight);
        assert_eq!(p.limits, Limits::default());
        assert_eq!(p.target.base_path, "");
        assert_eq!(p.scenarios.len(), 1);
        let s = &p.scenarios[0];
        assert_eq!(s.name, "main");
        assert_eq!(
            s.stages,
            vec![Stage::constant("smoke", 5.0, Duration::from_secs(30))]
        );
        assert_eq!(s.criteria, vec![StageCriteria::default()]);
        assert_eq!(s.requests[0].path.source(), "/health");
        assert_eq!(s.requests[0].method, Method::GET);
    }
}
