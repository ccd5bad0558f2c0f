//! Exchange: one request sent on an open connection, its response read to the end, and any
//! failure classified as an `ErrorKind`. It knows nothing of schedules or timing.

use std::io;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};

use crate::plan::{RequestSpec, Target};
use crate::record::ErrorKind;

/// Prepared is a request of the mix with its URI and headers resolved once, ready to send many
/// times.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    /// new resolves a request spec against its target.
    pub fn new(target: &Target, spec: &RequestSpec) -> Result<Prepared, String> {
        let path = format!("{}{}", target.base_path, spec.path);
        let uri: Uri = path
            .parse()
            .map_err(|e| format!("request `{}`: path `{path}` is not valid ({e})", spec.name))?;
        let mut headers = target.headers.clone();
        for (k, v) in &spec.headers {
            headers.insert(k, v.clone());
        }
        if !headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(&target.authority)
                .map_err(|e| format!("host `{}` is not a valid header ({e})", target.authority))?;
            headers.insert(header::HOST, host);
        }
        Ok(Prepared {
            method: spec.method.clone(),
            uri,
            headers,
            body: spec.body.clone(),
        })
    }

    /// request builds one request to send.
    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(self.body.clone()));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// Reply is what came back: the body size, the status class, and whether the connection can
/// carry another request.
#[derive(Debug)]
pub struct Reply {
    /// Body bytes read, or why the exchange failed.
    pub result: Result<u64, ErrorKind>,
    /// Whether the connection is still usable (the response was read to its end).
    pub reusable: bool,
}

/// send sends one request and reads its response to the end, discarding the body.
pub async fn send(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> Reply {
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => {
            return Reply {
                result: Err(classify_hyper(&e)),
                reusable: false,
            };
        }
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => bytes += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => {
                return Reply {
                    result: Err(ErrorKind::BodyRead),
                    reusable: false,
                };
            }
        }
    }
    let result = if status.is_client_error() {
        Err(ErrorKind::Http4xx)
    } else if status.is_server_error() {
        Err(ErrorKind::Http5xx)
    } else {
        Ok(bytes)
    };
    Reply {
        result,
        reusable: true,
    }
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
