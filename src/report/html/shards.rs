//! The shards table, inside the engine section: which shard a run was, or, for a merged
//! result, each shard's generator health beside the others', so one bad generator machine
//! stands out. It reads the saved summary.

use std::fmt::Write as _;

use super::{esc, put};
use crate::summary::Summary;
use crate::units::{format_share, format_us};

fn us(s: f64) -> String {
    format_us((s.max(0.0) * 1e6).round() as u64)
}

pub(super) fn table(out: &mut String, s: &Summary) {
    if let Some(shard) = s.shard {
        put!(
            out,
            "<p><b>Shard {shard}</b> of the schedule: this run issued the arrivals whose index ≡ {} (mod {}). Its plan criteria are judged at merge (<code>metronome merge</code>). Started {}{}; {}.</p>\n",
            shard.index,
            shard.count,
            esc(&s.start.at),
            if s.start.late_s > 0.001 {
                format!(
                    ", {} after its start instant: the arrivals due by then went at once",
                    us(s.start.late_s)
                )
            } else {
                String::new()
            },
            esc(&s.start.clock.describe())
        );
    }
    let Some(m) = &s.merged else {
        return;
    };
    put!(
        out,
        "<h3>Shards</h3>\n<p>Merged from {} shards. Their start instants spread over {} (latest − earliest); each shard's figures are its own generator's.</p>\n",
        m.shard_count,
        us(m.start_spread_s)
    );
    out.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">shard</th><th>start</th><th>late by</th><th>target/s</th><th>achieved/s</th><th>on time</th><th>late</th><th>dispatch lag p99</th><th>dropped</th><th>errors</th><th>CPU per arrival</th><th class=\"l\">valid</th><th class=\"l\">clock</th></tr>\n");
    for h in &m.shards {
        put!(
            out,
            "<tr><td class=\"l\">{}/{}<small>{}</small></td><td>+{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} µs</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>\n",
            h.index,
            m.shard_count,
            esc(&h.dir),
            us(h.start_offset_s),
            us(h.started_late_s),
            h.target_rate,
            h.achieved_rate,
            format_share(h.on_time_share),
            h.late,
            h.dispatch_lag_us.p99.map_or("–".into(), format_us),
            h.dropped,
            h.errors,
            h.engine_cpu_us_per_request,
            match (h.valid, h.partial) {
                (true, false) => "<span class=\"v pass\">yes</span>",
                (true, true) => "<span class=\"v warn\">yes, partial</span>",
                (false, _) => "<span class=\"v fail\">NO</span>",
            },
            esc(&h.clock.describe())
        );
    }
    out.push_str("</table></div>\n");
}
