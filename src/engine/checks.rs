//! Response checks: what a request's response must be for its arrival to count as a success.
//!
//! Pure functions, no I/O: the exchange reads the response (buffering the body only when
//! [`Checks::needs_body`] says so, and never beyond [`Checks::max_body`]) and asks
//! [`Checks::judge`]. A failed check fails the arrival as error kind "check", with the message
//! `judge` returns (short, for a person: `status 404 not in 2xx, 3xx`).

use std::fmt;
use std::ops::RangeInclusive;

/// The default bound on a buffered body: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Checks are the expectations a request's response must meet; a failed check fails the
/// arrival as error kind "check".
#[derive(Debug, Clone, PartialEq)]
pub struct Checks {
    /// Statuses that pass; default 200..=399.
    pub status: StatusSet,
    /// The body must contain this text (bytes, compared exactly).
    pub body_contains: Option<String>,
    /// RFC 6901 pointer = expected value: the body must be JSON with these values.
    pub json_pointer: Vec<(String, serde_json::Value)>,
    /// Bodies are buffered only when a body check needs it, never beyond this many bytes; a
    /// longer body fails with "body larger than max_body". Default 1 MiB.
    pub max_body: usize,
    /// `max_body` was set in the plan: the body's size is checked even with no other body
    /// check (it is then buffered, up to `max_body`, for that alone).
    pub size_check: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            status: StatusSet::default(),
            body_contains: None,
            json_pointer: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            size_check: false,
        }
    }
}

impl Checks {
    /// needs_body says whether the response body must be buffered (up to `max_body` bytes) and
    /// passed to [`Checks::judge`].
    pub fn needs_body(&self) -> bool {
        self.body_contains.is_some() || !self.json_pointer.is_empty() || self.size_check
    }

    /// judge checks a response. `body` is the buffered body when [`Checks::needs_body`] is true,
    /// or None when it was not buffered; when the body is needed, None (the reader stopped
    /// buffering at `max_body`) or a body longer than `max_body` fails. The error is a short
    /// message for a person; the first check that fails is reported.
    pub fn judge(&self, status: u16, body: Option<&[u8]>) -> Result<(), String> {
        if !self.status.contains(status) {
            return Err(format!("status {status} not in {}", self.status));
        }
        if !self.needs_body() {
            return Ok(());
        }
        let body = match body {
            Some(b) if b.len() <= self.max_body => b,
            _ => {
                return Err(format!(
                    "body larger than max_body ({})",
                    format_size(self.max_body)
                ));
            }
        };
        if let Some(needle) = &self.body_contains
            && !contains(body, needle.as_bytes())
        {
            return Err(format!("body does not contain {}", quote(needle)));
        }
        if self.json_pointer.is_empty() {
            return Ok(());
        }
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| "body is not JSON".to_string())?;
        for (pointer, expected) in &self.json_pointer {
            match doc.pointer(pointer) {
                None => return Err(format!("{pointer} is missing, expected {expected}")),
                Some(actual) if !json_eq(actual, expected) => {
                    return Err(format!(
                        "{pointer} is {}, expected {expected}",
                        shorten(&actual.to_string())
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// contains says whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    let first = needle[0];
    let mut rest = haystack;
    while rest.len() >= needle.len() {
        let Some(i) = rest.iter().position(|&b| b == first) else {
            return false;
        };
        if rest[i..].starts_with(needle) {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// json_eq compares JSON values, numbers by value (1 equals 1.0).
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64()) {
            (Some(x), Some(y), _) => x == y,
            (_, _, Some(x)) if y.as_u64().is_some() => Some(x) == y.as_u64(),
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// quote writes text as a JSON string, shortened for a message.
fn quote(text: &str) -> String {
    shorten(&serde_json::Value::from(text).to_string())
}

/// shorten keeps a message readable when a value is long.
fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

/// check_pointer says whether `pointer` is an RFC 6901 JSON pointer to a value inside the
/// document: it starts with "/" and `~` is only followed by 0 or 1.
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.starts_with('/') {
        return Err(format!(
            "`{pointer}` is not a JSON pointer: it must start with \"/\"; write the path from \
             the document's root, e.g. \"/status\" or \"/items/0/id\""
        ));
    }
    let bytes = pointer.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
            return Err(format!(
                "`{pointer}`: `~` must be followed by 0 or 1 in a JSON pointer; write ~0 for \
                 `~` and ~1 for `/` inside a key"
            ));
        }
    }
    Ok(())
}

/// StatusSet is the set of statuses a response may have: codes and ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    /// Inclusive ranges, sorted and merged.
    ranges: Vec<RangeInclusive<u16>>,
}

impl Default for StatusSet {
    /// 2xx and 3xx.
    fn default() -> Self {
        StatusSet::new([200..=399])
    }
}

impl StatusSet {
    /// new builds a set from ranges (a single code is `c..=c`), in any order.
    pub fn new(ranges: impl IntoIterator<Item = RangeInclusive<u16>>) -> StatusSet {
        let mut ranges: Vec<_> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
        ranges.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<u16>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if *r.start() <= last.end().saturating_add(1) => {
                    *last = *last.start()..=(*last.end()).max(*r.end());
                }
                _ => merged.push(r),
            }
        }
        StatusSet { ranges: merged }
    }

    /// code reads one status code entry (`status = [200]`): 100..=599.
    pub fn code(code: i64) -> Result<RangeInclusive<u16>, String> {
        match u16::try_from(code) {
            Ok(c) if (100..=599).contains(&c) => Ok(c..=c),
            _ => Err(format!(
                "{code} is not an HTTP status; statuses are 100 to 599, e.g. 200, or a class \
                 such as \"2xx\""
            )),
        }
    }

    /// entry reads one text entry: a class "2xx", a code "204", or a range "200-204".
    pub fn entry(text: &str) -> Result<RangeInclusive<u16>, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a status entry; write a code (200), a class (\"2xx\") or a \
                 range (\"200-204\")"
            )
        };
        let code = |s: &str| -> Result<u16, String> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let c: i64 = s.parse().map_err(|_| bad())?;
            Ok(*StatusSet::code(c)?.start())
        };
        let lower = t.to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx")
            && class.len() == 1
        {
            return match class.as_bytes()[0] {
                d @ b'1'..=b'5' => {
                    let base = u16::from(d - b'0') * 100;
                    Ok(base..=base + 99)
                }
                _ => Err(bad()),
            };
        }
        if let Some((lo, hi)) = t.split_once('-') {
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                return Err(format!(
                    "`{text}` is an empty range; write the lower status first, e.g. \"200-204\""
                ));
            }
            return Ok(lo..=hi);
        }
        code(t).map(|c| c..=c)
    }

    /// contains says whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(&status))
    }
}

impl fmt::Display for StatusSet {
    /// As a person writes it: `2xx, 3xx`, `200, 201`, `200-204`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        for r in &self.ranges {
            let (mut lo, hi) = (*r.start(), *r.end());
            while lo <= hi {
                // Whole classes inside the range print as "2xx".
                if lo % 100 == 0 && lo + 99 <= hi {
                    parts.push(format!("{}xx", lo / 100));
                    lo += 100;
                    continue;
                }
                // Otherwise up to the next whole class inside the range, or to its end.
                let next = (lo / 100 + 1) * 100;
                let end = if lo % 100 != 0 && next + 99 <= hi {
                    next - 1
                } else {
                    hi
                };
                if lo == end {
                    parts.push(lo.to_string());
                } else {
                    parts.push(format!("{lo}-{end}"));
                }
                lo = end + 1;
            }
        }
        if parts.is_empty() {
            return f.write_str("(no status)");
        }
        f.write_str(&parts.join(", "))
    }
}

/// parse_size reads a byte size: a number with an optional unit, `64KiB`, `1 MiB`, `512B`,
/// `10kB` (KiB/MiB/GiB are powers of 1024; kB/KB/MB/GB powers of 1000).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let bad = || {
        format!(
            "`{text}` is not a size; write bytes as a number (65536) or with a unit: 64KiB, \
             1MiB, 500kB"
        )
    };
    let factor: f64 = match unit {
        "" | "B" | "b" => 1.0,
        "KiB" | "kiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" | "k" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        _ => return Err(bad()),
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (n * factor).round();
    if !bytes.is_finite() || bytes < 0.0 || bytes > usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

/// format_size writes a byte count the way a person reads it: 65536 → "64 KiB".
pub fn format_size(bytes: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(entries: &[&str]) -> StatusSet {
        StatusSet::new(entries.iter().map(|e| StatusSet::entry(e).unwrap()))
    }

    #[test]
    fn status_sets_parse_and_print() {
        assert_eq!(StatusSet::default().to_string(), "2xx, 3xx");
        assert_eq!(set(&["2xx", "301"]).to_string(), "2xx, 301");
        assert_eq!(set(&["201", "200"]).to_string(), "200-201");
        assert_eq!(set(&["200-204", "404"]).to_string(), "200-204, 404");
        assert_eq!(set(&["250-420"]).to_string(), "250-299, 3xx, 400-420");
        assert_eq!(set(&["2XX"]), set(&["200-299"]));
        assert_eq!(StatusSet::code(204), Ok(204..=204));
        for bad in ["6xx", "2x", "abc", "20", "700", "204-200", "", "2xxx"] {
            assert!(StatusSet::entry(bad).is_err(), "{bad}");
        }
        assert!(StatusSet::code(99).is_err());
        assert!(StatusSet::code(600).is_err());
    }

    #[test]
    fn the_status_check_passes_and_fails() {
        let c = Checks::default();
        assert!(!c.needs_body());
        assert_eq!(c.judge(200, None), Ok(()));
        assert_eq!(c.judge(302, None), Ok(()));
        assert_eq!(
            c.judge(404, None),
            Err("status 404 not in 2xx, 3xx".to_string())
        );
        let c = Checks {
            status: set(&["201"]),
            ..Checks::default()
        };
        assert_eq!(c.judge(201, None), Ok(()));
        assert_eq!(c.judge(200, None), Err("status 200 not in 201".into()));
    }

    #[test]
    fn the_body_contains_check_passes_and_fails() {
        let c = Checks {
            body_contains: Some("ok".into()),
            ..Checks::default()
        };
        assert!(c.needs_body());
        assert_eq!(c.judge(200, Some(br#"{"status": "ok"}"#)), Ok(()));
        assert_eq!(
            c.judge(200, Some(b"down")),
            Err(r#"body does not contain "ok""#.into())
        );
        assert_eq!(
            c.judge(200, Some(b"o")),
            Err(r#"body does not contain "ok""#.into())
        );
        // The status is judged first.
        assert_eq!(
            c.judge(500, Some(b"ok")),
            Err("status 500 not in 2xx, 3xx".into())
        );
        assert!(contains(b"aaab", b"aab"));
        assert!(!contains(b"", b"a"));
    }

    #[test]
    fn the_json_pointer_check_passes_and_fails() {
        let c = Checks {
            json_pointer: vec![
                ("/status".into(), json!("ok")),
                ("/items/1/id".into(), json!(7)),
                ("/a~1b".into(), json!(true)),
            ],
            ..Checks::default()
        };
        let good = br#"{"status": "ok", "items": [{"id": 1}, {"id": 7.0}], "a/b": true}"#;
        assert_eq!(c.judge(200, Some(good)), Ok(()));
        let down = br#"{"status": "down", "items": [{"id": 1}, {"id": 7}], "a/b": true}"#;
        assert_eq!(
            c.judge(200, Some(down)),
            Err(r#"/status is "down", expected "ok""#.into())
        );
        let missing = br#"{"status": "ok", "items": [], "a/b": true}"#;
        assert_eq!(
            c.judge(200, Some(missing)),
            Err("/items/1/id is missing, expected 7".into())
        );
        assert_eq!(
            c.judge(200, Some(b"<html>")),
            Err("body is not JSON".into())
        );
        assert!(check_pointer("/status").is_ok());
        assert!(check_pointer("/a~0b~1c").is_ok());
        assert!(check_pointer("status").is_err());
        assert!(check_pointer("").is_err());
        assert!(check_pointer("/a~2").is_err());
    }

    #[test]
    fn the_size_bound_passes_and_fails() {
        let c = Checks {
            max_body: 4,
            size_check: true,
            ..Checks::default()
        };
        assert!(c.needs_body());
        assert_eq!(c.judge(200, Some(b"1234")), Ok(()));
        assert_eq!(
            c.judge(200, Some(b"12345")),
            Err("body larger than max_body (4 bytes)".into())
        );
        // The reader stopped buffering: too large.
        let c = Checks {
            body_contains: Some("x".into()),
            max_body: 64 << 10,
            ..Checks::default()
        };
        assert_eq!(
            c.judge(200, None),
            Err("body larger than max_body (64 KiB)".into())
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("500kB"), Ok(500_000));
        assert_eq!(parse_size("512B"), Ok(512));
        for bad in ["", "KiB", "64 parsecs", "-1", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }
}
