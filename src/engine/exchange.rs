//! Exchange: one request sent on an open connection, its response read to the end, and any
//! failure classified as an `ErrorKind`. It knows nothing of schedules or timing.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};

use super::pool::Sender;
use crate::plan::checks::Checks;
use crate::plan::{Plan, RequestSpec, Target};
use crate::record::ErrorKind;
use crate::template::{Template, Vars};

/// Prepared is a request of the mix with everything that does not vary per arrival resolved
/// once: method, headers, and the path and body when their templates have no placeholders.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    headers: HeaderMap,
    base_path: String,
    path: Template,
    body: Template,
    static_uri: Option<Uri>,
    static_body: Option<Bytes>,
    /// The whole HTTP/1.1 request, when nothing in it varies per arrival.
    static_wire: Option<Bytes>,
    /// Whether the request asks the target to close the connection after it (RFC 9112
    /// section 9.6: the client then sends nothing more on it).
    asks_close: bool,
    /// What this request's responses have shown about how to read them.
    pub reads: ReadHints,
    /// What the response must meet.
    pub checks: Arc<Checks>,
}

/// ReadHints says whether a request's responses may be left for the worker's sweep (see
/// `sweep`): not once one was too large to sit unread in a socket's buffer (the target would be
/// held up by the engine), or ended with its connection (the close carries no receive stamp).
/// Shared by the workers, and only ever set.
#[derive(Debug, Default)]
pub struct ReadHints(AtomicBool);

impl Clone for ReadHints {
    fn clone(&self) -> ReadHints {
        ReadHints(AtomicBool::new(self.0.load(Ordering::Relaxed)))
    }
}

/// PROMPT_BYTES is the response size from which a request's responses are read as they arrive:
/// a quarter of the smallest receive buffer Linux starts a loopback connection with (128 KiB),
/// so a deferred response never fills the window and stalls the sender.
pub const PROMPT_BYTES: u64 = 32 * 1024;

impl ReadHints {
    /// defer says whether responses may wait for a sweep.
    pub fn defer(&self) -> bool {
        !self.0.load(Ordering::Relaxed)
    }

    /// learn records a response of `bytes` bytes that did or did not end with its connection.
    pub fn learn(&self, bytes: u64, ended_by_close: bool) {
        if (bytes >= PROMPT_BYTES || ended_by_close) && self.defer() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

impl Prepared {
    /// new resolves a request spec against its target; `vars` are the plan's template
    /// variables.
    pub fn new(target: &Target, spec: &RequestSpec, vars: &Vars) -> Result<Prepared, String> {
        let static_uri =
            if let Some(text) = spec.path.static_text() {
                let path = format!("{}{}", target.base_path, text);
                // A fixed path is encoded as a filled-in one is: "/café" is sent as "/caf%C3%A9".
                Some(to_uri(&path).ok_or_else(|| {
                    format!("request `{}`: path `{path}` is not valid", spec.name)
                })?)
            } else {
                let longest = target.base_path.len() + spec.path.longest(vars, escaped_len);
                if longest > MAX_TARGET {
                    return Err(format!(
                        "request `{}`: its path can be {longest} bytes long once its variables are \
                     filled in, over the {MAX_TARGET} bytes a request target can carry; shorten \
                     the values it uses",
                        spec.name
                    ));
                }
                None
            };
        let mut headers = target.headers.clone();
        for (k, v) in &spec.headers {
            headers.insert(k, v.clone());
        }
        if !target.transport.keep_alive {
            // Asking the target to close makes it, not us, hold the TIME_WAIT socket, so a long
            // run without keep-alive does not exhaust this machine's ports.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if headers.contains_key(header::TRANSFER_ENCODING) {
            return Err(format!(
                "request `{}` sets a Transfer-Encoding header; metronome sends every body whole, \
                 with a Content-Length it computes itself: remove the header",
                spec.name
            ));
        }
        // The length is the body's own, whatever a header said.
        headers.remove(header::CONTENT_LENGTH);
        let asks_close = headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        });
        if !headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(&target.authority)
                .map_err(|e| format!("host `{}` is not a valid header ({e})", target.authority))?;
            headers.insert(header::HOST, host);
        }
        let static_body = spec.body.static_text().map(|t| Bytes::from(t.to_string()));
        let static_wire = match (&static_uri, &static_body) {
            (Some(uri), Some(body)) => {
                let mut w = Vec::new();
                write_http1(&spec.method, uri, &headers, body, &mut w);
                Some(Bytes::from(w))
            }
            _ => None,
        };
        Ok(Prepared {
            asks_close,
            reads: ReadHints::default(),
            method: spec.method.clone(),
            headers,
            base_path: target.base_path.clone(),
            path: spec.path.clone(),
            body: spec.body.clone(),
            static_uri,
            static_body,
            static_wire,
            checks: Arc::new(spec.checks.clone()),
        })
    }

    /// body_is_small says whether every body this request sends is known, before the run, to be
    /// at most `limit` bytes: a fixed body of that size or less (or none).
    pub fn body_is_small(&self, limit: usize) -> bool {
        self.static_body.as_ref().is_some_and(|b| b.len() <= limit)
    }

    /// request builds the request for arrival `index` of scenario `lane`.
    pub fn request(&self, vars: &Vars, seed: u64, lane: u64, index: u64) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(self.body_of(vars, seed, lane, index)));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri_of(vars, seed, lane, index);
        *r.headers_mut() = self.headers.clone();
        r
    }

    /// wire is the whole HTTP/1.1 request for arrival `index` of scenario `lane`: the prepared
    /// bytes when nothing varies, else written into `scratch`.
    pub fn wire<'a>(
        &'a self,
        vars: &Vars,
        seed: u64,
        lane: u64,
        index: u64,
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        if let Some(w) = &self.static_wire {
            return w;
        }
        let uri = self.uri_of(vars, seed, lane, index);
        let body = self.body_of(vars, seed, lane, index);
        scratch.clear();
        write_http1(&self.method, &uri, &self.headers, &body, scratch);
        scratch
    }

    /// is_head says whether this is a HEAD request, whose response has no body.
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// target_of is the request target (path and query) arrival `index` is sent to.
    pub fn target_of(&self, vars: &Vars, seed: u64, lane: u64, index: u64) -> String {
        let uri = self.uri_of(vars, seed, lane, index);
        uri.path_and_query()
            .map_or_else(|| "/".into(), |p| p.to_string())
    }

    fn uri_of(&self, vars: &Vars, seed: u64, lane: u64, index: u64) -> Uri {
        match &self.static_uri {
            Some(u) => u.clone(),
            None => {
                let mut path = self.base_path.clone();
                self.path.render(vars, seed, lane, index, &mut path);
                // `new` refused paths that could outgrow MAX_TARGET, and every escaped path
                // within it parses (tested), so the fallback is never taken.
                to_uri(&path).unwrap_or_else(|| Uri::from_static("/"))
            }
        }
    }

    fn body_of(&self, vars: &Vars, seed: u64, lane: u64, index: u64) -> Bytes {
        match &self.static_body {
            Some(b) => b.clone(),
            None => {
                let mut b = String::new();
                self.body.render(vars, seed, lane, index, &mut b);
                Bytes::from(b)
            }
        }
    }
}

/// write_http1 writes an HTTP/1.1 request: request line, header lines, a Content-Length when
/// there is a body (or the method carries one: POST, PUT, PATCH), then the body. `headers` hold
/// no Content-Length or Transfer-Encoding (`Prepared::new` sees to it).
fn write_http1(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], out: &mut Vec<u8>) {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    out.reserve(64 + target.len() + 32 * headers.len() + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let carries_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || carries_body {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// to_absolute gives a request the absolute URI HTTP/2 needs (its :scheme and :authority),
/// taking the authority from the Host header.
fn to_absolute(request: &mut Request<Full<Bytes>>, tls: bool) {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return;
    };
    let scheme = if tls { "https" } else { "http" };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    if let Ok(uri) = format!("{scheme}://{host}{path}").parse() {
        *request.uri_mut() = uri;
        // HTTP/2 carries the authority as :authority; a Host header beside it is a duplicate
        // that servers such as nginx refuse, and connection headers are forbidden.
        request.headers_mut().remove(header::HOST);
        request.headers_mut().remove(header::CONNECTION);
    }
}

/// to_uri makes a rendered path a request target, its unsafe bytes percent-encoded: the `http`
/// crate would take some of them as they are (non-ASCII, quotes and braces in a path), which
/// is not a valid request target and which servers may refuse, and it would take a `#` for the
/// start of a fragment, which is never sent (the plan refuses a `#` written in a path, so one
/// here came from a value, such as "C#"). None when even the encoded path is not a URI.
fn to_uri(path: &str) -> Option<Uri> {
    if path.bytes().all(is_uri_safe) {
        path.parse().ok()
    } else {
        escape_unsafe(path).parse().ok()
    }
}

/// escape_unsafe percent-encodes the bytes a URI may not hold (spaces, quotes, non-ASCII…), so a
/// template value drawn from a list still makes a valid request target.
fn escape_unsafe(path: &str) -> String {
    let mut out = String::with_capacity(escaped_len(path));
    for b in path.bytes() {
        if is_uri_safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// is_uri_safe says whether a byte may stand in a request target as it is.
fn is_uri_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&'()*+,;=%".contains(&b)
}

/// escaped_len is how long `path` is once `escape_unsafe` has encoded it: the most bytes a
/// rendered path can take on the wire.
pub fn escaped_len(path: &str) -> usize {
    path.bytes()
        .map(|b| if is_uri_safe(b) { 1 } else { 3 })
        .sum()
}

/// MAX_TARGET is the longest request target (path and query) a request can carry: the `http`
/// crate's limit for a URI.
pub const MAX_TARGET: usize = u16::MAX as usize - 1;

/// Reply is what came back: the body size, the status class, and whether the connection can
/// carry another request.
#[derive(Debug)]
pub struct Reply {
    /// Body bytes read, or why the exchange failed.
    pub result: Result<u64, ErrorKind>,
    /// Whether the connection is still usable (the response was read to its end).
    pub reusable: bool,
    /// Why a response check failed, for the report.
    pub check_failure: Option<String>,
    /// When the response's last bytes reached this machine, as the kernel stamped them, if it
    /// did: more exact than the moment the engine read them.
    pub received: Option<Instant>,
}

impl Reply {
    /// failed is an exchange that ended in `kind`, on a connection not to be used again.
    pub fn failed(kind: ErrorKind) -> Reply {
        Reply {
            result: Err(kind),
            reusable: false,
            check_failure: None,
            received: None,
        }
    }
}

/// send sends arrival `index` of scenario `lane` (the request `prepared`, filled in from the
/// plan's variables) on `sender` and reads the response to the end, keeping of the body only
/// what a check reads. When the connection turned out to be closed before the request left (a
/// pooled connection the target closed while idle), it returns `Unsent`, for a retry on a new
/// connection.
pub async fn send(
    sender: &mut Sender,
    prepared: &Prepared,
    plan: &Plan,
    lane: u64,
    index: u64,
) -> Result<Reply, Unsent> {
    let checks = &prepared.checks;
    let request = || prepared.request(&plan.vars, plan.seed, lane, index);
    let sent = match sender {
        Sender::Direct(conn) => {
            let mut scratch = Vec::new();
            let wire = prepared.wire(&plan.vars, plan.seed, lane, index, &mut scratch);
            let mut reply = (conn.exchange(
                wire,
                prepared.is_head(),
                checks,
                plan.limits.max_body,
                &prepared.reads,
            ))
            .await?;
            reply.reusable &= !prepared.asks_close;
            return Ok(reply);
        }
        Sender::H1(s) => s.try_send_request(request()).await,
        Sender::H2(s) => {
            let mut r = request();
            to_absolute(&mut r, plan.target.transport.tls);
            s.try_send_request(r).await
        }
    };
    let response = match sent {
        Ok(r) => r,
        Err(mut e) => {
            if e.take_message().is_some() {
                return Err(Unsent(classify_hyper(e.error())));
            }
            return Ok(Reply::failed(classify_hyper(e.error())));
        }
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = Body::new(checks, plan.limits.max_body);
    // A body announced as longer than max_body is refused before any of it is read.
    if let Some(n) = hyper::body::Body::size_hint(&body).exact()
        && let Err(kind) = read.declared(n)
    {
        return Ok(Reply::failed(kind));
    }
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(data) = f.data_ref()
                    && let Err(kind) = read.take(data)
                {
                    return Ok(Reply::failed(kind));
                }
            }
            Err(e) => return Ok(Reply::failed(classify_body(&e))),
        }
    }
    let (result, check_failure) = verdict(checks, status, read);
    Ok(Reply {
        result,
        reusable: true,
        check_failure,
        received: None,
    })
}

/// Body counts a response body's bytes as they are read, and keeps them when a check reads
/// the body, never beyond the check's `max_body`: past it the rest is counted and dropped, and
/// the check fails. Past the run's `max_body` (`limit`) nothing more is read: the body is
/// `BodyTooLarge`.
pub struct Body {
    bytes: u64,
    kept: Option<Vec<u8>>,
    max: usize,
    limit: u64,
}

impl Body {
    /// new starts an empty body for a response judged by `checks`, read up to `limit` bytes.
    pub fn new(checks: &Checks, limit: usize) -> Body {
        Body {
            bytes: 0,
            kept: checks.needs_body().then(Vec::new),
            max: checks.max_body,
            limit: limit as u64,
        }
    }

    /// declared refuses a body whose announced length is over the limit, before any of it is
    /// read.
    pub fn declared(&self, length: u64) -> Result<(), ErrorKind> {
        if length > self.limit {
            return Err(ErrorKind::BodyTooLarge);
        }
        Ok(())
    }

    /// take adds the next bytes of the body; past the limit the body is `BodyTooLarge`.
    pub fn take(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        self.bytes += data.len() as u64;
        if self.bytes > self.limit {
            self.kept = None;
            return Err(ErrorKind::BodyTooLarge);
        }
        if let Some(buf) = self.kept.as_mut() {
            if buf.len() + data.len() <= self.max {
                buf.extend_from_slice(data);
            } else {
                self.kept = None;
            }
        }
        Ok(())
    }
}

/// verdict judges a complete response: its body size when it passes, else the error kind (and
/// for a failed check, why).
pub fn verdict(
    checks: &Checks,
    status: u16,
    body: Body,
) -> (Result<u64, ErrorKind>, Option<String>) {
    match checks.judge(status, body.kept.as_deref()) {
        Ok(()) => (Ok(body.bytes), None),
        // A status outside the set that is an HTTP error keeps its own kind.
        Err(_) if (400..500).contains(&status) && !checks.status.contains(status) => {
            (Err(ErrorKind::Http4xx), None)
        }
        Err(_) if (500..600).contains(&status) && !checks.status.contains(status) => {
            (Err(ErrorKind::Http5xx), None)
        }
        Err(why) => (Err(ErrorKind::Check), Some(why)),
    }
}

/// Unsent says a request did not leave: the connection was found closed (for the reason given)
/// before any of it was written, so an arrival on a pooled connection may try again on a new
/// one.
#[derive(Debug)]
pub struct Unsent(pub ErrorKind);

/// classify_connect names the kind of a failure to open a connection.
pub fn classify_connect(e: &io::Error) -> ErrorKind {
    if is_local_resource(e) {
        return ErrorKind::LocalResource;
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        _ => ErrorKind::ConnectError,
    }
}

/// is_local_resource says whether an I/O error means this machine ran out of something.
fn is_local_resource(e: &io::Error) -> bool {
    // EMFILE, ENFILE (file descriptors), EADDRNOTAVAIL (ephemeral ports), ENOBUFS, ENOMEM.
    matches!(e.raw_os_error(), Some(24 | 23 | 99 | 105 | 12))
}

/// classify_io names the kind of an I/O failure on an open connection.
pub fn classify_io(e: &io::Error) -> ErrorKind {
    if is_local_resource(e) {
        ErrorKind::LocalResource
    } else {
        ErrorKind::ResetClosed
    }
}

/// classify_body names the kind of a failure while reading a body through hyper: framing that
/// is not valid HTTP (a bad chunk, as hyper's decoder reports it) is a protocol error, as it is
/// on the direct path; the connection failing under the body is a body read error.
fn classify_body(e: &hyper::Error) -> ErrorKind {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            let tls = io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>());
            return match io.kind() {
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData if !tls => {
                    ErrorKind::Protocol
                }
                _ if is_local_resource(io) => ErrorKind::LocalResource,
                _ => ErrorKind::BodyRead,
            };
        }
        source = s.source();
    }
    ErrorKind::BodyRead
}

fn classify_hyper(e: &hyper::Error) -> ErrorKind {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        source = s.source();
    }
    if e.is_parse() || e.is_parse_status() {
        ErrorKind::Protocol
    } else {
        ErrorKind::ResetClosed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use std::time::Duration;

    #[test]
    fn every_escaped_path_within_the_limit_is_a_valid_request_target() {
        let mut every_char: String = (1u8..128).map(char::from).collect();
        every_char.push_str("é✓%zz");
        let path = format!("/{every_char}");
        let escaped = escape_unsafe(&path);
        assert_eq!(escaped.len(), escaped_len(&path));
        assert!(escaped.parse::<Uri>().is_ok(), "{escaped}");
        // "é" is two bytes, six once escaped.
        let wide = format!("/{}", "é".repeat((MAX_TARGET - 1) / 6));
        let at_limit = format!("{wide}{}", "a".repeat(MAX_TARGET - escaped_len(&wide)));
        assert_eq!(escaped_len(&at_limit), MAX_TARGET);
        assert!(escape_unsafe(&at_limit).parse::<Uri>().is_ok());
        assert!(
            escape_unsafe(&format!("{at_limit}a"))
                .parse::<Uri>()
                .is_err()
        );
    }

    #[test]
    fn a_hash_in_a_value_and_unsafe_bytes_in_a_fixed_path_are_percent_encoded() {
        // Found by tests/fuzz.rs: a data file's quoted field "b,#@x" filled into a path sent
        // the request to "…u=b," (the rest taken for a fragment and dropped), and a fixed path
        // such as "/é" loaded but failed when the run prepared it.
        let (target, _) = Target::parse("http://127.0.0.1:8080/").unwrap();
        let mut plan = Plan::quick(target, Method::GET, "/", 1.0, Duration::from_secs(1));
        plan.vars
            .add("v", crate::template::VarSource::List(vec!["b,#@x".into()]));
        let mut spec = plan.scenarios[0].requests[0].clone();
        spec.path = Template::parse("/u?e={v}", &plan.vars).unwrap();
        let prepared = Prepared::new(&plan.target, &spec, &plan.vars).unwrap();
        assert_eq!(prepared.target_of(&plan.vars, 1, 0, 0), "/u?e=b,%23@x");
        spec.path = Template::parse("/caf\u{e9}/\"q\"", &plan.vars).unwrap();
        let prepared = Prepared::new(&plan.target, &spec, &plan.vars).unwrap();
        let mut scratch = Vec::new();
        let wire = prepared.wire(&plan.vars, 1, 0, 0, &mut scratch);
        let line = String::from_utf8_lossy(wire)
            .lines()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(line, "GET /caf%C3%A9/%22q%22 HTTP/1.1");
    }

    #[test]
    fn a_path_that_could_outgrow_a_request_target_is_refused_before_the_run() {
        let (target, _) = Target::parse("http://127.0.0.1:8080/").unwrap();
        let mut plan = Plan::quick(target, Method::GET, "/", 1.0, Duration::from_secs(1));
        let long = "x".repeat(MAX_TARGET);
        plan.vars.add(
            "v",
            crate::template::VarSource::List(vec!["a".into(), long]),
        );
        let mut spec = plan.scenarios[0].requests[0].clone();
        spec.path = Template::parse("/p/{v}", &plan.vars).unwrap();
        let err = Prepared::new(&plan.target, &spec, &plan.vars)
            .err()
            .unwrap();
        assert!(err.contains("65537 bytes"), "{err}");
        plan.vars = Default::default();
        plan.vars
            .add("v", crate::template::VarSource::List(vec!["é".repeat(100)]));
        spec.path = Template::parse("/p/{v}", &plan.vars).unwrap();
        assert!(Prepared::new(&plan.target, &spec, &plan.vars).is_ok());
    }

    #[test]
    fn the_body_sets_the_length_and_transfer_encoding_is_refused() {
        let (target, _) = Target::parse("http://127.0.0.1:8080/").unwrap();
        let plan = Plan::quick(target, Method::POST, "/p", 1.0, Duration::from_secs(1));
        let mut spec = plan.scenarios[0].requests[0].clone();
        spec.body = Template::literal("hello");
        spec.headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        let prepared = Prepared::new(&plan.target, &spec, &plan.vars).unwrap();
        let mut scratch = Vec::new();
        let wire = String::from_utf8(prepared.wire(&plan.vars, 1, 0, 0, &mut scratch).to_vec());
        assert_eq!(
            wire.unwrap(),
            "POST /p HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-length: 5\r\n\r\nhello"
        );
        spec.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let err = Prepared::new(&plan.target, &spec, &plan.vars)
            .err()
            .unwrap();
        assert!(err.contains("Transfer-Encoding"), "{err}");
    }

    #[test]
    fn only_fixed_bodies_up_to_the_limit_count_as_small() {
        let (target, _) = Target::parse("http://127.0.0.1:8080/").unwrap();
        let plan = Plan::quick(target, Method::POST, "/", 1.0, Duration::from_secs(1));
        let mut spec = plan.scenarios[0].requests[0].clone();
        let small = |spec: &RequestSpec| {
            Prepared::new(&plan.target, spec, &plan.vars)
                .unwrap()
                .body_is_small(1024)
        };
        assert!(small(&spec), "no body is a small body");
        spec.body = Template::literal(&"x".repeat(1024));
        assert!(small(&spec));
        spec.body = Template::literal(&"x".repeat(1025));
        assert!(!small(&spec));
        // A body drawn per arrival has no size known before the run.
        let mut vars = Vars::default();
        vars.add("id", crate::template::VarSource::Sequence);
        spec.body = Template::parse("{id}", &vars).unwrap();
        assert!(!small(&spec));
    }

    #[test]
    fn a_body_past_the_runs_max_body_is_too_large_whether_announced_or_read() {
        let mut body = Body::new(&Checks::default(), 10);
        assert_eq!(body.declared(10), Ok(()));
        assert_eq!(body.declared(11), Err(ErrorKind::BodyTooLarge));
        assert_eq!(body.take(b"12345"), Ok(()));
        assert_eq!(body.take(b"67890"), Ok(()));
        assert_eq!(body.take(b"x"), Err(ErrorKind::BodyTooLarge));
        // A body check's own, smaller max_body still only fails the check.
        let checks = Checks {
            max_body: 4,
            size_check: true,
            ..Checks::default()
        };
        let mut body = Body::new(&checks, 10);
        assert_eq!(body.take(b"12345"), Ok(()));
        assert_eq!(verdict(&checks, 200, body).0, Err(ErrorKind::Check));
    }

    #[test]
    fn http2_requests_carry_the_authority_in_the_uri_and_no_host_header() {
        let mut r = Request::new(Full::new(Bytes::new()));
        *r.uri_mut() = "/health?x=1".parse().unwrap();
        r.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        to_absolute(&mut r, true);
        assert_eq!(r.uri().to_string(), "https://127.0.0.1:8443/health?x=1");
        // nginx refuses a Host header beside :authority ("duplicate host header").
        assert!(r.headers().get(header::HOST).is_none());
        assert!(r.headers().get(header::CONNECTION).is_none());
    }
}
