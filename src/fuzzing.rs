//! Fuzzing: the inner parsers that `tests/fuzz.rs` feeds arbitrary input and that are not public
//! otherwise (the direct HTTP/1.1 client's response reader). Hidden from the documentation: not
//! an API, only a door for the fuzz properties. The plan parser, templates and data files are
//! fuzzed through their public entry points.

pub use crate::engine::{Framing, ResponseHead, answer_over_loopback, parse_response_head};
