//! `[vars]`: the template variables every scenario shares (lists, integer ranges, the arrival's
//! sequence number, and CSV data files read once beside the plan), and the check, once the
//! scenarios are built, that a data file read in order has a row for every arrival. How a value
//! is drawn for an arrival, and how a data file is parsed, is [`crate::template`]'s.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::Result;
use super::raw::Map;
use super::span::Ctx;
use crate::plan::Scenario;
use crate::template::{CsvData, CsvOrder, VarSource, Vars};

/// InOrder is a data file variable read in order, each row at most once: the plan's schedule
/// must not need more rows than the file has.
pub(super) struct InOrder {
    name: String,
    file: String,
    rows: usize,
    /// The `order = "sequential"` value.
    span: Range<usize>,
}

/// vars reads every variable, in the order written; data files read in order are returned
/// beside them for [`rows_suffice`].
pub(super) fn vars(ctx: &Ctx, raw: Map<Spanned<toml::Value>>) -> Result<(Vars, Vec<InOrder>)> {
    let help = "declare a list [\"a\", \"b\"], a range { range = [1, 500] }, \"sequence\", or a \
                data file { csv = \"users.csv\" }";
    let mut in_order = Vec::new();
    // Declaration order, so error messages list the names as written.
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut vars = Vars::default();
    for (key, value) in entries {
        let name = key.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ctx.err(
                key.span(),
                format!("`{name}` is not a usable variable name"),
                "use letters, digits, `_` and `-`, e.g. agent_id",
            ));
        }
        let bad = |what: String| ctx.err(value.span(), what, help);
        let source = match value.get_ref() {
            toml::Value::String(s) if s == "sequence" => VarSource::Sequence,
            toml::Value::String(s) => {
                return Err(bad(format!(
                    "variable `{name}`: `{s}` is not a source of values"
                )));
            }
            toml::Value::Array(items) => {
                if items.is_empty() {
                    return Err(bad(format!("variable `{name}` is an empty list")));
                }
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => list.push(s.clone()),
                        toml::Value::Integer(i) => list.push(i.to_string()),
                        other => {
                            return Err(bad(format!(
                                "variable `{name}`: the list holds {}, not a string",
                                other.type_str()
                            )));
                        }
                    }
                }
                VarSource::List(list)
            }
            toml::Value::Table(t) if t.contains_key("csv") => {
                let (source, order) = csv_var(ctx, name, value, t)?;
                if let (VarSource::Csv { data, .. }, Some(span)) = (&source, order) {
                    in_order.push(InOrder {
                        name: name.clone(),
                        file: t["csv"].as_str().unwrap_or_default().to_string(),
                        rows: data.rows(),
                        span,
                    });
                }
                source
            }
            toml::Value::Table(t) => {
                let range = match (t.len(), t.get("range")) {
                    (1, Some(toml::Value::Array(r))) => match r.as_slice() {
                        [toml::Value::Integer(lo), toml::Value::Integer(hi)] => Some((*lo, *hi)),
                        _ => None,
                    },
                    _ => None,
                };
                let Some((lo, hi)) = range else {
                    return Err(bad(format!(
                        "variable `{name}`: a table must be {{ range = [lo, hi] }} with two \
                         integers"
                    )));
                };
                if lo > hi || hi.checked_sub(lo).is_none() {
                    return Err(ctx.err(
                        value.span(),
                        format!("variable `{name}`: the range [{lo}, {hi}] is empty or too wide"),
                        "write the lower bound first: { range = [1, 500] } (both ends included)",
                    ));
                }
                VarSource::Range { lo, hi }
            }
            other => {
                return Err(bad(format!(
                    "variable `{name}` is {}, not a source of values",
                    other.type_str()
                )));
            }
        };
        vars.add(name, source);
    }
    Ok((vars, in_order))
}

/// csv_var reads a data file variable `{ csv = "users.csv", order = "cycle" }`; with order
/// "sequential" it also returns the span of the order value.
fn csv_var(
    ctx: &Ctx,
    name: &str,
    value: &Spanned<toml::Value>,
    t: &toml::Table,
) -> Result<(VarSource, Option<Range<usize>>)> {
    let at = |key: &str| {
        ctx.value_span(&["vars", name, key])
            .unwrap_or_else(|| value.span())
    };
    let fields = "a data file variable is { csv = \"users.csv\", order = \"cycle\" } (order: \
                  \"sequential\", \"cycle\" or \"random\"; default \"cycle\")";
    if let Some(key) = t.keys().find(|k| !matches!(k.as_str(), "csv" | "order")) {
        return Err(ctx.err(
            at(key),
            format!("variable `{name}`: unknown field `{key}`"),
            fields,
        ));
    }
    let Some(file) = t["csv"].as_str() else {
        return Err(ctx.err(
            at("csv"),
            format!(
                "variable `{name}`: csv is {}, not a file name",
                t["csv"].type_str()
            ),
            fields,
        ));
    };
    let order = match t.get("order") {
        None => CsvOrder::Cycle,
        Some(toml::Value::String(o)) if o == "sequential" => CsvOrder::Sequential,
        Some(toml::Value::String(o)) if o == "cycle" => CsvOrder::Cycle,
        Some(toml::Value::String(o)) if o == "random" => CsvOrder::Random,
        Some(other) => {
            return Err(ctx.err(
                at("order"),
                format!("variable `{name}`: `{other}` is not an order"),
                "write order = \"sequential\" (row i for arrival i, each row once), \
                 \"cycle\" (in order, starting over after the last row) or \"random\"",
            ));
        }
    };
    let csv_span = at("csv");
    let text = ctx.read_beside(
        csv_span.clone(),
        file,
        &format!("variable `{name}`: data file"),
        "save the file as UTF-8 CSV",
    )?;
    let data = CsvData::parse(&text).map_err(|e| {
        ctx.err(
            csv_span.clone(),
            format!("variable `{name}`: data file `{file}`: {}", e.message),
            e.help,
        )
    })?;
    let in_order = (order == CsvOrder::Sequential).then(|| at("order"));
    Ok((
        VarSource::Csv {
            data: Arc::new(data),
            order,
        },
        in_order,
    ))
}

/// rows_suffice checks that no scenario has more arrivals than a data file read in order has
/// rows: each row is used at most once, so running out is a mistake in the plan.
pub(super) fn rows_suffice(
    ctx: &Ctx,
    in_order: &[InOrder],
    scenarios: &[Scenario],
    vars: &Vars,
    seed: u64,
) -> Result<()> {
    for v in in_order {
        for (k, s) in scenarios.iter().enumerate() {
            let uses = s
                .requests
                .iter()
                .any(|r| r.path.uses(vars, &v.name) || r.body.uses(vars, &v.name));
            if !uses {
                continue;
            }
            let schedule = s.schedule(seed, k as u64);
            let expected = schedule.expected_arrivals();
            // Far more rows than the mean: no need to count (a Poisson count is within a few
            // standard deviations, √mean, of it). Otherwise count exactly, up to rows + 1.
            if v.rows as f64 >= expected + 10.0 * expected.sqrt() + 10.0 {
                continue;
            }
            if schedule.arrivals().take(v.rows + 1).count() <= v.rows {
                continue;
            }
            return Err(ctx.err(
                v.span.clone(),
                format!(
                    "variable `{}` reads `{}` in order, each row once, but scenario `{}` has \
                     at least {} arrivals with this seed (about {:.0} on average) and the file \
                     has {} rows",
                    v.name,
                    v.file,
                    s.name,
                    v.rows + 1,
                    expected,
                    v.rows
                ),
                "use order = \"cycle\" to start over after the last row, add rows, or shorten \
                 the stages",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan_file::tests::{DATA, USERS, load_in_dir};
    use crate::plan_file::{Overrides, parse};

    #[test]
    fn sequential_data_needs_a_row_per_arrival() {
        // 4 arrivals, 3 rows.
        let e = load_in_dir(
            &DATA.replace("rate = 3", "rate = 4"),
            &[("users.csv", USERS), ("goal.json", "{}")],
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (3, 37), "{e}");
        assert!(
            e.message
                .contains("scenario `main` has at least 4 arrivals with this seed (about 4 on average) and the file has 3 rows"),
            "{e}"
        );
        assert!(e.help.contains("cycle"), "{e}");
        // Cycling starts over instead.
        let p = load_in_dir(
            &DATA
                .replace("rate = 3", "rate = 4")
                .replace("\"sequential\"", "\"cycle\""),
            &[("users.csv", USERS), ("goal.json", "{}")],
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .plan;
        let mut path = String::new();
        p.scenarios[0].requests[0]
            .path
            .render(&p.vars, p.seed, 0, 3, &mut path);
        assert_eq!(path, "/login/1");
    }

    #[test]
    fn a_million_row_data_file_loads_quickly() {
        let dir = tempfile::tempdir().unwrap();
        // Writing the file is the yardstick of how fast this machine (and build) is right now.
        let writing = std::time::Instant::now();
        let mut csv = String::with_capacity(64 << 20);
        csv.push_str("id,email,name\n");
        for i in 0..1_000_000 {
            csv.push_str(&format!("{i},user{i}@example.com,\"Doe, J{i}\"\n"));
        }
        std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
        let wrote = writing.elapsed();
        let plan = "[vars]\nuser = { csv = \"users.csv\", order = \"random\" }\n\
                    [[stage]]\nname = \"s\"\nduration = \"1s\"\nrate = 1\n\
                    [[request]]\nname = \"r\"\npath = \"/u/{user.id}?e={user.email}\"\n";
        let started = std::time::Instant::now();
        let loaded = parse(plan, &dir.path().join("plan.toml"), &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let took = started.elapsed();
        println!(
            "1,000,000 rows ({} MB) loaded in {took:?}, written in {wrote:?}",
            csv.len() / 1_000_000
        );
        let Some(VarSource::Csv { data, .. }) = loaded.plan.vars.get("user") else {
            panic!("not a data file variable");
        };
        assert_eq!(data.rows(), 1_000_000);
        assert_eq!(data.field(999_999, 2), "Doe, J999999");
        // About 1.3 s in a debug build here, 5-7 times the writing; on a busy machine both slow
        // down alike. A loader 5 times slower than today, or worse than linear, still fails.
        let bound = (wrote * 25).max(Duration::from_secs(5));
        assert!(
            took < bound,
            "{took:?} (bound {bound:?}, written in {wrote:?})"
        );
    }
}
