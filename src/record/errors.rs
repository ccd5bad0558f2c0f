//! Error kinds: why an arrival did not end in a successful response, and their counts.

/// ErrorKind classifies why an arrival did not end in a successful response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The target refused the TCP connection.
    ConnectRefused,
    /// Opening the connection took longer than the timeout.
    ConnectTimeout,
    /// Opening the connection failed another way (unreachable, handshake failed).
    ConnectError,
    /// The TLS handshake failed: an untrusted or mismatched certificate, or no common protocol.
    Tls,
    /// No complete response within the timeout after the request was sent.
    RequestTimeout,
    /// The connection was reset or closed before the response was complete.
    ResetClosed,
    /// The response was not valid HTTP.
    Protocol,
    /// The target answered 4xx.
    Http4xx,
    /// The target answered 5xx.
    Http5xx,
    /// The response failed one of the request's checks (status, body, JSON value, size).
    Check,
    /// The response head arrived but its body could not be read to the end.
    BodyRead,
    /// The response body was larger than the run's `max_body`: the body was not read past it,
    /// and the connection was closed.
    BodyTooLarge,
    /// The generator ran out of something local (file descriptors, ports, memory): the
    /// generator's failure, not the target's, so it makes the run not valid.
    LocalResource,
}

impl ErrorKind {
    /// ALL lists every kind in the order output shows them.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::ConnectError,
        ErrorKind::Tls,
        ErrorKind::RequestTimeout,
        ErrorKind::ResetClosed,
        ErrorKind::Protocol,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::Check,
        ErrorKind::BodyRead,
        ErrorKind::BodyTooLarge,
        ErrorKind::LocalResource,
    ];

    /// name is the kind's key in JSON and its label in the terminal.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::ConnectError => "connect_error",
            ErrorKind::Tls => "tls_error",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::ResetClosed => "reset_closed",
            ErrorKind::Protocol => "protocol_error",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Check => "check",
            ErrorKind::BodyRead => "body_read",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::LocalResource => "local_resource",
        }
    }

    /// answered says whether the target sent a response head (it is alive, even if unhappy).
    pub fn answered(self) -> bool {
        matches!(
            self,
            ErrorKind::Http4xx
                | ErrorKind::Http5xx
                | ErrorKind::Check
                | ErrorKind::BodyRead
                | ErrorKind::BodyTooLarge
        )
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// ErrorCounts counts errors by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// get is the count of one kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.slot()]
    }

    /// total is the count over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// add counts one error of `kind`.
    pub fn add(&mut self, kind: ErrorKind) {
        self.add_n(kind, 1);
    }

    /// add_n counts `n` errors of `kind`.
    pub fn add_n(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind.slot()] += n;
    }

    /// merge adds another set of counts to this one.
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// answered counts the errors for which the target still sent a response head.
    pub fn answered(&self) -> u64 {
        ErrorKind::ALL
            .iter()
            .filter(|k| k.answered())
            .map(|&k| self.get(k))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_is_documented_in_output_order() {
        // The JSON schema and the CSV notes list the kinds for people reading the files; a kind
        // added here without them would appear in output nobody has explained.
        let listed = ErrorKind::ALL
            .iter()
            .map(|k| format!("`{}`", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        for (file, text) in [
            (
                "docs/summary-schema.md",
                include_str!("../../docs/summary-schema.md"),
            ),
            (
                "docs/csv-columns.md",
                include_str!("../../docs/csv-columns.md"),
            ),
            (
                "src/report/csv/mod.rs",
                include_str!("../report/csv/mod.rs"),
            ),
        ] {
            assert!(text.contains(&listed), "{file} does not list {listed}");
        }
        let readme = include_str!("../../README.md");
        for k in ErrorKind::ALL {
            assert!(
                readme.contains(&format!("`{}`", k.name())),
                "README.md does not name {}",
                k.name()
            );
        }
    }
}
