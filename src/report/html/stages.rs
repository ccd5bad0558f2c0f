//! The stages section: one row per scenario and stage (window, target and achieved rate,
//! errors, dropped, p99 and the stage's criteria), each figure beside the baseline's.

use std::fmt::Write as _;

use super::compare::{Better, Fig, Kind, opt_us};
use super::{esc, no_data, open_section, put, secs_text, verdict_tag};
use crate::report::data::ReportData;
use crate::summary::{ByStage, Summary, Verdict};

/// stage_verdict is the worst verdict among a stage's criteria, with how many there are.
fn stage_verdict(s: &Summary, st: &ByStage) -> (Option<Verdict>, usize) {
    let judged: Vec<Verdict> = s
        .criteria
        .iter()
        .filter(|c| {
            c.scenario.as_deref() == Some(st.scenario.as_str())
                && c.stage.as_deref() == Some(st.name.as_str())
        })
        .map(|c| c.verdict)
        .collect();
    (judged.iter().copied().max(), judged.len())
}

pub(super) fn section(out: &mut String, data: &ReportData, baseline: Option<&ReportData>) {
    let s = &data.summary;
    let b = baseline.map(|b| &b.summary);
    open_section(out, "stages");
    if s.by_stage.is_empty() {
        no_data(out, "the plan has no stages.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str("<p>Per scenario and stage. An arrival belongs to the stage of its intended time, whenever its response came back. p99 is the latency of the stage's successful responses.</p>\n");
    out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">scenario / stage</th><th>window</th><th>target rate</th><th>achieved rate</th><th>requests</th><th>errors</th><th>error rate</th><th>dropped</th><th>p99</th><th class=\"l\">criteria</th></tr>\n");
    let lb = s.percentiles_are_lower_bounds;
    let blb = b.is_some_and(|b| b.percentiles_are_lower_bounds);
    for st in &s.by_stage {
        let bs = b.map(|b| {
            b.by_stage
                .iter()
                .find(|x| x.scenario == st.scenario && x.name == st.name)
        });
        let f = |kind, better, get: &dyn Fn(&ByStage) -> Option<f64>| {
            Fig::of(kind, better, st, bs, get).td()
        };
        let target = if (st.from_rate - st.to_rate).abs() > 1e-9 {
            format!(
                "{:.1}/s<small>ramp {:.1} → {:.1}/s</small>",
                st.target_rate, st.from_rate, st.to_rate
            )
        } else {
            format!("{:.1}/s", st.target_rate)
        };
        let (v, n) = stage_verdict(s, st);
        let crit = if n == 0 {
            "<span class=\"v none\">– none</span>".to_string()
        } else {
            format!(
                "{} <small>{n} {}</small>",
                verdict_tag(v),
                if n == 1 { "criterion" } else { "criteria" }
            )
        };
        put!(
            out,
            "<tr><td class=\"l\"><b>{}/<wbr>{}</b></td><td>{} – {}</td><td>{target}</td>",
            esc(&st.scenario),
            esc(&st.name),
            esc(&secs_text(st.start_s)),
            esc(&secs_text(st.start_s + st.duration_s))
        );
        out.push_str(&f(Kind::Rate, Better::Higher, &|x| Some(x.achieved_rate)));
        out.push_str(&f(Kind::Count, Better::Neither, &|x| {
            Some(x.requests as f64)
        }));
        out.push_str(&f(Kind::Count, Better::Lower, &|x| Some(x.errors as f64)));
        out.push_str(&f(Kind::Share, Better::Lower, &|x| Some(x.error_rate)));
        out.push_str(&f(Kind::Count, Better::Lower, &|x| Some(x.dropped as f64)));
        out.push_str(
            &Fig::of(Kind::Us, Better::Lower, st, bs, |x| {
                opt_us(x.latency_us.p99)
            })
            .bounds(lb, blb)
            .td(),
        );
        put!(out, "<td class=\"l\">{crit}</td></tr>\n");
    }
    out.push_str("</table></div>\n</section>\n");
}
