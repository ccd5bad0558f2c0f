//! A Prometheus metrics endpoint: the text exposition format read over a small HTTP/1.0 GET
//! (http:// only; no TLS, no compression), and the series a [`MetricSelector`] names, with
//! label matchers, summed when several match.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ReadError, Reading};
use crate::plan::MetricSelector;

/// DEFAULT_METRIC is the gauge read from a metrics endpoint unless the watch names another:
/// the resident memory every Prometheus client library exports for its process.
pub const DEFAULT_METRIC: &str = "process_resident_memory_bytes";

/// MAX_BODY bounds what is read of a metrics page.
const MAX_BODY: usize = 16 << 20;

/// parse_selector reads `name` or `name{label="value",other!="x"}`.
pub fn parse_selector(text: &str) -> Result<MetricSelector, String> {
    let text = text.trim();
    let (name, rest) = match text.find('{') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let name = name.trim();
    let valid_name = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    if !valid_name(name) {
        return Err(format!("`{name}` is not a metric name"));
    }
    let mut labels = Vec::new();
    if let Some(rest) = rest {
        let Some(body) = rest.trim_end().strip_suffix('}') else {
            return Err("the label matchers have no closing `}`".into());
        };
        let mut s = body.trim();
        while !s.is_empty() {
            let op = s
                .find(['=', '!'])
                .ok_or_else(|| format!("`{s}` is not a label matcher (label=\"value\")"))?;
            let label = s[..op].trim();
            if !valid_name(label) || label.contains(':') {
                return Err(format!("`{label}` is not a label name"));
            }
            let (equal, after) = if s[op..].starts_with("!=") {
                (false, &s[op + 2..])
            } else if s[op..].starts_with("=~") || s[op..].starts_with("!~") {
                return Err(
                    "regular-expression matchers (=~, !~) are not supported; use = or !=".into(),
                );
            } else if s[op..].starts_with('=') {
                (true, &s[op + 1..])
            } else {
                return Err(format!("`{s}` is not a label matcher (label=\"value\")"));
            };
            let (value, after) = quoted(after.trim_start()).ok_or_else(|| {
                format!("the value of label `{label}` is not a \"quoted\" string")
            })?;
            labels.push((label.to_string(), equal, value));
            s = after.trim_start();
            if let Some(more) = s.strip_prefix(',') {
                s = more.trim_start();
            } else if !s.is_empty() {
                return Err(format!("expected `,` or `}}` before `{s}`"));
            }
        }
    }
    Ok(MetricSelector {
        name: name.to_string(),
        labels,
    })
}

/// quoted reads a double-quoted string with the exposition format's escapes (\\, \", \n) at
/// the start of `s`, and what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// value_of finds the series `selector` matches in an exposition and sums them; None when none
/// matches.
pub fn value_of(exposition: &str, selector: &MetricSelector) -> Option<f64> {
    let mut sum = None;
    for line in exposition.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(selector.name.as_str()) else {
            continue;
        };
        let (labels, after) = if let Some(inner) = rest.strip_prefix('{') {
            match parse_labels(inner) {
                Some(x) => x,
                None => continue,
            }
        } else if rest.starts_with([' ', '\t']) {
            (Vec::new(), rest)
        } else {
            continue; // another metric whose name starts with this one
        };
        let matches = selector.labels.iter().all(|(k, equal, v)| {
            let got = labels.iter().find(|(l, _)| l == k).map_or("", |(_, x)| x);
            (got == v) == *equal
        });
        if !matches {
            continue;
        }
        let Some(value) = after.split_whitespace().next().and_then(parse_float) else {
            continue;
        };
        *sum.get_or_insert(0.0) += value;
    }
    sum
}

/// parse_labels reads `a="x",b="y"}` and what follows the closing brace.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let name = s[..eq].trim().to_string();
        let (value, after) = quoted(s[eq + 1..].trim_start())?;
        labels.push((name, value));
        s = after.trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Endpoint is a metrics URL taken apart for the GET.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(super) url: String,
    authority: String,
    host: String,
    port: u16,
    path: String,
}

/// endpoint checks a metrics URL: http:// with a host; the path defaults to /metrics.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let uri: hyper::http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}`: the metrics endpoint is read over http:// only (no TLS)"
            ));
        }
        _ => return Err(format!("`{url}` has no http:// scheme")),
    }
    let host = (uri.host())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{url}` has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") | Some("/") => "/metrics".to_string(),
        Some(p) => p.to_string(),
    };
    Ok(Endpoint {
        url: url.to_string(),
        authority: uri.authority().map(|a| a.to_string()).unwrap_or_default(),
        port: uri.port_u16().unwrap_or(80),
        host,
        path,
    })
}

/// read fetches the page and reads the selected series, within `timeout`.
pub(super) async fn read(
    at: &Endpoint,
    selector: &MetricSelector,
    timeout: Duration,
) -> Result<Reading, ReadError> {
    let page = tokio::time::timeout(timeout, get(at))
        .await
        .map_err(|_| {
            ReadError::Failed(format!(
                "{} did not answer within {} s",
                at.url,
                timeout.as_secs_f64()
            ))
        })?
        .map_err(ReadError::Failed)?;
    match value_of(&page, selector) {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Reading {
            memory: v.round() as u64,
            cpu_s: None,
        }),
        Some(v) => Err(ReadError::Failed(format!(
            "{selector} is {v} at {}, not a size",
            at.url
        ))),
        None => Err(ReadError::Failed(format!(
            "{} has no series {selector}",
            at.url
        ))),
    }
}

/// get sends one HTTP/1.0 GET (so the answer is neither chunked nor kept alive) and returns
/// the body of a 200 answer.
async fn get(at: &Endpoint) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect((at.host.as_str(), at.port))
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", at.url))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/plain\r\nUser-Agent: metronome\r\n\r\n",
        at.path, at.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send to {}: {e}", at.url))?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = (stream.read(&mut chunk).await)
            .map_err(|e| format!("reading {} failed: {e}", at.url))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > MAX_BODY {
            return Err(format!("{} sent more than 16 MiB", at.url));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(&bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(format!("{} did not answer with HTTP", at.url)),
    };
    let status = response.code.unwrap_or(0);
    if status != 200 {
        return Err(format!("{} answered {status}", at.url));
    }
    let chunked = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value).contains("chunked")
    });
    let body = &bytes[head..];
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    String::from_utf8(body).map_err(|_| format!("{} sent a page that is not UTF-8", at.url))
}

/// dechunk decodes a chunked body (a server may chunk even an HTTP/1.0 answer).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 || size > b.len() {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes{job="api",instance="a"} 1.5e+07
process_resident_memory_bytes{job="api",instance="b"} 5000000
process_resident_memory_bytes{job="worker", instance="c"} 7
process_resident_memory_bytes_total 99
heap{path="a\"b"} 3 1700000000000
plain 42
"#;

    #[test]
    fn selectors_pick_and_sum_series() {
        let sel = |s| parse_selector(s).unwrap();
        assert_eq!(value_of(PAGE, &sel("plain")), Some(42.0));
        assert_eq!(
            value_of(PAGE, &sel(r#"process_resident_memory_bytes{job="api"}"#)),
            Some(20e6)
        );
        assert_eq!(
            value_of(
                PAGE,
                &sel(r#"process_resident_memory_bytes{job="api", instance!="a"}"#)
            ),
            Some(5e6)
        );
        assert_eq!(
            value_of(PAGE, &sel(r#"process_resident_memory_bytes{job="worker"}"#)),
            Some(7.0)
        );
        assert_eq!(value_of(PAGE, &sel(r#"heap{path="a\"b"}"#)), Some(3.0));
        assert_eq!(value_of(PAGE, &sel(r#"plain{job="x"}"#)), None);
        assert_eq!(value_of(PAGE, &sel("absent")), None);
        assert_eq!(sel(r#"m{a="1",b!="2",}"#).to_string(), r#"m{a="1",b!="2"}"#);
        for bad in [
            "",
            "1abc",
            "m{a=1}",
            "m{a=\"1\"",
            "m{a=~\"x\"}",
            "m{=\"x\"}",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_are_http_only() {
        assert_eq!(endpoint("http://127.0.0.1:9100").unwrap().path, "/metrics");
        assert_eq!(endpoint("http://h/m?x=1").unwrap().path, "/m?x=1");
        assert!(
            endpoint("https://h/metrics")
                .unwrap_err()
                .contains("http://")
        );
        assert!(endpoint("h/metrics").is_err());
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
