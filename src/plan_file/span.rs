//! Positions in the plan text: a byte span of the source becomes a [`PlanError`] with its
//! `file:line:column` and the offending line, and a byte of a decoded TOML string is traced back
//! to where it was written. Every error of the plan reader is made here; what the errors say
//! belongs to the section builders, and how they are printed to [`PlanError`]'s `Display`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::PlanError;

/// Ctx turns spans of the source into errors.
pub(super) struct Ctx<'a> {
    /// The plan text, which every span indexes.
    pub(super) src: &'a str,
    /// The plan file as given: named in errors, and the directory data files are read from.
    pub(super) file: &'a Path,
}

impl Ctx<'_> {
    /// err reports a problem at byte `span` of the source.
    pub(super) fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> PlanError {
        let mut pos = span.start.min(self.src.len());
        while !self.src.is_char_boundary(pos) {
            pos -= 1;
        }
        let line_start = self.src[..pos].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.src[pos..]
            .find('\n')
            .map_or(self.src.len(), |i| pos + i);
        let line = self.src[..pos].matches('\n').count() + 1;
        let column = self.src[line_start..pos].chars().count() + 1;
        PlanError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            help: help.into(),
            source_line: self.src[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }

    /// err_in reports a problem at byte `offset` of the decoded value of the string at `span`.
    pub(super) fn err_in(
        &self,
        span: Range<usize>,
        offset: usize,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> PlanError {
        let pos = string_pos(self.src, &span, offset);
        self.err(pos..pos, message, help)
    }

    /// value_span finds the span of the value at `path` (table keys from the root), for values
    /// read as a whole (`toml::Value`) whose parts have no span of their own.
    pub(super) fn value_span(&self, path: &[&str]) -> Option<Range<usize>> {
        let doc = toml::de::DeTable::parse(self.src).ok()?;
        let mut table = doc.get_ref();
        let (last, parents) = path.split_last()?;
        for key in parents {
            table = table.get(*key)?.get_ref().as_table()?;
        }
        table.get(*last).map(|v| v.span())
    }

    /// beside resolves a path written in the plan against the plan file's directory.
    pub(super) fn beside(&self, path: &str) -> PathBuf {
        self.file
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(path)
    }

    /// read_beside reads the text file `written` names, relative to the plan file, for a value at
    /// `span`; `subject` says whose file it is ("request `x`: body file"), `utf8_help` how to
    /// mend a file that is not text.
    pub(super) fn read_beside(
        &self,
        span: Range<usize>,
        written: &str,
        subject: &str,
        utf8_help: &str,
    ) -> Result<String, PlanError> {
        let path = self.beside(written);
        let bytes = std::fs::read(&path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                format!("cannot be read ({e})")
            };
            self.err(
                span.clone(),
                format!("{subject} `{written}` {what}"),
                format!(
                    "the path is relative to the plan file: it was looked for at {}",
                    path.display()
                ),
            )
        })?;
        String::from_utf8(bytes).map_err(|e| {
            self.err(
                span.clone(),
                format!(
                    "{subject} `{written}` is not UTF-8 text (byte {})",
                    e.utf8_error().valid_up_to()
                ),
                utf8_help,
            )
        })
    }

    /// flag reports a problem with a command-line flag, which has no place in the file.
    pub(super) fn flag(&self, message: impl Into<String>, help: impl Into<String>) -> PlanError {
        PlanError {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            help: help.into(),
            source_line: String::new(),
        }
    }

    /// toml reports a syntax error or a value serde could not take.
    pub(super) fn toml(&self, e: &toml::de::Error) -> PlanError {
        let message = e.message().trim().to_string();
        let help = if message.starts_with("unknown field") {
            "remove it or correct its spelling; the fields allowed here are listed above"
        } else if message.starts_with("missing field") {
            "add it to this table"
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            "change the value to the type this field takes"
        } else if message.starts_with("duplicate key") {
            "each key may appear once in a table; remove one of them"
        } else {
            "this is not valid TOML; see https://toml.io for the syntax"
        };
        match e.span() {
            Some(span) => self.err(span, message, help),
            None => self.err(0..0, message, help),
        }
    }
}

/// string_pos maps byte `offset` of a decoded TOML string to its byte position in `src`, where
/// `span` covers the string as written (delimiters included). Escapes are walked so the position
/// is exact for every string form.
fn string_pos(src: &str, span: &Range<usize>, offset: usize) -> usize {
    let Some(raw) = src.get(span.clone()) else {
        return span.start;
    };
    let (delim, basic) = if raw.starts_with("\"\"\"") {
        (3, true)
    } else if raw.starts_with("'''") {
        (3, false)
    } else if raw.starts_with('"') {
        (1, true)
    } else if raw.starts_with('\'') {
        (1, false)
    } else {
        return span.start;
    };
    let end = raw.len().saturating_sub(delim).max(delim);
    let mut i = delim;
    if delim == 3 {
        // A newline right after the opening delimiter is not part of the value.
        if raw[i..].starts_with("\r\n") {
            i += 2;
        } else if raw[i..].starts_with('\n') {
            i += 1;
        }
    }
    let mut decoded = 0;
    while i < end {
        let rest = &raw[i..];
        let mut chars = rest.chars();
        let (first, second) = (chars.next(), chars.next());
        if basic && first == Some('\\') && second.is_some_and(char::is_whitespace) {
            // A line-ending backslash swallows the whitespace and newlines after it; it adds
            // nothing to the value, so it is skipped even once the offset is reached.
            let skipped = rest[1..]
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len() - 1);
            i += 1 + skipped;
            continue;
        }
        if decoded >= offset {
            break;
        }
        match (first, second) {
            (Some('\\'), Some(c)) if basic => {
                let digits = match c {
                    'u' => 4,
                    'U' => 8,
                    'x' => 2,
                    _ => 0,
                };
                if digits == 0 {
                    decoded += 1;
                    i += 1 + c.len_utf8();
                } else {
                    let hex = rest.get(2..2 + digits).unwrap_or("");
                    let ch = u32::from_str_radix(hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('?');
                    decoded += ch.len_utf8();
                    i += 2 + digits;
                }
            }
            (Some(c), _) => {
                decoded += c.len_utf8();
                i += c.len_utf8();
            }
            (None, _) => break,
        }
    }
    span.start + i.min(raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_positions_follow_escapes() {
        let src = r#"a = "x\"y\u00e9{z}""#;
        let span = 4..src.len();
        // Decoded: x " y é { z } — the brace is at decoded byte 5.
        assert_eq!(&src[string_pos(src, &span, 5)..][..1], "{");
        let src = "a = '''\nab{c}'''";
        assert_eq!(&src[string_pos(src, &(4..src.len()), 2)..][..1], "{");
        // A line-ending backslash adds nothing to the value.
        let src = "a = \"\"\"\nab \\\n   {c}\"\"\"";
        assert_eq!(&src[string_pos(src, &(4..src.len()), 3)..][..1], "{");
    }
}
