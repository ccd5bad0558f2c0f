//! One stage of a scenario: its name, its load in exactly one of the four rate forms (`users`
//! become a rate through `user_rate`), its duration and settle, scaled by `--time-scale`. The
//! stage's criteria are laid by the scenario; the arrivals it makes are the schedule's.

use std::time::Duration;

use toml::Spanned;

use super::Result;
use super::raw::RawStage;
use super::span::Ctx;
use crate::schedule::Stage;

/// earliest is whichever of two optional values comes first in the file.
fn earliest<'a>(
    a: &'a Option<Spanned<f64>>,
    b: &'a Option<Spanned<f64>>,
) -> Option<&'a Spanned<f64>> {
    [a.as_ref(), b.as_ref()]
        .into_iter()
        .flatten()
        .min_by_key(|v| v.span().start)
}

/// RateForm is one way a stage may state its load.
struct RateForm<'a> {
    key: &'static str,
    first: &'a Spanned<f64>,
}

/// stage checks one stage and builds it.
pub(super) fn stage(
    ctx: &Ctx,
    s: &Spanned<RawStage>,
    user_rate: Option<f64>,
    time_scale: f64,
) -> Result<Stage> {
    let raw = s.get_ref();
    let name = ctx.name(&raw.name, "stage")?;
    let forms_help = "give the stage one of: rate = 100 | from = 0, to = 200 | users = 50 | \
                      from_users = 0, to_users = 200";

    // Which forms are present, each represented by its earliest key in the file.
    let mut forms: Vec<RateForm> = [
        ("rate", earliest(&raw.rate, &None)),
        ("from/to", earliest(&raw.from, &raw.to)),
        ("users", earliest(&raw.users, &None)),
        (
            "from_users/to_users",
            earliest(&raw.from_users, &raw.to_users),
        ),
    ]
    .into_iter()
    .filter_map(|(key, first)| Some(RateForm { key, first: first? }))
    .collect();
    forms.sort_by_key(|f| f.first.span().start);
    match forms.as_slice() {
        [] => {
            return Err(ctx.err(s.span(), format!("stage `{name}` sets no rate"), forms_help));
        }
        [_] => {}
        [a, b, ..] => {
            return Err(ctx.err(
                b.first.span(),
                format!(
                    "stage `{name}` sets its load twice: `{}` and `{}`",
                    a.key, b.key
                ),
                format!("keep one of them; {forms_help}"),
            ));
        }
    }

    let pair = |from: &Option<Spanned<f64>>,
                to: &Option<Spanned<f64>>,
                fk: &str,
                tk: &str|
     -> Result<(f64, f64)> {
        match (from, to) {
            (Some(f), Some(t)) => Ok((ctx.rate(f, fk)?, ctx.rate(t, tk)?)),
            (Some(f), None) => Err(ctx.err(
                f.span(),
                format!("stage `{name}` has `{fk}` but no `{tk}`"),
                format!("a ramp goes from one value to another: add {tk} = …"),
            )),
            (None, Some(t)) => Err(ctx.err(
                t.span(),
                format!("stage `{name}` has `{tk}` but no `{fk}`"),
                format!("a ramp goes from one value to another: add {fk} = …"),
            )),
            (None, None) => unreachable!("the form was found above"),
        }
    };
    let per_user = |at: &Spanned<f64>| {
        user_rate.ok_or_else(|| {
            ctx.err(
                at.span(),
                format!("stage `{name}` states users, but the plan sets no user_rate"),
                "add user_rate = 0.67 (requests per second per user) at the top of the plan or \
                 in the scenario, or state the load as rate = …",
            )
        })
    };
    let (from, to) = if let Some(r) = &raw.rate {
        let r = ctx.rate(r, "rate")?;
        (r, r)
    } else if raw.from.is_some() || raw.to.is_some() {
        pair(&raw.from, &raw.to, "from", "to")?
    } else if let Some(u) = &raw.users {
        let users = ctx.rate(u, "users")?;
        let per = per_user(u)?;
        (users * per, users * per)
    } else {
        let (f, t) = pair(&raw.from_users, &raw.to_users, "from_users", "to_users")?;
        let per = per_user(forms[0].first)?;
        (f * per, t * per)
    };
    if !from.is_finite() || !to.is_finite() {
        return Err(ctx.err(
            forms[0].first.span(),
            format!("stage `{name}`: users × user_rate is too large"),
            "state a smaller load",
        ));
    }
    if from.max(to) > crate::plan::MAX_RATE {
        return Err(ctx.err(
            forms[0].first.span(),
            format!(
                "stage `{name}` asks for {}/s; a stage's rate is at most {}/s",
                crate::plan::rate_text(from.max(to)),
                crate::plan::MAX_RATE
            ),
            "one core issues about 100,000/s: state a rate the machines can send, or split \
             the load over more machines",
        ));
    }

    let duration = ctx.positive_duration(&raw.duration, "a stage's duration")?;
    let settle = match &raw.settle {
        Some(v) => {
            let settle = ctx.duration(v)?;
            if settle >= duration {
                return Err(ctx.err(
                    v.span(),
                    format!(
                        "stage `{name}`: settle {} is not shorter than its duration {}",
                        v.get_ref(),
                        raw.duration.get_ref()
                    ),
                    "settle is the leading part of the stage left out of its criteria; make it \
                     shorter than the duration",
                ));
            }
            settle
        }
        None => Duration::ZERO,
    };
    let scale = |d: Duration| -> Result<Duration> {
        if time_scale == 1.0 {
            return Ok(d);
        }
        Duration::try_from_secs_f64(d.as_secs_f64() * time_scale).map_err(|_| {
            ctx.flag(
                format!("--time-scale {time_scale} makes stage `{name}` too long"),
                "use a smaller factor",
            )
        })
    };
    let (duration, settle) = (scale(duration)?, scale(settle)?);
    if duration.is_zero() {
        return Err(ctx.flag(
            format!("--time-scale {time_scale} makes stage `{name}` last no time at all"),
            "use a larger factor",
        ));
    }
    Ok(Stage {
        name,
        from,
        to,
        duration,
        settle: settle.min(duration),
    })
}
