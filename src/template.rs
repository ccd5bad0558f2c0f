//! Templates: request paths and bodies with `{name}` placeholders, filled per arrival.
//!
//! A value is drawn from (seed, scenario, variable, arrival index), so the same seed sends the
//! same requests whatever the thread count. `{{` and `}}` stand for literal braces. This module
//! owns parsing and rendering; where variables are declared is the plan file's business.

use crate::draw::{self, Stream};

/// VarSource is where a template variable's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum VarSource {
    /// One of these, drawn uniformly.
    List(Vec<String>),
    /// An integer in [lo, hi], drawn uniformly.
    Range { lo: i64, hi: i64 },
    /// The arrival's index within its scenario (0, 1, 2, …): unique per arrival.
    Sequence,
}

/// Vars are the template variables a plan declares, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    names: Vec<String>,
    sources: Vec<VarSource>,
}

impl Vars {
    /// add declares a variable; it returns false when the name is already taken.
    pub fn add(&mut self, name: &str, source: VarSource) -> bool {
        if self.names.iter().any(|n| n == name) {
            return false;
        }
        self.names.push(name.to_string());
        self.sources.push(source);
        true
    }

    /// names lists the declared names, in declaration order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(usize),
}

/// Template is a parsed string with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// TemplateError says what is wrong with a template and at which byte offset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` names no declared variable.
    #[error("`{{{name}}}` names no variable; declare it under [vars] (declared: {declared})")]
    Undefined {
        name: String,
        offset: usize,
        declared: String,
    },
    /// A `{` with no matching `}`, or a lone `}`.
    #[error("unbalanced brace; write {{{{ or }}}} for a literal brace")]
    Unbalanced { offset: usize },
}

impl TemplateError {
    /// offset is the byte offset of the problem within the template text.
    pub fn offset(&self) -> usize {
        match self {
            TemplateError::Undefined { offset, .. } | TemplateError::Unbalanced { offset } => {
                *offset
            }
        }
    }
}

impl Template {
    /// parse reads `text`, resolving placeholders against `vars`.
    pub fn parse(text: &str, vars: &Vars) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    lit.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    lit.push('}');
                    i += 2;
                }
                b'{' => {
                    let end = text[i..]
                        .find('}')
                        .ok_or(TemplateError::Unbalanced { offset: i })?
                        + i;
                    let name = text[i + 1..end].trim();
                    let v = vars.index(name).ok_or_else(|| TemplateError::Undefined {
                        name: name.to_string(),
                        offset: i,
                        declared: if vars.names.is_empty() {
                            "none".into()
                        } else {
                            vars.names.join(", ")
                        },
                    })?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(v));
                    i = end + 1;
                }
                b'}' => return Err(TemplateError::Unbalanced { offset: i }),
                _ => {
                    let next = text[i..].find(['{', '}']).map_or(text.len(), |n| n + i);
                    lit.push_str(&text[i..next]);
                    i = next;
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
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

    /// source is the template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// is_static says whether the template renders the same for every arrival.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// render appends the template for arrival `index` of scenario `lane` to `out`.
    pub fn render(&self, vars: &Vars, seed: u64, lane: u64, index: u64, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
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
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
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
    fn errors_name_the_variable_and_offset() {
        let e = Template::parse("/x/{nope}", &vars()).unwrap_err();
        assert_eq!(e.offset(), 3);
        assert!(e.to_string().contains("`{nope}` names no variable"), "{e}");
        assert!(e.to_string().contains("id, industry, n"), "{e}");
        assert_eq!(Template::parse("/x/{id", &vars()).unwrap_err().offset(), 3);
        assert_eq!(Template::parse("/x}", &vars()).unwrap_err().offset(), 2);
        assert!(Template::parse("/static", &vars()).unwrap().is_static());
    }
}
