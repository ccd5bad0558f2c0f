//! What the start page asks for, checked: a shipped or uploaded plan, or quick mode, read
//! into the flags of a `metronome run`, or refused with the plan's error and its place.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SHIPPED;
use crate::plan_file::{self, Overrides};

/// Asked is what the page sends to check or start a run.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asked {
    /// A shipped plan's name.
    plan: Option<String>,
    /// An uploaded plan's text, and its file name.
    text: Option<String>,
    name: Option<String>,
    /// Quick mode, when neither plan nor text is given: URL (empty for the demo target), rate
    /// and duration.
    url: Option<String>,
    rate: Option<String>,
    duration: Option<String>,
    host: Option<String>,
    time_scale: Option<String>,
    seed: Option<String>,
}

/// Checked is what the page shows of a check or a refused start.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Checked {
    /// said is what a check or a start did, done.
    pub fn said(message: String, id: Option<String>) -> Checked {
        Checked {
            ok: true,
            message,
            line: None,
            column: None,
            id,
        }
    }

    pub fn refused(message: impl Into<String>) -> Checked {
        Checked {
            ok: false,
            message: message.into(),
            line: None,
            column: None,
            id: None,
        }
    }
}

/// opt is a form field's value, trimmed, when it has one.
fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Chosen is a checked request: the plan's text (none in quick mode) and the run's flags.
pub struct Chosen {
    pub plan: Option<(String, String)>,
    pub args: Vec<String>,
    pub description: String,
}

/// check reads what was asked into a run's flags, or says what is wrong with it.
pub fn check(asked: &Asked) -> Result<Chosen, Checked> {
    let mut args = Vec::new();
    for (flag, value) in [
        ("--time-scale", opt(&asked.time_scale)),
        ("--seed", opt(&asked.seed)),
    ] {
        if let Some(v) = value {
            args.extend([flag.to_string(), v.to_string()]);
        }
    }
    let source = match (opt(&asked.plan), asked.text.as_deref()) {
        (Some(name), _) => {
            let (name, text) = SHIPPED
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| Checked::refused(format!("no shipped plan is called {name}")))?;
            Some((name.to_string(), text.to_string()))
        }
        (None, Some(text)) if !text.trim().is_empty() => {
            let name = opt(&asked.name).unwrap_or("uploaded.toml");
            let name = Path::new(name)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("uploaded.toml");
            // Kept beside the run's files under a name none of them has.
            let name = if name.ends_with(".toml") {
                name.to_string()
            } else {
                format!("{name}.toml")
            };
            Some((name, text.to_string()))
        }
        _ => None,
    };
    let Some((name, text)) = source else {
        // Quick mode: the run checks the flags themselves, before it sends anything.
        let rate = opt(&asked.rate).ok_or_else(|| {
            Checked::refused("quick mode needs a rate (arrivals a second), e.g. 100")
        })?;
        let duration = opt(&asked.duration)
            .ok_or_else(|| Checked::refused("quick mode needs a duration, e.g. 30s"))?;
        args.extend([
            "--rate".into(),
            rate.into(),
            "--duration".into(),
            duration.into(),
        ]);
        if let Some(url) = opt(&asked.url) {
            args.extend(["--url".into(), url.into()]);
        }
        let target = opt(&asked.url).unwrap_or("the built-in demo target");
        return Ok(Chosen {
            plan: None,
            args,
            description: format!("quick mode: {rate}/s for {duration} against {target}"),
        });
    };
    let overrides = Overrides {
        host: opt(&asked.host).map(str::to_string),
        time_scale: match opt(&asked.time_scale) {
            Some(t) => Some(t.parse().map_err(|_| {
                Checked::refused(format!(
                    "time scale `{t}` is not a number: give a factor such as 0.01"
                ))
            })?),
            None => None,
        },
        seed: match opt(&asked.seed) {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| Checked::refused(format!("seed `{s}` is not a whole number")))?,
            ),
            None => None,
        },
    };
    match plan_file::parse(&text, Path::new(&name), &overrides) {
        Ok(loaded) => {
            if let Some(host) = opt(&asked.host) {
                args.extend(["--host".into(), host.into()]);
            }
            Ok(Chosen {
                plan: Some((name, text)),
                args,
                description: crate::check::describe(&loaded.plan, loaded.has_target),
            })
        }
        Err(e) => Err(Checked {
            ok: false,
            message: e.to_string(),
            line: (e.line > 0).then_some(e.line),
            column: (e.column > 0).then_some(e.column),
            id: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(json: &str) -> Asked {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_shipped_plan_becomes_its_text_and_the_flags_asked() {
        let c = check(&asked(
            r#"{"plan": "smoke.toml", "time_scale": "0.1", "seed": " 7 ", "host": "http://127.0.0.1:9"}"#,
        ))
        .unwrap();
        let (name, text) = c.plan.unwrap();
        assert_eq!(name, "smoke.toml");
        assert!(text.contains("user_rate"), "{text}");
        assert_eq!(
            c.args,
            [
                "--time-scale",
                "0.1",
                "--seed",
                "7",
                "--host",
                "http://127.0.0.1:9"
            ]
        );
        assert!(c.description.starts_with("plan smoke"), "{}", c.description);
    }

    #[test]
    fn a_plan_with_a_mistake_is_refused_at_its_line_and_column() {
        let refused = check(&asked(
            r#"{"text": "seed = 1\n[target]\ntimeout = 5\n", "name": "mine.toml"}"#,
        ))
        .err()
        .unwrap();
        assert_eq!((refused.line, refused.column), (Some(3), Some(11)));
        assert!(
            refused.message.starts_with("mine.toml:3:11:"),
            "{}",
            refused.message
        );
        let refused = check(&asked(r#"{"plan": "nope.toml"}"#)).err().unwrap();
        assert!(refused.message.contains("nope.toml"), "{}", refused.message);
        let refused = check(&asked(r#"{"plan": "smoke.toml", "time_scale": "fast"}"#))
            .err()
            .unwrap();
        assert!(
            refused.message.contains("not a number"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn an_uploaded_plan_is_kept_under_a_plain_toml_name() {
        let text = "[target]\ntimeout = \"5s\"\n";
        let name = |n: &str| {
            let a = Asked {
                text: Some(text.into()),
                name: Some(n.into()),
                ..Asked::default()
            };
            // The text is no whole plan; only the name it would be kept under matters here.
            match check(&a) {
                Ok(c) => c.plan.unwrap().0,
                Err(e) => e.message.split(':').next().unwrap().to_string(),
            }
        };
        assert_eq!(name("../../etc/x.toml"), "x.toml");
        assert_eq!(name(".."), "uploaded.toml");
        assert_eq!(name("summary.json"), "summary.json.toml");
    }

    #[test]
    fn quick_mode_needs_a_rate_and_a_duration() {
        let c = check(&asked(
            r#"{"rate": "50", "duration": "2s", "url": "http://127.0.0.1:9/x"}"#,
        ))
        .unwrap();
        assert!(c.plan.is_none());
        assert_eq!(
            c.args,
            [
                "--rate",
                "50",
                "--duration",
                "2s",
                "--url",
                "http://127.0.0.1:9/x"
            ]
        );
        assert!(check(&asked(r#"{"duration": "2s"}"#)).is_err());
        assert!(check(&asked(r#"{"rate": "50"}"#)).is_err());
        assert!(serde_json::from_str::<Asked>(r#"{"rte": "50"}"#).is_err());
    }
}
