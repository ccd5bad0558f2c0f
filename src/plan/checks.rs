//! Response checks as a plan states them: which statuses pass, what the body must contain or
//! hold at a JSON pointer, and how much of it may be buffered.
//!
//! This module owns the specs and the parsing of their parts (status entries, JSON pointers,
//! byte sizes), so a plan can be built and described without the engine. Judging a response
//! against them (and whether its body must be read for that) is the engine's business, in
//! `engine::checks`.

use std::fmt;
use std::ops::RangeInclusive;

use crate::problem::Problem;

/// The default bound on a buffered body: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Checks are the expectations a request's response must meet; a failed check fails the
/// arrival as error kind "check" (judged by `engine::checks`).
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

/// check_pointer says whether `pointer` is an RFC 6901 JSON pointer to a value inside the
/// document: it starts with "/" and `~` is only followed by 0 or 1.
pub fn check_pointer(pointer: &str) -> Result<(), Problem> {
    if !pointer.starts_with('/') {
        return Err(Problem::new(
            format!("`{pointer}` is not a JSON pointer: it must start with \"/\""),
            "write the path from the document's root, e.g. \"/status\" or \"/items/0/id\"",
        ));
    }
    let bytes = pointer.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
            return Err(Problem::new(
                format!("`{pointer}`: `~` must be followed by 0 or 1 in a JSON pointer"),
                "write ~0 for `~` and ~1 for `/` inside a key",
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
    pub fn code(code: i64) -> Result<RangeInclusive<u16>, Problem> {
        match u16::try_from(code) {
            Ok(c) if (100..=599).contains(&c) => Ok(c..=c),
            _ => Err(Problem::new(
                format!("{code} is not an HTTP status"),
                "statuses are 100 to 599, e.g. 200, or a class such as \"2xx\"",
            )),
        }
    }

    /// entry reads one text entry: a class "2xx", a code "204", or a range "200-204".
    pub fn entry(text: &str) -> Result<RangeInclusive<u16>, Problem> {
        let t = text.trim();
        let bad = || {
            Problem::new(
                format!("`{text}` is not a status entry"),
                "write a code (200), a class (\"2xx\") or a range (\"200-204\")",
            )
        };
        let code = |s: &str| -> Result<u16, Problem> {
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
                return Err(Problem::new(
                    format!("`{text}` is an empty range"),
                    "write the lower status first, e.g. \"200-204\"",
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
pub fn parse_size(text: &str) -> Result<usize, Problem> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let bad = || {
        Problem::new(
            format!("`{text}` is not a size"),
            "write bytes as a number (65536) or with a unit: 64KiB, 1MiB, 500kB",
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
    fn json_pointers_are_checked() {
        assert!(check_pointer("/status").is_ok());
        assert!(check_pointer("/a~0b~1c").is_ok());
        assert!(check_pointer("status").is_err());
        assert!(check_pointer("").is_err());
        assert!(check_pointer("/a~2").is_err());
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
