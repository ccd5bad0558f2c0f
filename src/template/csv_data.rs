//! The data file reader: CSV text (RFC 4180) parsed once into a [`CsvData`] that a data file
//! variable draws its rows from, and the [`CsvError`] that says on which line a file is wrong.
//!
//! It is written by hand rather than with the `csv` crate so that its error messages (line
//! numbers and the advice after them) stay as they are, and so that a file costs one string and
//! one offset per field. Which row an arrival uses is `vars.rs`; reading the file from disk is
//! the plan file's business.

use std::fmt;

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
#[error("{message}; {help}")]
pub struct CsvError {
    /// 1-based line in the file; 0 when the problem is the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it: kept apart so the plan file can show it as help without re-splitting the
    /// message (a column name may itself hold "; ").
    pub help: String,
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
                message: "the file is larger than 4 GiB".into(),
                help: "split it into smaller files".into(),
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
                message: "the file is empty".into(),
                help: "its first line must name the columns, e.g. id,email".into(),
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
                    message: format!("column {} of the header has no name", columns.len() + 1),
                    help: "name every column in the first line".into(),
                });
            }
            if columns.contains(&name) {
                return Err(CsvError {
                    line: header_line,
                    message: format!("the header names column `{name}` twice"),
                    help: "give each column its own name".into(),
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
                        "line {line} has {fields} field{}, the header has {}",
                        if fields == 1 { "" } else { "s" },
                        data.columns.len()
                    ),
                    help: "give every row one value per column (quote a value that holds a \
                           comma)"
                        .into(),
                });
            }
            data.rows += 1;
        }
        if data.rows == 0 {
            return Err(CsvError {
                line: 0,
                message: "the file has a header but no rows".into(),
                help: "add at least one row under the header".into(),
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
                            message: format!("line {opened}: a quoted field is not closed"),
                            help: "end it with `\"` (write `\"\"` for a quote inside it)".into(),
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
                        message: format!("line {}: text follows a closing quote", self.line),
                        help: "put a comma after the quoted field, or write `\"\"` for a quote \
                               inside it"
                            .into(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
