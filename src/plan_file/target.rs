//! `[target]`: the base URL (or `--host` in its place), the connection limits, the transport
//! (HTTP version, keep-alive, TLS), and header tables with `${env:NAME}` expanded, which
//! requests read too. Whether a target answers is the engine's preflight, not the plan's.

use hyper::http::{HeaderMap, HeaderName, HeaderValue};
use toml::Spanned;

use super::raw::{Map, RawTarget};
use super::span::Ctx;
use super::{Overrides, Result};
use crate::plan::{Limits, Target};

/// target reads `[target]`: the target, whether one was named, the limits and preflight.
pub(super) fn target(
    ctx: &Ctx,
    raw: RawTarget,
    overrides: &Overrides,
) -> Result<(Target, bool, Limits, bool)> {
    // The file's base_url is checked even when --host replaces it: a plan is valid or not
    // whatever the flags.
    let from_file = raw
        .base_url
        .as_ref()
        .map(|u| base_target(u.get_ref()).map_err(|e| ctx.err(u.span(), e.to_string(), e.help())))
        .transpose()?;
    let has_target = overrides.host.is_some() || from_file.is_some();
    let mut target = match (&overrides.host, from_file) {
        (Some(host), _) => {
            base_target(host).map_err(|e| ctx.flag(format!("--host: {e}"), e.help()))?
        }
        (None, Some(t)) => t,
        (None, None) => {
            // Filled in by the caller once the demo target is listening.
            Target::parse("http://127.0.0.1:1")
                .expect("the placeholder URL parses")
                .0
        }
    };
    target.headers = headers(ctx, raw.headers.as_ref())?;
    let t = &mut target.transport;
    t.http = raw.http.unwrap_or_default();
    t.keep_alive = raw.keep_alive.unwrap_or(true);
    t.insecure = raw.insecure.unwrap_or(false);
    if let Some(m) = &raw.max_streams {
        t.max_streams = ctx.int(
            m,
            "max_streams",
            1..100_001,
            "HTTP/2 streams per connection, e.g. 100",
        )? as usize;
    }
    if let Some(ca) = &raw.ca_file {
        let path = ctx.beside(ca.get_ref());
        if !path.is_file() {
            return Err(ctx.err(
                ca.span(),
                format!(
                    "ca_file `{}` is not a readable file ({})",
                    ca.get_ref(),
                    path.display()
                ),
                "give a PEM file of the CA certificate, relative to the plan file",
            ));
        }
        t.ca_file = Some(path);
    }

    let defaults = Limits::default();
    let limits = Limits {
        connections: match &raw.connections {
            Some(c) => ctx.int(
                c,
                "connections",
                1..i64::MAX,
                "at least one connection is needed",
            )? as usize,
            None => defaults.connections,
        },
        max_in_flight: match &raw.max_in_flight {
            Some(m) => ctx.int(
                m,
                "max_in_flight",
                1..i64::MAX,
                "it bounds arrivals queued or sent at once; leave it out for 10000",
            )? as usize,
            None => defaults.max_in_flight,
        },
        timeout: match &raw.timeout {
            Some(t) => ctx.positive_duration(t, "timeout")?,
            None => defaults.timeout,
        },
        connect_rate: match &raw.connect_rate {
            Some(r) => ctx.int(
                r,
                "connect_rate",
                1..i64::from(u32::MAX) + 1,
                "new connections per second at most; leave it out for 1000",
            )? as u32,
            None => defaults.connect_rate,
        },
        max_body: match &raw.max_body {
            Some(m) => ctx.size(m, "max_body")?,
            None => defaults.max_body,
        },
    };
    Ok((target, has_target, limits, raw.preflight.unwrap_or(true)))
}

/// BaseUrlError is what is wrong with a base URL, before it is known whether the URL came from
/// the file or from `--host`, which place the error differently.
#[derive(Debug, thiserror::Error)]
enum BaseUrlError {
    /// Not an http URL; the text is [`Target::parse`]'s, without its help, which is ours here.
    #[error("{0}")]
    Unusable(String),
    /// A query, which would be lost under every request's own.
    #[error("`{0}` has a query; a base URL may only have a path")]
    Query(String),
    /// A fragment, which is never sent.
    #[error("`{0}` has a fragment (`#…`); a base URL may only have a path")]
    Fragment(String),
}

impl BaseUrlError {
    /// help says how to fix the URL.
    fn help(&self) -> &'static str {
        match self {
            BaseUrlError::Unusable(_) => {
                "write it like http://127.0.0.1:8001 (http only; a path such as \
                 http://host/api prefixes every request path)"
            }
            BaseUrlError::Query(_) => "put query parameters in each request's path",
            BaseUrlError::Fragment(_) => {
                "remove it: a fragment never reaches the server (write %23 for a `#` in the path)"
            }
        }
    }
}

/// base_target reads a base URL; its path becomes the prefix of every request path.
fn base_target(url: &str) -> Result<Target, BaseUrlError> {
    let (mut target, path) = Target::parse(url).map_err(|e| BaseUrlError::Unusable(e.message))?;
    if url.contains('#') {
        return Err(BaseUrlError::Fragment(url.to_string()));
    }
    if path.contains('?') {
        return Err(BaseUrlError::Query(url.to_string()));
    }
    target.base_path = path.trim_end_matches('/').to_string();
    Ok(target)
}

/// headers reads a table of headers, expanding `${env:NAME}` in values.
pub(super) fn headers(ctx: &Ctx, raw: Option<&Map<Spanned<String>>>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    let Some(raw) = raw else {
        return Ok(map);
    };
    // Report in file order.
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in entries {
        let name = HeaderName::from_bytes(key.get_ref().as_bytes()).map_err(|_| {
            ctx.err(
                key.span(),
                format!("`{}` is not a valid header name", key.get_ref()),
                "header names are letters, digits and `-`, like Content-Type",
            )
        })?;
        if name == hyper::http::header::TRANSFER_ENCODING {
            // The engine frames every body itself; refused here, where the plan can say where,
            // rather than when the run starts.
            return Err(ctx.err(
                key.span(),
                format!("header `{}` cannot be set", key.get_ref()),
                "remove it: metronome sends every body whole, with a Content-Length it computes \
                 itself",
            ));
        }
        if let Some(other) = seen.iter().find(|s| s.eq_ignore_ascii_case(key.get_ref())) {
            return Err(ctx.err(
                key.span(),
                format!(
                    "header `{}` is given twice (also as `{other}`)",
                    key.get_ref()
                ),
                "header names are case-insensitive; keep one of them",
            ));
        }
        seen.push(key.get_ref());
        let text = expand_env(ctx, value)?;
        let value = HeaderValue::from_str(&text).map_err(|_| {
            ctx.err(
                value.span(),
                format!(
                    "the value of header `{}` is not a valid header value",
                    key.get_ref()
                ),
                "header values are visible ASCII text without control characters or newlines \
                 (check what any ${env:…} inserts)",
            )
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// expand_env replaces `${env:NAME}` by the environment variable NAME.
fn expand_env(ctx: &Ctx, v: &Spanned<String>) -> Result<String> {
    let text = v.get_ref();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(i) = text[rest..].find("${") {
        let start = rest + i;
        out.push_str(&text[rest..start]);
        let Some(len) = text[start..].find('}') else {
            return Err(ctx.err_in(
                v.span(),
                start,
                "`${` is not closed",
                "write ${env:NAME} to insert the environment variable NAME",
            ));
        };
        let inner = &text[start + 2..start + len];
        let name = match inner.strip_prefix("env:") {
            Some(name) if !name.is_empty() => name,
            _ => {
                return Err(ctx.err_in(
                    v.span(),
                    start,
                    format!("`${{{inner}}}` is not an environment reference"),
                    "write ${env:NAME} to insert the environment variable NAME",
                ));
            }
        };
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(std::env::VarError::NotPresent) => {
                return Err(ctx.err_in(
                    v.span(),
                    start,
                    format!("environment variable {name} is not set"),
                    format!("set it before running, e.g. export {name}=…"),
                ));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ctx.err_in(
                    v.span(),
                    start,
                    format!("environment variable {name} is not valid UTF-8"),
                    "header values must be text",
                ));
            }
        }
        rest = start + len + 1;
    }
    out.push_str(&text[rest..]);
    Ok(out)
}
