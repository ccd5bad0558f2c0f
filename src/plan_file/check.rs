//! A request's `check = { … }`: the statuses that pass, the text a body must contain, RFC 6901
//! pointers with the JSON value each must have, and how much body may be read. How a response is
//! judged against them is the engine's ([`Checks::judge`]).

use toml::Spanned;

use super::Result;
use super::raw::RawCheck;
use super::span::Ctx;
use crate::plan::checks::{self, Checks, StatusSet};
use crate::problem::Problem;

/// checks reads a request's `check = { … }`.
pub(super) fn checks(ctx: &Ctx, raw: &Spanned<RawCheck>) -> Result<Checks> {
    let c = raw.get_ref();
    let mut checks = Checks::default();
    if let Some(list) = &c.status {
        let status_help = "write codes and classes: status = [200, 201] or status = [\"2xx\", \
                           301]; a range is a string such as \"200-204\"";
        if list.get_ref().is_empty() {
            return Err(ctx.err(
                list.span(),
                "status = [] lets no response pass",
                status_help,
            ));
        }
        let mut ranges = Vec::with_capacity(list.get_ref().len());
        for entry in list.get_ref() {
            let r = match entry.get_ref() {
                toml::Value::Integer(code) => StatusSet::code(*code),
                toml::Value::String(text) => StatusSet::entry(text),
                other => Err(Problem::new(
                    format!("{} is not a status entry", other.type_str()),
                    "statuses are codes or strings",
                )),
            };
            ranges.push(r.map_err(|e| ctx.err(entry.span(), e.message, status_help))?);
        }
        checks.status = StatusSet::new(ranges);
    }
    if let Some(b) = &c.body_contains {
        if b.get_ref().is_empty() {
            return Err(ctx.err(
                b.span(),
                "body_contains is empty, so it checks nothing",
                "give the text the body must contain, e.g. body_contains = \"ok\"",
            ));
        }
        checks.body_contains = Some(b.get_ref().clone());
    }
    if let Some(pointers) = &c.json {
        let mut entries: Vec<_> = pointers.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in entries {
            checks::check_pointer(key.get_ref())
                .map_err(|e| ctx.err(key.span(), e.message, e.help))?;
            let expected = json_value(value.get_ref()).map_err(|e| {
                ctx.err(
                    value.span(),
                    format!("the expected value of `{}` {e}", key.get_ref()),
                    "expect a string, number, boolean, array or table",
                )
            })?;
            checks.json_pointer.push((key.get_ref().clone(), expected));
        }
    }
    if let Some(m) = &c.max_body {
        let size = ctx.size(m, "max_body")?;
        checks.max_body = size;
        checks.size_check = true;
    }
    Ok(checks)
}

/// json_value turns a TOML value into the JSON value a check expects.
fn json_value(v: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("is {f}, which JSON cannot hold"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => {
            return Err(format!(
                "is the date {d}, which JSON does not have; write it as a string, \"{d}\""
            ));
        }
        toml::Value::Array(a) => Value::Array(a.iter().map(json_value).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), json_value(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}
