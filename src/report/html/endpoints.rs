//! The endpoints section: one row per scenario and request name (count, rate, errors,
//! percentiles, SLA class and verdict), each figure beside the baseline's, and the totals.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use super::compare::{Better, Fig, Kind, opt_us};
use super::{error_rate, esc, no_data, open_section, put, verdict_tag, verdict_text};
use crate::report::data::ReportData;
use crate::summary::{ByName, Criterion, Percentiles, Rule, Summary, Verdict};
use crate::units::{format_share, format_us};

/// class_targets gathers each SLA class's targets from the criteria's rules; summaries written
/// before criteria carried their rule have them read back from the names, which look like
/// `journey/normal-50/list_agents: p95 ≤ 400.0ms (read_medium)`.
fn class_targets(criteria: &[Criterion]) -> BTreeMap<String, BTreeMap<u32, String>> {
    let mut out: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
    for c in criteria.iter().filter(|c| c.request.is_some()) {
        let (class, q, target) = match &c.rule {
            Some(Rule::Sla {
                class,
                percentile,
                target_us,
                ..
            }) => (class.clone(), percentile.clone(), format_us(*target_us)),
            Some(_) => continue,
            None => {
                let Some(parsed) = rule_from_name(&c.name) else {
                    continue;
                };
                parsed
            }
        };
        // Order p50 < p95 < p99 < p99.9 by the digits after "p".
        let order = q
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .map_or(u32::MAX, |n| (n * 1000.0) as u32);
        out.entry(class)
            .or_default()
            .insert(order, format!("{q} ≤ {target}"));
    }
    out
}

/// rule_from_name reads (class, percentile, target) out of an SLA criterion's printed name.
fn rule_from_name(name: &str) -> Option<(String, String, String)> {
    let (_, rule) = name.rsplit_once(": ")?;
    let (rule, class) = rule.strip_suffix(')')?.rsplit_once(" (")?;
    let (q, target) = rule.split_once(" ≤ ")?;
    Some((class.to_string(), q.to_string(), target.to_string()))
}

/// base_name is the baseline's row for endpoint `n`: None without a baseline, Some(None) when
/// the baseline has no such endpoint.
pub(super) fn base_name<'a>(b: Option<&'a Summary>, n: &ByName) -> Option<Option<&'a ByName>> {
    b.map(|b| {
        b.by_name
            .iter()
            .find(|x| x.scenario == n.scenario && x.name == n.name)
    })
}

/// worst_criterion is the criterion that set an endpoint's verdict.
fn worst_criterion<'a>(s: &'a Summary, n: &ByName) -> Option<&'a Criterion> {
    s.criteria
        .iter()
        .filter(|c| {
            c.request.as_deref() == Some(n.name.as_str())
                && c.scenario.as_deref() == Some(n.scenario.as_str())
        })
        .max_by_key(|c| c.verdict)
}

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "endpoints");
    if s.by_name.is_empty() {
        no_data(out, "the plan has no requests.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str("<p>Per scenario and request name. Latency percentiles are over successful responses of the whole run; the SLA verdict is judged per stage (the worst stage counts), over successes, settle time left out. Rate is requests per second of the schedule.</p>\n");
    let targets = class_targets(&s.criteria);
    out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">scenario / name</th><th>count</th><th>rate</th><th>errors<small>rate</small></th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>service p99</th><th class=\"l\">SLA class</th><th class=\"l\">SLA verdict</th></tr>\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    for n in &s.by_name {
        let bn = base_name(b, n);
        name_row(out, n, bn, lb, blb);
        let class = match &n.sla_class {
            Some(c) => {
                let t = targets
                    .get(c)
                    .map(|t| t.values().cloned().collect::<Vec<_>>().join(" · "))
                    .unwrap_or_default();
                format!("{}<small>{}</small>", esc(c), esc(&t))
            }
            None => "–".into(),
        };
        let title = worst_criterion(s, n)
            .map(|c| format!(" title=\"{}: {}\"", esc(&c.name), esc(&c.detail)))
            .unwrap_or_default();
        let mut verdict = verdict_tag(n.sla_verdict);
        if let Some(Some(bn)) = bn {
            put!(
                verdict,
                "<span class=\"base\">baseline {}</span>",
                verdict_text(bn.sla_verdict)
            );
        }
        if n.sla_verdict.is_some_and(|v| v != Verdict::Passed)
            && let Some(c) = worst_criterion(s, n)
        {
            put!(
                verdict,
                "<small>worst in {}</small>",
                esc(c.stage.as_deref().unwrap_or("the run"))
            );
        }
        put!(
            out,
            "<td class=\"l\">{class}</td><td class=\"l\"{title}>{verdict}</td></tr>\n"
        );
    }
    // The totals row, as Locust's "Aggregated".
    let rate = |s: &Summary| {
        if s.duration_s > 0.0 {
            s.requests as f64 / s.duration_s
        } else {
            0.0
        }
    };
    let total = ByName {
        scenario: String::new(),
        name: "all requests".into(),
        method: String::new(),
        path: String::new(),
        sla_class: None,
        requests: s.requests,
        errors: s.errors,
        error_kinds: s.error_kinds.clone(),
        rate: rate(s),
        bytes_received: s.bytes_received,
        latency_us: s.latency_us.clone(),
        service_time_us: s.service_time_us.clone(),
        error_latency_us: s.error_latency_us.clone(),
        sla_verdict: None,
        check_failures: Vec::new(),
    };
    let btotal = b.map(|b| ByName {
        requests: b.requests,
        errors: b.errors,
        rate: rate(b),
        latency_us: b.latency_us.clone(),
        service_time_us: b.service_time_us.clone(),
        ..total.clone()
    });
    out.push_str("<tr class=\"total\">");
    name_cells(out, &total, btotal.as_ref().map(Some), lb, blb);
    out.push_str("<td class=\"l\"></td><td class=\"l\"></td></tr>\n</table></div>\n");
    if lb {
        out.push_str(
            "<p class=\"note\">≥: arrivals were dropped, so latency percentiles are lower bounds.</p>\n",
        );
    }
    out.push_str("</section>\n");
}

fn name_row(out: &mut String, n: &ByName, bn: Option<Option<&ByName>>, lb: bool, blb: bool) {
    out.push_str("<tr>");
    name_cells(out, n, bn, lb, blb);
}

/// name_cells writes an endpoint's figures, each beside the baseline's when there is one.
fn name_cells(out: &mut String, n: &ByName, bn: Option<Option<&ByName>>, lb: bool, blb: bool) {
    let label = if n.scenario.is_empty() {
        esc(&n.name)
    } else {
        format!("{}/<wbr>{}", esc(&n.scenario), esc(&n.name))
    };
    let path = if n.method.is_empty() {
        String::new()
    } else {
        format!("<small>{} {}</small>", esc(&n.method), esc(&n.path))
    };
    put!(out, "<td class=\"l\"><b>{label}</b>{path}</td>");
    let f = |kind, better, get: &dyn Fn(&ByName) -> Option<f64>| Fig::of(kind, better, n, bn, get);
    out.push_str(&f(Kind::Count, Better::Neither, &|n| Some(n.requests as f64)).td());
    out.push_str(&f(Kind::Rate, Better::Neither, &|n| Some(n.rate)).td());
    let errors = f(Kind::Count, Better::Lower, &|n| Some(n.errors as f64));
    put!(
        out,
        "<td>{}<small>{}</small></td>",
        errors.html(false),
        format_share(error_rate(n.errors, n.requests))
    );
    let quantiles: [fn(&Percentiles) -> Option<u64>; 6] = [
        |p| p.p50,
        |p| p.p90,
        |p| p.p95,
        |p| p.p99,
        |p| p.p99_9,
        |p| p.max,
    ];
    for q in quantiles {
        out.push_str(
            &f(Kind::Us, Better::Lower, &|n| opt_us(q(&n.latency_us)))
                .bounds(lb, blb)
                .td(),
        );
    }
    out.push_str(
        &f(Kind::Us, Better::Lower, &|n| opt_us(n.service_time_us.p99))
            .bounds(lb, blb)
            .td(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Criterion, Verdict};

    #[test]
    fn class_targets_are_read_from_criteria_names() {
        let c = |name: &str| Criterion {
            name: name.into(),
            verdict: Verdict::Passed,
            detail: String::new(),
            validity: false,
            scenario: Some("journey".into()),
            stage: Some("normal-50".into()),
            request: Some("list_agents".into()),
            rule: None,
        };
        let t = class_targets(&[
            c("journey/normal-50/list_agents: p99 ≤ 600.0ms (read_medium)"),
            c("journey/normal-50/list_agents: p95 ≤ 400.0ms (read_medium)"),
            c("journey/normal-50/list_agents: error rate"),
        ]);
        let got: Vec<&String> = t["read_medium"].values().collect();
        assert_eq!(got, ["p95 ≤ 400.0ms", "p99 ≤ 600.0ms"]);
    }

    #[test]
    fn class_targets_come_from_the_rule_when_a_criterion_carries_one() {
        // A name that says nothing parseable: only the rule can give the target.
        let c = Criterion {
            name: "renamed".into(),
            verdict: Verdict::Passed,
            detail: String::new(),
            validity: false,
            scenario: Some("journey".into()),
            stage: Some("normal-50".into()),
            request: Some("list_agents".into()),
            rule: Some(Rule::Sla {
                class: "read_light".into(),
                percentile: "p99".into(),
                target_us: 500_000,
                fail_above_us: 750_000,
                value_us: Some(1_000),
            }),
        };
        let t = class_targets(&[c]);
        let got: Vec<&String> = t["read_light"].values().collect();
        assert_eq!(got, ["p99 ≤ 500.0ms"]);
    }
}
