//! The template parser: `{name}`, `{name.column}`, `{{` and `}}` read into a [`Template`]'s
//! parts, each placeholder resolved against the declared [`Vars`], and the [`TemplateError`]
//! that says what is wrong and at which byte.
//!
//! Rendering a parsed template is `mod.rs`; placing an error's offset on a line and column of
//! the plan file is the plan file's business.

use super::{Part, Template, VarSource, Vars};

/// TemplateError says what is wrong with a template and at which byte offset. It renders as
/// "message; help", and gives each half by itself ([`TemplateError::message`],
/// [`TemplateError::help`]) so the plan file need not split the text again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` names no declared variable.
    Undefined {
        name: String,
        offset: usize,
        declared: String,
    },
    /// A `{` with no matching `}`, or a lone `}`.
    Unbalanced { offset: usize },
    /// `{name.column}` names a column the data file does not have.
    UnknownColumn {
        name: String,
        column: String,
        offset: usize,
        columns: String,
    },
    /// `{name}` names a data file variable without a column.
    NeedsColumn {
        name: String,
        offset: usize,
        first: String,
        columns: String,
    },
    /// `{name.column}` where `name` is not a data file variable.
    NoColumns {
        name: String,
        column: String,
        offset: usize,
    },
}

impl TemplateError {
    /// offset is the byte offset of the problem within the template text.
    pub fn offset(&self) -> usize {
        match self {
            TemplateError::Undefined { offset, .. }
            | TemplateError::Unbalanced { offset }
            | TemplateError::UnknownColumn { offset, .. }
            | TemplateError::NeedsColumn { offset, .. }
            | TemplateError::NoColumns { offset, .. } => *offset,
        }
    }

    /// message says what is wrong.
    pub fn message(&self) -> String {
        match self {
            TemplateError::Undefined { name, .. } => format!("`{{{name}}}` names no variable"),
            TemplateError::Unbalanced { .. } => "unbalanced brace".into(),
            TemplateError::UnknownColumn { name, column, .. } => {
                format!("`{{{name}.{column}}}`: the data file of `{name}` has no column `{column}`")
            }
            TemplateError::NeedsColumn { name, .. } => {
                format!("`{{{name}}}` is a data file variable and has columns")
            }
            TemplateError::NoColumns { name, column, .. } => format!(
                "`{{{name}.{column}}}`: `{name}` is not a data file variable, so it has no columns"
            ),
        }
    }

    /// help says how to fix it.
    pub fn help(&self) -> String {
        match self {
            TemplateError::Undefined { declared, .. } => {
                format!("declare it under [vars] (declared: {declared})")
            }
            TemplateError::Unbalanced { .. } => "write {{ or }} for a literal brace".into(),
            TemplateError::UnknownColumn { columns, .. } => format!("its columns are: {columns}"),
            TemplateError::NeedsColumn {
                name,
                first,
                columns,
                ..
            } => format!("name one, as in {{{name}.{first}}} (columns: {columns})"),
            TemplateError::NoColumns { name, .. } => format!("write {{{name}}}"),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message(), self.help())
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
                    let part = Template::placeholder(text[i + 1..end].trim(), i, vars)?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(part);
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

    /// placeholder resolves the inside of `{…}` found at byte `offset`: `name` or `name.column`.
    fn placeholder(inner: &str, offset: usize, vars: &Vars) -> Result<Part, TemplateError> {
        let undefined = |name: &str| TemplateError::Undefined {
            name: name.to_string(),
            offset,
            declared: if vars.names.is_empty() {
                "none".into()
            } else {
                vars.names.join(", ")
            },
        };
        let (v, column) = match vars.index(inner) {
            Some(v) => (v, None),
            None => match inner.split_once('.') {
                Some((name, column)) => {
                    let v = vars.index(name.trim()).ok_or_else(|| undefined(inner))?;
                    (v, Some(column.trim()))
                }
                None => return Err(undefined(inner)),
            },
        };
        let name = &vars.names[v];
        match (&vars.sources[v], column) {
            (VarSource::Csv { data, .. }, Some(column)) => match data.column(column) {
                Some(c) => Ok(Part::Column { var: v, column: c }),
                None => Err(TemplateError::UnknownColumn {
                    name: name.clone(),
                    column: column.to_string(),
                    offset,
                    columns: data.columns().join(", "),
                }),
            },
            (VarSource::Csv { data, .. }, None) => Err(TemplateError::NeedsColumn {
                name: name.clone(),
                offset,
                first: data.columns()[0].clone(),
                columns: data.columns().join(", "),
            }),
            (_, Some(column)) => Err(TemplateError::NoColumns {
                name: name.clone(),
                column: column.to_string(),
                offset,
            }),
            (_, None) => Ok(Part::Var(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_vars, vars};
    use super::*;
    use crate::template::CsvOrder;

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

    #[test]
    fn data_columns_must_exist_and_be_named() {
        let mut v = data_vars(CsvOrder::Cycle, 3);
        v.add("industry", VarSource::List(vec!["retail".into()]));
        let e = Template::parse("/u/{user.emial}", &v).unwrap_err();
        assert_eq!(e.offset(), 3);
        assert!(
            e.to_string()
                .contains("no column `emial`; its columns are: id, email"),
            "{e}"
        );
        let e = Template::parse("/u/{user}", &v).unwrap_err();
        assert!(matches!(e, TemplateError::NeedsColumn { .. }), "{e}");
        assert!(e.to_string().contains("{user.id}"), "{e}");
        let e = Template::parse("/{industry.name}", &v).unwrap_err();
        assert!(matches!(e, TemplateError::NoColumns { .. }), "{e}");
        let e = Template::parse("/{nobody.email}", &v).unwrap_err();
        assert!(matches!(e, TemplateError::Undefined { .. }), "{e}");
    }
}
