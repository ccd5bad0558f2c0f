//! One request of a scenario: name, weight, method, the path template, headers, Content-Type,
//! its SLA class, and the templates of paths and bodies with their errors placed inside the
//! string as written. What a body holds is [`super::body`]'s, what a response must be is
//! [`super::check`]'s; how a template is filled for an arrival is [`crate::template`]'s.

use hyper::http::{HeaderValue, Method};
use toml::Spanned;

use super::Result;
use super::body::{body_file, json_body};
use super::check::checks;
use super::raw::RawRequest;
use super::scenario::Inherited;
use super::span::Ctx;
use super::target::headers;
use crate::plan::RequestSpec;
use crate::plan::checks::Checks;
use crate::template::{Template, TemplateError, Vars};

/// request checks one request and builds it.
pub(super) fn request(ctx: &Ctx, raw: &RawRequest, inherited: &Inherited) -> Result<RequestSpec> {
    let name = ctx.name(&raw.name, "request")?;
    let weight = match &raw.weight {
        Some(w) => ctx.int(
            w,
            "weight",
            0..i64::from(u32::MAX) + 1,
            "weights are relative shares of the scenario's arrivals: 0 or more",
        )? as u32,
        None => 1,
    };
    let method = match &raw.method {
        None => Method::GET,
        Some(m) => {
            let text = m.get_ref();
            let valid = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_uppercase())
                && Method::from_bytes(text.as_bytes()).is_ok();
            if !valid {
                let help = if text.bytes().any(|b| b.is_ascii_lowercase()) {
                    format!(
                        "methods are upper case: method = \"{}\"",
                        text.to_ascii_uppercase()
                    )
                } else {
                    "use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS".to_string()
                };
                return Err(ctx.err(m.span(), format!("`{text}` is not an HTTP method"), help));
            }
            Method::from_bytes(text.as_bytes()).expect("checked above")
        }
    };
    let path_text = raw.path.get_ref();
    if !path_text.starts_with('/') {
        return Err(ctx.err(
            raw.path.span(),
            format!("the path `{path_text}` does not start with `/`"),
            format!(
                "write the path from its first slash, e.g. \"/{}\"; the host goes in \
                 [target] base_url",
                path_text.trim_start_matches('/')
            ),
        ));
    }
    if let Some(i) = path_text.find(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(ctx.err_in(
            raw.path.span(),
            i,
            format!("the path `{path_text}` contains a space or control character"),
            "percent-encode it: a space is %20",
        ));
    }
    if let Some(i) = path_text.find('#') {
        // Sent as it is, the rest would be a fragment, which never reaches the server.
        return Err(ctx.err_in(
            raw.path.span(),
            i,
            format!("the path `{path_text}` contains `#`"),
            "a fragment is never sent to the server; for a `#` in the path or query, write %23",
        ));
    }
    let path = template(ctx, &raw.path, inherited.vars)?;
    let longest = path.longest(inherited.vars, crate::engine::escaped_len);
    if longest > crate::engine::MAX_TARGET {
        return Err(ctx.err(
            raw.path.span(),
            format!(
                "the path of request `{name}` can be {longest} bytes long once its variables are \
                 filled in (unsafe bytes percent-encoded), over the {} bytes a request target can \
                 carry",
                crate::engine::MAX_TARGET
            ),
            "shorten the longest values of the variables it uses (list items, data file fields); \
             most servers refuse targets over 8 KiB anyway",
        ));
    }
    let body = match (&raw.body, &raw.body_file) {
        (Some(b), Some(f)) => {
            let later = if b.span().start > f.span().start {
                b.span()
            } else {
                f.span()
            };
            return Err(ctx.err(
                later,
                format!("request `{name}` sets both body and body_file"),
                "keep one: body is the text itself (a template), body_file names a file whose \
                 contents are sent as they are",
            ));
        }
        (Some(b), None) => template(ctx, b, inherited.vars)?,
        (None, Some(f)) => Template::literal(&body_file(ctx, &name, f)?),
        (None, None) => Template::literal(""),
    };
    let mut headers = headers(ctx, raw.headers.as_ref())?;
    if let Some(json) = &raw.json
        && *json.get_ref()
    {
        json_body(ctx, raw, json, &body, inherited.vars)?;
    }
    if let Some(ct) = &raw.content_type {
        if let Some((key, _)) = raw.headers.as_ref().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.get_ref().eq_ignore_ascii_case("content-type"))
        }) {
            let (at, other) = if ct.span().start > key.span().start {
                (ct.span(), "headers")
            } else {
                (key.span(), "content_type")
            };
            return Err(ctx.err(
                at,
                format!("request `{name}` sets Content-Type twice (also in {other})"),
                "keep one of content_type and the Content-Type header",
            ));
        }
        let value = HeaderValue::from_str(ct.get_ref()).map_err(|_| {
            ctx.err(
                ct.span(),
                format!(
                    "content_type `{}` is not a valid header value",
                    ct.get_ref()
                ),
                "write a media type such as \"application/json\" or \
                 \"text/plain; charset=utf-8\"",
            )
        })?;
        headers.insert(hyper::http::header::CONTENT_TYPE, value);
    }
    if raw.json.as_ref().is_some_and(|j| *j.get_ref())
        && !headers.contains_key(hyper::http::header::CONTENT_TYPE)
    {
        headers.insert(
            hyper::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let checks = match &raw.check {
        Some(c) => checks(ctx, c)?,
        None => Checks::default(),
    };
    let sla_class = match &raw.sla {
        None => None,
        Some(c) if inherited.sla_classes.contains_key(c.get_ref()) => Some(c.get_ref().clone()),
        Some(c) => {
            let help = if inherited.sla_classes.is_empty() {
                format!(
                    "the plan declares no SLA classes; add [sla.{}] with p95 = \"…\"",
                    c.get_ref()
                )
            } else {
                let names: Vec<&str> = inherited.sla_classes.keys().map(String::as_str).collect();
                format!("the classes are: {}", names.join(", "))
            };
            return Err(ctx.err(
                c.span(),
                format!("no SLA class is named `{}`", c.get_ref()),
                help,
            ));
        }
    };
    Ok(RequestSpec {
        name,
        weight,
        method,
        path,
        headers,
        body,
        sla_class,
        checks,
    })
}

/// template parses a path or body template, placing its errors inside the string as written.
pub(super) fn template(ctx: &Ctx, v: &Spanned<String>, vars: &Vars) -> Result<Template> {
    Template::parse(v.get_ref(), vars).map_err(|e: TemplateError| {
        let (message, help) = (e.message(), e.help());
        let literal = "a `{` starts a variable; write `{{` and `}}` for literal braces, as in a \
                       JSON body: '{{\"title\": \"goal {seq}\"}}'";
        let help = match &e {
            // A name no variable could have: most likely a literal brace, as in JSON.
            TemplateError::Undefined { name, .. } if !plausible(name) => literal.to_string(),
            TemplateError::Undefined { .. } => format!("{help}, or fix the spelling"),
            TemplateError::Unbalanced { .. } => literal.to_string(),
            TemplateError::UnknownColumn { .. }
            | TemplateError::NeedsColumn { .. }
            | TemplateError::NoColumns { .. } => help,
        };
        let message = match &e {
            TemplateError::Undefined { name, .. } if !plausible(name) => {
                format!("`{{{name}}}` is not a variable name")
            }
            _ => message,
        };
        ctx.err_in(v.span(), e.offset(), message, help)
    })
}

/// plausible says whether a placeholder could be a variable (`name` or `name.column`) rather
/// than a brace meant literally, as in JSON.
fn plausible(name: &str) -> bool {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match name.split_once('.') {
        Some((var, column)) => ident(var) && !column.trim().is_empty() && !column.contains('"'),
        None => ident(name),
    }
}
#[cfg(test)]
mod tests {
    use crate::plan::checks::{Checks, StatusSet};
    use crate::plan_file::Overrides;
    use crate::plan_file::tests::{DATA, SHORT, USERS, load_in_dir, load_str};

    /// error is the error `plan` gives, placed in a file called p.toml.
    fn error(plan: &str) -> crate::plan_file::PlanError {
        crate::plan_file::parse(plan, std::path::Path::new("p.toml"), &Overrides::default())
            .expect_err("the plan is refused")
    }

    #[test]
    fn a_transfer_encoding_header_is_refused_where_it_is_written() {
        // Found by tests/fuzz.rs: such a plan loaded, and only the run refused it, unplaced.
        let plan = SHORT.replace(
            "path = \"/health\"",
            "path = \"/health\"\nheaders = { Accept = \"*/*\", transfer-encoding = \"chunked\" }",
        );
        let e = error(&plan);
        assert_eq!((e.line, e.column), (10, 29), "{e}");
        assert!(
            e.message.contains("`transfer-encoding` cannot be set"),
            "{e}"
        );
        assert!(e.help.contains("Content-Length"), "{e}");
        let e = error(&format!(
            "[target]\nheaders = {{ \"Transfer-Encoding\" = \"gzip\" }}\n{SHORT}"
        ));
        assert_eq!((e.line, e.column), (2, 13), "{e}");
    }

    #[test]
    fn a_hash_written_in_a_path_is_refused_where_it_is() {
        // Found by tests/fuzz.rs: "/q?lang=C#" loaded and sent "/q?lang=C".
        let e = error(&SHORT.replace("\"/health\"", "\"/q?lang=C#\""));
        assert_eq!((e.line, e.column), (9, 18), "{e}");
        assert!(e.message.contains("contains `#`"), "{e}");
        assert!(e.help.contains("%23"), "{e}");
        let e = error(&format!("[target]\nbase_url = \"http://h/a#b\"\n{SHORT}"));
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("fragment"), "{e}");
    }

    #[test]
    fn data_files_bodies_and_checks_load() {
        let p = load_in_dir(DATA, &[("users.csv", USERS), ("goal.json", "{\"t\": 1}\n")])
            .unwrap_or_else(|e| panic!("{e}"))
            .plan;
        let (login, goal) = (&p.scenarios[0].requests[0], &p.scenarios[0].requests[1]);
        for i in 0..3 {
            let mut path = String::new();
            login.path.render(&p.vars, p.seed, 0, i, &mut path);
            assert_eq!(path, format!("/login/{}", i + 1));
            let mut body = String::new();
            login.body.render(&p.vars, p.seed, 0, i, &mut body);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["email"], ["a@x", "b@x", "c@x"][i as usize]);
        }
        assert_eq!(login.headers["content-type"], "application/json");
        let c = &login.checks;
        assert_eq!(c.status.to_string(), "2xx, 301");
        assert_eq!(c.body_contains.as_deref(), Some("ok"));
        assert_eq!(
            c.json_pointer,
            vec![
                ("/status".to_string(), serde_json::json!("ok")),
                ("/n".to_string(), serde_json::json!(1)),
                ("/a~1b".to_string(), serde_json::json!([true])),
            ]
        );
        assert_eq!((c.max_body, c.size_check), (64 << 10, true));
        assert_eq!(
            c.judge(200, Some(br#"{"status": "ok", "n": 1.0, "a/b": [true]}"#)),
            Ok(())
        );
        assert_eq!(goal.body.static_text(), Some("{\"t\": 1}\n"));
        assert_eq!(goal.headers["content-type"], "application/vnd.api+json");
        assert_eq!(goal.checks.status, StatusSet::default());
        assert_eq!(goal.checks.max_body, 1000);
        // Requests without a check keep the defaults.
        let short = load_str(SHORT, &Overrides::default()).plan;
        assert_eq!(short.scenarios[0].requests[0].checks, Checks::default());
    }
}
