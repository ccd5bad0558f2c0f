//! Problem: a mistake in something a person typed, with how to fix it, kept apart.
//!
//! A flag's error prints the two as one line ("what is wrong; how to fix it"), while a plan
//! error shows the help on a line of its own under the located mistake: carrying them apart
//! lets each caller render them its way without splitting text again.

use std::fmt;

/// Problem is what is wrong with a value, and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, naming the value as typed.
    pub message: String,
    /// How to fix it, with an example.
    pub help: String,
}

impl Problem {
    /// new makes a problem from its two halves.
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.message, self.help)
    }
}

impl std::error::Error for Problem {}
