//! JUnit XML writer: the summary's criteria as test cases, the format CI systems show natively.
//!
//! One `<testsuite>` for the run's own criteria and one per (scenario, stage); in it one
//! `<testcase>` per criterion (so per endpoint for SLA criteria). A failed criterion carries a
//! `<failure>` whose message is the figure that decided it; one that makes the run not valid an
//! `<error>` instead (the run's figures cannot be trusted, which is not the target failing); a
//! criterion deferred to `metronome merge` is `<skipped>`; a warning passes, its detail in
//! `<system-out>`.

use std::fmt::Write as _;
use std::path::Path;

use crate::summary::{Criterion, Summary, Verdict};

/// write writes the summary's criteria to `path` as JUnit XML, replacing any file there whole.
pub fn write(summary: &Summary, path: &Path) -> std::io::Result<()> {
    super::write_atomically(path, render(summary).as_bytes())
}

/// Suite is the criteria of one testsuite, in the summary's order.
struct Suite<'a> {
    name: String,
    class: String,
    cases: Vec<&'a Criterion>,
}

/// render is the JUnit XML document of a summary.
pub fn render(s: &Summary) -> String {
    let mut suites: Vec<Suite> = Vec::new();
    for c in &s.criteria {
        let (name, class) = match (&c.scenario, &c.stage) {
            (Some(sc), Some(st)) => (
                format!("{}: {sc}/{st}", s.plan),
                format!("metronome.{}.{sc}.{st}", s.plan),
            ),
            _ => (
                format!("{}: run", s.plan),
                format!("metronome.{}.run", s.plan),
            ),
        };
        match suites.iter_mut().find(|x| x.name == name) {
            Some(suite) => suite.cases.push(c),
            None => suites.push(Suite {
                name,
                class,
                cases: vec![c],
            }),
        }
    }
    let count = |cs: &[&Criterion], f: fn(&Criterion) -> bool| cs.iter().filter(|c| f(c)).count();
    let failed = |c: &Criterion| c.verdict == Verdict::Failed && !c.validity;
    let errored = |c: &Criterion| c.verdict == Verdict::Failed && c.validity;
    let skipped = |c: &Criterion| c.verdict == Verdict::Deferred;
    let all: Vec<&Criterion> = s.criteria.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
        esc(&format!("metronome: {}", s.plan)),
        all.len(),
        count(&all, failed),
        count(&all, errored),
        count(&all, skipped),
        s.elapsed_s,
        esc(&s.started_at),
    );
    for suite in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            esc(&suite.name),
            suite.cases.len(),
            count(&suite.cases, failed),
            count(&suite.cases, errored),
            count(&suite.cases, skipped),
            s.elapsed_s,
            esc(&s.started_at),
        );
        if suite.name.ends_with(": run") {
            let _ = writeln!(
                out,
                "    <properties>\n      <property name=\"target\" value=\"{}\"/>\n      <property name=\"seed\" value=\"{}\"/>\n      <property name=\"valid\" value=\"{}\"/>\n      <property name=\"partial\" value=\"{}\"/>\n      <property name=\"exit_code\" value=\"{}\"/>\n    </properties>",
                esc(&s.target),
                s.seed,
                s.valid,
                s.partial,
                s.exit_code
            );
        }
        for c in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
                esc(&suite.class),
                esc(&c.name)
            );
            let kind = c.rule.as_ref().map_or("run", rule_kind);
            match c.verdict {
                Verdict::Failed => {
                    let tag = if c.validity { "error" } else { "failure" };
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n    </testcase>",
                        esc(&c.detail),
                        esc(&c.detail)
                    );
                }
                Verdict::Deferred => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        esc(&c.detail)
                    );
                }
                Verdict::Warned => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                        esc(&c.detail)
                    );
                }
                Verdict::Passed => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        esc(&c.detail)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// rule_kind names a rule's kind as the JSON does (`kind`).
fn rule_kind(r: &crate::summary::Rule) -> &'static str {
    use crate::summary::Rule;
    match r {
        Rule::ScheduleKept { .. } => "schedule_kept",
        Rule::ErrorRate { .. } => "error_rate",
        Rule::Dropped { .. } => "dropped",
        Rule::Sla { .. } => "sla",
        Rule::Window { .. } => "window",
        Rule::TargetRunning { .. } => "target_running",
        Rule::MemoryGrowth { .. } => "memory_growth",
        Rule::MaxMemory { .. } => "max_memory",
        Rule::MemoryTrend { .. } => "memory_trend",
    }
}

/// esc escapes text for an XML attribute or element, dropping the control characters XML 1.0
/// cannot hold.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            esc("p95 ≤ 100ms <a & \"b\">\u{1}"),
            "p95 ≤ 100ms &lt;a &amp; &quot;b&quot;&gt;"
        );
    }
}
