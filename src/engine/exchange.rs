//! Exchange: one request sent on an open connection, its response read to the end, and any
//! failure classified as an `ErrorKind`. It knows nothing of schedules or timing.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};

use super::checks::Checks;
use super::pool::Sender;
use crate::plan::{RequestSpec, Target};
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
    /// What the response must meet.
    pub checks: Arc<Checks>,
}

impl Prepared {
    /// new resolves a request spec against its target; `vars` are the plan's template
    /// variables.
    pub fn new(target: &Target, spec: &RequestSpec, vars: &Vars) -> Result<Prepared, String> {
        let static_uri = if let Some(text) = spec.path.static_text() {
            let path = format!("{}{}", target.base_path, text);
            Some(path.parse::<Uri>().map_err(|e| {
                format!("request `{}`: path `{path}` is not valid ({e})", spec.name)
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
        if !headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(&target.authority)
                .map_err(|e| format!("host `{}` is not a valid header ({e})", target.authority))?;
            headers.insert(header::HOST, host);
        }
        Ok(Prepared {
            method: spec.method.clone(),
            headers,
            base_path: target.base_path.clone(),
            path: spec.path.clone(),
            body: spec.body.clone(),
            static_uri,
            static_body: spec.body.static_text().map(|t| Bytes::from(t.to_string())),
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
        let uri = match &self.static_uri {
            Some(u) => u.clone(),
            None => {
                let mut path = self.base_path.clone();
                self.path.render(vars, seed, lane, index, &mut path);
                // `new` refused paths that could outgrow MAX_TARGET, and every escaped path
                // within it parses (tested), so the fallback is never taken.
                path.parse()
                    .or_else(|_| escape_unsafe(&path).parse())
                    .unwrap_or_else(|_| Uri::from_static("/"))
            }
        };
        let body = match &self.static_body {
            Some(b) => b.clone(),
            None => {
                let mut b = String::new();
                self.body.render(vars, seed, lane, index, &mut b);
                Bytes::from(b)
            }
        };
        let mut r = Request::new(Full::new(body));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = uri;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// to_absolute gives a request the absolute URI HTTP/2 needs (its :scheme and :authority),
/// taking the authority from the Host header.
pub fn to_absolute(request: &mut Request<Full<Bytes>>, tls: bool) {
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
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
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
}

/// send sends one request and reads its response to the end, discarding the body. When the
/// connection turned out to be closed before the request left (a pooled connection the target
/// closed while idle), the request comes back unsent as `Err`, for a retry on a new connection.
pub async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
    checks: &Checks,
) -> Result<Reply, Request<Full<Bytes>>> {
    let sent = match sender {
        Sender::H1(s) => s.try_send_request(request).await,
        Sender::H2(s) => s.try_send_request(request).await,
    };
    let response = match sent {
        Ok(r) => r,
        Err(mut e) => {
            if let Some(unsent) = e.take_message() {
                return Err(unsent);
            }
            return Ok(Reply {
                result: Err(classify_hyper(e.error())),
                reusable: false,
                check_failure: None,
            });
        }
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0u64;
    // A body is kept only when a check reads it, and never beyond max_body: past it the rest
    // is read and dropped, and the check fails.
    let mut kept = checks.needs_body().then(Vec::new);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                let Some(data) = f.data_ref() else { continue };
                bytes += data.len() as u64;
                if let Some(buf) = kept.as_mut() {
                    if buf.len() + data.len() <= checks.max_body {
                        buf.extend_from_slice(data);
                    } else {
                        kept = None;
                    }
                }
            }
            Err(_) => {
                return Ok(Reply {
                    result: Err(ErrorKind::BodyRead),
                    reusable: false,
                    check_failure: None,
                });
            }
        }
    }
    let judged = checks.judge(status.as_u16(), kept.as_deref());
    let (result, check_failure) = match judged {
        Ok(()) => (Ok(bytes), None),
        // A status outside the set that is an HTTP error keeps its own kind.
        Err(_) if status.is_client_error() && !checks.status.contains(status.as_u16()) => {
            (Err(ErrorKind::Http4xx), None)
        }
        Err(_) if status.is_server_error() && !checks.status.contains(status.as_u16()) => {
            (Err(ErrorKind::Http5xx), None)
        }
        Err(why) => (Err(ErrorKind::Check), Some(why)),
    };
    Ok(Reply {
        result,
        reusable: true,
        check_failure,
    })
}

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

fn classify_hyper(e: &hyper::Error) -> ErrorKind {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if is_local_resource(io) {
                return ErrorKind::LocalResource;
            }
            return ErrorKind::ResetClosed;
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
