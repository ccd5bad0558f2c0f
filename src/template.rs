//! Templates: request paths and bodies with `{name}` placeholders, filled per arrival.
//!
//! A value is drawn from (seed, scenario, variable, arrival index), so the same seed sends the
//! same requests whatever the thread count. `{{` and `}}` stand for literal braces. A data file
//! variable has columns, named `{name.column}`; every column of one variable an arrival uses
//! comes from the same row. This module owns parsing and rendering (CSV text included); where
//! variables are declared, and reading files, is the plan file's business.

use std::fmt;
use std::sync::Arc;

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
    /// Rows of a data file (CSV), read once; templates name its columns.
    Csv {
        /// The parsed file.
        data: Arc<CsvData>,
        /// Which row an arrival uses.
        order: CsvOrder,
    },
}

/// CsvOrder says which row of a data file arrival `i` of a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvOrder {
    /// Row i: each row at most once per scenario. The plan file rejects a schedule with more
    /// arrivals than rows; should one get past it, the rows start over.
    Sequential,
    /// Row i mod n: in order, starting over after the last row.
    Cycle,
    /// A row drawn from (seed, scenario, variable, i).
    Random,
}

impl CsvOrder {
    /// row is the row arrival `index` uses, of `rows` (at least one); `bits` is its draw.
    fn row(self, rows: usize, index: u64, bits: u64) -> usize {
        let n = rows as u64;
        match self {
            CsvOrder::Sequential | CsvOrder::Cycle => (index % n) as usize,
            CsvOrder::Random => (bits % n) as usize,
        }
    }
}

/// CsvData is a data file in memory: the header's column names and every field of every row,
/// unescaped and stored end to end in one string with one offset per field (memory about the
/// file's size plus 4 bytes a field).
#[derive(Clone, PartialEq)]
pub struct CsvData {
    columns: Vec<String>,
    text: String,
    /// End of each field in `text`, row by row; a field starts where the one before it ends.
    ends: Vec<u32>,
    rows: usize,
}

impl fmt::Debug for CsvData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvData")
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .field("bytes", &self.text.len())
            .finish()
    }
}

/// CsvError is a malformed data file: the 1-based line of the problem (0 for the whole file)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CsvError {
    /// 1-based line in the file; 0 when the problem is the file as a whole.
    pub line: usize,
    /// What is wrong, and how to fix it after a "; ".
    pub message: String,
}

impl CsvData {
    /// parse reads CSV text (RFC 4180): the first record names the columns; fields are separated
    /// by commas, records by LF or CRLF; a field in double quotes may hold commas, line breaks
    /// and doubled quotes (`""` for `"`). Blank lines are skipped, a UTF-8 byte order mark is
    /// ignored, and every record must have as many fields as the header. At least one row.
    pub fn parse(text: &str) -> Result<CsvData, CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if u32::try_from(text.len()).is_err() {
            return Err(CsvError {
                line: 0,
                message: "the file is larger than 4 GiB; split it into smaller files".into(),
            });
        }
        let mut reader = Reader {
            text,
            pos: 0,
            line: 1,
        };
        let mut header = String::new();
        let mut header_ends = Vec::new();
        let Some(header_line) = reader.record(&mut header, &mut header_ends)? else {
            return Err(CsvError {
                line: 0,
                message: "the file is empty; its first line must name the columns, e.g. \
                          id,email"
                    .into(),
            });
        };
        let mut columns: Vec<String> = Vec::with_capacity(header_ends.len());
        let mut start = 0;
        for &end in &header_ends {
            let name = header[start..end as usize].trim().to_string();
            start = end as usize;
            if name.is_empty() {
                return Err(CsvError {
                    line: header_line,
                    message: format!(
                        "column {} of the header has no name; name every column in the first \
                         line",
                        columns.len() + 1
                    ),
                });
            }
            if columns.contains(&name) {
                return Err(CsvError {
                    line: header_line,
                    message: format!(
                        "the header names column `{name}` twice; give each column its own name"
                    ),
                });
            }
            columns.push(name);
        }
        let mut data = CsvData {
            columns,
            text: String::with_capacity(text.len()),
            ends: Vec::new(),
            rows: 0,
        };
        loop {
            let before = data.ends.len();
            let Some(line) = reader.record(&mut data.text, &mut data.ends)? else {
                break;
            };
            let fields = data.ends.len() - before;
            if fields != data.columns.len() {
                return Err(CsvError {
                    line,
                    message: format!(
                        "line {line} has {fields} field{}, the header has {}; give every row \
                         one value per column (quote a value that holds a comma)",
                        if fields == 1 { "" } else { "s" },
                        data.columns.len()
                    ),
                });
            }
            data.rows += 1;
        }
        if data.rows == 0 {
            return Err(CsvError {
                line: 0,
                message: "the file has a header but no rows; add at least one row under the \
                          header"
                    .into(),
            });
        }
        data.text.shrink_to_fit();
        data.ends.shrink_to_fit();
        Ok(data)
    }

    /// columns are the header's column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// rows is the number of data rows (the header not counted).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// column is the index of a named column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// field is the value of column `col` in row `row`.
    pub fn field(&self, row: usize, col: usize) -> &str {
        let i = row * self.columns.len() + col;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Reader walks CSV text one record at a time.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// 1-based line at `pos`.
    line: usize,
}

impl Reader<'_> {
    /// record appends the fields of the next record to `out`, pushing each one's end to `ends`,
    /// and returns the line it started on, or None at the end of the text.
    fn record(&mut self, out: &mut String, ends: &mut Vec<u32>) -> Result<Option<usize>, CsvError> {
        loop {
            if self.pos >= self.text.len() {
                return Ok(None);
            }
            let rest = &self.text[self.pos..];
            let (line, next) = match rest.find('\n') {
                Some(i) => (&rest[..i], self.pos + i + 1),
                None => (rest, self.text.len()),
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            let start = self.line;
            if line.is_empty() {
                self.pos = next;
                self.line += 1;
                continue;
            }
            if !line.contains('"') {
                // The common case: no quotes, so the fields are the text between the commas.
                let mut rest = line;
                loop {
                    let (field, more) = match rest.find(',') {
                        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                        None => (rest, None),
                    };
                    out.push_str(field);
                    ends.push(out.len() as u32);
                    match more {
                        Some(m) => rest = m,
                        None => break,
                    }
                }
                self.pos = next;
                self.line += 1;
                return Ok(Some(start));
            }
            self.quoted_record(out, ends)?;
            return Ok(Some(start));
        }
    }

    /// quoted_record reads a record holding quotes, field by field; a quoted field may run over
    /// several lines.
    fn quoted_record(&mut self, out: &mut String, ends: &mut Vec<u32>) -> Result<(), CsvError> {
        let text = self.text;
        loop {
            let rest = &text[self.pos..];
            if let Some(quoted) = rest.strip_prefix('"') {
                let opened = self.line;
                let mut i = 0;
                loop {
                    let Some(q) = quoted[i..].find('"') else {
                        return Err(CsvError {
                            line: opened,
                            message: format!(
                                "line {opened}: a quoted field is not closed; end it with `\"` \
                                 (write `\"\"` for a quote inside it)"
                            ),
                        });
                    };
                    let chunk = &quoted[i..i + q];
                    out.push_str(chunk);
                    if chunk.contains('\n') {
                        self.line += chunk.matches('\n').count();
                    }
                    i += q + 1;
                    if quoted[i..].starts_with('"') {
                        out.push('"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.pos += 1 + i;
                ends.push(out.len() as u32);
                let after = &text[self.pos..];
                if let Some(after) = after.strip_prefix(',') {
                    self.pos += 1;
                    if after.is_empty() {
                        // A trailing comma at the very end: one last, empty field.
                        ends.push(out.len() as u32);
                        return Ok(());
                    }
                    continue;
                }
                if after.is_empty() {
                    return Ok(());
                }
                let eol = if after.starts_with("\r\n") {
                    2
                } else if after.starts_with('\n') {
                    1
                } else {
                    return Err(CsvError {
                        line: self.line,
                        message: format!(
                            "line {}: text follows a closing quote; put a comma after the \
                             quoted field, or write `\"\"` for a quote inside it",
                            self.line
                        ),
                    });
                };
                self.pos += eol;
                self.line += 1;
                return Ok(());
            }
            // An unquoted field runs to the next comma or line end; a quote inside it is text.
            // (Searching the line for each character alone keeps to the fast search.)
            let eol = rest.find('\n').unwrap_or(rest.len());
            let end = rest[..eol].find(',').unwrap_or(eol);
            let field = &rest[..end];
            let at_eol = !rest[end..].starts_with(',');
            out.push_str(if at_eol {
                field.strip_suffix('\r').unwrap_or(field)
            } else {
                field
            });
            ends.push(out.len() as u32);
            if at_eol {
                self.pos += (end + 1).min(rest.len());
                self.line += 1;
                return Ok(());
            }
            self.pos += end + 1;
            if self.pos >= text.len() {
                ends.push(out.len() as u32);
                return Ok(());
            }
        }
    }
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

    /// get is the source of a declared variable.
    pub fn get(&self, name: &str) -> Option<&VarSource> {
        self.index(name).map(|i| &self.sources[i])
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

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
    /// `{name.column}` names a column the data file does not have.
    #[error(
        "`{{{name}.{column}}}`: the data file of `{name}` has no column `{column}`; its columns \
         are: {columns}"
    )]
    UnknownColumn {
        name: String,
        column: String,
        offset: usize,
        columns: String,
    },
    /// `{name}` names a data file variable without a column.
    #[error(
        "`{{{name}}}` is a data file variable and has columns; name one, as in {{{name}.{first}}} \
         (columns: {columns})"
    )]
    NeedsColumn {
        name: String,
        offset: usize,
        first: String,
        columns: String,
    },
    /// `{name.column}` where `name` is not a data file variable.
    #[error(
        "`{{{name}.{column}}}`: `{name}` is not a data file variable, so it has no columns; \
         write {{{name}}}"
    )]
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

    fn csv(text: &str) -> CsvData {
        CsvData::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rows(d: &CsvData) -> Vec<Vec<&str>> {
        (0..d.rows())
            .map(|r| (0..d.columns().len()).map(|c| d.field(r, c)).collect())
            .collect()
    }

    #[test]
    fn csv_fields_parse_as_rfc_4180_says() {
        let d = csv("id,email\n1,a@x\n2,b@x\n");
        assert_eq!(d.columns(), ["id", "email"]);
        assert_eq!(rows(&d), [["1", "a@x"], ["2", "b@x"]]);
        // Quotes: commas, doubled quotes and line breaks inside; CRLF; a BOM; blank lines;
        // empty fields; no newline at the end.
        let d = csv(
            "\u{feff}name,note,n\r\n\"Doe, Jane\",\"say \"\"hi\"\"\",1\r\n\r\n\"two\nlines\",,\"\"\n\
             plain,\"\",3",
        );
        assert_eq!(d.columns(), ["name", "note", "n"]);
        assert_eq!(
            rows(&d),
            [
                vec!["Doe, Jane", "say \"hi\"", "1"],
                vec!["two\nlines", "", ""],
                vec!["plain", "", "3"],
            ]
        );
        // A quote inside an unquoted field is text; a trailing comma is an empty last field.
        let d = csv("a,b\nx\"y,\n\"q\",\n");
        assert_eq!(rows(&d), [["x\"y", ""], ["q", ""]]);
        assert_eq!(csv("a\nx").rows(), 1);
    }

    #[test]
    fn malformed_csv_says_where() {
        let err = |t: &str| CsvData::parse(t).unwrap_err();
        assert_eq!(err("").line, 0);
        assert!(err("").message.contains("empty"), "{}", err(""));
        assert!(err("\n\n").message.contains("empty"));
        assert!(err("id,email\n").message.contains("no rows"));
        let e = err("id,email\n1,a\n2\n");
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("line 3 has 1 field, the header has 2"),
            "{e}"
        );
        let e = err("id,email\n1,\"open\n2,b\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not closed"), "{e}");
        let e = err("id,email\n1,\"a\"b\n");
        assert!(e.message.contains("text follows a closing quote"), "{e}");
        assert!(err("id,id\n1,2\n").message.contains("twice"));
        assert!(err("id,\n1,2\n").message.contains("no name"));
    }

    fn data_vars(order: CsvOrder, n: usize) -> Vars {
        let mut text = String::from("id,email\n");
        for i in 0..n {
            text.push_str(&format!("{i},user{i}@example.com\n"));
        }
        let mut v = Vars::default();
        v.add(
            "user",
            VarSource::Csv {
                data: Arc::new(csv(&text)),
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
