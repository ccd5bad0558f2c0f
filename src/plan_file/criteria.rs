//! `[criteria]`, and the `criteria = { … }` of a scenario or a stage: pass/fail rules at three
//! levels, laid field by field over each other (plan, then scenario, then stage) into each
//! stage's [`StageCriteria`]. How a run is judged against them is the summary's.

use std::time::Duration;

use toml::Spanned;

use super::Result;
use super::raw::RawCriteria;
use super::span::Ctx;
use crate::plan::{Quantile, StageCriteria, Window};

/// Layer is one level of criteria (plan, scenario or stage), each field set or not.
#[derive(Debug, Clone, Default)]
pub(super) struct Layer {
    warn: Option<Spanned<f64>>,
    fail: Option<Spanned<f64>>,
    sla: Option<Vec<Quantile>>,
    sla_fail_over: Option<f64>,
    max_dropped: Option<u64>,
    error_window: Option<Duration>,
    error_abort: Option<Spanned<bool>>,
    sla_window: Option<Duration>,
    sla_abort: Option<Spanned<bool>>,
}

impl Layer {
    /// over lays `self` over `base`: each field set here wins.
    pub(super) fn over(&self, base: &Layer) -> Layer {
        Layer {
            warn: self.warn.clone().or_else(|| base.warn.clone()),
            fail: self.fail.clone().or_else(|| base.fail.clone()),
            sla: self.sla.clone().or_else(|| base.sla.clone()),
            sla_fail_over: self.sla_fail_over.or(base.sla_fail_over),
            max_dropped: self.max_dropped.or(base.max_dropped),
            error_window: self.error_window.or(base.error_window),
            error_abort: self
                .error_abort
                .clone()
                .or_else(|| base.error_abort.clone()),
            sla_window: self.sla_window.or(base.sla_window),
            sla_abort: self.sla_abort.clone().or_else(|| base.sla_abort.clone()),
        }
    }

    /// resolve turns the fully laid criteria into a stage's rules, their windows scaled as the
    /// stages are.
    pub(super) fn resolve(&self, ctx: &Ctx, time_scale: f64) -> Result<StageCriteria> {
        if let (Some(w), Some(f)) = (&self.warn, &self.fail)
            && w.get_ref() > f.get_ref()
        {
            // Point at whichever was written later in the file, naming the other.
            let (at, other, what) = if w.span().start > f.span().start {
                (w, f, "fail")
            } else {
                (f, w, "warn")
            };
            let other_line = ctx.err(other.span(), "", "").line;
            return Err(ctx.err(
                at.span(),
                format!(
                    "error_rate.warn {} is above error_rate.fail {} (the {what} is set on line \
                     {other_line})",
                    w.get_ref(),
                    f.get_ref()
                ),
                "the warning threshold must not be above the failure threshold",
            ));
        }
        let window = |length: Option<Duration>,
                      abort: &Option<Spanned<bool>>,
                      example: &str|
         -> Result<Option<Window>> {
            let abort_asked = abort.as_ref().filter(|a| *a.get_ref());
            match (length, abort_asked) {
                (None, Some(a)) => Err(ctx.err(
                    a.span(),
                    "abort = true needs a window: a whole stage is only judged once it has ended",
                    format!("give it a window to judge as the run goes: {example}"),
                )),
                (None, None) => Ok(None),
                (Some(written), _) => Ok(Some(Window {
                    written,
                    length: written.mul_f64(time_scale),
                    abort: abort_asked.is_some(),
                })),
            }
        };
        let error_window = window(
            self.error_window,
            &self.error_abort,
            "error_rate = { fail = 0.05, window = \"5m\", abort = true }",
        )?;
        let sla_window = window(
            self.sla_window,
            &self.sla_abort,
            "sla_window = \"5m\" beside sla_abort = true",
        )?;
        let defaults = StageCriteria::default();
        Ok(StageCriteria {
            warn_error_rate: self.warn.as_ref().map(|w| *w.get_ref()),
            max_error_rate: self.fail.as_ref().map(|f| *f.get_ref()),
            sla_percentiles: self.sla.clone().unwrap_or(defaults.sla_percentiles),
            sla_fail_over: self.sla_fail_over.unwrap_or(defaults.sla_fail_over),
            max_dropped: self.max_dropped,
            error_window,
            sla_window,
        })
    }
}

/// layer checks one level of criteria.
pub(super) fn layer(ctx: &Ctx, raw: &RawCriteria) -> Result<Layer> {
    let fraction = |v: &Option<Spanned<f64>>, what: &str| -> Result<Option<Spanned<f64>>> {
        match v {
            Some(x) if !(0.0..=1.0).contains(x.get_ref()) => Err(ctx.err(
                x.span(),
                format!(
                    "error_rate.{what} {} is not a fraction between 0 and 1",
                    x.get_ref()
                ),
                "write error rates as fractions: 1 % is 0.01",
            )),
            _ => Ok(v.clone()),
        }
    };
    let window = |v: &Option<Spanned<String>>, what: &str| {
        v.as_ref()
            .map(|d| ctx.positive_duration(d, what))
            .transpose()
    };
    let (warn, fail, error_window, error_abort) = match &raw.error_rate {
        Some(e) => (
            fraction(&e.warn, "warn")?,
            fraction(&e.fail, "fail")?,
            window(&e.window, "error_rate.window")?,
            e.abort.clone(),
        ),
        None => (None, None, None, None),
    };
    let sla_window = window(&raw.sla_window, "sla_window")?;
    let sla = raw
        .sla
        .as_ref()
        .map(|list| {
            let mut qs = Vec::new();
            for q in list {
                let quantile = match q.get_ref().as_str() {
                    "p50" => Quantile::P50,
                    "p95" => Quantile::P95,
                    "p99" => Quantile::P99,
                    other => {
                        return Err(ctx.err(
                            q.span(),
                            format!("`{other}` is not a percentile an SLA class can set"),
                            "use \"p50\", \"p95\" or \"p99\"",
                        ));
                    }
                };
                if !qs.contains(&quantile) {
                    qs.push(quantile);
                }
            }
            Ok(qs)
        })
        .transpose()?;
    let sla_fail_over = raw
        .sla_fail_over
        .as_ref()
        .map(|v| {
            let x = *v.get_ref();
            if x.is_finite() && x >= 0.0 {
                Ok(x)
            } else {
                Err(ctx.err(
                    v.span(),
                    format!("sla_fail_over {x} must be a finite fraction, zero or more"),
                    "0.5 fails a percentile more than 50 % over its target",
                ))
            }
        })
        .transpose()?;
    let max_dropped = raw
        .max_dropped
        .as_ref()
        .map(|v| {
            ctx.int(
                v,
                "max_dropped",
                0..i64::MAX,
                "the number of dropped arrivals a stage may have and still pass",
            )
            .map(|x| x as u64)
        })
        .transpose()?;
    let layer = Layer {
        warn,
        fail,
        sla,
        sla_fail_over,
        max_dropped,
        error_window,
        error_abort,
        sla_window,
        sla_abort: raw.sla_abort.clone(),
    };
    // Within one level the order is checked here, where both values sit side by side; an abort
    // may find its window in another level, so that waits for the stage.
    Layer {
        error_abort: None,
        sla_abort: None,
        ..layer.clone()
    }
    .resolve(ctx, 1.0)?;
    Ok(layer)
}
