//! Response checks and data files end to end against the demo target: a check that fails
//! fails its arrival as a "check" error, with the reason kept for the report.

mod common;

use std::path::Path;

use common::{demo, run};
use metronome::demo::DemoConfig;
use metronome::plan_file::{Overrides, parse};

fn plan_with_check(host: &str, check: &str) -> metronome::plan::Plan {
    let src = format!(
        r#"
[[stage]]
name = "s"
rate = 40
duration = "500ms"

[[request]]
name = "health"
path = "/health"
check = {check}
"#
    );
    let overrides = Overrides {
        host: Some(host.to_string()),
        ..Overrides::default()
    };
    parse(&src, Path::new("checks.toml"), &overrides)
        .expect("plan parses")
        .plan
}

#[test]
fn each_check_kind_passes_and_fails_as_expected() {
    let target = demo(DemoConfig::default());
    // /health answers 200 {"status":"ok"}.
    let cases = [
        (r#"{ status = ["2xx"] }"#, None),
        (r#"{ status = [201] }"#, Some("status 200 not in")),
        (r#"{ body_contains = "ok" }"#, None),
        (r#"{ body_contains = "nope" }"#, Some("does not contain")),
        (r#"{ json = { "/status" = "ok" } }"#, None),
        (r#"{ json = { "/status" = "down" } }"#, Some("/status")),
        (r#"{ max_body = 4 }"#, Some("larger than")),
    ];
    for (check, failure) in cases {
        let s = run(plan_with_check(&target.base_url(), check));
        assert_eq!(s.requests, 20, "{check}");
        match failure {
            None => assert_eq!(
                s.successes, 20,
                "{check}: {:?} {:?}",
                s.error_kinds, s.by_name[0].check_failures
            ),
            Some(reason) => {
                assert_eq!(
                    s.error_kinds.get("check").copied(),
                    Some(20),
                    "{check}: {:?}",
                    s.error_kinds
                );
                let kept = &s.by_name[0].check_failures;
                assert!(kept.iter().any(|m| m.contains(reason)), "{check}: {kept:?}");
            }
        }
    }
}

#[test]
fn a_csv_data_file_feeds_template_values() {
    let target = demo(DemoConfig::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agents.csv"),
        "id,industry\n1,retail\n2,\"health, care\"\n3,finance\n",
    )
    .unwrap();
    let src = r#"
[vars]
agent = { csv = "agents.csv", order = "cycle" }

[[stage]]
name = "s"
rate = 30
duration = "1s"

[[request]]
name = "configuration"
path = "/api/v1/agents/{agent.id}/configuration"
check = { status = [200] }
"#;
    let overrides = Overrides {
        host: Some(target.base_url()),
        ..Overrides::default()
    };
    let plan = parse(src, &dir.path().join("data.toml"), &overrides)
        .expect("plan parses")
        .plan;
    let s = run(plan);
    assert_eq!(
        s.successes, 30,
        "{:?} {:?}",
        s.error_kinds, s.by_name[0].check_failures
    );
}
