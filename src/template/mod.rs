//! Templates: request paths and bodies with `{name}` placeholders, filled per arrival.
//!
//! A value is drawn from (seed, scenario, variable, arrival index), so the same seed sends the
//! same requests whatever the thread count. `{{` and `}}` stand for literal braces. A data file
//! variable has columns, named `{name.column}`; every column of one variable an arrival uses
//! comes from the same row. This module owns parsing and rendering (CSV text included); where
//! variables are declared, and reading files, is the plan file's business.
//!
//! - `mod.rs` (this file): the [`Template`] type and rendering, one arrival at a time.
//! - `parse.rs`: the template language read into parts, and [`TemplateError`].
//! - `vars.rs`: the variable sources ([`VarSource`], [`CsvOrder`]) and the declared [`Vars`].
//! - `csv_data.rs`: the data file reader ([`CsvData`], [`CsvError`]).

mod csv_data;
mod parse;
mod vars;

pub use csv_data::{CsvData, CsvError};
pub use parse::TemplateError;
pub use vars::{CsvOrder, VarSource, Vars};

use crate::draw::{self, Stream};

/// Part is one piece of a parsed template: literal text (braces already unescaped) or a
/// placeholder resolved to its variable's index in [`Vars`].
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(usize),
    /// A column of a data file variable.
    Column {
        var: usize,
        column: usize,
    },
}

/// Template is a parsed string with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// uses says whether the template refers to variable `name` (any of its columns).
    pub fn uses(&self, vars: &Vars, name: &str) -> bool {
        let Some(v) = vars.index(name) else {
            return false;
        };
        self.parts.iter().any(|p| match p {
            Part::Var(x) | Part::Column { var: x, .. } => *x == v,
            Part::Text(_) => false,
        })
    }

    /// literal makes a template with no placeholders.
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_string(),
            parts: if text.is_empty() {
                vec![]
            } else {
                vec![Part::Text(text.to_string())]
            },
        }
    }

    /// static_text is what a template with no placeholders renders to (its `{{` and `}}` made
    /// single braces), or None when it has placeholders.
    pub fn static_text(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// source is the template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// is_static says whether the template renders the same for every arrival.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// longest is the most bytes any rendering can take when each value (and each piece of
    /// literal text) is measured by `size`: an upper bound found from the variables' sources,
    /// without rendering every arrival.
    pub fn longest(&self, vars: &Vars, size: impl Fn(&str) -> usize) -> usize {
        let column_longest = |data: &CsvData, column: usize| {
            (0..data.rows())
                .map(|row| size(data.field(row, column)))
                .max()
                .unwrap_or(0)
        };
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => size(t),
                Part::Column { var, column } => match &vars.sources[*var] {
                    VarSource::Csv { data, .. } => column_longest(data, *column),
                    _ => 0,
                },
                Part::Var(v) => match &vars.sources[*v] {
                    VarSource::List(items) => items.iter().map(|i| size(i)).max().unwrap_or(0),
                    VarSource::Range { lo, hi } => size(&lo.to_string()).max(size(&hi.to_string())),
                    VarSource::Sequence => size(&u64::MAX.to_string()),
                    VarSource::Csv { .. } => 0,
                },
            })
            .sum()
    }

    /// render appends the template for arrival `index` of scenario `lane` to `out`.
    pub fn render(&self, vars: &Vars, seed: u64, lane: u64, index: u64, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Column { var, column } => {
                    if let VarSource::Csv { data, order } = &vars.sources[*var] {
                        let bits =
                            draw::bits(seed, Stream::Template, lane << 16 | *var as u64, index);
                        let row = order.row(data.rows(), index, bits);
                        out.push_str(data.field(row, *column));
                    }
                }
                Part::Var(v) => {
                    // Each (scenario, variable) pair is its own lane of draws.
                    let bits = draw::bits(seed, Stream::Template, lane << 16 | *v as u64, index);
                    match &vars.sources[*v] {
                        VarSource::List(items) => {
                            out.push_str(&items[(bits % items.len() as u64) as usize])
                        }
                        VarSource::Range { lo, hi } => {
                            let span = (hi - lo) as u64 + 1;
                            out.push_str(&(lo + (bits % span) as i64).to_string());
                        }
                        VarSource::Sequence => out.push_str(&index.to_string()),
                        // Parsing allows a data file variable only with a column.
                        VarSource::Csv { .. } => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    pub(super) fn vars() -> Vars {
        let mut v = Vars::default();
        v.add("id", VarSource::Range { lo: 1, hi: 3 });
        v.add(
            "industry",
            VarSource::List(vec!["retail".into(), "health".into()]),
        );
        v.add("n", VarSource::Sequence);
        v
    }

    #[test]
    fn longest_bounds_every_rendering_and_is_reached() {
        let mut v = vars();
        v.add("neg", VarSource::Range { lo: -1000, hi: 7 });
        let t = Template::parse("/a/{id}/b?i={industry}&k={neg}", &v).unwrap();
        let bound = t.longest(&v, str::len);
        // "/a/" + 1 + "/b?i=" + "retail" + "&k=" + "-1000"
        assert_eq!(bound, 3 + 1 + 5 + 6 + 3 + 5);
        let longest_seen = (0..2000)
            .map(|i| {
                let mut s = String::new();
                t.render(&v, 1, 0, i, &mut s);
                s.len()
            })
            .max()
            .unwrap();
        assert!(longest_seen <= bound);
        assert!(longest_seen >= bound - 1, "{longest_seen} of {bound}");
        let seq = Template::parse("/n/{n}", &v).unwrap();
        assert_eq!(seq.longest(&v, str::len), 3 + 20);
    }

    #[test]
    fn placeholders_render_from_their_sources() {
        let v = vars();
        let t = Template::parse("/a/{id}/b?i={industry}&n={n}&x={{y}}", &v).unwrap();
        assert!(!t.is_static());
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let mut s = String::new();
            t.render(&v, 1, 0, i, &mut s);
            assert!(s.ends_with(&format!("&n={i}&x={{y}}")), "{s}");
            seen.insert(s.split('/').nth(2).unwrap().to_string());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["1", "2", "3"]);
        let mut a = String::new();
        let mut b = String::new();
        t.render(&v, 1, 0, 5, &mut a);
        t.render(&v, 1, 0, 5, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn a_static_template_renders_single_braces() {
        let t = Template::parse(r#"{{"a": 1}}"#, &vars()).unwrap();
        assert_eq!(t.static_text(), Some(r#"{"a": 1}"#));
        assert_eq!(t.source(), r#"{{"a": 1}}"#);
        assert_eq!(Template::literal("").static_text(), Some(""));
        assert_eq!(
            Template::parse("/{id}", &vars()).unwrap().static_text(),
            None
        );
    }

    pub(super) fn data_vars(order: CsvOrder, n: usize) -> Vars {
        let mut text = String::from("id,email\n");
        for i in 0..n {
            text.push_str(&format!("{i},user{i}@example.com\n"));
        }
        let mut v = Vars::default();
        v.add(
            "user",
            VarSource::Csv {
                data: Arc::new(CsvData::parse(&text).unwrap_or_else(|e| panic!("{e}"))),
                order,
            },
        );
        v.add("n", VarSource::Sequence);
        v
    }

    fn render(t: &Template, v: &Vars, index: u64) -> String {
        let mut s = String::new();
        t.render(v, 1, 0, index, &mut s);
        s
    }

    #[test]
    fn sequential_data_is_sent_in_order_and_cycle_starts_over() {
        let v = data_vars(CsvOrder::Sequential, 50);
        let t = Template::parse("/u/{user.id}?e={ user.email }&n={n}", &v).unwrap();
        assert!(t.uses(&v, "user") && t.uses(&v, "n") && !t.uses(&v, "x"));
        for i in 0..50 {
            assert_eq!(
                render(&t, &v, i),
                format!("/u/{i}?e=user{i}@example.com&n={i}")
            );
        }
        let v = data_vars(CsvOrder::Cycle, 7);
        let t = Template::parse("{user.id}", &v).unwrap();
        let sent: Vec<String> = (0..16).map(|i| render(&t, &v, i)).collect();
        assert_eq!(
            sent,
            [
                "0", "1", "2", "3", "4", "5", "6", "0", "1", "2", "3", "4", "5", "6", "0", "1"
            ]
        );
    }

    #[test]
    fn random_data_covers_the_rows_and_keeps_a_row_together() {
        let v = data_vars(CsvOrder::Random, 20);
        let t = Template::parse("{user.id} {user.email}", &v).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2_000 {
            let s = render(&t, &v, i);
            let (id, email) = s.split_once(' ').unwrap();
            assert_eq!(
                email,
                format!("user{id}@example.com"),
                "one row per arrival"
            );
            seen.insert(id.parse::<usize>().unwrap());
        }
        assert_eq!(seen.len(), 20, "{seen:?}");
        // The same arrival draws the same row, in the path as in the body.
        let body = Template::parse("{{\"email\": \"{user.email}\"}}", &v).unwrap();
        for i in 0..100 {
            let id = render(&t, &v, i);
            let id = id.split(' ').next().unwrap();
            assert!(render(&body, &v, i).contains(&format!("user{id}@")));
        }
    }
}
