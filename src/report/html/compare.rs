//! Figures beside their baseline: how a figure is written, which way it improves, and the
//! change from a baseline run's, judged better, worse or the same (within noise).
//!
//! It writes one figure's text and cells; which figures a section shows is the section's.

use std::fmt::Write as _;

use super::{esc, put};
use crate::units::{format_share, format_us};

/// Kind says how a figure is written.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// Microseconds, written with a fitting unit.
    Us,
    Count,
    /// Per second.
    Rate,
    /// A fraction 0..1, written as a percentage.
    Share,
}

/// Better says which way a figure improves; a change the other way is a regression.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Better {
    Lower,
    Higher,
    Neither,
}

/// NOISE is the relative change under which a difference is not called better or worse.
pub(super) const NOISE: f64 = 0.05;

pub(super) fn value_text(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Us => format_us(v.max(0.0).round() as u64),
        Kind::Count => format!("{}", v.round() as i64),
        Kind::Rate => format!("{v:.1}/s"),
        Kind::Share => format_share(v),
    }
}

pub(super) fn delta_text(kind: Kind, d: f64) -> String {
    let sign = if d < 0.0 { "−" } else { "+" };
    let a = d.abs();
    match kind {
        Kind::Us => format!("{sign}{}", format_us(a.round() as u64)),
        Kind::Count => format!("{sign}{}", a.round() as u64),
        Kind::Rate => format!("{sign}{a:.1}/s"),
        Kind::Share => format!("{sign}{:.2} pp", a * 100.0),
    }
}

/// Change is a figure's difference from its baseline, judged.
pub(super) struct Change {
    text: String,
    class: &'static str,
    word: &'static str,
}

pub(super) fn change(kind: Kind, better: Better, now: f64, base: f64) -> Change {
    let d = now - base;
    if d == 0.0 || value_text(kind, now) == value_text(kind, base) {
        return Change {
            text: "±0".into(),
            class: "same",
            word: "",
        };
    }
    let rel = if base != 0.0 {
        d / base.abs()
    } else {
        f64::INFINITY * d.signum()
    };
    let arrow = if d > 0.0 { "▲" } else { "▼" };
    let rel_text = if rel.is_finite() {
        let sign = if rel < 0.0 { "−" } else { "+" };
        format!("{sign}{:.1}%", rel.abs() * 100.0)
    } else {
        "from\u{a0}0".into()
    };
    let (class, word) = if rel.abs() < NOISE || better == Better::Neither {
        ("same", "")
    } else if (d > 0.0) == (better == Better::Higher) {
        ("better", "better")
    } else {
        ("worse", "worse")
    };
    Change {
        text: format!("{arrow}\u{a0}{} ({rel_text})", delta_text(kind, d)),
        class,
        word,
    }
}

/// Fig is one figure of this run, with the baseline's when there is a baseline
/// (`base: Some(None)` when the baseline lacks it).
pub(super) struct Fig {
    kind: Kind,
    better: Better,
    now: Option<f64>,
    base: Option<Option<f64>>,
    /// Latency percentiles are lower bounds when arrivals were dropped.
    at_least: bool,
    base_at_least: bool,
}

impl Fig {
    pub(super) fn new(
        kind: Kind,
        better: Better,
        now: Option<f64>,
        base: Option<Option<f64>>,
    ) -> Fig {
        Fig {
            kind,
            better,
            now,
            base,
            at_least: false,
            base_at_least: false,
        }
    }

    /// of is the figure `get` reads from `now`, beside the one it reads from the baseline's
    /// `base` (None without a baseline, Some(None) when the baseline lacks the row).
    pub(super) fn of<T>(
        kind: Kind,
        better: Better,
        now: &T,
        base: Option<Option<&T>>,
        get: impl Fn(&T) -> Option<f64>,
    ) -> Fig {
        Fig::new(kind, better, get(now), base.map(|b| b.and_then(&get)))
    }

    pub(super) fn bounds(mut self, now: bool, base: bool) -> Fig {
        self.at_least = now;
        self.base_at_least = base;
        self
    }

    fn text(&self, v: Option<f64>, at_least: bool) -> String {
        match v {
            Some(v) => format!(
                "{}{}",
                if at_least { "≥ " } else { "" },
                value_text(self.kind, v)
            ),
            None => "—".into(),
        }
    }

    /// html is the figure, then (with a baseline) the baseline's and the change, one per line;
    /// `words` spells the baseline out and adds "better"/"worse" to the change (for the
    /// headline cards; table cells stay narrow).
    pub(super) fn html(&self, words: bool) -> String {
        let mut h = esc(&self.text(self.now, self.at_least));
        let Some(base) = self.base else {
            return h;
        };
        put!(
            h,
            "<span class=\"base\">{}\u{a0}{}</span>",
            if words { "baseline" } else { "base" },
            esc(&self.text(base, self.base_at_least))
        );
        match (self.now, base) {
            (Some(n), Some(b)) => {
                let c = change(self.kind, self.better, n, b);
                let word = if words && !c.word.is_empty() {
                    format!(" {}", c.word)
                } else {
                    String::new()
                };
                put!(
                    h,
                    "<span class=\"chg {}\">{}{word}</span>",
                    c.class,
                    esc(&c.text)
                );
            }
            (Some(_), None) => {
                h.push_str("<span class=\"chg\">new</span>");
            }
            (None, Some(_)) => {
                h.push_str("<span class=\"chg\">gone</span>");
            }
            (None, None) => {}
        }
        h
    }

    pub(super) fn td(&self) -> String {
        format!("<td>{}</td>", self.html(false))
    }
}

pub(super) fn opt_us(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_judged_by_direction_and_noise() {
        let c = change(Kind::Us, Better::Lower, 1_200.0, 1_000.0);
        assert_eq!(c.class, "worse");
        assert!(
            c.text.contains("+200µs") && c.text.contains("+20.0%"),
            "{}",
            c.text
        );
        assert_eq!(
            change(Kind::Us, Better::Lower, 1_010.0, 1_000.0).class,
            "same"
        );
        assert_eq!(
            change(Kind::Rate, Better::Higher, 90.0, 100.0).class,
            "worse"
        );
        assert_eq!(change(Kind::Count, Better::Lower, 3.0, 0.0).class, "worse");
        assert_eq!(change(Kind::Count, Better::Lower, 0.0, 0.0).text, "±0");
    }
}
