//! `[sla.NAME]`: the SLA classes, each a set of latency targets for p50, p95 and p99 that a
//! request names with `sla = "NAME"`. Which percentiles a stage judges is its criteria's choice.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::Result;
use super::raw::{Map, RawSla};
use super::span::Ctx;
use crate::plan::SlaClass;

/// sla_classes reads every class: at least one target each, and p50 <= p95 <= p99 where set.
pub(super) fn sla_classes(
    ctx: &Ctx,
    raw: Map<Spanned<RawSla>>,
) -> Result<BTreeMap<String, SlaClass>> {
    let mut classes = BTreeMap::new();
    for (name, class) in &raw {
        let name = ctx.name(name, "SLA class")?;
        let c = class.get_ref();
        let read = |v: &Option<Spanned<String>>, q: &str| {
            v.as_ref()
                .map(|d| ctx.positive_duration(d, &format!("the {q} target")))
                .transpose()
        };
        let sla = SlaClass {
            p50: read(&c.p50, "p50")?,
            p95: read(&c.p95, "p95")?,
            p99: read(&c.p99, "p99")?,
        };
        if sla.p50.is_none() && sla.p95.is_none() && sla.p99.is_none() {
            return Err(ctx.err(
                class.span(),
                format!("SLA class `{name}` sets no target"),
                "set at least one of p50, p95 or p99, e.g. p95 = \"300ms\"",
            ));
        }
        // A lower percentile with a higher target than a higher one is a typo.
        let set: Vec<(&str, Duration, &Spanned<String>)> = [
            ("p50", sla.p50, &c.p50),
            ("p95", sla.p95, &c.p95),
            ("p99", sla.p99, &c.p99),
        ]
        .into_iter()
        .filter_map(|(q, d, raw)| Some((q, d?, raw.as_ref()?)))
        .collect();
        for w in set.windows(2) {
            let ((lo_q, lo, _), (hi_q, hi, hi_raw)) = (w[0], w[1]);
            if hi < lo {
                return Err(ctx.err(
                    hi_raw.span(),
                    format!(
                        "SLA class `{name}`: the {hi_q} target {} is below the {lo_q} target {}",
                        hi_raw.get_ref(),
                        w[0].2.get_ref()
                    ),
                    format!("a {hi_q} latency is never below the {lo_q}; swap or fix them"),
                ));
            }
        }
        classes.insert(name, sla);
    }
    Ok(classes)
}
