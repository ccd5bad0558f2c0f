//! The scalar values every section reads: durations, integers within bounds, sizes, rates, names, and
//! the two keys a scenario may override from the plan's top level (`user_rate`, `arrivals`).
//! Each reader checks one value where it was written; which values a section has, and how they
//! relate, is the section's business.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::Result;
use super::span::Ctx;
use crate::schedule::ArrivalProcess;
use crate::units::parse_duration;

/// The readers are methods of [`Ctx`], so a section writes `ctx.int(…)` as it writes
/// `ctx.err(…)`.
impl Ctx<'_> {
    /// duration reads a duration value.
    pub(super) fn duration(&self, v: &Spanned<String>) -> Result<Duration> {
        parse_duration(v.get_ref()).map_err(|e| self.err(v.span(), e.message, e.help))
    }

    /// positive_duration reads a duration that must be longer than zero.
    pub(super) fn positive_duration(&self, v: &Spanned<String>, what: &str) -> Result<Duration> {
        let d = self.duration(v)?;
        if d.is_zero() {
            return Err(self.err(
                v.span(),
                format!("{what} must be longer than zero"),
                "write it like 500ms, 30s, 5m or 24h",
            ));
        }
        Ok(d)
    }

    /// int reads an integer that must lie in `range`.
    pub(super) fn int(
        &self,
        v: &Spanned<i64>,
        what: &str,
        range: Range<i64>,
        help: &str,
    ) -> Result<i64> {
        let x = *v.get_ref();
        if !range.contains(&x) {
            let bound = if range.end == i64::MAX {
                format!("at least {}", range.start)
            } else {
                format!("between {} and {}", range.start, range.end - 1)
            };
            return Err(self.err(v.span(), format!("{what} {x} must be {bound}"), help));
        }
        Ok(x)
    }

    /// size reads a body size, more than zero: bytes as an integer, or a string with a unit
    /// (`"64KiB"`, `"1MiB"`). `what` names the key in messages.
    pub(super) fn size(&self, v: &Spanned<toml::Value>, what: &str) -> Result<usize> {
        let help = "write a size in bytes (65536) or with a unit: \"64KiB\", \"1MiB\"";
        let size = match v.get_ref() {
            toml::Value::Integer(n) => usize::try_from(*n).map_err(|_| format!("{n} is negative")),
            toml::Value::String(t) => crate::plan::checks::parse_size(t).map_err(|e| e.message),
            other => Err(format!("{} is not a size", other.type_str())),
        }
        .map_err(|e| self.err(v.span(), format!("{what}: {e}"), help))?;
        if size == 0 {
            return Err(self.err(
                v.span(),
                format!("{what} is zero, so every body would fail"),
                help,
            ));
        }
        Ok(size)
    }

    /// rate reads an arrival rate or a number of users: finite and not negative.
    pub(super) fn rate(&self, v: &Spanned<f64>, what: &str) -> Result<f64> {
        let x = *v.get_ref();
        if !x.is_finite() || x < 0.0 {
            return Err(self.err(
                v.span(),
                format!("`{what}` is {x}; it must be a finite number, zero or more"),
                format!("write a plain number such as {what} = 100"),
            ));
        }
        Ok(x)
    }

    /// name reads a name that must not be empty.
    pub(super) fn name(&self, v: &Spanned<String>, what: &str) -> Result<String> {
        if v.get_ref().trim().is_empty() {
            return Err(self.err(
                v.span(),
                format!("the {what} name is empty"),
                "give it a short name; output uses it",
            ));
        }
        Ok(v.get_ref().clone())
    }
}

/// user_rate reads the requests per second of one user, which turns `users` into a rate.
pub(super) fn user_rate(ctx: &Ctx, r: &Spanned<f64>) -> Result<f64> {
    let x = *r.get_ref();
    if !x.is_finite() || x <= 0.0 {
        return Err(ctx.err(
            r.span(),
            format!("user_rate is {x}; it must be a finite number above zero"),
            "user_rate is requests per second per user: a user that waits 1-2 s between \
             requests makes about 0.67",
        ));
    }
    Ok(x)
}

/// arrival_process reads `arrivals`: how the arrivals of a stage are spaced.
pub(super) fn arrival_process(ctx: &Ctx, a: &Spanned<String>) -> Result<ArrivalProcess> {
    match a.get_ref().as_str() {
        "uniform" => Ok(ArrivalProcess::Uniform),
        "poisson" => Ok(ArrivalProcess::Poisson),
        other => Err(ctx.err(
            a.span(),
            format!("`{other}` is not an arrival process"),
            "write arrivals = \"uniform\" (evenly spaced) or arrivals = \"poisson\"",
        )),
    }
}
