//! Response checks judged: whether a response meets its request's [`Checks`] (the specs live
//! with the plan, in `plan::checks`), for its arrival to count as a success.
//!
//! Pure functions, no I/O: the exchange reads the response (buffering the body only when
//! [`Checks::needs_body`] says so, and never beyond `max_body`) and asks [`Checks::judge`]. A
//! failed check fails the arrival as error kind "check", with the message `judge` returns
//! (short, for a person: `status 404 not in 2xx, 3xx`). The methods are an `impl Checks` here
//! rather than beside the struct so the plan side holds no engine code.

use crate::plan::checks::Checks;
use crate::plan::checks::format_size;

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
                        crate::units::shorten(&actual.to_string(), 60)
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
    crate::units::shorten(&serde_json::Value::from(text).to_string(), 60)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::checks::StatusSet;

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
            status: StatusSet::new([201..=201]),
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
}
